"""The generator's public API: mapping, synthesis, per-level features and level hooks."""

from __future__ import annotations

import pytest
import torch

from faceedit_gui.config import config_from_dict, config_to_dict
from faceedit_gui.networks.discriminator import Discriminator
from faceedit_gui.networks.stylegan2 import Generator, GeneratorConfig, SynthesisResult

CHANNELS = {4: 16, 8: 16, 16: 8, 32: 8}


@pytest.fixture(scope="module")
def g() -> Generator:
    torch.manual_seed(0)
    g = Generator(size=32, style_dim=16, n_mlp=2, channels=CHANNELS).eval()
    with torch.no_grad():  # noise strengths start at 0; make the noise matter
        for name, p in g.named_parameters():
            if name.endswith("noise.weight"):
                p.fill_(0.5)
    return g


def test_shapes_and_level_names(g):
    assert g.n_latent == 8 and g.num_levels == 4
    assert g.level_names == ["4x4", "8x8", "16x16", "32x32"]
    w = g.mapping(torch.randn(3, 16))
    assert w.shape == (3, 16)
    img = g.synthesis(g.broadcast(w))
    assert img.shape == (3, 3, 32, 32)


def test_features_are_named_by_resolution_with_the_generator_channels(g):
    out = g.synthesis(torch.randn(2, 8, 16), return_features=True)
    assert isinstance(out, SynthesisResult)
    for name, feat in out.features.items():
        r = int(name.split("x")[0])
        assert feat.shape == (2, CHANNELS[r], r, r)
        assert out.rgbs[name].shape == (2, 3, r, r)
    assert torch.equal(out.rgbs["32x32"], out.image)


def test_stored_noise_is_deterministic_and_random_noise_is_not(g):
    wp = torch.randn(1, 8, 16)
    with torch.no_grad():
        a, b = g.synthesis(wp), g.synthesis(wp)
        c = g.synthesis(wp, randomize_noise=True)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_identity_hook_changes_nothing_and_a_replacing_hook_propagates(g):
    wp = torch.randn(2, 8, 16)
    with torch.no_grad():
        plain = g.synthesis(wp)
        same = g.synthesis(wp, level_hook=lambda i, name, f: f)
        seen = []

        def zero_16(i, name, f):
            seen.append((i, name))
            return torch.zeros_like(f) if name == "16x16" else f

        changed = g.synthesis(wp, level_hook=zero_16, return_features=True)
    assert torch.equal(plain, same)
    assert seen == [(0, "4x4"), (1, "8x8"), (2, "16x16"), (3, "32x32")]
    assert torch.count_nonzero(changed.features["16x16"]) == 0
    assert not torch.allclose(changed.image, plain)


def test_level_by_level_loop_equals_synthesis(g):
    wp = torch.randn(2, 8, 16)
    noise = g.resolve_noise(None, randomize_noise=False)
    with torch.no_grad():
        x, skip = None, None
        for level in range(g.num_levels):
            x = g.level_features(level, x, wp, noise)
            skip = g.level_rgb(level, x, skip, wp)
        assert torch.equal(skip, g.synthesis(wp))


def test_wrong_w_plus_shape_says_got_and_expected(g):
    with pytest.raises(ValueError, match=r"w_plus: got shape \[2, 7, 16\], expected \[B, 8, 16\]"):
        g.synthesis(torch.randn(2, 7, 16))
    with pytest.raises(ValueError, match="channel table lacks"):
        Generator(size=64, style_dim=16, n_mlp=2, channels=CHANNELS)


def test_gradients_reach_w_plus_and_weights(g):
    wp = torch.randn(1, 8, 16, requires_grad=True)
    g.synthesis(wp).square().mean().backward()
    assert wp.grad is not None and wp.grad.abs().sum() > 0
    assert g.convs[0].conv.weight.grad.abs().sum() > 0
    g.zero_grad(set_to_none=True)


def test_config_round_trip_rebuilds_the_same_architecture(g):
    data = config_to_dict(g.config)
    assert data["channels"] == {"4": 16, "8": 16, "16": 8, "32": 8}
    cfg = config_from_dict(GeneratorConfig, data)
    assert cfg == g.config
    g2 = Generator.from_config(cfg)
    g2.load_state_dict(g.state_dict(), strict=True)


def test_style_mixing_uses_each_latent_where_it_belongs(g):
    w1, w2 = torch.randn(1, 16), torch.randn(1, 16)
    mixed = g.mix(w1, w2, inject_index=3)
    assert torch.equal(mixed[:, :3], g.broadcast(w1)[:, :3])
    assert torch.equal(mixed[:, 3:], g.broadcast(w2)[:, 3:])


def test_discriminator_scores_a_batch_and_backpropagates():
    d = Discriminator(size=32, channels=CHANNELS)
    img = torch.randn(6, 3, 32, 32, requires_grad=True)
    logits = d(img)
    assert logits.shape == (6, 1)
    logits.sum().backward()
    assert img.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="expected \\[B, 3, 32, 32\\]"):
        d(torch.randn(2, 3, 16, 16))


def test_stopping_early_returns_that_levels_rgb(g):
    wp = torch.randn(2, 8, 16)
    with torch.no_grad():
        full = g.synthesis(wp, return_features=True)
        early = g.synthesis(wp, levels=3)
    assert early.shape == (2, 3, 16, 16)
    assert torch.equal(early, full.rgbs["16x16"])
    with pytest.raises(ValueError, match="levels: got 0"):
        g.synthesis(wp, levels=0)


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("kind", ["plain", "upsample", "downsample"])
def test_modulated_conv_shares_styles_across_repeated_batches(fused, kind):
    """x of batch r*S with S styles: sample j*S + b uses style b, as if the styles were repeated."""
    from faceedit_gui.networks.layers import ModulatedConv2d

    torch.manual_seed(1)
    conv = ModulatedConv2d(6, 5, 3, 8, upsample=kind == "upsample", downsample=kind == "downsample", fused=fused)
    x = torch.randn(6, 6, 8, 8)  # r = 3 repeats of S = 2 styles
    style = torch.randn(2, 8)
    with torch.no_grad():
        shared = conv(x, style)
        repeated = conv(x, style.repeat(3, 1))
    assert shared.shape == repeated.shape
    assert torch.allclose(shared, repeated, atol=1e-5)
    with pytest.raises(ValueError, match="multiple of the style batch"):
        conv(torch.randn(5, 6, 8, 8), style)
