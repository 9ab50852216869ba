"""Compact, resumable GAN training checkpoints: safetensors weights + `state.json`.

A checkpoint folder:
    G.safetensors, G_ema.safetensors, D.safetensors   state dicts (rosinality keys), in
                                                      `checkpoint_dtype` (float16 by default;
                                                      a tensor that would overflow stays fp32)
    optim.safetensors                                 optional: Adam moments, float32, by
                                                      parameter name (`G/<param>/exp_avg`)
    state.json                                        counters, config, data position, and
                                                      each file's size and sha256
Every safetensors file records the step in its metadata; `state.json` is written last and
names each file's sha256, so a folder whose files come from different saves (a run killed
mid-save) is refused instead of silently resumed. Loading never unpickles anything.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from faceedit_gui.hashing import sha256_file

FORMAT = "faceedit-gan-training/1"
STATE_FILE = "state.json"
OPTIM_FILE = "optim.safetensors"
OPTIM_KEYS = ("step", "exp_avg", "exp_avg_sq")

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class CheckpointError(RuntimeError):
    """A training checkpoint is missing, inconsistent or does not fit the networks."""


def net_file(name: str) -> str:
    return f"{name}.safetensors"




def _compact(state_dict: dict[str, torch.Tensor], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in state_dict.items():
        v = v.detach()
        if v.is_floating_point() and v.dtype != dtype:
            cast = v.to(dtype)
            v = cast if torch.isfinite(cast).all() or not torch.isfinite(v).all() else v.float()
        out[k] = v.contiguous().cpu()
    return out


def _save_atomic(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> dict[str, Any]:
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    os.replace(tmp, path)
    return {"file": path.name, "bytes": path.stat().st_size, "sha256": sha256_file(path)}


def optimizer_tensors(name: str, opt: torch.optim.Optimizer, module: nn.Module) -> dict[str, torch.Tensor]:
    """Adam state of `opt` (built over `module.parameters()`) keyed `name/<param>/<key>`."""
    out = {}
    for pname, p in module.named_parameters():
        for key, value in opt.state.get(p, {}).items():
            if key in OPTIM_KEYS and torch.is_tensor(value):
                out[f"{name}/{pname}/{key}"] = value.detach().float().reshape(value.shape).contiguous().cpu()
    return out


def load_optimizer_tensors(name: str, opt: torch.optim.Optimizer, module: nn.Module, tensors: dict[str, torch.Tensor]) -> int:
    """Restore what `optimizer_tensors` saved; returns how many parameters got state."""
    sd = opt.state_dict()
    index = {pname: i for i, (pname, _) in enumerate(module.named_parameters())}
    if len(index) != len(sd["param_groups"][0]["params"]) or len(sd["param_groups"]) != 1:
        raise CheckpointError(f"{name}: optimiser must hold exactly {module.__class__.__name__}.parameters()")
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        net, _, rest = key.partition("/")
        if net != name:
            continue
        pname, _, skey = rest.rpartition("/")
        if pname not in index:
            raise CheckpointError(f"optimiser state for unknown parameter {name}.{pname}")
        state.setdefault(index[pname], {})[skey] = value
    sd["state"] = state
    opt.load_state_dict(sd)
    return len(state)


def save_training_checkpoint(
    out_dir: str | os.PathLike,
    nets: dict[str, nn.Module],
    state: dict[str, Any],
    dtype: str = "float16",
    optimizers: dict[str, tuple[torch.optim.Optimizer, nn.Module]] | None = None,
) -> dict[str, Any]:
    """Write every net, optional optimiser state, then `state.json` (last). Returns the
    state as written (with `files`). `state["step"]` must be set."""
    if dtype not in _DTYPES:
        raise ValueError(f"checkpoint dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    step = int(state["step"])
    meta = {"format": FORMAT, "step": str(step)}
    files: dict[str, Any] = {}
    for name, net in nets.items():
        info = _save_atomic(_compact(net.state_dict(), _DTYPES[dtype]), out / net_file(name), {**meta, "net": name})
        files[name] = {**info, "dtype": dtype}
    if optimizers:
        tensors: dict[str, torch.Tensor] = {}
        for name, (opt, module) in optimizers.items():
            tensors.update(optimizer_tensors(name, opt, module))
        files["optim"] = {**_save_atomic(tensors, out / OPTIM_FILE, {**meta, "net": "optim"}), "dtype": "float32"}
    elif (out / OPTIM_FILE).exists():
        (out / OPTIM_FILE).unlink()  # a stale optimiser file must not pair with new weights
    full = {"format": FORMAT, **state, "files": files}
    tmp = out / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(full, indent=1, sort_keys=False) + "\n")
    os.replace(tmp, out / STATE_FILE)
    return full


def read_state(ckpt_dir: str | os.PathLike) -> dict[str, Any] | None:
    """`state.json` of a checkpoint folder, or None when there is none."""
    path = Path(ckpt_dir) / STATE_FILE
    if not path.is_file():
        return None
    state = json.loads(path.read_text())
    if state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: format {state.get('format')!r}, expected {FORMAT!r}")
    return state


def pick_latest(dirs: Sequence[str | os.PathLike]) -> Path | None:
    """The folder among `dirs` whose checkpoint has the highest step (None if none has one)."""
    best: tuple[int, Path] | None = None
    for d in dirs:
        state = read_state(d)
        if state is not None and (best is None or int(state["step"]) > best[0]):
            best = (int(state["step"]), Path(d))
    return None if best is None else best[1]


def load_training_checkpoint(
    ckpt_dir: str | os.PathLike,
    nets: dict[str, nn.Module],
    optimizers: dict[str, tuple[torch.optim.Optimizer, nn.Module]] | None = None,
    verify: bool = True,
) -> dict[str, Any]:
    """Load every net (strict keys and shapes) and, when saved and asked for, optimiser
    state. Returns `state.json` plus `"optimizer_loaded": bool`."""
    ckpt = Path(ckpt_dir)
    state = read_state(ckpt)
    if state is None:
        raise CheckpointError(f"no {STATE_FILE} in {ckpt}")
    step = int(state["step"])
    files = state.get("files", {})

    def read(name: str) -> dict[str, torch.Tensor]:
        info = files.get(name)
        if info is None:
            raise CheckpointError(f"{ckpt}: state.json lists no file for {name!r}")
        path = ckpt / info["file"]
        if not path.is_file():
            raise CheckpointError(f"{path} is missing")
        if verify and sha256_file(path) != info["sha256"]:
            raise CheckpointError(f"{path}: sha256 differs from state.json (a partial or mixed save?)")
        with safe_open(str(path), framework="pt") as f:
            saved_step = (f.metadata() or {}).get("step")
        if saved_step != str(step):
            raise CheckpointError(f"{path}: step {saved_step}, state.json says {step}")
        return load_file(str(path))

    for name, net in nets.items():
        tensors = read(name)
        own = net.state_dict()
        missing = sorted(set(own) - set(tensors))
        extra = sorted(set(tensors) - set(own))
        bad = [k for k in own if k in tensors and tuple(own[k].shape) != tuple(tensors[k].shape)]
        if missing or extra or bad:
            raise CheckpointError(
                f"{ckpt / net_file(name)} does not fit {name}: missing {missing[:5]}, unexpected {extra[:5]}, "
                f"shape mismatch {[(k, list(tensors[k].shape), list(own[k].shape)) for k in bad[:5]]}"
            )
        net.load_state_dict(tensors, strict=True)
    loaded = False
    if optimizers and "optim" in files:
        tensors = read("optim")
        for name, (opt, module) in optimizers.items():
            load_optimizer_tensors(name, opt, module, tensors)
        loaded = True
    return {**state, "optimizer_loaded": loaded}


def file_sizes(ckpt_dir: str | os.PathLike) -> dict[str, int]:
    """Bytes of every file in a checkpoint folder, by name."""
    return {p.name: p.stat().st_size for p in sorted(Path(ckpt_dir).iterdir()) if p.is_file()}
