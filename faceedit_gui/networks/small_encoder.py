"""The project's own small e4e-style encoder for the bundled 128 px StyleGAN2.

Paper: Tov et al., "Designing an Encoder for StyleGAN Image Manipulation" (e4e, 2021):
a single base code w0 plus per-style offsets ("deltas") that training keeps small, which
keeps the inversion editable. Built from the same pieces as the official encoders
(`irse.BottleneckIR` IR-SE units, pSp's `GradualStyleBlock` heads and FPN merge, see
`encoders.py`), scaled down so a forward is cheap on a CPU (about 0.8 GMAC at 128 px with
the defaults) and the weights fit a small bundle (about 5.5 M parameters).

No reference checkpoint exists for this network; its key layout is the project's own:
`input_layer`, `stages.<s>.<u>` (IR-SE units), `toplayer`, `latlayers.<k>`,
`styles.<i>`, and the buffer `latent_avg` `[n_w, style_dim]` (set from the generator's
mean W before training; zeros when built).

Architecture, for the default `size` 128:
    input_layer  conv3x3 -> BN -> PReLU              [B, 16, 128, 128]
    stages       4 IR-SE stages, each starting with stride 2
                 c1 [B, 32, 64, 64], c2 [B, 64, 32, 32], c3 [B, 128, 16, 16], c4 [B, 256, 8, 8]
    FPN          p4 = toplayer(c4); p3 = up(p4) + latlayers[0](c3);
                 p2 = up(p3) + latlayers[1](c2); p1 = up(p2) + latlayers[2](c1)
                 (bilinear, align_corners=True; all `fpn_channels` = 128 wide)
    styles       head i reads p4 (i < 3), p3 (i < 7) or p2 (the rest): the pSp split, at the
                 same relative scales (size/16, /8, /4) as pSp's 16/32/64 maps at 256 px
    output       w_i = w0 + delta_i (delta_0 = 0), plus latent_avg

Conventions: input `[B, 3, H, W]` float RGB in [-1, 1]; any other size than `size` is
resized with antialiased bilinear interpolation. `forward` returns `(w_plus [B, n_w,
style_dim], features)`, features ordered coarse to fine: {"8x8": p4, "16x16": p3, "32x32":
p2, "64x64": p1} at 128 px, each `[B, fpn_channels, h, w]`. `encode` also returns the
deltas `[B, n_w - 1, style_dim]` for e4e's delta regulariser.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from faceedit_gui.networks.encoders import (
    EncoderOutput,
    GradualStyleBlock,
    check_image_batch,
    combine_w0_deltas,
    level_name,
    resize_image,
    upsample_add,
)
from faceedit_gui.networks.irse import BottleneckIR, make_input_layer, stage_specs


@dataclass(frozen=True)
class SmallEncoderConfig:
    size: int = 128  # working resolution (power of two >= 32); inputs are resized to it
    n_w: int = 12  # number of W+ vectors: 2*log2(G size) - 2 (12 for the 128 px generator)
    style_dim: int = 512  # width of each W vector
    channels: tuple[int, ...] = (16, 32, 64, 128, 256)  # stem (at size), then the 4 stages (size/2 .. size/16)
    units: tuple[int, ...] = (2, 2, 2, 2)  # IR-SE units per stage
    fpn_channels: int = 128  # width of every FPN map (= every feature in `features`)
    head_channels: int = 64  # conv width inside each style head
    coarse_styles: int = 3  # styles [0, coarse_styles) read the size/16 map (w0 among them)
    middle_styles: int = 7  # styles [coarse_styles, middle_styles) read size/8; the rest size/4
    se: bool = True  # squeeze-excitation in the residual units (IR-SE); False gives plain IR

    def __post_init__(self) -> None:
        if self.size < 32 or self.size & (self.size - 1):
            raise ValueError(f"size must be a power of two >= 32, got {self.size}")
        if len(self.channels) != 5 or len(self.units) != 4:
            raise ValueError(
                f"expected 5 channels (stem + 4 stages) and 4 unit counts, got channels={self.channels}, "
                f"units={self.units}"
            )
        if min(self.channels) < 1 or min(self.units) < 1 or self.fpn_channels < 1 or self.head_channels < 1:
            raise ValueError("channel widths and unit counts must be positive")
        if self.n_w < 1 or self.style_dim < 1:
            raise ValueError(f"n_w and style_dim must be positive, got {self.n_w}, {self.style_dim}")
        if not 1 <= self.coarse_styles <= self.middle_styles:
            raise ValueError(
                f"need 1 <= coarse_styles <= middle_styles, got {self.coarse_styles}, {self.middle_styles}"
            )

    def feature_names(self) -> list[str]:
        """Keys of the `features` dict, coarse to fine."""
        return [f"{self.size >> k}x{self.size >> k}" for k in (4, 3, 2, 1)]


class SmallEncoder(nn.Module):
    """e4e-style encoder for the bundled model: image -> (w_plus [B, n_w, style_dim], features)."""

    config_class = SmallEncoderConfig
    network_type = "small_encoder"  # registry name (the class is re-exported from encoders.py)

    def __init__(self, config: SmallEncoderConfig | None = None):
        super().__init__()
        self.config = config = config or SmallEncoderConfig()
        stem, *depths = config.channels
        fpn = config.fpn_channels
        self.input_layer = make_input_layer(3, stem)
        self.stages = nn.ModuleList(
            nn.Sequential(*[BottleneckIR(s.in_channel, s.depth, s.stride, se=config.se) for s in stage])
            for stage in stage_specs(stem, tuple(depths), tuple(config.units))
        )
        self.toplayer = nn.Conv2d(depths[3], fpn, kernel_size=1)
        self.latlayers = nn.ModuleList(nn.Conv2d(depths[k], fpn, kernel_size=1) for k in (2, 1, 0))
        head_spatial = [config.size // 16, config.size // 8, config.size // 4]
        self.styles = nn.ModuleList(
            GradualStyleBlock(fpn, config.head_channels, head_spatial[self._head_level(i)], config.style_dim)
            for i in range(config.n_w)
        )
        self.register_buffer("latent_avg", torch.zeros(config.n_w, config.style_dim))

    @classmethod
    def from_config(cls, config: SmallEncoderConfig) -> "SmallEncoder":
        return cls(config)

    @property
    def n_w(self) -> int:
        return self.config.n_w

    @property
    def style_dim(self) -> int:
        return self.config.style_dim

    def _head_level(self, i: int) -> int:
        """FPN map read by style i: 0 = size/16, 1 = size/8, 2 = size/4."""
        return 0 if i < self.config.coarse_styles else 1 if i < self.config.middle_styles else 2

    def pyramid(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Image `[B, 3, size, size]` -> FPN maps [p4, p3, p2, p1] (size/16 .. size/2)."""
        x = self.input_layer(x)  # [B, stem, S, S]
        c = []
        for stage in self.stages:
            x = stage(x)
            c.append(x)  # c1 [S/2], c2 [S/4], c3 [S/8], c4 [S/16]
        p = self.toplayer(c[3])  # [B, fpn, S/16, S/16]
        maps = [p]
        for lateral, skip in zip(self.latlayers, (c[2], c[1], c[0])):
            p = upsample_add(p, lateral(skip))  # doubles the resolution
            maps.append(p)
        return maps

    def encode(self, x: torch.Tensor, active_deltas: int | None = None) -> EncoderOutput:
        """`(w_plus, features, deltas)`; deltas `[B, n_w - 1, style_dim]`, delta i-1 for style i.

        `active_deltas` (e4e's progressive training): only deltas 1..active_deltas are
        computed, the others are zero; None (inference) uses all.
        """
        check_image_batch(x, "SmallEncoder")
        x = resize_image(x, self.config.size)  # [B, 3, size, size]
        maps = self.pyramid(x)
        n = self.config.n_w
        active = n - 1 if active_deltas is None else max(0, min(int(active_deltas), n - 1))
        w0 = self.styles[0](maps[0])  # [B, style_dim]
        deltas = [
            self.styles[i](maps[self._head_level(i)]) if i <= active else torch.zeros_like(w0) for i in range(1, n)
        ]
        codes, delta = combine_w0_deltas(w0, deltas, n)  # [B, n_w, D], [B, n_w - 1, D]
        w_plus = codes + self.latent_avg[None].to(codes.dtype)
        return EncoderOutput(w_plus, {level_name(m): m for m in maps}, delta)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        out = self.encode(x)
        return out.w_plus, out.features

