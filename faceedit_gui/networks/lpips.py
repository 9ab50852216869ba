"""LPIPS (Zhang et al., "The Unreasonable Effectiveness of Deep Features as a Perceptual
Metric", CVPR 2018), version 0.1, in pure torch, loading the official weights from files.

Neither the `lpips` package nor torchvision is a dependency (DESIGN §2): this module
rebuilds the network so that a user who has the two official files gets the official
metric:
    backbone   torchvision's ImageNet file, `vgg16-397923af.pth` (VGG16, the paper's
               choice for training losses) or `alexnet-owt-7be5be79.pth` (AlexNet, the
               paper's choice as a metric); only its `features.*` tensors are used
    linear     the lpips package's `weights/v0.1/vgg.pth` or `alex.pth`: the per-channel
               weights `lin<k>.model.1.weight` `[1, C_k, 1, 1]` of the five 1x1 convs
Both are opened with `load_torch_checkpoint` (weights_only=True; nothing in them runs).

Key layout (the union of both files, nothing else): `features.<i>.{weight,bias}` with
torchvision's indices of `vgg16().features` / `alexnet().features` (ReLU and max-pool
modules keep their places in the Sequential so the indices match), and
`lin<k>.model.1.weight` (lpips' `NetLinLayer`: Dropout, then a bias-free 1x1 conv).
The ImageNet scaling constants are non-persistent buffers.

Computation (lpips v0.1, `LPIPS(net, lpips=True, spatial=False)`):
    x -> (x - shift) / scale               shift (-.030, -.088, -.188), scale (.458, .448, .450)
    f_k = backbone features at the 5 taps  (VGG: relu1_2, relu2_2, relu3_3, relu4_3, relu5_3)
    f_k / (||f_k||_channels + 1e-10)       unit-normalised per pixel
    d = sum_k mean_hw( lin_k((f_k(x) - f_k(y))^2) )

Convention: inputs float `[B, 3, H, W]`, RGB in [-1, 1] (the lpips package's
`normalize=False` range); output `[B]` distances.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn

from faceedit_gui.checkpoints.safe_load import CheckpointError, load_torch_checkpoint

SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
EPS = 1e-10

# Backbone tables: one entry per module of torchvision's `features` Sequential, in order:
# ("conv", in, out, kernel, stride, padding) | ("relu",) | ("pool", kernel, stride).
_VGG16 = []
for _cin, _cout, _n in ((3, 64, 2), (64, 128, 2), (128, 256, 3), (256, 512, 3), (512, 512, 3)):
    for _j in range(_n):
        _VGG16 += [("conv", _cin if _j == 0 else _cout, _cout, 3, 1, 1), ("relu",)]
    _VGG16 += [("pool", 2, 2)]
_ALEXNET = [
    ("conv", 3, 64, 11, 4, 2), ("relu",), ("pool", 3, 2),
    ("conv", 64, 192, 5, 1, 2), ("relu",), ("pool", 3, 2),
    ("conv", 192, 384, 3, 1, 1), ("relu",),
    ("conv", 384, 256, 3, 1, 1), ("relu",),
    ("conv", 256, 256, 3, 1, 1), ("relu",), ("pool", 3, 2),
]  # fmt: skip


@dataclass(frozen=True)
class LPIPSConfig:
    net: str = "vgg"  # backbone: "vgg" (VGG16) or "alex" (AlexNet)


# net -> (module table, indices after which the 5 features are tapped, default file names)
BACKBONES: dict[str, tuple[list, tuple[int, ...], str, str]] = {
    "vgg": (_VGG16, (3, 8, 15, 22, 29), "vgg16-397923af.pth", "vgg.pth"),
    "alex": (_ALEXNET, (1, 4, 7, 9, 11), "alexnet-owt-7be5be79.pth", "alex.pth"),
}


def _build_features(table: list) -> nn.Sequential:
    layers: list[nn.Module] = []
    for entry in table:
        if entry[0] == "conv":
            _, cin, cout, k, s, p = entry
            layers.append(nn.Conv2d(cin, cout, k, s, p))
        elif entry[0] == "relu":
            layers.append(nn.ReLU(inplace=False))
        else:
            layers.append(nn.MaxPool2d(entry[1], entry[2]))
    return nn.Sequential(*layers)


class NetLinLayer(nn.Module):
    """lpips' per-channel weighting: Dropout (inactive at eval) then a bias-free 1x1 conv."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.model = nn.Sequential(nn.Dropout(), nn.Conv2d(channels, 1, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class LPIPS(nn.Module):
    """LPIPS v0.1 distance: `forward(x, y)` -> `[B]`. Frozen; eval mode is the caller's."""

    config_class = LPIPSConfig
    network_type = "lpips"

    def __init__(self, config: LPIPSConfig = LPIPSConfig()) -> None:
        super().__init__()
        if config.net not in BACKBONES:
            raise ValueError(f"LPIPS backbone must be one of {sorted(BACKBONES)}, got {config.net!r}")
        self.config = config
        table, taps, _, _ = BACKBONES[config.net]
        self.features = _build_features(table[: taps[-1] + 1])  # nothing past the last tap runs
        self.taps = taps
        self.channels = tuple(self._channels_at(table, t) for t in taps)
        for k, c in enumerate(self.channels):
            self.add_module(f"lin{k}", NetLinLayer(c))
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1), persistent=False)

    @classmethod
    def from_config(cls, config: LPIPSConfig) -> "LPIPS":
        return cls(config)

    @staticmethod
    def _channels_at(table: list, index: int) -> int:
        return [e[2] for e in table[: index + 1] if e[0] == "conv"][-1]

    def lins(self) -> list[NetLinLayer]:
        return [getattr(self, f"lin{k}") for k in range(len(self.taps))]

    def feature_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The 5 tapped feature maps (not normalised) of an image in [-1, 1]."""
        h = (x - self.shift.to(x.dtype)) / self.scale.to(x.dtype)
        out = []
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in self.taps:
                out.append(h)
        return out

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if x.shape != y.shape or x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"LPIPS: expected two [B, 3, H, W] images of one shape, got {list(x.shape)} and {list(y.shape)}")
        total = x.new_zeros(x.shape[0])
        for fx, fy, lin in zip(self.feature_maps(x), self.feature_maps(y), self.lins()):
            nx = fx / (fx.pow(2).sum(1, keepdim=True).sqrt() + EPS)
            ny = fy / (fy.pow(2).sum(1, keepdim=True).sqrt() + EPS)
            total = total + lin((nx - ny).pow(2)).mean(dim=(1, 2, 3))  # [B]
        return total


def backbone_key_table(net: str = "vgg") -> dict[str, tuple[int, ...]]:
    """The `features.*` keys LPIPS needs from torchvision's file, with their shapes."""
    table, taps, _, _ = BACKBONES[net]
    keys: dict[str, tuple[int, ...]] = {}
    for i, e in enumerate(table[: taps[-1] + 1]):
        if e[0] == "conv":
            _, cin, cout, k, _, _ = e
            keys[f"features.{i}.weight"] = (cout, cin, k, k)
            keys[f"features.{i}.bias"] = (cout,)
    return keys


