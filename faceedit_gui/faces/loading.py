"""Load any user photo as 8-bit RGB, or fail with a message that names the file and the reason.

Convention:
    `Photo.rgb` is a read-only numpy array, uint8, `[H, W, 3]`, RGB, in display orientation
    (the EXIF orientation tag has been applied). `Photo.alpha` is `None` or uint8 `[H, W]`.
    Pixel values are the file's own: no colour management; an embedded ICC profile is kept
    in `Photo.icc_profile` and written back by `save_image`.

What is converted, and how:
    - formats: JPEG (and MPO, the multi-picture JPEG of some cameras), PNG, WebP, BMP, TIFF,
      GIF; the first frame of an animated or multi-page file.
    - EXIF orientation 1-8, from the JPEG APP1 segment, PNG eXIf chunk, WebP EXIF chunk or TIFF tag.
    - grayscale and bilevel: replicated to three channels; palette: expanded (with its
      transparency as alpha); CMYK and YCbCr: Pillow's conversion to RGB (Adobe's inverted
      CMYK JPEGs included); LAB/HSV: Pillow's conversion.
    - 16-bit: grayscale is scaled with round(v / 257) (never clipped); 16-bit RGB(A) is
      decoded by Pillow to its high byte (floor(v / 256), at most 1 grey level from the
      rounded scaling). 32-bit integer images are read as 16-bit; float images as [0, 1].
    - alpha (RGBA, LA, PA, palette transparency): split off into `Photo.alpha`.

Limits (decompression bombs): a photo whose header claims more than `MAX_PIXELS`
(64 million pixels: every camera up to 60 MP fits) is refused before any pixel is decoded,
and so is any side longer than `MAX_SIDE`. A 60 MP photo costs about 180 MB as RGB plus
one transient copy while converting.
"""

from __future__ import annotations

import os
import struct
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

MAX_PIXELS = 64_000_000
MAX_SIDE = 30_000
SUPPORTED_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF")  # MPO opens as JPEG
_EXIF_ORIENTATION = 0x0112


class PhotoError(Exception):
    """A photo could not be loaded or saved. The message names the file and the reason."""

    def __init__(self, path: str | os.PathLike | None, reason: str) -> None:
        self.path = None if path is None else Path(path)
        self.reason = reason
        super().__init__(f"{path if path is not None else '<image>'}: {reason}")


@dataclass(frozen=True, eq=False)
class Photo:
    """A decoded photo, ready for detection and alignment.

    Convention: `rgb` uint8 `[H, W, 3]` RGB, display orientation, read-only; `alpha` uint8
    `[H, W]` or None; `size` is `(width, height)` after orientation, `stored_size` as stored
    in the file (they differ by a swap for orientations 5-8).
    """

    rgb: np.ndarray
    alpha: np.ndarray | None = None
    path: Path | None = None
    format: str = "array"
    mode: str = "RGB"  # the file's Pillow mode before conversion, e.g. "CMYK", "P", "I;16"
    stored_size: tuple[int, int] = (0, 0)
    orientation: int = 1  # the EXIF orientation that was applied (1 = none)
    bit_depth: int = 8
    icc_profile: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.rgb.dtype != np.uint8 or self.rgb.ndim != 3 or self.rgb.shape[2] != 3:
            raise ValueError(f"Photo.rgb must be uint8 [H, W, 3], got {self.rgb.dtype} {self.rgb.shape}")
        if self.alpha is not None and (self.alpha.dtype != np.uint8 or self.alpha.shape != self.rgb.shape[:2]):
            raise ValueError(f"Photo.alpha must be uint8 {self.rgb.shape[:2]}, got {self.alpha.dtype} {self.alpha.shape}")

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in display orientation."""
        return self.width, self.height

    @property
    def name(self) -> str:
        return self.path.name if self.path is not None else "<image>"


def photo_from_array(rgb: np.ndarray, alpha: np.ndarray | None = None, path: str | os.PathLike | None = None) -> Photo:
    """Wrap an in-memory uint8 `[H, W, 3]` RGB (or `[H, W]` gray, `[H, W, 4]` RGBA) array as a Photo."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {rgb.dtype}")
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[:, :, None], 3, axis=2)
    if rgb.ndim == 3 and rgb.shape[2] == 4:
        rgb, alpha = rgb[:, :, :3], rgb[:, :, 3]
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected [H, W, 3] RGB, got shape {rgb.shape}")
    rgb = _readonly(np.ascontiguousarray(rgb))
    alpha = None if alpha is None else _readonly(np.ascontiguousarray(alpha, dtype=np.uint8))
    h, w = rgb.shape[:2]
    return Photo(rgb=rgb, alpha=alpha, path=None if path is None else Path(path), stored_size=(w, h))


