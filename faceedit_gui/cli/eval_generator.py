"""`faceedit eval-generator`: does dlib find faces in the generator's samples as often as in real faces?

Examples:
    faceedit eval-generator --out runs/eval_generator                        # models/default, 1000 + 1000
    faceedit eval-generator --checkpoint models/training/generator --out runs/eval_generator \\
        --sheet resources/sample_sheet_128.png                               # a training checkpoint's G_ema
    faceedit eval-generator --bundle DIR -n 200 --reals 200 --out /tmp/ge   # a quick look

Issue 5's target: dlib's HOG detector finds a face in at least 95 % as many random samples
(truncation 1.0) as it does in held-out real faces resized to the generator's resolution.
The samples use seeds S .. S+N-1 (`--seed S`, `-n N`; the same images as `faceedit sample`);
the reals are N' faces of UTKFace's held-out list (`--data`/utkface_test.txt, never trained
on; evenly spaced over the sorted list, all 1190 when `--reals` exceeds it), each resized
with cv2.INTER_AREA. The detector is dlib's HOG frontal-face detector with the packer's
UTKFace settings (no upsampling, 25 % replicated border) and NO CNN fallback
(`faceedit_gui/metrics/generator.py`).

Writes OUT/generator_eval.json (counts, rates, ratio, pass/fail, resolution, seeds, timings,
the resolved arguments) and OUT/sample_sheet.png (8 x 8 samples of seeds 0..63 at
`--truncation`, 2 px gaps: 8R + 14 px square), `--sheet PATH` a copy of it (e.g.
resources/sample_sheet_128.png for the model card, only for a trained generator), and
prints a short summary. The generator is a bundle's (`--bundle`, default models/default)
or a training checkpoint's EMA generator (`--checkpoint`), as for `faceedit sample`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO.parent / "shared" / "data"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--bundle", type=Path, default=None, help="model bundle folder (default: models/default)")
    source.add_argument("--checkpoint", type=Path, default=None, help="generator training checkpoint folder (uses G_ema)")
    parser.add_argument("-n", "--num", type=int, default=1000, help="random samples to run the detector on (default 1000)")
    parser.add_argument("--reals", type=int, default=1000, help="held-out real faces (default 1000; all 1190 if more)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first sample (default 0)")
    parser.add_argument("--truncation", type=float, default=1.0, help="truncation psi in (0, 1] (default 1 = none; the target is at 1)")
    parser.add_argument("--out", type=Path, required=True, help="folder for generator_eval.json and sample_sheet.png")
    parser.add_argument("--sheet", type=Path, default=None, help="also copy the sheet here (e.g. resources/sample_sheet_128.png)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder (default ../shared/data)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("eval-generator", help="dlib face detection rate of samples vs held-out real faces, 8x8 sheet",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    add_arguments(parser)
    parser.set_defaults(func=run)


def _fail(message: str, code: int = 1) -> int:
    print(f"faceedit eval-generator: {message}", file=sys.stderr)
    return code


def _bad_arguments(args: argparse.Namespace) -> str | None:
    if args.num < 1:
        return "-n must be >= 1"
    if args.reals < 1:
        return "--reals must be >= 1"
    if not 0 < args.truncation <= 1:
        return "--truncation must be in (0, 1]"
    if args.threads < 1:
        return "--threads must be >= 1"
    return None


def run(args: argparse.Namespace) -> int:
    """Gradients off and the thread count set for this command only (callers keep theirs)."""
    from faceedit_gui.engine.runtime import command_scope

    with command_scope():
        return _run(args)


def _load_generator(args: argparse.Namespace):
    """(generator, w_avg or None, a description of the source)."""
    from faceedit_gui.cli.sample import load_bundle_generator, load_checkpoint_generator

    if args.checkpoint is not None:
        from faceedit_gui.training import checkpoint as ckpt

        g, w_avg = load_checkpoint_generator(args.checkpoint, args.device)
        state = ckpt.read_state(args.checkpoint) or {}
        return g, w_avg, {"checkpoint": str(args.checkpoint), "step": state.get("step"), "kimg": state.get("kimg")}
    from faceedit_gui.checkpoints.bundle import default_bundle_path, read_card

    folder = args.bundle or default_bundle_path()
    g, w_avg = load_bundle_generator(folder, args.device)
    card = read_card(folder)
    return g, w_avg, {"bundle": str(folder), "name": card.name, "notes": card.notes}


def _run(args: argparse.Namespace) -> int:
    import torch

    from faceedit_gui.cli.sample import seeded_samples
    from faceedit_gui.engine.runtime import set_modconv_fused
    from faceedit_gui.metrics import generator as gm
    from faceedit_gui.training.png import write_png

    problem = _bad_arguments(args)
    if problem:
        return _fail(problem, 2)
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    timing: dict[str, float] = {}
    try:  # the data first: a missing folder is reported before any generator work
        available = len(gm.heldout_utkface_names(args.data))
    except gm.MissingDataError as exc:
        return _fail(f"{exc}; give --data DIR")
    try:
        g, w_avg, model = _load_generator(args)
    except Exception as exc:  # any load failure is reported, with the folder or file it concerns
        hint = ""
        if args.checkpoint is None and args.bundle is None:
            hint = " (models/default is assembled once the generator is trained; give --checkpoint DIR or --bundle DIR)"
        return _fail(f"cannot load the generator: {exc}{hint}")
    set_modconv_fused(g, False)  # batches of 16: the shared-conv path is ~2x faster on the CPU
    size = int(g.size)
    timing["load_generator"] = time.perf_counter() - t0

    t = time.perf_counter()
    try:
        reals, names = gm.load_heldout_utkface(args.data, size, args.reals)
    except gm.MissingDataError as exc:
        return _fail(str(exc))
    timing["load_reals"] = time.perf_counter() - t

    t = time.perf_counter()
    seeds = [args.seed + i for i in range(args.num)]
    samples = seeded_samples(g, seeds, args.truncation, w_avg)
    timing["sample"] = time.perf_counter() - t
    t = time.perf_counter()
    sample_found = gm.face_found(samples)
    timing["detect_samples"] = time.perf_counter() - t
    t = time.perf_counter()
    real_found = gm.face_found(reals)
    timing["detect_reals"] = time.perf_counter() - t

    t = time.perf_counter()
    sheet_seeds = list(gm.SHEET_SEEDS)
    if seeds[: len(sheet_seeds)] == sheet_seeds:  # the first samples are the sheet's images
        sheet_images = samples[: len(sheet_seeds)]
    else:
        sheet_images = seeded_samples(g, sheet_seeds, args.truncation, w_avg)
    sheet = gm.sample_sheet(sheet_images)
    args.out.mkdir(parents=True, exist_ok=True)
    sheet_path = write_png(args.out / "sample_sheet.png", sheet)
    if args.sheet is not None:
        args.sheet.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sheet_path, args.sheet)
    timing["sheet"] = time.perf_counter() - t
    timing["total"] = time.perf_counter() - t0

    comparison = gm.detection_comparison(sample_found, real_found, truncation=args.truncation)
    comparison["samples"].update({"seeds": [seeds[0], seeds[-1]], "truncation": args.truncation})
    comparison["reals"].update({
        "source": f"UTKFace held-out list {args.data / 'utkface_test.txt'}, resized to {size} px (cv2.INTER_AREA)",
        "available": available, "selection": "evenly spaced over the sorted list" if len(names) < available else "all",
        "first": names[0], "last": names[-1],
    })  # fmt: skip
    report = {
        "format": 1,
        "metric": "share of images in which dlib's HOG detector finds a face: generator samples vs held-out real faces",
        "model": model,
        "resolution": size,
        "detector": {"name": gm.DETECTOR_NAME, **gm.DETECTION,
                     "settings_from": "faceedit_gui/faces/prepare.py DETECT_SETTINGS['utkface']"},  # fmt: skip
        **comparison,
        "sheet": {"file": sheet_path.name, "seeds": [sheet_seeds[0], sheet_seeds[-1]], "truncation": args.truncation,
                  "cols": gm.SHEET_COLS, "gap_px": gm.SHEET_GAP, "size": list(sheet.shape[:2]),
                  "copy": str(args.sheet) if args.sheet is not None else None},  # fmt: skip
        "timing_s": {k: round(v, 2) for k, v in timing.items()},
        "threads": torch.get_num_threads(),
        "arguments": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "func"},
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    (args.out / "generator_eval.json").write_text(json.dumps(report, indent=1) + "\n")
    print(_summary(report, args.out))
    return 0


def _summary(report: dict, out: Path) -> str:
    s, r = report["samples"], report["reals"]
    ratio = "undefined" if report["ratio"] is None else f"{report['ratio']:.3f}"
    tm = report["timing_s"]
    return "\n".join([
        f"generator {json.dumps(report['model'])}, {report['resolution']} px",
        f"samples: dlib HOG found a face in {s['detected']}/{s['n']} = {s['rate']:.1%} "
        f"(seeds {s['seeds'][0]}..{s['seeds'][1]}, truncation {s['truncation']:g})",
        f"reals:   dlib HOG found a face in {r['detected']}/{r['n']} = {r['rate']:.1%} (UTKFace held-out)",
        f"ratio {ratio} (target >= {report['target']['ratio_at_least']:g} at truncation 1): {report['verdict']}",
        f"time {tm['total']:.1f} s (sampling {tm['sample']:.1f}, detection {tm['detect_samples'] + tm['detect_reals']:.1f}) "
        f"with {report['threads']} torch thread(s)",
        f"wrote {out / 'generator_eval.json'} and {out / report['sheet']['file']}"
        + (f" (copy: {report['sheet']['copy']})" if report["sheet"]["copy"] else ""),
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="faceedit eval-generator", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
