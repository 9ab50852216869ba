"""Find faces and their 68 landmarks, offline.

Default backend: dlib's HOG frontal-face detector (its CNN "mmod" detector as a fallback
when HOG finds nothing) and dlib's 68-point shape predictor, with the CC0 model files that
the `face-recognition-models` package ships. Optional backend: face-alignment's 2D-FAN,
used for the landmarks only when its weights already sit in torch's hub cache (nothing is
downloaded); otherwise a `LandmarkBackendWarning` says why and dlib is used.

Detection runs on a copy downscaled to `max_side` (a 60 MP photo is never handed to the
detector); the landmarks are then predicted on a crop of the full-resolution photo around
each box, resampled so that the face is 150-400 px wide.

Convention:
    All coordinates are photo pixel coordinates, x to the right, y down, the centre of
    pixel (row i, column j) at (x=j, y=i) (OpenCV's and dlib's convention). `Face.box` is
    (x0, y0, x1, y1) = dlib's (left, top, right, bottom); `Face.landmarks` float32
    `[68, 2]` (x, y) in the iBUG 300-W order (0-16 jaw, 17-26 brows, 27-35 nose,
    36-47 eyes, 48-67 mouth). Images are uint8 RGB `[H, W, 3]`.

Threads: the dlib models are loaded once per process and kept; a lock serialises their
use (dlib's Python calls hold the GIL anyway), so `detect_faces` may be called from any thread.
"""

from __future__ import annotations

import importlib.util
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Sequence

import cv2
import numpy as np

from faceedit_gui.faces.loading import Photo, PhotoError

Backend = Literal["dlib", "face_alignment"]
Detector = Literal["auto", "hog", "cnn"]

MIN_PHOTO_SIDE = 32  # smaller photos hold no detectable face: none is reported
DEFAULT_MAX_SIDE = 1024  # detection copy: longest side in pixels
CNN_MAX_SIDE = 400  # the CNN fallback costs ~1 s at 400 px on one CPU core
_LANDMARK_FACE_MIN, _LANDMARK_FACE_MAX = 150.0, 400.0  # face width for the shape predictor

_LOCK = threading.RLock()
_MODELS: dict[str, object] = {}


class NoFaceError(PhotoError):
    """No face was found in a photo (the message says where it looked and what it misses)."""


class LandmarkBackendWarning(UserWarning):
    """The requested landmark backend is unavailable; dlib was used instead."""


