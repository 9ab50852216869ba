"""`faceedit sample`: random faces from a generator, one PNG each.

Examples:
    faceedit sample -n 16 -o samples                       # the default bundle's generator
    faceedit sample -n 16 -o samples --checkpoint models/training/generator
    faceedit sample -n 8 -o samples --seed 100 --truncation 0.7 --bundle models/default

Image i uses the latent drawn from seed `S + i` (so `--seed 5 -n 1` repeats image 5 of
`--seed 0 -n 10`) and the generator's stored noise; it is written as
`OUT/seed<S+i>.png` (uint8 RGB at the generator's resolution). The generator is the EMA
generator of a training checkpoint (`--checkpoint`) or a bundle's `generator`. Truncation
pulls w toward the average w (the bundle's `latent_avg` when it has one, else the mean of
4096 mapped latents from a fixed seed). `OUT/sample.json` records the arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    import numpy as np


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sample",
        help="write random generator samples as PNGs",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-n", "--num", type=int, default=16, help="number of images (default 16)")
    parser.add_argument("-o", "--out", type=Path, required=True, help="output folder")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first image (default 0)")
    parser.add_argument("--truncation", type=float, default=1.0, help="truncation psi in (0, 1]; 1 = none")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--bundle", type=Path, default=None, help="model bundle folder (default: models/default)")
    source.add_argument("--checkpoint", type=Path, default=None, help="training checkpoint folder (uses G_ema)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.set_defaults(func=run)


def load_checkpoint_generator(folder: Path, device: str = "cpu"):
    """The EMA generator of a training checkpoint folder, eval mode, float32."""
    from faceedit_gui.config import config_from_dict
    from faceedit_gui.training import checkpoint as ckpt
    from faceedit_gui.training.train_generator import GeneratorTrainConfig, build_networks

    state = ckpt.read_state(folder)
    if state is None:
        raise ckpt.CheckpointError(f"{folder}: not a training checkpoint (no state.json)")
    g, _ = build_networks(config_from_dict(GeneratorTrainConfig, state["config"]))
    ckpt.load_training_checkpoint(folder, {"G_ema": g})
    return g.to(device).eval(), None


def load_bundle_generator(folder: Path | None, device: str = "cpu"):
    """A bundle's generator and its `latent_avg` (or None)."""
    from faceedit_gui.checkpoints import bundle as bundle_mod

    if not hasattr(bundle_mod, "load_bundle"):
        raise RuntimeError("this version has no bundle loader; use --checkpoint DIR")
    folder = folder or bundle_mod.default_bundle_path()
    b = bundle_mod.load_bundle(folder, networks=["generator"], device=device)
    w_avg = b.extra_tensors.get("latent_avg")
    return b["generator"], w_avg


def seeded_samples(g, seeds: Sequence[int], truncation: float = 1.0, w_avg=None) -> np.ndarray:
    """uint8 `[N, R, R, 3]` images of generator `g`: image i from the z drawn from seed
    `seeds[i]` (`torch.Generator().manual_seed(s)`, one `[1, style_dim]` draw), with the
    generator's stored noise. Truncation pulls w toward `w_avg` (`[1, style_dim]` or a
    W+ average `[n_w, style_dim]`, whose first row is used), else toward the mean of 4096
    mapped latents from a fixed seed. The same seed gives the same image whatever else is
    drawn (`faceedit sample`, `faceedit eval-generator`'s sheet)."""
    import torch

    from faceedit_gui.training.train_generator import sample_images

    device = next(g.parameters()).device
    with torch.no_grad():
        if truncation < 1 and w_avg is None:
            z = torch.randn(4096, g.style_dim, generator=torch.Generator().manual_seed(123456))
            w_avg = g.mapping(z.to(device)).mean(0, keepdim=True)
        if w_avg is not None:
            w_avg = w_avg.reshape(-1, g.style_dim)[:1]  # [1, style_dim] (a W+ average: its first row)
        z = torch.cat([torch.randn(1, g.style_dim, generator=torch.Generator().manual_seed(int(s))) for s in seeds])
        return sample_images(g, z, truncation=truncation, w_avg=w_avg)


def run(args: argparse.Namespace) -> int:
    from faceedit_gui.training.png import write_png

    if args.num < 1:
        print("faceedit sample: -n must be >= 1", file=sys.stderr)
        return 2
    if not 0 < args.truncation <= 1:
        print("faceedit sample: --truncation must be in (0, 1]", file=sys.stderr)
        return 2
    try:
        if args.checkpoint is not None:
            g, w_avg = load_checkpoint_generator(args.checkpoint, args.device)
            source = {"checkpoint": str(args.checkpoint)}
        else:
            g, w_avg = load_bundle_generator(args.bundle, args.device)
            source = {"bundle": str(args.bundle or "models/default")}
    except Exception as exc:  # any load failure is reported, with the file it concerns
        print(f"faceedit sample: cannot load the generator: {exc}", file=sys.stderr)
        return 1
    seeds = [args.seed + i for i in range(args.num)]
    images = seeded_samples(g, seeds, args.truncation, w_avg)
    args.out.mkdir(parents=True, exist_ok=True)
    for s, image in zip(seeds, images):
        write_png(args.out / f"seed{s:05d}.png", image)
    record = {**source, "num": args.num, "seed": args.seed, "truncation": args.truncation, "resolution": int(images.shape[1])}
    (args.out / "sample.json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {args.num} images to {args.out}")
    return 0
