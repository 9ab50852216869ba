"""The attribute classifier of the bundled model (training-only, frozen while editing).

Used by the editor's `L_cls` (DESIGN §1.5) and by `faceedit attributes`. A small ResNet
(He et al., 2016; see `small_resnet.py`) with a multi-label head: one logit per entry of
`config.attributes`, trained with masked binary cross-entropy on the aligned CelebA 10k
attributes and UTKFace age/gender (`training/train_classifier.py`). No reference
checkpoint exists; the key layout is the project's own: `trunk.*` (see `small_resnet.py`)
and `head` (a Linear).

Architecture (defaults): the input is resized to `size` = 64 px, stem conv3x3 -> 24 ch at
64 px, stages 32/64/128/256 ch at 32/16/8/4 px (one BasicBlock each), global average pool,
dropout, Linear -> K logits. 64 MMAC and 1.2 M parameters; a forward at batch 1 takes
~5 ms on one core of this CPU (measured; with 2 threads on the shared machine it is slower). Why 64 px: CelebA's aligned faces are 89x109 source pixels, so
the 128 px crops carry little more than 64 px of detail for these attributes, and 64 px
makes training on a CPU 4x cheaper. Any input size is accepted: `[B, 3, H, W]` is resized
with antialiased bilinear resampling (differentiable) to `size` first, so the 128 px
generator's output, and 64 or 256 px crops, go in as they are.

Logits (`DEFAULT_ATTRIBUTES`): the 10 CelebA attributes under their CelebA names, plus
    age_old      UTKFace age >= `age_old_threshold` (40)
    gender_male  UTKFace gender == 0 (male); for CelebA faces the label is CelebA's `Male`
User-facing names (`USER_ATTRIBUTES`, what `faceedit attributes` prints and sliders use):

    name         probability                 logit
    smile        p(Smiling)                  +Smiling
    glasses      p(Eyeglasses)               +Eyeglasses
    age          p(age >= 40)                +age_old
    gender       p(male)                     +gender_male
    beard        1 - p(No_Beard)             -No_Beard
    goatee       p(Goatee)                   +Goatee
    mustache     p(Mustache)                 +Mustache
    gray_hair    p(Gray_Hair)                +Gray_Hair
    bald         p(Bald)                     +Bald
    mouth_open   p(Mouth_Slightly_Open)      +Mouth_Slightly_Open
    young        p(CelebA Young)             +Young
    male_celeba  p(CelebA Male)              +Male

Convention: input float `[B, 3, H, W]`, RGB in [-1, 1] (`conventions.uint8_to_tensor`);
output logits `[B, K]` (apply a sigmoid for probabilities).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from faceedit_gui.networks.encoders import check_image_batch, resize_image
from faceedit_gui.networks.small_resnet import ResNetTrunk

CELEBA_ATTRIBUTES: tuple[str, ...] = (
    "Eyeglasses",
    "Smiling",
    "Male",
    "Young",
    "No_Beard",
    "Goatee",
    "Mustache",
    "Gray_Hair",
    "Bald",
    "Mouth_Slightly_Open",
)
DEFAULT_ATTRIBUTES: tuple[str, ...] = CELEBA_ATTRIBUTES + ("age_old", "gender_male")

# user-facing name -> (logit name, sign): probability = sigmoid(sign * logit)
USER_ATTRIBUTES: dict[str, tuple[str, int]] = {
    "smile": ("Smiling", 1),
    "glasses": ("Eyeglasses", 1),
    "age": ("age_old", 1),
    "gender": ("gender_male", 1),
    "beard": ("No_Beard", -1),
    "goatee": ("Goatee", 1),
    "mustache": ("Mustache", 1),
    "gray_hair": ("Gray_Hair", 1),
    "bald": ("Bald", 1),
    "mouth_open": ("Mouth_Slightly_Open", 1),
    "young": ("Young", 1),
    "male_celeba": ("Male", 1),
}


@dataclass(frozen=True)
class AttributeClassifierConfig:
    attributes: tuple[str, ...] = DEFAULT_ATTRIBUTES  # logit names, in output order
    size: int = 64  # working resolution: inputs of any size are resized to size x size
    stem_channels: int = 24  # width of the stem conv (at `size`)
    stem_stride: int = 1  # stride of the stem conv (2 halves the cost of a 128 px working size)
    channels: tuple[int, ...] = (32, 64, 128, 256)  # width of each stage (each starts with stride 2)
    blocks: tuple[int, ...] = (1, 1, 1, 1)  # BasicBlocks per stage
    dropout: float = 0.2  # dropout before the head (training only)
    age_old_threshold: int = 40  # label definition of `age_old`: UTKFace age >= this (years)


class AttributeClassifier(nn.Module):
    """Multi-label face attribute classifier: image `[B, 3, H, W]` -> logits `[B, K]`."""

    config_class = AttributeClassifierConfig
    network_type = "attribute_classifier"

    def __init__(self, config: AttributeClassifierConfig = AttributeClassifierConfig()) -> None:
        super().__init__()
        if len(set(config.attributes)) != len(config.attributes) or not config.attributes:
            raise ValueError(f"attributes must be unique and non-empty, got {config.attributes}")
        self.config = config
        self.trunk = ResNetTrunk(config.stem_channels, config.stem_stride, config.channels, config.blocks)
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(self.trunk.out_channels, len(config.attributes))

    @classmethod
    def from_config(cls, config: AttributeClassifierConfig) -> "AttributeClassifier":
        return cls(config)

    @property
    def attributes(self) -> tuple[str, ...]:
        return self.config.attributes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_image_batch(x, "AttributeClassifier")
        x = resize_image(x, self.config.size)  # [B, 3, size, size]
        f = self.trunk(x)  # [B, C, size / 16, size / 16]
        f = f.mean(dim=(2, 3))  # [B, C]
        return self.head(self.dropout(f))  # [B, K]

    def user_logits(self, logits: torch.Tensor, names: tuple[str, ...] | None = None) -> torch.Tensor:
        """Logits `[B, K]` -> user-facing logits `[B, len(names)]` (sign applied, see the table).

        `names` defaults to every user-facing name whose logit this classifier has."""
        names = names if names is not None else self.user_names()
        cols, signs = [], []
        for name in names:
            if name not in USER_ATTRIBUTES:
                raise KeyError(f"unknown user attribute {name!r} (known: {', '.join(USER_ATTRIBUTES)})")
            logit, sign = USER_ATTRIBUTES[name]
            if logit not in self.config.attributes:
                raise KeyError(f"user attribute {name!r} needs the logit {logit!r}, which this classifier lacks")
            cols.append(self.config.attributes.index(logit))
            signs.append(float(sign))
        sign_t = torch.tensor(signs, dtype=logits.dtype, device=logits.device)
        return logits[:, cols] * sign_t  # [B, len(names)]

    def user_names(self) -> tuple[str, ...]:
        """The user-facing names this classifier can answer, in `USER_ATTRIBUTES` order."""
        return tuple(n for n, (logit, _) in USER_ATTRIBUTES.items() if logit in self.config.attributes)

    @torch.no_grad()
    def user_probabilities(self, x: torch.Tensor) -> list[dict[str, float]]:
        """Per image, {user name: probability} (eval mode is the caller's business)."""
        names = self.user_names()
        p = torch.sigmoid(self.user_logits(self(x), names)).cpu().tolist()
        return [dict(zip(names, (float(v) for v in row))) for row in p]
