"""CUDA smoke test of generator training (bf16 autocast, channels-last, fused Adam).

Run first on a lent GPU machine, before spending minutes on a real chunk:
    PYTHONPATH=. python3 -m pytest -q -m gpu tests/training/test_train_generator_gpu.py
Imports only what that machine has (no OpenCV, no Qt).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from faceedit_gui.training.train_generator import tiny_config, train

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def _shards(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    np.savez(folder / "train_000.npz", images=rng.integers(0, 256, (32, 32, 32, 3), dtype=np.uint8))
    return folder


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_cuda_tiny_run_trains_saves_and_resumes(tmp_path, precision):
    data = _shards(tmp_path / "data")
    cfg = tiny_config(precision=precision, batch=8, r1_every=2, pl_weight=2.0, pl_every=2)
    quiet = {"device": "cuda", "echo": lambda _: None}
    train(cfg, data, tmp_path / "a", minutes=5, max_steps=4, **quiet)
    train(cfg, data, tmp_path / "b", minutes=5, max_steps=6, resume=tmp_path / "a", **quiet)
    log = [json.loads(x) for x in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(range(1, 7))
    assert all(np.isfinite(v) for r in log for k, v in r.items() if "/" in k)
    assert any("g/pl" in r for r in log) and any("d/r1" in r for r in log)
    g = load_file(str(tmp_path / "b" / "G_ema.safetensors"))
    assert all(torch.isfinite(v.float()).all() for v in g.values())
