"""load_photo: every format and pixel layout a user brings, and a clear error for each bad file."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from faceedit_gui.faces.loading import MAX_PIXELS, Photo, PhotoError, load_photo, photo_from_array, save_image

PHOTOS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "photos"


def _pattern(h: int = 48, w: int = 32) -> np.ndarray:
    """Four flat quadrants of distinct colours: orientation is readable at the quadrant centres."""
    img = np.zeros((h, w, 3), np.uint8)
    img[: h // 2, : w // 2] = (230, 20, 20)
    img[: h // 2, w // 2 :] = (20, 230, 20)
    img[h // 2 :, : w // 2] = (20, 20, 230)
    img[h // 2 :, w // 2 :] = (230, 230, 20)
    return img


def _quadrant_colours(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    return np.array([rgb[h // 4, w // 4], rgb[h // 4, 3 * w // 4], rgb[3 * h // 4, w // 4], rgb[3 * h // 4, 3 * w // 4]], int)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height 8-bit RGB pixels (a decompression bomb's header)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


# ----------------------------------------------------------------------------- good files


def test_real_photo_loads_as_readonly_rgb8():
    photo = load_photo(PHOTOS / "wild" / "img25.jpg")
    assert isinstance(photo, Photo)
    assert photo.rgb.dtype == np.uint8 and photo.rgb.shape == (400, 400, 3)
    assert photo.alpha is None and photo.orientation == 1 and photo.format == "JPEG"
    assert not photo.rgb.flags.writeable
    with pytest.raises(ValueError):
        photo.rgb[0, 0, 0] = 1


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_applied(tmp_path, orientation):
    stored = _pattern()
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{orientation}.jpg"
    Image.fromarray(stored).save(path, quality=95, exif=exif.tobytes())
    photo = load_photo(path)
    reference = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))  # Pillow as the oracle
    assert photo.orientation == orientation
    assert photo.rgb.shape == reference.shape
    assert photo.stored_size == (32, 48)
    assert np.abs(photo.rgb.astype(int) - reference.astype(int)).max() <= 1
    expected_shape = (48, 32, 3) if orientation <= 4 else (32, 48, 3)
    assert photo.rgb.shape == expected_shape


def test_orientation_6_means_rotate_clockwise(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "o6.jpg"
    Image.fromarray(_pattern()).save(path, quality=95, exif=exif.tobytes())
    photo = load_photo(path)
    # stored top-left (red) ends up top-right after a clockwise quarter turn
    assert np.abs(_quadrant_colours(photo.rgb)[1] - (230, 20, 20)).max() < 12


@pytest.mark.parametrize("suffix", [".png", ".webp", ".tiff"])
def test_exif_orientation_in_png_webp_tiff(tmp_path, suffix):
    exif = Image.Exif()
    exif[0x0112] = 8
    path = tmp_path / f"o8{suffix}"
    options = {"lossless": True} if suffix == ".webp" else {}
    Image.fromarray(_pattern()).save(path, exif=exif.tobytes(), **options)
    photo = load_photo(path)
    assert photo.orientation == 8 and photo.stored_size == (32, 48)
    assert np.array_equal(photo.rgb, np.rot90(_pattern(), k=1))  # 8 = a quarter turn counter-clockwise


@pytest.mark.parametrize("suffix", [".png", ".webp", ".bmp", ".tif"])
def test_lossless_round_trip(tmp_path, suffix):
    rgb = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    path = save_image(tmp_path / f"x{suffix}", rgb)
    photo = load_photo(path)
    assert np.array_equal(photo.rgb, rgb)


def test_alpha_is_split_off_and_kept_for_saving(tmp_path):
    rgba = np.dstack([_pattern(), np.linspace(0, 255, 48 * 32).reshape(48, 32).astype(np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    photo = load_photo(tmp_path / "a.png")
    assert np.array_equal(photo.rgb, rgba[:, :, :3]) and np.array_equal(photo.alpha, rgba[:, :, 3])
    again = load_photo(save_image(tmp_path / "b.png", photo.rgb, photo.alpha))
    assert np.array_equal(again.alpha, rgba[:, :, 3])
    assert load_photo(save_image(tmp_path / "c.jpg", photo.rgb, photo.alpha)).alpha is None  # JPEG has no alpha


def test_grayscale_and_bilevel_become_three_equal_channels(tmp_path):
    gray = np.tile(np.arange(0, 256, 8, dtype=np.uint8), (10, 1))
    Image.fromarray(gray, "L").save(tmp_path / "g.png")
    Image.fromarray(gray > 127).convert("1").save(tmp_path / "b.png")
    photo = load_photo(tmp_path / "g.png")
    assert np.array_equal(photo.rgb[:, :, 0], gray) and np.array_equal(photo.rgb[:, :, 2], gray)
    assert set(np.unique(load_photo(tmp_path / "b.png").rgb)) <= {0, 255}


def test_palette_with_transparency(tmp_path):
    pal = Image.new("P", (8, 6))
    pal.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    pal.putdata([0, 1] * 24)
    pal.save(tmp_path / "p.png", transparency=0)
    photo = load_photo(tmp_path / "p.png")
    assert photo.mode == "P"
    assert tuple(photo.rgb[0, 1]) == (0, 0, 255)
    assert photo.alpha is not None and photo.alpha[0, 0] == 0 and photo.alpha[0, 1] == 255


def test_16_bit_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257, 32896, 40000, 65535]], np.uint16)
    cv2.imwrite(str(tmp_path / "g16.png"), values)
    photo = load_photo(tmp_path / "g16.png")
    assert photo.bit_depth == 16
    assert photo.rgb[0, :, 0].tolist() == [0, 1, 128, 156, 255]  # round(v / 257), no clipping at 255
    rgb16 = np.stack([values, values // 2, 65535 - values], axis=2)
    cv2.imwrite(str(tmp_path / "c16.png"), rgb16[:, :, ::-1])  # OpenCV writes BGR
    colour = load_photo(tmp_path / "c16.png").rgb.astype(int)
    assert np.abs(colour - np.round(rgb16 / 257.0)).max() <= 1


def test_cmyk_jpeg_converts_to_rgb(tmp_path):
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # no cyan, full magenta and yellow: red
    cmyk.save(tmp_path / "cmyk.jpg", quality=95)
    photo = load_photo(tmp_path / "cmyk.jpg")
    assert photo.mode == "CMYK"
    assert np.abs(photo.rgb[8, 8].astype(int) - (255, 0, 0)).max() < 8


def test_photo_from_array():
    photo = photo_from_array(np.zeros((5, 7, 4), np.uint8))
    assert photo.size == (7, 5) and photo.alpha is not None
    with pytest.raises(ValueError):
        photo_from_array(np.zeros((5, 7, 3), np.float32))


# ----------------------------------------------------------------------------- bad files


def _message(path: Path) -> str:
    with pytest.raises(PhotoError) as e:
        load_photo(path)
    assert str(path) in str(e.value), "the message names the file"
    return e.value.reason


def test_truncated_jpeg(tmp_path):
    data = (PHOTOS / "wild" / "img25.jpg").read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    assert "truncated" in _message(path)


def test_truncated_png(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buf, "PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(buf.getvalue()[:3000])
    assert "truncated" in _message(path)


def test_text_file_named_jpg(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("these are my holiday notes, not a photo\n")
    assert "text file" in _message(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    assert "0 bytes" in _message(path)


def test_dangling_link(tmp_path):
    path = tmp_path / "link.jpg"
    os.symlink(tmp_path / "gone.jpg", path)
    assert "dangling" in _message(path)


def test_missing_file_and_directory(tmp_path):
    assert "no such file" in _message(tmp_path / "nothing.png")
    assert "directory" in _message(tmp_path)


def test_decompression_bomb_header_is_refused_before_decoding(tmp_path):
    huge = tmp_path / "bomb.png"
    huge.write_bytes(_png_claiming(100_000, 100_000))  # 10 gigapixels
    assert "decompression bomb" in _message(huge)
    over = tmp_path / "over.png"
    over.write_bytes(_png_claiming(9_000, 8_000))  # 72 MP: over our limit, under Pillow's own
    reason = _message(over)
    assert "decompression bomb" in reason and f"{MAX_PIXELS / 1e6:.0f} MP" in reason


def test_binary_garbage(tmp_path):
    path = tmp_path / "noise.png"
    path.write_bytes(bytes(range(256)) * 4)
    assert "not a recognised image" in _message(path)
