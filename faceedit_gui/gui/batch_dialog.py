"""File ▸ Batch export…: the engine's `BatchJob` over a folder, with progress and Cancel.

The job runs on a plain Python thread; its progress callback and its end only emit Qt
signals (queued to the UI thread). Cancel sets the job's event: the engine checks it
between faces, so the job stops cleanly after the face in hand, and still writes its report.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QButtonGroup, QCheckBox, QComboBox, QDialog, QFileDialog, QFormLayout, QHBoxLayout,
                               QLabel, QLineEdit, QPlainTextEdit, QProgressBar, QPushButton, QRadioButton, QSpinBox,
                               QVBoxLayout, QWidget)

from faceedit_gui.engine.export import METHODS, BatchConfig, BatchJob, BatchReport, Progress
from faceedit_gui.engine.presets import PresetError, check_sliders, read_preset

if TYPE_CHECKING:
    from faceedit_gui.gui.main_window import MainWindow


def _folder_row(edit: QLineEdit, pick) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(edit, 1)
    button = QPushButton("Browse…")
    button.clicked.connect(pick)
    layout.addWidget(button)
    return row


def report_text(report: BatchReport, output: Path) -> str:
    before = len(report.failures) - len(report.failed_now)
    head = (f"{'CANCELLED — ' if report.cancelled else ''}{report.outputs_written} written, "
            f"{report.outputs_skipped} already complete, {report.faces} face(s) in {report.photos} photo(s), "
            f"{len(report.failures)} failed{f' ({before} failed before, skipped)' if before else ''}, "
            f"{report.seconds:.1f} s.\nReport: {output / 'batch_report.txt'}")
    failures = "".join(f"\n• {Path(f['photo']).name}: {f['reason']}" for f in report.failed_now)
    skipped = "".join(f"\n• {Path(f['photo']).name}: {f['reason']}" for f in report.failures if f not in report.failed_now)
    text = head + (f"\n\nFailed:{failures}" if failures else "")
    if skipped:
        text += f"\n\nFailed before, skipped (tick “Retry photos that failed before” to try them again):{skipped}"
    return text


class BatchDialog(QDialog):
    progressed = Signal(object)  # Progress, from the job thread
    finished_job = Signal(bool, object)  # ok, BatchReport or error text

    def __init__(self, window: "MainWindow") -> None:
        super().__init__(window)
        self.window_ = window
        self.setWindowTitle("faceedit — Batch export")
        self.setObjectName("batch_dialog")
        self.cancel_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.report: BatchReport | None = None
        s = window.settings
        self.input = QLineEdit(s.last_folder("batch_in"))
        self.output = QLineEdit(s.last_folder("batch_out"))
        self.recursive = QCheckBox("Include sub-folders")
        self.retry_failed = QCheckBox("Retry photos that failed before")
        self.retry_failed.setToolTip("Photos that failed in an earlier run into this output folder are skipped "
                                     "(and listed) unless their file changed; tick to try them again anyway")
        self.use_current = QRadioButton("Current slider settings")
        self.use_preset = QRadioButton("Preset file:")
        self.use_current.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.use_current)
        group.addButton(self.use_preset)
        self.preset = QLineEdit()
        self.method = QComboBox()
        self.method.addItems(list(METHODS))
        self.kind = QComboBox()
        self.kind.addItem("Edited face crops (one file per face)", "crop")
        self.kind.addItem("Full photos with the edits pasted back", "photo")
        self.format = QComboBox()
        self.format.addItems(["png", "jpg"])
        self.quality = QSpinBox()
        self.quality.setRange(1, 100)
        self.quality.setValue(92)
        self.quality.setPrefix("JPEG quality ")
        form = QFormLayout()
        form.addRow("Input folder", _folder_row(self.input, lambda: self._pick(self.input, "batch_in")))
        form.addRow("", self.recursive)
        form.addRow("Output folder", _folder_row(self.output, lambda: self._pick(self.output, "batch_out")))
        form.addRow("Settings", self.use_current)
        form.addRow("", _folder_row(self.preset, self._pick_preset))
        form.itemAt(form.rowCount() - 1, QFormLayout.ItemRole.FieldRole).widget().layout().insertWidget(0, self.use_preset)
        form.addRow("Method", self.method)
        form.addRow("Output", self.kind)
        fmt = QWidget()
        fl = QHBoxLayout(fmt)
        fl.setContentsMargins(0, 0, 0, 0)
        fl.addWidget(self.format)
        fl.addWidget(self.quality)
        form.addRow("Format", fmt)
        form.addRow("", self.retry_failed)
        self.progress = QProgressBar()
        self.current = QLabel("")
        self.eta = QLabel("")
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setPlaceholderText("The report appears here.")
        self.start_button = QPushButton("Start")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.close_button = QPushButton("Close")
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for b in (self.start_button, self.cancel_button, self.close_button):
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.current)
        layout.addWidget(self.eta)
        layout.addWidget(self.log, 1)
        layout.addLayout(buttons)
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.close)
        self.progressed.connect(self._on_progress)
        self.finished_job.connect(self._on_finished)
        self.resize(620, 560)

    def _pick(self, edit: QLineEdit, kind: str) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder", edit.text())
        if folder:
            edit.setText(folder)

    def _pick_preset(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Preset", self.window_.settings.last_folder("preset"), "Preset (*.json)")
        if path:
            self.preset.setText(path)
            self.use_preset.setChecked(True)

    # ------------------------------------------------------------------ the job
    def config(self) -> BatchConfig:
        w = self.window_
        if w.controller.bundle is None:
            raise ValueError("load a model first (Model ▸ Load bundle…)")
        if not self.input.text() or not Path(self.input.text()).exists():
            raise ValueError(f"input folder {self.input.text()!r} does not exist")
        if not self.output.text():
            raise ValueError("choose an output folder")
        known = list(w.sliders.rows)
        if self.use_preset.isChecked():
            sliders = check_sliders(read_preset(self.preset.text()), known, f"preset {self.preset.text()}")
        else:
            sliders = w.sliders.nonzero_values()
        return BatchConfig(input=Path(self.input.text()), output=Path(self.output.text()), sliders=sliders,
                           method=self.method.currentText(), output_kind=self.kind.currentData(),
                           format=self.format.currentText(), quality=self.quality.value(), recursive=self.recursive.isChecked(),
                           bundle=Path(w.controller.bundle.folder), retry_failed=self.retry_failed.isChecked())

    def start(self) -> bool:
        try:
            config = self.config()
        except (ValueError, PresetError, OSError) as exc:
            self.log.setPlainText(f"Cannot start: {exc}")
            return False
        s = self.window_.settings
        s.set_last_folder("batch_in", config.input if config.input.is_dir() else config.input.parent)
        s.set_last_folder("batch_out", config.output)
        self.cancel_event.clear()
        self.report = None
        bundle = self.window_.controller.bundle
        self.start_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, 0)
        self.log.setPlainText(f"Running {config.method} on {config.input} …")

        def run() -> None:
            try:
                job = BatchJob(config, bundle=bundle)
                report = job.run(progress=self.progressed.emit, cancel=self.cancel_event)
                self.finished_job.emit(True, report)
            except Exception as exc:  # noqa: BLE001 - reported in the dialog
                self.finished_job.emit(False, f"{type(exc).__name__}: {exc}")

        self.thread = threading.Thread(target=run, name="faceedit-batch", daemon=True)
        self.thread.start()
        return True

    def cancel(self) -> None:
        self.cancel_event.set()
        self.cancel_button.setEnabled(False)
        self.current.setText("Cancelling after the face in hand…")

    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def _on_progress(self, p: Progress) -> None:
        self.progress.setRange(0, p.total)
        self.progress.setValue(p.done)
        self.current.setText(f"{p.done}/{p.total}: {Path(p.file).name} — {p.faces_written} output(s) written")
        self.eta.setText("" if p.eta_s is None else f"about {p.eta_s:.0f} s left")

    def _on_finished(self, ok: bool, value) -> None:
        if self.thread is not None:
            self.thread.join(10)  # it has emitted its last signal and is returning
        self.start_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if ok and not value.cancelled else 0)
        if not ok:
            self.log.setPlainText(f"Batch export failed: {value}")
            return
        self.report = value
        self.eta.setText("")
        self.log.setPlainText(report_text(value, Path(self.output.text())))

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt)
        if self.running():
            self.cancel()
            self.thread.join(60)
        super().closeEvent(event)
