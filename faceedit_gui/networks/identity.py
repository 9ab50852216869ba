"""The identity network of the bundled model (training-only, frozen, differentiable).

A small CNN distilled from dlib's 128-D face-recognition embedding (King, "dlib-ml", 2009;
the ResNet-29 `dlib_face_recognition_resnet_model_v1`, CC0, from the face-recognition-models
package) so that the editor's `L_id = 1 - cos(ID(x), ID(x_edit))` (DESIGN §1.5) has a
gradient: dlib itself is not differentiable and stays the evaluator
(`training/dlib_targets.py`, `training/train_identity.py`). No reference checkpoint; the key
layout is the project's own: `trunk.*` (see `small_resnet.py`), `output.{0,3,4}` (BN2d,
Linear, BN1d, in the ArcFace "output layer" pattern) and the buffer `dlib_mean` `[128]`.

What it predicts: dlib descriptors of faces all lie in a narrow cone (the mean cosine of two
different people is about 0.87), which would make `1 - cos` a weak signal. The network
therefore predicts the *centred* descriptor, `normalize(dlib(x) - dlib_mean)`, with
`dlib_mean` the mean descriptor of the distillation training set (kept as a buffer, so
`embed_dlib_space` can map back approximately).

Architecture (defaults): input resized to `size` = 128 px (the bundle's crop), stem conv3x3
stride 2 -> 32 ch at 64 px, stages 48/96/192/256 ch at 32/16/8/4 px (one BasicBlock each),
then BN2d, dropout, flatten (4x4x256, keeping the layout of the face), Linear -> 128, BN1d,
L2 normalisation. About 125 MMAC and 2.3 M parameters; a forward at batch 1 takes ~10 ms on
one core of this CPU.

Convention: input float `[B, 3, H, W]`, RGB in [-1, 1], an aligned crop in the bundle's
framing (any size: resized with antialiased bilinear resampling); output `[B, dim]`
unit vectors.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from faceedit_gui.networks.encoders import check_image_batch, resize_image
from faceedit_gui.networks.small_resnet import ResNetTrunk

DLIB_DIM = 128


@dataclass(frozen=True)
class IdentityNetConfig:
    size: int = 128  # working resolution: inputs of any size are resized to size x size
    dim: int = DLIB_DIM  # embedding width (dlib's descriptor has 128)
    stem_channels: int = 32  # width of the stem conv
    stem_stride: int = 2  # stride of the stem conv
    channels: tuple[int, ...] = (48, 96, 192, 256)  # width of each stage (each starts with stride 2)
    blocks: tuple[int, ...] = (1, 1, 1, 1)  # BasicBlocks per stage
    dropout: float = 0.2  # dropout before the embedding layer (training only)


class IdentityNet(nn.Module):
    """Aligned face crop `[B, 3, H, W]` -> unit embedding `[B, dim]` (centred dlib space)."""

    config_class = IdentityNetConfig
    network_type = "identity"

    def __init__(self, config: IdentityNetConfig = IdentityNetConfig()) -> None:
        super().__init__()
        self.config = config
        self.trunk = ResNetTrunk(config.stem_channels, config.stem_stride, config.channels, config.blocks)
        side = config.size // self.trunk.reduction
        if side < 1 or side * self.trunk.reduction != config.size:
            raise ValueError(f"size {config.size} must be a multiple of the trunk's reduction {self.trunk.reduction}")
        self.output = nn.Sequential(
            nn.BatchNorm2d(self.trunk.out_channels),
            nn.Dropout(config.dropout),
            nn.Flatten(),
            nn.Linear(self.trunk.out_channels * side * side, config.dim),
            nn.BatchNorm1d(config.dim),
        )
        self.register_buffer("dlib_mean", torch.zeros(config.dim))

    @classmethod
    def from_config(cls, config: IdentityNetConfig) -> "IdentityNet":
        return cls(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image_batch(x, "IdentityNet")
        x = resize_image(x, self.config.size)  # [B, 3, size, size]
        f = self.trunk(x)  # [B, C, size / 32, size / 32]
        e = self.output(f)  # [B, dim]
        return F.normalize(e, dim=1)

    def embed_dlib_space(self, x: torch.Tensor, norm: float = 1.0) -> torch.Tensor:
        """An approximate dlib descriptor: `dlib_mean + norm * forward(x)`, `norm` being the
        typical length of a centred descriptor (recorded in the training metrics)."""
        return self.dlib_mean + norm * self(x)


def identity_loss(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """`1 - cos(a, b)` per pair, averaged: the editor's L_id on two `[B, dim]` embeddings."""
    return (1.0 - F.cosine_similarity(a, b, dim=1)).mean()
