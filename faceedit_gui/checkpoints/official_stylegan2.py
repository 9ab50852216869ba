"""Official StyleGAN2 checkpoints in the rosinality layout, opened without running code.

Reads `stylegan2-ffhq-config-f.pt`-style files (`{"g_ema": state_dict, "latent_avg": [512]}`,
optionally `g`, `d`, `args`), e4e/pSp files (`{"state_dict": {"decoder.<key>": ...}, ...}`)
and bare generator state dicts. The generator's configuration is read off the tensor
shapes, so any size and channel table loads; `lr_mlp` cannot be seen in the weights and
is the official 0.01.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any, Mapping

import torch

from faceedit_gui.checkpoints.keys import load_state_dict_checked, strip_prefix
from faceedit_gui.checkpoints.safe_load import CheckpointError, load_torch_checkpoint
from faceedit_gui.networks.stylegan2 import Generator, GeneratorConfig, official_channels


@dataclasses.dataclass(frozen=True)
class LoadedGenerator:
    generator: Generator  # eval mode, float32
    latent_avg: torch.Tensor | None  # [style_dim] when the file holds one
    source: str  # which part of the file the weights came from


def generator_config_from_state_dict(state: Mapping[str, torch.Tensor], source: str = "state dict") -> GeneratorConfig:
    """Infer size, style_dim, n_mlp and the channel table from a rosinality state dict."""
    try:
        style_dim = int(state["style.1.weight"].shape[0])
        ch4 = int(state["conv1.conv.weight"].shape[1])
    except KeyError as exc:
        raise CheckpointError(f"{source}: not a StyleGAN2 generator in the rosinality layout (no {exc})") from None
    n_mlp = len({m.group(1) for k in state if (m := re.match(r"style\.(\d+)\.weight$", k))})
    n_rgbs = len({m.group(1) for k in state if (m := re.match(r"to_rgbs\.(\d+)\.bias$", k))})
    size = 4 * 2**n_rgbs
    channels = {4: ch4}
    for level in range(1, n_rgbs + 1):
        key = f"convs.{2 * level - 2}.conv.weight"
        if key not in state:
            raise CheckpointError(f"{source}: missing {key}")
        channels[4 * 2**level] = int(state[key].shape[1])
    for cm in (1, 2, 4):
        if channels == official_channels(size, cm):
            return GeneratorConfig(size=size, style_dim=style_dim, n_mlp=n_mlp, channels=None, channel_multiplier=cm)
    return GeneratorConfig(size=size, style_dim=style_dim, n_mlp=n_mlp, channels=channels)


def extract_generator_state(checkpoint: Any, path: str | os.PathLike[str], key: str | None = None) -> tuple[dict[str, torch.Tensor], str]:
    """The generator's state dict inside a loaded checkpoint, and where it was found."""
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"{path}: expected a dict checkpoint, got {type(checkpoint).__name__}")
    if key is not None:
        if key not in checkpoint:
            raise CheckpointError(f"{path}: has no '{key}' entry (top-level keys: {sorted(map(str, checkpoint))[:10]})")
        return dict(checkpoint[key]), key
    if "g_ema" in checkpoint:
        return dict(checkpoint["g_ema"]), "g_ema"
    if "state_dict" in checkpoint and isinstance(checkpoint["state_dict"], dict):
        dec = strip_prefix(checkpoint["state_dict"], "decoder")
        if dec:
            return dec, "state_dict/decoder"
    if "style.1.weight" in checkpoint:
        return {k: v for k, v in checkpoint.items() if isinstance(v, torch.Tensor)}, "bare state dict"
    raise CheckpointError(
        f"{path}: no StyleGAN2 generator found (looked for 'g_ema', 'state_dict' with 'decoder.' keys, "
        f"or a bare generator state dict; top-level keys: {sorted(map(str, checkpoint))[:10]})"
    )


def load_stylegan2_checkpoint(path: str | os.PathLike[str], key: str | None = None) -> LoadedGenerator:
    """Open an official StyleGAN2 generator file (weights only, nothing executed)."""
    path = Path(path)
    checkpoint = load_torch_checkpoint(path)
    state, where = extract_generator_state(checkpoint, path, key)
    config = generator_config_from_state_dict(state, f"{path} [{where}]")
    generator = Generator.from_config(config)
    load_state_dict_checked(generator, state, f"{path} [{where}]")
    generator.eval()
    latent_avg = checkpoint.get("latent_avg") if isinstance(checkpoint, dict) else None
    if latent_avg is not None:
        latent_avg = torch.as_tensor(latent_avg).float()
        if latent_avg.ndim > 1:  # e4e/pSp store it repeated per style: [n_styles, 512]
            latent_avg = latent_avg.reshape(-1, config.style_dim)[0]
        if latent_avg.shape != (config.style_dim,):
            raise CheckpointError(f"{path}: latent_avg has shape {list(latent_avg.shape)}, expected [{config.style_dim}]")
    return LoadedGenerator(generator=generator, latent_avg=latent_avg, source=f"{path} [{where}]")
