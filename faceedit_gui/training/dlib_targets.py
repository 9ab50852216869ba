"""dlib's 128-D face descriptors of packed aligned crops: the identity network's targets.

dlib (King, 2009) is the evaluator of identity (DESIGN §7) and the teacher of the identity
network; it never enters a training graph: descriptors are computed once here, on the CPU,
and cached.

How a crop becomes a descriptor: dlib's own pipeline, `dlib.get_face_chip(crop, shape,
size=150, padding=0.25)` then `face_recognition_model_v1.compute_face_descriptor(chip)`,
with `shape` the crop's 68 landmarks as the packer recorded them (dlib's 68-point
predictor run on the source photo, mapped into the crop) instead of a new detection on the
crop: no face is lost to the detector, and `get_face_chip` aligns 68-point shapes the same
way as 5-point ones. `chip_from_detection` is the evaluator's path (HOG detection + the
5-point predictor on the crop); `compare_chip_methods` measures how well the two agree.
The crop is the 128 px one the identity network sees, i.e. what the evaluator sees on a
128 px generator output.

Cache: one `.npz` per pack folder and split, `names` (bytes [N]) and `descriptors`
(float32 [N, 128]), appended every `save_every` crops so an interrupted run resumes.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from typing import Callable

import numpy as np

DLIB_MODEL_FILES = {
    "recognition": "dlib_face_recognition_resnet_model_v1.dat",
    "shape5": "shape_predictor_5_face_landmarks.dat",
}


def dlib_model_path(kind: str) -> Path:
    """A model file of face-recognition-models, located without importing the package
    (its import pulls in `pkg_resources`)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("face-recognition-models is not installed (pip install face-recognition-models)")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / DLIB_MODEL_FILES[kind]
    if not path.is_file():
        raise RuntimeError(f"dlib model file missing: {path}")
    return path


class DlibDescriptor:
    """dlib's face-recognition ResNet and the chip extraction in front of it."""

    def __init__(self) -> None:
        import dlib  # heavy: imported only when descriptors are computed

        self._dlib = dlib
        self.recognition = dlib.face_recognition_model_v1(str(dlib_model_path("recognition")))
        self._shape5 = None
        self._detector = None

    def chip_from_landmarks(self, rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """uint8 `[H, W, 3]` RGB crop + its 68 landmarks `[68, 2]` (pixels) -> 150 px chip."""
        dlib = self._dlib
        pts = [dlib.point(int(round(x)), int(round(y))) for x, y in np.asarray(landmarks, np.float64)]
        xs, ys = [p.x for p in pts], [p.y for p in pts]
        shape = dlib.full_object_detection(dlib.rectangle(min(xs), min(ys), max(xs), max(ys)), pts)
        return dlib.get_face_chip(np.ascontiguousarray(rgb), shape, size=150, padding=0.25)

    def chip_from_detection(self, rgb: np.ndarray) -> np.ndarray | None:
        """The evaluator's path on a crop: HOG detection (upsampled once), 5-point landmarks,
        150 px chip; None when no face is detected."""
        dlib = self._dlib
        if self._detector is None:
            self._detector = dlib.get_frontal_face_detector()
            self._shape5 = dlib.shape_predictor(str(dlib_model_path("shape5")))
        rgb = np.ascontiguousarray(rgb)
        boxes = self._detector(rgb, 1)
        if not boxes:
            return None
        box = max(boxes, key=lambda r: r.area())
        return dlib.get_face_chip(rgb, self._shape5(rgb, box), size=150, padding=0.25)

    def descriptors(self, chips: list[np.ndarray]) -> np.ndarray:
        """150 px chips -> float32 `[N, 128]` descriptors."""
        if not chips:
            return np.zeros((0, 128), np.float32)
        return np.asarray(self.recognition.compute_face_descriptor(chips), np.float32).reshape(len(chips), 128)


def compute_targets(
    images: np.ndarray,
    landmarks: np.ndarray,
    names: np.ndarray,
    cache: str | Path,
    save_every: int = 500,
    echo: Callable[[str], None] = print,
) -> np.ndarray:
    """Descriptors `[N, 128]` of every crop, resuming from and extending `cache` (.npz).

    `names` identify the crops: a cache whose names differ from a prefix of `names` is an error.
    """
    cache = Path(cache)
    done_names: list[bytes] = []
    done: list[np.ndarray] = []
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as z:
            done_names = [bytes(n) for n in z["names"]]
            done = [z["descriptors"]]
        want = [bytes(n) for n in names[: len(done_names)]]
        if want != done_names[: len(want)] or len(done_names) > len(names):
            raise ValueError(f"{cache}: cached names do not match the crops asked for; delete it or use another path")
    start = len(done_names)
    if start == len(names):
        return np.concatenate(done) if done else np.zeros((0, 128), np.float32)
    model = DlibDescriptor()
    t0 = time.time()
    for i in range(start, len(names), save_every):
        j = min(len(names), i + save_every)
        chips = [model.chip_from_landmarks(images[k], landmarks[k]) for k in range(i, j)]
        done.append(model.descriptors(chips))
        done_names += [bytes(n) for n in names[i:j]]
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(cache.stem + ".tmp.npz")
        np.savez(tmp, names=np.array(done_names, dtype="S64"), descriptors=np.concatenate(done))
        tmp.replace(cache)
        rate = (j - start) / (time.time() - t0)
        echo(f"dlib descriptors {cache.name}: {j}/{len(names)}, {rate:.1f} crops/s, eta {(len(names) - j) / rate / 60:.1f} min")
    return np.concatenate(done)


def compare_chip_methods(images: np.ndarray, landmarks: np.ndarray, resize_to_150: bool = True) -> dict[str, float]:
    """On a few crops: cosine between the landmark-chip descriptor (what `compute_targets`
    uses) and (a) the evaluator's detection chip, (b) the whole crop resized to 150 px;
    plus the descriptor rate. Shows that the targets are what dlib computes on such crops."""
    import cv2

    model = DlibDescriptor()
    t0 = time.time()
    ref = model.descriptors([model.chip_from_landmarks(im, lm) for im, lm in zip(images, landmarks)])
    rate = len(images) / (time.time() - t0)
    det_chips = [model.chip_from_detection(im) for im in images]
    found = [i for i, c in enumerate(det_chips) if c is not None]
    det = model.descriptors([det_chips[i] for i in found])
    out = {"crops": len(images), "rate_crops_per_s": rate, "detected": len(found)}
    cos = lambda a, b: float(np.mean(np.sum(a * b, 1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)))  # noqa: E731
    if found:
        out["cos_landmark_vs_detection"] = cos(ref[found], det)
    if resize_to_150:
        resized = model.descriptors([cv2.resize(im, (150, 150), interpolation=cv2.INTER_CUBIC) for im in images])
        out["cos_landmark_vs_resized_crop"] = cos(ref, resized)
    n = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    sim = n @ n.T
    out["cos_between_different_faces"] = float(sim[np.triu_indices(len(n), 1)].mean()) if len(n) > 1 else float("nan")
    return out
