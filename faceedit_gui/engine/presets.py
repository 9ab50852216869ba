"""Slider presets and `NAME=VALUE` settings: read, merge and check them.

A preset file is JSON: `{"format": 1, "sliders": {"age": 0.8, "smile": -0.5}}`. Values are
finite numbers; names must be sliders of the model (attributes or extra directions such as
`pose`). Every problem is a `PresetError` whose message names the file or setting.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

PRESET_FORMAT = 1


class PresetError(ValueError):
    """A preset or a `--set` is malformed, names an unknown slider, or holds a non-finite value."""


def _number(name: str, value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PresetError(f"{where}: slider {name!r} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise PresetError(f"{where}: slider {name!r} is not a finite number ({value!r})")
    return v


def read_preset(path: str | os.PathLike) -> dict[str, float]:
    """The sliders of a preset file (format 1)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))  # NaN/Infinity parse here and are refused below
    except FileNotFoundError:
        raise PresetError(f"preset {path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise PresetError(f"preset {path}: not a JSON preset ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("sliders"), dict):
        raise PresetError(f'preset {path}: expected {{"format": {PRESET_FORMAT}, "sliders": {{name: value}}}}')
    if data.get("format") != PRESET_FORMAT:
        raise PresetError(f"preset {path}: format {data.get('format')!r} is not supported (expected {PRESET_FORMAT})")
    return {str(k): _number(str(k), v, f"preset {path}") for k, v in data["sliders"].items()}


def write_preset(path: str | os.PathLike, sliders: Mapping[str, float]) -> Path:
    """Write a format-1 preset (atomically)."""
    path = Path(path)
    clean = {k: _number(k, v, f"preset {path}") for k, v in sliders.items()}
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    tmp.write_text(json.dumps({"format": PRESET_FORMAT, "sliders": clean}, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def parse_settings(items: Iterable[str]) -> dict[str, float]:
    """`["age=0.8", "smile=-0.5"]` -> {"age": 0.8, "smile": -0.5}."""
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise PresetError(f"--set {item!r}: expected NAME=VALUE, e.g. age=0.8")
        try:
            number = float(value)
        except ValueError:
            raise PresetError(f"--set {item!r}: {value!r} is not a number") from None
        out[name] = _number(name, number, "--set")
    return out


def check_sliders(sliders: Mapping[str, float], known: Iterable[str], where: str = "sliders") -> dict[str, float]:
    """The sliders, checked against the model's names; unknown names or bad values raise."""
    known = list(known)
    unknown = sorted(set(sliders) - set(known))
    if unknown:
        raise PresetError(f"{where}: unknown slider(s) {', '.join(unknown)}; this model has: {', '.join(known)}")
    return {k: _number(k, v, where) for k, v in sliders.items()}
