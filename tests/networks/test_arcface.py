"""ArcFace IR-SE50 Backbone and the official identity-loss preprocessing.

Reference data: ../shared/reference/arcface_ir_se50_keys.json (keys, shapes, dtypes and
order of `model_ir_se50.pth`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from faceedit_gui.config import config_from_dict, config_to_dict
from faceedit_gui.networks.arcface import ArcFaceConfig, Backbone, arcface_preprocess, identity_embedding

REFERENCE = Path(__file__).resolve().parents[2].parent / "shared" / "reference"


def _layout(module: torch.nn.Module) -> list[tuple[str, tuple[int, ...], str]]:
    return [(k, tuple(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in module.state_dict().items()]


def test_backbone_state_dict_equals_official_table() -> None:
    entries = json.loads((REFERENCE / "arcface_ir_se50_keys.json").read_text())["keys"]
    with torch.device("meta"):
        backbone = Backbone(input_size=112, num_layers=50, drop_ratio=0.6, mode="ir_se", affine=True)
    assert _layout(backbone) == [(e["key"], tuple(e["shape"]), e["dtype"]) for e in entries]
    # output_layer is registered before body, as in the official file
    keys = list(backbone.state_dict())
    assert keys.index("output_layer.0.weight") < keys.index("body.0.res_layer.0.weight")


def test_other_depths_modes_and_affine() -> None:
    with torch.device("meta"):
        ir = Backbone(mode="ir")
        deep = Backbone(num_layers=100)
        plain = Backbone(affine=False)
    assert not any(".res_layer.5." in k for k in ir.state_dict())
    assert len(deep.body) == 49 and len(Backbone.from_config(ArcFaceConfig(num_layers=152)).body) == 50
    assert "output_layer.4.weight" not in plain.state_dict()
    with pytest.raises(ValueError, match="num_layers"):
        ArcFaceConfig(num_layers=34)


def test_config_round_trips_through_json() -> None:
    config = ArcFaceConfig(mode="ir", affine=False)
    assert config_from_dict(ArcFaceConfig, json.loads(json.dumps(config_to_dict(config)))) == config


def test_embedding_of_any_image_size_is_unit_norm() -> None:
    torch.manual_seed(0)
    backbone = Backbone().eval()
    with torch.no_grad():
        emb = identity_embedding(backbone, torch.rand(1, 3, 128, 128) * 2 - 1)
    assert emb.shape == (1, 512)
    torch.testing.assert_close(emb.norm(dim=1), torch.ones(1))


def test_preprocess_is_differentiable() -> None:
    image = torch.rand(1, 3, 1024, 1024, requires_grad=True)
    arcface_preprocess(image).square().sum().backward()
    assert image.grad is not None
    assert image.grad[:, :, 140:892, 128:880].abs().min() > 0  # the crop window, at 1024 px
    assert image.grad[:, :, :, :128].abs().max() == 0  # outside it


def test_backbone_rejects_wrong_input_size() -> None:
    with torch.device("meta"):
        backbone = Backbone()
    with pytest.raises(ValueError, match=r"expected input \[B, 3, 112, 112\], got \(1, 3, 128, 128\)"):
        backbone(torch.zeros(1, 3, 128, 128, device="meta"))


def test_preprocess_crops_the_official_window_at_256() -> None:
    x = torch.randn(2, 3, 256, 256)
    out = arcface_preprocess(x)
    assert out.shape == (2, 3, 112, 112)
    torch.testing.assert_close(out, F.adaptive_avg_pool2d(x[:, :, 35:223, 32:220], (112, 112)))


def test_preprocess_pools_1024_to_256_first() -> None:
    x = torch.randn(1, 3, 1024, 1024)
    pooled = F.avg_pool2d(x, 4)  # AdaptiveAvgPool2d((256, 256)) at 1024 px is an exact 4x4 mean
    torch.testing.assert_close(arcface_preprocess(x), arcface_preprocess(pooled))


def test_preprocess_rejects_non_images() -> None:
    with pytest.raises(ValueError, match=r"expected \[B, 3, H, W\], got \(3, 256, 256\)"):
        arcface_preprocess(torch.zeros(3, 256, 256))
