"""The editor's training (DESIGN §1.5) on tiny networks: shapes, the s = 0 reconstruction path,
relevance maps in [0, 1], targets, the sparsity loss, where gradients go, a loss that falls
on a fixed batch, and a chunked run that resumes bit-exactly."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from faceedit_gui.cli.main import main as cli_main
from faceedit_gui.metrics.perceptual import resolve_perceptual
from faceedit_gui.networks.fusion import fused_edit
from faceedit_gui.training.editor_losses import EditorLossWeights, editor_loss, sparsity
from faceedit_gui.training.editor_targets import flip_sliders, sample_targets
from faceedit_gui.training.tiny_models import make_tiny_models
from faceedit_gui.training.train_editor import (
    Editor,
    FrozenNets,
    edit_loss,
    editor_config_for,
    invert,
    load_encoder,
    load_frozen,
    load_trained_editor,
    optimizers,
    tiny_config,
    train,
)
from faceedit_gui.training.train_encoder import load_generator

QUIET = {"device": "cpu", "echo": lambda _: None}
NAMES = ("age", "smile", "glasses", "gender", "beard")

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    torch.set_num_threads(1)
    return make_tiny_models(tmp_path_factory.mktemp("editor_models"))


@pytest.fixture(scope="module")
def parts(models):
    g, _ = load_generator(models["generator"])
    encoder, _ = load_encoder(models["encoder"])
    classifier = load_frozen(models["classifier"], "classifier")
    identity = load_frozen(models["identity"], "identity")
    nets = FrozenNets(g, encoder, classifier, resolve_perceptual(classifier=classifier), identity)
    torch.manual_seed(0)
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    return nets, x


def new_editor(nets: FrozenNets, **overrides) -> Editor:
    torch.manual_seed(1)
    return Editor(editor_config_for(tiny_config(**overrides), nets.generator, nets.encoder))


def test_zero_sliders_give_the_reconstruction_and_masks_lie_in_0_1(parts):
    nets, x = parts
    editor = new_editor(nets, direction_init=0.5)  # non-zero directions: s = 0 must still cancel them
    with torch.no_grad():
        inv = invert(nets, x, NAMES)
        out = fused_edit(nets.generator, editor, inv.w_p, inv.features, x, torch.zeros(3, 5), q_features=inv.q_features)
        moved = fused_edit(nets.generator, editor, inv.w_p, inv.features, x, flip_sliders(inv.source_logits, 1))
    assert inv.w_p.shape == (3, 8, 32) and inv.source_logits.shape == (3, 5)
    assert out.x_edit.shape == out.x_refine.shape == (3, 3, 32, 32)
    # x_edit == G(w_p) (to float rounding: fused_edit runs its two passes as one batch)
    assert torch.allclose(out.x_edit, inv.x_rec, atol=1e-5)
    assert not torch.allclose(moved.x_edit, inv.x_rec, atol=1e-3)
    assert list(out.masks) == nets.generator.level_names
    for name, m in {**out.masks, **{f"moved {k}": v for k, v in moved.masks.items()}}.items():
        r = m.shape[-1]
        assert m.shape == (3, 1, r, r) and float(m.min()) >= 0.0 and float(m.max()) <= 1.0, name


def test_targets_flip_between_one_and_max_flips_attributes_with_signed_sliders():
    torch.manual_seed(0)
    logits = torch.randn(64, 5)
    s, target = sample_targets(logits, max_flips=2)
    source = (logits > 0).float()
    flipped = (target != source).sum(1)
    assert int(flipped.min()) >= 1 and int(flipped.max()) <= 2 and int(flipped.max()) == 2
    assert torch.equal(s, target - source)
    assert set(s.unique().tolist()) <= {-1.0, 0.0, 1.0}
    assert torch.equal(flip_sliders(torch.tensor([[2.0, -1.0]]), 0), torch.tensor([[-1.0, 0.0]]))
    with pytest.raises(ValueError, match="expected"):
        sample_targets(torch.zeros(5))


def test_loss_names_weights_and_skipped_terms(parts):
    nets, x = parts
    d = torch.zeros(5, 8, 32)
    d[0, 0, :4] = 2.0
    labels = torch.zeros(3, 5)
    w = EditorLossWeights(edit_l2=1.0, edit_lpips=0.0, edit_id=0.0, edit_cls=0.0, edit_spa=1.0)
    total, terms = editor_loss(x, x, labels, d, w, NAMES, nets.classifier)
    assert set(terms) == {"edit/l2", "edit/spa", "total"}  # weight 0 and x_refine None: skipped
    assert float(terms["edit/spa"]) == pytest.approx(8.0 / (8 * 32))  # Σ_k mean |d_sty[k]|
    assert float(sparsity(d, "sum")) == 8.0 and float(sparsity(d, "mean")) == pytest.approx(8.0 / (5 * 8 * 32))
    _, full = editor_loss(x, x * 0.5, labels, d, EditorLossWeights(), NAMES, nets.classifier, nets.perceptual,
                          nets.identity, x_refine=x * 0.9, x_rec=x)  # fmt: skip
    assert set(full) == {"edit/l2", "edit/lpips", "edit/id", "edit/cls", "edit/spa", "refine/l2", "refine/cls",
                         "refine/align", "total"}  # fmt: skip
    with pytest.raises(ValueError, match="sparsity_reduction"):
        EditorLossWeights(sparsity_reduction="max")


def test_sparsity_alone_lowers_the_l1_of_the_directions(parts):
    nets, x = parts
    cfg = tiny_config(direction_init=0.5, refine=False,
                      weights=EditorLossWeights(edit_l2=0, edit_lpips=0, edit_id=0, edit_cls=0, edit_spa=1.0))  # fmt: skip
    editor = new_editor(nets, direction_init=0.5)
    opts = optimizers(editor, cfg, cuda=False)
    inv = invert(nets, x, NAMES)
    s, labels = sample_targets(inv.source_logits)
    before = float(editor.d_sty.detach().abs().sum())
    for _ in range(3):
        loss, terms = edit_loss(editor, nets, x, inv, s, labels, cfg)
        assert set(terms) == {"edit/spa", "total"}
        for opt, _ in opts.values():
            opt.zero_grad()
        loss.backward()
        for opt, _ in opts.values():
            opt.step()
    assert float(editor.d_sty.detach().abs().sum()) < before


def test_gradients_reach_only_the_editor(parts):
    nets, x = parts
    editor = new_editor(nets)
    inv = invert(nets, x, NAMES)
    s, labels = sample_targets(inv.source_logits)
    loss, _ = edit_loss(editor, nets, x, inv, s, labels, tiny_config())
    loss.backward()
    frozen = [nets.generator, nets.encoder, nets.classifier, nets.identity, nets.perceptual]
    for net in frozen:
        for name, p in net.named_parameters():
            assert not p.requires_grad and p.grad is None, f"{type(net).__name__}.{name}"
        assert not net.training
    grads = {n: p.grad for n, p in editor.named_parameters()}
    assert all(g is not None for g in grads.values()), [n for n, g in grads.items() if g is None]
    assert float(grads["d_sty"].abs().sum()) > 0
    for part in ("extractors.0.conv_in.weight", "relevance.0.query.weight", "relevance.0.bias"):
        assert float(grads[part].abs().sum()) > 0, part


def test_a_few_steps_on_a_fixed_batch_lower_the_loss(parts):
    nets, x = parts
    cfg = tiny_config(lr=1e-3, lr_directions=1e-2)
    editor = new_editor(nets)
    opts = optimizers(editor, cfg, cuda=False)
    inv = invert(nets, x, NAMES)
    s, labels = sample_targets(inv.source_logits)
    losses = []
    for _ in range(6):
        loss, _ = edit_loss(editor, nets, x, inv, s, labels, cfg)
        for opt, _ in opts.values():
            opt.zero_grad()
        loss.backward()
        for opt, _ in opts.values():
            opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0], losses


def read_log(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]


def test_a_resumed_run_repeats_an_uninterrupted_run_exactly(models, tmp_path):
    args = (models["pack"], models["generator"], models["encoder"], models["classifier"])
    cfg = tiny_config()
    kw = {"identity": models["identity"], **QUIET}
    train(cfg, *args, tmp_path / "a", 5.0, max_steps=3, **kw)
    train(cfg, *args, tmp_path / "b1", 5.0, max_steps=2, **kw)
    train(cfg, *args, tmp_path / "b2", 5.0, max_steps=3, resume=tmp_path / "b1", **kw)
    a = load_file(str(tmp_path / "a" / "editor.safetensors"))
    b = load_file(str(tmp_path / "b2" / "editor.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"editor.{k} differs after resuming"
    state = json.loads((tmp_path / "b2" / "state.json").read_text())
    assert state["step"] == 3 and state["chunks"] == 2 and state["attributes"] == list(NAMES)
    assert state["perceptual"].startswith("faceedit-perceptual-v1")
    assert state["data"]["n_images"] == 12  # held-out images never enter training
    log = read_log(tmp_path / "b2")
    assert [r["step"] for r in log] == [1, 2, 3]
    assert all(math.isfinite(r[k]) for r in log for k in r if "/" in k)
    assert (tmp_path / "b2" / "grid.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    editor, st = load_trained_editor(tmp_path / "b2")
    assert editor.config.n_attributes == 5 and st["step"] == 3 and not editor.training


def test_cli_style_variant_trains_the_style_branch_alone(models, tmp_path):
    out = tmp_path / "style"
    argv = ["train", "editor", "--data", str(models["pack"]), "--generator", str(models["generator"]),
            "--encoder", str(models["encoder"]), "--classifier", str(models["classifier"]), "--out", str(out),
            "--tiny", "--device", "cpu", "--steps", "1", "--variant", "style"]  # fmt: skip
    assert cli_main(argv) == 0
    rec = read_log(out)[-1]
    assert not any(k.startswith("refine/") or k == "edit/spa" or k == "edit/id" for k in rec)  # no identity given
    state = json.loads((out / "state.json").read_text())
    assert state["config"]["refine"] is False and state["identity"] is None
    saved = load_file(str(out / "editor.safetensors"))
    assert float(saved["d_sty"].abs().sum()) > 0 and float(saved["d_cnt"].abs().sum()) == 0  # only d_sty moved


def test_resume_refuses_a_different_editor(models, tmp_path):
    args = (models["pack"], models["generator"], models["encoder"], models["classifier"])
    train(tiny_config(), *args, tmp_path / "r", 5.0, max_steps=1, **QUIET)
    other = dataclasses.replace(tiny_config(), attributes=("age", "smile"))
    with pytest.raises(ValueError, match="attributes"):
        train(other, *args, tmp_path / "r2", 5.0, resume=tmp_path / "r", max_steps=2, **QUIET)


def test_gpu_command_path_imports_no_desktop_packages(models, tmp_path, gpu_machine_cli):
    """`train editor` as the GPU chunk script runs it: no Qt, OpenCV, Pillow or dlib there."""
    import numpy as np

    data = tmp_path / "raw"
    data.mkdir()
    np.savez(data / "train_000.npz", images=np.random.default_rng(2).integers(0, 256, (6, 32, 32, 3), dtype=np.uint8))
    out = tmp_path / "gpu_editor"
    res = gpu_machine_cli(["train", "editor", "--data", data, "--generator", models["generator"], "--encoder", models["encoder"],
                           "--classifier", models["classifier"], "--identity", models["identity"], "--out", out,
                           "--tiny", "--device", "cpu", "--steps", "1"])  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    assert json.loads((out / "state.json").read_text())["step"] == 1
