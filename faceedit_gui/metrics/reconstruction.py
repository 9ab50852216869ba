"""Reconstruction metrics: L2, PSNR, SSIM and MS-SSIM, differentiable, in pure torch.

Definitions (DESIGN §7):
    L2       mean squared error of images in [-1, 1] (the paper's code reports this)
    PSNR     10 log10(1 / MSE) of images in [0, 1], per image, in dB
    SSIM     Wang et al., "Image Quality Assessment: From Error Visibility to Structural
             Similarity" (2004): an 11x11 Gaussian window with sigma 1.5, K1 = 0.01,
             K2 = 0.03, data range 1, computed per channel on the 'valid' region (no
             padding, as the paper's reference code and skimage with
             `gaussian_weights=True`), averaged over pixels and channels
    MS-SSIM  Wang, Simoncelli & Bovik, "Multi-scale structural similarity" (2003):
             contrast-structure at every scale but the coarsest, full SSIM at the coarsest,
             combined as a weighted geometric mean, with 2x2 average pooling between scales.
             The paper's 5 scales need >= 161 px; at the bundle's 128 px, `ms_ssim` uses as
             many scales as keep the window inside the image (at most `len(weights)`), with
             the paper's first weights renormalised to sum to 1 (see docs/PERCEPTUAL.md).

Convention: images float `[B, 3, H, W]` (any channel count for SSIM), NCHW; the
`*_pm1` helpers take [-1, 1] (the networks' range), the others [0, 1]. Every function
returns a per-image tensor `[B]`; callers average.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

SSIM_WINDOW = 11  # Gaussian window side in pixels
SSIM_SIGMA = 1.5  # Gaussian window standard deviation in pixels
SSIM_K1, SSIM_K2 = 0.01, 0.03
# Wang et al. 2003, the five scale weights (finest first)
MS_SSIM_WEIGHTS: tuple[float, ...] = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def _check_pair(x: torch.Tensor, y: torch.Tensor, who: str) -> None:
    if x.shape != y.shape or x.ndim != 4:
        raise ValueError(f"{who}: expected two images of the same shape [B, C, H, W], got {list(x.shape)} and {list(y.shape)}")


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1] (no clamping)."""
    return (x + 1.0) * 0.5


def l2_pm1(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean squared error per image `[B]` of images in [-1, 1]."""
    _check_pair(x, y, "l2")
    return (x - y).pow(2).flatten(1).mean(1)


def psnr(x: torch.Tensor, y: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """PSNR per image `[B]` in dB, images in [0, 1] (peak 1). Identical images give
    `10 log10(1 / eps)` (100 dB) rather than infinity."""
    _check_pair(x, y, "psnr")
    mse = (x - y).pow(2).flatten(1).mean(1)
    return 10.0 * torch.log10(1.0 / (mse + eps))


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA, dtype=torch.float32, device=None) -> torch.Tensor:
    """Normalised 1-D Gaussian taps `[size]`, centred."""
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2.0
    g = torch.exp(-(r**2) / (2.0 * sigma**2))
    return (g / g.sum()).to(dtype=dtype, device=device)


def _blur_valid(x: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filter per channel, 'valid' region: `[B, C, H-k+1, W-k+1]`."""
    c = x.shape[1]
    k = taps.numel()
    x = F.conv2d(x, taps.view(1, 1, 1, k).expand(c, 1, 1, k), groups=c)
    return F.conv2d(x, taps.view(1, 1, k, 1).expand(c, 1, k, 1), groups=c)


def _ssim_maps(x: torch.Tensor, y: torch.Tensor, window: int, sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(SSIM map, contrast-structure map), each `[B, C, h, w]` ('valid' region)."""
    if min(x.shape[-2:]) < window:
        raise ValueError(f"ssim: images of {list(x.shape[-2:])} px are smaller than the {window} px window")
    taps = gaussian_window(window, sigma, x.dtype, x.device)
    c1, c2 = SSIM_K1**2, SSIM_K2**2  # data range 1
    mu_x, mu_y = _blur_valid(x, taps), _blur_valid(y, taps)
    # (co)variances from images centred per channel: the same values, less float32 cancellation
    xc, yc = x - x.mean(dim=(2, 3), keepdim=True), y - y.mean(dim=(2, 3), keepdim=True)
    mxc, myc = _blur_valid(xc, taps), _blur_valid(yc, taps)
    sxx = _blur_valid(xc * xc, taps) - mxc**2
    syy = _blur_valid(yc * yc, taps) - myc**2
    sxy = _blur_valid(xc * yc, taps) - mxc * myc
    cs = (2.0 * sxy + c2) / (sxx + syy + c2)
    lum = (2.0 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
    return lum * cs, cs


def ssim(x: torch.Tensor, y: torch.Tensor, window: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> torch.Tensor:
    """SSIM per image `[B]`, images in [0, 1]; 1 for identical images."""
    _check_pair(x, y, "ssim")
    s, _ = _ssim_maps(x.float(), y.float(), window, sigma)
    return s.flatten(1).mean(1)


def ms_ssim_scales(side: int, window: int = SSIM_WINDOW, max_scales: int = len(MS_SSIM_WEIGHTS)) -> int:
    """Scales MS-SSIM uses for `side`-pixel images: halvings that keep side >= window."""
    n = 0
    while n < max_scales and (side >> n) >= window:
        n += 1
    return n


def ms_ssim(
    x: torch.Tensor,
    y: torch.Tensor,
    weights: tuple[float, ...] = MS_SSIM_WEIGHTS[:3],
    window: int = SSIM_WINDOW,
    sigma: float = SSIM_SIGMA,
) -> torch.Tensor:
    """MS-SSIM per image `[B]`, images in [0, 1]; 1 for identical images.

    Uses `ms_ssim_scales(min(H, W))` of `weights` (finest first), renormalised to sum 1.
    Negative contrast-structure values are clamped to a small positive floor before the
    fractional power (otherwise NaN), as common differentiable implementations do.
    """
    _check_pair(x, y, "ms_ssim")
    n = ms_ssim_scales(min(x.shape[-2:]), window, len(weights))
    if n == 0:
        raise ValueError(f"ms_ssim: images of {list(x.shape[-2:])} px are smaller than the {window} px window")
    w = torch.tensor(weights[:n], dtype=torch.float32, device=x.device)
    w = w / w.sum()
    x, y = x.float(), y.float()
    values = []
    for i in range(n):
        s, cs = _ssim_maps(x, y, window, sigma)
        v = (s if i == n - 1 else cs).flatten(2).mean(2).mean(1)  # [B]
        values.append(v.clamp_min(1e-6))
        if i < n - 1:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    stacked = torch.stack(values, dim=1)  # [B, n]
    return torch.exp((torch.log(stacked) * w).sum(1))


def psnr_from_mse(mse: float) -> float:
    """The PSNR (dB, peak 1) of a mean squared error on [0, 1] images."""
    return 10.0 * math.log10(1.0 / mse)


def reconstruction_metrics(x_pm1: torch.Tensor, y_pm1: torch.Tensor) -> dict[str, torch.Tensor]:
    """L2 on [-1, 1], PSNR and SSIM on [0, 1] (values clamped to the range), per image `[B]`."""
    xu, yu = to_unit(x_pm1).clamp(0, 1), to_unit(y_pm1).clamp(0, 1)
    return {"l2": l2_pm1(x_pm1, y_pm1), "psnr": psnr(xu, yu), "ssim": ssim(xu, yu)}
