"""The editor's directions and the fused synthesis pass (DESIGN.md §1) on a tiny generator."""

from __future__ import annotations

import pytest
import torch

from faceedit_gui.config import config_from_dict, config_to_dict
from faceedit_gui.networks.editor import Editor, EditorConfig
from faceedit_gui.networks.fusion import check_compatible, fused_edit, reconstruction_features
from faceedit_gui.networks.stylegan2 import Generator

GEN_CH = {4: 16, 8: 16, 16: 8, 32: 8}
ENC_CH = {8: 12, 16: 10}


@pytest.fixture(scope="module")
def parts():
    torch.manual_seed(0)
    g = Generator(size=32, style_dim=16, n_mlp=2, channels=GEN_CH).eval()
    cfg = EditorConfig(n_attributes=3, n_w=8, style_dim=16, generator_channels=GEN_CH, encoder_channels=ENC_CH,
                       relevance_width=4, image_channels=4, direction_init=0.1)
    editor = Editor(cfg)
    w_p = torch.randn(2, 8, 16)
    enc = {"8x8": torch.randn(2, 12, 8, 8), "16x16": torch.randn(2, 10, 16, 16)}
    image = torch.rand(2, 3, 32, 32) * 2 - 1
    return g, editor, w_p, enc, image


def test_directions_combine_as_the_method_states(parts):
    _, editor, *_ = parts
    s = torch.tensor([[0.5, -1.0, 0.0], [2.0, 0.0, -0.25]])
    off = editor.style_offset(s)
    expected = 0.5 * editor.d_sty[0] - 1.0 * editor.d_sty[1]
    assert torch.allclose(off[0], expected, atol=1e-6)
    code = editor.content_code(s)
    # weights max(0, 1 - |s|): [0.5, 0, 1] and [0 (clamped), 1, 0.75]
    assert torch.allclose(code[0], 0.5 * editor.d_cnt[0] + editor.d_cnt[2], atol=1e-6)
    assert torch.allclose(code[1], editor.d_cnt[1] + 0.75 * editor.d_cnt[2], atol=1e-6)
    assert editor.sparsity() == editor.d_sty.abs().sum()


def test_fused_edit_returns_both_images_and_a_mask_per_level(parts):
    g, editor, w_p, enc, image = parts
    with torch.no_grad():
        out = fused_edit(g, editor, w_p, enc, image, torch.tensor([[1.0, 0, 0], [0, -0.5, 0]]))
    assert out.x_edit.shape == out.x_refine.shape == (2, 3, 32, 32)
    assert list(out.masks) == g.level_names
    for name, m in out.masks.items():
        r = int(name.split("x")[0])
        assert m.shape == (2, 1, r, r)
        assert float(m.min()) >= 0 and float(m.max()) <= 1


def test_x_edit_is_the_plain_generator_on_the_shifted_latent(parts):
    g, editor, w_p, enc, image = parts
    s = torch.tensor([[1.0, 0, 0], [0, 0, 1.0]])
    with torch.no_grad():
        out = fused_edit(g, editor, w_p, enc, image, s)
        expected = g.synthesis(w_p + editor.style_offset(s))
    assert torch.allclose(out.x_edit, expected, atol=1e-6)


def test_cached_reconstruction_features_give_the_same_result(parts):
    g, editor, w_p, enc, image = parts
    s = torch.tensor([[0.3, 0, 0], [0, 0.7, 0]])
    with torch.no_grad():
        q = reconstruction_features(g, w_p)
        a = fused_edit(g, editor, w_p, enc, image, s, q_features=q)
        b = fused_edit(g, editor, w_p, enc, image, s)
    assert torch.equal(a.x_refine, b.x_refine)


