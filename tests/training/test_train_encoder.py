"""The encoder training loop on a tiny config (32 px generator, tiny encoder, synthetic
packed shards): it trains with finite, named losses, writes a compact checkpoint, a log and
an input|reconstruction grid, and a resumed run continues the step counter."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from faceedit_gui.cli.main import main as cli_main
from faceedit_gui.faces.packing import ShardWriter
from faceedit_gui.networks.classifier import AttributeClassifier, AttributeClassifierConfig
from faceedit_gui.networks.identity import IdentityNet, IdentityNetConfig
from faceedit_gui.training.encoder_losses import EncoderLossWeights, active_deltas, encoder_loss
from faceedit_gui.training.train_encoder import load_trained_encoder, tiny_config, train
from faceedit_gui.training.train_generator import tiny_config as generator_tiny_config
from faceedit_gui.training.train_generator import train as train_generator

QUIET = {"device": "cpu", "echo": lambda _: None}


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> tuple[Path, Path]:
    """A synthetic packed set (train + held-out shards) and a 1-step tiny generator checkpoint."""
    root = tmp_path_factory.mktemp("encoder")
    data = write_pack(root / "utkface_32", n_train=12, n_test=4)
    train_generator(generator_tiny_config(), data, root / "generator", 1.0, max_steps=1, **QUIET)
    return data, root / "generator"


def write_pack(folder: Path, n_train: int, n_test: int, size: int = 32) -> Path:
    """A packed set in the packer's format (JPEG shards, index.json): blurred colour blobs."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    shards = []
    landmarks = np.zeros((68, 2), np.float32)
    for split, n in (("train", n_train), ("test", n_test)):
        writer = ShardWriter(folder, split, size, encoding="jpeg")
        for i in range(n):
            rgb = np.kron(rng.integers(0, 256, (4, 4, 3)), np.ones((size // 4, size // 4, 1))).astype(np.uint8)
            writer.add(rgb, f"{split}_{i}.jpg", int(split == "test"), 30, 0, 0, (-1,) * 40, landmarks, 0.01)
        writer.flush()
        shards += writer.shards
    (folder / "index.json").write_text(json.dumps({"dataset": "utkface", "size": size, "encoding": "jpeg", "shards": shards}))
    return folder


def read_log(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]


def test_cli_trains_saves_and_resumes_with_the_step_counter_continuing(setup, tmp_path):
    data, generator = setup
    out = tmp_path / "enc"
    base = ["train", "encoder", "--data", str(data), "--generator", str(generator), "--out", str(out), "--tiny", "--device", "cpu"]
    assert cli_main(base + ["--steps", "3"]) == 0
    assert {"E.safetensors", "state.json", "log.jsonl", "grid.png"} <= {p.name for p in out.iterdir()}
    log = read_log(out)
    assert [r["step"] for r in log] == [1, 2, 3]
    for rec in log:
        assert {"enc/l2", "enc/lpips", "enc/delta", "enc/latent", "enc/total"} <= set(rec)
        assert all(math.isfinite(rec[k]) for k in rec if k.startswith("enc/"))
    state = json.loads((out / "state.json").read_text())
    assert state["step"] == 3 and state["perceptual"].startswith("faceedit-msssim-v1")
    assert state["data"]["n_images"] == 12  # the 4 held-out images never enter training
    first = load_file(str(out / "E.safetensors"))

    assert cli_main(base + ["--steps", "5", "--resume", str(out)]) == 0
    assert [r["step"] for r in read_log(out)] == [1, 2, 3, 4, 5]
    state = json.loads((out / "state.json").read_text())
    assert state["step"] == 5 and state["chunks"] == 2
    assert not torch.equal(first["styles.0.linear.weight"], load_file(str(out / "E.safetensors"))["styles.0.linear.weight"])
    encoder = load_trained_encoder(out)
    w_plus, features = encoder(torch.zeros(1, 3, 32, 32))
    assert w_plus.shape == (1, 8, 32) and list(features) == encoder.config.feature_names()
    grid = (out / "grid.png").read_bytes()
    assert grid[:8] == b"\x89PNG\r\n\x1a\n"


def test_identity_and_feature_substitute_terms_when_their_networks_are_given(setup, tmp_path):
    data, generator = setup
    torch.manual_seed(0)
    classifier = AttributeClassifier(AttributeClassifierConfig(size=32, stem_channels=8, channels=(8, 8, 8, 8)))
    identity = IdentityNet(IdentityNetConfig(size=32, stem_channels=8, channels=(8, 8, 8, 8), blocks=(1, 1, 1, 1)))
    summary = train(tiny_config(), data, generator, tmp_path / "enc", 1.0, classifier=classifier.eval(),
                    identity=identity.eval(), max_steps=2, **QUIET)  # fmt: skip
    assert summary["perceptual"].startswith("faceedit-perceptual-v1 (substitute")
    rec = read_log(tmp_path / "enc")[-1]
    assert math.isfinite(rec["enc/id"]) and math.isfinite(rec["enc/lpips"])


def test_loss_skips_zero_weights_and_measures_the_deltas():
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    deltas = torch.zeros(2, 3, 4)
    deltas[:, 0, 0] = 3.0  # one style offset of norm 3, the others 0
    total, terms = encoder_loss(x, x, deltas, EncoderLossWeights(l2=1.0, perceptual=0.0, identity=0.0, delta=1.0, latent=0.0))
    assert set(terms) == {"enc/l2", "enc/delta", "enc/total"}
    assert float(terms["enc/l2"]) == 0.0 and float(total) == pytest.approx(3.0)
    assert [active_deltas(s, 10, 5, 6) for s in (0, 9, 10, 14, 15, 100)] == [0, 0, 1, 1, 2, 5]
    assert active_deltas(0, None, 5, 6) is None


def test_gpu_command_path_imports_no_desktop_packages(setup, tmp_path, gpu_machine_cli):
    """`train encoder` as the GPU chunk script runs it: no Qt, OpenCV, Pillow or dlib there.
    Raw shards stand in for the carried window (decoding JPEG needs OpenCV, which the GPU
    machine has; this test checks what else the command pulls in)."""
    _, generator = setup
    data = tmp_path / "raw"
    data.mkdir()
    images = np.random.default_rng(1).integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    np.savez(data / "train_000.npz", images=images)
    out = tmp_path / "enc"
    res = gpu_machine_cli(["train", "encoder", "--data", data, "--generator", generator, "--out", out,
                           "--tiny", "--device", "cpu", "--steps", "1"])  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    assert json.loads((out / "state.json").read_text())["step"] == 1
