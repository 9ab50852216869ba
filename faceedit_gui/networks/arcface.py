"""ArcFace IR-SE50 face-recognition backbone, as used by the pSp / e4e identity loss.

Paper: Deng et al., "ArcFace: Additive Angular Margin Loss for Deep Face Recognition"
(2019); the identity loss of Richardson et al., "Encoding in Style: a StyleGAN Encoder for
Image-to-Image Translation" (pSp, 2021) and Tov et al., "Designing an Encoder for
StyleGAN Image Manipulation" (e4e, 2021).

Reference layout: `model_irse.py` `Backbone(input_size=112, num_layers=50,
drop_ratio=0.6, mode='ir_se')` of the public pSp / e4e repositories, whose state dict is
the file `model_ir_se50.pth`; the key table is `../shared/reference/arcface_ir_se50_keys.json`.
Registration order is kept: `input_layer`, then `output_layer` (BN2d -> Dropout -> Flatten
-> Linear(512*7*7, 512) -> BN1d), then `body`, so `state_dict()` lists `output_layer.*`
before `body.*` exactly as the official file does.

Convention: input `[B, 3, 112, 112]` float RGB in [-1, 1] (the ID loss feeds the
generator's output directly); output `[B, 512]`, L2-normalised. Use `arcface_preprocess`
to go from a generator-sized image to the 112 px crop the official loss uses.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from faceedit_gui.networks.irse import IR_MODES, STAGE_UNITS, l2_norm, make_body, make_input_layer


@dataclass(frozen=True)
class ArcFaceConfig:
    input_size: int = 112  # square input side; the official model is 112 (224 also exists)
    num_layers: int = 50  # 50, 100 or 152 residual layers
    drop_ratio: float = 0.6  # dropout before the embedding layer (inactive in eval)
    mode: str = "ir_se"  # 'ir_se' (with squeeze-excitation) or 'ir'
    affine: bool = True  # affine BN1d on the embedding; the official file has it

    def __post_init__(self) -> None:
        if self.input_size not in (112, 224):
            raise ValueError(f"input_size must be 112 or 224, got {self.input_size}")
        if self.num_layers not in STAGE_UNITS:
            raise ValueError(f"num_layers must be one of {sorted(STAGE_UNITS)}, got {self.num_layers}")
        if self.mode not in IR_MODES:
            raise ValueError(f"mode must be one of {IR_MODES}, got {self.mode!r}")


class Backbone(nn.Module):
    """ArcFace IR(-SE) backbone: image `[B, 3, S, S]` -> unit embedding `[B, 512]`."""

    config_class = ArcFaceConfig

    def __init__(
        self,
        input_size: int = 112,
        num_layers: int = 50,
        drop_ratio: float = 0.6,
        mode: str = "ir_se",
        affine: bool = True,
    ):
        super().__init__()
        self.config = ArcFaceConfig(input_size, num_layers, drop_ratio, mode, affine)
        grid = input_size // 16  # 7 at 112 px, 14 at 224 px
        self.input_layer = make_input_layer(3, 64)
        self.output_layer = nn.Sequential(
            nn.BatchNorm2d(512),
            nn.Dropout(drop_ratio),
            nn.Flatten(),
            nn.Linear(512 * grid * grid, 512),
            nn.BatchNorm1d(512, affine=affine),
        )
        self.body = make_body(num_layers, mode)

    @classmethod
    def from_config(cls, config: ArcFaceConfig) -> "Backbone":
        return cls(**asdict(config))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = self.config.input_size
        if x.ndim != 4 or tuple(x.shape[1:]) != (3, size, size):
            raise ValueError(f"ArcFace Backbone: expected input [B, 3, {size}, {size}], got {tuple(x.shape)}")
        x = self.input_layer(x)  # [B, 64, S, S]
        x = self.body(x)  # [B, 512, S/16, S/16]
        x = self.output_layer(x)  # [B, 512]
        return l2_norm(x)


# The official ID loss crops this window out of a 256 x 256 image (rows, then columns).
ARCFACE_CROP_256 = (slice(35, 223), slice(32, 220))


def arcface_preprocess(x: torch.Tensor, output_size: int = 112) -> torch.Tensor:
    """Generator-sized image -> the face crop the official identity loss feeds to ArcFace.

    Reference: `criteria/id_loss.py` `extract_feats` of pSp / e4e: an image whose height is
    not 256 is first brought to 256 x 256 with `AdaptiveAvgPool2d((256, 256))` (an exact
    4 x 4 average at 1024 px; below 256 px adaptive pooling repeats pixels, as the reference
    does), then cropped to rows 35:223 and columns 32:220 (188 x 188) and average-pooled
    adaptively to `output_size` (112).

    Convention: `x` is `[B, 3, H, W]` float RGB in [-1, 1]; the result `[B, 3, 112, 112]`
    stays in [-1, 1]. Differentiable.
    """
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"arcface_preprocess: expected [B, 3, H, W], got {tuple(x.shape)}")
    if x.shape[2] != 256 or x.shape[3] != 256:
        x = F.adaptive_avg_pool2d(x, (256, 256))  # [B, 3, 256, 256]
    rows, cols = ARCFACE_CROP_256
    x = x[:, :, rows, cols]  # [B, 3, 188, 188]
    return F.adaptive_avg_pool2d(x, (output_size, output_size))


def identity_embedding(backbone: Backbone, x: torch.Tensor) -> torch.Tensor:
    """Image `[B, 3, H, W]` in [-1, 1] (any size) -> ArcFace embedding `[B, 512]`, unit norm."""
    return backbone(arcface_preprocess(x, backbone.config.input_size))
