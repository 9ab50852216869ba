"""DiffAugment (shapes, what each policy does, gradients) and the GAN losses."""

from __future__ import annotations

import math

import pytest
import torch

from faceedit_gui.training.augment import color, cutout, diff_augment, parse_policy, translation
from faceedit_gui.training.gan_losses import (
    d_logistic_loss,
    g_nonsaturating_loss,
    path_length_loss,
    r1_loss,
    style_mixing_w_plus,
)


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout", ""])
def test_augment_keeps_shape_and_dtype(policy):
    x = torch.rand(5, 3, 16, 12) * 2 - 1
    y = diff_augment(x, policy, generator=seeded())
    assert y.shape == x.shape and y.dtype == x.dtype
    if not policy:
        assert y is x


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout"])
def test_augment_is_differentiable(policy):
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: diff_augment(t, policy, generator=seeded(3)), (x,))
    x32 = torch.rand(4, 3, 16, 16, requires_grad=True)
    diff_augment(x32, policy, generator=seeded()).square().sum().backward()
    assert torch.isfinite(x32.grad).all() and x32.grad.abs().sum() > 0


def test_translation_is_an_integer_shift_with_zero_fill():
    x = torch.rand(6, 2, 16, 16) + 1  # strictly positive, so zero marks the fill
    y = translation(x, generator=seeded(1))
    pad = torch.nn.functional.pad(x, [2, 2, 2, 2])
    for b in range(6):
        matches = [
            (dy, dx)
            for dy in range(-2, 3)
            for dx in range(-2, 3)
            if torch.equal(y[b], pad[b, :, 2 + dy : 18 + dy, 2 + dx : 18 + dx])
        ]
        assert matches, f"image {b} is not a shift by at most 1/8 of the side"


def test_cutout_zeroes_one_square_of_half_the_side():
    x = torch.ones(8, 3, 16, 16)
    y = cutout(x, generator=seeded(2))
    for b in range(8):
        zero = y[b, 0] == 0
        assert torch.equal(zero, (y[b] == 0).all(0))  # the same pixels in every channel
        rows, cols = zero.any(1).nonzero().flatten(), zero.any(0).nonzero().flatten()
        assert 1 <= len(rows) <= 8 and 1 <= len(cols) <= 8
        assert zero.sum() == len(rows) * len(cols)  # a (clipped) rectangle
        assert (y[b][:, ~zero] == 1).all()


def test_color_keeps_a_constant_grey_image_grey():
    x = torch.full((4, 3, 4, 4), 0.2)
    y = color(x, generator=seeded())
    assert torch.allclose(y, y[:, :1].expand_as(y))  # saturation/contrast act about the mean


def test_policy_errors():
    with pytest.raises(ValueError, match="unknown"):
        parse_policy("color,blur")
    with pytest.raises(ValueError, match="B, C, H, W"):
        diff_augment(torch.zeros(3, 8, 8))


def test_logistic_losses_at_zero_logits():
    zeros = torch.zeros(4, 1)
    total, terms = d_logistic_loss(zeros, zeros)
    assert total.item() == pytest.approx(2 * math.log(2))
    assert set(terms) == {"d/logistic", "d/real_logit", "d/fake_logit"}
    total, terms = g_nonsaturating_loss(zeros)
    assert total.item() == pytest.approx(math.log(2)) and set(terms) == {"g/nonsat"}


def test_r1_on_a_linear_discriminator_is_its_squared_weight_norm():
    w = torch.randn(1, 3, 4, 4)
    d = lambda x: (x * w).sum(dim=(1, 2, 3))[:, None]  # noqa: E731
    real = torch.randn(5, 3, 4, 4)
    total, terms = r1_loss(d, real, gamma=0.5, every=16)
    assert terms["d/r1"].item() == pytest.approx(w.square().sum().item(), rel=1e-5)
    assert total.item() == pytest.approx(0.5 / 2 * 16 * w.square().sum().item(), rel=1e-5)


def test_path_length_penalty_is_zero_at_its_mean_for_a_linear_map():
    a = torch.randn(3 * 4 * 4, 2 * 6)
    synth = lambda w: (w.reshape(w.shape[0], -1) @ a.t()).reshape(-1, 3, 4, 4)  # noqa: E731
    w = torch.randn(8, 2, 6, requires_grad=True)
    total, terms = path_length_loss(synth, w, torch.tensor(0.0), weight=2.0, every=4, decay=1.0)
    assert torch.isfinite(total) and terms["g/pl_mean"] > 0
    total.backward()
    assert w.grad is not None


def test_style_mixing_switches_once_per_mixed_image():
    mapping = lambda z: z * 3  # noqa: E731
    torch.manual_seed(0)
    w = style_mixing_w_plus(mapping, batch=64, style_dim=5, n_latent=8, mixing_prob=1.0, device="cpu")
    assert w.shape == (64, 8, 5)
    changes = (w[:, 1:] != w[:, :-1]).any(-1).sum(1)
    assert (changes == 1).all()
    w = style_mixing_w_plus(mapping, batch=16, style_dim=5, n_latent=8, mixing_prob=0.0, device="cpu")
    assert (w == w[:, :1]).all()
