"""The inference switches are exact: modulated-conv path, cached content inputs, thread settings."""

from __future__ import annotations

import pytest
import torch

from faceedit_gui.engine.runtime import configure_cpu, set_modconv_fused
from faceedit_gui.networks.editor import Editor, EditorConfig
from faceedit_gui.networks.fusion import content_inputs, fused_edit
from faceedit_gui.networks.stylegan2 import Generator


def _tiny():
    torch.manual_seed(0)
    channels = {4: 16, 8: 16, 16: 8, 32: 8}
    g = Generator(size=32, style_dim=16, n_mlp=2, channels=channels)
    ed = Editor(EditorConfig(n_attributes=2, n_w=g.n_latent, style_dim=16, generator_channels=channels,
                             encoder_channels={8: 4, 16: 4}, relevance_width=4, image_channels=4, direction_init=0.5))
    w = torch.randn(1, g.n_latent, 16)
    feats = {"8x8": torch.randn(1, 4, 8, 8), "16x16": torch.randn(1, 4, 16, 16)}
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    return g, ed, w, feats, x


def test_unfused_switch_gives_the_same_image():
    g, _, w, _, _ = _tiny()
    with torch.inference_mode():
        assert set_modconv_fused(g, True) == 2 * 3 + 1 + 4  # convs, conv1, to_rgbs
        ref = g.synthesis(w)
        set_modconv_fused(g, False)
        fast = g.synthesis(w)
    torch.testing.assert_close(fast, ref, rtol=1e-4, atol=1e-5)


def test_cached_content_inputs_give_the_same_edit():
    g, ed, w, feats, x = _tiny()
    s = torch.tensor([[0.4, -0.2]])
    with torch.inference_mode():
        ref = fused_edit(g, ed, w, feats, x, s)
        cached = fused_edit(g, ed, w, feats, x, s, content=content_inputs(ed, feats, x))
    torch.testing.assert_close(cached.x_refine, ref.x_refine, rtol=1e-5, atol=1e-6)
    for name in ref.masks:
        torch.testing.assert_close(cached.masks[name], ref.masks[name])


def test_configure_cpu_sets_threads_and_reports_them():
    before = torch.get_num_threads()
    try:
        got = configure_cpu(1)
        assert got["threads"] == 1 == torch.get_num_threads()
        assert got["interop_threads"] >= 1
    finally:
        torch.set_num_threads(before)


def test_command_scope_gives_the_callers_threads_and_gradients_back():
    from faceedit_gui.engine.runtime import command_scope

    before = torch.get_num_threads()
    other = 1 if before != 1 else 2
    with command_scope(other):
        assert torch.get_num_threads() == other and not torch.is_grad_enabled()
        torch.set_num_threads(before + 1)  # a command that changes the count itself
    assert torch.get_num_threads() == before and torch.is_grad_enabled()
    with pytest.raises(RuntimeError, match="boom"):
        with command_scope(other, no_grad=False):
            assert torch.is_grad_enabled()
            raise RuntimeError("boom")
    assert torch.get_num_threads() == before


def test_resolve_device_picks_a_gpu_only_when_there_is_one_and_names_bad_devices():
    from faceedit_gui.engine.runtime import resolve_device

    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == "cpu"
    for bad in ("gpu", "cuda:x", "cuda:99"):
        with pytest.raises(ValueError, match="device"):
            resolve_device(bad)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            resolve_device("cuda")
