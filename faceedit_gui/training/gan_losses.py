"""StyleGAN2 adversarial losses, lazy regularisers and style-mixing latents.

Paper: Karras et al., "Analyzing and Improving the Image Quality of StyleGAN" (2020):
non-saturating logistic loss; R1 on reals (Mescheder et al. 2018) every `r1_every`
steps, scaled by `r1_every` ("lazy regularisation"); path-length regularisation every
`pl_every` steps; style mixing with probability 0.9 per image.

Every loss returns `(total, {"d/...": value})` (CONVENTIONS §13): `total` carries the
graph, the dict holds detached device scalars, pulled to the host only when logged. A
regulariser whose weight is 0 is skipped by the caller (these functions are not called).
Loss arithmetic runs in float32 whatever the networks' autocast precision.

R1 weight. R1 adds `gamma / 2 * E[|grad_x D(x)|^2]` on reals. StyleGAN2-ADA's heuristic
is `gamma = 0.0002 * R^2 / batch` (0.05 at 128 px, batch 64); its 256 px configs use ~0.2-1,
FFHQ-1024 uses 10. The bundled 128 px model uses 0.1: twice the heuristic, because each
training chunk sees only a few thousand faces and the discriminator overfits faster;
raise it (toward 1) if training oscillates or diverges, lower it if samples stay blurry.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

Losses = tuple[torch.Tensor, dict[str, torch.Tensor]]


def style_mixing_w_plus(
    mapping: Callable[[torch.Tensor], torch.Tensor],
    batch: int,
    style_dim: int,
    n_latent: int,
    mixing_prob: float,
    device: torch.device | str,
) -> torch.Tensor:
    """Random W+ `[B, n_latent, style_dim]`: per image, with probability `mixing_prob`, the
    styles switch from a first to a second mapped latent at a random layer in
    `[1, n_latent)`; otherwise one latent throughout. No host synchronisation."""
    z = torch.randn(2 * batch, style_dim, device=device)
    w = mapping(z).view(2, batch, style_dim)  # [2, B, D]
    cutoff = torch.randint(1, n_latent, (batch,), device=device)
    mix = torch.rand(batch, device=device) < mixing_prob
    cutoff = torch.where(mix, cutoff, torch.full_like(cutoff, n_latent))
    first = torch.arange(n_latent, device=device)[None, :] < cutoff[:, None]  # [B, n_latent]
    return torch.where(first[:, :, None], w[0][:, None, :], w[1][:, None, :])


def d_logistic_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> Losses:
    """`softplus(D(fake)) + softplus(-D(real))`, means over the batch. Logits `[B, 1]`."""
    real = real_logits.float()
    fake = fake_logits.float()
    total = F.softplus(fake).mean() + F.softplus(-real).mean()
    return total, {
        "d/logistic": total.detach(),
        "d/real_logit": real.mean().detach(),
        "d/fake_logit": fake.mean().detach(),
    }


def g_nonsaturating_loss(fake_logits: torch.Tensor) -> Losses:
    """`softplus(-D(G(z)))`, mean over the batch."""
    total = F.softplus(-fake_logits.float()).mean()
    return total, {"g/nonsat": total.detach()}


def r1_loss(
    d: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    gamma: float,
    every: int,
) -> Losses:
    """Lazy R1: `gamma / 2 * every * mean_b |grad_x d(x_b)|^2`.

    `d` is the full discriminator path (augmentation included); the gradient is taken with
    respect to the un-augmented reals `real` `[B, 3, H, W]`.
    """
    if real.ndim != 4:
        raise ValueError(f"real: expected [B, 3, H, W], got shape {list(real.shape)}")
    real = real.detach().requires_grad_(True)
    logits = d(real)
    (grad,) = torch.autograd.grad(logits.float().sum(), real, create_graph=True)
    penalty = grad.float().square().sum(dim=(1, 2, 3))  # [B]
    # `0 * logits` keeps D's last bias in the graph, so every parameter gets a gradient.
    total = penalty.mean() * (gamma / 2 * every) + 0.0 * logits.float().mean()
    return total, {"d/r1": penalty.mean().detach()}


def path_length_loss(
    synthesis: Callable[[torch.Tensor], torch.Tensor],
    w_plus: torch.Tensor,
    pl_mean: torch.Tensor,
    weight: float,
    every: int,
    decay: float = 0.01,
) -> Losses:
    """Lazy path-length regulariser on W+ `[B, n_latent, style_dim]` (part of a graph).

    The Jacobian-vector norm `|J_w^T y|` (y: unit-variance image noise / sqrt(H W)) is pulled
    toward its running mean `pl_mean` (a scalar device tensor, updated by `decay`). The new
    mean is returned as `"g/pl_mean"`; the caller keeps it for the next call.
    """
    if w_plus.ndim != 3:
        raise ValueError(f"w_plus: expected [B, n_latent, style_dim], got shape {list(w_plus.shape)}")
    image = synthesis(w_plus)
    noise = torch.randn_like(image, dtype=torch.float32) / math.sqrt(image.shape[2] * image.shape[3])
    (grad,) = torch.autograd.grad((image.float() * noise).sum(), w_plus, create_graph=True)
    lengths = grad.float().square().sum(2).mean(1).sqrt()  # [B]
    new_mean = pl_mean.detach().lerp(lengths.mean().detach(), decay)
    penalty = (lengths - new_mean).square().mean()
    total = penalty * (weight * every) + 0.0 * image.float().mean()
    return total, {"g/pl": penalty.detach(), "g/pl_mean": new_mean}
