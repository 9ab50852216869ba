"""Every bad or awkward input gives a clear message; nothing crashes or leaks a traceback,
and no input file is ever modified (benchmarks/bad_inputs.py writes the corpus)."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from faceedit_gui.checkpoints.bundle import load_bundle
from faceedit_gui.checkpoints.safe_load import CheckpointError, load_torch_checkpoint
from faceedit_gui.cli import batch
from faceedit_gui.engine.presets import PresetError, check_sliders, read_preset
from faceedit_gui.faces.loading import PhotoError, load_photo

from conftest import REPO, hashes

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _clear(text: str) -> None:
    assert text.strip() and "Traceback" not in text and len(text) < 2000, text


def test_the_corpus_has_at_least_40_inputs(corpus):
    folder, made, _ = corpus
    assert len(made) >= 40
    assert (folder / "photos" / "dangling.jpg").is_symlink()


def test_the_loader_opens_or_explains_every_photo(corpus):
    folder, made, before = corpus
    refused = {}
    for path in sorted((folder / "photos").iterdir()):
        try:
            photo = load_photo(path)
            assert photo.rgb.dtype.name == "uint8" and photo.rgb.ndim == 3 and photo.rgb.shape[2] == 3
        except PhotoError as exc:
            _clear(str(exc))
            refused[path.name] = str(exc)
    for name in ("empty.jpg", "text.jpg", "truncated.jpg", "bomb.png", "dangling.jpg", "a_folder.jpg"):
        assert name in refused, name
    assert "decompression bomb" in refused["bomb.png"] and "dangling" in refused["dangling.jpg"]
    assert hashes(folder) == before


def test_code_running_checkpoints_are_refused_without_running(corpus):
    folder, _, before = corpus
    for name in ("evil.pt", "evil.pkl", "evil_torch.pth"):
        with pytest.raises(CheckpointError) as info:
            load_torch_checkpoint(folder / "models" / name)
        _clear(str(info.value))
    assert not (folder / "models" / "pwned.txt").exists()
    assert hashes(folder) == before


@pytest.mark.parametrize("name", ["bundle_wrong_shape", "bundle_missing_file", "bundle_bad_card"])
def test_broken_bundles_are_refused_with_a_message(corpus, name):
    folder, _, before = corpus
    with pytest.raises(Exception) as info:
        load_bundle(folder / "models" / name)
    assert not isinstance(info.value, (AttributeError, TypeError, KeyError, IndexError)), repr(info.value)
    _clear(str(info.value))
    assert name in str(info.value) or "card" in str(info.value).lower()
    assert hashes(folder) == before


@pytest.mark.parametrize("name", ["preset_unknown.json", "preset_nan.json", "preset_inf.json",
                                  "preset_string.json", "preset_garbage.json"])
def test_bad_presets_are_refused_with_a_message(corpus, name):
    folder, _, _ = corpus
    with pytest.raises((PresetError, ValueError)) as info:
        check_sliders(read_preset(folder / "models" / name), ["age", "smile", "glasses", "pose"])
    _clear(str(info.value))


def _batch_args(folder, out, bundle):
    return [str(folder / "photos"), str(out), "--bundle", str(bundle), "--set", "age=0.5", "--no-progress"]


def test_batch_in_process_reports_every_bad_photo_and_writes_the_rest(corpus, edit_bundle_dir, tmp_path, capsys):
    folder, _, before = corpus
    rc = batch.main(_batch_args(folder, tmp_path / "out", edit_bundle_dir))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert rc in (0, 1, 2), rc
    assert list((tmp_path / "out").glob("**/*.png")), "the good photos were exported"
    assert not list((tmp_path / "out").glob("**/*.tmp*")), "no partial file is left"
    for name in ("preset_nan.json", "preset_unknown.json"):
        rc = batch.main(_batch_args(folder, tmp_path / "out2", edit_bundle_dir) + ["--preset", str(folder / "models" / name)])
        captured = capsys.readouterr()
        assert rc != 0 and "Traceback" not in captured.out + captured.err
        _clear(captured.err + captured.out)
    assert hashes(folder) == before
    assert threading.active_count() >= 1


def test_batch_in_a_subprocess_exits_cleanly_without_a_traceback(corpus, edit_bundle_dir, tmp_path):
    folder, _, before = corpus
    proc = subprocess.run([sys.executable, "-m", "faceedit_gui.cli.batch", *_batch_args(folder, tmp_path / "out", edit_bundle_dir),
                           "--threads", "1"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 1, 2), proc.stderr[-2000:]
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.returncode >= 0  # not killed by a signal
    assert hashes(folder) == before
