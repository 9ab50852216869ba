"""The perceptual distance: LPIPS when both official files are configured, otherwise the
project's substitute; zero for identical images, monotone on a blur and a noise ladder of a
real photo, differentiable, frozen, and named."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from faceedit_gui.conventions import uint8_to_tensor
from faceedit_gui.metrics.perceptual import ENV_BACKBONE, ENV_LINEAR, ClassifierFeatures, PerceptualDistance, resolve_perceptual
from faceedit_gui.networks.classifier import AttributeClassifier
from faceedit_gui.networks.lpips import LPIPS

PHOTO = Path(__file__).resolve().parents[3] / "shared" / "data" / "photos" / "ffhq" / "00000.png"


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    if not PHOTO.is_file():
        pytest.skip(f"real photo {PHOTO} not here")
    return cv2.resize(cv2.imread(str(PHOTO))[:, :, ::-1], (128, 128), interpolation=cv2.INTER_AREA)


def substitutes() -> list[PerceptualDistance]:
    torch.manual_seed(0)  # a classifier as built (the trained one is a file the tests do not have)
    return [PerceptualDistance(), PerceptualDistance(features=ClassifierFeatures(AttributeClassifier()), feature_source="test")]


@pytest.mark.parametrize("dist", substitutes(), ids=["msssim", "features+msssim"])
def test_zero_for_identical_and_monotone_on_blur_and_noise_ladders(dist, photo):
    x = uint8_to_tensor(photo)
    assert float(dist(x, x)) == 0.0
    blur = [float(dist(x, uint8_to_tensor(cv2.GaussianBlur(photo, (0, 0), s)))) for s in (0.5, 1.0, 2.0, 4.0)]
    noise_map = torch.from_numpy(np.random.default_rng(0).standard_normal(x.shape).astype(np.float32))
    noise = [float(dist(x, (x + 2 * s * noise_map).clamp(-1, 1))) for s in (0.02, 0.05, 0.1, 0.2)]
    for ladder in (blur, noise):
        assert ladder[0] > 0 and all(a < b for a, b in zip(ladder, ladder[1:])), ladder


@pytest.mark.parametrize("dist", substitutes(), ids=["msssim", "features+msssim"])
def test_differentiable_frozen_deterministic_and_named(dist, photo):
    x = uint8_to_tensor(photo)
    y = (x + 0.1 * torch.randn_like(x)).clamp(-1, 1).requires_grad_()
    d = dist(x, y)
    d.sum().backward()
    assert torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in dist.parameters())
    dist.train()
    assert not any(m.training for m in dist.modules())
    assert torch.equal(dist(x, y.detach()), dist(x, y.detach()))
    assert dist.name.startswith(("faceedit-perceptual-v1 (substitute", "faceedit-msssim-v1 (substitute"))
    assert dist.describe()["name"] == dist.name


def test_resolve_uses_lpips_only_when_both_files_are_configured(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_BACKBONE, raising=False)
    monkeypatch.delenv(ENV_LINEAR, raising=False)
    assert resolve_perceptual().name.startswith("faceedit-msssim-v1")
    assert resolve_perceptual(classifier=AttributeClassifier()).name.startswith("faceedit-perceptual-v1")
    sd = LPIPS().state_dict()
    torch.save({k: v for k, v in sd.items() if k.startswith("features.")}, tmp_path / "vgg16.pth")
    torch.save({k: v for k, v in sd.items() if k.startswith("lin")}, tmp_path / "vgg.pth")
    monkeypatch.setenv(ENV_BACKBONE, str(tmp_path / "vgg16.pth"))
    with pytest.raises(ValueError, match="both files"):
        resolve_perceptual()
    monkeypatch.setenv(ENV_LINEAR, str(tmp_path / "vgg.pth"))
    dist = resolve_perceptual(classifier=AttributeClassifier())
    assert dist.name == "lpips-vgg (official weights)" and dist.kind == "lpips"
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert float(dist(x, x)) == 0.0
