"""Image conventions, stated once.

Inside the networks: float tensors in [-1, 1], NCHW, RGB.
Outside (files, engine results, GUI): numpy uint8 arrays HWC RGB.
"""

from __future__ import annotations

import numpy as np
import torch


def uint8_to_tensor(image: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 `[H, W, 3]` or `[B, H, W, 3]` RGB -> float32 `[B, 3, H, W]` in [-1, 1]."""
    if image.dtype != np.uint8:
        raise TypeError(f"expected a uint8 image, got {image.dtype}")
    if image.ndim not in (3, 4) or image.shape[-1] != 3:
        raise ValueError(f"expected [H, W, 3] or [B, H, W, 3] RGB, got shape {tuple(image.shape)}")
    if image.ndim == 3:
        image = image[None]
    image = np.ascontiguousarray(image)
    if not image.flags.writeable:  # torch cannot wrap read-only memory
        image = image.copy()
    t = torch.from_numpy(image).to(device)
    return t.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


def tensor_to_uint8(x: torch.Tensor) -> np.ndarray:
    """float `[B, 3, H, W]` or `[3, H, W]` in [-1, 1] -> uint8 `[B, H, W, 3]` or `[H, W, 3]` RGB.

    Values outside [-1, 1] are clipped; rounding is to nearest.
    """
    single = x.ndim == 3
    if single:
        x = x[None]
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"expected [B, 3, H, W] or [3, H, W], got shape {tuple(x.shape)}")
    y = ((x.detach().float().clamp(-1, 1) + 1.0) * 127.5).round_().to(torch.uint8)
    out = y.permute(0, 2, 3, 1).cpu().numpy()
    return out[0] if single else out
