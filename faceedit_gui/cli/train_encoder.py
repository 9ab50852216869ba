"""`faceedit train encoder`: train (or continue training) the bundled e4e-style encoder
against a frozen generator.

Examples:
    # 8 minutes on the GPU, generator from its training checkpoint (or a bundle folder)
    faceedit train encoder --data .data/aligned/utkface_128 --generator models/training/generator \\
        --out runs/enc --minutes 8 --classifier runs/classifier/classifier --identity runs/identity/identity
    # continue (the most advanced of several folders is used)
    faceedit train encoder --data DIR --generator G --out runs/enc --minutes 8 --resume models/training/encoder
    # a CPU smoke run of the tiny config (needs a 32 px generator), 20 steps
    faceedit train encoder --data DIR --generator G32 --out /tmp/e --tiny --device cpu --steps 20
    # several GPUs:
    torchrun --standalone --nproc_per_node=4 -m faceedit_gui.cli.main train encoder ...

Perceptual loss: LPIPS-VGG when `--lpips-vgg`/`--lpips-lin` (or FACEEDIT_LPIPS_VGG /
FACEEDIT_LPIPS_LIN) name the official files, else the project's substitute over
`--classifier` (docs/PERCEPTUAL.md); the name is logged and written into state.json.
Identity loss: the project's identity network (`--identity`), skipped with a note without it.

Config: `EncoderTrainConfig` defaults, the checkpoint's own when resuming, `--tiny` the test
config; `--config FILE` (JSON object of fields, nested dicts merge) and `--batch` override.

Output (`--out`): E.safetensors, state.json, log.jsonl, grid.png (input | reconstruction
pairs), and optim.safetensors when the config saves optimiser state.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "encoder",
        help="train the e4e-style encoder against a frozen generator",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", type=Path, nargs="+", metavar="DIR", required=True, help="packed set(s) or shard folders")
    parser.add_argument("--generator", type=Path, required=True, help="generator training checkpoint folder or bundle folder")
    parser.add_argument("--out", type=Path, required=True, help="output folder for the checkpoint, log and grid")
    parser.add_argument("--minutes", type=float, default=8.0, help="wall-clock budget, setup and save included (default 8)")
    parser.add_argument("--resume", type=Path, nargs="+", metavar="DIR", help="encoder checkpoint folder(s) to continue from")
    parser.add_argument("--classifier", type=Path, help="attribute classifier (bundle or save_network stem) for the perceptual substitute")
    parser.add_argument("--identity", type=Path, help="identity network (bundle or save_network stem) for the identity loss")
    parser.add_argument("--lpips-vgg", type=Path, help="torchvision vgg16-397923af.pth (with --lpips-lin: official LPIPS)")
    parser.add_argument("--lpips-lin", type=Path, help="lpips weights/v0.1/vgg.pth")
    parser.add_argument("--config", type=Path, metavar="JSON", help="JSON object of EncoderTrainConfig fields to override")
    parser.add_argument("--device", choices=["cuda", "cpu"], default=None, help="default: cuda when available")
    parser.add_argument("--batch", type=int, default=None, help="global batch size")
    parser.add_argument("--tiny", action="store_true", help="the tiny test config (a 32 px generator)")
    parser.add_argument("--steps", type=int, default=None, help="stop at this absolute step (also stops by --minutes)")
    parser.set_defaults(func=run)


def resolve_config(args: argparse.Namespace):
    """base (tiny / checkpoint's / default) + --config + --batch."""
    from faceedit_gui.cli.train_config import resolve_train_config
    from faceedit_gui.training.train_encoder import EncoderTrainConfig, merge_config, tiny_config

    return resolve_train_config(args, EncoderTrainConfig, tiny_config, merge_config)


def run(args: argparse.Namespace) -> int:
    start = time.time()
    from faceedit_gui.checkpoints.safe_load import CheckpointError as LoadError
    from faceedit_gui.training.checkpoint import CheckpointError
    from faceedit_gui.training.train_encoder import train

    try:
        config = resolve_config(args)
        summary = train(
            config, args.data, args.generator, args.out, args.minutes, resume=args.resume, classifier=args.classifier,
            identity=args.identity, lpips_backbone=args.lpips_vgg, lpips_linear=args.lpips_lin, device=args.device,
            max_steps=args.steps, start_time=start,
        )  # fmt: skip
    except (CheckpointError, LoadError, FileNotFoundError, ValueError) as exc:
        print(f"faceedit train encoder: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary))
    return 0
