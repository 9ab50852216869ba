"""Write a corpus of >= 40 bad or awkward inputs into a folder (issue 8, item 3).

Photos (under `photos/`): truncated / 0-byte / text-as-JPEG / header-only files, 16-bit,
CMYK, alpha, palette, grayscale, float TIFF, every EXIF orientation, a 50-megapixel photo,
a decompression bomb, a dangling link, a folder named like a photo, no face, five faces
and a 40 px face (composed from the real photos in ../shared/data/photos, so nothing
personal is committed), odd names and shapes. Others: pickle checkpoints that run code,
bundles with a wrong shape, a missing file or a broken card, presets with unknown
attributes, NaN values or no JSON at all. `tests/robustness/test_bad_inputs.py` runs
them through the loader, `faceedit batch` and the GUI.

    .venv/bin/python benchmarks/bad_inputs.py /tmp/bad   # prints one line per input
"""

from __future__ import annotations

import io
import json
import os
import pickle
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
PHOTOS = REPO.parent / "shared" / "data" / "photos"
FACE = PHOTOS / "ffhq" / "00001.png"
FACES5 = [PHOTOS / "ffhq" / f"0000{i}.png" for i in range(1, 6)]
MARKER = "pwned.txt"  # what the evil pickles try to write


class _Evil:
    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _face(size: int | None = None) -> Image.Image:
    im = Image.open(FACE).convert("RGB")
    return im.resize((size, size)) if size else im


def write_photos(folder: Path) -> dict[str, str]:
    """Bad and awkward photos in `folder`; returns name -> what it is."""
    folder.mkdir(parents=True, exist_ok=True)
    made: dict[str, str] = {}

    def put(name: str, what: str, data: bytes | None = None) -> Path:
        path = folder / name
        if data is not None:
            path.write_bytes(data)
        made[name] = what
        return path

    buf = io.BytesIO()
    _face().save(buf, "JPEG", quality=90)
    jpeg = buf.getvalue()
    put("truncated.jpg", "JPEG cut in half", jpeg[: len(jpeg) // 2])
    put("header_only.jpg", "JPEG with only its first 20 bytes", jpeg[:20])
    put("empty.jpg", "0-byte file", b"")
    put("text.jpg", "text file named .jpg", b"these are not pixels\n")
    put("html.png", "HTML named .png", b"<html><body>404</body></html>")
    put("jpeg_named.png", "a JPEG named .png", jpeg)
    png = io.BytesIO()
    _face().save(png, "PNG")
    raw = bytearray(png.getvalue())
    raw[40] ^= 0xFF  # inside the IHDR/first chunk: CRC mismatch
    put("bad_crc.png", "PNG with a corrupted chunk", bytes(raw))
    gray16 = (np.asarray(_face().convert("L"), dtype=np.uint16) * 257)
    Image.fromarray(gray16).save(put("gray16.png", "16-bit grayscale PNG"))
    import cv2

    rgb16 = np.asarray(_face(), dtype=np.uint16) * 257
    cv2.imwrite(str(put("rgb16.png", "16-bit RGB PNG")), rgb16[..., ::-1])
    _face().convert("CMYK").save(put("cmyk.jpg", "CMYK JPEG"), "JPEG")
    rgba = _face().convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(rgba.size))
    rgba.save(put("alpha.png", "RGBA PNG with a gradient alpha"))
    _face().convert("LA").save(put("gray_alpha.png", "grayscale + alpha PNG"))
    _face().convert("P").save(put("palette.png", "palette PNG"))
    _face().convert("L").save(put("gray.jpg", "grayscale JPEG"))
    Image.fromarray(np.asarray(_face().convert("L"), dtype=np.float32) / 255).save(put("float.tif", "32-bit float TIFF"))
    _face().save(put("face.bmp", "BMP"))
    _face().save(put("face.webp", "WebP"))
    frames = [_face(), _face().transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    frames[0].save(put("animated.gif", "animated GIF"), save_all=True, append_images=frames[1:])
    for k in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = k
        _face().save(put(f"orientation_{k}.jpg", f"EXIF orientation {k}"), "JPEG", exif=exif.tobytes())
    exif = Image.Exif()
    exif[0x0112] = 42
    _face().save(put("orientation_bogus.jpg", "EXIF orientation 42 (invalid)"), "JPEG", exif=exif.tobytes())
    big = Image.new("RGB", (8660, 5780), (128, 120, 110))
    big.paste(_face(2000), (3300, 1900))
    big.save(put("huge_50mp.jpg", "50-megapixel photo (8660x5780) with a face"), quality=80)
    Image.new("1", (40000, 40000)).save(put("bomb.png", "decompression bomb: 1.6 gigapixel 1-bit PNG"), optimize=True)
    Image.new("RGB", (1, 1)).save(put("one_pixel.png", "1x1 image"))
    Image.new("RGB", (6000, 8), (90, 90, 90)).save(put("sliver.png", "6000x8 sliver"))
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)).save(put("noise.jpg", "noise, no face"))
    Image.new("RGB", (640, 480), (30, 90, 160)).save(put("blue.png", "a flat colour, no face"))
    canvas = Image.new("RGB", (5 * 300, 420), (200, 200, 200))
    for i, p in enumerate(FACES5):
        canvas.paste(Image.open(p).convert("RGB").resize((280, 280)), (i * 300 + 10, 70))
    canvas.save(put("five_faces.jpg", "five faces side by side"), quality=92)
    small = Image.new("RGB", (640, 480), (180, 170, 160))
    small.paste(_face(40), (300, 220))
    small.save(put("face_40px.jpg", "a 40 px face in a 640x480 photo"))
    _face().save(put("ünïcode ☺ name.jpg", "non-ASCII file name with spaces"))
    _face().save(put("UPPER.JPEG", "upper-case suffix"))
    (folder / "a_folder.jpg").mkdir(exist_ok=True)
    made["a_folder.jpg"] = "a folder named like a photo"
    link = folder / "dangling.jpg"
    if not link.is_symlink():
        link.symlink_to(folder / "does_not_exist.jpg")
    made["dangling.jpg"] = "dangling symbolic link"
    return made


