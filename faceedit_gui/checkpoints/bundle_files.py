"""The files of a model bundle: hashing, atomic writes, reads, external checkpoints, key checks.

Pieces shared by `bundle.py`'s save, load and verify. Every error names the bundle folder,
the file and the reason; an external `.pt` is opened only through `load_torch_checkpoint`
(weights_only=True), after its sha256 is checked.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from faceedit_gui.checkpoints.card import (
    CARD_FILE,
    BundleIntegrityError,
    BundleMismatchError,
    ExternalRef,
)
from faceedit_gui.checkpoints.keys import compare_shapes
from faceedit_gui.checkpoints.safe_load import CheckpointError, UnsafeCheckpointError, load_torch_checkpoint
from faceedit_gui.hashing import sha256_file

_FP16_MAX = 65504.0  # largest finite float16


def external_ref(
    path: str | os.PathLike[str],
    *,
    key: str | None = None,
    prefix: str | None = None,
    new_prefix: str = "",
    extra_keys: Mapping[str, str] | None = None,
) -> ExternalRef:
    """An `ExternalRef` to an existing official checkpoint, its sha256 computed now.

    Examples: rosinality StyleGAN2 `external_ref(p, key="g_ema")`; e4e's encoder
    `external_ref(p, key="state_dict", prefix="encoder.", new_prefix="encoder.",
    extra_keys={"latent_avg": "latent_avg"})`; ArcFace `external_ref(p)`.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    return ExternalRef(
        path=str(path), sha256=sha256_file(path), key=key, prefix=prefix, new_prefix=new_prefix,
        extra_keys=dict(extra_keys or {}),
    )  # fmt: skip


