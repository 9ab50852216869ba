"""Image -> W+ encoders: pSp and e4e on an IR-SE50 backbone, and their checkpoint wrapper.

Papers: Richardson et al., "Encoding in Style: a StyleGAN Encoder for Image-to-Image
Translation" (pSp, CVPR 2021) and Tov et al., "Designing an Encoder for StyleGAN Image
Manipulation" (e4e, SIGGRAPH 2021).

Reference layout: `models/encoders/psp_encoders.py` (`GradualStyleBlock`,
`GradualStyleEncoder`, `Encoder4Editing`) of the public pSp / e4e repositories. Module
names, registration order and `nn.Sequential` indices are kept so that `state_dict()`
equals `module_key` of `../shared/reference/e4e_encoder_keys.json` and
`psp_gradual_encoder_keys.json` (621 entries at 1024 px): `input_layer`, `body`,
`styles.<i>.convs.<2j>`, `styles.<i>.linear`, `latlayer1`, `latlayer2`. `OfficialEncoder`
holds one of them as `encoder` plus the `latent_avg` buffer, which is the layout of an
official `.pt` file (`encoder.<module_key>`, `latent_avg`); its loader lives in
`faceedit_gui.checkpoints.official_encoders`.

Arithmetic (reference README, "Encoder and ID-loss conventions"): feature taps c1, c2, c3
at the ends of stages 2, 3, 4 (`body[6]`, `body[20]`, `body[23]`); FPN
`p2 = up(c3) + latlayer1(c2)`, `p1 = up(p2) + latlayer2(c1)` with bilinear upsampling,
`align_corners=True`; style heads: log2(spatial) stride-2 3x3 convs with
`LeakyReLU(0.01)`, then `EqualLinear(512, 512)`; styles 0-2 read c3, 3-6 read p2, the rest
p1. pSp stacks the heads; e4e returns w0 repeated plus a delta per style i >= 1 (all
deltas, `ProgressiveStage.Inference`).

Conventions: images are float NCHW RGB in [-1, 1]. Encoders return `(codes, features)`:
codes `[B, n_styles, 512]`, and `features` an insertion-ordered dict of the 2-D pyramid
from coarse to fine keyed by resolution, `{"16x16": c3, "32x32": p2, "64x64": p1}` for a
256 px input, every map 512 channels. `OfficialEncoder` resizes any input to 256 x 256
with antialiased bilinear interpolation (torch's equivalent of the PIL `Resize` in the
reference transforms) and adds `latent_avg`.

The bundled 128 px encoder is `SmallEncoder` in `small_encoder.py` (also importable from
here).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from faceedit_gui.networks.irse import IR_MODES, STAGE_UNITS, make_body, make_input_layer, stage_end_indices
from faceedit_gui.networks.layers import EqualLinear

STYLE_DIM = 512  # the official encoders always produce 512-d styles
COARSE_STYLES = 3  # styles [0, 3) read the coarsest map
MIDDLE_STYLES = 7  # styles [3, 7) read the middle map, [7, n) the finest
HEAD_SPATIAL = (16, 32, 64)  # head input size (for a 256 px image) of coarse / middle / fine styles


class EncoderOutput(NamedTuple):
    """Everything an encoder computes.

    w_plus:   `[B, n_w, style_dim]` (codes; `latent_avg` added where the module holds one)
    features: name -> `[B, C, h, w]`, coarse to fine, keyed "hxw"
    deltas:   `[B, n_w - 1, style_dim]` offsets of styles 1.. from w0 (e4e-style encoders;
              e4e's delta regulariser penalises their norms), None for pSp
    """

    w_plus: torch.Tensor
    features: dict[str, torch.Tensor]
    deltas: torch.Tensor | None


def n_styles_for(output_size: int) -> int:
    """Number of W+ vectors of a StyleGAN2 of this resolution: 2 * log2(size) - 2."""
    if output_size < 4 or output_size & (output_size - 1):
        raise ValueError(f"output_size must be a power of two >= 4, got {output_size}")
    return 2 * int(math.log2(output_size)) - 2


def check_image_batch(x: torch.Tensor, who: str, channels: int = 3) -> None:
    """Raise a got/expected error unless `x` is `[B, channels, H, W]`."""
    if x.ndim != 4 or x.shape[1] != channels:
        raise ValueError(f"{who}: expected an image batch [B, {channels}, H, W], got {tuple(x.shape)}")


def resize_image(x: torch.Tensor, size: int) -> torch.Tensor:
    """`[B, C, H, W]` -> `[B, C, size, size]` by antialiased bilinear resampling (no-op if equal).

    Antialiased bilinear (`align_corners=False`) is torch's counterpart of PIL's bilinear
    `Resize`, which the reference encode transforms use before `Normalize(0.5, 0.5)`.
    """
    if x.shape[-2] == size and x.shape[-1] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


def upsample_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """FPN merge: bilinear-upsample `x` to `y`'s size (align_corners=True) and add `y`."""
    return F.interpolate(x, size=y.shape[-2:], mode="bilinear", align_corners=True) + y


def level_name(x: torch.Tensor) -> str:
    """Feature-dict key of a map: "<h>x<w>"."""
    return f"{x.shape[-2]}x{x.shape[-1]}"


class GradualStyleBlock(nn.Module):
    """pSp style head: `log2(spatial)` stride-2 convs down to 1x1, then an EqualLinear.

    convs: Conv3x3 s2 (bias) + LeakyReLU(0.01), repeated; keys `convs.<2j>.{weight,bias}`.
    linear: EqualLinear(out_c, out_dim), lr_mul 1, no activation; keys `linear.{weight,bias}`.
    `out_dim` defaults to `out_c` (the reference); the small encoder uses a narrower `out_c`.
    """

    def __init__(self, in_c: int, out_c: int, spatial: int, out_dim: int | None = None):
        super().__init__()
        num_pools = int(math.log2(spatial))
        if num_pools < 1 or 2**num_pools != spatial:
            raise ValueError(f"spatial must be a power of two >= 2, got {spatial}")
        self.out_c = out_c
        layers: list[nn.Module] = [nn.Conv2d(in_c, out_c, kernel_size=3, stride=2, padding=1), nn.LeakyReLU()]
        for _ in range(num_pools - 1):
            layers += [nn.Conv2d(out_c, out_c, kernel_size=3, stride=2, padding=1), nn.LeakyReLU()]
        self.convs = nn.Sequential(*layers)
        self.linear = EqualLinear(out_c, out_dim or out_c, lr_mul=1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.convs(x)  # [B, out_c, 1, 1]
        if x.shape[-2:] != (1, 1):
            raise ValueError(
                f"GradualStyleBlock: the input map is too large for this head: after the convs got "
                f"{tuple(x.shape)}, expected [B, {self.out_c}, 1, 1] (feed a 256 px image to the encoder)"
            )
        return self.linear(x.flatten(1))  # [B, out_dim]


@dataclass(frozen=True)
class Encoder4EditingConfig:
    output_size: int = 1024  # generator resolution; n_styles = 2*log2(output_size) - 2 (18)
    num_layers: int = 50  # IR-SE depth: 50 (official), 100 or 152
    mode: str = "ir_se"  # 'ir_se' (official) or 'ir'

    def __post_init__(self) -> None:
        n_styles_for(self.output_size)
        if self.num_layers not in STAGE_UNITS:
            raise ValueError(f"num_layers must be one of {sorted(STAGE_UNITS)}, got {self.num_layers}")
        if self.mode not in IR_MODES:
            raise ValueError(f"mode must be one of {IR_MODES}, got {self.mode!r}")

    @property
    def n_styles(self) -> int:
        return n_styles_for(self.output_size)


@dataclass(frozen=True)
class GradualStyleEncoderConfig(Encoder4EditingConfig):
    input_nc: int = 3  # image channels (pSp's other tasks use segmentation maps etc.)


class _IRSEStyleEncoder(nn.Module):
    """Shared trunk of pSp and e4e: IR-SE body, FPN, one GradualStyleBlock per style."""

    config_class: Any = Encoder4EditingConfig

    def __init__(self, config: Encoder4EditingConfig, input_nc: int = 3):
        super().__init__()
        self.config = config
        self.input_nc = input_nc
        self.n_styles = config.n_styles
        self.style_dim = STYLE_DIM
        self._taps = stage_end_indices(config.num_layers)[1:]  # c1, c2, c3 = ends of stages 2, 3, 4
        self.input_layer = make_input_layer(input_nc, 64)
        self.body = make_body(config.num_layers, config.mode)
        self.styles = nn.ModuleList(
            [GradualStyleBlock(512, 512, HEAD_SPATIAL[self._head_level(i)]) for i in range(self.n_styles)]
        )
        self.latlayer1 = nn.Conv2d(256, 512, kernel_size=1, stride=1, padding=0)
        self.latlayer2 = nn.Conv2d(128, 512, kernel_size=1, stride=1, padding=0)

    @classmethod
    def from_config(cls, config: Any) -> "_IRSEStyleEncoder":
        return cls(**{name: getattr(config, name) for name in config.__dataclass_fields__})

    @staticmethod
    def _head_level(i: int) -> int:
        """0 (coarse: c3), 1 (middle: p2) or 2 (fine: p1) for style i."""
        return 0 if i < COARSE_STYLES else 1 if i < MIDDLE_STYLES else 2

    def pyramid(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Image `[B, C, H, W]` -> FPN maps [c3, p2, p1] (H/16, H/8, H/4; 512 channels each)."""
        check_image_batch(x, type(self).__name__, self.input_nc)
        x = self.input_layer(x)  # [B, 64, H, W]
        taps = []
        for i, unit in enumerate(self.body):
            x = unit(x)
            if i in self._taps:
                taps.append(x)
        c1, c2, c3 = taps  # [B,128,H/4], [B,256,H/8], [B,512,H/16]
        p2 = upsample_add(c3, self.latlayer1(c2))  # [B, 512, H/8, W/8]
        p1 = upsample_add(p2, self.latlayer2(c1))  # [B, 512, H/4, W/4]
        return [c3, p2, p1]

    def encode(self, x: torch.Tensor) -> EncoderOutput:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        out = self.encode(x)
        return out.w_plus, out.features


class GradualStyleEncoder(_IRSEStyleEncoder):
    """pSp encoder: every style from its own head. `forward(x) -> (codes [B, n, 512], features)`."""

    config_class = GradualStyleEncoderConfig

    def __init__(self, output_size: int = 1024, num_layers: int = 50, mode: str = "ir_se", input_nc: int = 3):
        super().__init__(GradualStyleEncoderConfig(output_size, num_layers, mode, input_nc), input_nc)

    def encode(self, x: torch.Tensor) -> EncoderOutput:
        maps = self.pyramid(x)
        codes = torch.stack([head(maps[self._head_level(i)]) for i, head in enumerate(self.styles)], dim=1)
        return EncoderOutput(codes, {level_name(m): m for m in maps}, None)  # codes: [B, n, 512]


class Encoder4Editing(_IRSEStyleEncoder):
    """e4e encoder: w0 from head 0, repeated, plus one delta per later style.

    `forward(x) -> (codes [B, n, 512], features)`; `encode(x).deltas` gives `[B, n-1, 512]`.
    """

    config_class = Encoder4EditingConfig

    def __init__(self, output_size: int = 1024, num_layers: int = 50, mode: str = "ir_se"):
        super().__init__(Encoder4EditingConfig(output_size, num_layers, mode), 3)

    def encode(self, x: torch.Tensor) -> EncoderOutput:
        maps = self.pyramid(x)
        w0 = self.styles[0](maps[0])  # [B, 512]
        deltas = [self.styles[i](maps[self._head_level(i)]) for i in range(1, self.n_styles)]
        codes, delta = combine_w0_deltas(w0, deltas, self.n_styles)
        return EncoderOutput(codes, {level_name(m): m for m in maps}, delta)


def combine_w0_deltas(
    w0: torch.Tensor,  # [B, D]
    deltas: list[torch.Tensor],  # n - 1 tensors [B, D]
    n_styles: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """e4e's W+: `w[:, 0] = w0`, `w[:, i] = w0 + delta_i`. Returns (w `[B, n, D]`, deltas `[B, n-1, D]`)."""
    if deltas:
        delta = torch.stack(deltas, dim=1)  # [B, n-1, D]
    else:
        delta = w0.new_zeros(w0.shape[0], 0, w0.shape[1])
    if delta.shape[1] != n_styles - 1:
        raise ValueError(f"expected {n_styles - 1} deltas, got {delta.shape[1]}")
    offsets = torch.cat([torch.zeros_like(w0)[:, None], delta], dim=1)  # [B, n, D]
    return w0[:, None] + offsets, delta


OFFICIAL_KINDS = {"e4e": Encoder4Editing, "psp": GradualStyleEncoder}


@dataclass(frozen=True)
class OfficialEncoderConfig:
    kind: str = "e4e"  # 'e4e' (Encoder4Editing) or 'psp' (GradualStyleEncoder)
    output_size: int = 1024  # resolution of the paired StyleGAN2; n_w = 2*log2(output_size) - 2
    num_layers: int = 50  # IR-SE depth; the public checkpoints use 50
    mode: str = "ir_se"  # residual unit; the public checkpoints use 'ir_se'
    input_size: int = 256  # images are resized to this square size, as in training

    def __post_init__(self) -> None:
        if self.kind not in OFFICIAL_KINDS:
            raise ValueError(f"kind must be one of {sorted(OFFICIAL_KINDS)}, got {self.kind!r}")
        Encoder4EditingConfig(self.output_size, self.num_layers, self.mode)  # validates the rest
        if self.input_size < 16 or self.input_size % 16:
            raise ValueError(f"input_size must be a multiple of 16, got {self.input_size}")

    @property
    def n_w(self) -> int:
        return n_styles_for(self.output_size)


class OfficialEncoder(nn.Module):
    """An official e4e / pSp encoder with its `latent_avg`: the layout of the `.pt` files.

    State dict: `encoder.<module_key>` (621 entries at 1024 px) and `latent_avg`
    `[n_w, 512]`. `forward(x [B, 3, H, W] in [-1, 1]) -> (w_plus [B, n_w, 512], features)`,
    where `w_plus = codes + latent_avg` and features are the encoder's FPN maps
    ("16x16", "32x32", "64x64" at the default 256 px input size).
    """

    config_class = OfficialEncoderConfig

    def __init__(self, config: OfficialEncoderConfig | None = None):
        super().__init__()
        self.config = config = config or OfficialEncoderConfig()
        encoder_class = OFFICIAL_KINDS[config.kind]
        self.encoder: _IRSEStyleEncoder = encoder_class(config.output_size, config.num_layers, config.mode)
        self.register_buffer("latent_avg", torch.zeros(config.n_w, STYLE_DIM))

    @classmethod
    def from_config(cls, config: OfficialEncoderConfig) -> "OfficialEncoder":
        return cls(config)

    @property
    def network_type(self) -> str:
        """Registry name (`faceedit_gui.networks.registry`): e4e and pSp share this class."""
        return f"{self.config.kind}_encoder"

    @property
    def n_w(self) -> int:
        return self.config.n_w

    @property
    def style_dim(self) -> int:
        return STYLE_DIM

    def encode(self, x: torch.Tensor) -> EncoderOutput:
        """Like `forward`, plus e4e's deltas (None for pSp)."""
        check_image_batch(x, "OfficialEncoder")
        x = resize_image(x, self.config.input_size)  # [B, 3, 256, 256]
        codes, features, deltas = self.encoder.encode(x)
        w_plus = codes + self.latent_avg[None].to(codes.dtype)  # [B, n_w, 512]
        return EncoderOutput(w_plus, features, deltas)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        out = self.encode(x)
        return out.w_plus, out.features


def __getattr__(name: str) -> Any:
    # `SmallEncoder` lives in its own module (which imports this one); re-exported lazily.
    if name in ("SmallEncoder", "SmallEncoderConfig"):
        from faceedit_gui.networks import small_encoder

        return getattr(small_encoder, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
