"""Loading official e4e / pSp / ArcFace files: key tables, round trips, loud errors, no code execution.

Fake checkpoints are built from our key tables with stride-0 tensors (`full((1,), v).expand(shape)`):
torch.save stores one value per tensor, so even the 1024 px e4e layout (267 M values)
saves to a few hundred kB, and every tensor carries its own index so a misplaced key shows.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import torch

from faceedit_gui.checkpoints.official_encoders import (
    encoder_key_table,
    key_table,
    load_arcface,
    load_e4e_or_psp,
)
from faceedit_gui.checkpoints.safe_load import CheckpointError, UnsafeCheckpointError
from faceedit_gui.networks.arcface import Backbone
from faceedit_gui.networks.encoders import Encoder4Editing, GradualStyleEncoder, OfficialEncoderConfig

REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "reference"


def _fake_tensor(index: int, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    if dtype == torch.int64:
        return torch.tensor(index, dtype=dtype).expand(shape)
    return torch.full((1,), float(index), dtype=dtype).expand(shape)


def _fake_encoder_state(config: OfficialEncoderConfig | None = None) -> dict[str, torch.Tensor]:
    return {e.checkpoint_key: _fake_tensor(i, e.shape, e.dtype) for i, e in enumerate(encoder_key_table(config))}


def _save(path: Path, obj: Any) -> Path:
    torch.save(obj, path)
    return path


def _e4e_file(tmp_path: Path, state: dict | None = None, **top: Any) -> Path:
    checkpoint = {
        "state_dict": {
            **(_fake_encoder_state() if state is None else state),
            "decoder.style.1.weight": torch.zeros(1).expand(512, 512),
        },
        "opts": {"encoder_type": "Encoder4Editing", "stylegan_size": 1024, "start_from_latent_avg": True},
        "latent_avg": torch.arange(18 * 512, dtype=torch.float32).reshape(18, 512),
    }
    checkpoint.update(top)
    return _save(tmp_path / "e4e_ffhq_encode.pt", checkpoint)


@pytest.fixture(scope="module")
def reference() -> Path:
    return REFERENCE


@pytest.mark.parametrize("table_file", ["e4e_encoder_keys.json", "psp_gradual_encoder_keys.json"])
def test_loader_key_table_equals_official_checkpoint_keys(reference: Path, table_file: str) -> None:
    kind = "e4e" if table_file.startswith("e4e") else "psp"
    entries = json.loads((reference / table_file).read_text())["keys"]
    table = encoder_key_table(OfficialEncoderConfig(kind=kind))
    assert [(e.checkpoint_key, list(e.shape)) for e in table] == [(e["key"], e["shape"]) for e in entries]
    assert [e.module_key for e in table] == ["encoder." + e["module_key"] for e in entries]


def test_e4e_round_trip_puts_every_tensor_in_its_place(tmp_path: Path) -> None:
    path = _e4e_file(tmp_path)
    loaded = load_e4e_or_psp(path)
    encoder = loaded.encoder
    assert isinstance(encoder.encoder, Encoder4Editing) and encoder.config == OfficialEncoderConfig("e4e", 1024)
    state = encoder.state_dict()
    for i, entry in enumerate(encoder_key_table()):
        assert state[entry.module_key].reshape(-1)[0].item() == i, entry.module_key
    torch.testing.assert_close(encoder.latent_avg, torch.arange(18 * 512, dtype=torch.float32).reshape(18, 512))
    assert list(loaded.decoder_state_dict) == ["style.1.weight"] and loaded.decoder_size == 1024
    assert not encoder.training and not any(p.requires_grad for p in encoder.parameters())
    assert not any(t.is_meta for t in state.values())


@pytest.mark.parametrize("latent_avg", [torch.arange(512.0), torch.arange(512.0)[None]])
def test_psp_at_a_smaller_size_from_opts_and_latent_avg_repeated(tmp_path: Path, latent_avg: torch.Tensor) -> None:
    config = OfficialEncoderConfig(kind="psp", output_size=256)  # 14 styles: fewer heads, same naming
    checkpoint = {
        "state_dict": _fake_encoder_state(config),
        "opts": {"encoder_type": "GradualStyleEncoder", "output_size": 256, "input_nc": 3, "learn_in_w": False},
        "latent_avg": latent_avg,
    }
    loaded = load_e4e_or_psp(_save(tmp_path / "psp.pt", checkpoint))
    assert isinstance(loaded.encoder.encoder, GradualStyleEncoder) and len(loaded.encoder.encoder.styles) == 14
    torch.testing.assert_close(loaded.encoder.latent_avg, torch.arange(512.0).repeat(14, 1))
    assert loaded.decoder_state_dict == {}


def test_no_latent_avg_when_training_did_not_start_from_it(tmp_path: Path) -> None:
    opts = {"encoder_type": "Encoder4Editing", "stylegan_size": 1024, "start_from_latent_avg": False}
    loaded = load_e4e_or_psp(_e4e_file(tmp_path, opts=opts))
    assert torch.count_nonzero(loaded.encoder.latent_avg) == 0


def test_missing_num_batches_tracked_is_accepted(tmp_path: Path) -> None:
    state = {k: v for k, v in _fake_encoder_state().items() if not k.endswith("num_batches_tracked")}
    loaded = load_e4e_or_psp(_e4e_file(tmp_path, state))
    assert loaded.encoder.state_dict()["encoder.body.0.res_layer.0.num_batches_tracked"].item() == 0


def test_missing_unexpected_and_wrong_shape_keys_are_all_named(tmp_path: Path) -> None:
    state = _fake_encoder_state()
    del state["encoder.styles.5.linear.bias"]
    state["encoder.styles.18.linear.bias"] = torch.zeros(512)
    state["encoder.latlayer1.weight"] = torch.zeros(512, 128, 1, 1)
    with pytest.raises(CheckpointError) as info:
        load_e4e_or_psp(_e4e_file(tmp_path, state))
    message = str(info.value)
    assert "1 missing key(s): encoder.styles.5.linear.bias" in message
    assert "1 unexpected key(s): encoder.styles.18.linear.bias" in message
    assert "encoder.latlayer1.weight: got [512, 128, 1, 1], expected [512, 256, 1, 1]" in message


def test_keys_outside_encoder_and_decoder_are_refused(tmp_path: Path) -> None:
    state = {**_fake_encoder_state(), "module.encoder.input_layer.0.weight": torch.zeros(1)}
    with pytest.raises(CheckpointError, match="outside 'encoder.' and 'decoder.': module.encoder.input_layer"):
        load_e4e_or_psp(_e4e_file(tmp_path, state))


def test_encoder_type_is_required_or_given(tmp_path: Path) -> None:
    path = _e4e_file(tmp_path, opts={"stylegan_size": 1024})
    with pytest.raises(CheckpointError, match="no 'encoder_type'"):
        load_e4e_or_psp(path)
    assert isinstance(load_e4e_or_psp(path, kind="psp").encoder.encoder, GradualStyleEncoder)
    other = _e4e_file(tmp_path, opts={"encoder_type": "BackboneEncoderUsingLastLayerIntoW"})
    with pytest.raises(CheckpointError, match="not supported"):
        load_e4e_or_psp(other)


def test_bad_latent_avg_and_non_checkpoints_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"latent_avg has shape \[3, 512\], expected \[18, 512\]"):
        load_e4e_or_psp(_e4e_file(tmp_path, latent_avg=torch.zeros(3, 512)))
    with pytest.raises(CheckpointError, match="not an e4e/pSp checkpoint"):
        load_e4e_or_psp(_save(tmp_path / "bare.pt", {"g_ema": {}}))
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_e4e_or_psp(tmp_path / "absent.pt")


def test_decoder_can_be_built_as_a_generator(tmp_path: Path) -> None:
    from faceedit_gui.networks.stylegan2 import Generator

    with torch.device("meta"):
        generator = Generator(32, 512, 8, channel_multiplier=2)
    decoder = {
        "decoder." + e.checkpoint_key: _fake_tensor(i, e.shape, e.dtype) for i, e in enumerate(key_table(generator))
    }
    config = OfficialEncoderConfig(kind="psp", output_size=32)
    checkpoint = {
        "state_dict": {**_fake_encoder_state(config), **decoder},
        "opts": {"encoder_type": "GradualStyleEncoder", "output_size": 32},
        "latent_avg": torch.zeros(512),
    }
    loaded = load_e4e_or_psp(_save(tmp_path / "psp32.pt", checkpoint), build_generator=True)
    assert loaded.generator is not None and loaded.generator.n_latent == loaded.encoder.n_w == 8
    assert loaded.generator.state_dict()["conv1.conv.weight"].reshape(-1)[0].item() > 0


# --------------------------------------------------------------------------- ArcFace


def _fake_arcface_state() -> dict[str, torch.Tensor]:
    with torch.device("meta"):
        backbone = Backbone()
    return {e.checkpoint_key: _fake_tensor(i, e.shape, e.dtype) for i, e in enumerate(key_table(backbone))}


def test_arcface_round_trip_without_batch_counters(tmp_path: Path, reference: Path) -> None:
    state = {k: v for k, v in _fake_arcface_state().items() if not k.endswith("num_batches_tracked")}
    backbone = load_arcface(_save(tmp_path / "model_ir_se50.pth", state))
    entries = json.loads((reference / "arcface_ir_se50_keys.json").read_text())["keys"]
    loaded = backbone.state_dict()
    assert list(loaded) == [e["key"] for e in entries]
    index = list(_fake_arcface_state()).index("output_layer.3.weight")
    assert loaded["output_layer.3.weight"].reshape(-1)[0].item() == index
    assert backbone.config.mode == "ir_se" and not backbone.training


def test_arcface_wrong_shape_and_missing_key_are_named(tmp_path: Path) -> None:
    state = _fake_arcface_state()
    state["output_layer.3.weight"] = torch.zeros(512, 100)
    del state["body.3.shortcut_layer.0.weight"]
    with pytest.raises(CheckpointError) as info:
        load_arcface(_save(tmp_path / "bad.pth", state))
    assert "output_layer.3.weight: got [512, 100], expected [512, 25088]" in str(info.value)
    assert "missing key(s): body.3.shortcut_layer.0.weight" in str(info.value)


# --------------------------------------------------------------------------- safety


class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("loader", [load_e4e_or_psp, load_arcface])
def test_a_pickle_that_runs_code_is_refused_and_never_runs(tmp_path: Path, loader: Any) -> None:
    marker = tmp_path / "pwned"
    path = _save(tmp_path / "evil.pt", {"state_dict": {"encoder.x": _RunsCode(marker)}, "opts": {}})
    with pytest.raises(UnsafeCheckpointError):
        loader(path)
    assert not marker.exists()
