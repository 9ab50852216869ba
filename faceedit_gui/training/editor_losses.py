"""Losses of the two-branch editor (Yin et al., "Expanding the Latent Space of StyleGAN for
Real Face Editing", 2022, eq. 3 and 8-12; read as in `../shared/DESIGN.md` §1.5).

    L        = L_edit + L_refine
    L_edit   = 0.01 L2(x_edit, x) + 0.8 LPIPS(x_edit, x) + 1 L_id(x, x_edit)
             + 10 L_cls(x_edit, y) + 1 L_spa
    L_refine = 0.01 L2(x_refine, x) + 10 L_cls(x_refine, y) + 1 L_align
    L_align  = || (G(w_p + d_sty) - G(w_p)) - (x_refine - x) ||^2

Terms, as computed here:
    L2       pixel MSE on [-1, 1] (mean over elements: the paper's code).
    LPIPS    `metrics/perceptual.py`: LPIPS-VGG with the official files, else the project's
             named substitute; mean over the batch. The name goes into every log/report.
    L_id     1 - cos(ID(x), ID(x_edit)) with the project's dlib-distilled identity network
             (`networks/identity.py`); ID(x) is a constant (no gradient). dlib never enters.
    L_cls    mean binary cross-entropy of the frozen attribute classifier's slider logits
             (`slider_logits`) on the edited image against the target labels `y` `[B, K]`
             in {0, 1}: flipped attributes carry their new label, the others the source's
             predicted label (so the edit must also leave them alone).
    L_spa    the sparsity of the style directions, normalised (see below).
    L_align  mean squared error (mean over elements, like L2). The style branch's change
             `G(w_p + d_sty) - G(w_p)` is the *target* of the refine branch and is detached:
             L_align trains the refine path (A, H, d_cnt and d_sty through the fused pass),
             and it must not be able to shrink the style edit itself to make alignment easy.

L_spa normalisation (a decision; the paper writes `Σ_k ||d_sty[k]||_1` with weight 1):
a plain sum over `[K, n_w, 512]` (30,720 entries at K = 5, 128 px) would be ~10^4 times any
other term and its gradient (1 per entry) would swamp L_cls' (~10^-3 per entry), driving
every direction to zero. We use the sum over attributes of each direction's *mean*
absolute entry, `Σ_k mean(|d_sty[k]|)` = `Σ_k ||d_sty[k]||_1 / (n_w · 512)`
(`sparsity_reduction="direction_mean"`, the default): still an L1 prior that zeroes the
style vectors an attribute does not need (the property the paper relies on), with a value
of the order of the other terms, independent of the resolution's n_w, and a sum over K so
that each direction keeps the same pull whatever the number of sliders. "sum" (the paper's
literal form) and "mean" (over all K·n_w·512 entries) remain selectable.

Attribute table: a slider name is the classifier's user-facing attribute of the same
name (`networks/classifier.USER_ATTRIBUTES`, which also gives the sign): positive slider
= toward the named attribute.

    slider   classifier logit   sign   s = +1 means
    age      age_old            +1     older (UTKFace age >= 40)
    smile    Smiling            +1     smiling
    glasses  Eyeglasses         +1     wearing glasses
    gender   gender_male        +1     male
    beard    No_Beard           -1     bearded (beard = 1 - p(No_Beard))

Any other name in USER_ATTRIBUTES (goatee, mustache, gray_hair, bald, mouth_open, ...) can
be a slider too. A weight of 0 skips its term and its computation; a term whose network is
absent (identity None) is skipped. The dict holds detached device tensors with the stable
names `edit/l2`, `edit/lpips`, `edit/id`, `edit/cls`, `edit/spa`, `refine/l2`, `refine/cls`,
`refine/align`, and `total`; nothing syncs with the host here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from faceedit_gui.networks.classifier import USER_ATTRIBUTES

DEFAULT_SLIDERS: tuple[str, ...] = ("age", "smile", "glasses", "gender", "beard")
SPARSITY_REDUCTIONS = ("direction_mean", "sum", "mean")


@dataclass(frozen=True)
class EditorLossWeights:
    edit_l2: float = 0.01  # pixel MSE of x_edit vs x
    edit_lpips: float = 0.8  # perceptual distance of x_edit vs x (LPIPS or the named substitute)
    edit_id: float = 1.0  # 1 - cos of identity embeddings of x and x_edit
    edit_cls: float = 10.0  # BCE of the classifier on x_edit against the target labels
    edit_spa: float = 1.0  # L1 sparsity of the style directions (normalised: sparsity_reduction)
    refine_l2: float = 0.01  # pixel MSE of x_refine vs x
    refine_cls: float = 10.0  # BCE of the classifier on x_refine against the target labels
    refine_align: float = 1.0  # MSE of (x_refine - x) against the style change G(w_p + d) - G(w_p)
    sparsity_reduction: str = "direction_mean"  # "direction_mean" | "sum" (paper literal) | "mean"

    def __post_init__(self) -> None:
        if self.sparsity_reduction not in SPARSITY_REDUCTIONS:
            raise ValueError(f"sparsity_reduction must be one of {SPARSITY_REDUCTIONS}, got {self.sparsity_reduction!r}")

    @property
    def refine_active(self) -> bool:
        """Whether any refine term is on (off: the fused pass need not run)."""
        return self.refine_l2 > 0 or self.refine_cls > 0 or self.refine_align > 0


def check_slider_names(names: tuple[str, ...], classifier: nn.Module | None = None) -> None:
    """Every slider must be a user-facing classifier attribute (and the classifier must have it)."""
    unknown = [n for n in names if n not in USER_ATTRIBUTES]
    if unknown:
        raise ValueError(f"slider(s) {unknown} have no classifier attribute (known: {', '.join(USER_ATTRIBUTES)})")
    if classifier is not None:
        have = set(classifier.config.attributes)
        missing = [n for n in names if USER_ATTRIBUTES[n][0] not in have]
        if missing:
            raise ValueError(f"the classifier has no logit for slider(s) {missing} (it has {sorted(have)})")


def slider_logits(classifier: nn.Module, x: torch.Tensor, names: tuple[str, ...]) -> torch.Tensor:
    """Classifier logits for the sliders `names`, sign applied (table above): `[B, K]`, float32."""
    with torch.autocast(device_type=x.device.type, enabled=False):
        return classifier.user_logits(classifier(x.float()), names).float()


def sparsity(d_sty: torch.Tensor, reduction: str = "direction_mean") -> torch.Tensor:
    """L_spa of the style directions `[K, n_w, D]` (see the module docstring)."""
    a = d_sty.float().abs()
    if reduction == "direction_mean":
        return a.flatten(1).mean(1).sum()
    if reduction == "sum":
        return a.sum()
    if reduction == "mean":
        return a.mean()
    raise ValueError(f"unknown sparsity reduction {reduction!r}")


def editor_loss(
    x: torch.Tensor,
    x_edit: torch.Tensor,
    labels: torch.Tensor,
    d_sty: torch.Tensor,
    weights: EditorLossWeights,
    slider_names: tuple[str, ...],
    classifier: nn.Module,
    perceptual: nn.Module | None = None,
    identity: nn.Module | None = None,
    x_refine: torch.Tensor | None = None,
    x_rec: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """`(total, terms)`.

    x, x_edit, x_refine, x_rec: `[B, 3, R, R]` in [-1, 1] (x the real image, x_rec = G(w_p));
    labels: float `[B, K]` target labels in {0, 1}; d_sty: the editor's `[K, n_w, D]`.
    `x_refine` None skips every refine term (style-branch-only training); `x_rec` is needed
    for L_align.
    """
    if x.shape != x_edit.shape:
        raise ValueError(f"editor_loss: images {list(x.shape)} and edits {list(x_edit.shape)} differ")
    if labels.shape != (x.shape[0], len(slider_names)):
        raise ValueError(f"editor_loss: labels {list(labels.shape)}, expected [{x.shape[0]}, {len(slider_names)}]")
    x, x_edit, labels = x.float(), x_edit.float(), labels.float()
    w = weights
    terms: dict[str, torch.Tensor] = {}
    total = x_edit.new_zeros(())

    def add(name: str, weight: float, value: torch.Tensor) -> None:
        nonlocal total
        terms[name] = value
        total = total + weight * value

    if w.edit_l2 > 0:
        add("edit/l2", w.edit_l2, F.mse_loss(x_edit, x))
    if w.edit_lpips > 0 and perceptual is not None:
        add("edit/lpips", w.edit_lpips, perceptual(x, x_edit).mean())
    if w.edit_id > 0 and identity is not None:
        with torch.no_grad():
            target = identity(x).float()
        add("edit/id", w.edit_id, (1.0 - F.cosine_similarity(identity(x_edit).float(), target, dim=1)).mean())
    if w.edit_cls > 0:
        add("edit/cls", w.edit_cls, F.binary_cross_entropy_with_logits(slider_logits(classifier, x_edit, slider_names), labels))
    if w.edit_spa > 0:
        add("edit/spa", w.edit_spa, sparsity(d_sty, w.sparsity_reduction))
    if x_refine is not None:
        x_refine = x_refine.float()
        if w.refine_l2 > 0:
            add("refine/l2", w.refine_l2, F.mse_loss(x_refine, x))
        if w.refine_cls > 0:
            logits = slider_logits(classifier, x_refine, slider_names)
            add("refine/cls", w.refine_cls, F.binary_cross_entropy_with_logits(logits, labels))
        if w.refine_align > 0:
            if x_rec is None:
                raise ValueError("editor_loss: L_align needs x_rec = G(w_p)")
            style_change = (x_edit - x_rec.float()).detach()
            add("refine/align", w.refine_align, F.mse_loss(x_refine - x, style_change))
    terms = {k: v.detach() for k, v in terms.items()}
    terms["total"] = total.detach()
    return total, terms
