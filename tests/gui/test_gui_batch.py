"""File ▸ Batch export on the real engine: outputs per detected face, failures reported, Cancel."""

from __future__ import annotations

import shutil

import pytest

from faceedit_gui.faces.detection import detect_faces
from faceedit_gui.faces.loading import load_photo

pytest.importorskip("faceedit_gui.engine.export")
pytestmark = pytest.mark.usefixtures("one_torch_thread")

PHOTOS = ("img12.jpg", "img5.jpg", "selfie-many-people.jpg")


@pytest.fixture
def batch_folder(tmp_path, photo_dir):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in PHOTOS:
        shutil.copy(photo_dir / "wild" / name, folder / name)
    (folder / "broken.jpg").write_bytes(b"not a photo at all")
    return folder


def open_dialog(window, qtbot, batch_folder, out):
    window.actions.batch.trigger()
    from faceedit_gui.gui.batch_dialog import BatchDialog

    qtbot.waitUntil(lambda: bool(window.findChildren(BatchDialog)), timeout=3000)
    dialog = window.findChildren(BatchDialog)[-1]
    dialog.input.setText(str(batch_folder))
    dialog.output.setText(str(out))
    return dialog


def test_batch_export_writes_one_output_per_detected_face_and_reports_the_rest(qtbot, window, batch_folder, tmp_path):
    expected = sum(len(detect_faces(load_photo(batch_folder / n))) for n in PHOTOS)
    out = tmp_path / "out"
    window.sliders.set_values({"age": 0.8})
    dialog = open_dialog(window, qtbot, batch_folder, out)
    assert dialog.start()
    qtbot.waitUntil(lambda: dialog.report is not None, timeout=120000)
    report = dialog.report
    assert report.outputs_written == expected == len(list(out.glob("*_*.png")))
    assert [f["photo"].endswith("broken.jpg") for f in report.failures] == [True]
    assert "broken.jpg" in dialog.log.toPlainText() and (out / "batch_report.txt").is_file()
    assert dialog.progress.value() == dialog.progress.maximum()
    dialog.close()


def test_cancel_stops_the_batch_cleanly(qtbot, window, batch_folder, tmp_path):
    out = tmp_path / "out"
    dialog = open_dialog(window, qtbot, batch_folder, out)
    dialog.progressed.connect(lambda p: dialog.cancel())  # cancel as soon as the first photo is done
    assert dialog.start()
    qtbot.waitUntil(lambda: dialog.report is not None, timeout=120000)
    assert dialog.report.cancelled and dialog.report.outputs_written < 6
    assert "CANCELLED" in dialog.log.toPlainText()
    assert not dialog.running() and dialog.start_button.isEnabled()
    assert not [p for p in out.iterdir() if ".partial-" in p.name]
    dialog.close()


def test_a_missing_input_folder_is_a_message_not_a_crash(qtbot, window, tmp_path):
    dialog = open_dialog(window, qtbot, tmp_path / "nowhere", tmp_path / "out")
    assert not dialog.start()
    assert "does not exist" in dialog.log.toPlainText()
    dialog.close()


def test_photos_that_failed_before_are_listed_and_retried_when_ticked(qtbot, window, photo_dir, tmp_path):
    src = tmp_path / "few"
    src.mkdir()
    shutil.copy(photo_dir / "wild" / "img12.jpg", src / "img12.jpg")
    (src / "zero.jpg").write_bytes(b"")
    out = tmp_path / "out"
    dialog = open_dialog(window, qtbot, src, out)
    assert not dialog.retry_failed.isChecked()

    def run_once():
        dialog.report = None
        assert dialog.start()
        qtbot.waitUntil(lambda: dialog.report is not None, timeout=120000)
        return dialog.report

    first = run_once()
    assert first.outputs_written == 1 and [f["status"] for f in first.failures] == ["failed"]
    again = run_once()
    assert again.outputs_skipped == 1 and [f["status"] for f in again.failures] == ["failed before, skipped"]
    text = dialog.log.toPlainText()
    assert "Failed before, skipped" in text and "zero.jpg: empty file" in text and "1 failed (1 failed before, skipped)" in text
    dialog.retry_failed.setChecked(True)
    retried = run_once()
    assert [f["status"] for f in retried.failures] == ["failed"] and retried.failed_before == 0
    assert "Failed before" not in dialog.log.toPlainText() and "zero.jpg" in dialog.log.toPlainText()
    dialog.close()
