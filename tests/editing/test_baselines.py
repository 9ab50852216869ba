"""The baselines' linear algebra, the LinearEditor interface and the pose search, on tiny models."""

from __future__ import annotations

import pytest
import torch

from faceedit_gui.editing.directions import Direction, LinearEditor, layer_range
from faceedit_gui.editing.ganspace import pca
from faceedit_gui.editing.interfacegan import condition_direction, fit_interfacegan, fit_linear_boundary
from faceedit_gui.editing.pose import fit_pose, pose_tensor
from faceedit_gui.editing.sefa import modulation_matrix, sefa_components
from faceedit_gui.networks.classifier import AttributeClassifier, AttributeClassifierConfig
from faceedit_gui.networks.stylegan2 import Generator

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_generator() -> Generator:
    torch.manual_seed(0)
    return Generator(size=16, style_dim=12, n_mlp=2, channels={4: 16, 8: 8, 16: 8}).eval()


def tiny_classifier() -> AttributeClassifier:
    torch.manual_seed(1)
    return AttributeClassifier(AttributeClassifierConfig(size=16, stem_channels=4, channels=(4, 8, 8, 8))).eval()


def test_sefa_directions_are_unit_eigenvectors_of_modulation_gram():
    g = tiny_generator()
    evals, vecs = sefa_components(g)
    a = modulation_matrix(g, (0, g.n_latent)).float()
    gram = a.T @ a
    assert torch.allclose(vecs.norm(dim=1), torch.ones(len(vecs)), atol=1e-5)
    for lam, v in zip(evals[:4], vecs[:4]):
        assert torch.allclose(gram @ v, lam * v, atol=1e-4 * float(evals[0]))
    assert (evals[:-1] >= evals[1:] - 1e-6).all()


def test_ganspace_components_are_orthonormal_and_ordered_by_variance():
    torch.manual_seed(0)
    x = torch.randn(500, 6) * torch.tensor([5.0, 3.0, 2.0, 1.0, 0.5, 0.1])
    mean, comps, var = pca(x)
    assert torch.allclose(comps @ comps.T, torch.eye(6), atol=1e-5)
    assert (var[:-1] >= var[1:]).all()
    assert abs(float(comps[0, 0])) > 0.99  # the axis of largest spread comes first


def test_interfacegan_boundary_separates_a_linearly_separable_set():
    torch.manual_seed(0)
    true = torch.nn.functional.normalize(torch.randn(10), dim=0)
    x = torch.randn(400, 10) * 2 + 1
    y = ((x - 1) @ true > 0).float()
    normal, _, acc = fit_linear_boundary(x, y)
    assert acc > 0.97
    assert float(normal @ true) > 0.9
    assert abs(float(normal.norm()) - 1) < 1e-5


def test_conditional_direction_is_orthogonal_to_the_conditions():
    torch.manual_seed(0)
    a, b, c = torch.randn(3, 8)
    d = condition_direction(a, [b, c])
    assert abs(float(d @ b)) < 1e-5 and abs(float(d @ c)) < 1e-5 and abs(float(d.norm()) - 1) < 1e-5


def test_a_direction_moves_the_image_and_survives_save_and_load(tmp_path):
    g = tiny_generator()
    unit = torch.nn.functional.normalize(torch.randn(12), dim=0)
    editor = LinearEditor("test", [Direction("age", unit, layer_range("coarse", g.n_latent), 3.0)], g.n_latent)
    with torch.no_grad():
        w = g.broadcast(g.mapping(torch.randn(2, 12)))
        assert torch.equal(editor.apply(w, {"age": 0.0}), w)
        moved = editor.apply(w, {"age": 1.0})
        assert (g.synthesis(moved) - g.synthesis(w)).abs().mean() > 1e-3
    editor.save(tmp_path / "dirs")
    again = LinearEditor.load(tmp_path / "dirs")
    assert torch.allclose(again.apply(w, {"age": 1.0}), moved)
    with pytest.raises(ValueError, match="unknown slider"):
        editor.apply(w, {"nose": 1.0})
    with pytest.raises(ValueError, match="finite"):
        editor.apply(w, {"age": float("nan")})


def test_fit_interfacegan_gives_calibrated_unit_directions():
    g, clf = tiny_generator(), tiny_classifier()
    editor = fit_interfacegan(g, clf, ["age", "smile"], n_samples=64, calibration_samples=4)
    assert editor.names == ["age", "smile"]
    for d in editor.directions.values():
        assert abs(float(d.unit.norm()) - 1) < 1e-4 and d.strength > 0
        assert "calibration" in d.info


def test_fit_pose_picks_the_candidate_that_moves_yaw_and_gives_a_bundle_tensor():
    g = tiny_generator()
    cands = {"a": torch.randn(12), "b": torch.randn(12)}

    def fake_yaw(images):  # brightness of the left half minus the right half: a stand-in for dlib
        x = images.astype(float).mean(axis=3)
        return x[:, :, :8].mean(axis=(1, 2)) - x[:, :, 8:].mean(axis=(1, 2))

    d = fit_pose(g, cands, yaw_fn=fake_yaw, n_samples=4)
    assert d.name == "pose" and d.info["candidate"] in cands
    assert pose_tensor(d, g.n_latent).shape == (g.n_latent, 12)
