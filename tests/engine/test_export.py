"""The batch export job: one output per face, bad files reported, inputs untouched, resume, cancel, presets."""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
from pathlib import Path

import pytest

from faceedit_gui.engine.export import BatchConfig, BatchJob
from faceedit_gui.engine.presets import PresetError, parse_settings, read_preset

pytestmark = pytest.mark.usefixtures("one_torch_thread")
WILD = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "photos" / "wild"


def make_input(folder: Path) -> Path:
    folder.mkdir()
    for name in ("couple.jpg", "img16.jpg", "img12.jpg"):
        shutil.copy(WILD / name, folder / name)
    (folder / "notes.jpg").write_text("this is text, not a photo\n")
    return folder


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.skipif(not WILD.is_dir(), reason="../shared/data/photos/wild is not here")
def test_batch_writes_one_output_per_face_reports_bad_files_and_resumes(tmp_path, edit_bundle_dir):
    src = make_input(tmp_path / "in")
    before = digests(src)
    out = tmp_path / "out"
    config = BatchConfig(input=src, output=out, sliders={"age": 0.8, "pose": 0.5}, bundle=edit_bundle_dir)
    seen = []
    report = BatchJob(config).run(progress=seen.append)
    assert report.faces >= 4  # couple.jpg holds two faces
    assert report.outputs_written == report.faces
    assert sorted(p.name for p in out.glob("couple_*.png")) == ["couple_0.png", "couple_1.png"]
    assert len(list(out.glob("*_[0-9].png"))) == report.faces
    assert [f["photo"] for f in report.failures] == [str(src / "notes.jpg")]
    assert "text file" in report.failures[0]["reason"]
    text = (out / "batch_report.txt").read_text()
    assert "notes.jpg" in text
    assert json.loads((out / "batch_config.json").read_text())["sliders"] == {"age": 0.8, "pose": 0.5}
    assert seen[-1].done == seen[-1].total == 4
    assert digests(src) == before  # inputs unchanged

    again = BatchJob(config).run()  # resumed: everything is complete already
    assert again.outputs_written == 0 and again.outputs_skipped == report.faces
    assert not list(out.rglob("*.partial-*"))


@pytest.mark.skipif(not WILD.is_dir(), reason="../shared/data/photos/wild is not here")
def test_cancel_stops_between_faces_without_partial_files(tmp_path, edit_bundle_dir):
    src = make_input(tmp_path / "in")
    out = tmp_path / "out"
    stop = threading.Event()
    report = BatchJob(BatchConfig(input=src, output=out, sliders={"smile": 1}, bundle=edit_bundle_dir, method="style")).run(
        progress=lambda p: stop.set(), cancel=stop
    )
    assert report.cancelled
    assert report.outputs_written <= 1
    assert not list(out.rglob("*.partial-*"))
    assert json.loads((out / "batch_report.json").read_text())["cancelled"] is True


def test_presets_with_unknown_names_or_nan_are_rejected(tmp_path, edit_bundle_dir):
    nan = tmp_path / "nan.json"
    nan.write_text('{"format": 1, "sliders": {"age": NaN}}')
    with pytest.raises(PresetError, match="finite"):
        read_preset(nan)
    good = tmp_path / "good.json"
    good.write_text('{"format": 1, "sliders": {"age": 0.8, "nose": 1}}')
    sliders = read_preset(good)
    with pytest.raises(PresetError, match="unknown slider.*nose"):
        BatchJob(BatchConfig(input=tmp_path, output=tmp_path / "o", sliders=sliders, bundle=edit_bundle_dir))
    with pytest.raises(PresetError, match="NAME=VALUE"):
        parse_settings(["age"])
    with pytest.raises(PresetError, match="finite"):
        parse_settings(["age=inf"])
