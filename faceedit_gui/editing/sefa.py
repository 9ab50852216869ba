"""SeFa baseline: closed-form factorisation of the style-modulation weights.

Paper: Shen & Zhou, "Closed-Form Factorization of Latent Semantics in GANs" (CVPR 2021).
Each modulated conv turns its style vector into channel scales with an affine map
`s = A_l w + b_l`; a direction `n` that changes those scales most solves
`max ||A n||^2, ||n|| = 1`, i.e. the leading eigenvectors of `A^T A`, where `A` stacks the
affine maps of the chosen layers. `A_l` is the modulation's effective weight, as the
forward pass uses it: `weight * scale` with EqualLinear's `scale = lr_mul / sqrt(style_dim)`
(rosinality's `closed_form_factorization.py` takes the raw weights; for one shared scale
the eigenvectors are the same). As in that script, the ToRGB modulations are left out by
default (`to_rgb=True` includes them).

Which W+ style index drives which modulation (the generator's layout, `stylegan2.py`):
index 0 `conv1`, 1 `to_rgb1`; for level i >= 1: 2i-1 `convs[2i-2]`, 2i `convs[2i-1]`,
2i+1 `to_rgbs[i-1]`. `layers=(start, end)` picks W+ indices; the factorisation reads the
modulations those indices drive and the edit is applied to the same W+ indices.

Which eigenvector is which attribute: as GANSpace (`ganspace.py`), by the largest |Pearson
r| between the samples' coordinate along the eigenvector and the classifier's logit.
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


def style_modulations(generator, to_rgb: bool = False) -> dict[int, list[torch.nn.Module]]:
    """W+ style index -> the modulation EqualLinear modules it drives."""
    out: dict[int, list[torch.nn.Module]] = {i: [] for i in range(generator.n_latent)}
    out[0].append(generator.conv1.conv.modulation)
    if to_rgb:
        out[1].append(generator.to_rgb1.conv.modulation)
    for level in range(1, generator.num_levels):
        out[2 * level - 1].append(generator.convs[2 * level - 2].conv.modulation)
        out[2 * level].append(generator.convs[2 * level - 1].conv.modulation)
        if to_rgb:
            out[2 * level + 1].append(generator.to_rgbs[level - 1].conv.modulation)
    return out


def modulation_matrix(generator, layers: tuple[int, int], to_rgb: bool = False) -> torch.Tensor:
    """`A` `[sum of input channels, style_dim]`: the effective modulation weights of the layers."""
    mods = style_modulations(generator, to_rgb)
    rows = [m.weight.detach().double() * m.scale for i in range(*layers) for m in mods[i]]
    if not rows:
        raise ValueError(f"no modulation drives W+ layers {layers} (to_rgb={to_rgb})")
    return torch.cat(rows, 0)


def sefa_components(generator, layers: tuple[int, int] | None = None, to_rgb: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(eigenvalues `[D]` descending, unit eigenvectors `[D, D]` as rows) of `A^T A`."""
    layers = layers or (0, generator.n_latent)
    a = modulation_matrix(generator, layers, to_rgb)
    evals, evecs = torch.linalg.eigh(a.T @ a)  # ascending, columns
    order = torch.argsort(evals, descending=True)
    return evals[order].float(), evecs[:, order].T.contiguous().float()


@torch.no_grad()
def fit_sefa(
    generator,
    classifier,
    attributes: Sequence[str],
    n_samples: int = 2000,
    n_components: int = 20,
    seed: int = 0,
    layers: str | tuple[int, int] | None = "all",
    to_rgb: bool = False,
    calibrate: bool = True,
    calibration_samples: int = 32,
    target: float = DEFAULT_TARGET,
    batch: int = 32,
) -> LinearEditor:
    """Per attribute one of the first `n_components` eigenvectors; see the module docstring."""
    names = list(attributes)
    span = layer_range(layers, generator.n_latent)
    evals, comps = sefa_components(generator, span, to_rgb)
    comps = comps[:n_components]
    w = sample_w(generator, n_samples, seed)
    coords = w.cpu() @ comps.T  # [N, C]
    logits = score_w_plus(generator, classifier_scorer(classifier, names), generator.broadcast(w), batch)
    chosen = assign_components(comps, coords, logits, names)
    dirs = []
    for name in names:
        c, r = chosen[name]
        unit = comps[c] * (1.0 if r >= 0 else -1.0)
        dirs.append(Direction(name, unit, span, 1.0, {"component": c, "pearson_r": round(r, 4),
                                                       "eigenvalue": round(float(evals[c]), 6)}))  # fmt: skip
    editor = LinearEditor("sefa", dirs, generator.n_latent, {
        "seed": seed, "n_samples": n_samples, "n_components": n_components, "to_rgb": to_rgb,
        "assignment": "largest |Pearson r| between eigenvector coordinate and classifier logit",
    })  # fmt: skip
    if calibrate:
        dev = next(generator.parameters()).device
        editor = calibrate_editor(editor, generator, classifier, sample_w(generator, calibration_samples, seed + 1).to(dev),
                                  target, batch)  # fmt: skip
    return editor