def linear_key_table(net: str = "vgg") -> dict[str, tuple[int, ...]]:
    """The keys of lpips' `weights/v0.1/<net>.pth`, with their shapes."""
    table, taps, _, _ = BACKBONES[net]
    return {f"lin{k}.model.1.weight": (1, LPIPS._channels_at(table, t), 1, 1) for k, t in enumerate(taps)}


def _take(state: object, table: dict[str, tuple[int, ...]], path: os.PathLike | str, what: str) -> dict[str, torch.Tensor]:
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a state dict ({what}), got {type(state).__name__}")
    missing = [k for k in table if k not in state]
    if missing:
        raise CheckpointError(f"{path}: not the {what}: missing keys {missing[:4]}{' ...' if len(missing) > 4 else ''}")
    out = {}
    for k, shape in table.items():
        t = state[k]
        if not torch.is_tensor(t) or tuple(t.shape) != shape:
            got = list(t.shape) if torch.is_tensor(t) else type(t).__name__
            raise CheckpointError(f"{path}: {k} has shape {got}, the {what} has {list(shape)}")
        out[k] = t.float()
    return out


def load_lpips(backbone_path: str | os.PathLike, linear_path: str | os.PathLike, net: str = "vgg") -> LPIPS:
    """Build LPIPS(`net`) from torchvision's backbone file and lpips' linear-layer file;
    frozen, eval mode, float32 on the CPU. Key tables are checked loudly."""
    model = LPIPS(LPIPSConfig(net=net))
    state = _take(load_torch_checkpoint(backbone_path), backbone_key_table(net), backbone_path, f"torchvision {net} backbone")
    state.update(_take(load_torch_checkpoint(linear_path), linear_key_table(net), linear_path, f"lpips v0.1 {net} linear layers"))
    model.load_state_dict(state, strict=True)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model
