"""InterFaceGAN baseline: linear attribute boundaries in W.

Paper: Shen et al., "Interpreting the Latent Space of GANs for Semantic Face Editing"
(CVPR 2020). Recipe as here: sample z, map to w, generate, label each sample with the
attribute classifier, keep the most confident `keep` fraction at each end (the paper keeps
the top and bottom 10k of 500k), fit a linear classifier in W per attribute, and use its
unit normal `n` as the editing direction (`w + alpha n`). The paper fits a linear SVM; here
an L2-regularised logistic regression on standardised W (full batch, L-BFGS, in torch):
both give a separating hyperplane whose normal is the direction, and logistic regression
needs no solver beyond torch. The normal is mapped back to raw W coordinates
(`n = beta / std`, normalised) so it applies to un-standardised w.

Conditional manipulation (paper §2.2): `n_1 | n_2..` = the component of `n_1` orthogonal to
the span of the condition normals, renormalised (`condition_direction`), so editing one
attribute leaves the others' linear scores unchanged.

Applied to W+ layers `layers` (default all: the boundary lives in W, where every layer
shares w), with strengths calibrated by `directions.calibrate_editor`.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch

from faceedit_gui.editing.directions import (
    DEFAULT_TARGET,
    Direction,
    LinearEditor,
    calibrate_editor,
    classifier_scorer,
    layer_range,
    sample_w,
    score_w_plus,
)


def fit_linear_boundary(
    x: torch.Tensor,
    y: torch.Tensor,
    l2: float = 1e-3,
    steps: int = 100,
) -> tuple[torch.Tensor, float, float]:
    """Logistic regression `p(y=1|x) = sigmoid(x . beta + b)` on `x` `[N, D]`, `y` `[N]` in {0, 1}.

    Returns (unit normal `[D]` in x's own coordinates, bias in standardised units, training
    accuracy). Features are standardised inside; the normal is mapped back.
    """
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ValueError(f"x [N, D] and y [N] expected, got {list(x.shape)} and {list(y.shape)}")
    y = y.float()
    if y.min() == y.max():
        raise ValueError("fit_linear_boundary: all labels are equal; nothing to separate")
    x = x.detach().double()
    mean, std = x.mean(0), x.std(0) + 1e-8
    xs = (x - mean) / std
    beta = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    bias = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([beta, bias], lr=1, max_iter=steps, line_search_fn="strong_wolfe")
    yd = y.double()

    def closure():
        opt.zero_grad()
        logits = xs @ beta + bias
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, yd) + l2 * (beta**2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    with torch.no_grad():
        acc = float((((xs @ beta + bias) > 0).double() == yd).double().mean())
        normal = beta / std  # d(logit)/dx in raw coordinates
        normal = normal / normal.norm().clamp_min(1e-12)
    return normal.float(), float(bias.detach()), acc


def condition_direction(primary: torch.Tensor, conditions: Sequence[torch.Tensor]) -> torch.Tensor:
    """`primary` `[D]` with the span of `conditions` projected out, unit norm."""
    if not conditions:
        return primary / primary.norm()
    basis = torch.stack([c.double() for c in conditions], 1)  # [D, M]
    q, _ = torch.linalg.qr(basis)  # orthonormal basis of the span
    p = primary.double()
    p = p - q @ (q.T @ p)
    n = p.norm()
    if n < 1e-6:
        raise ValueError("the primary direction lies in the span of the conditions")
    return (p / n).to(primary.dtype)


@torch.no_grad()
def fit_interfacegan(
    generator,
    classifier,
    attributes: Sequence[str],
    n_samples: int = 2000,
    keep: float = 0.3,
    seed: int = 0,
    layers: str | tuple[int, int] | None = "all",
    condition: Mapping[str, Sequence[str]] | None = None,
    calibrate: bool = True,
    calibration_samples: int = 32,
    target: float = DEFAULT_TARGET,
    batch: int = 32,
) -> LinearEditor:
    """Per attribute a unit boundary normal in W, calibrated; see the module docstring.

    `keep`: the fraction of samples used, half from each end of the classifier's logit
    ranking (the confident ones); `condition`: attribute -> attributes to hold fixed.
    """
    names = list(attributes)
    w = sample_w(generator, n_samples, seed)
    logits = score_w_plus(generator, classifier_scorer(classifier, names), generator.broadcast(w), batch)  # [N, K]
    normals, info = {}, {}
    for k, name in enumerate(names):
        order = torch.argsort(logits[:, k])
        m = max(2, int(len(order) * keep / 2))
        idx = torch.cat([order[:m], order[-m:]])
        y = torch.cat([torch.zeros(m), torch.ones(m)])
        normal, bias, acc = fit_linear_boundary(w[idx].cpu(), y)
        normals[name] = normal
        info[name] = {"train_accuracy": round(acc, 4), "samples": int(2 * m), "of": n_samples, "keep": keep}
    span = layer_range(layers, generator.n_latent)
    dirs = []
    for name in names:
        cond = list((condition or {}).get(name, []))
        unit = condition_direction(normals[name], [normals[c] for c in cond]) if cond else normals[name]
        dirs.append(Direction(name, unit, span, 1.0, {**info[name], "conditioned_on": cond}))
    editor = LinearEditor("interfacegan", dirs, generator.n_latent,
                          {"seed": seed, "n_samples": n_samples, "fit": "L2 logistic regression (L-BFGS) on W"})  # fmt: skip
    if calibrate:
        dev = next(generator.parameters()).device
        editor = calibrate_editor(editor, generator, classifier, sample_w(generator, calibration_samples, seed + 1).to(dev),
                                  target, batch)  # fmt: skip
    return editor
