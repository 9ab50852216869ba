"""The picture: edited / original / side by side / split, zoom to fit or 1:1, hold to compare.

`set_images(before, after, overlay)` takes numpy uint8 images (converted once, copied, by
`qimage.to_qimage`); `overlay` (RGBA, the size of `after`) is drawn over the edited image.
In split mode a vertical divider (drag it) shows the original on the left, the edit on the
right. `set_comparing(True)` (hold Space) shows the original wherever the edit would be.
Faces can be drawn as numbered boxes and clicked (`faceClicked(index)`).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from faceedit_gui.gui.qimage import to_qimage

MODES = ("edited", "original", "side", "split")


class ImageView(QWidget):
    faceClicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(240, 240)
        self.setMouseTracking(True)
        self.before: QImage | None = None
        self.after: QImage | None = None
        self.overlay: QImage | None = None
        self.mode = "edited"
        self.fit = True
        self.zoom = 1.0
        self.split = 0.5
        self.comparing = False
        self.placeholder = ""
        self.face_boxes: list[tuple[float, float, float, float]] = []
        self._dragging_split = False

    # ------------------------------------------------------------------ state
    def set_images(self, before: np.ndarray | None, after: np.ndarray | None, overlay: np.ndarray | None = None) -> None:
        self.before = None if before is None else to_qimage(before)
        self.after = None if after is None else to_qimage(after)
        self.overlay = None if overlay is None else to_qimage(overlay)
        self.update()

    def set_overlay(self, overlay: np.ndarray | None) -> None:
        self.overlay = None if overlay is None else to_qimage(overlay)
        self.update()

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"view mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        self.update()

    def set_fit(self) -> None:
        self.fit = True
        self.update()

    def set_actual_size(self) -> None:
        self.fit, self.zoom = False, 1.0
        self.update()

    def set_comparing(self, on: bool) -> None:
        if on != self.comparing:
            self.comparing = on
            self.update()

    def set_placeholder(self, text: str) -> None:
        self.placeholder = text
        self.update()

    def set_face_boxes(self, boxes: list[tuple[float, float, float, float]]) -> None:
        self.face_boxes = list(boxes)
        self.update()

    # ------------------------------------------------------------------ geometry
    def _panes(self) -> list[tuple[QRectF, str]]:
        """Target rectangles and which image each shows ('before' / 'after')."""
        ref = self.after or self.before
        if ref is None:
            return []
        area = QRectF(self.rect()).adjusted(6, 6, -6, -6)
        kinds = ["before", "after"] if self.mode == "side" else ["before" if self.mode == "original" else "after"]
        gap = 8.0
        w_each = (area.width() - gap * (len(kinds) - 1)) / len(kinds)
        iw, ih = ref.width(), ref.height()
        scale = min(w_each / iw, area.height() / ih) if self.fit else self.zoom
        out = []
        total_w = scale * iw * len(kinds) + gap * (len(kinds) - 1)
        x0 = area.left() + max(0.0, (area.width() - total_w) / 2)
        y0 = area.top() + max(0.0, (area.height() - scale * ih) / 2)
        for i, k in enumerate(kinds):
            out.append((QRectF(x0 + i * (scale * iw + gap), y0, scale * iw, scale * ih), k))
        return out

    # ------------------------------------------------------------------ painting
    def paintEvent(self, event) -> None:  # noqa: N802 (Qt)
        p = QPainter(self)
        p.fillRect(self.rect(), self.palette().base())
        panes = self._panes()
        if not panes:
            p.setPen(self.palette().text().color())
            p.drawText(self.rect().adjusted(20, 20, -20, -20), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                       self.placeholder or "No image")
            p.end()
            return
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        for rect, kind in panes:
            shown = "before" if (self.comparing and kind == "after") else kind
            image = self.before if shown == "before" else self.after
            if image is None:
                continue
            if self.mode == "split" and kind == "after" and not self.comparing and self.before is not None:
                cut = rect.left() + rect.width() * self.split
                left = QRectF(rect.left(), rect.top(), cut - rect.left(), rect.height())
                p.save()
                p.setClipRect(left)
                p.drawImage(rect, self.before)
                p.restore()
                p.save()
                p.setClipRect(QRectF(cut, rect.top(), rect.right() - cut, rect.height()))
                p.drawImage(rect, image)
                self._draw_overlay(p, rect)
                p.restore()
                p.setPen(QPen(QColor(255, 255, 255, 220), 2))
                p.drawLine(QPointF(cut, rect.top()), QPointF(cut, rect.bottom()))
                continue
            p.drawImage(rect, image)
            if shown == "after":
                self._draw_overlay(p, rect)
            self._draw_faces(p, rect, image)
        labels = {"before": "original", "after": "edited"}
        if self.mode == "side" or self.comparing:
            p.setPen(QColor(255, 255, 255))
            for rect, kind in panes:
                text = "original (Space)" if self.comparing and kind == "after" else labels[kind]
                p.drawText(rect.adjusted(6, 4, -6, -4), Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft, text)
        p.end()

    def _draw_overlay(self, p: QPainter, rect: QRectF) -> None:
        if self.overlay is not None:
            p.drawImage(rect, self.overlay)

    def _draw_faces(self, p: QPainter, rect: QRectF, image: QImage) -> None:
        if not self.face_boxes:
            return
        sx, sy = rect.width() / image.width(), rect.height() / image.height()
        for i, (x0, y0, x1, y1) in enumerate(self.face_boxes):
            box = QRectF(rect.left() + x0 * sx, rect.top() + y0 * sy, (x1 - x0) * sx, (y1 - y0) * sy)
            p.setPen(QPen(QColor(255, 200, 0), 2))
            p.drawRect(box)
            p.drawText(box.adjusted(4, 2, 0, 0), Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft, str(i + 1))

    # ------------------------------------------------------------------ mouse
    def face_at(self, pos: QPointF) -> int | None:
        panes = self._panes()
        image = self.after or self.before
        if not panes or image is None:
            return None
        rect = panes[-1][0]
        x = (pos.x() - rect.left()) * image.width() / rect.width()
        y = (pos.y() - rect.top()) * image.height() / rect.height()
        for i, (x0, y0, x1, y1) in enumerate(self.face_boxes):
            if x0 <= x <= x1 and y0 <= y <= y1:
                return i
        return None

    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt)
        if self.face_boxes:
            hit = self.face_at(event.position())
            if hit is not None:
                self.faceClicked.emit(hit)
            return
        if self.mode == "split":
            self._dragging_split = True
            self._move_split(event.position())

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 (Qt)
        if self._dragging_split:
            self._move_split(event.position())

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 (Qt)
        self._dragging_split = False

    def _move_split(self, pos: QPointF) -> None:
        panes = self._panes()
        if panes:
            rect = panes[-1][0]
            self.split = min(1.0, max(0.0, (pos.x() - rect.left()) / max(1.0, rect.width())))
            self.update()
