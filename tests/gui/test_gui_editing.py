"""The editor on the real engine: sliders render live, bursts coalesce, overlay, history, views."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QKeyEvent

from faceedit_gui.gui.qimage import from_qimage

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def shown_after(window) -> np.ndarray:
    return from_qimage(window.image_view.after)


def test_moving_a_slider_renders_and_shows_a_new_image(qtbot, window, settle):
    first = shown_after(window).copy()
    generation = window.controller.shown_generation
    window.sliders.rows["smile"].slider.setValue(150)  # as a user drag tick: 1.5
    qtbot.waitUntil(lambda: window.controller.shown_generation > generation, timeout=10000)
    settle(window)
    assert window.controller.last_frame.result.sliders == {"smile": 1.5}
    assert not np.array_equal(shown_after(window), first)
    assert "fps" in window.status_timing.text() and "ms" in window.status_timing.text()
    assert window.sliders.rows["smile"].spin.value() == 1.5


def test_a_burst_of_1000_changes_coalesces_and_ends_on_the_final_value(qtbot, window, settle, ffhq_session):
    c = window.controller
    renders_before = c.render_count
    slider = window.sliders.rows["age"].slider
    slider.setSliderDown(True)  # a drag
    pending_seen = []
    for i in range(1000):
        slider.setValue(-200 + (i * 37) % 400)
        with c.scheduler._cond:
            pending_seen.append(0 if c.scheduler._pending is None else 1)
    slider.setValue(137)
    slider.setSliderDown(False)
    assert max(pending_seen) <= 1  # one pending slot: never a backlog
    settle(window)
    renders = c.render_count - renders_before
    assert renders < 100, renders  # the worker rendered a few, not 1001
    frame = c.last_frame
    assert frame.result.sliders == {"age": 1.37}
    expected = ffhq_session.render({"age": 1.37}).refined
    assert np.array_equal(frame.result.refined, expected)
    assert np.array_equal(shown_after(window), expected)


def test_overlay_toggles_from_the_menu_action_and_follows_level_and_opacity(qtbot, window):
    assert window.image_view.overlay is None and not window.overlay_dock.isVisible()
    window.actions.overlay.trigger()
    assert window.overlay_dock.isVisible() and window.overlay.enabled.isChecked()
    assert window.image_view.overlay is not None
    full = from_qimage(window.image_view.overlay)
    levels = [window.overlay.level.itemText(i) for i in range(window.overlay.level.count())]
    assert levels[0] == "all levels (mean)" and len(levels) == 1 + len(window.controller.session.generator.level_names)
    window.overlay.level.setCurrentIndex(1)
    assert window.image_view.overlay is not None
    window.overlay.opacity.setValue(20)
    assert window.image_view.overlay.pixelColor(0, 0).alpha() == round(0.2 * 255)
    assert full.shape[:2] == shown_after(window).shape[:2]
    window.actions.overlay.trigger()
    assert window.image_view.overlay is None and not window.overlay_dock.isVisible()


def test_undo_and_redo_step_through_slider_changes_and_snapshots(qtbot, window, settle):
    row = window.sliders.rows["glasses"]
    row.slider.setSliderDown(True)
    row.slider.setValue(50)
    row.slider.setValue(120)
    row.slider.setSliderDown(False)  # release: one step
    assert window.history.stack.count() == 1
    row.reset()
    assert window.history.stack.count() == 2 and row.value() == 0.0
    window.actions.undo.trigger()
    assert row.value() == 1.2
    settle(window)
    assert window.controller.last_frame.result.sliders == {"glasses": 1.2}
    window.actions.undo.trigger()
    assert row.value() == 0.0
    window.actions.redo.trigger()
    assert row.value() == 1.2
    window.history.take_snapshot("specs", window.sliders.values())
    window.sliders.reset_all()
    assert window.sliders.values() == {k: 0.0 for k in window.sliders.rows}
    window.history.restore_snapshot("specs")
    assert row.value() == 1.2
    window.actions.undo.trigger()
    assert row.value() == 0.0
    settle(window)
    assert window.controller.last_frame.result.sliders == {}


def test_hold_space_compares_with_the_original(qtbot, window):
    window.activateWindow()
    qtbot.waitUntil(lambda: window.isActiveWindow(), timeout=3000)
    window.image_view.setFocus()
    press = QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_Space, Qt.KeyboardModifier.NoModifier)
    release = QKeyEvent(QEvent.Type.KeyRelease, Qt.Key.Key_Space, Qt.KeyboardModifier.NoModifier)
    window.eventFilter(window.image_view, press)
    assert window.image_view.comparing
    window.eventFilter(window.image_view, release)
    assert not window.image_view.comparing


def test_views_side_split_original_and_full_photo_with_paste_back(qtbot, window, settle, ffhq_session):
    for mode in ("side", "split", "original"):
        window.actions.views[mode].trigger()
        assert window.image_view.mode == mode
        window.image_view.grab()  # paints without error
    window.actions.views["photo"].trigger()
    settle(window)
    assert window.controller.last_frame.result.photo is not None
    assert from_qimage(window.image_view.after).shape == ffhq_session.photo.rgb.shape
    window.actions.actual.trigger()
    assert not window.image_view.fit and window.image_view.zoom == 1.0
    window.actions.fit.trigger()
    window.actions.views["edited"].trigger()
    settle(window)
    assert from_qimage(window.image_view.after).shape[0] == 32


def test_dragging_shows_cheap_previews_and_release_shows_the_full_frame(qtbot, window, settle, ffhq_session):
    c = window.controller
    finest = ffhq_session.generator.level_names[-1]
    slider = window.sliders.rows["smile"].slider
    slider.setSliderDown(True)
    generation = c.shown_generation
    slider.setValue(80)
    qtbot.waitUntil(lambda: c.shown_generation > generation, timeout=10000)
    assert finest not in c.last_frame.result.masks  # a preview: the finest level was skipped
    slider.setSliderDown(False)  # release: the full frame follows
    settle(window)
    frame = c.last_frame
    assert finest in frame.result.masks
    assert np.array_equal(frame.result.refined, ffhq_session.render({"smile": 0.8}).refined)
