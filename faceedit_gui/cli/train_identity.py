"""`faceedit train identity`: distil dlib's face descriptor into the identity network.

Examples:
    # dlib targets for 4000 train crops per pack + every held-out crop (cached in
    # .data/dlib_targets, ~12 crops/s), then 30 minutes of training; rerun to continue
    nice -n 10 faceedit train identity --data .data/aligned/celeba_128 .data/aligned/utkface_128 \\
        --out .data/trained/identity --minutes 30
    # only the dlib targets (no training)
    faceedit train identity --steps 0
    # a smoke run
    faceedit train identity --data DIR... --out /tmp/i --cache /tmp/i/dlib --steps 3 --batch 4 --limit 8

Output (`--out`, default .data/trained/identity): identity.safetensors + identity.json
(config, held-out agreement with dlib, recipe), log.jsonl, resume.* (a rerun continues).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from faceedit_gui.cli.train_classifier import REPO, add_common_arguments, resolve_config


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("identity", help="distil dlib's face descriptor into the identity network",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser, REPO / ".data" / "trained" / "identity")
    parser.add_argument("--cache", type=Path, default=REPO / ".data" / "dlib_targets", help="dlib descriptor cache folder")
    parser.add_argument("--train-per-pack", type=int, default=None, help="train crops per pack given dlib targets (0 = all)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import dataclasses

    import torch

    from faceedit_gui.training.train_identity import IdentityTrainConfig, train_identity

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        config = resolve_config(IdentityTrainConfig(), args)
        if args.limit is not None:
            config = dataclasses.replace(config, train_per_pack=args.limit)
        if args.train_per_pack is not None:
            config = dataclasses.replace(config, train_per_pack=args.train_per_pack)
        record = train_identity(args.data, args.out, args.cache, config, minutes=args.minutes, device=args.device,
                                fresh=args.fresh, test_limit=args.limit, echo=lambda m: print(m, file=sys.stderr, flush=True))
    except (FileNotFoundError, ValueError) as exc:
        print(f"faceedit train identity: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(record["metrics"]))
    return 0