def storage_tensors(state: Mapping[str, torch.Tensor], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """CPU, contiguous, unshared copies; floating tensors cast to `dtype` where they fit."""
    out = {}
    for key, value in state.items():
        t = value.detach().to("cpu")
        if t.is_floating_point() and t.dtype != dtype and not (dtype == torch.float16 and _beyond_fp16(t)):
            t = t.to(dtype)
        else:
            t = t.clone()
        out[key] = t.contiguous()
    return out


def _beyond_fp16(t: torch.Tensor) -> bool:
    finite = t[torch.isfinite(t)]
    return finite.numel() > 0 and bool(finite.abs().max() > _FP16_MAX)


def write_safetensors_atomic(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> str:
    """Write under a temporary name, fsync, rename; return the file's sha256."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        save_file(tensors, str(tmp), metadata=metadata)
        _fsync(tmp)
        digest = sha256_file(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return digest


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write `format_json(data)` under a temporary name, fsync, rename."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(format_json(data) + "\n", encoding="utf-8")
        _fsync(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def format_json(value: Any, indent: int = 0) -> str:
    """Indented JSON whose innermost lists (numbers, short rows) stay on one line."""
    pad, inner = " " * indent, " " * (indent + 2)
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(str(k))}: {format_json(v, indent + 2)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, (list, tuple)) and value:
        flat = json.dumps(value, allow_nan=False)
        if all(not isinstance(v, (dict, list, tuple)) for v in value) or len(flat) <= 80 - indent:
            return flat
        return "[\n" + ",\n".join(inner + format_json(v, indent + 2) for v in value) + f"\n{pad}]"
    return json.dumps(value, allow_nan=False)


def _fsync(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def check_hash(folder: Path, file: str, sha256: str) -> Path:
    path = folder / file
    if not path.is_file():
        raise BundleIntegrityError(f"bundle {folder}: {file}: the file is missing (listed in {CARD_FILE})")
    got = sha256_file(path)
    if got != sha256:
        raise BundleIntegrityError(
            f"bundle {folder}: {file}: sha256 mismatch: {CARD_FILE} expects {sha256[:12]}..., the file has "
            f"{got[:12]}... (changed or damaged after the bundle was saved)"
        )
    return path


def read_safetensors(folder: Path, file: str, sha256: str, verify: bool) -> dict[str, torch.Tensor]:
    path = check_hash(folder, file, sha256) if verify else folder / file
    if not path.is_file():
        raise BundleIntegrityError(f"bundle {folder}: {file}: the file is missing (listed in {CARD_FILE})")
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise BundleIntegrityError(f"bundle {folder}: {file}: not a readable safetensors file ({exc})") from None


def read_tensor(folder: Path, file: str, key: str) -> torch.Tensor | None:
    path = folder / file
    if not path.is_file():
        raise BundleIntegrityError(f"bundle {folder}: {file}: the file is missing (listed in {CARD_FILE})")
    try:
        with safe_open(str(path), framework="pt") as f:
            return f.get_tensor(key) if key in f.keys() else None
    except (SafetensorError, OSError) as exc:
        raise BundleIntegrityError(f"bundle {folder}: {file}: not a readable safetensors file ({exc})") from None


def safetensors_shapes(folder: Path, file: str) -> dict[str, tuple[int, ...]]:
    """Tensor shapes from a safetensors header, without reading the data."""
    try:
        with safe_open(str(folder / file), framework="pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except (SafetensorError, OSError) as exc:
        raise BundleIntegrityError(f"bundle {folder}: {file}: not a readable safetensors file ({exc})") from None


def external_path(folder: Path, ref: ExternalRef) -> Path:
    path = Path(ref.path).expanduser()
    return path if path.is_absolute() else Path(os.path.normpath(folder / path))


def read_external(folder: Path, name: str, ref: ExternalRef, *, verify: bool) -> dict[str, torch.Tensor]:
    """The state dict an external reference names: hash checked, weights-only load, keys picked."""
    path = external_path(folder, ref)
    where = f"bundle {folder}: network {name!r}: external checkpoint {path}"
    if not path.is_file():
        raise BundleIntegrityError(f"{where}: the file is missing")
    if verify:
        got = sha256_file(path)
        if got != ref.sha256:
            raise BundleIntegrityError(
                f"{where}: sha256 mismatch: {CARD_FILE} expects {ref.sha256[:12]}..., the file has {got[:12]}... "
                "(a different or damaged checkpoint)"
            )
    try:
        checkpoint = load_torch_checkpoint(path)
    except UnsafeCheckpointError as exc:
        raise UnsafeCheckpointError(f"bundle {folder}: network {name!r}: {exc}") from None
    except CheckpointError as exc:
        raise BundleIntegrityError(f"bundle {folder}: network {name!r}: {exc}") from None
    state = _pick(checkpoint, ref.key, where)
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BundleMismatchError(f"{where}: {ref.key or 'the file'} is not a state dict of tensors")
    if ref.prefix:
        state = {ref.new_prefix + k[len(ref.prefix) :]: v for k, v in state.items() if k.startswith(ref.prefix)}
        if not state:
            raise BundleMismatchError(f"{where}: no key starts with {ref.prefix!r}")
    state = dict(state)
    for target, source in ref.extra_keys.items():
        value = _pick(checkpoint, source, where)
        if not isinstance(value, torch.Tensor):
            raise BundleMismatchError(f"{where}: {source!r} is not a tensor")
        state[target] = value
    return state


def _pick(checkpoint: Any, key: str | None, where: str) -> Any:
    """Follow a "/"-separated path of dict keys from the checkpoint's top level."""
    value = checkpoint
    for part in key.split("/") if key else []:
        if not isinstance(value, Mapping) or part not in value:
            keys = ", ".join(map(str, list(value)[:10])) if isinstance(value, Mapping) else type(value).__name__
            raise BundleMismatchError(f"{where}: no key {key!r} (found: {keys})")
        value = value[part]
    return value


def check_state_shapes(
    folder: Path,
    file: str,
    name: str,
    expected: Mapping[str, tuple[int, ...]],
    got: Mapping[str, tuple[int, ...]],
) -> None:
    """Missing/unexpected keys and wrong shapes, all named, in one error."""
    where = f"bundle {folder}: {file}"
    missing, unexpected, wrong = compare_shapes(expected, got)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing key(s) {_some(missing)}")
        if unexpected:
            parts.append(f"unexpected key(s) {_some(unexpected)}")
        raise BundleMismatchError(f"{where}: does not fit network {name!r}: {'; '.join(parts)}")
    if wrong:
        details = "; ".join(f"{k!r} has shape {list(got[k])}, expected {list(expected[k])}" for k in wrong[:5])
        more = f" (+{len(wrong) - 5} more)" if len(wrong) > 5 else ""
        raise BundleMismatchError(f"{where}: wrong tensor shape for network {name!r}: {details}{more}")


def _some(keys: list[str], limit: int = 5) -> str:
    shown = ", ".join(map(repr, keys[:limit]))
    return shown + (f" (+{len(keys) - limit} more)" if len(keys) > limit else "")
