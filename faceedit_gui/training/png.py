"""A minimal PNG writer (numpy + zlib) and an image grid, for training samples.

Training runs on machines where OpenCV or Pillow may be missing, so sample grids and
`faceedit sample` write PNGs with this module alone. Files are plain 8-bit RGB or
greyscale PNGs (filter 0 on every row), readable by any decoder.

Convention: images are numpy uint8 `[H, W, 3]` RGB or `[H, W]` grey.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np

_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def encode_png(image: np.ndarray, level: int = 6) -> bytes:
    """uint8 `[H, W, 3]` RGB or `[H, W]` grey -> PNG file bytes."""
    if image.dtype != np.uint8:
        raise TypeError(f"encode_png: expected uint8, got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 3:
        color_type = 2
    elif image.ndim == 2:
        color_type = 0
    else:
        raise ValueError(f"encode_png: expected [H, W, 3] or [H, W], got shape {tuple(image.shape)}")
    h, w = image.shape[:2]
    if h == 0 or w == 0:
        raise ValueError(f"encode_png: empty image {tuple(image.shape)}")
    rows = np.ascontiguousarray(image).reshape(h, -1)
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1)  # filter byte 0 per row
    header = struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0)
    return b"".join(
        [
            _SIGNATURE,
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(raw.tobytes(), level)),
            _chunk(b"IEND", b""),
        ]
    )


def write_png(path: str | os.PathLike, image: np.ndarray, level: int = 6) -> Path:
    """Write `image` as a PNG, atomically (a temporary file, then a rename)."""
    path = Path(path)
    data = encode_png(image, level)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def make_grid(images: np.ndarray, cols: int, pad: int = 0) -> np.ndarray:
    """uint8 `[N, H, W, 3]` -> one `[rows*H, cols*W, 3]` image, row-major; empty cells black."""
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"make_grid: expected [N, H, W, 3], got shape {tuple(images.shape)}")
    if cols < 1:
        raise ValueError(f"make_grid: cols must be >= 1, got {cols}")
    n, h, w, _ = images.shape
    rows = -(-n // cols)
    grid = np.zeros((rows * (h + pad) - pad, cols * (w + pad) - pad, 3), np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        grid[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = images[i]
    return grid
