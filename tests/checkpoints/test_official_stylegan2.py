"""Official rosinality-layout generator files load as they are, and only as weights."""

from __future__ import annotations

import argparse
import os

import pytest
import torch

from faceedit_gui.checkpoints.official_stylegan2 import (
    generator_config_from_state_dict,
    load_stylegan2_checkpoint,
)
from faceedit_gui.checkpoints.safe_load import CheckpointError, UnsafeCheckpointError
from faceedit_gui.networks.stylegan2 import Generator

CHANNELS = {4: 16, 8: 16, 16: 8, 32: 8}


def _small() -> Generator:
    torch.manual_seed(0)
    return Generator(size=32, style_dim=16, n_mlp=3, channels=CHANNELS).eval()


def test_converted_checkpoint_with_g_ema_and_latent_avg_loads_and_reproduces(tmp_path):
    g = _small()
    path = tmp_path / "stylegan2-small.pt"
    torch.save({"g_ema": g.state_dict(), "latent_avg": torch.randn(16), "g": g.state_dict()}, path)
    loaded = load_stylegan2_checkpoint(path)
    assert loaded.source.endswith("[g_ema]")
    assert loaded.latent_avg.shape == (16,)
    wp = torch.randn(2, g.n_latent, 16)
    with torch.no_grad():
        assert torch.equal(loaded.generator.synthesis(wp), g.synthesis(wp))


def test_training_checkpoint_with_argparse_args_is_allowed(tmp_path):
    g = _small()
    path = tmp_path / "000100.pt"
    torch.save({"g_ema": g.state_dict(), "args": argparse.Namespace(size=32, r1=10.0)}, path)
    assert load_stylegan2_checkpoint(path).generator.size == 32


def test_e4e_style_decoder_prefix_loads(tmp_path):
    g = _small()
    state = {f"decoder.{k}": v for k, v in g.state_dict().items()}
    state["encoder.dummy.weight"] = torch.zeros(1)
    path = tmp_path / "e4e.pt"
    torch.save({"state_dict": state, "opts": {"stylegan_size": 32}, "latent_avg": torch.randn(8, 16)}, path)
    loaded = load_stylegan2_checkpoint(path)
    assert loaded.source.endswith("[state_dict/decoder]")
    assert loaded.latent_avg.shape == (16,)


def test_config_is_read_off_the_shapes_including_the_official_table():
    with torch.device("meta"):
        official = Generator(size=256, style_dim=512, n_mlp=8, channel_multiplier=2)
    cfg = generator_config_from_state_dict(official.state_dict())
    assert (cfg.size, cfg.style_dim, cfg.n_mlp, cfg.channels, cfg.channel_multiplier) == (256, 512, 8, None, 2)
    cfg = generator_config_from_state_dict(_small().state_dict())
    assert cfg.channels == CHANNELS and cfg.n_mlp == 3


def test_wrong_shape_and_missing_keys_are_named(tmp_path):
    state = _small().state_dict()
    state["to_rgbs.0.bias"] = torch.zeros(1, 4, 1, 1)
    del state["noises.noise_2"]
    path = tmp_path / "broken.pt"
    torch.save({"g_ema": state}, path)
    with pytest.raises(CheckpointError) as err:
        load_stylegan2_checkpoint(path)
    msg = str(err.value)
    assert "broken.pt" in msg and "noises.noise_2" in msg
    assert "to_rgbs.0.bias: got [1, 4, 1, 1], expected [1, 3, 1, 1]" in msg


def test_not_a_generator_and_empty_file_give_clear_errors(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"model": {"fc.weight": torch.zeros(2, 2)}}, path)
    with pytest.raises(CheckpointError, match="no StyleGAN2 generator found"):
        load_stylegan2_checkpoint(path)
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        load_stylegan2_checkpoint(empty)
    text = tmp_path / "text.pt"
    text.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        load_stylegan2_checkpoint(text)


class _RunsCode:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_that_runs_code_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pt"
    torch.save({"g_ema": _small().state_dict(), "payload": _RunsCode(str(marker))}, path)
    with pytest.raises(UnsafeCheckpointError, match="refused to load") as err:
        load_stylegan2_checkpoint(path)
    assert "posix.system" in str(err.value) or "system" in str(err.value)
    assert not marker.exists()
