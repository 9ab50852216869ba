"""Tiny stand-ins of every trained network, for smoke runs and tests of the editor trainer
and the bundle assembly (seconds on a CPU; meaningless weights).

    paths = make_tiny_models(root)   # root/{pack, generator, encoder, classifier, identity}
    faceedit train editor --data {pack} --generator {generator} --encoder {encoder} \\
        --classifier {classifier} --identity {identity} --out root/editor --tiny --device cpu --steps 2

The generator and encoder are produced by their own trainers' tiny configs (`--tiny`,
32 px, a step or two); the classifier and identity network are randomly initialised and
written with `net_io.save_network`, as their trainers write them. The pack holds smooth
random colour fields in the packer's format (JPEG shards, `index.json`), a few held out.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from faceedit_gui.faces.packing import ShardWriter
from faceedit_gui.networks.classifier import AttributeClassifier, AttributeClassifierConfig
from faceedit_gui.networks.identity import IdentityNet, IdentityNetConfig
from faceedit_gui.training.net_io import save_network

TINY_SIZE = 32


def write_tiny_pack(folder: str | Path, n_train: int = 12, n_test: int = 4, size: int = TINY_SIZE, seed: int = 0) -> Path:
    """A packed set of smooth random images (train + held-out shards)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    shards: list = []
    for split, n in (("train", n_train), ("test", n_test)):
        writer = ShardWriter(folder, split, size, encoding="jpeg")
        for i in range(n):
            coarse = rng.integers(0, 256, (4, 4, 3))
            rgb = np.kron(coarse, np.ones((size // 4, size // 4, 1))).astype(np.uint8)
            writer.add(rgb, f"{split}_{i}.jpg", int(split == "test"), 30, 0, 0, (-1,) * 40, np.zeros((68, 2), np.float32), 0.01)
        writer.flush()
        shards += writer.shards
    index = {"dataset": "utkface", "size": size, "encoding": "jpeg", "shards": shards}
    (folder / "index.json").write_text(json.dumps(index))
    return folder


def tiny_classifier(seed: int = 0) -> AttributeClassifier:
    torch.manual_seed(seed)
    return AttributeClassifier(AttributeClassifierConfig(size=TINY_SIZE, stem_channels=8, channels=(8, 8, 8, 8))).eval()


def tiny_identity(seed: int = 0) -> IdentityNet:
    torch.manual_seed(seed)
    return IdentityNet(IdentityNetConfig(size=TINY_SIZE, stem_channels=8, channels=(8, 8, 8, 8))).eval()


def make_tiny_models(root: str | Path, generator_steps: int = 1, encoder_steps: int = 1) -> dict[str, Path]:
    """Write a tiny pack, generator and encoder checkpoints, classifier and identity files."""
    from faceedit_gui.training.train_encoder import tiny_config as encoder_tiny
    from faceedit_gui.training.train_encoder import train as train_encoder
    from faceedit_gui.training.train_generator import tiny_config as generator_tiny
    from faceedit_gui.training.train_generator import train as train_generator

    root = Path(root)
    quiet = {"device": "cpu", "echo": lambda _: None}
    paths = {"pack": write_tiny_pack(root / "pack"), "generator": root / "generator", "encoder": root / "encoder",
             "classifier": root / "classifier", "identity": root / "identity"}  # fmt: skip
    train_generator(generator_tiny(), paths["pack"], paths["generator"], 5.0, max_steps=generator_steps, **quiet)
    train_encoder(encoder_tiny(), paths["pack"], paths["generator"], paths["encoder"], 5.0, max_steps=encoder_steps, **quiet)
    save_network(paths["classifier"] / "classifier", tiny_classifier(), metrics={"note": "random tiny weights"})
    save_network(paths["identity"] / "identity", tiny_identity(), metrics={"note": "random tiny weights"})
    return paths
