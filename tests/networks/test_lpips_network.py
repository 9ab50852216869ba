"""LPIPS in the project: the key layout of the official files (torchvision's `features.*`,
lpips' `lin<k>.model.1.weight`), loading random weights saved in those layouts, and the
distance it computes against an independent functional re-statement of lpips v0.1."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from faceedit_gui.checkpoints.safe_load import CheckpointError
from faceedit_gui.networks.lpips import LPIPS, LPIPSConfig, backbone_key_table, linear_key_table, load_lpips

# torchvision vgg16().features: conv positions and (in, out) channels, 3x3 kernels
VGG_CONVS = {0: (3, 64), 2: (64, 64), 5: (64, 128), 7: (128, 128), 10: (128, 256), 12: (256, 256), 14: (256, 256),
             17: (256, 512), 19: (512, 512), 21: (512, 512), 24: (512, 512), 26: (512, 512), 28: (512, 512)}
VGG_POOLS = (4, 9, 16, 23)  # max-pools before relu5_3 (the one at 30 is past the last tap)
VGG_TAPS = (3, 8, 15, 22, 29)  # relu1_2, relu2_2, relu3_3, relu4_3, relu5_3
# torchvision alexnet().features: conv position -> (in, out, kernel, stride, padding)
ALEX_CONVS = {0: (3, 64, 11, 4, 2), 3: (64, 192, 5, 1, 2), 6: (192, 384, 3, 1, 1), 8: (384, 256, 3, 1, 1), 10: (256, 256, 3, 1, 1)}
LIN_CHANNELS = {"vgg": (64, 128, 256, 512, 512), "alex": (64, 192, 384, 256, 256)}


def expected_keys(net: str) -> dict[str, tuple[int, ...]]:
    keys = {}
    if net == "vgg":
        for i, (cin, cout) in VGG_CONVS.items():
            keys[f"features.{i}.weight"], keys[f"features.{i}.bias"] = (cout, cin, 3, 3), (cout,)
    else:
        for i, (cin, cout, k, _, _) in ALEX_CONVS.items():
            keys[f"features.{i}.weight"], keys[f"features.{i}.bias"] = (cout, cin, k, k), (cout,)
    for k, c in enumerate(LIN_CHANNELS[net]):
        keys[f"lin{k}.model.1.weight"] = (1, c, 1, 1)
    return keys


@pytest.mark.parametrize("net", ["vgg", "alex"])
def test_state_dict_is_exactly_the_official_keys_and_shapes(net):
    model = LPIPS(LPIPSConfig(net=net))
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert got == expected_keys(net)
    assert {**backbone_key_table(net), **linear_key_table(net)} == expected_keys(net)


def write_official_files(tmp_path, net="vgg", seed=0):
    """Random weights in torchvision's and lpips' layouts (with torchvision's classifier keys
    too, which LPIPS must ignore)."""
    g = torch.Generator().manual_seed(seed)
    backbone = {k: torch.randn(s, generator=g) * (0.1 if len(s) == 4 else 0.01) for k, s in backbone_key_table(net).items()}
    backbone["classifier.0.weight"] = torch.randn(8, 4, generator=g)  # present in the real file, unused
    lin = {k: torch.rand(s, generator=g) for k, s in linear_key_table(net).items()}
    bpath, lpath = tmp_path / f"{net}_backbone.pth", tmp_path / f"{net}_lin.pth"
    torch.save(backbone, bpath)
    torch.save(lin, lpath)
    return bpath, lpath, backbone, lin


def reference_lpips_vgg(state: dict, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """lpips v0.1 (VGG) written out with functional ops from the paper's description."""
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)

    def taps(img):
        h, out = (img - shift) / scale, []
        for i in range(30):
            if i in VGG_CONVS:
                h = F.conv2d(h, state[f"features.{i}.weight"], state[f"features.{i}.bias"], padding=1)
            elif i in VGG_POOLS:
                h = F.max_pool2d(h, 2, 2)
            else:
                h = F.relu(h)
            if i in VGG_TAPS:
                out.append(h)
        return out

    total = torch.zeros(x.shape[0])
    for k, (a, b) in enumerate(zip(taps(x), taps(y))):
        a = a / (a.norm(dim=1, keepdim=True) + 1e-10)
        b = b / (b.norm(dim=1, keepdim=True) + 1e-10)
        total += F.conv2d((a - b) ** 2, state[f"lin{k}.model.1.weight"]).mean(dim=(1, 2, 3))
    return total


def test_loads_fake_official_files_and_matches_the_functional_reference(tmp_path):
    bpath, lpath, backbone, lin = write_official_files(tmp_path)
    model = load_lpips(bpath, lpath)
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    sd = model.state_dict()
    for k, v in {**lin, **{k: v for k, v in backbone.items() if k.startswith("features.")}}.items():
        assert torch.equal(sd[k], v), k
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1, torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
    with torch.no_grad():
        got = model(x, y)
        want = reference_lpips_vgg({**backbone, **lin}, x, y)
    assert got.shape == (2,)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
    assert torch.all(model(x, x) == 0)


def test_alexnet_variant_loads_from_its_files(tmp_path):
    bpath, lpath, _, _ = write_official_files(tmp_path, "alex")
    model = load_lpips(bpath, lpath, net="alex")
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    assert float(model(x, x.flip(-1))) > 0


def test_wrong_files_are_refused_with_the_key_named(tmp_path):
    bpath, lpath, backbone, lin = write_official_files(tmp_path)
    with pytest.raises(CheckpointError, match="lin0.model.1.weight"):
        load_lpips(bpath, bpath)  # backbone file given twice: no linear layers in it
    backbone["features.28.weight"] = torch.zeros(512, 512, 1, 1)
    torch.save(backbone, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match=r"features\.28\.weight has shape \[512, 512, 1, 1\]"):
        load_lpips(tmp_path / "bad.pth", lpath)
