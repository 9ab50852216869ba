"""An unsupervised pose (yaw) direction: the extra style-only slider (DESIGN §4, issue 6.3).

The editor's sparse style directions cannot turn a head (the paper's stated limitation),
so pose is a plain linear direction in W+, found without labels:

1. Candidates: the first `n_candidates` GANSpace components of W and the first
   `n_candidates` SeFa eigenvectors of the coarse layers' modulations.
2. Yaw is measured on generated faces from dlib's 68 landmarks (`landmark_yaw`): the nose
   tip's horizontal offset from the middle of the jaw line, in half jaw widths,
       yaw = (x_30 - (x_0 + x_16) / 2) / ((x_16 - x_0) / 2)
   0 for a frontal face, about +-0.5 at 30 degrees, the sign following the image x axis.
3. Each candidate moves `n_samples` generated faces by `+-step` (in units of the spread of
   W along it, on the coarse W+ layers, where pose lives in StyleGAN); the candidate whose
   edit changes the measured yaw most (mean over faces found in both edits) wins. Its sign
   makes `s > 0` turn the face towards +x.
4. Strength: linear in the measured effect, so that `s = +-1` changes yaw by `target`
   (default 0.3), clipped to [0.25, 4] steps.

`pose_tensor(direction, n_w)` is the `[n_w, style_dim]` tensor a bundle stores as its
`pose` direction (`save_bundle(..., extra_tensors={"pose": t})`).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from faceedit_gui.editing.directions import Direction, layer_range, sample_w

YawFn = Callable[[np.ndarray], np.ndarray]  # uint8 [N, R, R, 3] -> yaw [N] (NaN: no face)


def landmark_yaw(landmarks: np.ndarray) -> float:
    """The yaw proxy of one face's 68 landmarks `[68, 2]` (see the module docstring)."""
    lm = np.asarray(landmarks, np.float64)
    left, right, nose = lm[0, 0], lm[16, 0], lm[30, 0]
    half = (right - left) / 2
    if half <= 1e-6:
        return float("nan")
    return float((nose - (left + right) / 2) / half)


def dlib_yaw(images: np.ndarray, detect_side: int = 256) -> np.ndarray:
    """Yaw of the largest face in each crop (uint8 `[N, R, R, 3]`), NaN where dlib finds none."""
    import cv2

    from faceedit_gui.faces.detection import detect_faces

    out = np.full(len(images), np.nan)
    for i, im in enumerate(images):
        s = im.shape[0]
        big = cv2.resize(im, (detect_side, detect_side), interpolation=cv2.INTER_CUBIC) if s < detect_side else im
        faces = detect_faces(np.ascontiguousarray(big), detector="hog", pad=0.25, upsample=1)
        if faces:
            out[i] = landmark_yaw(faces[0].landmarks)
    return out


def pose_candidates(generator, n_candidates: int = 8, n_samples: int = 2000, seed: int = 0,
                    layers: tuple[int, int] | None = None) -> dict[str, torch.Tensor]:  # fmt: skip
    """name -> unit vector `[style_dim]`: GANSpace components and SeFa eigenvectors."""
    from faceedit_gui.editing.ganspace import pca
    from faceedit_gui.editing.sefa import sefa_components

    layers = layers or layer_range("coarse", generator.n_latent)
    _, comps, _ = pca(sample_w(generator, n_samples, seed).cpu(), n_candidates)
    _, eig = sefa_components(generator, layers)
    out = {f"ganspace_{i}": comps[i] for i in range(min(n_candidates, len(comps)))}
    out.update({f"sefa_{i}": eig[i] for i in range(min(n_candidates, len(eig)))})
    return out


@torch.no_grad()
def fit_pose(
    generator,
    candidates: dict[str, torch.Tensor] | None = None,
    yaw_fn: YawFn = dlib_yaw,
    n_samples: int = 8,
    step: float = 2.0,
    target: float = 0.3,
    seed: int = 1,
    layers: str | tuple[int, int] = "coarse",
) -> Direction:
    """The candidate that moves yaw most, as a `Direction` named "pose" (see the module docstring)."""
    from faceedit_gui.conventions import tensor_to_uint8

    span = layer_range(layers, generator.n_latent)
    candidates = candidates if candidates is not None else pose_candidates(generator, layers=span)
    w = sample_w(generator, max(n_samples, 2), seed)
    wp = generator.broadcast(w)
    mask = torch.zeros(generator.n_latent, 1, device=w.device)
    mask[span[0] : span[1]] = 1
    scores: dict[str, float] = {}
    best: tuple[str, float, float] | None = None  # name, signed effect, alpha
    for name, unit in candidates.items():
        unit = unit.to(w) / unit.norm()
        alpha = step * float((w @ unit).std())
        vec = alpha * mask * unit[None]
        up = yaw_fn(tensor_to_uint8(generator.synthesis(wp + vec)))
        down = yaw_fn(tensor_to_uint8(generator.synthesis(wp - vec)))
        ok = np.isfinite(up) & np.isfinite(down)
        if not ok.any():
            continue
        effect = float(np.mean(up[ok] - down[ok]) / 2)
        scores[name] = round(effect, 4)
        if best is None or abs(effect) > abs(best[1]):
            best = (name, effect, alpha)
    if best is None or best[1] == 0:
        raise ValueError("fit_pose: no face was found on the generated samples, so yaw cannot be measured "
                         "(an untrained generator?); pass candidates/yaw_fn or train the generator first")  # fmt: skip
    name, effect, alpha = best
    unit = candidates[name].float() / candidates[name].norm() * (1.0 if effect > 0 else -1.0)
    strength = alpha * float(np.clip(target / abs(effect), 0.25, 4.0))
    info = {"candidate": name, "yaw_per_step": round(abs(effect), 4), "step_alpha": round(alpha, 5),
            "target_yaw": target, "scores": scores, "samples": int(len(w)),
            "yaw": "(x_nose - jaw middle) / half jaw width, dlib 68 landmarks"}  # fmt: skip
    return Direction("pose", unit.cpu(), span, strength, info)


def pose_tensor(direction: Direction, n_w: int) -> torch.Tensor:
    """The `[n_w, style_dim]` tensor of `s = 1`, for a bundle's `pose` direction."""
    return direction.vector(n_w).detach().float().cpu()

