"""Parking model files a lent-GPU run does not read, so the carried tree stays under 64 MiB."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from faceedit_gui.training import park
from faceedit_gui.training.chunks import working_tree_bytes

FILES = {
    "models/training/generator/G.safetensors": 3000,
    "models/training/generator/G_ema.safetensors": 3000,
    "models/training/generator/D.safetensors": 2000,
    "models/training/generator/state.json": 10,
    "models/training/encoder/E.safetensors": 1500,
    "models/training/classifier/classifier.safetensors": 400,
    "models/training/identity/identity.safetensors": 300,
    "models/training/editor/editor.safetensors": 900,
    "models/training/editor_style/editor.safetensors": 900,
    "models/default/model.json": 50,
    "models/README.md": 30,
    "README.md": 20,
}


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for i, (rel, size) in enumerate(FILES.items()):
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(bytes([i]) * size)
    (tmp_path / ".gitignore").write_text("/.park/\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "models")
    return tmp_path


def present(repo: Path) -> set[str]:
    return {rel for rel in FILES if (repo / rel).is_file()}


def test_an_encoder_run_keeps_only_what_it_reads_and_restore_puts_everything_back(repo):
    before = working_tree_bytes(repo)
    moved = park.park("encoder", repo=repo)
    assert present(repo) == {
        "models/training/generator/G_ema.safetensors", "models/training/generator/state.json",
        "models/training/encoder/E.safetensors", "models/training/classifier/classifier.safetensors",
        "models/training/identity/identity.safetensors", "README.md", "models/README.md",
    }  # fmt: skip
    assert working_tree_bytes(repo) == before - sum(FILES[m] for m in moved)
    assert park.parked(repo) == sorted(moved)
    assert park.restore(repo) == sorted(moved)
    assert present(repo) == set(FILES) and park.parked(repo) == []
    for i, (rel, size) in enumerate(FILES.items()):
        assert (repo / rel).read_bytes() == bytes([i]) * size
    assert working_tree_bytes(repo) == before


def test_editor_variant_keeps_its_own_checkpoint_only(repo):
    park.park("editor", "style", repo=repo)
    kept = present(repo)
    assert "models/training/editor_style/editor.safetensors" in kept
    assert "models/training/editor/editor.safetensors" not in kept
    assert "models/training/generator/D.safetensors" not in kept and "models/default/model.json" not in kept
    park.park("generator", repo=repo)  # a second park adds to the first
    assert "models/training/encoder/E.safetensors" not in present(repo)
    park.restore(repo)
    assert present(repo) == set(FILES)


def test_restore_refuses_to_overwrite_a_file_that_came_back(repo):
    park.park("generator", repo=repo)
    (repo / "models/default/model.json").write_text("newer")
    with pytest.raises(RuntimeError, match="exist in the tree again"):
        park.restore(repo)
    assert (repo / "models/default/model.json").read_text() == "newer"
    assert (repo / park.PARK_DIR / "models/default/model.json").is_file()


def test_parking_needs_an_ignored_park_folder_and_a_known_run(repo):
    (repo / ".gitignore").write_text("")
    with pytest.raises(RuntimeError, match="not git-ignored"):
        park.park("encoder", repo=repo)
    assert present(repo) == set(FILES)
    with pytest.raises(ValueError, match="expected one of"):
        park.needed("editor", "other")
    with pytest.raises(ValueError, match="expected generator"):
        park.needed("classifier")
