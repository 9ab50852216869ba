"""`faceedit`: the one entry point.

    faceedit [PHOTO]            open the editor
    faceedit info [BUNDLE]      print a model bundle's card
    faceedit <subcommand> -h    help for any subcommand

Each subcommand lives in its own module of this package, which defines
`register(subparsers)`; the list below names them. Imports happen only when the
subcommand is known, so `faceedit -h` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# subcommand name -> module in faceedit_gui.cli
SUBCOMMANDS: dict[str, str] = {
    "info": "info",
    "train": "train",
    "sample": "sample",
    "align": "align",
    "prepare-data": "prepare_data",
    "attributes": "attributes",
    "eval-inversion": "eval_inversion",
    "eval-generator": "eval_generator",
    "bundle-assemble": "bundle_assemble",
    "batch": "batch",
    "eval": "eval",
}


def build_parser(names: list[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="faceedit", description="Edit real face photos with StyleGAN2.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in names if names is not None else list(SUBCOMMANDS):
        module = importlib.import_module(f"faceedit_gui.cli.{SUBCOMMANDS[name]}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        parser = build_parser([argv[0]])
        args = parser.parse_args(argv)
        return int(args.func(args) or 0)
    if argv and argv[0] in ("-h", "--help"):
        build_parser().print_help()
        return 0
    from faceedit_gui.cli.editor import run_editor

    return run_editor(argv)


if __name__ == "__main__":
    sys.exit(main())
