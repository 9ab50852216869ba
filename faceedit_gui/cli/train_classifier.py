"""`faceedit train classifier`: train (or continue) the attribute classifier.

Examples:
    # the bundled model's classifier on this CPU, 35 minutes (resumable: rerun to continue)
    nice -n 10 faceedit train classifier --data .data/aligned/celeba_128 .data/aligned/utkface_128 \\
        --out .data/trained/classifier --minutes 35
    # a smoke run
    faceedit train classifier --data DIR... --out /tmp/c --steps 3 --batch 4 --limit 16
    # override any config field, network fields included
    faceedit train classifier --data ... --out ... --config '{"lr": 1e-3, "network": {"size": 128}}'

Output (`--out`, default .data/trained/classifier): classifier.safetensors + classifier.json
(config, held-out AUC per attribute, recipe), log.jsonl, resume.* (a rerun continues).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("classifier", help="train the attribute classifier", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser, REPO / ".data" / "trained" / "classifier")
    parser.set_defaults(func=run)


def add_common_arguments(parser: argparse.ArgumentParser, default_out: Path) -> None:
    """Arguments shared by the classifier and identity trainers."""
    default_data = [REPO / ".data" / "aligned" / "celeba_128", REPO / ".data" / "aligned" / "utkface_128"]
    parser.add_argument("--data", type=Path, nargs="+", default=default_data, metavar="DIR", help="packed sets (default: CelebA and UTKFace at 128 px)")
    parser.add_argument("--out", type=Path, default=default_out, help=f"output folder (default {default_out.relative_to(REPO)})")
    parser.add_argument("--minutes", type=float, default=None, help="stop after this much wall clock (weights are written)")
    parser.add_argument("--steps", type=int, default=None, help="schedule length (total steps)")
    parser.add_argument("--batch", type=int, default=None, help="images per step")
    parser.add_argument("--config", default=None, metavar="JSON", help="JSON object (or file) of config fields to override")
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None, help="default: cuda when available")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--fresh", action="store_true", help="ignore a resume state in --out and start over")
    parser.add_argument("--limit", type=int, default=None, help="read at most N images per pack and split (smoke runs)")


def resolve_config(base, args: argparse.Namespace):
    """`base` + --config (nested dicts merge into nested configs) + --steps/--batch."""
    from faceedit_gui.config import config_from_dict, config_to_dict

    data = config_to_dict(base)
    if args.config:
        text = Path(args.config).read_text() if Path(args.config).is_file() else args.config
        overrides = json.loads(text)
        if not isinstance(overrides, dict):
            raise ValueError("--config: expected a JSON object")
        for k, v in overrides.items():
            data[k] = {**data[k], **v} if isinstance(v, dict) and isinstance(data.get(k), dict) else v
    for k in ("steps", "batch"):
        if getattr(args, k) is not None:
            data[k] = getattr(args, k)
    return config_from_dict(type(base), data)


def run(args: argparse.Namespace) -> int:
    import torch

    from faceedit_gui.training.train_classifier import ClassifierTrainConfig, train_classifier

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        config = resolve_config(ClassifierTrainConfig(), args)
        record = train_classifier(args.data, args.out, config, minutes=args.minutes, device=args.device,
                                  fresh=args.fresh, limit=args.limit, echo=lambda m: print(m, file=sys.stderr, flush=True))
    except (FileNotFoundError, ValueError) as exc:
        print(f"faceedit train classifier: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(record["metrics"]))
    return 0
