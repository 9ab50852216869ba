"""IR / IR-SE residual networks: the backbone of ArcFace and of the pSp / e4e encoders.

Papers: Deng et al., "ArcFace: Additive Angular Margin Loss for Deep Face Recognition"
(2019), whose improved residual unit ("IR": BN-conv-PReLU-conv-BN, the stride on the
second conv) this is; Hu et al., "Squeeze-and-Excitation Networks" (2018) for the SE
gate. Reference layout: the `helpers.py` / `model_irse.py` of the public pSp and e4e
repositories (described in `../shared/reference/README.md`, section "Encoder and ID-loss
conventions"). Attribute names and `nn.Sequential` indices are kept so that the
state-dict keys equal the official ones:

    input_layer.{0: conv3x3, 1: BN, 2: PReLU}
    body.<i>.shortcut_layer.{0: conv1x1, 1: BN}        (only when channels change)
    body.<i>.res_layer.{0: BN, 1: conv3x3, 2: PReLU, 3: conv3x3 stride s, 4: BN, 5: SE}
    body.<i>.res_layer.5.{fc1, fc2}                    (SE, mode 'ir_se' only)

Convention: feature maps are float NCHW. The body of IR-SE50 maps a `[B, 64, H, W]`
input to `[B, 512, H/16, W/16]`; units (3, 4, 14, 3) of depths (64, 128, 256, 512), the
first unit of each stage with stride 2.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

IR_MODES = ("ir", "ir_se")

# units per stage for each supported depth; the channel depths are always (64, 128, 256, 512)
STAGE_UNITS: dict[int, tuple[int, int, int, int]] = {
    50: (3, 4, 14, 3),
    100: (3, 13, 30, 3),
    152: (3, 8, 36, 3),
}
STAGE_DEPTHS: tuple[int, int, int, int] = (64, 128, 256, 512)


class UnitSpec(NamedTuple):
    """One residual unit: input channels, output channels (`depth`), stride."""

    in_channel: int
    depth: int
    stride: int


def stage_specs(
    in_channel: int,  # channels entering the first stage
    depths: tuple[int, ...],  # output channels of each stage
    units: tuple[int, ...],  # residual units of each stage
) -> list[list[UnitSpec]]:
    """Per stage, its units: the first has stride 2 and changes channels, the rest stride 1."""
    if len(depths) != len(units):
        raise ValueError(f"depths and units differ in length: got {len(depths)} and {len(units)}")
    stages = []
    for depth, n in zip(depths, units):
        if n < 1:
            raise ValueError(f"every stage needs at least one unit, got units={units}")
        stages.append([UnitSpec(in_channel, depth, 2)] + [UnitSpec(depth, depth, 1)] * (n - 1))
        in_channel = depth
    return stages


def official_stage_specs(num_layers: int) -> list[list[UnitSpec]]:
    """The stages of IR(-SE)-50/100/152 as the reference builds them."""
    if num_layers not in STAGE_UNITS:
        raise ValueError(f"num_layers must be one of {sorted(STAGE_UNITS)}, got {num_layers}")
    return stage_specs(64, STAGE_DEPTHS, STAGE_UNITS[num_layers])


class SEModule(nn.Module):
    """Squeeze-and-excitation gate: x * sigmoid(fc2(relu(fc1(avgpool(x))))), 1x1 convs, no bias."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, hidden, kernel_size=1, padding=0, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(hidden, channels, kernel_size=1, padding=0, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.sigmoid(self.fc2(self.relu(self.fc1(self.avg_pool(x)))))  # [B, C, 1, 1]
        return x * gate


class BottleneckIR(nn.Module):
    """Improved residual unit; with `se=True` the IR-SE unit (reference: `bottleneck_IR_SE`).

    residual: BN -> conv3x3 s1 -> PReLU -> conv3x3 stride s -> BN [-> SE]
    shortcut: MaxPool2d(1, s) (a strided subsample) when channels are unchanged,
              else conv1x1 stride s -> BN.
    """

    def __init__(self, in_channel: int, depth: int, stride: int, se: bool = True, se_reduction: int = 16):
        super().__init__()
        if in_channel == depth:
            self.shortcut_layer: nn.Module = nn.MaxPool2d(1, stride)
        else:
            self.shortcut_layer = nn.Sequential(
                nn.Conv2d(in_channel, depth, (1, 1), stride, bias=False),
                nn.BatchNorm2d(depth),
            )
        layers: list[nn.Module] = [
            nn.BatchNorm2d(in_channel),
            nn.Conv2d(in_channel, depth, (3, 3), (1, 1), 1, bias=False),
            nn.PReLU(depth),
            nn.Conv2d(depth, depth, (3, 3), stride, 1, bias=False),
            nn.BatchNorm2d(depth),
        ]
        if se:
            layers.append(SEModule(depth, se_reduction))
        self.res_layer = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res_layer(x) + self.shortcut_layer(x)  # [B, depth, H/s, W/s]


def make_unit(spec: UnitSpec, mode: str) -> BottleneckIR:
    """One unit of `mode` 'ir' or 'ir_se'."""
    if mode not in IR_MODES:
        raise ValueError(f"mode must be one of {IR_MODES}, got {mode!r}")
    return BottleneckIR(spec.in_channel, spec.depth, spec.stride, se=(mode == "ir_se"))


def make_input_layer(in_channels: int = 3, out_channels: int = 64) -> nn.Sequential:
    """conv3x3 s1 (no bias) -> BN -> PReLU; keys `input_layer.{0,1,2}`."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, (3, 3), 1, 1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.PReLU(out_channels),
    )


def make_body(num_layers: int = 50, mode: str = "ir_se") -> nn.Sequential:
    """The official flat body: all units of all stages in one `nn.Sequential` (`body.<i>`)."""
    return nn.Sequential(*[make_unit(spec, mode) for stage in official_stage_specs(num_layers) for spec in stage])


def stage_end_indices(num_layers: int) -> list[int]:
    """Index in the flat body of the last unit of each stage: [2, 6, 20, 23] for 50 layers.

    The reference encoders tap `body[6]`, `body[20]`, `body[23]` (the ends of stages 2-4 of
    IR-SE50). For 100 / 152 layers we tap the stage ends too; the reference hard-codes
    6 / 20 / 23 there, but no public encoder checkpoint uses those depths.
    """
    ends, total = [], 0
    for n in STAGE_UNITS[num_layers]:
        total += n
        ends.append(total - 1)
    return ends


def l2_norm(x: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """x / ||x||_2 along `dim` (reference: `l2_norm`; no epsilon, as there)."""
    return x / torch.norm(x, 2, dim, keepdim=True)
