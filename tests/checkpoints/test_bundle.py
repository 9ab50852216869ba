"""Model bundles: round trips through real safetensors + JSON, every error named, safe loading."""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import shlex
from pathlib import Path
from typing import Any, Callable

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from faceedit_gui.checkpoints import bundle_files
from faceedit_gui.checkpoints.bundle import (
    BundleError,
    BundleFormatError,
    BundleIntegrityError,
    BundleMismatchError,
    ExternalRef,
    external_ref,
    load_bundle,
    read_card,
    save_bundle,
    verify_bundle,
)
from faceedit_gui.checkpoints.card import CARD_FILE
from faceedit_gui.checkpoints.safe_load import UnsafeCheckpointError, load_torch_checkpoint
from faceedit_gui.networks import registry


def _edit_card(folder: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    path = folder / CARD_FILE
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def _rewrite_weights(folder: Path, file: str, edit: Callable[[dict[str, torch.Tensor]], None]) -> None:
    """Replace a weights file and re-hash it in model.json, so that only `edit` is wrong."""
    with safe_open(str(folder / file), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    edit(tensors)
    save_file(tensors, str(folder / file))
    digest = hashlib.sha256((folder / file).read_bytes()).hexdigest()
    _edit_card(folder, lambda d: d["networks"]["generator"].update(sha256=digest))


class _RunsCode:
    """Pickles to `os.system("touch MARKER")`: loading it with plain pickle runs the command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


# --------------------------------------------------------------------------- registry


def test_registry_names_official_networks_as_lazy_targets():
    assert registry.NETWORK_TYPES["stylegan2_generator"] == "faceedit_gui.networks.stylegan2:Generator"
    assert registry.NETWORK_TYPES["small_encoder"] == "faceedit_gui.networks.encoders:SmallEncoder"
    for name in ("stylegan2_discriminator", "e4e_encoder", "psp_encoder", "arcface_ir_se50"):
        assert ":" in registry.NETWORK_TYPES[name]


def test_registry_builds_from_json_config_and_names_the_type(tiny):
    net = registry.build_network("tiny_net", {"channels": 3, "hidden": 5, "kernels": [3, 1]})
    assert isinstance(net, tiny.Net) and net.config == tiny.Config(hidden=5)
    assert registry.network_type_of(net) == "tiny_net"
    with pytest.raises(ValueError, match="tiny_net.*bad config.*colour"):
        registry.build_network("tiny_net", {"colour": 1})


def test_registry_errors_are_specific(monkeypatch, tiny):
    monkeypatch.setattr(registry, "NETWORK_TYPES", dict(registry.NETWORK_TYPES))
    with pytest.raises(registry.UnknownNetworkTypeError, match="unknown network type 'nope'.*tiny_net"):
        registry.build_network("nope", {})
    registry.register_network_type("tiny_net", tiny.Net)  # same target again: fine
    with pytest.raises(ValueError, match="already registered"):
        registry.register_network_type("tiny_net", tiny.Head)
    registry.register_network_type("tiny_net_alias", tiny.Net)
    with pytest.raises(registry.UnknownNetworkTypeError, match="several names.*network_type"):
        registry.network_type_of(tiny.Net())
    registry.register_network_type("missing_module", "no_such_module_xyz:Net")
    with pytest.raises(ImportError, match="missing_module.*no_such_module_xyz"):
        registry.network_class("missing_module")
    registry.register_network_type("no_protocol", "torch.nn:Identity")
    with pytest.raises(TypeError, match="lacks `config_class`"):
        registry.network_class("no_protocol")
    with pytest.raises(registry.UnknownNetworkTypeError, match="not a registered network type"):
        registry.network_type_of(torch.nn.Linear(2, 2))


# --------------------------------------------------------------------------- round trips


def test_round_trip_fp16(tiny, tiny_bundle):
    folder, original = tiny_bundle.folder, tiny_bundle.networks["generator"]
    assert sorted(p.name for p in folder.iterdir()) == [
        "classifier.safetensors", "extras.safetensors", "generator.safetensors", "model.json",
    ]  # fmt: skip
    entry = tiny_bundle.card.networks["generator"]
    assert entry.sha256 == hashlib.sha256((folder / "generator.safetensors").read_bytes()).hexdigest()
    with safe_open(str(folder / "generator.safetensors"), framework="pt") as f:
        assert f.get_tensor("conv.weight").dtype == torch.float16
        assert f.get_tensor("steps").dtype == torch.int64  # integer buffers stay as they are
        assert f.metadata()["faceedit.type"] == "tiny_net"

    bundle = load_bundle(folder)
    net = bundle["generator"]
    assert isinstance(net, tiny.Net) and not net.training
    assert list(bundle.networks) == ["generator"]  # the classifier is training-only
    for key, value in original.state_dict().items():
        got = net.state_dict()[key]
        if value.is_floating_point():
            assert got.dtype == torch.float32 and torch.equal(got, value.half().float()), key
        else:
            assert torch.equal(got, value), key
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(net(x), original(x), atol=2e-3, rtol=1e-2)
    assert bundle.directions["pose"].shape == (4, 16) and bundle.directions["yaw"].shape == (4, 16)
    torch.testing.assert_close(bundle.directions["yaw"][3], tiny_bundle.extra_tensors["yaw_vector"])
    assert bundle.card == read_card(folder) == tiny_bundle.card
    assert bundle.card.attribute_names == ("age", "smile")


def test_round_trip_fp32_is_exact(tmp_path, tiny):
    net = tiny.Net()
    card = save_bundle(tmp_path / "b", tiny.card(extra_directions=()), {"generator": net}, dtype="float32")
    assert card.networks["generator"].dtype == "float32"
    loaded = load_bundle(tmp_path / "b")["generator"]
    for key, value in net.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    x = torch.randn(1, 3, 8, 8)
    assert torch.equal(loaded(x), net(x))


def test_values_beyond_fp16_range_stay_float32(tmp_path, tiny):
    net = tiny.Net()
    net.scale.fill_(1e6)
    save_bundle(tmp_path / "b", tiny.card(extra_directions=()), {"generator": net})
    with safe_open(str(tmp_path / "b" / "generator.safetensors"), framework="pt") as f:
        assert f.get_tensor("scale").dtype == torch.float32
        assert f.get_tensor("conv.weight").dtype == torch.float16
    assert load_bundle(tmp_path / "b")["generator"].scale.item() == 1e6


def test_training_only_networks_load_only_when_asked(tiny, tiny_bundle):
    with pytest.raises(KeyError, match="training-only"):
        load_bundle(tiny_bundle.folder)["classifier"]
    everything = load_bundle(tiny_bundle.folder, include_training_only=True)
    assert set(everything.networks) == {"generator", "classifier"}
    only = load_bundle(tiny_bundle.folder, networks=["classifier"])
    assert list(only.networks) == ["classifier"] and isinstance(only["classifier"], tiny.Head)
    with pytest.raises(BundleError, match="no network\\(s\\) \\['encoder'\\]"):
        load_bundle(tiny_bundle.folder, networks=["encoder"])


def test_model_json_is_plain_and_complete(tiny_bundle):
    data = json.loads((tiny_bundle.folder / CARD_FILE).read_text())
    assert list(data)[:5] == ["format_version", "name", "resolution", "n_w", "style_dim"]
    assert data["format_version"] == 1
    generator = data["networks"]["generator"]
    assert generator["type"] == "tiny_net" and generator["config"] == {"channels": 3, "hidden": 5, "kernels": [3, 1]}
    assert generator["file"] == "generator.safetensors" and generator["dtype"] == "float16"
    assert generator["training_only"] is False and data["networks"]["classifier"]["training_only"] is True
    assert generator["parameters"] == sum(p.numel() for p in tiny_bundle.networks["generator"].parameters())
    assert data["attributes"][1] == {
        "name": "smile", "label": "Smile", "min": -1.0, "max": 1.5, "default": 0.0, "description": "",
    }  # fmt: skip
    pose = data["extra_directions"][0]
    assert pose["file"] == "extras.safetensors" and pose["key"] == "pose"
    assert data["framing"]["kind"] == "template" and len(data["framing"]["template"]) == 68
    assert data["provenance"]["data"] == "synthetic test tensors"
    assert data["provenance"]["created"] and data["provenance"]["code_version"].startswith("faceedit ")


def test_save_refuses_to_overwrite_unless_asked(tiny, tiny_bundle):
    with pytest.raises(BundleError, match="already holds a bundle.*overwrite=True"):
        save_bundle(tiny_bundle.folder, tiny.card(), tiny_bundle.networks, extra_tensors=tiny_bundle.extra_tensors)
    card = save_bundle(
        tiny_bundle.folder, tiny.card(name="again"), tiny_bundle.networks,
        extra_tensors=tiny_bundle.extra_tensors, overwrite=True,
    )  # fmt: skip
    assert read_card(tiny_bundle.folder).name == "again" == card.name


def test_save_checks_everything_before_writing(tmp_path, tiny):
    folder = tmp_path / "b"
    with pytest.raises(BundleError, match="'generator'.*not a registered network type"):
        save_bundle(folder, tiny.card(extra_directions=()), {"generator": torch.nn.Linear(2, 2)})
    with pytest.raises(BundleMismatchError, match="direction 'pose'.*shape \\[3, 16\\], expected \\[4, 16\\]"):
        extra = {"pose": torch.zeros(3, 16), "yaw_vector": torch.zeros(16)}
        save_bundle(folder, tiny.card(), {"generator": tiny.Net()}, extra_tensors=extra)
    with pytest.raises(BundleError, match="'my net' is not a valid network name"):
        save_bundle(folder, tiny.card(extra_directions=()), {"my net": tiny.Net()})
    with pytest.raises(BundleError, match="dtype 'float8'"):
        save_bundle(folder, tiny.card(extra_directions=()), {"generator": tiny.Net()}, dtype="float8")
    assert not folder.exists()


# --------------------------------------------------------------------------- atomic writes


def test_model_json_is_written_last(tmp_path, tiny, monkeypatch):
    renamed: list[str] = []
    real_replace = os.replace
    def replace(src: str, dst: str) -> None:
        renamed.append(Path(dst).name)
        real_replace(src, dst)

    monkeypatch.setattr(bundle_files.os, "replace", replace)
    save_bundle(tmp_path / "b", tiny.card(), {"generator": tiny.Net(), "classifier": tiny.Head()},
                extra_tensors={"pose": torch.zeros(4, 16), "yaw_vector": torch.zeros(16)})  # fmt: skip
    assert renamed[-1] == CARD_FILE and sorted(renamed[:-1]) == [
        "classifier.safetensors", "extras.safetensors", "generator.safetensors",
    ]  # fmt: skip
    assert not [p for p in (tmp_path / "b").iterdir() if ".tmp" in p.name]


def test_an_interrupted_save_never_looks_valid(tiny, tiny_bundle, monkeypatch):
    calls = []

    def fail_second(tensors, path, metadata=None):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk full")
        return save_file(tensors, path, metadata=metadata)

    monkeypatch.setattr(bundle_files, "save_file", fail_second)
    with pytest.raises(OSError, match="disk full"):
        save_bundle(tiny_bundle.folder, tiny.card(), tiny_bundle.networks,
                    extra_tensors=tiny_bundle.extra_tensors, overwrite=True)  # fmt: skip
    assert not (tiny_bundle.folder / CARD_FILE).exists()  # the old card went first
    assert not [p for p in tiny_bundle.folder.iterdir() if ".tmp" in p.name]
    with pytest.raises(BundleFormatError, match="model.json is missing.*did not finish"):
        load_bundle(tiny_bundle.folder)


# --------------------------------------------------------------------------- errors, each named


def test_missing_folder(tmp_path):
    with pytest.raises(BundleFormatError, match=f"bundle {tmp_path / 'nowhere'}: no such folder"):
        load_bundle(tmp_path / "nowhere")


def test_model_json_missing_or_not_json(tiny_bundle):
    (tiny_bundle.folder / CARD_FILE).write_text("{ not json")
    with pytest.raises(BundleFormatError, match="model.json is not valid JSON \\(.*line 1"):
        load_bundle(tiny_bundle.folder)
    (tiny_bundle.folder / CARD_FILE).unlink()
    with pytest.raises(BundleFormatError, match=f"bundle {tiny_bundle.folder}: model.json is missing"):
        load_bundle(tiny_bundle.folder)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: [d.pop("resolution"), d.pop("n_w")], "model.json: missing field\\(s\\) 'resolution', 'n_w'"),
        (lambda d: d.update(resolution="8"), "model.json: resolution: expected an integer, got string '8'"),
        (lambda d: d.update(colour="red"), "model.json: unknown field\\(s\\) 'colour'"),
        (lambda d: d["networks"]["generator"].pop("type"), "networks.generator: missing field\\(s\\) 'type'"),
        (lambda d: d.update(n_w=5), "n_w: 5 does not fit resolution 8 \\(expected 4\\)"),
        (lambda d: d["attributes"][0].update(min=3.0), "slider 'age': range \\[3.0, 2.0\\]"),
        (lambda d: d["networks"]["generator"].update(file="../evil.safetensors"), "must be a plain file name"),
        (lambda d: d.pop("format_version"), "missing field 'format_version'"),
    ],
)
def test_malformed_card_names_the_field(tiny_bundle, edit, message):
    _edit_card(tiny_bundle.folder, edit)
    with pytest.raises(BundleFormatError, match=message):
        load_bundle(tiny_bundle.folder)


def test_unknown_format_version(tiny_bundle):
    _edit_card(tiny_bundle.folder, lambda d: d.update(format_version=99))
    message = "format_version 99 is not supported; this build of faceedit reads format_version 1"
    with pytest.raises(BundleFormatError, match=message):
        read_card(tiny_bundle.folder)


def test_unknown_network_type(tiny_bundle):
    _edit_card(tiny_bundle.folder, lambda d: d["networks"]["generator"].update(type="nope"))
    message = "network 'generator': unknown network type 'nope' \\(this build knows: .*tiny_net"
    with pytest.raises(BundleError, match=message):
        load_bundle(tiny_bundle.folder)


def test_missing_weights_file(tiny_bundle):
    (tiny_bundle.folder / "generator.safetensors").unlink()
    with pytest.raises(BundleIntegrityError, match="generator.safetensors: the file is missing"):
        load_bundle(tiny_bundle.folder)


def test_sha256_mismatch(tiny_bundle):
    path = tiny_bundle.folder / "generator.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    expected = tiny_bundle.card.networks["generator"].sha256[:12]
    got = hashlib.sha256(bytes(data)).hexdigest()[:12]
    message = f"generator.safetensors: sha256 mismatch: model.json expects {expected}..., the file has {got}..."
    with pytest.raises(BundleIntegrityError, match=message):
        load_bundle(tiny_bundle.folder)


def test_wrong_tensor_shape(tiny_bundle):
    wrong = torch.zeros(5, 3, 1, 1)
    _rewrite_weights(tiny_bundle.folder, "generator.safetensors", lambda t: t.update({"conv.weight": wrong}))
    with pytest.raises(BundleMismatchError, match="generator.safetensors: wrong tensor shape") as info:
        load_bundle(tiny_bundle.folder)
    assert "'conv.weight' has shape [5, 3, 1, 1], expected [5, 3, 3, 3]" in str(info.value)


def test_missing_and_unexpected_keys(tiny_bundle):
    _rewrite_weights(tiny_bundle.folder, "generator.safetensors", lambda t: t.update({"out.x": t.pop("out.bias")}))
    with pytest.raises(BundleMismatchError, match="missing key\\(s\\) 'out.bias'; unexpected key\\(s\\) 'out.x'"):
        load_bundle(tiny_bundle.folder)


def test_verify_checks_every_file_and_lists_every_problem(tiny_bundle):
    assert verify_bundle(tiny_bundle.folder) == tiny_bundle.card
    (tiny_bundle.folder / "classifier.safetensors").write_bytes(b"damaged")
    _rewrite_weights(tiny_bundle.folder, "generator.safetensors", lambda t: t.update({"out.bias": torch.zeros(9)}))
    with pytest.raises(BundleError, match="2 problem\\(s\\)") as info:
        verify_bundle(tiny_bundle.folder)
    assert "'out.bias' has shape [9], expected [3]" in str(info.value)
    assert "classifier.safetensors: sha256 mismatch" in str(info.value)


# --------------------------------------------------------------------------- external checkpoints


def test_external_checkpoint_by_key(tmp_path, tiny):
    net = tiny.Net()
    official = tmp_path / "stylegan2-official.pt"
    args = argparse.Namespace(size=8)  # rosinality files carry their training options
    torch.save({"g_ema": net.state_dict(), "latent_avg": torch.randn(16), "args": args}, official)
    card = save_bundle(tmp_path / "b", tiny.card(extra_directions=()), {"generator": net},
                       external={"generator": external_ref(official, key="g_ema")})  # fmt: skip
    assert not (tmp_path / "b" / "generator.safetensors").exists()
    ref = card.networks["generator"].external
    assert ref.sha256 == hashlib.sha256(official.read_bytes()).hexdigest() and ref.key == "g_ema"
    loaded = load_bundle(tmp_path / "b")["generator"]
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in net.state_dict().items())

    torch.save({"g_ema": tiny.Net().state_dict()}, official)  # another checkpoint at the same path
    with pytest.raises(BundleIntegrityError, match="external checkpoint .*stylegan2-official.pt: sha256 mismatch"):
        load_bundle(tmp_path / "b")


def test_external_checkpoint_by_prefix_and_extra_keys(tmp_path, tiny):
    net = tiny.Net()
    state = {f"decoder.{k}": v for k, v in net.state_dict().items() if k != "scale"}
    state["encoder.weight"] = torch.zeros(2)
    torch.save({"state_dict": state, "scale": net.scale.clone()}, tmp_path / "e4e.pt")
    ref = ExternalRef(path="../e4e.pt", key="state_dict", prefix="decoder.", extra_keys={"scale": "scale"})
    save_bundle(tmp_path / "b", tiny.card(extra_directions=()), {"generator": net}, external={"generator": ref})
    loaded = load_bundle(tmp_path / "b")["generator"]  # the relative path resolves from the bundle folder
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in net.state_dict().items())
    head = tiny.Head()  # e4e's layout: keep the "encoder." keys as they are, drop the rest
    torch.save({"state_dict": {**head.state_dict(), "decoder.x": torch.zeros(1)}}, tmp_path / "head.pt")
    keep = external_ref(tmp_path / "head.pt", key="state_dict", prefix="fc.", new_prefix="fc.")
    save_bundle(tmp_path / "h", tiny.card(extra_directions=()), {"head": head}, external={"head": keep})
    assert torch.equal(load_bundle(tmp_path / "h")["head"].fc.weight, head.fc.weight)
    bad = ExternalRef(path=str(tmp_path / "e4e.pt"), key="g_ema")
    with pytest.raises(BundleMismatchError, match="no key 'g_ema' \\(found: state_dict, scale\\)"):
        save_bundle(tmp_path / "c", tiny.card(extra_directions=()), {"generator": net}, external={"generator": bad})


def _evil_checkpoint(path: Path, marker: Path) -> Path:
    torch.save({"g_ema": {"weight": torch.zeros(2)}, "payload": _RunsCode(marker)}, path)
    return path


def test_a_pickle_carrying_code_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    evil = _evil_checkpoint(tmp_path / "evil.pt", marker)
    with pytest.raises(UnsafeCheckpointError, match="refused to load.*nothing from it was run") as info:
        load_torch_checkpoint(evil)
    assert "system" in str(info.value)  # the refused global is named
    assert not marker.exists()
    # control: the payload is real, an unrestricted load would have run it
    torch.load(_evil_checkpoint(tmp_path / "control.pt", tmp_path / "ran"), weights_only=False)
    assert (tmp_path / "ran").exists()


def test_a_bundle_never_runs_code_from_an_external_checkpoint(tmp_path, tiny):
    marker = tmp_path / "pwned"
    evil = _evil_checkpoint(tmp_path / "evil.pt", marker)
    with pytest.raises(UnsafeCheckpointError, match="network 'generator'.*refused"):
        save_bundle(tmp_path / "b", tiny.card(extra_directions=()), {"generator": tiny.Net()},
                    external={"generator": ExternalRef(path=str(evil), key="g_ema")})  # fmt: skip
    net = tiny.Net()
    torch.save({"g_ema": net.state_dict()}, tmp_path / "good.pt")
    save_bundle(tmp_path / "b", tiny.card(extra_directions=()), {"generator": net},
                external={"generator": external_ref(tmp_path / "good.pt", key="g_ema")})  # fmt: skip
    evil_ref = {"path": str(evil), "sha256": hashlib.sha256(evil.read_bytes()).hexdigest(), "key": "g_ema"}
    _edit_card(tmp_path / "b", lambda d: d["networks"]["generator"].update(external=evil_ref))
    with pytest.raises(UnsafeCheckpointError, match=f"bundle {tmp_path / 'b'}: network 'generator'.*refused"):
        load_bundle(tmp_path / "b")
    assert not marker.exists()


def test_card_dataclasses_validate_on_construction(tiny):
    with pytest.raises(ValueError, match="format_version 2 is not supported"):
        tiny.card(format_version=2)
    with pytest.raises(ValueError, match="duplicate name\\(s\\) \\['age'\\]"):
        tiny.card(attributes=tiny.card().attributes + (dataclasses.replace(tiny.card().attributes[0]),))
