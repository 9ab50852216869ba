"""e4e / pSp encoders (official layout, checked on the `meta` device) and the small bundled encoder.

Reference data: ../shared/reference/e4e_encoder_keys.json, psp_gradual_encoder_keys.json
(key names, shapes, dtypes and order of the official modules at 1024 px).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from faceedit_gui.config import config_from_dict, config_to_dict
from faceedit_gui.networks.encoders import (
    Encoder4Editing,
    GradualStyleEncoder,
    OfficialEncoder,
    OfficialEncoderConfig,
    SmallEncoder,
    SmallEncoderConfig,
    combine_w0_deltas,
    n_styles_for,
)

REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "reference"

# tiny: 32 px, 4 styles, narrow widths, one unit per stage; a forward takes milliseconds
TINY = SmallEncoderConfig(
    size=32, n_w=4, style_dim=16, channels=(4, 4, 8, 8, 8), units=(1, 1, 1, 1), fpn_channels=8, head_channels=8,
    coarse_styles=1, middle_styles=2,
)


def _table(reference: Path, name: str) -> list[tuple[str, tuple[int, ...], str]]:
    entries = json.loads((reference / name).read_text())["keys"]
    return [(e["module_key"], tuple(e["shape"]), e["dtype"]) for e in entries]


def _layout(module: torch.nn.Module) -> list[tuple[str, tuple[int, ...], str]]:
    return [(k, tuple(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in module.state_dict().items()]


@pytest.fixture(scope="module")
def reference() -> Path:
    return REFERENCE


@pytest.fixture(scope="module")
def meta_e4e() -> Encoder4Editing:
    with torch.device("meta"):
        return Encoder4Editing()


def test_e4e_state_dict_equals_official_table(meta_e4e: Encoder4Editing, reference: Path) -> None:
    assert _layout(meta_e4e) == _table(reference, "e4e_encoder_keys.json")


def test_psp_state_dict_equals_official_table(reference: Path) -> None:
    with torch.device("meta"):
        psp = GradualStyleEncoder()
    assert _layout(psp) == _table(reference, "psp_gradual_encoder_keys.json")


def test_wrapper_keys_are_the_checkpoint_keys(reference: Path) -> None:
    with torch.device("meta"):
        wrapper = OfficialEncoder(OfficialEncoderConfig(kind="psp"))
    entries = json.loads((reference / "e4e_encoder_keys.json").read_text())["keys"]
    expected = [(e["key"], tuple(e["shape"])) for e in entries]
    got = [(k, tuple(v.shape)) for k, v in wrapper.state_dict().items()]
    # a module's own buffers come before its children's entries in state_dict()
    assert got == [("latent_avg", (18, 512))] + expected


def test_official_forward_shapes_and_feature_names(meta_e4e: Encoder4Editing) -> None:
    x = torch.zeros(2, 3, 256, 256, device="meta")
    codes, features = meta_e4e(x)
    assert codes.shape == (2, 18, 512)
    assert list(features) == ["16x16", "32x32", "64x64"]
    assert [tuple(f.shape) for f in features.values()] == [(2, 512, 16, 16), (2, 512, 32, 32), (2, 512, 64, 64)]
    assert meta_e4e.encode(x).deltas.shape == (2, 17, 512)


@pytest.mark.parametrize("kind", ["e4e", "psp"])
def test_wrapper_adds_latent_avg_shape_and_sizes_from_output_size(kind: str) -> None:
    with torch.device("meta"):
        enc = OfficialEncoder(OfficialEncoderConfig(kind=kind, output_size=256))
        w_plus, features = enc(torch.zeros(1, 3, 256, 256))
    assert enc.latent_avg.shape == (14, 512) and len(enc.encoder.styles) == 14
    assert w_plus.shape == (1, 14, 512)
    assert enc.network_type == f"{kind}_encoder"


def test_n_styles_follow_the_generator_size() -> None:
    assert [n_styles_for(s) for s in (128, 256, 1024)] == [12, 14, 18]
    with pytest.raises(ValueError, match="power of two"):
        n_styles_for(100)


def test_official_encoder_rejects_non_rgb_input(meta_e4e: Encoder4Editing) -> None:
    with pytest.raises(ValueError, match=r"expected an image batch \[B, 3, H, W\], got \(2, 1, 256, 256\)"):
        meta_e4e(torch.zeros(2, 1, 256, 256, device="meta"))


def test_official_configs_round_trip_through_json() -> None:
    config = OfficialEncoderConfig(kind="psp", output_size=256)
    rebuilt = config_from_dict(OfficialEncoderConfig, json.loads(json.dumps(config_to_dict(config))))
    assert rebuilt == config
    with torch.device("meta"):
        assert OfficialEncoder.from_config(rebuilt).config == config
        e4e = Encoder4Editing.from_config(Encoder4Editing.config_class(output_size=512))
    assert e4e.n_styles == 16
    with pytest.raises(ValueError, match="kind"):
        OfficialEncoderConfig(kind="stylegan")


def test_e4e_combination_is_w0_plus_deltas() -> None:
    w0 = torch.randn(2, 8)
    deltas = [torch.randn(2, 8) for _ in range(3)]
    w, d = combine_w0_deltas(w0, deltas, 4)
    assert torch.equal(w[:, 0], w0)
    for i, delta in enumerate(deltas, start=1):
        assert torch.equal(w[:, i], w0 + delta)
    assert torch.equal(d, torch.stack(deltas, 1))


# --------------------------------------------------------------------------- SmallEncoder


def test_small_encoder_default_forward_shapes_and_features() -> None:
    torch.manual_seed(0)
    enc = SmallEncoder().eval()
    with torch.no_grad():
        w_plus, features = enc(torch.rand(2, 3, 128, 128) * 2 - 1)
    assert w_plus.shape == (2, 12, 512)
    assert list(features) == ["8x8", "16x16", "32x32", "64x64"] == SmallEncoderConfig().feature_names()
    assert [tuple(f.shape) for f in features.values()] == [(2, 128, r, r) for r in (8, 16, 32, 64)]
    assert torch.isfinite(w_plus).all()


def test_small_encoder_resizes_other_input_sizes() -> None:
    enc = SmallEncoder(TINY).eval()
    with torch.no_grad():
        w_plus, features = enc(torch.zeros(1, 3, 50, 70))
    assert w_plus.shape == (1, 4, 16)
    assert list(features) == ["2x2", "4x4", "8x8", "16x16"]


def test_small_encoder_rejects_bad_input() -> None:
    enc = SmallEncoder(TINY)
    with pytest.raises(ValueError, match=r"got \(3, 32, 32\)"):
        enc(torch.zeros(3, 32, 32))
    with pytest.raises(ValueError, match=r"expected an image batch \[B, 3, H, W\]"):
        enc(torch.zeros(1, 4, 32, 32))


def test_small_encoder_deltas_and_latent_avg() -> None:
    torch.manual_seed(1)
    enc = SmallEncoder(TINY).eval()
    enc.latent_avg.copy_(torch.randn(4, 16))
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        out = enc.encode(x)
        frozen = enc.encode(x, active_deltas=0)
    assert out.deltas.shape == (2, 3, 16)
    codes = out.w_plus - enc.latent_avg
    torch.testing.assert_close(codes[:, 1:] - codes[:, :1], out.deltas)
    # progressive stage 0: every style is w0
    assert torch.count_nonzero(frozen.deltas) == 0
    frozen_codes = frozen.w_plus - enc.latent_avg
    torch.testing.assert_close(frozen_codes[:, :1].expand(-1, 4, -1), frozen_codes)
    torch.testing.assert_close(frozen.w_plus[:, 0], out.w_plus[:, 0])


def test_small_encoder_gradients_reach_every_parameter_and_the_input() -> None:
    torch.manual_seed(2)
    enc = SmallEncoder(TINY)
    x = (torch.rand(2, 3, 32, 32) * 2 - 1).requires_grad_(True)
    out = enc.encode(x)
    loss = out.w_plus.square().mean() + sum(f.mean() for f in out.features.values()) + out.deltas.norm(dim=-1).mean()
    loss.backward()
    no_grad = [n for n, p in enc.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert no_grad == []
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_small_encoder_rebuilds_from_json_config_and_state() -> None:
    from faceedit_gui.networks.registry import build_network, network_type_of

    torch.manual_seed(3)
    enc = SmallEncoder(TINY).eval()
    data = json.loads(json.dumps(config_to_dict(enc.config)))
    rebuilt = build_network("small_encoder", data).eval()
    assert rebuilt.config == TINY and network_type_of(rebuilt) == "small_encoder"
    rebuilt.load_state_dict(enc.state_dict(), strict=True)
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x)[0], enc(x)[0])


def test_small_encoder_config_validation() -> None:
    with pytest.raises(ValueError, match="power of two"):
        SmallEncoderConfig(size=96)
    with pytest.raises(ValueError, match="5 channels"):
        SmallEncoderConfig(channels=(8, 8, 8))
