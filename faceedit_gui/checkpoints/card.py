"""The card of a model bundle: what `model.json` holds, as frozen dataclasses.

A bundle is one folder (DESIGN §4):

    model.json            this card, written last by `save_bundle`
    <network>.safetensors one file per embedded network (`generator.safetensors`, ...)
    extras.safetensors    optional: tensors that belong to no network (style directions, ...)

`model.json`, format version 1 (every key below; `null`/absent optional keys omitted):

    {
      "format_version": 1,
      "name": "faceedit-default-128",
      "resolution": 128, "n_w": 12, "style_dim": 512,
      "networks": {
        "generator": {"type": "stylegan2_generator", "config": {...}, "file": "generator.safetensors",
                      "sha256": "<64 hex>", "dtype": "float16", "training_only": false,
                      "parameters": 6123456},
        "classifier": {..., "training_only": true},
        "arcface": {"type": "arcface_ir_se50", "config": {...}, "dtype": "float32",
                    "external": {"path": "/home/me/model_ir_se50.pth", "sha256": "<64 hex>",
                                 "key": null, "new_prefix": "", "extra_keys": {}}, ...}
      },
      "extras": {"file": "extras.safetensors", "sha256": "<64 hex>", "dtype": "float32"},
      "attributes": [{"name": "age", "label": "Age", "min": -2.0, "max": 2.0, "default": 0.0,
                      "description": ""}, ...],
      "extra_directions": [{"name": "pose", "label": "Pose", "min": -3.0, "max": 3.0, "default": 0.0,
                            "file": "extras.safetensors", "key": "pose", "description": ""}],
      "framing": {"kind": "template", "size": 128, ...},   # defined by faceedit_gui.faces
      "provenance": {"data": ..., "code_version": ..., "created": ..., "source_checkpoints": [...]},
      "recipe": {...}, "metrics": {...}, "notes": ""
    }

Parsing is strict: a missing required field, an unknown field or a wrongly typed value is
a `BundleFormatError` naming the field. `format_version` is read first, so a newer card
fails with "this build reads format_version 1" rather than a list of odd fields.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any, TypeVar

from faceedit_gui.checkpoints.safe_load import CheckpointError

FORMAT_VERSION = 1
SUPPORTED_FORMAT_VERSIONS: tuple[int, ...] = (1,)
CARD_FILE = "model.json"
EXTRAS_FILE = "extras.safetensors"
STORAGE_DTYPES: tuple[str, ...] = ("float32", "float16", "bfloat16")

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FILE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_SHA256 = re.compile(r"[0-9a-f]{64}")

T = TypeVar("T")


class BundleError(CheckpointError):
    """A model bundle cannot be saved or used; the message names the folder, file and reason."""


class BundleFormatError(BundleError):
    """`model.json` is missing, unreadable, malformed, or of a format version this build cannot read."""


class BundleIntegrityError(BundleError):
    """A file the card lists is missing, or its sha256 differs from the card's."""


class BundleMismatchError(BundleError):
    """A weights file does not fit its network: missing/unexpected keys or a wrong tensor shape."""


@dataclass(frozen=True, kw_only=True)
class ExternalRef:
    """An official checkpoint used in place of embedded weights (loaded with weights_only=True)."""

    path: str  # absolute, or relative to the bundle folder; `~` is expanded
    sha256: str = ""  # 64 lowercase hex; "" only before `save_bundle` fills it in
    key: str | None = None  # "/"-separated path to the state dict inside the file, e.g. "g_ema"
    prefix: str | None = None  # keep only keys with this prefix, e.g. "decoder." ...
    new_prefix: str = ""  # ... and put this in its place ("" strips it; "encoder." keeps e4e's)
    extra_keys: dict[str, str] = field(default_factory=dict)  # state-dict key -> "/"-path in the file

    def __post_init__(self) -> None:
        if not self.path:
            raise ValueError("external reference: empty path")
        if self.sha256 and not _SHA256.fullmatch(self.sha256):
            raise ValueError(f"external reference {self.path}: sha256 must be 64 lowercase hex digits")


@dataclass(frozen=True, kw_only=True)
class NetworkEntry:
    """One network of the bundle: how to rebuild it and where its weights are."""

    type: str  # a name from faceedit_gui.networks.registry
    config: dict[str, Any]  # config_to_dict(network.config)
    file: str | None = None  # "<name>.safetensors" inside the bundle folder ...
    sha256: str | None = None  # ... and its sha256
    external: ExternalRef | None = None  # or an official checkpoint outside the bundle
    dtype: str = "float32"  # storage dtype of floating tensors (integer buffers keep theirs)
    training_only: bool = False  # classifier, identity network: not loaded for editing
    parameters: int = 0  # number of parameters, for the card

    def __post_init__(self) -> None:
        if not self.type:
            raise ValueError("network entry: empty type")
        if (self.file is None) == (self.external is None):
            raise ValueError("network entry: give exactly one of 'file' and 'external'")
        if self.file is not None:
            _check_file_name(self.file)
            if self.sha256 is None or not _SHA256.fullmatch(self.sha256):
                raise ValueError(f"network entry {self.file}: sha256 must be 64 lowercase hex digits")
        if self.external is not None and not self.external.sha256:
            raise ValueError(f"network entry {self.external.path}: an external reference needs its sha256")
        if self.dtype not in STORAGE_DTYPES:
            raise ValueError(f"network entry: dtype {self.dtype!r} is not one of {list(STORAGE_DTYPES)}")


