"""One slider row per attribute (and per extra style-only direction), and the panel of them.

A row: label, slider (steps of 0.01, ticks at every 1.0 so ±1 are marked), a spin box with
the numeric value, and a reset button. The panel emits `valueChanged(name, value)` on every
tick (the image follows while dragging) and `committed()` when a change is finished (the
slider released, a spin box edited, a reset, or 300 ms after a keyboard/wheel change): the
history turns commits into undo steps.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QPainter, QPen
from PySide6.QtWidgets import (QDoubleSpinBox, QGridLayout, QLabel, QPushButton, QSlider, QToolButton, QVBoxLayout,
                               QWidget)

STEPS = 100  # slider steps per unit


class MarkedSlider(QSlider):
    """A horizontal slider that draws its own marks at every whole unit (0 and ±1 stronger):
    some styles (qdarkstyle) hide QSlider's tick marks."""

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt)
        super().paintEvent(event)
        span = self.maximum() - self.minimum()
        if span <= 0:
            return
        p = QPainter(self)
        margin = 8.0  # about half the handle
        width = self.width() - 2 * margin
        colour = self.palette().windowText().color()
        for unit in range(-(-self.minimum() // STEPS), self.maximum() // STEPS + 1):
            x = margin + width * (unit * STEPS - self.minimum()) / span
            strong = abs(unit) <= 1
            colour.setAlpha(230 if strong else 120)
            p.setPen(QPen(colour, 2 if strong else 1))
            p.drawLine(QPointF(x, self.height() - (6 if strong else 4)), QPointF(x, self.height()))
        p.end()


class SliderRow(QWidget):
    valueChanged = Signal(str, float)
    committed = Signal()

    def __init__(self, name: str, label: str, lo: float, hi: float, default: float = 0.0, tip: str = "",
                 grid: QGridLayout | None = None, row: int = 0, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.default = default
        self.label = QLabel(label)
        self.label.setToolTip(tip or name)
        self.slider = MarkedSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(round(lo * STEPS), round(hi * STEPS))
        self.slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.slider.setTickInterval(STEPS)  # ticks at ..., -1, 0, 1, ...: ±1 marked
        self.slider.setSingleStep(5)
        self.slider.setPageStep(25)
        self.slider.setMinimumWidth(160)
        self.slider.setObjectName(f"slider_{name}")
        self.spin = QDoubleSpinBox()
        self.spin.setRange(lo, hi)
        self.spin.setDecimals(2)
        self.spin.setSingleStep(0.05)
        self.spin.setKeyboardTracking(False)
        self.reset_button = QToolButton()
        self.reset_button.setText("↺")
        self.reset_button.setToolTip(f"Reset {label} to {default:g}")
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(300)
        self._debounce.timeout.connect(self.committed)
        self.slider.setValue(round(default * STEPS))
        self.spin.setValue(default)
        if grid is not None:
            for col, w in enumerate((self.label, self.slider, self.spin, self.reset_button)):
                grid.addWidget(w, row, col)
        self.slider.valueChanged.connect(self._slider_moved)
        self.slider.sliderReleased.connect(self.committed)
        self.spin.valueChanged.connect(self._spin_changed)
        self.reset_button.clicked.connect(self.reset)

    def value(self) -> float:
        return self.slider.value() / STEPS

    def set_value(self, value: float, emit: bool = True) -> None:
        """Set from code (undo, presets): emits `valueChanged` unless `emit` is False; never commits."""
        self.slider.blockSignals(True)
        self.spin.blockSignals(True)
        self.slider.setValue(round(value * STEPS))
        self.spin.setValue(self.value())
        self.slider.blockSignals(False)
        self.spin.blockSignals(False)
        if emit:
            self.valueChanged.emit(self.name, self.value())

    def reset(self) -> None:
        if self.value() != self.default:
            self.set_value(self.default)
            self.committed.emit()

    def _slider_moved(self, ticks: int) -> None:
        self.spin.blockSignals(True)
        self.spin.setValue(ticks / STEPS)
        self.spin.blockSignals(False)
        self.valueChanged.emit(self.name, ticks / STEPS)
        if not self.slider.isSliderDown():
            self._debounce.start()  # keyboard, wheel or code: commit once the changes pause

    def _spin_changed(self, value: float) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(round(value * STEPS))
        self.slider.blockSignals(False)
        self.valueChanged.emit(self.name, self.value())
        self.committed.emit()


class SliderPanel(QWidget):
    valueChanged = Signal(str, float)
    committed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: dict[str, SliderRow] = {}
        self._layout = QVBoxLayout(self)
        self._body: QWidget | None = None
        self.reset_all_button = QPushButton("Reset all")
        self.reset_all_button.clicked.connect(self.reset_all)
        self.set_specs([], [])

    def set_specs(self, attributes, directions) -> None:
        """Rebuild for a model: `attributes` and `directions` are card specs (name, label, min, max, default)."""
        if self._body is not None:
            self._layout.removeWidget(self._body)
            self._body.deleteLater()
        self.rows = {}
        self._body = QWidget()
        grid = QGridLayout(self._body)
        grid.setColumnStretch(1, 1)
        r = 0
        for title, specs in (("Attributes", attributes), ("Style-only directions", directions)):
            if not specs:
                continue
            heading = QLabel(f"<b>{title}</b>")
            grid.addWidget(heading, r, 0, 1, 4)
            r += 1
            for spec in specs:
                row = SliderRow(spec.name, spec.label, spec.min, spec.max, spec.default, spec.description, grid, r, self._body)
                row.valueChanged.connect(self.valueChanged)
                row.committed.connect(self.committed)
                self.rows[spec.name] = row
                r += 1
        if not self.rows:
            grid.addWidget(QLabel("No model loaded."), 0, 0)
        self._layout.insertWidget(0, self._body)
        if self._layout.indexOf(self.reset_all_button) < 0:
            self._layout.addWidget(self.reset_all_button)
            self._layout.addStretch(1)
        self.reset_all_button.setEnabled(bool(self.rows))

    def dragging(self) -> bool:
        """Whether the user is holding one of the sliders (the image then shows previews)."""
        return any(row.slider.isSliderDown() for row in self.rows.values())

    def values(self) -> dict[str, float]:
        return {name: row.value() for name, row in self.rows.items()}

    def nonzero_values(self) -> dict[str, float]:
        return {k: v for k, v in self.values().items() if v}

    def set_values(self, values: dict[str, float], emit: bool = True) -> None:
        """Every slider to `values` (missing = its default); one `valueChanged` at the end if anything moved."""
        changed = None
        for name, row in self.rows.items():
            target = values.get(name, row.default)
            if row.value() != round(target * STEPS) / STEPS:
                row.set_value(target, emit=False)
                changed = name
        if emit and changed is not None:
            self.valueChanged.emit(changed, self.rows[changed].value())

    def reset_all(self) -> None:
        before = self.values()
        self.set_values({})
        if self.values() != before:
            self.committed.emit()
