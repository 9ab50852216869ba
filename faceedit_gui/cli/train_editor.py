"""`faceedit train editor`: train (or continue training) the two-branch editor (d_sty, d_cnt,
A, H) against frozen generator, encoder, attribute classifier and identity network.

Examples:
    # 8 minutes on the GPU
    faceedit train editor --data .data/gen_chunk --generator models/training/generator \\
        --encoder models/training/encoder --classifier models/training/classifier \\
        --identity models/training/identity --out runs/editor --minutes 8
    # continue (the most advanced of several folders is used)
    faceedit train editor ... --out runs/editor --resume models/training/editor
    # a Table 3 ablation row: style | style_spa | refine | full (default: the checkpoint's, else full)
    faceedit train editor ... --variant style_spa --out runs/editor_style_spa
    # a CPU smoke run of the tiny config (32 px generator and encoder), 4 steps
    faceedit train editor --data DIR --generator G32 --encoder E32 --classifier C --out /tmp/ed --tiny --device cpu --steps 4
    # several GPUs:
    torchrun --standalone --nproc_per_node=4 -m faceedit_gui.cli.main train editor ...

--generator: a generator training checkpoint folder (its G_ema) or a bundle folder.
--encoder: an encoder training checkpoint folder or a bundle folder.
--classifier / --identity: a bundle folder, a training output folder holding
`classifier.safetensors` + `.json` (resp. `identity.*`), or such a file stem.
Perceptual loss: LPIPS-VGG with `--lpips-vgg`/`--lpips-lin` (or FACEEDIT_LPIPS_VGG /
FACEEDIT_LPIPS_LIN), else the project's substitute over the classifier (docs/PERCEPTUAL.md).

Config: `EditorTrainConfig` defaults, the checkpoint's own when resuming, `--tiny` the test
config; `--config FILE` (JSON object of fields, nested dicts merge), `--batch` and
`--variant` override. Output (`--out`): editor.safetensors, state.json, log.jsonl, grid.png,
and optim.safetensors when the config saves optimiser state.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "editor",
        help="train the two-branch editor against frozen G, E, classifier and identity network",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--data", type=Path, nargs="+", metavar="DIR", required=True, help="packed set(s) or shard folders")
    parser.add_argument("--generator", type=Path, required=True, help="generator training checkpoint folder or bundle folder")
    parser.add_argument("--encoder", type=Path, required=True, help="encoder training checkpoint folder or bundle folder")
    parser.add_argument("--classifier", type=Path, required=True, help="attribute classifier (bundle, output folder or stem)")
    parser.add_argument("--identity", type=Path, help="identity network (bundle, output folder or stem); without it L_id is skipped")
    parser.add_argument("--out", type=Path, required=True, help="output folder for the checkpoint, log and grid")
    parser.add_argument("--minutes", type=float, default=8.0, help="wall-clock budget, setup and save included (default 8)")
    parser.add_argument("--resume", type=Path, nargs="+", metavar="DIR", help="editor checkpoint folder(s) to continue from")
    parser.add_argument("--variant", choices=["style", "style_spa", "refine", "full"], help="Table 3 ablation row")
    parser.add_argument("--lpips-vgg", type=Path, help="torchvision vgg16-397923af.pth (with --lpips-lin: official LPIPS)")
    parser.add_argument("--lpips-lin", type=Path, help="lpips weights/v0.1/vgg.pth")
    parser.add_argument("--config", type=Path, metavar="JSON", help="JSON object of EditorTrainConfig fields to override")
    parser.add_argument("--device", choices=["cuda", "cpu"], default=None, help="default: cuda when available")
    parser.add_argument("--batch", type=int, default=None, help="global batch size")
    parser.add_argument("--tiny", action="store_true", help="the tiny test config (32 px generator and encoder)")
    parser.add_argument("--steps", type=int, default=None, help="stop at this absolute step (also stops by --minutes)")
    parser.set_defaults(func=run)


def resolve_config(args: argparse.Namespace):
    """base (tiny / checkpoint's / default) + --config + --batch + --variant."""
    from faceedit_gui.cli.train_config import resolve_train_config
    from faceedit_gui.training.train_editor import EditorTrainConfig, merge_config, tiny_config, variant_config

    config = resolve_train_config(args, EditorTrainConfig, tiny_config, merge_config)
    return variant_config(config, args.variant) if args.variant else config


def run(args: argparse.Namespace) -> int:
    start = time.time()
    from faceedit_gui.checkpoints.safe_load import CheckpointError as LoadError
    from faceedit_gui.training.checkpoint import CheckpointError
    from faceedit_gui.training.train_editor import train

    try:
        config = resolve_config(args)
        summary = train(
            config, args.data, args.generator, args.encoder, args.classifier, args.out, args.minutes, resume=args.resume,
            identity=args.identity, lpips_backbone=args.lpips_vgg, lpips_linear=args.lpips_lin, device=args.device,
            max_steps=args.steps, start_time=start,
        )  # fmt: skip
    except (CheckpointError, LoadError, FileNotFoundError, ValueError) as exc:
        print(f"faceedit train editor: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(summary))
    return 0
