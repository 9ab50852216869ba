"""The relevance overlay: m_i as a colour map over the edited image, with a panel to drive it.

`relevance_rgba(masks, level, size, opacity)` (numpy, no Qt) turns the engine's masks
(1 = content kept, 0 = edited by style) into an RGBA image of the *edited amount*
`1 - m` through a perceptual colour ramp; `OverlayPanel` is the dock: on/off, level
chooser (one level or the mean of all, each upsampled to the crop), opacity, legend.
"""

from __future__ import annotations

from typing import Mapping

import cv2
import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QLinearGradient, QPainter
from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

ALL_LEVELS = "all levels (mean)"
# viridis at 5 stops (0 = kept content, 1 = edited by style)
_RAMP = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], np.float32)


def colour_map(values: np.ndarray) -> np.ndarray:
    """float [H, W] in [0, 1] -> uint8 [H, W, 3] through the ramp."""
    v = np.clip(values, 0.0, 1.0) * (len(_RAMP) - 1)
    lo = np.floor(v).astype(np.int64).clip(0, len(_RAMP) - 2)
    t = (v - lo)[..., None]
    return np.round(_RAMP[lo] * (1 - t) + _RAMP[lo + 1] * t).astype(np.uint8)


def relevance_map(masks: Mapping[str, np.ndarray], level: str, size: int) -> np.ndarray:
    """Edited amount `1 - m` at `size` px: one level, or the mean over all levels."""
    names = list(masks) if level == ALL_LEVELS else [level]
    if not names or any(n not in masks for n in names):
        raise KeyError(f"no relevance map {level!r} (have {list(masks)})")
    up = [cv2.resize(np.asarray(masks[n], np.float32), (size, size), interpolation=cv2.INTER_LINEAR) for n in names]
    return 1.0 - np.mean(up, axis=0)


def relevance_rgba(masks: Mapping[str, np.ndarray], level: str, size: int, opacity: float) -> np.ndarray:
    rgb = colour_map(relevance_map(masks, level, size))
    alpha = np.full(rgb.shape[:2] + (1,), int(round(255 * min(max(opacity, 0.0), 1.0))), np.uint8)
    return np.concatenate([rgb, alpha], axis=2)


class Legend(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(34)

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt)
        p = QPainter(self)
        bar = self.rect().adjusted(4, 2, -4, -18)
        g = QLinearGradient(bar.topLeft(), bar.topRight())
        for i, c in enumerate(_RAMP):
            g.setColorAt(i / (len(_RAMP) - 1), QColor(*[int(x) for x in c]))
        p.fillRect(bar, g)
        p.setPen(self.palette().windowText().color())
        text_rect = self.rect().adjusted(4, bar.height() + 2, -4, 0)
        p.drawText(text_rect, Qt.AlignmentFlag.AlignLeft, "0 content kept")
        p.drawText(text_rect, Qt.AlignmentFlag.AlignRight, "1 style edit")
        p.end()


class OverlayPanel(QWidget):
    """Controls of the overlay; emits `changed()` when anything that affects the picture changes."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.enabled = QCheckBox("Show relevance overlay")
        self.level = QComboBox()
        self.level.addItem(ALL_LEVELS)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(60)
        self.opacity_label = QLabel("60 %")
        self.stats = QLabel("")
        self.stats.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.opacity)
        row.addWidget(self.opacity_label)
        form = QFormLayout()
        form.addRow("Level", self.level)
        form.addRow("Opacity", row)
        layout = QVBoxLayout(self)
        layout.addWidget(self.enabled)
        layout.addLayout(form)
        layout.addWidget(QLabel("Edited amount 1 − mᵢ"))
        layout.addWidget(Legend())
        layout.addWidget(self.stats)
        layout.addStretch(1)
        self.enabled.toggled.connect(self.changed)
        self.level.currentIndexChanged.connect(self.changed)
        self.opacity.valueChanged.connect(lambda v: self.opacity_label.setText(f"{v} %"))
        self.opacity.valueChanged.connect(self.changed)

    def set_levels(self, names: list[str]) -> None:
        current = self.level.currentText()
        self.level.blockSignals(True)
        self.level.clear()
        self.level.addItem(ALL_LEVELS)
        for n in names:
            self.level.addItem(n)
        index = self.level.findText(current)
        self.level.setCurrentIndex(max(0, index))
        self.level.blockSignals(False)

    def rgba(self, masks: Mapping[str, np.ndarray], size: int) -> np.ndarray | None:
        """The overlay to draw, or None when it is off or there are no masks."""
        if not self.enabled.isChecked() or not masks:
            return None
        level = self.level.currentText()
        if level != ALL_LEVELS and level not in masks:
            level = ALL_LEVELS
        edited = relevance_map(masks, level, size)
        self.stats.setText(f"{level}: mean edited amount {edited.mean():.2f}, max {edited.max():.2f}")
        return relevance_rgba(masks, level, size, self.opacity.value() / 100)
