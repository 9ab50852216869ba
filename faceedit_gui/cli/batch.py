"""`faceedit batch`: apply one edit to every face of every photo in a folder.

Examples:
    faceedit batch photos/ out/ --set age=0.8 --set smile=-0.5
    faceedit batch photos/ out/ --preset older.json --output photo --format jpg --quality 90
    faceedit batch photos/ out/ --set age=1 --method interfacegan --recursive --bundle models/default
    faceedit batch photos/ out/ --set age=0.8 --device cuda --batch-size 16
    faceedit batch photos/ out/ --set age=0.8 --retry-failed

Writes OUT/<stem>_<k>.png per face k (0 = the largest; `--output photo`: OUT/<stem>_edited.png
with every face edited and pasted back), OUT/batch_report.{json,txt} (each photo that
failed and why) and OUT/batch_config.json (the resolved settings). `--set` values override
the preset's. A run that was stopped (even killed) resumes where it was: complete outputs
are skipped. Photos that failed (unreadable, no face, a failed render) are remembered by
their content and listed as "failed before, skipped" on a re-run, until the file changes
or `--retry-failed` is given. `--batch-size N` edits the faces of several photos in one
batched pass (worth it on a GPU, `--device cuda`); outputs agree with batch 1 within one
grey level. Exit status: 0 when anything was written or already complete, 1 when nothing
could be done, 2 for bad arguments (unknown slider names, NaN values, a missing bundle).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", type=Path, metavar="IN", help="folder of photos (or one photo)")
    p.add_argument("output", type=Path, metavar="OUT", help="folder for the outputs and the report")
    p.add_argument("--set", dest="settings", action="append", default=[], metavar="NAME=VALUE",
                   help="a slider value, e.g. age=0.8 (repeatable)")
    p.add_argument("--preset", type=Path, help='JSON preset {"format": 1, "sliders": {...}}')
    p.add_argument("--method", choices=["refine", "style", "interfacegan", "ganspace", "sefa"], default="refine")
    p.add_argument("--output", dest="output_kind", choices=["crop", "photo"], default="crop")
    p.add_argument("--format", choices=["png", "jpg"], default="png")
    p.add_argument("--quality", type=int, default=95, help="JPEG quality 1-100 (default 95)")
    p.add_argument("--recursive", action=argparse.BooleanOptionalAction, default=False, help="include sub-folders")
    p.add_argument("--bundle", type=Path, default=None, help="model bundle (default: models/default)")
    p.add_argument("--baselines", type=Path, default=None, help="folder of fitted baseline directions")
    p.add_argument("--retry-failed", action=argparse.BooleanOptionalAction, default=False,
                   help="try photos that failed in an earlier run again even if they did not change")
    p.add_argument("--batch-size", type=int, default=1, metavar="N",
                   help="faces per batched forward pass (default 1; try 8-32 on a GPU)")
    p.add_argument("--device", default="cpu", metavar="{cpu,cuda,cuda:N}", help="where the networks run (default cpu)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True, help="terminal progress bar")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("batch", help="edit every face of every photo in a folder", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    add_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """The thread count is set for this command only (in-process callers keep theirs)."""
    from faceedit_gui.engine.runtime import command_scope

    with command_scope(args.threads, no_grad=False):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from faceedit_gui.checkpoints.bundle import BundleError
    from faceedit_gui.engine.export import BatchConfig, BatchJob
    from faceedit_gui.engine.presets import PresetError, parse_settings, read_preset

    try:
        sliders = read_preset(args.preset) if args.preset else {}
        sliders.update(parse_settings(args.settings))
        config = BatchConfig(input=args.input, output=args.output, sliders=sliders, method=args.method,
                             output_kind=args.output_kind, format=args.format, quality=args.quality,
                             recursive=args.recursive, bundle=args.bundle, baselines=args.baselines,
                             retry_failed=args.retry_failed, batch_size=args.batch_size, device=args.device)  # fmt: skip
        if not args.input.exists():
            raise ValueError(f"input {args.input}: no such file or folder")
        job = BatchJob(config)
    except (PresetError, ValueError, BundleError, FileNotFoundError) as e:
        print(f"faceedit batch: {e}", file=sys.stderr)
        return 2
    bar = _bar(args.progress)

    def progress(p) -> None:
        if bar is None:
            return
        bar.total = p.total
        bar.n = p.done
        bar.set_postfix_str(f"{Path(p.file).name}, {p.faces_written} written")
        bar.refresh()

    try:
        report = job.run(progress=progress)
    except KeyboardInterrupt:
        print("\nfaceedit batch: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    finally:
        if bar is not None:
            bar.close()
    for f in report.failures:
        print(f"faceedit batch: {f.get('status', 'failed')} {f['photo']}: {f['reason']}", file=sys.stderr)
    n_before = len(report.failures) - len(report.failed_now)
    before = f" ({n_before} of them failed before and were skipped: --retry-failed tries them again)" if n_before else ""
    print(f"faceedit batch: {report.outputs_written} written, {report.outputs_skipped} already complete, "
          f"{len(report.failures)} failed{before}; report in {args.output / 'batch_report.txt'}", file=sys.stderr)  # fmt: skip
    return 1 if report.nothing_done else 0


def _bar(enabled: bool):
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=0, unit="photo", dynamic_ncols=True, file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="faceedit batch", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