@dataclass(frozen=True, kw_only=True)
class FileEntry:
    """A weights file of the bundle that belongs to no network."""

    file: str
    sha256: str
    dtype: str = "float32"

    def __post_init__(self) -> None:
        _check_file_name(self.file)
        if not _SHA256.fullmatch(self.sha256):
            raise ValueError(f"{self.file}: sha256 must be 64 lowercase hex digits")


@dataclass(frozen=True, kw_only=True)
class AttributeSpec:
    """One trained attribute slider: its index in the editor is its position in the card."""

    name: str  # identifier, e.g. "age"
    label: str = ""  # shown in the GUI; defaults to the name, capitalised
    min: float = -2.0  # slider range; training uses [-1, 1], the GUI may extrapolate
    max: float = 2.0
    default: float = 0.0
    description: str = ""

    def __post_init__(self) -> None:
        _check_slider(self.name, self.min, self.max, self.default)
        if not self.label:
            object.__setattr__(self, "label", self.name.replace("_", " ").capitalize())


@dataclass(frozen=True, kw_only=True)
class DirectionSpec:
    """An extra style-only direction (e.g. unsupervised pose): `w + s * vector`, no content branch."""

    name: str
    label: str = ""
    min: float = -3.0
    max: float = 3.0
    default: float = 0.0
    file: str = EXTRAS_FILE  # the weights file holding the vector ...
    key: str = ""  # ... and its tensor name there (defaults to `name`); shape [n_w, style_dim] or [style_dim]
    description: str = ""

    def __post_init__(self) -> None:
        _check_slider(self.name, self.min, self.max, self.default)
        _check_file_name(self.file)
        if not self.label:
            object.__setattr__(self, "label", self.name.replace("_", " ").capitalize())
        if not self.key:
            object.__setattr__(self, "key", self.name)


@dataclass(frozen=True, kw_only=True)
class BundleCard:
    """Everything `model.json` says about a bundle. `save_bundle` fills `networks` and `extras`."""

    format_version: int = FORMAT_VERSION
    name: str
    resolution: int  # output size R of the generator
    n_w: int  # number of style vectors, 2*log2(R) - 2
    style_dim: int = 512
    networks: dict[str, NetworkEntry] = field(default_factory=dict)
    extras: FileEntry | None = None
    attributes: tuple[AttributeSpec, ...] = ()
    extra_directions: tuple[DirectionSpec, ...] = ()
    framing: dict[str, Any] = field(default_factory=dict)  # kind 'ffhq' | 'template', size, landmarks
    provenance: dict[str, Any] = field(default_factory=dict)  # data, code_version, created, source_checkpoints
    recipe: dict[str, Any] = field(default_factory=dict)  # training settings
    metrics: dict[str, Any] = field(default_factory=dict)  # evaluation figures
    notes: str = ""

    def __post_init__(self) -> None:
        if self.format_version not in SUPPORTED_FORMAT_VERSIONS:
            raise ValueError(_version_message(self.format_version))
        if not self.name:
            raise ValueError("name: must not be empty")
        res = self.resolution
        if res < 4 or res & (res - 1):
            raise ValueError(f"resolution: {res} is not a power of two >= 4")
        expected_n_w = 2 * int(math.log2(res)) - 2
        if self.n_w != expected_n_w:
            raise ValueError(f"n_w: {self.n_w} does not fit resolution {res} (expected {expected_n_w})")
        if self.style_dim <= 0:
            raise ValueError(f"style_dim: {self.style_dim} must be positive")
        for name in self.networks:
            if not is_valid_name(name):
                raise ValueError(f"networks: {name!r} is not a valid network name (letters, digits, _)")
        files = [e.file for e in self.networks.values() if e.file is not None]
        if self.extras is not None:
            files.append(self.extras.file)
        if len(files) != len(set(files)):
            raise ValueError(f"networks: two entries share a weights file ({sorted(files)})")
        sliders = [a.name for a in self.attributes] + [d.name for d in self.extra_directions]
        duplicates = sorted({n for n in sliders if sliders.count(n) > 1})
        if duplicates:
            raise ValueError(f"attributes/extra_directions: duplicate name(s) {duplicates}")
        if self.networks or self.extras is not None:  # a finished card: directions must point at its files
            for d in self.extra_directions:
                if d.file not in files:
                    raise ValueError(f"extra_directions: {d.name!r} lives in {d.file}, which the card does not list")

    @property
    def attribute_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.attributes)

    def files(self) -> dict[str, str]:
        """Every weights file inside the bundle folder -> its expected sha256."""
        out = {e.file: e.sha256 for e in self.networks.values() if e.file is not None and e.sha256}
        if self.extras is not None:
            out[self.extras.file] = self.extras.sha256
        return out


