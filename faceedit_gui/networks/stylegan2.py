"""StyleGAN2 generator: mapping network, synthesis network, and a per-level synthesis API.

Paper: Karras et al., "Analyzing and Improving the Image Quality of StyleGAN" (CVPR 2020).
Numerical reference: rosinality/stylegan2-pytorch `model.py` (commit bef283a); the
reference vectors in `../shared/reference/stylegan2_rosinality_small64_io.safetensors`
are reproduced to ~1e-6 relative (tests/networks/test_stylegan2_reference.py).
Key layout: identical to rosinality's `g_ema` (`style.*`, `input.input`, `conv1.*`,
`to_rgb1.*`, `convs.*`, `to_rgbs.*`, `noises.noise_*`), so the official converted
`stylegan2-ffhq-config-f.pt` loads with `strict=True`.

Convention: images float NCHW RGB, trained models aim at [-1, 1] (no output
nonlinearity); `w` is `[B, style_dim]`, W+ is `[B, n_latent, style_dim]`.

Levels: level 0 is the 4x4 block (`conv1`, `to_rgb1`); level i >= 1 is the block at
`4 * 2**i` px (`convs[2i-2]` upsampling, `convs[2i-1]`, `to_rgbs[i-1]`). Feature maps are
named by resolution, `"4x4"`, `"8x8"`, ... A level hook may replace the feature map that
a level hands on (to its RGB output and to the next level): that is where the editor's
relevance fusion goes.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Sequence

import torch
from torch import nn

from faceedit_gui.networks.layers import (
    ConstantInput,
    EqualLinear,
    PixelNorm,
    StyledConv,
    ToRGB,
)

# A level hook: (level index, level name, feature map [B, C, H, W]) -> replacement
LevelHook = Callable[[int, str, torch.Tensor], torch.Tensor]


def official_channels(size: int, channel_multiplier: int = 2) -> dict[int, int]:
    """The official per-resolution channel table, up to `size`."""
    table = {
        4: 512,
        8: 512,
        16: 512,
        32: 512,
        64: 256 * channel_multiplier,
        128: 128 * channel_multiplier,
        256: 64 * channel_multiplier,
        512: 32 * channel_multiplier,
        1024: 16 * channel_multiplier,
    }
    return {r: c for r, c in table.items() if r <= size}


@dataclasses.dataclass(frozen=True)
class GeneratorConfig:
    size: int = 1024  # output resolution, a power of two from 32 to 1024
    style_dim: int = 512  # width of z, w and every style vector
    n_mlp: int = 8  # mapping-network layers
    channels: dict[int, int] | None = None  # resolution -> channels; None: official table
    channel_multiplier: int = 2  # used only when channels is None
    lr_mlp: float = 0.01  # learning-rate multiplier of the mapping network
    blur_kernel: tuple[int, ...] = (1, 3, 3, 1)  # FIR taps for up/downsampling

    def resolved_channels(self) -> dict[int, int]:
        if self.channels is None:
            return official_channels(self.size, self.channel_multiplier)
        return {int(r): int(c) for r, c in self.channels.items()}


@dataclasses.dataclass(frozen=True)
class SynthesisResult:
    image: torch.Tensor  # [B, 3, R, R]
    features: dict[str, torch.Tensor]  # level name -> feature map handed on (after any hook)
    rgbs: dict[str, torch.Tensor]  # level name -> running RGB skip image at that level


class Generator(nn.Module):
    """StyleGAN2 generator in the rosinality key layout.

    >>> g = Generator(size=64, style_dim=64, n_mlp=4, channels={4: 32, 8: 32, 16: 32, 32: 16, 64: 16})
    >>> w = g.mapping(torch.randn(2, 64))          # [2, 64]
    >>> img = g.synthesis(g.broadcast(w))           # [2, 3, 64, 64]
    """

    config_class = GeneratorConfig

    def __init__(
        self,
        size: int = 1024,
        style_dim: int = 512,
        n_mlp: int = 8,
        channels: dict[int, int] | None = None,
        channel_multiplier: int = 2,
        lr_mlp: float = 0.01,
        blur_kernel: Sequence[int] = (1, 3, 3, 1),
    ):
        super().__init__()
        if size < 4 or size & (size - 1):
            raise ValueError(f"size must be a power of two, got {size}")
        self.config = GeneratorConfig(
            size=size,
            style_dim=style_dim,
            n_mlp=n_mlp,
            channels=None if channels is None else {int(r): int(c) for r, c in channels.items()},
            channel_multiplier=channel_multiplier,
            lr_mlp=lr_mlp,
            blur_kernel=tuple(blur_kernel),
        )
        self.size = size
        self.style_dim = style_dim
        self.channels = self.config.resolved_channels()
        self.log_size = int(math.log2(size))
        missing = [2**r for r in range(2, self.log_size + 1) if 2**r not in self.channels]
        if missing:
            raise ValueError(f"channel table lacks resolutions {missing} (size {size})")
        self.num_layers = (self.log_size - 2) * 2 + 1  # noise layers
        self.n_latent = self.log_size * 2 - 2  # style vectors in W+
        self.num_levels = self.log_size - 1
        self.level_names = [f"{2**r}x{2**r}" for r in range(2, self.log_size + 1)]

        # Registration order fixes the state-dict order: style, input, conv1, to_rgb1,
        # convs, to_rgbs, noises.
        self.style = nn.Sequential(
            PixelNorm(),
            *[EqualLinear(style_dim, style_dim, lr_mul=lr_mlp, activation="fused_lrelu") for _ in range(n_mlp)],
        )
        ch4 = self.channels[4]
        self.input = ConstantInput(ch4)
        self.conv1 = StyledConv(ch4, ch4, 3, style_dim, blur_kernel=blur_kernel)
        self.to_rgb1 = ToRGB(ch4, style_dim, upsample=False)
        self.convs = nn.ModuleList()
        self.upsamples = nn.ModuleList()  # empty; kept because the reference has it
        self.to_rgbs = nn.ModuleList()
        self.noises = nn.Module()
        for layer_idx in range(self.num_layers):
            res = (layer_idx + 5) // 2
            self.noises.register_buffer(f"noise_{layer_idx}", torch.randn(1, 1, 2**res, 2**res))
        in_channel = ch4
        for i in range(3, self.log_size + 1):
            out_channel = self.channels[2**i]
            self.convs.append(StyledConv(in_channel, out_channel, 3, style_dim, upsample=True, blur_kernel=blur_kernel))
            self.convs.append(StyledConv(out_channel, out_channel, 3, style_dim, blur_kernel=blur_kernel))
            self.to_rgbs.append(ToRGB(out_channel, style_dim, blur_kernel=blur_kernel))
            in_channel = out_channel

    @classmethod
    def from_config(cls, config: GeneratorConfig) -> "Generator":
        return cls(**{f.name: getattr(config, f.name) for f in dataclasses.fields(config)})

    # ----------------------------------------------------------------- mapping

    def mapping(self, z: torch.Tensor) -> torch.Tensor:
        """z `[B, style_dim]` -> w `[B, style_dim]`."""
        _check_shape("z", z, (None, self.style_dim))
        return self.style(z)

    @torch.no_grad()
    def mean_latent(self, n: int = 4096, device: torch.device | str | None = None) -> torch.Tensor:
        """Average of `n` mapped random z: `[1, style_dim]`."""
        device = device or self.input.input.device
        z = torch.randn(n, self.style_dim, device=device)
        return self.style(z).mean(0, keepdim=True)

    @staticmethod
    def truncate(w: torch.Tensor, psi: float, w_avg: torch.Tensor) -> torch.Tensor:
        """`w_avg + psi * (w - w_avg)`; psi = 1 leaves w unchanged."""
        if psi >= 1:
            return w
        return w_avg + psi * (w - w_avg)

    def broadcast(self, w: torch.Tensor) -> torch.Tensor:
        """w `[B, style_dim]` -> W+ `[B, n_latent, style_dim]` (the same style everywhere)."""
        _check_shape("w", w, (None, self.style_dim))
        return w.unsqueeze(1).repeat(1, self.n_latent, 1)

    def mix(self, w1: torch.Tensor, w2: torch.Tensor, inject_index: int) -> torch.Tensor:
        """Style mixing: W+ with w1 before `inject_index` and w2 from it on."""
        w1p = self.broadcast(w1)[:, :inject_index]
        w2p = self.broadcast(w2)[:, inject_index:]
        return torch.cat([w1p, w2p], 1)

    # ---------------------------------------------------------------- synthesis

    def noise_buffers(self) -> list[torch.Tensor]:
        return [getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)]

    def make_noise(self, batch: int = 1, device: torch.device | str | None = None) -> list[torch.Tensor]:
        """Fresh per-sample noise for every noise layer."""
        device = device or self.input.input.device
        return [
            torch.randn(batch, 1, 2 ** ((i + 5) // 2), 2 ** ((i + 5) // 2), device=device)
            for i in range(self.num_layers)
        ]

    def resolve_noise(
        self,
        noise: Sequence[torch.Tensor | None] | None,
        randomize_noise: bool,
    ) -> list[torch.Tensor | None]:
        """Explicit noise if given, else fresh noise (None per layer) if randomising,
        else the stored buffers."""
        if noise is not None:
            if len(noise) != self.num_layers:
                raise ValueError(f"noise: got {len(noise)} maps, expected {self.num_layers}")
            return list(noise)
        if randomize_noise:
            return [None] * self.num_layers
        return self.noise_buffers()

    def level_features(
        self,
        level: int,
        x: torch.Tensor | None,
        w_plus: torch.Tensor,
        noise: Sequence[torch.Tensor | None],
    ) -> torch.Tensor:
        """Feature map computed at `level` from the previous level's (handed-on) map.

        Level 0 ignores `x` and starts from the constant input.
        """
        if level == 0:
            out = self.input(w_plus.shape[0])
            return self.conv1(out, w_plus[:, 0], noise=noise[0])
        if x is None:
            raise ValueError(f"level {level} needs the feature map of level {level - 1}")
        j = 2 * level - 2
        x = self.convs[j](x, w_plus[:, j + 1], noise=noise[j + 1])
        return self.convs[j + 1](x, w_plus[:, j + 2], noise=noise[j + 2])

    def level_rgb(
        self,
        level: int,
        feature: torch.Tensor,
        skip: torch.Tensor | None,
        w_plus: torch.Tensor,
    ) -> torch.Tensor:
        """Running RGB image after `level`: its ToRGB plus the upsampled previous skip."""
        if level == 0:
            return self.to_rgb1(feature, w_plus[:, 1])
        return self.to_rgbs[level - 1](feature, w_plus[:, 2 * level + 1], skip)

    def synthesis(
        self,
        w_plus: torch.Tensor,
        noise: Sequence[torch.Tensor | None] | None = None,
        randomize_noise: bool = False,
        level_hook: LevelHook | None = None,
        return_features: bool = False,
        levels: int | None = None,
    ) -> torch.Tensor | SynthesisResult:
        """W+ `[B, n_latent, style_dim]` -> image `[B, 3, R, R]`.

        Noise comes from the stored buffers unless `noise` is given or
        `randomize_noise=True`. `level_hook(i, name, feature)` may return a replacement
        for the feature map level i hands on. With `return_features=True` the result is a
        `SynthesisResult` with every level's feature map and RGB skip by name.
        `levels` runs only the first that many levels (a cheap preview): the image is then
        the running RGB skip at that level's resolution, `R / 2**(num_levels - levels)`.
        """
        _check_shape("w_plus", w_plus, (None, self.n_latent, self.style_dim))
        levels = self.num_levels if levels is None else levels
        if not 1 <= levels <= self.num_levels:
            raise ValueError(f"levels: got {levels}, expected 1..{self.num_levels}")
        noise_list = self.resolve_noise(noise, randomize_noise)
        features: dict[str, torch.Tensor] = {}
        rgbs: dict[str, torch.Tensor] = {}
        x: torch.Tensor | None = None
        skip: torch.Tensor | None = None
        for level, name in enumerate(self.level_names[:levels]):
            x = self.level_features(level, x, w_plus, noise_list)
            if level_hook is not None:
                x = level_hook(level, name, x)
            skip = self.level_rgb(level, x, skip, w_plus)
            if return_features:
                features[name] = x
                rgbs[name] = skip
        assert skip is not None
        if return_features:
            return SynthesisResult(image=skip, features=features, rgbs=rgbs)
        return skip

    def forward(
        self,
        z: torch.Tensor,
        truncation: float = 1.0,
        truncation_latent: torch.Tensor | None = None,
        noise: Sequence[torch.Tensor | None] | None = None,
        randomize_noise: bool = False,
    ) -> torch.Tensor:
        """z `[B, style_dim]` -> image, with optional truncation towards `truncation_latent`."""
        w = self.mapping(z)
        if truncation < 1:
            if truncation_latent is None:
                raise ValueError("truncation < 1 needs truncation_latent (e.g. mean_latent())")
            w = self.truncate(w, truncation, truncation_latent)
        return self.synthesis(self.broadcast(w), noise=noise, randomize_noise=randomize_noise)


def _check_shape(name: str, t: torch.Tensor, expected: tuple[int | None, ...]) -> None:
    ok = t.ndim == len(expected) and all(e is None or s == e for s, e in zip(t.shape, expected))
    if not ok:
        exp = "[" + ", ".join("B" if e is None else str(e) for e in expected) + "]"
        raise ValueError(f"{name}: got shape {list(t.shape)}, expected {exp}")
