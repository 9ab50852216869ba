"""Slider presets as JSON: `{"format": 1, "sliders": {"age": 0.8, "smile": -0.5}}`.

No Qt here. Loading checks everything and raises `PresetError` with a message for the
user: unreadable file, bad JSON, wrong format version, unknown slider names (against the
loaded model), values that are not finite numbers.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Iterable, Mapping

FORMAT = 1


class PresetError(ValueError):
    pass


def preset_dict(values: Mapping[str, float]) -> dict:
    return {"format": FORMAT, "sliders": {k: round(float(v), 4) for k, v in values.items()}}


def save_preset(path: str | os.PathLike, values: Mapping[str, float]) -> Path:
    path = Path(path)
    text = json.dumps(preset_dict(values), indent=2, sort_keys=True) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"))
    return path


def parse_preset(data: object, known: Iterable[str] | None = None, source: str = "preset") -> dict[str, float]:
    if not isinstance(data, dict):
        raise PresetError(f"{source}: expected a JSON object with 'format' and 'sliders'")
    if data.get("format") != FORMAT:
        raise PresetError(f"{source}: format {data.get('format')!r} is not supported (expected {FORMAT})")
    sliders = data.get("sliders")
    if not isinstance(sliders, dict):
        raise PresetError(f"{source}: 'sliders' must be an object of name: number")
    out: dict[str, float] = {}
    for name, value in sliders.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise PresetError(f"{source}: slider {name!r} has value {value!r}, which is not a finite number")
        out[str(name)] = float(value)
    if known is not None:
        known = list(known)
        unknown = sorted(set(out) - set(known))
        if unknown:
            raise PresetError(f"{source}: unknown slider(s) {', '.join(unknown)}; this model has {', '.join(known)}")
    return out


def load_preset(path: str | os.PathLike, known: Iterable[str] | None = None) -> dict[str, float]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PresetError(f"{path}: cannot be read ({exc})") from None
    try:
        data = json.loads(text)  # NaN / Infinity parse as floats and are rejected by parse_preset
    except json.JSONDecodeError as exc:
        raise PresetError(f"{path}: not valid JSON ({exc})") from None
    return parse_preset(data, known, str(path))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename over it."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
