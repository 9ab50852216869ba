"""The one place numpy images become QImages (CONVENTIONS.md §2).

Convention: input uint8 `[H, W, 3]` RGB or `[H, W, 4]` RGBA (straight alpha), C-order or
not; the QImage returned owns a copy of the pixels, so the array may change or be freed
afterwards and the image may cross threads.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage, QPixmap


def to_qimage(array: np.ndarray) -> QImage:
    a = np.ascontiguousarray(array)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] not in (3, 4):
        raise ValueError(f"expected uint8 [H, W, 3|4], got {a.dtype} {a.shape}")
    h, w, c = a.shape
    fmt = QImage.Format.Format_RGB888 if c == 3 else QImage.Format.Format_RGBA8888
    # QImage over the numpy buffer, then .copy(): the result owns its pixels
    return QImage(a.data, w, h, w * c, fmt).copy()


def to_pixmap(array: np.ndarray) -> QPixmap:
    return QPixmap.fromImage(to_qimage(array))


def from_qimage(image: QImage) -> np.ndarray:
    """QImage -> uint8 `[H, W, 3]` RGB copy (for tests and screenshots)."""
    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    h, w, bpl = rgb.height(), rgb.width(), rgb.bytesPerLine()
    buf = np.frombuffer(rgb.constBits(), np.uint8, count=h * bpl).reshape(h, bpl)
    return buf[:, : w * 3].reshape(h, w, 3).copy()
