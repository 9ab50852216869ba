"""Losses of the e4e-style encoder (Tov et al., "Designing an Encoder for StyleGAN Image
Manipulation", 2021), for `train_encoder.py`.

    total = l2 * ||x - G(E(x))||^2                 pixel MSE on [-1, 1]
          + perceptual * P(x, G(E(x)))              `metrics/perceptual.py`: LPIPS or the
                                                    named substitute (logged as enc/lpips)
          + identity * (1 - cos(ID(x), ID(G(E(x)))))  the project's identity network (dlib
                                                    distilled); never dlib itself
          + delta * sum_i mean_b ||delta_i||_2      e4e's delta regulariser: the L2 norm of
                                                    each style's offset from w0, summed over
                                                    styles, averaged over the batch
          + latent * ||w+_pred - w+_true||^2        only on generated images, whose latent
                                                    is known (mean over styles and channels)

A weight of 0 skips its term (no forward of its network); a term whose network is absent
(`perceptual` or `identity` None) is skipped too. The dict carries stable names
(`enc/l2`, `enc/lpips`, `enc/id`, `enc/delta`, `enc/latent`, `enc/total`) as detached
device tensors: nothing syncs with the host here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class EncoderLossWeights:
    l2: float = 1.0  # pixel MSE (e4e: l2_lambda 1.0)
    perceptual: float = 0.8  # LPIPS or its substitute (e4e: lpips_lambda 0.8)
    identity: float = 0.1  # 1 - cos of the identity network's embeddings (e4e: id_lambda 0.1 on faces)
    delta: float = 2e-4  # e4e's delta_norm_lambda (L2 norm of each style's delta)
    latent: float = 1.0  # W+ regression on generated images (not in e4e; see docs/TRAINING.md)


def encoder_loss(
    x: torch.Tensor,
    x_rec: torch.Tensor,
    deltas: torch.Tensor,
    weights: EncoderLossWeights,
    perceptual: nn.Module | None = None,
    identity: nn.Module | None = None,
    w_pred: torch.Tensor | None = None,
    w_true: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """`(total, terms)` for images `x`, reconstructions `x_rec` (`[B, 3, R, R]`, [-1, 1]),
    the encoder's `deltas` `[B, n_w - 1, D]`, and optionally predicted/true W+ of the
    generated part of the batch (`[b_syn, n_w, D]`)."""
    if x.shape != x_rec.shape:
        raise ValueError(f"encoder_loss: images {list(x.shape)} and reconstructions {list(x_rec.shape)} differ")
    x, x_rec = x.float(), x_rec.float()
    terms: dict[str, torch.Tensor] = {}
    total = x_rec.new_zeros(())
    if weights.l2 > 0:
        terms["enc/l2"] = F.mse_loss(x_rec, x)
        total = total + weights.l2 * terms["enc/l2"]
    if weights.perceptual > 0 and perceptual is not None:
        terms["enc/lpips"] = perceptual(x, x_rec).mean()
        total = total + weights.perceptual * terms["enc/lpips"]
    if weights.identity > 0 and identity is not None:
        with torch.no_grad():
            target = identity(x).float()
        terms["enc/id"] = (1.0 - F.cosine_similarity(identity(x_rec).float(), target, dim=1)).mean()
        total = total + weights.identity * terms["enc/id"]
    if weights.delta > 0:
        terms["enc/delta"] = deltas.float().norm(p=2, dim=2).mean(0).sum()
        total = total + weights.delta * terms["enc/delta"]
    if weights.latent > 0 and w_pred is not None and w_true is not None and w_pred.shape[0] > 0:
        terms["enc/latent"] = F.mse_loss(w_pred.float(), w_true.float())
        total = total + weights.latent * terms["enc/latent"]
    terms = {k: v.detach() for k, v in terms.items()}
    terms["enc/total"] = total.detach()
    return total, terms


def active_deltas(step: int, start: int | None, every: int, n_w: int) -> int | None:
    """e4e's progressive schedule: no delta before `start`, then one more every `every`
    steps, up to all `n_w - 1`. `start` None: all deltas from the first step (returns None)."""
    if start is None:
        return None
    if step < start:
        return 0
    return min(n_w - 1, 1 + (step - start) // max(every, 1))