def test_mask_zero_everywhere_reduces_the_fused_pass_to_the_style_pass(parts):
    g, editor, w_p, enc, image = parts
    s = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]])
    with torch.no_grad():
        saved = [h.bias.clone() for h in editor.relevance]
        for h in editor.relevance:
            h.bias.fill_(1e4)  # sigmoid(sim - 1e4) = 0: take style everywhere
        try:
            out = fused_edit(g, editor, w_p, enc, image, s)
        finally:
            for h, b in zip(editor.relevance, saved):
                h.bias.copy_(b)
    assert max(float(m.max()) for m in out.masks.values()) == 0.0
    assert torch.allclose(out.x_refine, out.x_edit, atol=1e-5)


def test_only_editor_parameters_get_gradients_when_the_generator_is_frozen(parts):
    g, editor, w_p, enc, image = parts
    g.requires_grad_(False)
    try:
        out = fused_edit(g, editor, w_p, enc, image, torch.tensor([[1.0, 0, 0], [0, -1.0, 0]]))
        (out.x_refine.square().mean() + out.x_edit.square().mean()).backward()
    finally:
        g.requires_grad_(True)
    assert editor.d_sty.grad.abs().sum() > 0
    assert all(p.grad is not None for p in editor.extractors.parameters())
    assert all(h.query.weight.grad.abs().sum() > 0 for h in editor.relevance)
    assert all(p.grad is None for p in g.parameters())
    editor.zero_grad(set_to_none=True)


def test_config_round_trip_and_mismatch_errors(parts):
    g, editor, w_p, enc, image = parts
    cfg = config_from_dict(EditorConfig, config_to_dict(editor.config))
    assert cfg == editor.config
    check_compatible(g, editor)
    other = Generator(size=32, style_dim=16, n_mlp=2, channels={4: 16, 8: 16, 16: 8, 32: 4})
    with pytest.raises(ValueError, match="editor built for"):
        check_compatible(other, editor)
    with pytest.raises(ValueError, match=r"sliders: got shape \[2, 2\], expected \[B, 3\]"):
        editor.style_offset(torch.zeros(2, 2))


def _two_pass_reference(g, editor, w_p, enc, image, s, levels=None):
    """The method as DESIGN §1.4 writes it: a full style pass, then a fused pass whose
    level hook mixes in the content features (what `fused_edit` computed before it ran
    both passes in lockstep)."""
    q = reconstruction_features(g, w_p)
    w_edit = w_p + editor.style_offset(s)
    style = g.synthesis(w_edit, return_features=True, levels=levels)
    code = editor.content_code(s)

    def fuse(level, name, f_sty):
        m = editor.relevance[level](q[name], style.features[name])
        return (1 - m) * f_sty + m * editor.extractors[level](enc, image, code[:, level])

    return style.image, g.synthesis(w_edit, level_hook=fuse, levels=levels)


@pytest.mark.parametrize("levels", [None, 3, 1])
def test_lockstep_passes_equal_the_two_pass_definition(parts, levels):
    g, editor, w_p, enc, image = parts
    s = torch.tensor([[0.8, 0, -0.3], [0, 1.5, 0]])
    with torch.no_grad():
        out = fused_edit(g, editor, w_p, enc, image, s, levels=levels)
        x_edit, x_refine = _two_pass_reference(g, editor, w_p, enc, image, s, levels=levels)
    assert out.x_refine.shape == x_refine.shape
    assert torch.allclose(out.x_edit, x_edit, atol=1e-5)
    assert torch.allclose(out.x_refine, x_refine, atol=1e-5)
    assert not torch.allclose(out.x_refine, out.x_edit, atol=1e-3)  # the content branch did something


def test_lockstep_keeps_per_sample_noise_apart(parts):
    g, editor, w_p, enc, image = parts
    s = torch.tensor([[0.5, 0, 0], [0, 0, 0.5]])
    noise = g.make_noise(batch=2)
    with torch.no_grad():
        out = fused_edit(g, editor, w_p, enc, image, s, noise=noise)
        expected = g.synthesis(w_p + editor.style_offset(s), noise=noise)
    assert torch.allclose(out.x_edit, expected, atol=1e-5)
