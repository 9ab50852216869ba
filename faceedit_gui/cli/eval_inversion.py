"""`faceedit eval-inversion`: score the encoder + generator on held-out faces.

Examples:
    # the held-out UTKFace list, packed by `faceedit prepare-data`, with a bundle
    faceedit eval-inversion --pack .data/aligned/utkface_128 --bundle models/default --out runs/eval
    # training checkpoints instead of a bundle, the first 200 faces
    faceedit eval-inversion --pack .data/aligned/utkface_128 --generator models/training/generator \\
        --encoder models/training/encoder --classifier runs/classifier/classifier --limit 200 --out runs/eval
    # aligned crops from files (landmarks found by dlib)
    faceedit eval-inversion --images crops/*.png --bundle models/default --out runs/eval
    # without the subcommand registered in cli/main.py:
    python -m faceedit_gui.cli.eval_inversion --pack ... --out ...

Writes OUT/inversion.json and OUT/inversion.md: PSNR, SSIM, L2, the perceptual distance
(LPIPS when --lpips-vgg/--lpips-lin or FACEEDIT_LPIPS_VGG/_LIN name the official files,
else the named substitute over --classifier or the bundle's classifier), dlib identity
similarity, and the project's identity network when given (or in the bundle), labelled.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--pack", type=Path, help="packed set whose TEST split is scored (e.g. .data/aligned/utkface_128)")
    src.add_argument("--images", type=Path, nargs="+", help="aligned crop files")
    parser.add_argument("--bundle", type=Path, help="model bundle (generator + encoder; classifier/identity if present)")
    parser.add_argument("--generator", type=Path, help="generator training checkpoint or bundle (with --encoder)")
    parser.add_argument("--encoder", type=Path, help="encoder training checkpoint (with --generator)")
    parser.add_argument("--classifier", type=Path, help="attribute classifier for the perceptual substitute")
    parser.add_argument("--identity", type=Path, help="the project's identity network (reported as such)")
    parser.add_argument("--lpips-vgg", type=Path, help="torchvision vgg16-397923af.pth")
    parser.add_argument("--lpips-lin", type=Path, help="lpips weights/v0.1/vgg.pth")
    parser.add_argument("--limit", type=int, default=None, help="score only the first N faces")
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cpu")
    parser.add_argument("--out", type=Path, required=True, help="folder for inversion.json and inversion.md")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("eval-inversion", help="score inversion on held-out faces", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    add_arguments(parser)
    parser.set_defaults(func=run)


def _optional(bundle: Path | None, name: str, given: Path | None):
    """`given`, else the bundle's network `name` when its card lists it, else None."""
    if given is not None:
        return given
    if bundle is not None:
        from faceedit_gui.checkpoints.bundle import read_card

        if name in read_card(bundle).networks:
            return bundle
    return None


def run(args: argparse.Namespace) -> int:
    import torch

    from faceedit_gui.metrics.inversion import evaluate_inversion, load_aligned_images, load_heldout_pack, write_report
    from faceedit_gui.metrics.perceptual import load_network_source, resolve_perceptual
    from faceedit_gui.training.train_encoder import load_generator, load_trained_encoder

    dev = torch.device(args.device)
    if args.bundle is not None:
        from faceedit_gui.checkpoints.bundle import load_bundle

        b = load_bundle(args.bundle, networks=["generator", "encoder"], device=dev)
        generator, encoder, model = b["generator"], b["encoder"], f"bundle {args.bundle}"
    elif args.generator is not None and args.encoder is not None:
        generator, _ = load_generator(args.generator, dev)
        encoder, model = load_trained_encoder(args.encoder, dev), f"generator {args.generator}, encoder {args.encoder}"
    else:
        print("faceedit eval-inversion: give --bundle, or --generator and --encoder", file=sys.stderr)
        return 2
    classifier = _optional(args.bundle, "classifier", args.classifier)
    identity_src = _optional(args.bundle, "identity", args.identity)
    perceptual = resolve_perceptual(args.lpips_vgg, args.lpips_lin, classifier=classifier, device=dev)
    identity = load_network_source(identity_src, "identity").to(dev).eval() if identity_src is not None else None
    data = load_heldout_pack(args.pack, args.limit) if args.pack else load_aligned_images(args.images[: args.limit], generator.size)
    report = evaluate_inversion(encoder, generator, data["images"], data["landmarks"], perceptual, identity,
                                names=data["names"], source=data["source"])  # fmt: skip
    extra = {"model": model, "command": "faceedit eval-inversion " + " ".join(sys.argv[2:] if sys.argv[1:2] == ["eval-inversion"] else sys.argv[1:])}
    jpath, _ = write_report(report, args.out, extra)
    print(json.dumps({"means": report["means"], "perceptual": report["perceptual"]["name"], "report": str(jpath)}))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="faceedit eval-inversion", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
