"""The attribute classifier and the identity network: shapes, bad input, config round trip,
the user-facing attribute table, gradients."""

from __future__ import annotations

import json

import pytest
import torch

from faceedit_gui.config import config_to_dict
from faceedit_gui.networks.classifier import (
    DEFAULT_ATTRIBUTES,
    USER_ATTRIBUTES,
    AttributeClassifier,
    AttributeClassifierConfig,
)
from faceedit_gui.networks.identity import IdentityNet, IdentityNetConfig, identity_loss
from faceedit_gui.networks.registry import build_network, network_type_of

TINY_CLS = AttributeClassifierConfig(size=32, stem_channels=4, channels=(4, 8, 8, 8))
TINY_ID = IdentityNetConfig(size=32, dim=16, stem_channels=4, stem_stride=1, channels=(4, 8, 8, 8), blocks=(1, 1, 1, 1))


@pytest.mark.parametrize("side", [32, 64, 128])
def test_classifier_gives_one_logit_per_attribute_at_any_input_size(side: int) -> None:
    net = AttributeClassifier(TINY_CLS).eval()
    logits = net(torch.rand(2, 3, side, side) * 2 - 1)
    assert logits.shape == (2, len(DEFAULT_ATTRIBUTES))
    assert torch.isfinite(logits).all()


def test_default_classifier_names_the_issue_attributes() -> None:
    names = AttributeClassifier().attributes
    for required in ("Eyeglasses", "Smiling", "Male", "Young", "No_Beard", "Goatee", "Mustache", "Gray_Hair",
                     "Bald", "Mouth_Slightly_Open", "age_old", "gender_male"):
        assert required in names


def test_identity_embeddings_are_unit_vectors_of_the_configured_width() -> None:
    net = IdentityNet(TINY_ID).eval()
    e = net(torch.rand(3, 3, 64, 64) * 2 - 1)
    assert e.shape == (3, 16)
    torch.testing.assert_close(e.norm(dim=1), torch.ones(3))


@pytest.mark.parametrize("net", [AttributeClassifier(TINY_CLS), IdentityNet(TINY_ID)], ids=["classifier", "identity"])
def test_a_non_rgb_batch_is_refused_with_the_shape(net) -> None:
    with pytest.raises(ValueError, match=r"got \(2, 1, 32, 32\)"):
        net(torch.zeros(2, 1, 32, 32))


@pytest.mark.parametrize("net", [AttributeClassifier(TINY_CLS), IdentityNet(TINY_ID)], ids=["classifier", "identity"])
def test_config_round_trip_through_json_and_the_registry_rebuilds_the_same_network(net) -> None:
    torch.manual_seed(0)
    net.eval()
    data = json.loads(json.dumps(config_to_dict(net.config)))
    twin = build_network(network_type_of(net), data).eval()
    assert twin.config == net.config
    twin.load_state_dict(net.state_dict())
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    torch.testing.assert_close(twin(x), net(x), rtol=0, atol=0)


def test_user_logits_follow_the_table_and_beard_is_not_no_beard() -> None:
    net = AttributeClassifier(TINY_CLS)
    logits = torch.arange(len(DEFAULT_ATTRIBUTES), dtype=torch.float32)[None] + 1
    user = net.user_logits(logits, ("smile", "beard", "age", "gender"))
    idx = DEFAULT_ATTRIBUTES.index
    expected = [logits[0, idx("Smiling")], -logits[0, idx("No_Beard")], logits[0, idx("age_old")], logits[0, idx("gender_male")]]
    torch.testing.assert_close(user[0], torch.stack(expected))
    assert set(net.user_names()) == set(USER_ATTRIBUTES)
    with pytest.raises(KeyError, match="unknown user attribute"):
        net.user_logits(logits, ("freckles",))


def test_a_classifier_without_a_logit_cannot_answer_its_user_name() -> None:
    net = AttributeClassifier(AttributeClassifierConfig(attributes=("Smiling",), size=32, stem_channels=4, channels=(4, 4, 4, 4)))
    assert net.user_names() == ("smile",)
    with pytest.raises(KeyError, match="lacks"):
        net.user_logits(torch.zeros(1, 1), ("glasses",))


def test_both_networks_pass_gradients_to_the_image_when_frozen() -> None:
    cls, idn = AttributeClassifier(TINY_CLS).eval(), IdentityNet(TINY_ID).eval()
    for p in list(cls.parameters()) + list(idn.parameters()):
        p.requires_grad_(False)
    x = (torch.rand(2, 3, 32, 32) * 2 - 1).requires_grad_(True)
    y = x.detach() * 0.5
    loss = cls(x).sigmoid().sum() + identity_loss(idn(x), idn(y))
    loss.backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_identity_loss_is_zero_for_equal_and_two_for_opposite_embeddings() -> None:
    a = torch.nn.functional.normalize(torch.randn(4, 8), dim=1)
    assert float(identity_loss(a, a)) == pytest.approx(0.0, abs=1e-6)
    assert float(identity_loss(a, -a)) == pytest.approx(2.0, abs=1e-6)
