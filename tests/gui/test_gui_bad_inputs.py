"""Every photo of the bad-input corpus through the window's open path: a message (or the
face picker, or a session), never a traceback; the window keeps rendering; inputs unchanged."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import pytest

from faceedit_gui.gui.dialogs import FacePickerDialog

pytestmark = pytest.mark.usefixtures("one_torch_thread")
REPO = Path(__file__).resolve().parents[2]


def _hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if p.is_file() and not p.is_symlink()}


def test_bad_photos_give_messages_and_the_window_stays_responsive(qtbot, window, tmp_path, settle):
    spec = importlib.util.spec_from_file_location("bad_inputs", REPO / "benchmarks" / "bad_inputs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    folder = tmp_path / "photos"
    module.write_photos(folder)
    before = _hashes(folder)
    c = window.controller
    outcomes = {}
    for path in sorted(folder.iterdir()):
        window.last_message = None
        session = c.session
        window.files.open_path(path)
        qtbot.waitUntil(lambda: window.last_message is not None or c.session is not session
                        or bool(window.findChildren(FacePickerDialog)), timeout=60000)
        qtbot.waitUntil(lambda: not c.jobs_running(), timeout=60000)
        for picker in window.findChildren(FacePickerDialog):
            picker.reject()
            picker.deleteLater()
            outcomes[path.name] = "picker"
        if window.last_message is not None:
            title, text = window.last_message
            assert title and text and "Traceback" not in text, (path.name, title, text)
            outcomes[path.name] = title
        outcomes.setdefault(path.name, "opened")
    assert outcomes["five_faces.jpg"] in ("picker", "opened")
    for name in ("empty.jpg", "text.jpg", "bomb.png", "dangling.jpg", "noise.jpg"):
        assert outcomes[name] not in ("opened", "picker"), (name, outcomes[name])
    window.sliders.rows["age"].slider.setValue(40)
    settle(window)
    assert c.last_frame.result.ok and c.last_frame.result.sliders["age"] == pytest.approx(0.4)
    assert _hashes(folder) == before
