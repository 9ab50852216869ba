"""The fused synthesis pass of the two-branch editor: `x_edit`, `x_refine` and every `m_i`.

Paper: Yin et al., "Expanding the Latent Space of StyleGAN for Real Face Editing" (2022),
as read in `../shared/DESIGN.md` §1.4: at every level i,
`f[i+1] = (1 − m_i) · f_sty[i] + m_i · f_cnt[i]` where `f_sty[i]` is what the
style-edited generator computes at level i from the fused features before it,
`m_i = H_i(Q_i, K_i)` with `Q_i` the reconstruction pass's and `K_i` the pure style
pass's features at level i, and `f_cnt[i] = A_i(f_enc, x, d_cnt[i])`. The RGB skips of
the fused pass read the fused features, so `x_refine` is the fused pass's output.

Per slider change only the style pass, `A`, `H` and the fused pass run; the
reconstruction features `Q_i` are slider-independent: compute them once per photo with
`reconstruction_features` and pass them in.

Convention: images float NCHW RGB in [-1, 1]; W+ `[B, n_w, style_dim]`; sliders `[B, K]`.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import torch

from faceedit_gui.networks.editor import Editor
from faceedit_gui.networks.stylegan2 import Generator


@dataclasses.dataclass(frozen=True)
class EditResult:
    x_edit: torch.Tensor  # [B, 3, R, R] pure style edit G(w_p + d_sty)
    x_refine: torch.Tensor  # [B, 3, R, R] output of the fused pass
    masks: dict[str, torch.Tensor]  # level name -> m_i [B, 1, H_i, W_i]; 1 = content kept
    w_edit: torch.Tensor  # [B, n_w, style_dim] = w_p + d_sty
    style_features: dict[str, torch.Tensor]  # K_i by level name


def check_compatible(generator: Generator, editor: Editor) -> None:
    """The editor's levels and widths must be the generator's."""
    cfg = editor.config
    gen = {int(r): c for r, c in generator.channels.items()}
    if cfg.n_w != generator.n_latent or cfg.style_dim != generator.style_dim or dict(cfg.generator_channels) != gen:
        raise ValueError(
            f"editor built for n_w={cfg.n_w}, style_dim={cfg.style_dim}, channels={dict(cfg.generator_channels)}; "
            f"generator has n_w={generator.n_latent}, style_dim={generator.style_dim}, channels={gen}"
        )


def reconstruction_features(
    generator: Generator,
    w_p: torch.Tensor,
    noise: Sequence[torch.Tensor | None] | None = None,
) -> dict[str, torch.Tensor]:
    """`Q_i = G_i(w_p)` for every level, by name (cache these per photo)."""
    return generator.synthesis(w_p, noise=noise, return_features=True).features


def content_inputs(editor: Editor, enc_features: dict[str, torch.Tensor], image: torch.Tensor) -> list[torch.Tensor]:
    """Every `A_i`'s slider-independent part (`ContentExtractor.prepare`), by level: cache per photo."""
    return [extractor.prepare(enc_features, image) for extractor in editor.extractors]


def fused_edit(
    generator: Generator,
    editor: Editor,
    w_p: torch.Tensor,
    enc_features: dict[str, torch.Tensor],
    image: torch.Tensor,
    sliders: torch.Tensor,
    q_features: dict[str, torch.Tensor] | None = None,
    noise: Sequence[torch.Tensor | None] | None = None,
    levels: int | None = None,
    content: Sequence[torch.Tensor] | None = None,
) -> EditResult:
    """Run the style pass and the fused pass; return both images and every `m_i`.

    `w_p` `[B, n_w, style_dim]` (latent average included), `enc_features` the encoder's
    pyramid, `image` the aligned input `[B, 3, R, R]`, `sliders` `[B, K]`. `levels` stops
    both passes early for a preview (images at that level's resolution, masks up to it).
    `content` (from `content_inputs`, cached per photo) skips the extractors' input side.
    """
    b = w_p.shape[0]
    if image.ndim != 4 or image.shape[0] != b or image.shape[1] != 3:
        raise ValueError(f"image: got shape {list(image.shape)}, expected [{b}, 3, R, R]")
    if sliders.ndim != 2 or sliders.shape[0] != b:
        raise ValueError(f"sliders: got shape {list(sliders.shape)}, expected [{b}, K]")
    if q_features is None:
        q_features = reconstruction_features(generator, w_p, noise)
    w_edit = w_p + editor.style_offset(sliders).to(w_p.dtype)
    code = editor.content_code(sliders)  # [B, L, style_dim]
    levels = generator.num_levels if levels is None else levels
    if not 1 <= levels <= generator.num_levels:
        raise ValueError(f"levels: got {levels}, expected 1..{generator.num_levels}")
    noise_1 = generator.resolve_noise(noise, randomize_noise=False)
    # The style pass and the fused pass share w_edit, so they run in lockstep as one
    # batch [style; fused] of 2B: one modulated weight and one conv call per layer for
    # both (about 25 % faster for the 64 px drag preview on a 2-core CPU). Level 0 is
    # the same for both (constant input, same style).
    noise_2 = [n if n is None or n.shape[0] == 1 else torch.cat([n, n]) for n in noise_1]
    masks: dict[str, torch.Tensor] = {}
    style_features: dict[str, torch.Tensor] = {}
    pair: torch.Tensor | None = None  # [2B, C, H, W]: style pass, then fused pass
    skips: torch.Tensor | None = None  # [2B, 3, H, W]: their running RGB images
    for level, name in enumerate(generator.level_names[:levels]):
        if level == 0:
            f_sty = f_prev = generator.level_features(0, None, w_edit, noise_1)
        else:
            f_sty, f_prev = generator.level_features(level, pair, w_edit, noise_2).split(b)
        m = editor.relevance[level](q_features[name], f_sty).to(f_sty.dtype)
        extractor = editor.extractors[level]
        if content is not None:
            f_cnt = extractor.modulate(content[level], code[:, level]).to(f_sty.dtype)
        else:
            f_cnt = extractor(enc_features, image, code[:, level]).to(f_sty.dtype)
        masks[name] = m
        style_features[name] = f_sty
        pair = torch.cat([f_sty, (1 - m) * f_prev + m * f_cnt])
        skips = generator.level_rgb(level, pair, skips, w_edit)
    assert skips is not None
    x_edit, x_refine = skips.split(b)
    return EditResult(
        x_edit=x_edit,
        x_refine=x_refine,
        masks=masks,
        w_edit=w_edit,
        style_features=style_features,
    )
