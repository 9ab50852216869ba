"""`faceedit eval`: the editing evaluation report (issue 6.5, DESIGN §7).

Examples:
    faceedit eval --out docs/eval --bundle models/default
    faceedit eval --out runs/eval --limit 20 --variant style_only=runs/abl/style --variant spa=runs/abl/spa
    faceedit eval --out /tmp/eval --bundle /tmp/bundle --limit 3 --fit-samples 200    # a quick smoke run

Writes OUT/editing.json, OUT/editing.md and OUT/grid_*.png: Table 1 (InterFaceGAN, GANSpace,
SeFa, ours edit, ours edit_refine at s = ±1: dlib identity, L2, named perceptual distance,
classifier attribute change), Table 2 (reconstruction), Table 3 (each `--variant`'s edit_refine
and reconstruction) and grids. Baseline directions come from --baselines, else
<bundle>/baselines, else they are fitted on generated samples and saved to OUT/baselines.
The attribute classifier is the bundle's (training-only) one or --classifier; without either
an untrained stand-in is used and the report says so in a warning.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, required=True, help="report folder")
    p.add_argument("--bundle", type=Path, default=None, help="model bundle (default: models/default)")
    p.add_argument("--limit", type=int, default=None, help="at most N faces per data source")
    p.add_argument("--variant", action="append", default=[], metavar="NAME=BUNDLE", help="an ablation variant (repeatable)")
    p.add_argument("--classifier", type=Path, default=None, help="attribute classifier (bundle or save_network stem)")
    p.add_argument("--baselines", type=Path, default=None, help="folder of fitted baseline directions")
    p.add_argument("--fit-samples", type=int, default=2000, help="generated samples for fitting baselines")
    p.add_argument("--calibration-samples", type=int, default=32, help="generated samples for calibrating strengths")
    p.add_argument("--photos", type=Path, default=None, help="the photos folder (default ../shared/data/photos)")
    p.add_argument("--packs", type=Path, nargs="*", default=None,
                   help="packed sets whose TEST split is used (default .data/aligned/{utkface,celeba}_128)")
    p.add_argument("--celeba-trained", action=argparse.BooleanOptionalAction, default=True,
                   help="leave out the two CelebA training photos (DESIGN §7)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--grid-faces", type=int, default=4, help="faces per grid and source")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("eval", help="editing evaluation report (Tables 1-3, grids)", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    add_arguments(p)
    p.set_defaults(func=run)


def _load_models(folder: Path, label: str):
    from faceedit_gui.checkpoints.bundle import load_bundle
    from faceedit_gui.metrics.editing import Models

    b = load_bundle(folder)
    return b, Models(b["generator"], b["encoder"], b["editor"] if "editor" in b else None,
                     [a.name for a in b.card.attributes], label)  # fmt: skip


def _classifier(bundle, given: Path | None, warnings: list[str]):
    import torch

    from faceedit_gui.metrics.perceptual import load_classifier

    if given is not None:
        return load_classifier(given).eval(), f"attribute classifier from {given}"
    if "classifier" in bundle.card.networks:
        return load_classifier(bundle.folder).eval(), f"the bundle's attribute classifier ({bundle.folder})"
    from faceedit_gui.networks.classifier import AttributeClassifier

    torch.manual_seed(0)
    warnings.append("no attribute classifier in the bundle and none given: an UNTRAINED stand-in (seed 0) scores "
                    "attributes and feeds the perceptual substitute, so attribute and perceptual numbers are meaningless")
    return AttributeClassifier().eval(), "untrained stand-in classifier (seed 0)"


def run(args: argparse.Namespace) -> int:
    """Gradients off and the thread count set for this command only (callers keep theirs)."""
    from faceedit_gui.engine.runtime import command_scope

    with command_scope():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    import torch

    from faceedit_gui.checkpoints.bundle import BundleError, default_bundle_path
    from faceedit_gui.editing.baselines import BASELINE_FOLDER, load_or_fit
    from faceedit_gui.faces.framing import Framing
    from faceedit_gui.metrics import editing as ev
    from faceedit_gui.metrics.perceptual import resolve_perceptual

    if args.threads:
        torch.set_num_threads(args.threads)
    folder = args.bundle or default_bundle_path()
    warnings: list[str] = []
    try:
        variants = dict(_split_variant(v) for v in args.variant)
        bundle, models = _load_models(folder, "ours")
    except (BundleError, ValueError) as e:
        print(f"faceedit eval: {e}", file=sys.stderr)
        return 2
    classifier, classifier_desc = _classifier(bundle, args.classifier, warnings)
    perceptual = resolve_perceptual(classifier=classifier)
    g = models.generator
    framing = Framing.from_dict(bundle.card.framing) if bundle.card.framing else None
    faces = ev.load_eval_faces(g.size, args.limit, framing, args.celeba_trained,
                               packs=ev.PACKS if args.packs is None else args.packs,
                               photos=args.photos if args.photos is not None else ev.PHOTOS)  # fmt: skip
    if not faces:
        print("faceedit eval: no evaluation faces found (packed test splits or photos)", file=sys.stderr)
        return 1
    base_dir = args.baselines or (Path(folder) / BASELINE_FOLDER if (Path(folder) / BASELINE_FOLDER).is_dir() else args.out / "baselines")
    baselines = {m: load_or_fit(m, base_dir, g, classifier, models.attributes, n_samples=args.fit_samples,
                                calibration_samples=args.calibration_samples) for m in ev.BASELINES}  # fmt: skip
    report, grids = ev.evaluate_editing(models, faces, baselines, perceptual, classifier, grid_faces=args.grid_faces)
    table3 = {}
    for name, vfolder in variants.items():
        _, vm = _load_models(vfolder, name)
        if vm.editor is None:
            warnings.append(f"variant {name} ({vfolder}) has no editor; left out of Table 3")
            continue
        vr, _ = ev.evaluate_editing(vm, faces, {}, perceptual, classifier, grid_faces=0)
        table3[name] = {"bundle": str(vfolder), "edit": vr["table1"]["ours_edit"]["mean"],
                        "edit_refine": vr["table1"]["ours_edit_refine"]["mean"], "reconstruction": vr["table2"]["ours_refine_s0"]}  # fmt: skip
    report.update(
        table3=table3, warnings=warnings, classifier=classifier_desc, model=str(folder), baselines_folder=str(base_dir),
        perceptual=perceptual.describe(),
        identity_evaluator="dlib face-recognition ResNet v1 (face-recognition-models, CC0), cosine of 128-D descriptors, "
                           "chips cut with the source's landmarks",
        baseline_directions={m: {n: {"strength": d.strength, "layers": list(d.layers), "info": d.info}
                                 for n, d in e.directions.items()} for m, e in baselines.items()},
        command="faceedit eval " + " ".join(sys.argv[2:] if sys.argv[1:2] == ["eval"] else sys.argv[1:]),
    )  # fmt: skip
    files = ev.write_editing_report(report, grids, args.out)
    print(json.dumps({"report": str(files["json"]), "faces": report["n_faces"],
                      "table1_mean": {m: t["mean"] for m, t in report["table1"].items()}}))  # fmt: skip
    return 0


def _split_variant(item: str) -> tuple[str, Path]:
    name, sep, path = item.partition("=")
    if not sep or not name or not path:
        raise ValueError(f"--variant {item!r}: expected NAME=BUNDLE")
    return name, Path(path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="faceedit eval", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
