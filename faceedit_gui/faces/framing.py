"""How a model expects its face crops to be framed.

Two kinds:
- 'ffhq': the FFHQ dataset's recipe (Karras et al., 2019, `ffhq-dataset`): an oriented square
  built from the eye centres and the mouth corners, which the official 1024 StyleGAN2 models
  and their encoders (e4e, pSp) expect.
- 'template': mean landmark positions measured on a training set (Procrustes mean shape,
  placed where the set's crops hold it); a face is aligned by the least-squares similarity
  that maps its landmarks onto the template. The bundled model uses the UTKFace template in
  `resources/framing_template_utkface.json`.

Convention:
    Template positions are normalised crop coordinates: (0, 0) is the top-left *corner* of
    the crop, (1, 1) the bottom-right corner, x to the right, y down; pixel (row i, col j) of
    an S-pixel crop has its centre at ((j + 0.5) / S, (i + 0.5) / S). Landmarks are the 68
    iBUG points. The fit uses `FIT_POINTS` (brows, nose, eyes, mouth: the jaw contour moves
    with head pose and is left out); all 68 positions are stored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

FramingKind = Literal["ffhq", "template"]
FIT_POINTS: tuple[int, ...] = tuple(range(17, 68))
RESOURCES_DIR = Path(__file__).resolve().parents[2] / "resources"
UTKFACE_TEMPLATE_PATH = RESOURCES_DIR / "framing_template_utkface.json"


@dataclass(frozen=True)
class Framing:
    """A model's face framing; serialised as the `framing` field of a bundle's model.json."""

    kind: FramingKind  # 'ffhq' (eye/mouth quad) or 'template' (mean landmark positions)
    size: int = 1024  # crop side in pixels that the model takes
    template: tuple[tuple[float, float], ...] | None = None  # 68 (x, y), normalised crop coordinates
    fit_points: tuple[int, ...] = FIT_POINTS  # landmark indices the similarity is fitted on
    name: str = ""  # e.g. "ffhq", "utkface-mean-68"
    note: str = ""  # how it was measured

    def __post_init__(self) -> None:
        if self.kind not in ("ffhq", "template"):
            raise ValueError(f"framing kind must be 'ffhq' or 'template', got {self.kind!r}")
        if int(self.size) < 8:
            raise ValueError(f"framing size must be at least 8 px, got {self.size}")
        if self.kind == "template":
            if self.template is None:
                raise ValueError("a 'template' framing needs its 68 template positions")
            t = np.asarray(self.template, dtype=np.float64)
            if t.shape != (68, 2) or not np.isfinite(t).all():
                raise ValueError(f"template must be 68 finite (x, y) pairs, got shape {t.shape}")
            if (t < -0.5).any() or (t > 1.5).any():
                raise ValueError("template positions must be normalised crop coordinates (about 0..1)")
            object.__setattr__(self, "template", tuple((float(x), float(y)) for x, y in t))
            pts = tuple(int(i) for i in self.fit_points)
            if len(pts) < 3 or min(pts) < 0 or max(pts) > 67:
                raise ValueError(f"fit_points must be at least 3 landmark indices in 0..67, got {pts}")
            object.__setattr__(self, "fit_points", pts)

    def with_size(self, size: int) -> "Framing":
        return Framing(self.kind, int(size), self.template, self.fit_points, self.name, self.note)

    def template_array(self) -> np.ndarray:
        """float64 `[68, 2]`, normalised crop coordinates."""
        if self.template is None:
            raise ValueError("an 'ffhq' framing has no template")
        return np.asarray(self.template, dtype=np.float64)

    def to_dict(self) -> dict:
        d: dict = {"kind": self.kind, "size": int(self.size), "name": self.name, "note": self.note}
        if self.kind == "template":
            d["template"] = [[x, y] for x, y in self.template or ()]  # full precision: exact round trip
            d["fit_points"] = list(self.fit_points)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Framing":
        kind = d.get("kind")
        if kind not in ("ffhq", "template"):
            raise ValueError(f"framing kind must be 'ffhq' or 'template', got {kind!r}")
        template = d.get("template")
        return cls(
            kind=kind,
            size=int(d.get("size", 1024)),
            template=None if template is None else tuple(tuple(p) for p in template),
            fit_points=tuple(d.get("fit_points", FIT_POINTS)),
            name=str(d.get("name", "")),
            note=str(d.get("note", "")),
        )


def ffhq_framing(size: int = 1024) -> Framing:
    return Framing(kind="ffhq", size=size, name="ffhq", note="FFHQ eye/mouth quad (ffhq-dataset recipe)")


def load_framing(path: str | Path) -> Framing:
    """Read a framing from a JSON file: a framing dict, or a model.json with a `framing` field."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: cannot read a framing ({e})") from None
    if isinstance(data, dict) and isinstance(data.get("framing"), dict):
        data = {"size": data.get("resolution", 1024), **data["framing"]}
    try:
        return Framing.from_dict(data)
    except (ValueError, TypeError, KeyError) as e:
        raise ValueError(f"{path}: not a valid framing ({e})") from None


def save_framing(framing: Framing, path: str | Path) -> Path:
    path = Path(path)
    path.write_text(json.dumps(framing.to_dict(), indent=1) + "\n")
    return path


def ffhq_quad(landmarks: np.ndarray) -> np.ndarray:
    """The FFHQ crop square from 68 landmarks, float64 `[4, 2]` photo pixel coordinates:
    top-left, bottom-left, bottom-right, top-right corners of the crop.

    Recipe of the FFHQ dataset script, restated: eye centres e_l, e_r (means of points
    36-41, 42-47), mouth corners m_l, m_r (points 48, 54); eye_avg = (e_l + e_r) / 2,
    eye_to_eye = e_r - e_l, eye_to_mouth = (m_l + m_r) / 2 - eye_avg. The crop's x axis is
    eye_to_eye minus eye_to_mouth turned by 90 degrees, normalised, times
    max(2.0 |eye_to_eye|, 1.8 |eye_to_mouth|) (half the side); y is x turned by 90 degrees;
    the centre is eye_avg + 0.1 eye_to_mouth.
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (68, 2):
        raise ValueError(f"expected [68, 2] landmarks, got {lm.shape}")
    eye_left = lm[36:42].mean(axis=0)
    eye_right = lm[42:48].mean(axis=0)
    eye_avg = (eye_left + eye_right) * 0.5
    eye_to_eye = eye_right - eye_left
    mouth_avg = (lm[48] + lm[54]) * 0.5
    eye_to_mouth = mouth_avg - eye_avg
    x = eye_to_eye - np.array([-eye_to_mouth[1], eye_to_mouth[0]])  # eye_to_mouth turned -90 deg
    norm = np.hypot(*x)
    if norm < 1e-9:
        raise ValueError("degenerate landmarks: the eyes and mouth coincide")
    x = x / norm * max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.array([-x[1], x[0]])  # x turned +90 deg (pointing down the face)
    c = eye_avg + eye_to_mouth * 0.1
    return np.stack([c - x - y, c - x + y, c + x + y, c + x - y])
