"""Files of the batch export: finding the photos, atomic writes, and the resume records.

Everything a batch job writes goes to a hidden `.<name>.partial-<pid>` file first and is
`os.replace`d into place, so a killed run leaves either the old file or the new one, never
half of one (`remove_partials` clears what a killed run left). The resume records live in
`<output>/.faceedit-batch/`:

    photos/<stem>.json   a photo whose outputs are all written (settings fingerprint, outputs)
    done/<rel>.json      one written output (settings fingerprint, its size in bytes)
    failed/<stem>.json   a photo that failed: the reasons, the stage, and the input's
                         fingerprint (`input_fingerprint`), so that a re-run skips it until
                         the file changes or the user asks to retry

The input fingerprint is the file's size and the SHA-256 of its bytes. Content, not
size + mtime: a `touch`, or a copy that keeps the bytes, is no change (the photo would
only fail again), while an edit that keeps the size and the mtime (tools that restore the
timestamp, a restore from a backup) is one. Only failed files are hashed, once per run
(a 12 MP JPEG in ~10 ms, less than one detection); a file that cannot be read to hash it
gets no record, so a permission problem is retried once it is fixed.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
STATE_DIR = ".faceedit-batch"
PARTIAL = ".partial-"


def list_photos(folder: Path, recursive: bool) -> list[Path]:
    """Image files (by suffix) in `folder`, sorted; hidden files and our state folder skipped."""
    if folder.is_file():
        return [folder]
    if not folder.is_dir():
        raise FileNotFoundError(f"input {folder}: no such folder")
    found = folder.rglob("*") if recursive else folder.iterdir()
    out = []
    for p in found:
        rel = p.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if p.suffix.lower() in PHOTO_SUFFIXES and (p.is_file() or p.is_symlink()):
            out.append(p)
    return sorted(out)


def output_stems(photos: list[Path], root: Path) -> dict[Path, Path]:
    """photo -> output stem relative to the output folder (`sub/<stem>`); clashing stems
    in one folder (a.jpg, a.png) get their suffix appended (`a_jpg`, `a_png`)."""
    rel = {p: (p.relative_to(root) if root.is_dir() else Path(p.name)) for p in photos}
    counts: dict[Path, int] = {}
    for r in rel.values():
        counts[r.with_suffix("")] = counts.get(r.with_suffix(""), 0) + 1
    out = {}
    for p, r in rel.items():
        stem = r.with_suffix("")
        out[p] = stem.with_name(f"{stem.name}_{r.suffix.lstrip('.').lower()}") if counts[stem] > 1 else stem
    return out


def save_atomic(path: Path, rgb: np.ndarray, quality: int = 95) -> None:
    """Write an image to a hidden partial file beside `path`, then rename it into place."""
    from faceedit_gui.faces.loading import save_image

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}{PARTIAL}{os.getpid()}{path.suffix}")
    try:
        save_image(tmp, rgb, quality=quality)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}{PARTIAL}{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}{PARTIAL}{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def remove_partials(folder: Path) -> int:
    """Delete partial files a killed run left under `folder`; returns how many."""
    n = 0
    if folder.is_dir():
        for p in folder.rglob(f".*{PARTIAL}*"):
            if p.is_file():
                p.unlink()
                n += 1
    return n


def read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def input_fingerprint(path: Path) -> dict[str, Any] | None:
    """{"bytes": size, "sha256": hex digest} of a file's content; None when it cannot be read."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
            size = f.tell()
    except OSError:
        return None
    return {"bytes": size, "sha256": digest.hexdigest()}


def input_unchanged(path: Path, recorded: Any) -> bool:
    """True when `path` still holds the bytes `recorded` (an `input_fingerprint`) describes."""
    if not isinstance(recorded, dict):
        return False
    try:
        if path.stat().st_size != recorded.get("bytes"):
            return False  # a different size needs no read
    except OSError:
        return False
    return input_fingerprint(path) == recorded
