"""Opening photos (good, bad, several faces), first start, saving and presets, in the real window."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPointF

from faceedit_gui.faces.loading import load_photo
from faceedit_gui.gui.dialogs import FacePickerDialog

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_open_a_photo_runs_detection_and_inversion_off_the_ui_thread(qtbot, bare_window, photo_dir):
    w = bare_window
    w.files.open_path(photo_dir / "ffhq" / "00002.png")
    assert w.progress.isVisibleTo(w)  # busy while it runs in the background
    qtbot.waitUntil(lambda: w.controller.last_frame is not None, timeout=30000)
    assert w.controller.session.photo.path.name == "00002.png"
    assert not w.progress.isVisibleTo(w)
    assert w.windowTitle().startswith("faceedit") and "00002.png" in w.windowTitle()
    assert "untrained" in w.windowTitle() and w.banner.isVisibleTo(w)
    assert w.settings.recent_files()[0].endswith("00002.png")
    assert [a.text() for a in w.actions.recent_menu.actions()][0] == "00002.png"


def test_several_faces_let_the_user_pick_one_on_the_photo(qtbot, bare_window, photo_dir):
    w = bare_window
    w.files.open_path(photo_dir / "wild" / "selfie-many-people.jpg")
    qtbot.waitUntil(lambda: bool(w.findChildren(FacePickerDialog)), timeout=30000)
    picker = w.findChildren(FacePickerDialog)[0]
    assert len(picker.view.face_boxes) >= 2
    x0, y0, x1, y1 = picker.view.face_boxes[1]
    picker.resize(600, 600)
    picker.view.grab()
    rect = picker.view._panes()[-1][0]
    image = picker.view.after
    centre = QPointF(rect.left() + (x0 + x1) / 2 * rect.width() / image.width(),
                     rect.top() + (y0 + y1) / 2 * rect.height() / image.height())
    assert picker.view.face_at(centre) == 1
    picker.view.faceClicked.emit(picker.view.face_at(centre))  # the click
    qtbot.waitUntil(lambda: w.controller.last_frame is not None, timeout=30000)
    assert w.controller.session.face_index == 1


def test_opening_a_bad_file_shows_a_message_and_the_window_keeps_working(qtbot, window, tmp_path, settle):
    bad = tmp_path / "notes.jpg"
    bad.write_text("these are not pixels\n")
    window.files.open_path(bad)
    qtbot.waitUntil(lambda: window.last_message is not None, timeout=10000)
    title, text = window.last_message
    assert title == "Cannot open the photo" and "not an image" in text and "Traceback" not in text
    assert window.controller.session.photo.path.name == "00001.png"  # still editing the photo before
    window.sliders.rows["age"].slider.setValue(-80)
    settle(window)
    assert window.controller.last_frame.result.sliders == {"age": -0.8}


def test_first_start_shows_a_sampled_face_and_no_model_shows_a_message(qtbot, edit_bundle_dir, monkeypatch, tmp_path):
    from faceedit_gui.gui import app

    monkeypatch.setattr(app, "default_bundle_path", lambda: tmp_path / "no-default-model")
    empty = app.create_window(app.parse_args([]))
    qtbot.addWidget(empty)
    assert empty.controller.bundle is None and "Load bundle" in empty.image_view.placeholder
    assert empty.windowTitle() == "faceedit"
    assert empty.controller.device == ("cuda" if torch.cuda.is_available() else "cpu")  # --device auto
    empty.close()
    assert app.run(["--device", "gpu"]) == 2  # a clear message, no window
    sampled = app.create_window(app.parse_args(["--bundle", str(edit_bundle_dir), "--seed", "3"]))
    qtbot.addWidget(sampled)
    qtbot.waitUntil(lambda: sampled.controller.last_frame is not None, timeout=30000)
    assert sampled.controller.session.seed == 3
    assert "sampled face" in sampled.windowTitle() and "untrained" in sampled.windowTitle()
    assert sampled.settings.last_bundle() == str(edit_bundle_dir)
    sampled.close()


def test_save_writes_png_and_jpeg_and_never_overwrites_the_original(qtbot, bare_window, photo_dir, tmp_path, settle):
    w = bare_window
    original = tmp_path / "me.png"
    shutil.copy(photo_dir / "ffhq" / "00001.png", original)
    before = original.read_bytes()
    w.files.open_path(original)
    qtbot.waitUntil(lambda: w.controller.last_frame is not None, timeout=30000)
    w.sliders.rows["smile"].slider.setValue(100)
    settle(w)
    crop = w.files.save_image("crop", tmp_path / "me_edited.png")
    assert load_photo(crop).rgb.shape == (32, 32, 3)
    assert np.array_equal(load_photo(crop).rgb, w.controller.last_frame.result.refined)
    jpeg = w.files.save_image("photo", tmp_path / "me_photo.jpg", quality=80)
    assert load_photo(jpeg).rgb.shape == load_photo(original).rgb.shape
    assert w.files.save_image("crop", original) is None
    assert "never overwrites" in w.last_message[1]
    assert original.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_presets_round_trip_and_bad_presets_are_rejected_with_a_message(qtbot, window, tmp_path, settle):
    window.sliders.set_values({"age": 0.8, "smile": -0.5, "pose": 1.0})
    path = window.files.save_preset(tmp_path / "look.json")
    assert json.loads(path.read_text()) == {"format": 1, "sliders": {"age": 0.8, "glasses": 0.0, "pose": 1.0, "smile": -0.5}}
    window.sliders.reset_all()
    assert window.files.load_preset(path)
    assert window.sliders.values() == {"age": 0.8, "smile": -0.5, "glasses": 0.0, "pose": 1.0}
    settle(window)
    assert window.controller.last_frame.result.sliders == {"age": 0.8, "smile": -0.5, "pose": 1.0}
    assert window.history.stack.count() >= 1
    unknown = tmp_path / "unknown.json"
    unknown.write_text('{"format": 1, "sliders": {"hair_colour": 1.0}}')
    nan = tmp_path / "nan.json"
    nan.write_text('{"format": 1, "sliders": {"age": NaN}}')
    for bad, words in ((unknown, "hair_colour"), (nan, "finite")):
        assert not window.files.load_preset(bad)
        assert window.last_message[0] == "Preset not loaded" and words in window.last_message[1]
    assert window.sliders.values()["age"] == 0.8  # unchanged by the rejected presets


def test_settings_remember_theme_and_geometry(qtbot, bare_window):
    from faceedit_gui.gui.settings import Settings

    bare_window.actions.themes["light"].trigger()
    assert Settings().theme() == "light"
    bare_window.resize(900, 700)
    bare_window.close()
    assert Settings().geometry() is not None
