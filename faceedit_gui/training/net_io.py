"""Files of the small trained networks (classifier, identity): final weights and resume state.

Final weights, `<stem>.safetensors` + `<stem>.json`:
    safetensors   the state dict, float32
    json          {"network_type", "config" (rebuilds the network through the registry),
                   "metrics", "recipe", ...}: everything the bundle assembly needs
Resume state, in the run folder:
    resume.safetensors   network weights, float32
    resume_optim.pt      the optimiser's state dict (tensors and numbers only; read with
                         `torch.load(weights_only=True)`, which runs no code)
    resume.json          step, training config, anything else the loop keeps; written last,
                         so a run killed mid-save resumes from the previous complete save
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from faceedit_gui.config import config_to_dict
from faceedit_gui.networks.registry import build_network, network_type_of

RESUME_WEIGHTS = "resume.safetensors"
RESUME_OPTIM = "resume_optim.pt"
RESUME_STATE = "resume.json"


def _state_dict_f32(net: nn.Module) -> dict[str, torch.Tensor]:
    return {k: (v.detach().float() if v.is_floating_point() else v.detach()).contiguous().cpu() for k, v in net.state_dict().items()}


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)


def save_network(stem: str | Path, net: nn.Module, **meta: Any) -> tuple[Path, Path]:
    """Write `<stem>.safetensors` and `<stem>.json` (type, config and `meta`); returns both paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    weights, card = stem.with_suffix(".safetensors"), stem.with_suffix(".json")
    net_type = network_type_of(net)
    save_file(_state_dict_f32(net), str(weights), metadata={"network_type": net_type})
    _write_json(card, {"network_type": net_type, "config": config_to_dict(net.config), **meta})
    return weights, card


def load_network(stem: str | Path, device: torch.device | str = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild a network written by `save_network` (eval mode) and return it with its JSON."""
    stem = Path(stem)
    if stem.suffix in (".json", ".safetensors"):
        stem = stem.with_suffix("")
    card_path, weights_path = stem.with_suffix(".json"), stem.with_suffix(".safetensors")
    for p in (card_path, weights_path):
        if not p.is_file():
            raise FileNotFoundError(f"missing {p}")
    card = json.loads(card_path.read_text())
    net = build_network(card["network_type"], card["config"])
    state = load_file(str(weights_path))
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"{weights_path}: missing keys {missing}, unexpected keys {unexpected}")
    return net.to(device).eval(), card


def save_resume(folder: str | Path, net: nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """Write the resume state (weights, optimiser, then `resume.json` last)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file(_state_dict_f32(net), str(folder / (RESUME_WEIGHTS + ".tmp")))
    os.replace(folder / (RESUME_WEIGHTS + ".tmp"), folder / RESUME_WEIGHTS)
    torch.save(optimizer.state_dict(), folder / (RESUME_OPTIM + ".tmp"))
    os.replace(folder / (RESUME_OPTIM + ".tmp"), folder / RESUME_OPTIM)
    _write_json(folder / RESUME_STATE, state)


def load_resume(folder: str | Path, net: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any] | None:
    """Load a resume state into `net` and `optimizer`; None when the folder has none."""
    folder = Path(folder)
    if not (folder / RESUME_STATE).is_file():
        return None
    state = json.loads((folder / RESUME_STATE).read_text())
    net.load_state_dict(load_file(str(folder / RESUME_WEIGHTS)))
    device = next(net.parameters()).device
    optimizer.load_state_dict(torch.load(folder / RESUME_OPTIM, map_location=device, weights_only=True))
    return state
