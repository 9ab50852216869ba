"""The generator reproduces rosinality's StyleGAN2 numerically and keeps its key layout.

Reference data: ../shared/reference (random weights drawn by the reference code, fixed
inputs, outputs and every intermediate feature map). Tolerance from its README:
every stored tensor within 1e-4 * max|ref| in float32 on CPU.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from faceedit_gui.networks.stylegan2 import Generator, official_channels

REF = Path(__file__).resolve().parents[2].parent / "shared" / "reference"
TOL = 1e-4


def _rel_err(ours: torch.Tensor, ref: torch.Tensor) -> float:
    assert ours.shape == ref.shape, f"shape {tuple(ours.shape)} != {tuple(ref.shape)}"
    return ((ours.float() - ref.float()).abs().max() / ref.float().abs().max()).item()


@pytest.fixture(scope="module")
def small64():
    meta = json.loads((REF / "stylegan2_rosinality_small64_keys.json").read_text())
    cfg = meta["config"]
    g = Generator(
        size=cfg["size"],
        style_dim=cfg["style_dim"],
        n_mlp=cfg["n_mlp"],
        channels={int(k): v for k, v in cfg["channels"].items()},
        lr_mlp=cfg["lr_mlp"],
        blur_kernel=cfg["blur_kernel"],
    )
    state = {k: v.float() for k, v in load_file(str(REF / "stylegan2_rosinality_small64.safetensors")).items()}
    g.load_state_dict(state, strict=True)
    g.eval()
    io = load_file(str(REF / "stylegan2_rosinality_small64_io.safetensors"))
    return g, io, meta


def test_state_dict_keys_shapes_and_order_match_reference(small64):
    g, _, meta = small64
    ours = [(k, list(v.shape)) for k, v in g.state_dict().items()]
    ref = [(e["key"], e["shape"]) for e in meta["keys"]]
    assert ours == ref
    assert g.n_latent == meta["n_latent"]


def test_mapping_reproduces_w(small64):
    g, io, _ = small64
    with torch.no_grad():
        assert _rel_err(g.mapping(io["z"]), io["w"]) < TOL


def test_mean_latent_reproduces_reference_seeded(small64):
    g, io, _ = small64
    torch.manual_seed(2)
    assert _rel_err(g.mean_latent(4096), io["latent_avg"]) < TOL


def test_images_reproduce_reference(small64):
    g, io, _ = small64
    with torch.no_grad():
        img_z = g(io["z"])
        img_trunc = g(io["z"], truncation=0.7, truncation_latent=io["latent_avg"])
        img_wplus = g.synthesis(io["wplus"])
    errors = {
        "img_z": _rel_err(img_z, io["img_z"]),
        "img_trunc": _rel_err(img_trunc, io["img_trunc"]),
        "img_wplus": _rel_err(img_wplus, io["img_wplus"]),
    }
    assert max(errors.values()) < TOL, errors


def test_every_intermediate_feature_map_reproduces_reference(small64):
    g, io, _ = small64
    captured: dict[str, torch.Tensor] = {}
    hooks = [g.conv1.register_forward_hook(lambda m, i, o: captured.__setitem__("feat_conv1", o))]
    hooks.append(g.to_rgb1.register_forward_hook(lambda m, i, o: captured.__setitem__("rgb1", o)))
    for i, conv in enumerate(g.convs):
        hooks.append(conv.register_forward_hook(lambda m, inp, o, i=i: captured.__setitem__(f"feat_convs_{i}", o)))
    for j, rgb in enumerate(g.to_rgbs):
        hooks.append(rgb.register_forward_hook(lambda m, inp, o, j=j: captured.__setitem__(f"rgb_{j}", o)))
    with torch.no_grad():
        g.synthesis(io["wplus"])
    for h in hooks:
        h.remove()
    names = [k for k in io if k.startswith(("feat_", "rgb"))]
    assert len(names) == 2 + len(g.convs) + len(g.to_rgbs)
    errors = {k: _rel_err(captured[k], io[k]) for k in names}
    assert max(errors.values()) < TOL, errors


def test_unfused_modulated_conv_matches_fused_path(small64):
    g, io, _ = small64
    with torch.no_grad():
        fused = g.synthesis(io["wplus"])
        for m in g.modules():
            if hasattr(m, "fused"):
                m.fused = False
        try:
            unfused = g.synthesis(io["wplus"])
        finally:
            for m in g.modules():
                if hasattr(m, "fused"):
                    m.fused = True
    assert _rel_err(unfused, io["img_wplus"]) < TOL
    assert _rel_err(unfused, fused) < TOL


@pytest.mark.parametrize(
    "table, size, cm",
    [
        ("stylegan2_rosinality_64_cm1_keys.json", 64, 1),
        ("stylegan2_rosinality_128_cm2_keys.json", 128, 2),
        ("stylegan2_rosinality_1024_cm2_keys.json", 1024, 2),
    ],
)
def test_standard_configurations_match_official_key_tables(table, size, cm):
    meta = json.loads((REF / table).read_text())
    with torch.device("meta"):
        g = Generator(size=size, style_dim=512, n_mlp=8, channel_multiplier=cm)
    ours = [(k, list(v.shape)) for k, v in g.state_dict().items()]
    ref = [(e.get("key", e.get("module_key")), e["shape"]) for e in meta["keys"]]
    assert ours == ref
    assert len(ours) == meta["num_entries"]
    assert sum(v.numel() for v in g.state_dict().values()) == meta["num_elements"]
    assert g.n_latent == meta["n_latent"] == 2 * size.bit_length() - 4


def test_channels_none_gives_official_table():
    assert official_channels(1024, 2) == {4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256, 256: 128, 512: 64, 1024: 32}
    with torch.device("meta"):
        g = Generator(size=128, style_dim=512, n_mlp=8)
    assert g.channels == official_channels(128, 2)
    assert g.convs[-1].conv.weight.shape[1] == 256
