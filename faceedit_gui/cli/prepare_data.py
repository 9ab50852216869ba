"""`faceedit prepare-data`: align the training sets to one framing and pack them.

Examples:
    faceedit prepare-data                              # all of ../shared/data -> .data/aligned
    faceedit prepare-data --datasets utkface --sizes 128 --shard-mib 40
    faceedit prepare-data --limit 200 --out /tmp/aligned --template /tmp/t.json --remeasure-template

Long on 2 CPU cores (about 15 minutes for 33.7k images): run it under `nice -n 10`.
Reruns resume the landmark stage from `OUT/landmarks_<dataset>.npz`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from faceedit_gui.faces.framing import UTKFACE_TEMPLATE_PATH

REPO = Path(__file__).resolve().parents[2]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("prepare-data", help="align UTKFace and CelebA to the template framing and pack shards",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data", help="the shared data folder")
    p.add_argument("--out", type=Path, default=REPO / ".data" / "aligned", help="output folder (git-ignored)")
    p.add_argument("--datasets", nargs="+", default=["utkface", "celeba"], choices=["utkface", "celeba"])
    p.add_argument("--sizes", nargs="+", type=int, default=[64, 128, 256])
    p.add_argument("--encoding", choices=["jpeg", "png", "raw"], default="jpeg")
    p.add_argument("--quality", type=int, default=95, help="JPEG quality")
    p.add_argument("--shard-mib", type=float, default=40.0, help="largest shard file, MiB")
    p.add_argument("--template", type=Path, default=UTKFACE_TEMPLATE_PATH, help="template framing JSON (read, or written when measured)")
    p.add_argument("--remeasure-template", action="store_true", help="measure the template even if the file exists")
    p.add_argument("--template-size", type=int, default=128, help="default crop size recorded in the framing")
    p.add_argument("--limit", type=int, default=None, help="first N images per set (smoke runs)")
    p.add_argument("--log", type=Path, default=None, help="also append progress to this file")
    p.add_argument("--jobs", type=int, default=None, help="face-detection processes (default: the usable cores)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from faceedit_gui.engine.runtime import usable_cores
    from faceedit_gui.faces.prepare import PrepareConfig, prepare_datasets

    cfg = PrepareConfig(
        data_dir=args.data, out_dir=args.out, datasets=tuple(args.datasets), sizes=tuple(args.sizes),
        encoding=args.encoding, quality=args.quality, shard_mib=args.shard_mib, template_path=args.template,
        remeasure_template=args.remeasure_template, template_size=args.template_size, limit=args.limit,
        jobs=args.jobs or usable_cores(),
    )
    if not (cfg.data_dir / "utkface").is_dir() and "utkface" in cfg.datasets:
        print(f"faceedit prepare-data: no utkface folder in {cfg.data_dir}", file=sys.stderr)
        return 2

    def log(msg: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {msg}"
        print(line, file=sys.stderr, flush=True)
        if args.log is not None:
            with open(args.log, "a") as f:
                f.write(line + "\n")

    report = prepare_datasets(cfg, log)
    for name, d in report["datasets"].items():
        log(f"{name}: aligned {d['aligned']}, failed detection {d['failed']} of {d['images']} "
            f"(cnn fallback {d['cnn_fallback']}); shards {json.dumps(d['sizes'])}")
    return 0
