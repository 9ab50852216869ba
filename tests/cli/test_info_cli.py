"""`faceedit info [BUNDLE]` prints a bundle's card, through the real console entry."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from faceedit_gui.checkpoints.bundle import default_bundle_path
from faceedit_gui.cli import info as info_cli
from faceedit_gui.cli.main import main


def test_info_prints_the_card(tiny_bundle, capsys):
    assert main(["info", str(tiny_bundle.folder)]) == 0
    out = capsys.readouterr().out
    generator = tiny_bundle.card.networks["generator"]
    for text in (
        f"bundle      {tiny_bundle.folder}",
        "name        tiny-test",
        "resolution  8 px   n_w 4   style_dim 16",
        "networks (2)",
        "attributes (2)",
        "extra directions (2)",
        "framing     template, size 8, test-grid-68, template: 68 entries, fit_points: 51 entries",
        "fid: 12.35",
        "editor.steps: 3",
        "data: synthetic test tensors",
        "made by tests/conftest.py",
    ):
        assert text in out, text
    row = next(line for line in out.splitlines() if line.strip().startswith("generator"))
    assert "tiny_net" in row and "float16" in row and generator.sha256[:12] in row and "B" in row
    assert str(generator.parameters) in row and "training-only" not in row
    classifier = next(line for line in out.splitlines() if line.strip().startswith("classifier"))
    assert "tiny_head" in classifier and classifier.rstrip().endswith("training-only")
    age = next(line for line in out.splitlines() if line.strip().startswith("age"))
    assert "Age" in age and "[-2, 2]" in age and "older / younger" in age
    assert any("pose" in line and "extras.safetensors:pose" in line for line in out.splitlines())


def test_info_json_is_model_json(tiny_bundle, capsys):
    assert main(["info", "--json", str(tiny_bundle.folder)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((tiny_bundle.folder / "model.json").read_text())


def test_info_verify_checks_the_files(tiny_bundle, capsys):
    assert main(["info", "--verify", "--bundle", str(tiny_bundle.folder)]) == 0
    assert "verified" in capsys.readouterr().out
    (tiny_bundle.folder / "generator.safetensors").write_bytes(b"changed")
    assert main(["info", "--verify", str(tiny_bundle.folder)]) == 1
    assert "generator.safetensors: sha256 mismatch" in capsys.readouterr().err


def test_info_names_what_is_wrong(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["info", str(tmp_path / "empty")]) == 1
    assert "model.json is missing" in capsys.readouterr().err


def test_info_default_bundle(monkeypatch, tmp_path, capsys, repo_root):
    assert default_bundle_path() == repo_root / "models" / "default"
    monkeypatch.setattr(info_cli, "default_bundle_path", lambda: tmp_path / "models" / "default")
    assert main(["info"]) == 1
    err = capsys.readouterr().err
    assert "default model bundle does not exist yet" in err and str(tmp_path / "models" / "default") in err


def test_info_runs_as_a_program(tiny_bundle, repo_root):
    script = repo_root / ".venv" / "bin" / "faceedit"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "faceedit_gui.cli.main"]
    env = {**os.environ, "PYTHONPATH": str(repo_root)}
    result = subprocess.run(
        [*command, "info", str(tiny_bundle.folder)],
        capture_output=True, text=True, env=env, cwd=repo_root, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "name        tiny-test" in result.stdout and "training-only" in result.stdout
