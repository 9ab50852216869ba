"""The MAC counter against hand counts for a tiny generator and discriminator."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from faceedit_gui.networks import Discriminator, Generator
from faceedit_gui.networks.cost import count_macs, discriminator_cost, generator_cost


def test_generator_macs_match_a_hand_count():
    g = Generator(size=8, style_dim=4, n_mlp=1, channels={4: 2, 8: 3})
    cost = generator_cost(g)
    # linear: mapping 4x4; modulations 4->in for conv1 (2), to_rgb1 (2), convs[0] (2), convs[1] (3), to_rgbs[0] (3)
    assert cost.macs["linear"] == 16 + 4 * (2 + 2 + 2 + 3 + 3)
    conv = (
        2 * 2 * 9 * 16  # conv1: 3x3, 2 -> 2, at 4x4
        + 3 * 2 * 1 * 16  # to_rgb1: 1x1, 2 -> 3, at 4x4
        + 3 * 2 * 9 * 16  # convs[0]: stride-2 transposed 3x3, 2 -> 3, per input pixel (4x4)
        + 3 * 3 * 9 * 64  # convs[1]: 3x3, 3 -> 3, at 8x8
        + 3 * 3 * 1 * 64  # to_rgbs[0]: 1x1, 3 -> 3, at 8x8
    )
    assert cost.macs["conv"] == conv == 7296
    assert cost.macs["demod"] == 2 * 2 * 9 + 3 * 2 + 3 * 2 * 9 + 3 * 3 * 9 + 3 * 3
    # FIR: the blur after the transposed conv (3 ch, 4x4 taps, 8x8 out) and the skip upsampling (idem)
    assert cost.macs["fir"] == 2 * 3 * 16 * 64
    assert cost.dense_macs == conv + cost.macs["linear"]
    assert cost.params == sum(p.numel() for p in g.parameters())
    # synthesis alone drops only the mapping MLP
    assert generator_cost(g, synthesis_only=True).macs["linear"] == cost.macs["linear"] - 16


def test_discriminator_macs_match_a_hand_count():
    d = Discriminator(size=8, channels={4: 2, 8: 2})
    cost = discriminator_cost(d)
    conv = (
        2 * 3 * 1 * 64  # from-RGB 1x1 at 8x8
        + 2 * 2 * 9 * 64  # res block conv1 3x3 at 8x8
        + 2 * 2 * 9 * 16  # conv2: blur to 9x9, 3x3 stride 2 -> 4x4
        + 2 * 2 * 1 * 16  # skip: blur to 7x7, 1x1 stride 2 -> 4x4
        + 2 * 3 * 9 * 16  # final conv (2 + stddev channel) at 4x4
    )
    assert cost.macs["conv"] == conv
    assert cost.macs["linear"] == 2 * 16 * 2 + 2 * 1
    assert cost.macs["fir"] == 2 * 16 * 81 + 2 * 16 * 49


def test_counter_refuses_a_batch():
    g = Generator(size=8, style_dim=4, n_mlp=1, channels={4: 2, 8: 3})
    with pytest.raises(ValueError, match="batch"):
        count_macs(g, lambda: g(torch.zeros(2, 4)))


def test_torch_conv_and_linear_layers_are_counted_too():
    """The IR-SE encoders use torch's own Conv2d / Linear (grouped convs count their groups)."""
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1, groups=4), nn.Flatten(), nn.Linear(8 * 16 * 16, 10))
    cost = count_macs(net, lambda: net(torch.zeros(1, 3, 16, 16)))
    assert cost.macs["conv"] == (8 * 3 * 9 + 8 * 2 * 9) * 16 * 16
    assert cost.macs["linear"] == 8 * 16 * 16 * 10
