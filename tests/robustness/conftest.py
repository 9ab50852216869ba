"""The bad-input corpus of benchmarks/bad_inputs.py, written once per test session, with file hashes."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def corpus_module():
    spec = importlib.util.spec_from_file_location("bad_inputs", REPO / "benchmarks" / "bad_inputs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def hashes(folder: Path) -> dict[str, str]:
    """sha256 of every regular file under `folder` (links and folders are left out)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def corpus(tmp_path_factory, edit_bundle_dir):
    """(folder, {name: what}, hashes before): photos/ and models/ of the bad-input corpus."""
    folder = tmp_path_factory.mktemp("bad_inputs")
    module = corpus_module()
    made = module.write_photos(folder / "photos")
    made.update(module.write_models(folder / "models", good_bundle=edit_bundle_dir))
    return folder, made, hashes(folder)
