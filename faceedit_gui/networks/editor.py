"""The two-branch editor's learned parts: directions, content extractor, relevance heads.

Paper: Yin et al., "Expanding the Latent Space of StyleGAN for Real Face Editing" (2022);
the precise reading used here is `../shared/DESIGN.md` §1:
- style directions `d_sty[k]` `[n_w, style_dim]`, `d_sty = Σ_k s_k d_sty[k]`;
- content directions `d_cnt[k]` `[L, style_dim]`, `d_cnt = Σ_k max(0, 1 − |s_k|) d_cnt[k]`;
- `A_i`: an AdaIN content extractor from the encoder's feature pyramid (and the input
  image, for levels finer than the encoder's finest map) to level i's channels and size,
  its normalisation modulated by `d_cnt[i]`;
- `H_i`: relevance `m_i = sigmoid(<Conv(Q_i), Conv(K_i)> / sqrt(c) − b_i)` per pixel
  (a two-way softmax of the similarity against a learned bias).
The fused synthesis pass that uses them is `faceedit_gui/networks/fusion.py`.

Convention: images float NCHW RGB in [-1, 1]; features keyed by resolution "HxW";
sliders `s` `[B, K]`; masks `[B, 1, H_i, W_i]` in [0, 1] (1 = keep content).
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn

from faceedit_gui.networks.layers import EqualConv2d, EqualLinear, fused_leaky_relu


@dataclasses.dataclass(frozen=True)
class EditorConfig:
    n_attributes: int = 5  # K sliders the directions are learned for
    n_w: int = 12  # style vectors in W+ (2 log2(R) − 2)
    style_dim: int = 512  # width of each style vector and each direction
    generator_channels: dict[int, int] = dataclasses.field(
        default_factory=lambda: {4: 256, 8: 256, 16: 256, 32: 128, 64: 64, 128: 32}
    )  # level resolution -> generator feature channels (one entry per level, L in all)
    encoder_channels: dict[int, int] = dataclasses.field(
        default_factory=lambda: {8: 256, 16: 256, 32: 128, 64: 64}
    )  # encoder feature resolution -> channels (the pyramid `A` reads)
    relevance_width: int = 16  # c: width of the query/key 1x1 convs of H_i
    image_channels: int = 16  # width of the image stem for levels finer than the encoder
    direction_init: float = 0.0  # std of the initial directions (0: sliders start neutral)

    @property
    def levels(self) -> list[int]:
        return sorted(int(r) for r in self.generator_channels)

    @property
    def n_levels(self) -> int:
        return len(self.generator_channels)


class AdaIN(nn.Module):
    """Instance normalisation whose scale and bias come from a code vector."""

    def __init__(self, channels: int, code_dim: int):
        super().__init__()
        self.affine = EqualLinear(code_dim, 2 * channels)
        with torch.no_grad():  # start as plain instance norm: gamma = 1, beta = 0
            self.affine.weight.zero_()
            self.affine.bias.zero_()

    def forward(self, x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        # x [B, C, H, W], code [B, code_dim]
        gamma, beta = self.affine(code).unsqueeze(-1).unsqueeze(-1).chunk(2, dim=1)
        return F.instance_norm(x) * (1 + gamma) + beta


class ContentExtractor(nn.Module):
    """`A_i`: encoder features (or the image) -> level i's content features.

    The source is the encoder map at the level's resolution; coarser levels pool the
    coarsest encoder map down; finer levels read the input image (resized to the level)
    together with the finest encoder map upsampled, so high-frequency detail is there.
    """

    def __init__(self, resolution: int, out_channels: int, config: EditorConfig):
        super().__init__()
        self.resolution = resolution
        enc = sorted(int(r) for r in config.encoder_channels)
        self.finest = enc[-1]
        if resolution > self.finest:
            self.source = "image"
            self.image_stem = EqualConv2d(3, config.image_channels, 3, padding=1)
            in_channels = config.image_channels + config.encoder_channels[self.finest]
        else:
            self.source = max([r for r in enc if r <= resolution], default=enc[0])
            in_channels = config.encoder_channels[self.source]
        self.conv_in = EqualConv2d(in_channels, out_channels, 3, padding=1)
        self.norm = AdaIN(out_channels, config.style_dim)
        self.conv_out = EqualConv2d(out_channels, out_channels, 3, padding=1)

    def forward(self, features: dict[str, torch.Tensor], image: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        return self.modulate(self.prepare(features, image), code)

    def prepare(self, features: dict[str, torch.Tensor], image: torch.Tensor) -> torch.Tensor:
        """The code-independent part: source -> conv_in -> lrelu -> instance norm `[B, C_i, r, r]`.

        It depends only on the photo, so a session computes it once and reuses it for
        every slider change (`modulate` does the rest).
        """
        r = self.resolution
        if self.source == "image":
            # antialiased resizing has no fp16/bf16 kernels on the CPU: resize in fp32 (a no-op cast for fp32)
            img = F.interpolate(image.float(), size=(r, r), mode="bilinear", align_corners=False, antialias=True)
            img = img.to(image.dtype)
            fine = F.interpolate(features[f"{self.finest}x{self.finest}"], size=(r, r), mode="bilinear", align_corners=False)
            x = torch.cat([fused_leaky_relu(self.image_stem(img), None), fine], 1)
        else:
            x = features[f"{self.source}x{self.source}"]
            if x.shape[-1] != r:
                x = F.adaptive_avg_pool2d(x, r)
        x = fused_leaky_relu(self.conv_in(x), None)
        return F.instance_norm(x)

    def modulate(self, prepared: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        """`prepare`'s output, AdaIN-modulated by `code` `[B, style_dim]`, then conv_out."""
        gamma, beta = self.norm.affine(code).unsqueeze(-1).unsqueeze(-1).chunk(2, dim=1)
        return self.conv_out(prepared * (1 + gamma) + beta)  # [B, C_i, r, r]


