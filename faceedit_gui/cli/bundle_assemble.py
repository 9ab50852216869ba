"""`faceedit bundle-assemble`: build the model bundle (`models/default/`) from training outputs.

Examples:
    faceedit bundle-assemble --generator models/training/generator --encoder models/training/encoder \\
        --editor models/training/editor --classifier models/training/classifier \\
        --identity models/training/identity --framing resources/framing_template_utkface.json \\
        --out models/default --metrics runs/eval/inversion.json runs/eval/editing.json \\
        --direction pose=runs/pose.safetensors

Writes the bundle (generator = G_ema, encoder, editor; classifier and identity network
training-only; fp16 where the check in `training/assemble.py` allows), prints a JSON
summary, and writes the model-card text (`--readme`, default `<out>/../README.md`, i.e.
`models/README.md`, between its model-card markers when it has them, see
`training/model_card.py`; `--readme ''` skips it). `--metrics` takes e.g. the
`generator_eval.json` of `faceedit eval-generator` and the `inversion.json` of
`faceedit eval-inversion`. The bundle is reopened with `load_bundle`
before the command reports success.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bundle-assemble",
        help="build a model bundle from generator, encoder, editor, classifier and identity outputs",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--generator", type=Path, required=True, help="generator training checkpoint (G_ema) or bundle")
    parser.add_argument("--encoder", type=Path, required=True, help="encoder training checkpoint or bundle")
    parser.add_argument("--editor", type=Path, required=True, help="editor training checkpoint")
    parser.add_argument("--classifier", type=Path, required=True, help="classifier output folder, stem or bundle")
    parser.add_argument("--identity", type=Path, required=True, help="identity output folder, stem or bundle")
    parser.add_argument("--framing", type=Path, required=True, help="template framing JSON (resized to the resolution)")
    parser.add_argument("--out", type=Path, required=True, help="bundle folder to write (replaced)")
    parser.add_argument("--metrics", type=Path, nargs="*", default=[], metavar="JSON", help="metric files for the card")
    parser.add_argument("--direction", action="append", default=[], metavar="NAME=FILE",
                        help="an extra style-only direction from a .safetensors tensor file (repeatable), e.g. pose=FILE")  # fmt: skip
    parser.add_argument("--name", default="faceedit-default-128", help="bundle name (default faceedit-default-128)")
    parser.add_argument("--readme", type=str, default=None, help="model-card Markdown path (default <out>/../README.md; '' = none)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from faceedit_gui.checkpoints.safe_load import CheckpointError
    from faceedit_gui.training.assemble import AssemblySources, assemble_bundle, verify_assembled
    from faceedit_gui.training.model_card import model_card_markdown, write_model_card

    directions = {}
    for item in args.direction:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            print(f"faceedit bundle-assemble: --direction expects NAME=FILE, got {item!r}", file=sys.stderr)
            return 2
        directions[name] = Path(path)
    sources = AssemblySources(generator=args.generator, encoder=args.encoder, editor=args.editor, classifier=args.classifier,
                              identity=args.identity, framing=args.framing, directions=directions,
                              metrics=tuple(args.metrics))  # fmt: skip
    try:
        card = assemble_bundle(sources, args.out, name=args.name)
        report = verify_assembled(args.out)
    except (CheckpointError, FileNotFoundError, ValueError, KeyError) as exc:
        print(f"faceedit bundle-assemble: {exc}", file=sys.stderr)
        return 1
    readme = args.out.resolve().parent / "README.md" if args.readme is None else (Path(args.readme) if args.readme else None)
    if readme is not None:
        write_model_card(readme, model_card_markdown(card, args.out.name))
    sizes = {p.name: p.stat().st_size for p in sorted(args.out.iterdir()) if p.is_file()}
    print(json.dumps({"out": str(args.out), **report, "bytes": sum(sizes.values()), "files": sizes,
                      "fp16_check": card.metrics["fp16_check"], "readme": str(readme) if readme else None}, indent=1))  # fmt: skip
    return 0
