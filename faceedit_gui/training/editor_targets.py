"""Training targets of the editor: flip some of the source's predicted attributes.

DESIGN §1.5: the frozen classifier predicts the source image's attributes
(`p = sigmoid(slider logits)`, table in `editor_losses.py`); the source label is
`src = 1[p > 0.5]`; each sample flips between 1 and `max_flips` attributes chosen
uniformly at random (`target = 1 - src` there, `target = src` elsewhere), and the sliders
are `s_k = target_k - src_k`: +1 toward the attribute, -1 away from it, 0 untouched.
L_cls then asks the edit to carry every target label, flipped or not.

Random numbers come from torch's global generator on the labels' device (the training
loop seeds it per step), so a resumed run draws the same targets.
"""

from __future__ import annotations

import torch


def sample_targets(source_logits: torch.Tensor, max_flips: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Source slider logits `[B, K]` -> (sliders `s` `[B, K]` in {-1, 0, 1}, target labels `[B, K]` in {0, 1}).

    Every row flips at least one and at most `min(max_flips, K)` attributes.
    """
    if source_logits.ndim != 2 or source_logits.shape[1] < 1:
        raise ValueError(f"source_logits: got shape {list(source_logits.shape)}, expected [B, K] with K >= 1")
    b, k = source_logits.shape
    top = max(1, min(int(max_flips), k))
    dev = source_logits.device
    source = (source_logits.detach().float() > 0).float()  # p > 0.5
    n_flip = torch.randint(1, top + 1, (b, 1), device=dev)  # [B, 1]
    rank = torch.rand(b, k, device=dev).argsort(1).argsort(1)  # a random permutation's ranks per row
    flip = (rank < n_flip).float()  # exactly n_flip ones per row
    target = source + flip * (1 - 2 * source)
    return target - source, target


def flip_sliders(source_logits: torch.Tensor, k: int) -> torch.Tensor:
    """Sliders that flip attribute `k` alone, toward the label the source lacks: `[B, K]`."""
    s = torch.zeros_like(source_logits, dtype=torch.float32)
    s[:, k] = torch.where(source_logits[:, k] > 0, -1.0, 1.0)
    return s
