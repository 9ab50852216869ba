"""StyleGAN2 residual discriminator, for training the bundled generator.

Paper: Karras et al., "Analyzing and Improving the Image Quality of StyleGAN" (2020),
config E/F residual discriminator with minibatch standard deviation.
Key layout: rosinality/stylegan2-pytorch `Discriminator` (`convs.*`, `final_conv.*`,
`final_linear.*`), so its `d` state dicts load with `strict=True`; the channel table is
configurable like the generator's.

Convention: input images float NCHW RGB in [-1, 1] at `size`; output logits `[B, 1]`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import torch
from torch import nn

from faceedit_gui.networks.layers import ConvLayer, EqualLinear
from faceedit_gui.networks.stylegan2 import official_channels


@dataclasses.dataclass(frozen=True)
class DiscriminatorConfig:
    size: int = 1024  # input resolution, a power of two
    channels: dict[int, int] | None = None  # resolution -> channels; None: official table
    channel_multiplier: int = 2  # used only when channels is None
    blur_kernel: tuple[int, ...] = (1, 3, 3, 1)  # FIR taps for downsampling
    stddev_group: int = 4  # minibatch-stddev group size (clipped to a divisor of the batch)

    def resolved_channels(self) -> dict[int, int]:
        if self.channels is None:
            return official_channels(self.size, self.channel_multiplier)
        return {int(r): int(c) for r, c in self.channels.items()}


class ResBlock(nn.Module):
    """Two 3x3 convs (the second downsamples) plus a 1x1 downsampling skip, / sqrt(2)."""

    def __init__(self, in_channel: int, out_channel: int, blur_kernel: Sequence[int] = (1, 3, 3, 1)):
        super().__init__()
        self.conv1 = ConvLayer(in_channel, in_channel, 3)
        self.conv2 = ConvLayer(in_channel, out_channel, 3, downsample=True, blur_kernel=blur_kernel)
        self.skip = ConvLayer(in_channel, out_channel, 1, downsample=True, activate=False, bias=False, blur_kernel=blur_kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.conv1(x))
        return (out + self.skip(x)) / math.sqrt(2)


class Discriminator(nn.Module):
    config_class = DiscriminatorConfig

    def __init__(
        self,
        size: int = 1024,
        channels: dict[int, int] | None = None,
        channel_multiplier: int = 2,
        blur_kernel: Sequence[int] = (1, 3, 3, 1),
        stddev_group: int = 4,
    ):
        super().__init__()
        self.config = DiscriminatorConfig(
            size=size,
            channels=None if channels is None else {int(r): int(c) for r, c in channels.items()},
            channel_multiplier=channel_multiplier,
            blur_kernel=tuple(blur_kernel),
            stddev_group=stddev_group,
        )
        self.size = size
        table = self.config.resolved_channels()
        log_size = int(math.log2(size))
        convs: list[nn.Module] = [ConvLayer(3, table[size], 1)]
        in_channel = table[size]
        for i in range(log_size, 2, -1):
            out_channel = table[2 ** (i - 1)]
            convs.append(ResBlock(in_channel, out_channel, blur_kernel))
            in_channel = out_channel
        self.convs = nn.Sequential(*convs)
        self.stddev_group = stddev_group
        self.stddev_feat = 1
        self.final_conv = ConvLayer(in_channel + 1, table[4], 3)
        self.final_linear = nn.Sequential(
            EqualLinear(table[4] * 4 * 4, table[4], activation="fused_lrelu"),
            EqualLinear(table[4], 1),
        )

    @classmethod
    def from_config(cls, config: DiscriminatorConfig) -> "Discriminator":
        return cls(**{f.name: getattr(config, f.name) for f in dataclasses.fields(config)})

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if image.ndim != 4 or image.shape[1:] != (3, self.size, self.size):
            raise ValueError(f"image: got shape {list(image.shape)}, expected [B, 3, {self.size}, {self.size}]")
        out = self.convs(image)  # [B, C, 4, 4]
        batch, channel, height, width = out.shape
        group = min(batch, self.stddev_group)
        while batch % group:
            group -= 1
        stddev = out.view(group, -1, self.stddev_feat, channel // self.stddev_feat, height, width)
        stddev = torch.sqrt(stddev.float().var(0, unbiased=False) + 1e-8)
        stddev = stddev.mean([2, 3, 4], keepdim=True).squeeze(2).to(out.dtype)
        stddev = stddev.repeat(group, 1, height, width)
        out = self.final_conv(torch.cat([out, stddev], 1))
        return self.final_linear(out.reshape(batch, -1))
