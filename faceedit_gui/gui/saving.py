"""Saving edited images safely (no Qt here): atomic writes, never over the original.

`suggest_path(original, kind, suffix)` proposes `<stem>_edited.png` (then `_edited_2`, ...)
beside the original; `atomic_save_image` writes through a temporary file in the same
folder and renames it into place, so a crash never leaves half a file; it refuses to
write over the photo being edited (`SaveError`) — the dialog asks before replacing any
other existing file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from faceedit_gui.faces.loading import PhotoError, save_image

FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}


class SaveError(Exception):
    pass


def same_file(a: str | os.PathLike | None, b: str | os.PathLike | None) -> bool:
    if a is None or b is None:
        return False
    a, b = Path(a), Path(b)
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def suggest_path(original: str | os.PathLike | None, folder: str | os.PathLike, kind: str = "edited", suffix: str = ".png") -> Path:
    """A file name that does not exist yet: `<stem>_<kind><suffix>`, `<stem>_<kind>_2<suffix>`, ..."""
    stem = Path(original).stem if original else "sample"
    folder = Path(folder)
    candidate = folder / f"{stem}_{kind}{suffix}"
    n = 2
    while candidate.exists():
        candidate = folder / f"{stem}_{kind}_{n}{suffix}"
        n += 1
    return candidate


def atomic_save_image(path: str | os.PathLike, rgb: np.ndarray, quality: int = 95,
                      original: str | os.PathLike | None = None, icc_profile: bytes | None = None) -> Path:
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise SaveError(f"{path.name}: choose a .png or .jpg file name (got {suffix or 'no suffix'})")
    if same_file(path, original):
        raise SaveError(f"{path} is the photo being edited: the original is never overwritten; choose another name")
    if not path.parent.is_dir():
        raise SaveError(f"{path.parent}: no such folder")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        save_image(tmp, rgb, quality=int(quality), icc_profile=icc_profile)
        os.replace(tmp, path)
    except PhotoError as exc:
        raise SaveError(f"{path}: {exc.reason}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