@dataclass(frozen=True, eq=False)
class Face:
    """One detected face.

    Convention: photo pixel coordinates (pixel centres at integers); `landmarks` float32 `[68, 2]` (x, y).
    """

    box: tuple[float, float, float, float]  # x0, y0, x1, y1 (left, top, right, bottom)
    landmarks: np.ndarray  # float32 [68, 2]
    score: float  # detector confidence: HOG SVM margin (> 0) or CNN confidence
    detector: str = "dlib-hog"  # "dlib-hog" | "dlib-cnn" | "given"
    landmark_model: str = "dlib-68"  # "dlib-68" | "fan-2d"

    def __post_init__(self) -> None:
        lm = np.asarray(self.landmarks, dtype=np.float32)
        if lm.shape != (68, 2):
            raise ValueError(f"landmarks must be [68, 2], got {lm.shape}")
        lm.flags.writeable = False
        object.__setattr__(self, "landmarks", lm)
        object.__setattr__(self, "box", tuple(float(v) for v in self.box))

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)

    def to_dict(self) -> dict:
        return {
            "box": [round(v, 3) for v in self.box],
            "landmarks": np.round(self.landmarks.astype(np.float64), 3).tolist(),
            "score": round(float(self.score), 4),
            "detector": self.detector,
            "landmark_model": self.landmark_model,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Face":
        return cls(
            box=tuple(d["box"]),
            landmarks=np.asarray(d["landmarks"], dtype=np.float32),
            score=float(d.get("score", 0.0)),
            detector=str(d.get("detector", "given")),
            landmark_model=str(d.get("landmark_model", "dlib-68")),
        )


# ----------------------------------------------------------------------------- models


def dlib_models_dir() -> Path:
    """The folder of face-recognition-models' .dat files, found without importing the package
    (its import pulls in the deprecated `pkg_resources`)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the package face-recognition-models is not installed: it ships dlib's face "
            "detector and landmark models (pip install face-recognition-models)"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def _dlib_model(name: str) -> object:
    """Load (once per process) 'hog', 'cnn' or 'shape68'."""
    with _LOCK:
        if name not in _MODELS:
            import dlib

            if name == "hog":
                _MODELS[name] = dlib.get_frontal_face_detector()
            else:
                file = {"cnn": "mmod_human_face_detector.dat", "shape68": "shape_predictor_68_face_landmarks.dat"}[name]
                path = dlib_models_dir() / file
                if not path.is_file():
                    raise RuntimeError(f"dlib model file missing: {path}")
                loader = dlib.cnn_face_detection_model_v1 if name == "cnn" else dlib.shape_predictor
                _MODELS[name] = loader(str(path))
        return _MODELS[name]


def landmark_backend_status(backend: Backend = "face_alignment") -> tuple[bool, str]:
    """(usable, reason). 'face_alignment' is usable only when installed *and* its 2D-FAN
    weights are already in torch's hub cache; this never downloads anything."""
    if backend == "dlib":
        path = dlib_models_dir() / "shape_predictor_68_face_landmarks.dat"
        return (True, "dlib 68-point shape predictor") if path.is_file() else (False, f"missing {path}")
    if backend != "face_alignment":
        return False, f"unknown landmark backend {backend!r} (choose dlib or face_alignment)"
    if importlib.util.find_spec("face_alignment") is None:
        return False, "face-alignment is not installed (pip install faceedit[landmarks])"
    try:
        weights = _fan_weights_path()
    except Exception as e:  # an unexpected face-alignment version
        return False, f"cannot locate face-alignment's weights ({type(e).__name__}: {e})"
    if not weights.is_file():
        return False, (
            f"face-alignment is installed but its landmark weights {weights.name} are not in "
            f"{weights.parent}, and they cannot be downloaded here"
        )
    return True, f"face-alignment 2D-FAN ({weights.name})"


def _fan_weights_path() -> Path:
    import os
    from urllib.parse import urlparse

    import torch
    from face_alignment import api  # optional extra, imported only here

    version = torch.__version__.split("+")[0].rsplit(".", 1)[0]
    urls = getattr(api, "models_urls", {}).get(version, getattr(api, "default_model_urls"))
    name = os.path.basename(urlparse(urls["2DFAN-4"]).path)
    return Path(torch.hub.get_dir()) / "checkpoints" / name


def _fan_model() -> object:
    with _LOCK:
        if "fan" not in _MODELS:
            import face_alignment

            _MODELS["fan"] = face_alignment.FaceAlignment(
                face_alignment.LandmarksType.TWO_D, device="cpu", face_detector="folder"
            )
        return _MODELS["fan"]


# ----------------------------------------------------------------------------- detection


def detect_faces(
    photo: Photo | np.ndarray,
    backend: Backend = "dlib",
    detector: Detector = "auto",
    max_side: int = DEFAULT_MAX_SIDE,
    upsample: int = 1,
    pad: float = 0.0,
    min_score: float = 0.0,
    cnn_max_side: int = CNN_MAX_SIDE,
) -> list[Face]:
    """Every face in the photo, largest first (the default pick is `faces[0]`).

    Args:
        photo: a `Photo` or uint8 `[H, W, 3]` RGB array.
        backend: landmark backend, 'dlib' or 'face_alignment' (falls back to dlib with a
            `LandmarkBackendWarning` when its weights are not cached).
        detector: 'hog' (fast), 'cnn' (dlib's mmod, slower, more robust to pose and
            occlusion) or 'auto' (HOG, then the CNN if HOG finds nothing).
        max_side: the detection copy's longest side; the HOG detector finds faces of about
            80 / 2**upsample px and larger on that copy.
        upsample: dlib's pyramid upsampling for the HOG detector (0, 1 or 2).
        pad: border added on each side, as a fraction of the copy's size (edge replicated),
            for tight crops whose face touches the edges (HOG needs some context).
        min_score: drop detections whose score is below this.
        cnn_max_side: the CNN detector's copy (it costs ~1 s at 400 px, ~4 s at 800 px).

    Example:
        >>> faces = detect_faces(load_photo("group.jpg"))
        >>> [round(f.width) for f in faces], faces[0].landmarks.shape
        ([412, 230], (68, 2))
    """
    if backend not in ("dlib", "face_alignment"):
        raise ValueError(f"unknown landmark backend {backend!r} (choose dlib or face_alignment)")
    if detector not in ("auto", "hog", "cnn"):
        raise ValueError(f"unknown face detector {detector!r} (choose auto, hog or cnn)")
    rgb = photo.rgb if isinstance(photo, Photo) else _check_rgb(photo)
    h, w = rgb.shape[:2]
    if min(h, w) < MIN_PHOTO_SIDE:  # no detectable face fits; dlib's CNN would raise on it
        return []
    scale = min(1.0, max_side / max(h, w))
    small = _resize(rgb, scale)
    boxes = []  # (x0, y0, x1, y1, score, detector) in photo coordinates
    if detector in ("auto", "hog"):
        boxes = _run_hog(small, scale, upsample, pad)
    if detector == "cnn" or (detector == "auto" and not boxes):
        c = min(1.0, cnn_max_side / max(small.shape[:2]))
        boxes = _run_cnn(_resize(small, c), scale * c, pad)
    boxes = [b for b in boxes if b[4] >= min_score]
    use_fan = False
    if backend == "face_alignment":
        use_fan, reason = landmark_backend_status("face_alignment")
        if not use_fan:
            warnings.warn(LandmarkBackendWarning(f"{reason}; using dlib's 68-point landmarks"), stacklevel=2)
    faces = [
        Face(box=b[:4], landmarks=_landmarks(rgb, b[:4], use_fan), score=b[4], detector=b[5],
             landmark_model="fan-2d" if use_fan else "dlib-68")
        for b in boxes
    ]
    return sorted(faces, key=lambda f: -f.area)


def landmarks_for_box(photo: Photo | np.ndarray, box: Sequence[float], backend: Backend = "dlib") -> Face:
    """Landmarks for a face box given by the caller (photo pixel coordinates)."""
    rgb = photo.rgb if isinstance(photo, Photo) else _check_rgb(photo)
    use_fan = backend == "face_alignment" and landmark_backend_status("face_alignment")[0]
    lm = _landmarks(rgb, tuple(float(v) for v in box), use_fan)
    return Face(box=tuple(box), landmarks=lm, score=0.0, detector="given", landmark_model="fan-2d" if use_fan else "dlib-68")


def pick_face(faces: Sequence[Face], photo: Photo | None = None, index: int = 0, max_side: int = DEFAULT_MAX_SIDE) -> Face:
    """`faces[index]` (0 = the largest), or a `NoFaceError` that says what was searched."""
    if index < len(faces):
        return faces[index]
    where = photo.path if photo is not None else None
    if not faces:
        raise NoFaceError(where, no_face_message(photo, max_side))
    raise NoFaceError(where, f"asked for face {index} but only {len(faces)} face(s) were found")


def no_face_message(photo: Photo | None, max_side: int = DEFAULT_MAX_SIDE, upsample: int = 1) -> str:
    if photo is None:
        return "no face found"
    w, h = photo.size
    scale = min(1.0, max_side / max(w, h))
    smallest = 80 / 2**upsample / scale
    return (
        f"no face found in this {w}x{h} photo (dlib's HOG detector on a {round(w * scale)}x"
        f"{round(h * scale)} copy, then its CNN detector). It misses faces smaller than about "
        f"{smallest:.0f} px across, turned more than about 45 degrees from the camera, upside "
        "down, or mostly covered; crop closer to the face or pick a more frontal photo."
    )


# ----------------------------------------------------------------------------- internals


def _check_rgb(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected uint8 [H, W, 3] RGB, got {rgb.dtype} {rgb.shape}")
    return rgb


def _resize(rgb: np.ndarray, scale: float) -> np.ndarray:
    if scale >= 1.0:
        return np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    return cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def _to_photo_coords(v: float, scale: float, offset: float = 0.0) -> float:
    """A point on a copy scaled by `scale` (after removing `offset`) -> photo coordinates."""
    return (v - offset + 0.5) / scale - 0.5


def _padded(small: np.ndarray, pad: float) -> tuple[np.ndarray, int]:
    if pad <= 0:
        return small, 0
    p = int(round(pad * max(small.shape[:2])))
    return cv2.copyMakeBorder(small, p, p, p, p, cv2.BORDER_REPLICATE), p


def _run_hog(small: np.ndarray, scale: float, upsample: int, pad: float) -> list[tuple]:
    image, p = _padded(small, pad)
    with _LOCK:
        rects, scores, _ = _dlib_model("hog").run(image, upsample, 0.0)
    return [
        (*(_to_photo_coords(v, scale, p) for v in (r.left(), r.top(), r.right(), r.bottom())), float(s), "dlib-hog")
        for r, s in zip(rects, scores)
    ]


def _run_cnn(small: np.ndarray, scale: float, pad: float) -> list[tuple]:
    image, p = _padded(small, pad)
    with _LOCK:
        found = _dlib_model("cnn")(image, 1 if max(image.shape[:2]) <= 200 else 0)
    return [
        (*(_to_photo_coords(v, scale, p) for v in (d.rect.left(), d.rect.top(), d.rect.right(), d.rect.bottom())),
         float(d.confidence), "dlib-cnn")
        for d in found
    ]


def _landmarks(rgb: np.ndarray, box: tuple[float, float, float, float], use_fan: bool) -> np.ndarray:
    """68 landmarks for one box, predicted on a resampled crop of the full-resolution photo."""
    import dlib

    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    side = max(bw, bh, 1.0)
    rx0, ry0 = max(0, int(np.floor(x0 - 0.5 * side))), max(0, int(np.floor(y0 - 0.5 * side)))
    rx1, ry1 = min(w, int(np.ceil(x1 + 0.5 * side)) + 1), min(h, int(np.ceil(y1 + 0.5 * side)) + 1)
    region = rgb[ry0:ry1, rx0:rx1]
    f = float(np.clip(1.0, _LANDMARK_FACE_MIN / side, _LANDMARK_FACE_MAX / side))
    if abs(f - 1.0) > 1e-6:
        size = (max(1, round(region.shape[1] * f)), max(1, round(region.shape[0] * f)))
        fx, fy = size[0] / region.shape[1], size[1] / region.shape[0]
        region = cv2.resize(region, size, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC)
    else:
        fx = fy = 1.0
        region = np.ascontiguousarray(region)
    # the box on the resampled region
    bx = [(x0 - rx0 + 0.5) * fx - 0.5, (y0 - ry0 + 0.5) * fy - 0.5, (x1 - rx0 + 0.5) * fx - 0.5, (y1 - ry0 + 0.5) * fy - 0.5]
    if use_fan:
        with _LOCK:
            out = _fan_model().get_landmarks_from_image(region, detected_faces=[np.array(bx, dtype=np.float32)])
        pts = np.asarray(out[0], dtype=np.float64)[:, :2]
    else:
        rect = dlib.rectangle(*(int(round(v)) for v in bx))
        with _LOCK:
            shape = _dlib_model("shape68")(region, rect)
        pts = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
    pts[:, 0] = (pts[:, 0] + 0.5) / fx - 0.5 + rx0
    pts[:, 1] = (pts[:, 1] + 0.5) / fy - 0.5 + ry0
    return pts.astype(np.float32)
