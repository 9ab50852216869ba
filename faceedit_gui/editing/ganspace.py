"""GANSpace baseline: principal components of W as editing directions.

Paper: Härkönen et al., "GANSpace: Discovering Interpretable GAN Controls" (NeurIPS 2020).
PCA of `N` mapped latents w (the paper: 10^6 samples in W for StyleGAN2), components `v_c`
ordered by explained variance; an edit is `w + alpha v_c` applied to a range of W+ layers.

Which component is which attribute: the paper names components by looking at them. Here
the choice is automatic and reproducible: on the same generated samples, the Pearson
correlation between each sample's coordinate along each of the first `n_components`
components and the attribute classifier's logit; each attribute takes the component with
the largest |r| (greedy, one component per attribute), its sign making `s > 0` raise the
attribute. The chosen index and r are recorded in the direction's `info`.
Only generated samples are used (DESIGN §7).
"""

from __future__ import annotations

from typing import Sequence

import torch

from faceedit_gui.editing.directions import (
    DEFAULT_TARGET,
    Direction,
    LinearEditor,
    assign_components,
    calibrate_editor,
    classifier_scorer,
    layer_range,
    sample_w,
    score_w_plus,
)


def pca(x: torch.Tensor, k: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PCA of rows `x` `[N, D]`: (mean `[D]`, components `[k, D]` orthonormal rows, variances `[k]` descending)."""
    x = x.detach().double()
    mean = x.mean(0)
    cov = (x - mean).T @ (x - mean) / max(1, len(x) - 1)  # [D, D]
    evals, evecs = torch.linalg.eigh(cov)  # ascending
    order = torch.argsort(evals, descending=True)
    evals, evecs = evals[order].clamp_min(0), evecs[:, order]
    k = k or x.shape[1]
    comps = evecs[:, :k].T.contiguous()  # [k, D]
    # a fixed sign per component (largest-magnitude entry positive) so fits are repeatable
    sign = torch.sign(comps.gather(1, comps.abs().argmax(1, keepdim=True))).squeeze(1)
    comps = comps * sign[:, None]
    return mean.float(), comps.float(), evals[:k].float()


@torch.no_grad()
def fit_ganspace(
    generator,
    classifier,
    attributes: Sequence[str],
    n_samples: int = 2000,
    n_components: int = 20,
    seed: int = 0,
    layers: str | tuple[int, int] | None = "all",
    calibrate: bool = True,
    calibration_samples: int = 32,
    target: float = DEFAULT_TARGET,
    batch: int = 32,
) -> LinearEditor:
    """Per attribute one of the first `n_components` PCA components of W; see the module docstring."""
    names = list(attributes)
    w = sample_w(generator, n_samples, seed)
    mean, comps, var = pca(w.cpu(), n_components)
    coords = (w.cpu() - mean) @ comps.T  # [N, C]
    logits = score_w_plus(generator, classifier_scorer(classifier, names), generator.broadcast(w), batch)
    chosen = assign_components(comps, coords, logits, names)
    span = layer_range(layers, generator.n_latent)
    dirs = []
    for name in names:
        c, r = chosen[name]
        unit = comps[c] * (1.0 if r >= 0 else -1.0)
        dirs.append(Direction(name, unit, span, 1.0, {"component": c, "pearson_r": round(r, 4),
                                                       "variance": round(float(var[c]), 6)}))  # fmt: skip
    total = float(var.sum())
    editor = LinearEditor("ganspace", dirs, generator.n_latent, {
        "seed": seed, "n_samples": n_samples, "n_components": n_components,
        "variance_share_within_components": [round(float(v) / total, 5) for v in var[: min(10, len(var))]],
        "assignment": "largest |Pearson r| between component coordinate and classifier logit",
    })  # fmt: skip
    if calibrate:
        dev = next(generator.parameters()).device
        editor = calibrate_editor(editor, generator, classifier, sample_w(generator, calibration_samples, seed + 1).to(dev),
                                  target, batch)  # fmt: skip
    return editor
