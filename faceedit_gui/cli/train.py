"""`faceedit train WHAT ...`: train one of the project's networks.

    faceedit train generator --data .data/gen_chunk --out runs/gen --minutes 8
    faceedit train generator -h

Each WHAT is a module of this package named in TRAINERS below, defining
`register(subparsers)` (a thin parser; heavy imports happen inside its run function, so
this group stays importable without torch, Qt, OpenCV or dlib). To add a trainer, write
`faceedit_gui/cli/train_<what>.py` and add one line to TRAINERS.
"""

from __future__ import annotations

import argparse
import importlib

# trainer name -> module in faceedit_gui.cli
TRAINERS: dict[str, str] = {
    "generator": "train_generator",
    "classifier": "train_classifier",
    "identity": "train_identity",
    "encoder": "train_encoder",
    "editor": "train_editor",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `train` group and every trainer in TRAINERS under it."""
    parser = subparsers.add_parser(
        "train",
        help="train a network (generator, ...)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="trainer", metavar="WHAT", required=True)
    for name in TRAINERS:
        importlib.import_module(f"faceedit_gui.cli.{TRAINERS[name]}").register(sub)
