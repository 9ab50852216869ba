"""`faceedit train generator`: train (or continue training) the bundled StyleGAN2.

Examples:
    # a fresh run, 8 minutes of wall clock, on the GPU
    faceedit train generator --data .data/gen_chunk --out runs/gen --minutes 8
    # continue the committed checkpoint (the most advanced of several folders is used)
    faceedit train generator --data .data/gen_chunk --out runs/gen --minutes 8 \\
        --resume models/training/generator runs/generator_cache
    # a CPU smoke run of the 32 px tiny config, 20 steps
    faceedit train generator --data DIR --out /tmp/g --tiny --device cpu --steps 20
    # parameters and MACs of the networks, then exit
    faceedit train generator --cost
    # on the GPU machine, without installing the package:
    PYTHONPATH=. python3 -m faceedit_gui.cli.main train generator --data ... --out ...
    # several GPUs:
    torchrun --standalone --nproc_per_node=4 -m faceedit_gui.cli.main train generator ...

Config: the defaults are the bundled model's (`GeneratorTrainConfig`); when resuming, the
checkpoint's own config; `--tiny` the 32 px test config. `--config FILE` (a JSON object
with some of the fields) and `--batch` override it; fields that change the networks'
shapes are refused on resume. The resolved config is written into `OUT/state.json`.

Output (`--out`): G.safetensors, G_ema.safetensors, D.safetensors, state.json,
log.jsonl, grid.png (and optim.safetensors when the config saves optimiser state).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "generator",
        help="train the StyleGAN2 generator in resumable chunks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", type=Path, nargs="+", metavar="DIR", help="data folder(s): packed sets or chunk packs (*.npz)")
    parser.add_argument("--out", type=Path, help="output folder for the checkpoint, log and sample grid")
    parser.add_argument("--minutes", type=float, default=8.0, help="wall-clock budget, setup and save included (default 8)")
    parser.add_argument("--resume", type=Path, nargs="+", metavar="DIR", help="checkpoint folder(s) to continue from")
    parser.add_argument("--config", type=Path, metavar="JSON", help="JSON object of GeneratorTrainConfig fields to override")
    parser.add_argument("--device", choices=["cuda", "cpu"], default=None, help="default: cuda when available")
    parser.add_argument("--batch", type=int, default=None, help="global batch size")
    parser.add_argument("--tiny", action="store_true", help="the 32 px tiny config (tests, smoke runs)")
    parser.add_argument("--steps", type=int, default=None, help="stop at this absolute step (also stops by --minutes)")
    parser.add_argument("--cost", action="store_true", help="print parameters and MACs of G and D, then exit")
    parser.set_defaults(func=run)


def resolve_config(args: argparse.Namespace):
    """The config a run uses: base (tiny / checkpoint's / default) + --config + --batch."""
    from faceedit_gui.cli.train_config import resolve_train_config
    from faceedit_gui.training.train_generator import GeneratorTrainConfig, merge_config, tiny_config

    return resolve_train_config(args, GeneratorTrainConfig, tiny_config, merge_config)


def run(args: argparse.Namespace) -> int:
    start = time.time()
    from faceedit_gui.training.checkpoint import CheckpointError
    from faceedit_gui.training.train_generator import TrainingDiverged, cost_report, train

    try:
        config = resolve_config(args)
        if args.cost:
            print(cost_report(config))
            return 0
        if args.data is None or args.out is None:
            print("faceedit train generator: --data and --out are required", file=sys.stderr)
            return 2
        summary = train(
            config, args.data, args.out, args.minutes, resume=args.resume, device=args.device, max_steps=args.steps,
            start_time=start,
        )  # fmt: skip
    except (CheckpointError, FileNotFoundError, ValueError, TrainingDiverged) as exc:
        print(f"faceedit train generator: {exc}", file=sys.stderr)
        return 1
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps(summary))
    return 0
