"""A small ResNet trunk shared by the attribute classifier and the identity network.

Paper: He et al., "Deep Residual Learning for Image Recognition" (2016): the post-activation
`BasicBlock` (conv3x3-BN-ReLU-conv3x3-BN, plus a 1x1-conv-BN shortcut where the shape
changes, then ReLU), as in torchvision's `resnet18`, at a fraction of the width so that a
forward stays in the tens of MMAC. No reference checkpoint: the key layout is the project's
own (`stem.{0,1}`, `stages.<s>.<b>.{conv1,bn1,conv2,bn2,shortcut.{0,1}}`).

Convention: input float `[B, 3, H, W]`, RGB in [-1, 1]; output the last stage's map
`[B, channels[-1], H / (stem_stride * 2**len(channels)), ...]`.
"""

from __future__ import annotations

import torch
from torch import nn


class BasicBlock(nn.Module):
    """conv3x3(stride) -> BN -> ReLU -> conv3x3 -> BN, + shortcut, -> ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + self.shortcut(x))


class ResNetTrunk(nn.Module):
    """stem (conv3x3 with `stem_stride`, BN, ReLU), then one stage per entry of `channels`,
    each starting with a stride-2 block and holding `blocks[s]` blocks."""

    def __init__(self, stem_channels: int, stem_stride: int, channels: tuple[int, ...], blocks: tuple[int, ...]) -> None:
        super().__init__()
        if len(channels) != len(blocks) or not channels:
            raise ValueError(f"channels {channels} and blocks {blocks} must be non-empty and of equal length")
        if stem_stride not in (1, 2):
            raise ValueError(f"stem_stride must be 1 or 2, got {stem_stride}")
        self.stem = nn.Sequential(
            nn.Conv2d(3, stem_channels, 3, stem_stride, 1, bias=False),
            nn.BatchNorm2d(stem_channels),
            nn.ReLU(inplace=True),
        )
        stages = []
        c_in = stem_channels
        for c_out, n in zip(channels, blocks):
            stage = [BasicBlock(c_in, c_out, stride=2)] + [BasicBlock(c_out, c_out) for _ in range(n - 1)]
            stages.append(nn.Sequential(*stage))
            c_in = c_out
        self.stages = nn.ModuleList(stages)
        self.reduction = stem_stride * 2 ** len(channels)  # input px per output px
        self.out_channels = c_in
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        for stage in self.stages:  # zero-init the last BN of each block: blocks start as identity
            for block in stage:
                nn.init.zeros_(block.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)  # [B, stem_channels, H / stem_stride, W / stem_stride]
        for stage in self.stages:
            x = stage(x)
        return x  # [B, channels[-1], H / reduction, W / reduction]
