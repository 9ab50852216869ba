"""Measure a template framing: the mean 68-point face shape of a training set, placed where
that set's own crops hold it.

Recipe (written down because the bundled model depends on it):
1. Generalised Procrustes analysis on `FIT_POINTS` (brows, nose, eyes, mouth): every shape
   is centred and scaled to unit RMS radius, then repeatedly fitted by a similarity onto the
   running mean until the mean stops moving; the jaw points ride along with their shape.
2. Placement: the Procrustes mean is fitted (least-squares similarity on `FIT_POINTS`) onto
   the plain average of the landmarks in normalised crop coordinates. For UTKFace, whose
   crops are already roughly aligned, this puts the face where it sits in UTKFace's tight
   200x200 crops: the same scale, centre and (level) tilt, without the per-image noise.

Convention: input landmarks in crop pixel coordinates (pixel centres at integers); the
template in normalised crop coordinates (crop corners at 0 and 1), see `framing.py`.
"""

from __future__ import annotations

import numpy as np

from faceedit_gui.faces.align import apply_affine, similarity_lstsq
from faceedit_gui.faces.framing import FIT_POINTS, Framing


def _normalise(shape: np.ndarray, idx: list[int]) -> np.ndarray:
    centred = shape - shape[idx].mean(axis=0)
    return centred / np.sqrt((centred[idx] ** 2).sum(axis=1).mean())


def procrustes_mean(shapes: np.ndarray, fit_points: tuple[int, ...] = FIT_POINTS, iterations: int = 20, tol: float = 1e-7) -> np.ndarray:
    """Generalised Procrustes mean of `[N, 68, 2]` shapes: float64 `[68, 2]`, centred, unit RMS radius."""
    shapes = np.asarray(shapes, dtype=np.float64)
    if shapes.ndim != 3 or shapes.shape[1:] != (68, 2) or len(shapes) == 0:
        raise ValueError(f"expected [N, 68, 2] shapes, got {shapes.shape}")
    idx = list(fit_points)
    shapes = np.stack([_normalise(s, idx) for s in shapes])
    mean = shapes[0]
    for _ in range(iterations):
        fitted = np.stack([apply_affine(similarity_lstsq(s[idx], mean[idx]), s) for s in shapes])
        new = _normalise(fitted.mean(axis=0), idx)
        # keep the reference orientation of the first mean, so the loop cannot drift
        new = apply_affine(similarity_lstsq(new[idx], mean[idx]), new)
        new = _normalise(new, idx)
        moved = np.abs(new - mean).max()
        mean = new
        if moved < tol:
            break
    return mean


def measure_template(
    landmarks: np.ndarray,
    crop_size: tuple[int, int],
    size: int,
    name: str,
    note: str = "",
    fit_points: tuple[int, ...] = FIT_POINTS,
) -> Framing:
    """A 'template' Framing from landmarks `[N, 68, 2]` measured on crops of `crop_size` (w, h)."""
    lm = np.asarray(landmarks, dtype=np.float64)
    lm = lm[np.isfinite(lm).all(axis=(1, 2))]
    if len(lm) < 10:
        raise ValueError(f"too few landmark sets to measure a template ({len(lm)})")
    w, h = crop_size
    normalised = (lm + 0.5) / np.array([w, h], dtype=np.float64)
    average = normalised.mean(axis=0)
    mean = procrustes_mean(lm, fit_points)
    idx = list(fit_points)
    template = apply_affine(similarity_lstsq(mean[idx], average[idx]), mean)
    return Framing(kind="template", size=size, template=tuple(map(tuple, template)), fit_points=fit_points, name=name, note=note)


def template_residual(landmarks: np.ndarray, framing: Framing) -> np.ndarray:
    """Per-shape RMS distance (normalised crop units) between each similarity-fitted shape and the template."""
    t = framing.template_array()
    idx = list(framing.fit_points)
    out = []
    for s in np.asarray(landmarks, dtype=np.float64):
        fitted = apply_affine(similarity_lstsq(s[idx], t[idx]), s)
        out.append(np.sqrt(((fitted[idx] - t[idx]) ** 2).sum(axis=1).mean()))
    return np.array(out)
