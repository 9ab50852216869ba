"""DiffAugment: differentiable augmentation of real AND fake images before the discriminator.

Paper: Zhao et al., "Differentiable Augmentation for Data-Efficient GAN Training"
(NeurIPS 2020). The three policies of the paper's StyleGAN2 experiments, with its ranges:
- `color`: brightness `+U(-0.5, 0.5)`, saturation `x(U(0, 2))` about the per-pixel
  channel mean, contrast `x(U(0.5, 1.5))` about the per-image mean;
- `translation`: an integer shift of up to 1/8 of the side along each axis, zero fill;
- `cutout`: one zeroed square of half the side, at a random centre.
Every draw is per image, on the images' device; every op is differentiable in the pixels
(the generator learns through it; R1 differentiates through it).

Convention: float `[B, C, H, W]` in [-1, 1] in; same shape and dtype out (translation
returns a channels-last view, which is what the training loop uses anyway).
"""

from __future__ import annotations

from typing import Callable

import torch

DEFAULT_POLICY = "color,translation,cutout"


def _rand(x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
    return torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype, generator=g)


def color(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    x = x + (_rand(x, generator) - 0.5)  # brightness
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_rand(x, generator) * 2) + mean  # saturation
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_rand(x, generator) + 0.5) + mean  # contrast


def translation(x: torch.Tensor, ratio: float = 0.125, generator: torch.Generator | None = None) -> torch.Tensor:
    b, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-sy, sy + 1, (b, 1, 1), device=x.device, generator=generator)
    tx = torch.randint(-sx, sx + 1, (b, 1, 1), device=x.device, generator=generator)
    # Output pixel (i, j) reads input (i + ty, j + tx); outside the image it reads the
    # zero border of the padded copy (index 0 or H + 1).
    iy = (torch.arange(h, device=x.device)[None, :, None] + ty + 1).clamp_(0, h + 1)  # [B, H, 1]
    ix = (torch.arange(w, device=x.device)[None, None, :] + tx + 1).clamp_(0, w + 1)  # [B, 1, W]
    padded = torch.nn.functional.pad(x, [1, 1, 1, 1]).permute(0, 2, 3, 1)  # [B, H+2, W+2, C]
    bi = torch.arange(b, device=x.device)[:, None, None]
    return padded[bi, iy, ix].permute(0, 3, 1, 2)  # [B, C, H, W]


def cutout(x: torch.Tensor, ratio: float = 0.5, generator: torch.Generator | None = None) -> torch.Tensor:
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    # Centre anywhere in the image (one more position when the side is even, as in the paper).
    cy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), device=x.device, generator=generator)
    cx = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), device=x.device, generator=generator)
    y = torch.arange(h, device=x.device)[None, :, None]
    xx = torch.arange(w, device=x.device)[None, None, :]
    inside = (y >= cy - ch // 2) & (y < cy - ch // 2 + ch) & (xx >= cx - cw // 2) & (xx < cx - cw // 2 + cw)
    keep = (~inside).to(x.dtype)[:, None]  # [B, 1, H, W]
    return x * keep


POLICIES: dict[str, Callable[..., torch.Tensor]] = {
    "color": color,
    "translation": translation,
    "cutout": cutout,
}


def parse_policy(policy: str) -> tuple[str, ...]:
    """"color,translation" -> ("color", "translation"); "" or "none" -> ()."""
    names = tuple(p.strip() for p in policy.split(",") if p.strip() and p.strip() != "none")
    unknown = [p for p in names if p not in POLICIES]
    if unknown:
        raise ValueError(f"unknown DiffAugment policy {unknown}; known: {sorted(POLICIES)}")
    return names


def diff_augment(x: torch.Tensor, policy: str = DEFAULT_POLICY, generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply the comma-separated `policy` to `x` `[B, C, H, W]`; an empty policy is identity."""
    if x.ndim != 4:
        raise ValueError(f"diff_augment: expected [B, C, H, W], got shape {list(x.shape)}")
    for name in parse_policy(policy):
        x = POLICIES[name](x, generator=generator)
    return x
