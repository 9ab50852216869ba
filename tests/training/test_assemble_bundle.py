"""Bundle assembly end to end on tiny checkpoints made by the tiny trainers: assemble, reopen
with `load_bundle`, edit a real photo with `EditSession`, and the card says what it should."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from faceedit_gui.checkpoints.bundle import load_bundle, verify_bundle
from faceedit_gui.cli.main import main as cli_main
from faceedit_gui.engine.session import EditSession
from faceedit_gui.faces.loading import load_photo
from faceedit_gui.training.assemble import _round_trip, fp16_check
from faceedit_gui.training.tiny_models import make_tiny_models
from faceedit_gui.training.train_editor import tiny_config, train

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py


@pytest.fixture(scope="module")
def assembled(tmp_path_factory, repo_root) -> tuple[Path, dict[str, Path]]:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("assemble")
    m = make_tiny_models(root)
    train(tiny_config(), m["pack"], m["generator"], m["encoder"], m["classifier"], root / "editor", 5.0,
          identity=m["identity"], max_steps=1, device="cpu", echo=lambda _: None)  # fmt: skip
    save_file({"pose": torch.randn(8, 32) * 0.2}, str(root / "pose.safetensors"))
    (root / "inversion.json").write_text(json.dumps({"psnr": 21.0}))
    argv = ["bundle-assemble", "--generator", str(m["generator"]), "--encoder", str(m["encoder"]),
            "--editor", str(root / "editor"), "--classifier", str(m["classifier"]), "--identity", str(m["identity"]),
            "--framing", str(repo_root / "resources" / "framing_template_utkface.json"),
            "--out", str(root / "models" / "default"), "--metrics", str(root / "inversion.json"),
            "--direction", f"pose={root / 'pose.safetensors'}"]  # fmt: skip
    assert cli_main(argv) == 0
    return root / "models" / "default", m


def test_bundle_round_trip_card_and_training_only_networks(assembled):
    folder, _ = assembled
    card = verify_bundle(folder)
    assert card.resolution == 32 and card.n_w == 8
    assert card.attribute_names == ("age", "smile", "glasses", "gender", "beard")
    assert all((a.min, a.max) == (-2.0, 2.0) and a.description for a in card.attributes)
    assert [d.name for d in card.extra_directions] == ["pose"]
    assert card.framing["kind"] == "template" and card.framing["size"] == 32
    assert {n for n, e in card.networks.items() if e.training_only} == {"classifier", "identity"}
    licences = " ".join(d["licence"] for d in card.provenance["data"])
    assert "UTKFace" in json.dumps(card.provenance) and "CelebA" in json.dumps(card.provenance)
    assert "non-commercial" in licences
    roles = {s["role"]: s for s in card.provenance["source_checkpoints"]}
    assert roles["generator"]["step"] == 1 and len(roles["editor"]["sha256"]) == 64
    assert card.recipe["editor"]["steps"] == 1 and card.recipe["editor"]["config"]["attributes"][0] == "age"
    assert card.metrics["inversion"] == {"psnr": 21.0}
    for name, check in card.metrics["fp16_check"].items():
        assert check["dtype"] == card.networks[name].dtype
        assert 0 <= check["max_abs_diff"] <= check["tolerance"] or check["dtype"] == "float32"
    bundle = load_bundle(folder)
    assert set(bundle.networks) == {"generator", "encoder", "editor"}
    with pytest.raises(KeyError, match="training-only"):
        bundle["classifier"]
    readme = (folder.parent / "README.md").read_text()
    assert "non-commercial" in readme.lower() and "| age |" in readme and "fp16_check" in readme


def test_the_app_edits_a_real_photo_with_the_assembled_bundle(assembled, shared_dir):
    folder, _ = assembled
    session = EditSession(load_bundle(folder), load_photo(shared_dir / "data" / "photos" / "ffhq" / "00000.png"))
    base = session.render({})
    edit = session.render({"smile": 1.0, "pose": 1.0}, paste=True)
    assert base.ok and edit.ok, (base.error, edit.error)
    assert edit.refined.shape == (32, 32, 3) and edit.refined.dtype == np.uint8
    assert not np.array_equal(base.style, edit.style)
    assert edit.photo is not None and edit.photo.shape[2] == 3
    assert base.style is not None and np.array_equal(base.style, session.reconstruction())  # s = 0: G(w_p)


def test_fp16_check_keeps_float32_for_a_network_that_float16_cannot_hold(assembled):
    folder, _ = assembled
    nets = load_bundle(folder, include_training_only=True).networks
    linear, norm = nets["identity"].output[3], nets["identity"].output[4]
    with torch.no_grad():  # the same function in float32; in float16 the offset's rounding (~0.5) swamps it
        offset = 1000.0 + torch.rand(linear.bias.shape)
        linear.bias.add_(offset)
        norm.running_mean.add_(offset)
    report = fp16_check(nets, ("age", "smile", "glasses", "gender", "beard"))
    assert set(report) == {"generator", "encoder", "editor", "classifier", "identity"}
    assert report["identity"]["dtype"] == "float32" and report["identity"]["max_abs_diff"] > report["identity"]["tolerance"]
    assert report["generator"]["dtype"] == "float16"
    twin = _round_trip(nets["generator"])
    assert all(torch.equal(p.half().float(), p) for p in twin.parameters())
