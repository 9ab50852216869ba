"""The batch export job: one output per face, bad files reported, inputs untouched, resume, cancel, presets."""

from __future__ import annotations

import dataclasses
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


# --------------------------------------------------------------------------- failures remembered


def no_face_image(path: Path) -> Path:
    """A real image file with no face in it: a smooth colour gradient."""
    import numpy as np
    from PIL import Image

    y, x = np.mgrid[0:240, 0:320]
    rgb = np.stack([x * 255 // 319, y * 255 // 239, (x + y) * 255 // 558], axis=-1).astype("uint8")
    Image.fromarray(rgb).save(path)
    return path


def statuses(report) -> dict[str, str]:
    return {Path(f["photo"]).name: f["status"] for f in report.failures}


@pytest.mark.skipif(not WILD.is_dir(), reason="../shared/data/photos/wild is not here")
def test_failed_photos_are_skipped_on_a_rerun_until_the_file_changes_or_retry_is_asked(tmp_path, edit_bundle_dir):
    import os

    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(WILD / "img16.jpg", src / "face.jpg")
    (src / "empty.jpg").write_bytes(b"")
    no_face_image(src / "scenery.png")
    out = tmp_path / "out"
    config = BatchConfig(input=src, output=out, sliders={"age": 0.5}, bundle=edit_bundle_dir)

    first = BatchJob(config).run()
    assert first.outputs_written == 1 and first.failed_before == 0
    assert statuses(first) == {"empty.jpg": "failed", "scenery.png": "failed"}
    reasons = {Path(f["photo"]).name: f["reason"] for f in first.failures}
    assert "empty file" in reasons["empty.jpg"] and "no face found" in reasons["scenery.png"]

    again = BatchJob(config).run()  # nothing is tried again, and nothing is dropped from the report
    assert again.outputs_written == 0 and again.outputs_skipped == 1
    assert again.failed_before == 2 and statuses(again) == {"empty.jpg": "failed before, skipped", "scenery.png": "failed before, skipped"}
    assert {Path(f["photo"]).name: f["reason"] for f in again.failures} == reasons
    text = (out / "batch_report.txt").read_text()
    assert "FAILED BEFORE, SKIPPED" in text and "empty.jpg" in text and "scenery.png" in text
    saved = json.loads((out / "batch_report.json").read_text())
    assert saved["failed_before"] == 2 and len(saved["failures"]) == 2

    stamp = (src / "scenery.png").stat().st_mtime_ns + 5_000_000_000
    os.utime(src / "scenery.png", ns=(stamp, stamp))  # touched, same bytes: still the same bad input
    assert statuses(BatchJob(config).run())["scenery.png"] == "failed before, skipped"

    retried = BatchJob(dataclasses.replace(config, retry_failed=True)).run()
    assert retried.failed_before == 0 and statuses(retried) == {"empty.jpg": "failed", "scenery.png": "failed"}

    shutil.copy(WILD / "img12.jpg", src / "empty.jpg")  # the file changed: a real face now
    changed = BatchJob(config).run()
    assert changed.outputs_written == 1 and (out / "empty_0.png").is_file()
    assert statuses(changed) == {"scenery.png": "failed before, skipped"}
    assert not (out / ".faceedit-batch" / "failed" / "empty.json").exists()
    assert BatchJob(config).run().outputs_skipped == 2  # and it is complete from now on


# --------------------------------------------------------------------------- batching


def read_rgb(path: Path):
    import numpy as np
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.int16)


def batch_input(folder: Path) -> Path:
    folder.mkdir()
    for name in ("couple.jpg", "img12.jpg", "img16.jpg", "img17.jpg", "img5.jpg"):
        shutil.copy(WILD / name, folder / name)
    (folder / "notes.jpg").write_text("this is text, not a photo\n")
    return folder


@pytest.mark.skipif(not WILD.is_dir(), reason="../shared/data/photos/wild is not here")
@pytest.mark.parametrize("kind", ["crop", "photo"])
def test_batch_size_4_writes_the_images_of_batch_size_1(tmp_path, edit_bundle_dir, kind):
    src = batch_input(tmp_path / "in")
    runs = {}
    for size in (1, 4):
        config = BatchConfig(input=src, output=tmp_path / f"b{size}", sliders={"age": 0.8, "pose": 0.3}, output_kind=kind,
                             bundle=edit_bundle_dir, batch_size=size)
        runs[size] = BatchJob(config).run()
    one, four = runs[1], runs[4]
    assert one.outputs_written == four.outputs_written >= 5  # every face (crop) or photo with a face
    assert sorted(one.outputs) == sorted(four.outputs)
    assert [Path(f["photo"]).name for f in four.failures] == ["notes.jpg"]
    for rel in one.outputs:
        a, b = read_rgb(tmp_path / "b1" / rel), read_rgb(tmp_path / "b4" / rel)
        assert a.shape == b.shape
        assert abs(a - b).max() <= 1, rel


@pytest.mark.skipif(not WILD.is_dir(), reason="../shared/data/photos/wild is not here")
def test_a_cancelled_batched_run_resumes_to_the_same_outputs(tmp_path, edit_bundle_dir):
    src = batch_input(tmp_path / "in")
    out = tmp_path / "out"
    config = BatchConfig(input=src, output=out, sliders={"smile": -0.6}, bundle=edit_bundle_dir, batch_size=4)
    stop = threading.Event()
    seen = []

    def on_progress(p):
        seen.append(p)
        stop.set()  # cancel as soon as the first output is written

    cut = BatchJob(config).run(progress=on_progress, cancel=stop)
    assert cut.cancelled and 1 <= cut.outputs_written < 6
    assert not list(out.rglob("*.partial-*"))
    rest = BatchJob(config).run()
    assert not rest.cancelled
    assert rest.outputs_skipped == cut.outputs_written and rest.outputs_written + rest.outputs_skipped == rest.faces
    whole = BatchJob(dataclasses.replace(config, output=tmp_path / "whole", batch_size=1)).run()
    assert sorted(whole.outputs) == sorted(rest.outputs)
    for rel in whole.outputs:
        assert abs(read_rgb(out / rel) - read_rgb(tmp_path / "whole" / rel)).max() <= 1, rel


@pytest.mark.skipif(not WILD.is_dir(), reason="../shared/data/photos/wild is not here")
def test_a_batch_of_one_is_the_editor_session_and_one_bad_face_fails_alone(edit_bundle_dir):
    import numpy as np

    from faceedit_gui.checkpoints.bundle import load_bundle
    from faceedit_gui.engine.batch_render import FaceRenderer
    from faceedit_gui.engine.session import EditSession
    from faceedit_gui.faces.detection import detect_faces
    from faceedit_gui.faces.loading import load_photo

    bundle = load_bundle(edit_bundle_dir)
    photo = load_photo(WILD / "couple.jpg")
    sessions = [EditSession(bundle, photo, faces=detect_faces(photo), face_index=k) for k in (0, 1)]
    sliders = {"age": 0.7, "pose": -0.4}
    renderer = FaceRenderer(bundle, "refine", sliders)
    crops = [s.aligned.crop for s in sessions]
    alone = [renderer.render([c])[0] for c in crops]
    for session, edit in zip(sessions, alone):  # the GUI's render and the batch's are one computation
        assert np.array_equal(edit.crop, session.render(sliders).refined)

    odd = np.zeros((bundle.card.resolution * 2, bundle.card.resolution * 2, 3), np.uint8)  # not the model's crop size
    mixed = renderer.render([crops[0], odd, crops[1]])
    assert renderer.fallbacks == 1  # the batch failed as a whole and was redone face by face
    assert [e.ok for e in mixed] == [True, False, True]
    assert "expected" in mixed[1].error and mixed[1].crop is None
    assert np.array_equal(mixed[0].crop, alone[0].crop) and np.array_equal(mixed[2].crop, alone[1].crop)


def test_batch_size_and_device_are_checked(tmp_path):
    for bad in (0, -3, 2.5, True, 5000):
        with pytest.raises(ValueError, match="batch size"):
            BatchConfig(input=tmp_path, output=tmp_path / "o", batch_size=bad)
    with pytest.raises(ValueError, match="device 'gpu'"):
        BatchConfig(input=tmp_path, output=tmp_path / "o", device="gpu")
