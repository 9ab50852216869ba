"""How face-like a generator's samples are, by a detector no one here trained (issue 5).

The measure: the share of random samples (truncation 1.0) in which dlib's HOG frontal-face
detector finds a face, divided by the share of held-out real faces, at the same resolution,
in which it finds one. Target: ratio >= 0.95.

    found = face_found(samples)                     # bool [N], one detection per image
    report = detection_comparison(found, face_found(reals))
    report["ratio"], report["passed"]

The detector (`DETECTION`): dlib's `get_frontal_face_detector()` (HOG + linear SVM) through
`faces.detection.detect_faces(detector="hog")`, with the settings the packer used for
UTKFace's tight crops (`faces/prepare.py` DETECT_SETTINGS["utkface"]: no pyramid upsampling,
a replicated border of 25 % of the side on each edge, any SVM margin > 0). No CNN fallback:
the number is dlib HOG's alone. Measured 2026-11-26: it finds a face in 990 of 1000
held-out UTKFace crops resized to 128 px, and in 148 of 150 held-out faces aligned to the
training template framing at 128 px (the generator's framing). Below ~80 px (dlib's
window; e.g. the 32 px test configs) it finds none, real or generated.

The reals (`load_heldout_utkface`): UTKFace's held-out list (`utkface_test.txt`, never
trained on), each 200 px crop resized to the generator's resolution with `cv2.INTER_AREA`;
N of them evenly spaced over the sorted list (names start with the age, so this spans
the ages), all of them when N >= the list.

The sheet (`sample_sheet`): images in a grid, row-major, with black gaps.

Convention: images are uint8 RGB `[N, R, R, 3]`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from faceedit_gui.faces.prepare import DETECT_SETTINGS

TARGET_RATIO = 0.95  # issue 5: samples' detection rate >= 95 % of the reals'
TARGET_TRUNCATION = 1.0  # the target is stated for untruncated samples
DETECTION: dict[str, Any] = {"detector": "hog", **DETECT_SETTINGS["utkface"]}  # upsample 0, pad 0.25
DETECTOR_NAME = "dlib HOG frontal face detector (get_frontal_face_detector), no CNN fallback"
SHEET_SEEDS = tuple(range(64))  # the sheet's images: seeds 0..63
SHEET_COLS = 8
SHEET_GAP = 2  # px between tiles


def _check_images(images: np.ndarray, name: str) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"{name}: expected uint8 [N, H, W, 3], got {images.dtype} {tuple(images.shape)}")
    return images


def face_found(images: np.ndarray, detection: dict[str, Any] | None = None) -> np.ndarray:
    """bool `[N]`: does dlib's HOG detector find at least one face in image i?

    Args:
        images: uint8 `[N, H, W, 3]` RGB.
        detection: keyword arguments of `detect_faces` (default `DETECTION`).
    """
    from faceedit_gui.faces.detection import detect_faces

    images = _check_images(images, "face_found")
    settings = dict(DETECTION if detection is None else detection)
    return np.array([bool(detect_faces(np.ascontiguousarray(im), **settings)) for im in images], dtype=bool)


def detection_comparison(sample_found: Sequence[bool], real_found: Sequence[bool], target: float = TARGET_RATIO,
                         truncation: float = TARGET_TRUNCATION) -> dict[str, Any]:  # fmt: skip
    """Counts, rates, `ratio` = sample rate / real rate (None when no real face was found)
    and `passed` = ratio >= target at the target's truncation (1.0), with a `verdict` line."""
    s, r = np.asarray(sample_found, dtype=bool), np.asarray(real_found, dtype=bool)
    if s.ndim != 1 or r.ndim != 1 or not len(s) or not len(r):
        raise ValueError(f"need non-empty 1-D flags, got samples {s.shape} and reals {r.shape}")
    s_rate, r_rate = float(s.mean()), float(r.mean())
    ratio = s_rate / r_rate if r_rate > 0 else None
    passed = ratio is not None and ratio >= target and truncation == TARGET_TRUNCATION
    if ratio is None:
        verdict = "FAIL: the detector found no face in the real images, so the ratio is undefined"
    elif truncation != TARGET_TRUNCATION:
        verdict = f"NOT APPLICABLE: ratio {ratio:.3f} at truncation {truncation:g}; the target is stated at 1.0"
    else:
        verdict = f"{'PASS' if passed else 'FAIL'}: ratio {ratio:.3f} {'>=' if passed else '<'} {target:g}"
    return {
        "samples": {"n": int(len(s)), "detected": int(s.sum()), "rate": s_rate},
        "reals": {"n": int(len(r)), "detected": int(r.sum()), "rate": r_rate},
        "ratio": ratio,
        "target": {"ratio_at_least": target, "truncation": TARGET_TRUNCATION},
        "passed": bool(passed),
        "verdict": verdict,
    }


def sample_sheet(images: np.ndarray, cols: int = SHEET_COLS, gap: int = SHEET_GAP) -> np.ndarray:
    """uint8 `[rows*R + (rows-1)*gap, cols*R + (cols-1)*gap, 3]`: the images row-major,
    black gaps between tiles (none around the border)."""
    from faceedit_gui.training.png import make_grid

    return make_grid(_check_images(images, "sample_sheet"), cols, pad=gap)


def evenly_spaced(items: Sequence[str], n: int) -> list[str]:
    """`n` items spread evenly over `items` in their order (all of them when n >= len)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if n >= len(items):
        return list(items)
    return [items[i] for i in np.linspace(0, len(items) - 1, n).round().astype(int)]


class MissingDataError(FileNotFoundError):
    """The shared face data (or a file it should hold) is not there."""


def heldout_utkface_names(data_dir: str | os.PathLike) -> list[str]:
    """The held-out UTKFace file names (`utkface_test.txt`), sorted; raises `MissingDataError`."""
    data_dir = Path(data_dir)
    listing, folder = data_dir / "utkface_test.txt", data_dir / "utkface"
    if not listing.is_file() or not folder.is_dir():
        raise MissingDataError(
            f"the UTKFace held-out faces are not in {data_dir} (it needs utkface_test.txt and utkface/; "
            "see ../shared/data/README.md)"
        )
    from faceedit_gui.faces.sources import held_out

    names = sorted(held_out(listing))
    if not names:
        raise MissingDataError(f"{listing} lists no images")
    return names


def load_heldout_utkface(data_dir: str | os.PathLike, size: int, n: int) -> tuple[np.ndarray, list[str]]:
    """uint8 `[n, size, size, 3]` RGB held-out UTKFace faces (evenly spaced over the sorted
    list, all when n exceeds it), each resized with `cv2.INTER_AREA`, and their names."""
    import cv2

    names = evenly_spaced(heldout_utkface_names(data_dir), n)
    out = np.empty((len(names), size, size, 3), np.uint8)
    for i, name in enumerate(names):
        path = Path(data_dir) / "utkface" / name
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise MissingDataError(f"cannot read the held-out face {path}")
        out[i] = cv2.resize(bgr, (size, size), interpolation=cv2.INTER_AREA)[:, :, ::-1]
    return out, names
