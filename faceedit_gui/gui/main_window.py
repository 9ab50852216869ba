"""The main window: picture in the middle, sliders on the left, relevance panel on the right.

It wires widgets to the `EditController` and holds no engine logic: menus and toolbar
(`actions.py`), file handling (`file_actions.py`), the slider panel, the image view, the
overlay panel, the history and the status bar with render time and frames per second.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (QAbstractButton, QAbstractSpinBox, QApplication, QDockWidget, QLabel, QLineEdit,
                               QMainWindow, QProgressBar, QScrollArea, QVBoxLayout, QWidget)

from faceedit_gui.gui.actions import build_actions
from faceedit_gui.gui.controller import EditController, Frame
from faceedit_gui.gui.dialogs import FacePickerDialog, message_dialog
from faceedit_gui.gui.file_actions import FileActions
from faceedit_gui.gui.history import History
from faceedit_gui.gui.model_info import is_untrained, untrained_reason
from faceedit_gui.gui.image_view import ImageView
from faceedit_gui.gui.overlay import OverlayPanel
from faceedit_gui.gui.settings import Settings
from faceedit_gui.gui.sliders import SliderPanel

BANNER_STYLE = "background:#8a5a00;color:white;padding:6px;font-weight:bold;"


class MainWindow(QMainWindow):
    def __init__(self, controller: EditController | None = None, settings: Settings | None = None) -> None:
        super().__init__()
        self.settings = settings or Settings()
        self.controller = controller or EditController(self)
        self.view_mode = "edited"
        self.last_message: tuple[str, str] | None = None

        self.image_view = ImageView()
        self.banner = QLabel()
        self.banner.setStyleSheet(BANNER_STYLE)
        self.banner.setWordWrap(True)
        self.banner.hide()
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.banner)
        layout.addWidget(self.image_view, 1)
        self.setCentralWidget(central)

        self.sliders = SliderPanel()
        scroll = QScrollArea()
        scroll.setWidget(self.sliders)
        scroll.setWidgetResizable(True)
        scroll.setMinimumWidth(400)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.slider_dock = QDockWidget("Sliders", self)
        self.slider_dock.setObjectName("sliders_dock")
        self.slider_dock.setWidget(scroll)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.slider_dock)

        self.overlay = OverlayPanel()
        self.overlay_dock = QDockWidget("Relevance maps", self)
        self.overlay_dock.setObjectName("overlay_dock")
        self.overlay_dock.setWidget(self.overlay)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.overlay_dock)
        self.overlay_dock.hide()

        self.status_timing = QLabel("")
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)  # busy indicator
        self.progress.setMaximumWidth(140)
        self.progress.hide()
        self.statusBar().addPermanentWidget(self.progress)
        self.statusBar().addPermanentWidget(self.status_timing)

        self.history = History(self._apply_values, self)
        self.files = FileActions(self)
        self.actions = build_actions(self)
        self.setAcceptDrops(True)

        c = self.controller
        c.bundleLoaded.connect(self._bundle_loaded)
        c.sessionReady.connect(self._session_ready)
        c.facesFound.connect(self._pick_face)
        c.failed.connect(self.show_message)
        c.busy.connect(self._busy)
        c.frame.connect(self._show_frame)
        self.sliders.valueChanged.connect(lambda *_: c.set_values(self.sliders.values(), preview=self.sliders.dragging()))
        self.sliders.committed.connect(lambda: self.history.commit(self.sliders.values()))
        self.sliders.committed.connect(c.end_preview)
        self.overlay.changed.connect(self._refresh_overlay)
        self.overlay.enabled.toggled.connect(self._overlay_toggled)
        QApplication.instance().installEventFilter(self)

        self.resize(1180, 760)
        geometry, state = self.settings.geometry(), self.settings.window_state()
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)
        self._update_title()
        self.image_view.set_placeholder("No model loaded.\n\nModel ▸ Load bundle… to choose a model folder.")

    # ------------------------------------------------------------------ model and session
    def _bundle_loaded(self, bundle) -> None:
        card = bundle.card
        self.sliders.set_specs(card.attributes, card.extra_directions)
        self.history.reset(self.sliders.values())
        self.settings.set_last_bundle(bundle.folder)
        if is_untrained(card):
            self.banner.setText(f"Untrained model “{card.name}”: {untrained_reason(card)}. The sliders and maps run the "
                                "real machinery, but the faces and edits are not meaningful.")
            self.banner.show()
        else:
            self.banner.hide()
        self.image_view.set_images(None, None)
        self.image_view.set_placeholder("Model loaded. File ▸ Open (Ctrl+O) or drop a photo here.")
        self._update_title()
        self.statusBar().showMessage(f"Model {card.name} loaded from {bundle.folder}", 5000)

    def _session_ready(self, session) -> None:
        self.overlay.set_levels(list(session.generator.level_names))
        self.controller.set_values(self.sliders.values())
        self.history.reset(self.sliders.values())
        self._update_title()
        n = len(getattr(session, "faces", []) or [])
        source = session.photo.path.name if session.photo.path else "a face sampled from the generator"
        self.statusBar().showMessage(f"Editing {source}" + (f" (face {session.face_index + 1} of {n})" if n > 1 else ""), 5000)

    def _pick_face(self, photo, faces) -> None:
        dialog = FacePickerDialog(photo, faces, self)
        dialog.setObjectName("face_picker")
        dialog.accepted.connect(lambda: self.controller.choose_face(photo, faces, dialog.chosen))
        dialog.open()

    def _update_title(self) -> None:
        parts = ["faceedit"]
        session = self.controller.session
        if session is not None:
            parts.append(session.photo.path.name if session.photo.path else "sampled face")
        bundle = self.controller.bundle
        if bundle is not None:
            parts.append(f"model {bundle.card.name}" + (" [untrained: random weights]" if is_untrained(bundle.card) else ""))
        self.setWindowTitle(" — ".join(parts))

    # ------------------------------------------------------------------ frames
    def _show_frame(self, frame: Frame) -> None:
        result = frame.result
        if not result.ok:
            self.statusBar().showMessage(f"Render failed: {result.error}", 8000)
            return
        self._refresh_images()
        ms = result.timings.get("render_ms", frame.seconds * 1e3)
        self.status_timing.setText(f"render {ms:.0f} ms · {frame.fps:.1f} fps")

    def _refresh_images(self) -> None:
        frame = self.controller.last_frame
        if frame is None:
            return
        result, session = frame.result, frame.session
        if self.view_mode == "photo":
            self.image_view.set_images(session.photo.rgb, result.photo if result.photo is not None else session.photo.rgb)
            return
        self.image_view.set_images(session.aligned.crop, result.refined, self.overlay.rgba(result.masks, result.refined.shape[0]))

    def _refresh_overlay(self) -> None:
        frame = self.controller.last_frame
        if frame is not None and frame.result.ok and self.view_mode != "photo":
            self.image_view.set_overlay(self.overlay.rgba(frame.result.masks, frame.result.refined.shape[0]))

    def _overlay_toggled(self, on: bool) -> None:
        self.actions.overlay.setChecked(on)
        if on:
            self.overlay_dock.show()
        self._refresh_overlay()

    def set_overlay_visible(self, on: bool) -> None:
        self.overlay.enabled.setChecked(on)
        self.overlay_dock.setVisible(on)

    def set_view_mode(self, mode: str) -> None:
        self.view_mode = mode
        self.image_view.set_mode("edited" if mode == "photo" else mode)
        self.controller.set_paste(mode == "photo")
        self._refresh_images()

    def _apply_values(self, values: dict[str, float]) -> None:
        self.sliders.set_values(values, emit=False)
        self.controller.set_values(self.sliders.values())

    # ------------------------------------------------------------------ status and messages
    def _busy(self, label: str) -> None:
        self.progress.setVisible(bool(label))
        if label:
            self.statusBar().showMessage(label)
        else:
            self.statusBar().clearMessage()

    def show_message(self, title: str, text: str) -> None:
        self.last_message = (title, text)
        self.statusBar().showMessage(f"{title}: {text.splitlines()[0] if text else ''}", 10000)
        message_dialog(self, title, text)

    # ------------------------------------------------------------------ events
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt)
        """Hold Space anywhere in the window (but in text fields and buttons) to see the original."""
        if event.type() in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease) and event.key() == Qt.Key.Key_Space:
            focus = QApplication.focusWidget()
            if (QApplication.activeWindow() is self and not event.isAutoRepeat()
                    and not isinstance(focus, (QLineEdit, QAbstractSpinBox, QAbstractButton))):
                self.image_view.set_comparing(event.type() == QEvent.Type.KeyPress)
                return True
        return super().eventFilter(obj, event)

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt)
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 (Qt)
        urls = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            event.acceptProposedAction()
            self.files.open_path(urls[0])

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt)
        self.settings.set_window(self.saveGeometry(), self.saveState())
        self.settings.sync()
        QApplication.instance().removeEventFilter(self)
        self.controller.close()
        super().closeEvent(event)
