"""Menus, toolbar and shortcuts of the main window."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QApplication, QInputDialog

from faceedit_gui.gui.file_actions import about_faceedit
from faceedit_gui.gui.theme import apply_theme

if TYPE_CHECKING:
    from faceedit_gui.gui.main_window import MainWindow

VIEWS = (("edited", "&Edited", "1"), ("original", "&Original", "2"), ("side", "&Side by side", "3"),
         ("split", "S&plit (drag the divider)", "4"), ("photo", "Full &photo (pasted back)", "5"))


def build_actions(w: "MainWindow") -> SimpleNamespace:
    a = SimpleNamespace()
    menu = w.menuBar()

    def act(text: str, slot, shortcut=None, checkable=False, tip: str = "") -> QAction:
        action = QAction(text, w)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setCheckable(checkable)
        if tip:
            action.setStatusTip(tip)
        action.triggered.connect(slot)
        return action

    # File
    f = menu.addMenu("&File")
    a.open = act("&Open…", w.files.open_dialog, QKeySequence.StandardKey.Open, tip="Open a photo")
    f.addAction(a.open)
    a.recent_menu = f.addMenu("Open &Recent")
    f.addSeparator()
    a.save_crop = act("&Save edited face…", lambda: w.files.save_image("crop"), QKeySequence.StandardKey.Save)
    a.save_photo = act("Save full &photo (pasted back)…", lambda: w.files.save_image("photo"), "Ctrl+Shift+S")
    a.save_preset = act("Save slider pr&eset…", lambda: w.files.save_preset())
    a.load_preset = act("&Load slider preset…", lambda: w.files.load_preset())
    for x in (a.save_crop, a.save_photo, None, a.save_preset, a.load_preset, None):
        f.addSeparator() if x is None else f.addAction(x)
    a.batch = act("&Batch export…", lambda: _batch(w))
    a.batch.setEnabled(_batch_available())
    if not a.batch.isEnabled():
        a.batch.setStatusTip("Batch export needs faceedit_gui.engine.export, which is not in this build yet")
    f.addAction(a.batch)
    f.addSeparator()
    f.addAction(act("&Quit", w.close, QKeySequence.StandardKey.Quit))

    # Edit
    e = menu.addMenu("&Edit")
    a.undo = w.history.stack.createUndoAction(w, "&Undo")
    a.undo.setShortcut(QKeySequence("Ctrl+Z"))
    a.redo = w.history.stack.createRedoAction(w, "&Redo")
    a.redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
    e.addAction(a.undo)
    e.addAction(a.redo)
    e.addSeparator()
    a.reset_all = act("Reset &all sliders", w.sliders.reset_all, "Ctrl+R")
    e.addAction(a.reset_all)
    a.snapshot = act("Take &snapshot…", lambda: _snapshot(w), "Ctrl+Shift+N")
    e.addAction(a.snapshot)
    a.snapshot_menu = e.addMenu("Return to s&napshot")
    w.history.snapshotsChanged.connect(partial(_refresh_snapshots, w, a))

    # View
    v = menu.addMenu("&View")
    group = QActionGroup(w)
    a.views = {}
    for mode, text, key in VIEWS:
        action = act(text, partial(w.set_view_mode, mode), key, checkable=True)
        group.addAction(action)
        v.addAction(action)
        a.views[mode] = action
    a.views["edited"].setChecked(True)
    v.addSeparator()
    a.fit = act("Zoom to &fit", w.image_view.set_fit, "Ctrl+0")
    a.actual = act("&Actual size (1:1)", w.image_view.set_actual_size, "Ctrl+1")
    v.addAction(a.fit)
    v.addAction(a.actual)
    hold = QAction("Hold Space: compare with the original", w)
    hold.setEnabled(False)
    v.addAction(hold)
    v.addSeparator()
    a.overlay = act("&Relevance overlay", w.set_overlay_visible, "Ctrl+M", checkable=True,
                    tip="Show where each level took style (edited) and where it kept content")
    v.addAction(a.overlay)
    v.addAction(w.slider_dock.toggleViewAction())
    theme = v.addMenu("&Theme")
    theme_group = QActionGroup(w)
    a.themes = {}
    for name in ("dark", "light"):
        action = act(name.capitalize(), partial(_set_theme, w, name), checkable=True)
        theme_group.addAction(action)
        theme.addAction(action)
        a.themes[name] = action
    a.themes[w.settings.theme()].setChecked(True)

    # Model
    m = menu.addMenu("&Model")
    m.addAction(act("&Load bundle…", w.files.load_bundle_dialog, "Ctrl+L"))
    m.addAction(act("Open &official checkpoint (.pt)…", w.files.official_checkpoint_dialog))
    a.sample = act("&Sample a new face", w.files.new_sample, "Ctrl+N")
    m.addAction(a.sample)
    m.addAction(act("Model &card…", lambda: about_faceedit(w)))

    # Help
    h = menu.addMenu("&Help")
    h.addAction(act("&About faceedit and the model…", lambda: about_faceedit(w)))

    # Toolbar
    tb = w.addToolBar("Main")
    tb.setObjectName("main_toolbar")
    for x in (a.open, a.save_crop, None, a.undo, a.redo, a.reset_all, None):
        tb.addSeparator() if x is None else tb.addAction(x)
    for mode in ("edited", "original", "side", "split", "photo"):
        tb.addAction(a.views[mode])
    tb.addSeparator()
    tb.addAction(a.overlay)

    a.refresh_recent = partial(_refresh_recent, w, a)
    a.refresh_recent()
    return a


def _refresh_recent(w: "MainWindow", a: SimpleNamespace) -> None:
    a.recent_menu.clear()
    files = w.settings.recent_files()
    for path in files:
        a.recent_menu.addAction(Path(path).name, partial(w.files.open_path, path)).setStatusTip(path)
    if files:
        a.recent_menu.addSeparator()
        a.recent_menu.addAction("Clear list", lambda: (w.settings.clear_recent_files(), a.refresh_recent()))
    a.recent_menu.setEnabled(bool(files))


def _refresh_snapshots(w: "MainWindow", a: SimpleNamespace) -> None:
    a.snapshot_menu.clear()
    for name in w.history.snapshots:
        a.snapshot_menu.addAction(name, partial(w.history.restore_snapshot, name))
    a.snapshot_menu.setEnabled(bool(w.history.snapshots))


def _snapshot(w: "MainWindow") -> None:
    name, ok = QInputDialog.getText(w, "Snapshot", "Name of this state:", text=f"snapshot {len(w.history.snapshots) + 1}")
    if ok and name.strip():
        w.history.take_snapshot(name.strip(), w.sliders.values())


def _set_theme(w: "MainWindow", name: str) -> None:
    w.settings.set_theme(name)
    apply_theme(QApplication.instance(), name)


def _batch_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("faceedit_gui.engine.export") is not None


def _batch(w: "MainWindow") -> None:
    from faceedit_gui.gui.batch_dialog import BatchDialog

    BatchDialog(w).open()