def load_photo(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> Photo:
    """Decode a photo file into a `Photo` (8-bit RGB, EXIF orientation applied, alpha split off).

    Raises `PhotoError` for: a missing file, a dangling link, a directory, an empty file,
    something that is no supported image (a text file named .jpg, say), a photo larger
    than `max_pixels` (decompression-bomb guard), truncated or corrupt data.

    Example:
        >>> photo = load_photo("holiday.jpg")
        >>> photo.rgb.shape, photo.orientation
        ((3024, 4032, 3), 6)
    """
    path = Path(path)
    _check_file(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path, formats=list(SUPPORTED_FORMATS))
    except Image.DecompressionBombError as e:
        raise PhotoError(path, f"refused as a possible decompression bomb ({e})") from None
    except Image.DecompressionBombWarning as e:
        raise PhotoError(path, f"refused as a possible decompression bomb ({e})") from None
    except UnidentifiedImageError:
        raise PhotoError(path, _unidentified_reason(path)) from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error) as e:
        raise PhotoError(path, f"cannot read the image header ({type(e).__name__}: {e})") from None
    with image:
        w, h = image.size
        if w <= 0 or h <= 0:
            raise PhotoError(path, f"the header gives an empty size {w}x{h}")
        if w * h > max_pixels or max(w, h) > MAX_SIDE:
            raise PhotoError(
                path,
                f"{w}x{h} = {w * h / 1e6:.1f} megapixels is more than the limit of "
                f"{max_pixels / 1e6:.0f} MP (longest side {MAX_SIDE}); refused as a possible "
                "decompression bomb. Downscale the photo first.",
            )
        fmt = image.format or "unknown"
        mode = image.mode
        icc = image.info.get("icc_profile")
        orientation = _orientation_tag(image)
        try:
            image.load()
            # Some Pillow plugins (TIFF since Pillow 11) apply the orientation while loading
            # and drop the tag: apply only what is still pending.
            pending = _orientation_tag(image)
            rgb, alpha, bit_depth = _to_rgb8(image)
        except MemoryError:
            raise PhotoError(path, f"not enough memory to decode {w}x{h} pixels") from None
        except (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error, IndexError) as e:
            raise PhotoError(path, f"the image data is truncated or corrupt ({type(e).__name__}: {e})") from None
    del image  # free Pillow's copy of the pixels before orienting (60 MP photos)
    stored = (h, w) if orientation != pending and orientation >= 5 else (w, h)  # Pillow reported it turned
    rgb = _orient(rgb, pending)
    alpha = None if alpha is None else _orient(alpha, pending)
    return Photo(
        rgb=_readonly(rgb),
        alpha=None if alpha is None else _readonly(alpha),
        path=path,
        format=fmt,
        mode=mode,
        stored_size=stored,
        orientation=orientation,
        bit_depth=bit_depth,
        icc_profile=icc if isinstance(icc, bytes) else None,
    )


