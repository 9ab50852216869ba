"""GUI test fixtures: isolated QSettings, no leaked threads, a window on the real engine.

`window`: a shown MainWindow whose controller has the tiny random edit bundle and a
session on a real FFHQ photo, with its first frame rendered.
"""

from __future__ import annotations

import threading
import time

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QSettings  # noqa: E402

PHOTO = "00001.png"


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path):
    """QSettings of this test live under tmp_path (never the user's)."""
    folder = tmp_path / "qsettings"
    folder.mkdir()
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    yield folder


@pytest.fixture(autouse=True)
def no_thread_leak():
    """Fail a test that leaves a thread running (render workers, background jobs)."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not leaked:
            return
        time.sleep(0.05)
    pytest.fail(f"test leaked thread(s): {[t.name for t in leaked]}")


@pytest.fixture(scope="session")
def gui_bundle(edit_bundle_dir):
    from faceedit_gui.checkpoints.bundle import load_bundle

    return load_bundle(edit_bundle_dir)


@pytest.fixture(scope="session")
def photo_dir(shared_dir):
    return shared_dir / "data" / "photos"


@pytest.fixture(scope="session")
def ffhq_session(gui_bundle, photo_dir):
    """One real photo's session (detection, alignment, inversion), shared: renders never mutate it."""
    from faceedit_gui.engine.session import EditSession
    from faceedit_gui.faces.loading import load_photo

    return EditSession(gui_bundle, load_photo(photo_dir / "ffhq" / PHOTO))


@pytest.fixture
def bare_window(qtbot, gui_bundle):
    """A shown window with the model loaded, no photo yet."""
    from faceedit_gui.gui.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    window.controller.set_bundle(gui_bundle)
    window.show()
    yield window
    window.close()


@pytest.fixture
def window(qtbot, bare_window, ffhq_session):
    bare_window.controller._set_session(ffhq_session)
    qtbot.waitUntil(lambda: bare_window.controller.last_frame is not None, timeout=10000)
    return bare_window


@pytest.fixture
def settle(qtbot):
    """`settle(window)`: wait until the render worker is idle and its last frame reached the UI thread."""

    def wait(window, timeout: float = 10.0) -> None:
        assert window.controller.wait_idle(timeout)
        target = window.controller.scheduler._delivered
        qtbot.waitUntil(lambda: window.controller.shown_generation >= target, timeout=int(timeout * 1000))

    return wait
