"""Model bundles: save, load and verify the one folder an edit session needs (DESIGN §4).

    card = BundleCard(name="tiny", resolution=128, n_w=12, attributes=(AttributeSpec(name="age"),))
    save_bundle("models/default", card, {"generator": g, "encoder": e, "classifier": c},
                training_only={"classifier"}, extra_tensors={"pose": pose_direction})
    bundle = load_bundle("models/default")          # generator + encoder, eval mode, float32
    bundle["generator"], bundle.directions["pose"], bundle.card.attributes

The folder's layout and the `model.json` schema are documented in `card.py`. Weights are
safetensors, one file per network; floating tensors are stored as float16 unless the
caller asks otherwise per network, integer buffers as they are. A network may instead
reference an official `.pt` checkpoint by path and sha256 (`ExternalRef`); such files are
opened only through `load_torch_checkpoint` (weights_only=True).

`save_bundle` checks everything it can before writing, removes an old `model.json` first,
writes each file to a temporary name and renames it, and writes `model.json` last: a
folder whose save was interrupted has no `model.json` and never loads.

`load_bundle` is eager: every selected network is built, checked and loaded when the
bundle opens, so a bad file fails at once with its name rather than mid-session.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import torch
from torch import nn

import faceedit_gui
from faceedit_gui.checkpoints.card import (
    CARD_FILE,
    EXTRAS_FILE,
    FORMAT_VERSION,
    STORAGE_DTYPES,
    SUPPORTED_FORMAT_VERSIONS,
    AttributeSpec,
    BundleCard,
    BundleError,
    BundleFormatError,
    BundleIntegrityError,
    BundleMismatchError,
    DirectionSpec,
    ExternalRef,
    FileEntry,
    NetworkEntry,
    card_from_dict,
    card_to_dict,
    is_valid_name,
)
from faceedit_gui.checkpoints.bundle_files import (
    check_hash,
    check_state_shapes,
    external_path,
    external_ref,
    read_external,
    read_safetensors,
    read_tensor,
    safetensors_shapes,
    sha256_file,
    storage_tensors,
    write_json_atomic,
    write_safetensors_atomic,
)
from faceedit_gui.checkpoints.safe_load import CheckpointError
from faceedit_gui.config import config_from_dict, config_to_dict
from faceedit_gui.networks.registry import UnknownNetworkTypeError, build_network, network_class, network_type_of

__all__ = [
    "CARD_FILE", "EXTRAS_FILE", "FORMAT_VERSION", "SUPPORTED_FORMAT_VERSIONS",
    "AttributeSpec", "Bundle", "BundleCard", "BundleError", "BundleFormatError", "BundleIntegrityError",
    "BundleMismatchError", "DirectionSpec", "ExternalRef", "FileEntry", "NetworkEntry",
    "default_bundle_path", "external_ref", "load_bundle", "read_card", "save_bundle", "sha256_file",
    "verify_bundle",
]  # fmt: skip

_TORCH_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
_PENDING = "0" * 64  # placeholder sha256 while a save is being checked


@dataclass
class Bundle:
    """An opened bundle: its card and its networks, built, loaded and in eval mode."""

    folder: Path
    card: BundleCard
    networks: dict[str, nn.Module]
    directions: dict[str, torch.Tensor] = field(default_factory=dict)  # name -> [n_w, style_dim]
    extra_tensors: dict[str, torch.Tensor] = field(default_factory=dict)  # all of extras.safetensors

    def __getitem__(self, name: str) -> nn.Module:
        if name in self.networks:
            return self.networks[name]
        entry = self.card.networks.get(name)
        if entry is not None and entry.training_only:
            raise KeyError(
                f"bundle {self.folder}: network {name!r} is training-only and was not loaded "
                "(load_bundle(..., include_training_only=True) loads it)"
            )
        raise KeyError(f"bundle {self.folder}: no network {name!r} (loaded: {', '.join(self.networks) or 'none'})")

    def __contains__(self, name: object) -> bool:
        return name in self.networks

    @property
    def attributes(self) -> tuple[AttributeSpec, ...]:
        return self.card.attributes


def default_bundle_path() -> Path:
    """`models/default` beside the package (the repository's bundled default model)."""
    return Path(faceedit_gui.__file__).resolve().parent.parent / "models" / "default"


# --------------------------------------------------------------------------- reading


def read_card(folder: str | os.PathLike[str]) -> BundleCard:
    """Read and validate `model.json` alone (no weights are opened)."""
    folder = Path(folder)
    if not folder.exists():
        raise BundleFormatError(f"bundle {folder}: no such folder")
    if not folder.is_dir():
        raise BundleFormatError(f"bundle {folder}: not a folder")
    path = folder / CARD_FILE
    if not path.is_file():
        raise BundleFormatError(
            f"bundle {folder}: {CARD_FILE} is missing (not a model bundle, or its save did not finish)"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BundleFormatError(f"bundle {folder}: {CARD_FILE} is not valid JSON ({exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BundleFormatError(f"bundle {folder}: {CARD_FILE} cannot be read ({exc})") from None
    try:
        return card_from_dict(data)
    except BundleFormatError as exc:
        raise BundleFormatError(f"bundle {folder}: {exc}") from None


def load_bundle(
    folder: str | os.PathLike[str],
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    include_training_only: bool = False,
    networks: Iterable[str] | None = None,
    check_hashes: bool = True,
) -> Bundle:
    """Open a bundle: check, build and load its networks (eagerly), in eval mode.

    `networks` picks names to load (a training-only name given here is loaded); otherwise
    every network except the training-only ones unless `include_training_only`. Floating
    weights come back as `dtype` on `device`. Raises a `BundleError` subclass (or
    `UnsafeCheckpointError` for an external checkpoint that carries code) naming the
    folder, the file and the reason.
    """
    folder = Path(folder)
    card = read_card(folder)
    if isinstance(networks, str):
        networks = [networks]
    if networks is None:
        names = [n for n, e in card.networks.items() if include_training_only or not e.training_only]
    else:
        names = list(networks)
        unknown = [n for n in names if n not in card.networks]
        if unknown:
            raise BundleError(
                f"bundle {folder}: no network(s) {unknown} (the card lists: {', '.join(card.networks) or 'none'})"
            )
    loaded = {}
    for name in names:
        net = _load_network(folder, name, card.networks[name], check_hashes)
        loaded[name] = net.to(device=device, dtype=dtype).eval()
    extras: dict[str, torch.Tensor] = {}
    if card.extras is not None:
        extras = read_safetensors(folder, card.extras.file, card.extras.sha256, check_hashes)
    checked = {card.networks[n].file for n in names} | {card.extras.file if card.extras else None}
    directions = {}
    for d in card.extra_directions:
        if card.extras is not None and d.file == card.extras.file:
            vector = extras.get(d.key)
        else:
            if check_hashes and d.file not in checked:
                check_hash(folder, d.file, card.files()[d.file])
                checked.add(d.file)
            vector = read_tensor(folder, d.file, d.key)
        directions[d.name] = _direction_vector(folder, card, d, vector).to(device=device, dtype=dtype)
    extras = {k: v.to(device, dtype) if v.is_floating_point() else v.to(device) for k, v in extras.items()}
    return Bundle(folder=folder, card=card, networks=loaded, directions=directions, extra_tensors=extras)


def verify_bundle(folder: str | os.PathLike[str], *, check_shapes: bool = True) -> BundleCard:
    """Check every file of a bundle, training-only and external ones included.

    Hashes every file; with `check_shapes`, compares the tensor shapes in each weights
    file with the network its config builds (on the meta device, so nothing is
    allocated) without loading the weights. Raises one `BundleError` listing every
    problem found, or returns the card.
    """
    folder = Path(folder)
    card = read_card(folder)
    problems: list[str] = []
    for name, entry in card.networks.items():
        try:
            if entry.external is not None:
                state = read_external(folder, name, entry.external, verify=True)
                shapes = {k: tuple(v.shape) for k, v in state.items()}
            else:
                check_hash(folder, entry.file, entry.sha256)  # type: ignore[arg-type]
                shapes = safetensors_shapes(folder, entry.file)  # type: ignore[arg-type]
            if check_shapes:
                check_state_shapes(folder, _file_label(entry), name, _expected_shapes(folder, name, entry), shapes)
        except CheckpointError as exc:
            problems.append(str(exc))
    if card.extras is not None:
        try:
            check_hash(folder, card.extras.file, card.extras.sha256)
        except BundleError as exc:
            problems.append(str(exc))
    for d in card.extra_directions:
        try:
            _direction_vector(folder, card, d, read_tensor(folder, d.file, d.key))
        except BundleError as exc:
            problems.append(str(exc))
    if problems:
        lines = [p.removeprefix(f"bundle {folder}: ") for p in problems]
        raise BundleError(f"bundle {folder}: {len(problems)} problem(s):\n  " + "\n  ".join(lines))
    return card


# --------------------------------------------------------------------------- writing


def save_bundle(
    folder: str | os.PathLike[str],
    card: BundleCard,
    networks: Mapping[str, nn.Module],
    *,
    training_only: Iterable[str] | None = None,
    dtype: str | Mapping[str, str] = "float16",
    extra_tensors: Mapping[str, torch.Tensor] | None = None,
    external: Mapping[str, ExternalRef] | None = None,
    network_types: Mapping[str, str] | None = None,
    overwrite: bool = False,
) -> BundleCard:
    """Write `networks` and `card` as a bundle in `folder`; returns the card as written.

    card           everything but `networks`/`extras`, which are filled in here; provenance
                   gets `created` and `code_version` unless given
    training_only  names marked training-only (default: those the card already marks)
    dtype          storage dtype of floating tensors: one name for all networks, or a dict
                   name -> dtype with "float16" for the rest ("float32" for exact weights).
                   A tensor with values beyond float16's range stays float32.
    extra_tensors  tensors of no network (e.g. direction vectors), stored float32 in extras.safetensors
    external       name -> `ExternalRef`: that network's weights stay in an official
                   checkpoint; its keys and shapes are checked against the module now
    network_types  name -> registry type, where `network_type_of` cannot tell
    """
    folder = Path(folder)
    card_path = folder / CARD_FILE
    if card_path.exists() and not overwrite:
        raise BundleError(f"bundle {folder}: already holds a bundle ({CARD_FILE}); pass overwrite=True to replace it")
    invalid = [n for n in networks if not is_valid_name(n)]
    if invalid:
        raise BundleError(f"bundle {folder}: {invalid[0]!r} is not a valid network name (letters, digits, _)")
    external = dict(external or {})
    extra_tensors = dict(extra_tensors or {})
    if training_only is None:
        training_only = {n for n, e in card.networks.items() if e.training_only}
    training_only = set(training_only)
    for label, names in (("training_only", training_only), ("external", set(external))):
        stray = sorted(names - set(networks))
        if stray:
            raise BundleError(f"bundle {folder}: {label} names {stray} are not among the networks {list(networks)}")
    dtypes = _storage_dtypes(folder, networks, dtype)

    # Everything is checked before the first byte is written: the card is built with
    # placeholder hashes first, so that its own validation runs now.
    entries: dict[str, NetworkEntry] = {}
    states: dict[str, dict[str, torch.Tensor]] = {}
    for name, net in networks.items():
        type_name = _network_type(folder, name, net, network_types)
        common: dict[str, Any] = dict(
            type=type_name,
            config=_network_config(folder, name, net, type_name),
            training_only=name in training_only,
            parameters=sum(p.numel() for p in net.parameters()),
        )
        states[name] = net.state_dict()
        if name in external:
            ref = _prepare_external(folder, name, external[name], states[name])
            entries[name] = NetworkEntry(external=ref, dtype=_external_dtype(states[name]), **common)
        else:
            entries[name] = NetworkEntry(file=f"{name}.safetensors", sha256=_PENDING, dtype=dtypes[name], **common)
    extras = FileEntry(file=EXTRAS_FILE, sha256=_PENDING, dtype="float32") if extra_tensors else None
    _check_directions(folder, card, entries, states, extra_tensors)
    try:
        final = dataclasses.replace(
            card, format_version=FORMAT_VERSION, networks=entries, extras=extras,
            provenance=_fill_provenance(card.provenance),
        )  # fmt: skip
        json.dumps(card_to_dict(final), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise BundleError(f"bundle {folder}: the card cannot be written ({exc})") from None

    folder.mkdir(parents=True, exist_ok=True)
    if card_path.exists():
        card_path.unlink()  # from here until the new card lands the folder is not a bundle
    for name, entry in entries.items():
        if entry.file is None:
            continue
        tensors = storage_tensors(states[name], _TORCH_DTYPES[entry.dtype])
        meta = {"faceedit.format_version": str(FORMAT_VERSION), "faceedit.network": name, "faceedit.type": entry.type}
        digest = write_safetensors_atomic(folder / entry.file, tensors, meta)
        entries[name] = dataclasses.replace(entry, sha256=digest)
    if extras is not None:
        tensors = {k: v.detach().to("cpu", torch.float32 if v.is_floating_point() else v.dtype).contiguous().clone()
                   for k, v in extra_tensors.items()}  # fmt: skip
        meta = {"faceedit.format_version": str(FORMAT_VERSION)}
        extras = dataclasses.replace(extras, sha256=write_safetensors_atomic(folder / extras.file, tensors, meta))
    final = dataclasses.replace(final, networks=entries, extras=extras)
    write_json_atomic(card_path, card_to_dict(final))
    return final


def _storage_dtypes(
    folder: Path, networks: Mapping[str, nn.Module], dtype: str | Mapping[str, str]
) -> dict[str, str]:
    """Network name -> storage dtype name, checked."""
    if isinstance(dtype, str):
        chosen = {n: dtype for n in networks}
    else:
        chosen = {n: dtype.get(n, "float16") for n in networks}
        stray = sorted(set(dtype) - set(networks))
        if stray:
            raise BundleError(f"bundle {folder}: dtype names {stray} are not among the networks {list(networks)}")
    for name, d in chosen.items():
        if d not in STORAGE_DTYPES:
            raise BundleError(f"bundle {folder}: network {name!r}: dtype {d!r} is not one of {list(STORAGE_DTYPES)}")
    return chosen


def _network_type(folder: Path, name: str, net: nn.Module, network_types: Mapping[str, str] | None) -> str:
    try:
        if network_types and name in network_types:
            network_class(network_types[name])  # the name must resolve
            return network_types[name]
        return network_type_of(net)
    except (UnknownNetworkTypeError, ImportError, TypeError) as exc:
        raise BundleError(f"bundle {folder}: network {name!r}: {exc}") from None


def _network_config(folder: Path, name: str, net: nn.Module, type_name: str) -> dict[str, Any]:
    """The network's config as JSON, checked to rebuild the same config."""
    config = getattr(net, "config", None)
    if config is None or not dataclasses.is_dataclass(config):
        raise BundleError(f"bundle {folder}: network {name!r} ({type(net).__name__}) has no dataclass `config`")
    data = config_to_dict(config)
    try:
        json.dumps(data, allow_nan=False)
        same = config_from_dict(network_class(type_name).config_class, json.loads(json.dumps(data))) == config
    except (TypeError, ValueError) as exc:
        raise BundleError(f"bundle {folder}: network {name!r}: config does not survive JSON ({exc})") from None
    if not same:
        raise BundleError(f"bundle {folder}: network {name!r}: config does not rebuild from its JSON form: {data}")
    return data


def _prepare_external(folder: Path, name: str, ref: ExternalRef, state: Mapping[str, torch.Tensor]) -> ExternalRef:
    path = external_path(folder, ref)
    if not path.is_file():
        raise BundleIntegrityError(f"bundle {folder}: network {name!r}: external checkpoint {path} does not exist")
    if not ref.sha256:
        ref = dataclasses.replace(ref, sha256=sha256_file(path))
    loaded = read_external(folder, name, ref, verify=True)
    expected = {k: tuple(v.shape) for k, v in state.items()}
    check_state_shapes(folder, str(path), name, expected, {k: tuple(v.shape) for k, v in loaded.items()})
    return ref


def _check_directions(
    folder: Path,
    card: BundleCard,
    entries: Mapping[str, NetworkEntry],
    states: Mapping[str, Mapping[str, torch.Tensor]],
    extras: Mapping[str, torch.Tensor],
) -> None:
    """Every extra direction names a tensor this save writes, of shape [n_w, style_dim] or [style_dim]."""
    for d in card.extra_directions:
        if d.file == EXTRAS_FILE:
            vector = extras.get(d.key)
        else:
            owner = [n for n, e in entries.items() if e.file == d.file]
            if not owner:
                raise BundleError(
                    f"bundle {folder}: direction {d.name!r} names {d.file}, which this save does not write"
                )
            vector = states[owner[0]].get(d.key)
        _direction_vector(folder, card, d, vector)


def _direction_vector(folder: Path, card: BundleCard, d: DirectionSpec, vector: torch.Tensor | None) -> torch.Tensor:
    """A direction's tensor as [n_w, style_dim]; a [style_dim] vector applies to every w."""
    if vector is None:
        raise BundleMismatchError(f"bundle {folder}: {d.file}: no tensor {d.key!r} for direction {d.name!r}")
    shape = tuple(vector.shape)
    if shape == (card.style_dim,):
        return vector.detach().float().expand(card.n_w, -1).clone()
    if shape != (card.n_w, card.style_dim):
        raise BundleMismatchError(
            f"bundle {folder}: {d.file}: direction {d.name!r} ({d.key!r}) has shape {list(shape)}, "
            f"expected [{card.n_w}, {card.style_dim}] or [{card.style_dim}]"
        )
    return vector.detach().float()


def _external_dtype(state: Mapping[str, torch.Tensor]) -> str:
    floats = {str(v.dtype).removeprefix("torch.") for v in state.values() if v.is_floating_point()}
    return floats.pop() if len(floats) == 1 and floats <= set(STORAGE_DTYPES) else "float32"


def _fill_provenance(provenance: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(provenance)
    out.setdefault("created", _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    out.setdefault("code_version", _code_version())
    return out


def _code_version() -> str:
    """`faceedit <version>`, plus the git commit when the package runs from a checkout."""
    version = f"faceedit {faceedit_gui.__version__}"
    root = Path(faceedit_gui.__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return version
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return version
    commit = result.stdout.strip()
    return f"{version} (git {commit})" if result.returncode == 0 and commit else version


# --------------------------------------------------------------------------- loading pieces


def _load_network(folder: Path, name: str, entry: NetworkEntry, check_hashes: bool) -> nn.Module:
    net = _build(folder, name, entry)
    if entry.external is not None:
        state = read_external(folder, name, entry.external, verify=check_hashes)
    else:
        state = read_safetensors(folder, entry.file, entry.sha256, check_hashes)  # type: ignore[arg-type]
    expected = net.state_dict()
    check_state_shapes(
        folder, _file_label(entry), name,
        {k: tuple(v.shape) for k, v in expected.items()}, {k: tuple(v.shape) for k, v in state.items()},
    )  # fmt: skip
    state = {k: v.to(expected[k].dtype) for k, v in state.items()}
    net.load_state_dict(state, strict=True)
    return net


def _build(folder: Path, name: str, entry: NetworkEntry) -> nn.Module:
    try:
        return build_network(entry.type, entry.config)
    except (UnknownNetworkTypeError, ImportError, TypeError, ValueError) as exc:
        raise BundleError(f"bundle {folder}: network {name!r}: {exc}") from None


def _expected_shapes(folder: Path, name: str, entry: NetworkEntry) -> dict[str, tuple[int, ...]]:
    """State-dict shapes of the network the entry builds, on the meta device when it allows."""
    try:
        with torch.device("meta"):
            net = _build(folder, name, entry)
    except BundleError:
        raise
    except Exception:  # noqa: BLE001 - an op without a meta kernel: build it for real
        net = _build(folder, name, entry)
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def _file_label(entry: NetworkEntry) -> str:
    if entry.file is not None:
        return entry.file
    return f"external checkpoint {entry.external.path}"  # type: ignore[union-attr]