def is_valid_name(name: str) -> bool:
    """Network, attribute and direction names: letters, digits and _, not starting with a digit."""
    return bool(_NAME.fullmatch(name))


def card_to_dict(card: BundleCard) -> dict[str, Any]:
    """The card as JSON types, keys in field order, `None` fields left out."""
    return _to_json(card)


def card_from_dict(data: Any) -> BundleCard:
    """Parse and validate a `model.json` object. Raises `BundleFormatError` naming the field."""
    if not isinstance(data, dict):
        raise BundleFormatError(f"{CARD_FILE}: expected a JSON object, got {type(data).__name__}")
    if "format_version" not in data:
        raise BundleFormatError(f"{CARD_FILE}: missing field 'format_version'")
    version = data["format_version"]
    if not isinstance(version, int) or isinstance(version, bool):
        raise BundleFormatError(f"{CARD_FILE}: format_version must be an integer, got {version!r}")
    if version not in SUPPORTED_FORMAT_VERSIONS:
        raise BundleFormatError(f"{CARD_FILE}: {_version_message(version)}")
    return _from_json(BundleCard, data, CARD_FILE)


def _version_message(version: Any) -> str:
    readable = ", ".join(str(v) for v in SUPPORTED_FORMAT_VERSIONS)
    return (
        f"format_version {version} is not supported; this build of faceedit reads format_version {readable} "
        "(a newer faceedit wrote this bundle, or the file is damaged)"
    )


def _check_file_name(name: str) -> None:
    """A bundle file is a plain name inside the folder: no separators, no `..`."""
    if not _FILE.fullmatch(name) or name in (".", ".."):
        raise ValueError(f"file {name!r}: must be a plain file name inside the bundle folder")


def _check_slider(name: str, lo: float, hi: float, default: float) -> None:
    if not _NAME.fullmatch(name):
        raise ValueError(f"slider name {name!r}: use letters, digits and _ (not starting with a digit)")
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"slider {name!r}: range [{lo}, {hi}] must be finite with min < max")
    if not lo <= default <= hi:
        raise ValueError(f"slider {name!r}: default {default} lies outside [{lo}, {hi}]")


def _to_json(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {}
        for f in dataclasses.fields(value):
            v = getattr(value, f.name)
            if v is not None:
                out[f.name] = _to_json(v)
        return out
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_json(v) for k, v in value.items()}
    return value


def _from_json(cls: type[T], data: Any, where: str) -> T:
    """Build dataclass `cls` from JSON, checking unknown, missing and mistyped fields."""
    if not isinstance(data, dict):
        raise BundleFormatError(f"{where}: expected a JSON object, got {type(data).__name__}")
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    names = {f.name for f in fields}
    unknown = sorted(set(data) - names)
    if unknown:
        raise BundleFormatError(f"{where}: unknown field(s) {', '.join(map(repr, unknown))}")
    required = [
        f.name
        for f in fields
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING  # type: ignore[misc]
    ]
    missing = [n for n in required if n not in data]
    if missing:
        raise BundleFormatError(f"{where}: missing field(s) {', '.join(map(repr, missing))}")
    sep = ": " if where == CARD_FILE else "."
    kwargs = {k: _convert(hints[k], v, f"{where}{sep}{k}") for k, v in data.items()}
    try:
        return cls(**kwargs)
    except ValueError as exc:
        raise BundleFormatError(f"{where}: {exc}") from None


def _convert(hint: Any, value: Any, where: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(inner, value, where)
    if dataclasses.is_dataclass(hint):
        return _from_json(hint, value, where)
    if origin is tuple:
        _expect(isinstance(value, list), "a list", value, where)
        return tuple(_convert(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        _expect(isinstance(value, dict), "an object", value, where)
        return {k: _convert(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if hint is bool:
        _expect(isinstance(value, bool), "true or false", value, where)
    elif hint is int:
        _expect(isinstance(value, int) and not isinstance(value, bool), "an integer", value, where)
    elif hint is float:
        _expect(isinstance(value, (int, float)) and not isinstance(value, bool), "a number", value, where)
        return float(value)
    elif hint is str:
        _expect(isinstance(value, str), "a string", value, where)
    return value


def _expect(ok: bool, what: str, value: Any, where: str) -> None:
    if not ok:
        raise BundleFormatError(f"{where}: expected {what}, got {_json_type(value)} {value!r:.60}")


def _json_type(value: Any) -> str:
    """JSON's name for a parsed value's type, for error messages."""
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