class RelevanceHead(nn.Module):
    """`H_i`: per-pixel relevance of the reconstruction vs. the style-edited features."""

    def __init__(self, channels: int, width: int):
        super().__init__()
        self.query = EqualConv2d(channels, width, 1)
        self.key = EqualConv2d(channels, width, 1)
        self.bias = nn.Parameter(torch.zeros(1))
        self.width = width

    def forward(self, q_feat: torch.Tensor, k_feat: torch.Tensor) -> torch.Tensor:
        q = self.query(q_feat)
        k = self.key(k_feat)
        similarity = (q * k).sum(1, keepdim=True) / math.sqrt(self.width)  # [B, 1, H, W]
        return torch.sigmoid(similarity - self.bias)


class Editor(nn.Module):
    """Learned directions plus `A_i` and `H_i` for every generator level."""

    config_class = EditorConfig

    def __init__(self, config: EditorConfig | None = None):
        super().__init__()
        self.config = config = config or EditorConfig()
        k, std = config.n_attributes, config.direction_init
        self.d_sty = nn.Parameter(torch.randn(k, config.n_w, config.style_dim) * std)
        self.d_cnt = nn.Parameter(torch.randn(k, config.n_levels, config.style_dim) * std)
        self.extractors = nn.ModuleList(
            ContentExtractor(r, config.generator_channels[r], config) for r in config.levels
        )
        self.relevance = nn.ModuleList(
            RelevanceHead(config.generator_channels[r], config.relevance_width) for r in config.levels
        )

    @classmethod
    def from_config(cls, config: EditorConfig) -> "Editor":
        return cls(config)

    def _check_sliders(self, s: torch.Tensor) -> None:
        if s.ndim != 2 or s.shape[1] != self.config.n_attributes:
            raise ValueError(f"sliders: got shape {list(s.shape)}, expected [B, {self.config.n_attributes}]")

    def style_offset(self, s: torch.Tensor) -> torch.Tensor:
        """`Σ_k s_k d_sty[k]`: sliders `[B, K]` -> W+ offset `[B, n_w, style_dim]`."""
        self._check_sliders(s)
        return torch.einsum("bk,knd->bnd", s.to(self.d_sty.dtype), self.d_sty)

    def content_code(self, s: torch.Tensor) -> torch.Tensor:
        """`Σ_k max(0, 1 − |s_k|) d_cnt[k]`: sliders -> `[B, L, style_dim]`."""
        self._check_sliders(s)
        keep = (1 - s.abs()).clamp(min=0).to(self.d_cnt.dtype)
        return torch.einsum("bk,kld->bld", keep, self.d_cnt)

    def sparsity(self) -> torch.Tensor:
        """`L_spa = Σ_k ‖d_sty[k]‖_1`."""
        return self.d_sty.abs().sum()