def save_image(
    path: str | os.PathLike,
    rgb: np.ndarray,
    alpha: np.ndarray | None = None,
    icc_profile: bytes | None = None,
    quality: int = 95,
) -> Path:
    """Write uint8 `[H, W, 3]` RGB (plus optional uint8 `[H, W]` alpha) by file suffix.

    PNG, WebP and TIFF keep the alpha; JPEG and BMP cannot and drop it. The ICC profile,
    when given, is embedded (JPEG, PNG, WebP, TIFF). Errors become `PhotoError`.
    """
    path = Path(path)
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected uint8 [H, W, 3] RGB, got {rgb.dtype} {rgb.shape}")
    suffix = path.suffix.lower()
    keeps_alpha = suffix in (".png", ".webp", ".tif", ".tiff")
    if alpha is not None and keeps_alpha:
        image = Image.fromarray(np.dstack([rgb, np.asarray(alpha, dtype=np.uint8)]), "RGBA")
    else:
        image = Image.fromarray(np.ascontiguousarray(rgb), "RGB")
    options: dict = {}
    if icc_profile and suffix in (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff"):
        options["icc_profile"] = icc_profile
    if suffix in (".jpg", ".jpeg"):
        options.update(quality=quality, subsampling=0)
    elif suffix == ".webp":
        options.update(lossless=True)
    try:
        image.save(path, **options)
    except (OSError, ValueError, KeyError) as e:
        raise PhotoError(path, f"cannot write the image ({type(e).__name__}: {e})") from None
    return path


# ----------------------------------------------------------------------------- helpers


def _check_file(path: Path) -> None:
    """Fail early with a precise reason for links, directories and empty files."""
    if path.is_symlink() and not path.exists():
        raise PhotoError(path, f"dangling symbolic link (points to {os.readlink(path)!r}, which does not exist)")
    if not path.exists():
        raise PhotoError(path, "no such file")
    if path.is_dir():
        raise PhotoError(path, "is a directory, not an image file")
    if not path.is_file():
        raise PhotoError(path, "is not a regular file")
    try:
        size = path.stat().st_size
    except OSError as e:
        raise PhotoError(path, f"cannot read ({e.strerror})") from None
    if size == 0:
        raise PhotoError(path, "empty file (0 bytes)")
    if not os.access(path, os.R_OK):
        raise PhotoError(path, "permission denied")


def _unidentified_reason(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.read(512)
    kinds = ", ".join(SUPPORTED_FORMATS)
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "a WebP file that this Pillow build cannot decode"
    if head[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1", b"ftypavif"):
        return "a HEIC/AVIF photo, which is not supported: convert it to JPEG or PNG"
    try:
        text = head.decode("utf-8")
        printable = all(c.isprintable() or c in "\r\n\t" for c in text)
    except UnicodeDecodeError:
        printable = False
    if printable:
        return f"not an image: it is a text file (starts with {head[:24]!r}); supported: {kinds}"
    return f"not a recognised image (starts with bytes {head[:8].hex(' ')}); supported: {kinds}"


def _to_rgb8(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None, int]:
    """Pillow image of any mode -> (uint8 [H, W, 3], uint8 [H, W] alpha or None, source bit depth)."""
    mode = image.mode
    if mode == "RGB":
        return np.asarray(image), None, 8
    if mode in ("RGBA", "RGBa", "RGBX"):
        arr = np.asarray(image.convert("RGBA") if mode == "RGBa" else image)
        alpha = None if mode == "RGBX" else np.ascontiguousarray(arr[:, :, 3])
        return np.ascontiguousarray(arr[:, :, :3]), alpha, 8
    if mode in ("L", "1"):
        gray = np.asarray(image.convert("L") if mode == "1" else image)
        return _gray3(gray), None, 1 if mode == "1" else 8
    if mode == "LA":
        arr = np.asarray(image)
        return _gray3(arr[:, :, 0]), np.ascontiguousarray(arr[:, :, 1]), 8
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in image.info
        arr = np.asarray(image.convert("RGBA" if has_alpha else "RGB"))
        if has_alpha:
            return np.ascontiguousarray(arr[:, :, :3]), np.ascontiguousarray(arr[:, :, 3]), 8
        return arr, None, 8
    if mode.startswith("I;16") or mode == "I":
        wide = np.asarray(image).astype(np.float32)
        gray = np.clip(np.rint(wide / 257.0), 0, 255).astype(np.uint8)
        return _gray3(gray), None, 16
    if mode == "F":
        values = np.nan_to_num(np.asarray(image, dtype=np.float32), nan=0.0)
        gray = np.clip(np.rint(values * 255.0), 0, 255).astype(np.uint8)
        return _gray3(gray), None, 32
    # CMYK, YCbCr, LAB, HSV and anything else Pillow can convert
    return np.asarray(image.convert("RGB")), None, 8


def _orientation_tag(image: Image.Image) -> int:
    """The EXIF orientation (1-8) of an opened image; 1 when absent or malformed."""
    try:
        value = int(image.getexif().get(_EXIF_ORIENTATION, 1) or 1)
    except Exception:  # a malformed EXIF block must not stop the photo from loading
        return 1
    return value if 1 <= value <= 8 else 1


def _gray3(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[:, :, None], 3, axis=2)


def _orient(a: np.ndarray, orientation: int) -> np.ndarray:
    """Apply an EXIF orientation (1-8) to an `[H, W, ...]` array: stored -> display."""
    if orientation == 2:
        a = a[:, ::-1]
    elif orientation == 3:
        a = a[::-1, ::-1]
    elif orientation == 4:
        a = a[::-1]
    elif orientation == 5:
        a = a.swapaxes(0, 1)
    elif orientation == 6:
        a = a.swapaxes(0, 1)[:, ::-1]
    elif orientation == 7:
        a = a.swapaxes(0, 1)[::-1, ::-1]
    elif orientation == 8:
        a = a.swapaxes(0, 1)[::-1]
    return np.ascontiguousarray(a)


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a
