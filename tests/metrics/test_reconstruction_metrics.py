"""L2, PSNR, SSIM and MS-SSIM against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from faceedit_gui.metrics.reconstruction import (
    SSIM_K1,
    SSIM_K2,
    l2_pm1,
    ms_ssim,
    ms_ssim_scales,
    psnr,
    reconstruction_metrics,
    ssim,
)


def test_psnr_of_a_known_mse_and_l2_on_the_networks_range():
    x = torch.full((2, 3, 16, 16), 0.5)
    y = x + 0.1  # MSE 0.01 -> 20 dB
    torch.testing.assert_close(psnr(x, y), torch.full((2,), 20.0), rtol=1e-5, atol=1e-4)
    assert torch.all(l2_pm1(-torch.ones(1, 3, 4, 4), torch.ones(1, 3, 4, 4)) == 4.0)
    m = reconstruction_metrics(x * 2 - 1, y * 2 - 1)
    torch.testing.assert_close(m["l2"], torch.full((2,), 0.04))  # 0.1 on [0, 1] is 0.2 on [-1, 1]


def test_ssim_of_identical_images_is_one():
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(ssim(x, x), torch.ones(2))
    torch.testing.assert_close(ms_ssim(x, x), torch.ones(2))


def test_ssim_of_constant_images_is_the_luminance_term():
    a, b = 0.3, 0.7
    want = (2 * a * b + SSIM_K1**2) / (a * a + b * b + SSIM_K1**2)
    got = ssim(torch.full((1, 1, 16, 16), a), torch.full((1, 1, 16, 16), b))
    assert float(got) == pytest.approx(want, rel=1e-5)


def test_ssim_on_an_11px_image_equals_the_formula_with_the_gaussian_weights():
    rng = np.random.default_rng(3)
    x, y = rng.random((11, 11)), rng.random((11, 11))
    r = np.arange(11) - 5.0
    g = np.exp(-(r**2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    mx, my = (w * x).sum(), (w * y).sum()
    vx, vy, cxy = (w * x * x).sum() - mx**2, (w * y * y).sum() - my**2, (w * x * y).sum() - mx * my
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    want = (2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    got = ssim(torch.tensor(x)[None, None].float(), torch.tensor(y)[None, None].float())
    assert float(got) == pytest.approx(want, rel=1e-4)


def test_ms_ssim_uses_the_scales_that_fit_and_has_gradients():
    assert ms_ssim_scales(128, max_scales=3) == 3 and ms_ssim_scales(32, max_scales=3) == 2 and ms_ssim_scales(8) == 0
    g = torch.Generator().manual_seed(1)
    x = torch.rand(1, 3, 32, 32, generator=g)
    y = (x + 0.1 * torch.randn(1, 3, 32, 32, generator=g)).clamp(0, 1).requires_grad_()
    v = ms_ssim(x, y)
    assert 0 < float(v.detach()) < 1
    v.sum().backward()
    assert torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="smaller than"):
        ssim(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8))
    assert math.isfinite(float(psnr(x, x)))