def write_models(folder: Path, good_bundle: Path | None = None) -> dict[str, str]:
    """Evil checkpoints, broken bundles (copies of `good_bundle`) and bad presets."""
    folder.mkdir(parents=True, exist_ok=True)
    made: dict[str, str] = {}
    marker = folder / MARKER
    for name in ("evil.pt", "evil.pkl"):
        (folder / name).write_bytes(pickle.dumps({"state_dict": _Evil(marker)}))
        made[name] = "pickle checkpoint whose loading would run a shell command"
    import torch

    buf = io.BytesIO()
    torch.save({"w": _Evil(marker)}, buf)
    (folder / "evil_torch.pth").write_bytes(buf.getvalue())
    made["evil_torch.pth"] = "torch.save zip checkpoint with a code-running pickle"
    presets = {
        "preset_unknown.json": ({"format": 1, "sliders": {"age": 0.5, "wings": 1.0}}, "preset with an unknown attribute"),
        "preset_nan.json": ('{"format": 1, "sliders": {"age": NaN}}', "preset with a NaN value"),
        "preset_inf.json": ('{"format": 1, "sliders": {"age": Infinity}}', "preset with an infinite value"),
        "preset_string.json": ({"format": 1, "sliders": {"age": "old"}}, "preset with a string value"),
        "preset_garbage.json": ("{not json", "preset that is not JSON"),
    }
    for name, (data, what) in presets.items():
        (folder / name).write_text(data if isinstance(data, str) else json.dumps(data))
        made[name] = what
    if good_bundle is not None:
        made.update(_broken_bundles(folder, good_bundle))
    return made


def _broken_bundles(folder: Path, good: Path) -> dict[str, str]:
    from safetensors.torch import load_file, save_file

    made = {}
    wrong = folder / "bundle_wrong_shape"
    shutil.copytree(good, wrong, dirs_exist_ok=True)
    weights = sorted(wrong.glob("*.safetensors"))[0]
    state = load_file(str(weights))
    key = sorted(state)[0]
    state[key] = torch_cat_one(state[key])
    save_file(state, str(weights))
    made[wrong.name] = f"bundle whose {weights.name}:{key} has a wrong shape"
    missing = folder / "bundle_missing_file"
    shutil.copytree(good, missing, dirs_exist_ok=True)
    gone = sorted(missing.glob("*.safetensors"))[-1]
    gone.unlink()
    made[missing.name] = f"bundle without {gone.name}"
    card = folder / "bundle_bad_card"
    shutil.copytree(good, card, dirs_exist_ok=True)
    for j in card.glob("*.json"):
        j.write_text("{ this is not a card")
    made[card.name] = "bundle whose JSON files are garbage"
    return made


def torch_cat_one(t):
    import torch

    return torch.cat([t.flatten(), t.flatten()[:1]])


def main(argv: list[str] | None = None) -> int:
    out = Path((argv or sys.argv[1:] or ["bad_inputs"])[0])
    made = write_photos(out / "photos")
    made.update(write_models(out / "models"))
    for name, what in made.items():
        print(f"{name:28s} {what}")
    print(f"{len(made)} inputs in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
