"""Packed, sharded face datasets: write them, read them back as uint8 arrays.

A packed set is a folder `<dataset>_<size>/` with `index.json` and shards
`train_000.npz`, `train_001.npz`, ..., `test_000.npz`, ... (plain, uncompressed `.npz`:
numpy alone opens them, memory-mapping-friendly). Each shard stays under a byte budget
(default 40 MiB) so that one shard plus the code fits a lent GPU machine's 64 MiB carry.
Images inside a shard are shuffled (a fixed seed) so that any one shard is a fair sample.

Shard arrays:
    encoding   str: 'raw' | 'jpeg' | 'png'
    images     uint8 [N, S, S, 3] RGB                       (encoding 'raw')
    data, offsets  uint8 [B] and int64 [N + 1]: image i is data[offsets[i]:offsets[i+1]]  (jpeg/png)
    names      bytes [N] file names in the source folder
    split      int8 [N]: 0 train, 1 test
    age int16, gender int8, race int8 [N]; attrs int8 [N, 40] (CelebA order); -1 = missing
    landmarks  float32 [N, 68, 2], crop pixel coordinates (pixel centres at integers)
    fit_rms    float32 [N]: RMS distance of the landmarks to the template after the similarity
               fit, in crop widths (large = odd pose or poor landmarks; a filter for training)

Convention: decoded images are uint8 `[N, S, S, 3]` RGB.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from faceedit_gui.hashing import sha256_file

Encoding = str  # 'raw' | 'jpeg' | 'png'
MiB = 1 << 20
_LABEL_KEYS = ("names", "split", "age", "gender", "race", "attrs", "landmarks", "fit_rms")
_PER_IMAGE_LABEL_BYTES = 64 + 1 + 2 + 1 + 1 + 40 + 68 * 2 * 4 + 4 + 8
_NPZ_OVERHEAD = 64 * 1024


def encode_image(rgb: np.ndarray, encoding: Encoding, quality: int = 95) -> bytes:
    """uint8 RGB `[S, S, 3]` -> encoded bytes (JPEG: 4:4:4 chroma, no subsampling)."""
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    if encoding == "jpeg":
        params = [cv2.IMWRITE_JPEG_QUALITY, int(quality), cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444]
        ok, buf = cv2.imencode(".jpg", bgr, params)
    elif encoding == "png":
        ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    else:
        raise ValueError(f"unknown image encoding {encoding!r}")
    if not ok:
        raise RuntimeError(f"{encoding} encoding failed")
    return buf.tobytes()


def decode_images(data: np.ndarray, offsets: np.ndarray, size: int) -> np.ndarray:
    out = np.empty((len(offsets) - 1, size, size, 3), np.uint8)
    for i in range(len(out)):
        bgr = cv2.imdecode(data[offsets[i] : offsets[i + 1]], cv2.IMREAD_COLOR)
        if bgr is None or bgr.shape != (size, size, 3):
            raise ValueError(f"image {i} of the shard does not decode to {size}x{size}x3")
        cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB, dst=out[i])
    return out


@dataclass
class ShardWriter:
    """Accumulates aligned crops and labels; writes `<split>_NNN.npz` shards under `max_bytes`."""

    folder: Path
    split: str
    size: int
    encoding: Encoding = "jpeg"
    quality: int = 95
    max_bytes: int = 40 * MiB
    shards: list[dict] = field(default_factory=list)
    _images: list = field(default_factory=list)
    _labels: dict = field(default_factory=lambda: {k: [] for k in _LABEL_KEYS})
    _bytes: int = 0

    def add(
        self, rgb: np.ndarray, name: str, split: int, age: int, gender: int, race: int, attrs, landmarks: np.ndarray, fit_rms: float
    ) -> None:
        if rgb.shape != (self.size, self.size, 3) or rgb.dtype != np.uint8:
            raise ValueError(f"expected uint8 [{self.size}, {self.size}, 3], got {rgb.dtype} {rgb.shape}")
        item = np.ascontiguousarray(rgb) if self.encoding == "raw" else encode_image(rgb, self.encoding, self.quality)
        cost = (item.nbytes if self.encoding == "raw" else len(item)) + _PER_IMAGE_LABEL_BYTES
        if self._images and self._bytes + cost + _NPZ_OVERHEAD > self.max_bytes:
            self.flush()
        self._images.append(item)
        self._bytes += cost
        for k, v in zip(_LABEL_KEYS, (name.encode(), split, age, gender, race, attrs, landmarks, fit_rms)):
            self._labels[k].append(v)

    def flush(self) -> None:
        if not self._images:
            return
        n = len(self._images)
        arrays: dict[str, np.ndarray] = {"encoding": np.array(self.encoding), "size": np.array(self.size, np.int32)}
        if self.encoding == "raw":
            arrays["images"] = np.stack(self._images)
        else:
            lengths = np.array([len(b) for b in self._images], dtype=np.int64)
            arrays["offsets"] = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
            arrays["data"] = np.frombuffer(b"".join(self._images), dtype=np.uint8)
        arrays["names"] = np.array(self._labels["names"], dtype="S64")
        arrays["split"] = np.array(self._labels["split"], dtype=np.int8)
        arrays["age"] = np.array(self._labels["age"], dtype=np.int16)
        arrays["gender"] = np.array(self._labels["gender"], dtype=np.int8)
        arrays["race"] = np.array(self._labels["race"], dtype=np.int8)
        arrays["attrs"] = np.array(self._labels["attrs"], dtype=np.int8).reshape(n, 40)
        arrays["landmarks"] = np.array(self._labels["landmarks"], dtype=np.float32).reshape(n, 68, 2)
        arrays["fit_rms"] = np.array(self._labels["fit_rms"], dtype=np.float32)
        path = Path(self.folder) / f"{self.split}_{len(self.shards):03d}.npz"
        np.savez(path, **arrays)
        nbytes = path.stat().st_size
        if nbytes > self.max_bytes:
            raise RuntimeError(f"{path}: {nbytes} bytes is over the shard budget {self.max_bytes}")
        self.shards.append({"file": path.name, "split": self.split, "count": n, "bytes": nbytes, "sha256": sha256_file(path)})
        self._images, self._bytes = [], 0
        self._labels = {k: [] for k in _LABEL_KEYS}


def read_shard(path: str | Path, decode: bool = True) -> dict[str, np.ndarray]:
    """A shard's arrays; with `decode`, `images` is uint8 `[N, S, S, 3]` RGB whatever the encoding."""
    with np.load(Path(path), allow_pickle=False) as z:
        out = {k: z[k] for k in z.files}
    encoding = str(out["encoding"])
    if decode and encoding != "raw":
        out["images"] = decode_images(out.pop("data"), out.pop("offsets"), int(out["size"]))
    return out


def read_index(folder: str | Path) -> dict:
    return json.loads((Path(folder) / "index.json").read_text())


def iter_shards(folder: str | Path, split: str = "train", decode: bool = True) -> Iterator[dict[str, np.ndarray]]:
    """The shards of one split of a packed set, in order."""
    folder = Path(folder)
    for shard in read_index(folder)["shards"]:
        if shard["split"] == split:
            yield read_shard(folder / shard["file"], decode)
