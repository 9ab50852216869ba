"""Image shards for GAN training: a device-resident image bank and an infinite DDP sampler.

Reads the packed sets of `faceedit prepare-data` (`faceedit_gui/faces/packing.py`) and the
generator's chunk packs (`chunks.py`), without importing that module (it needs OpenCV at
import; the GPU machine must not depend on it). A data folder is either
- a packed set `<dataset>_<size>/` with `index.json`: its TRAIN shards only
  (`index["shards"][i]["split"] == "train"`), or
- any folder of `*.npz` shards (all of them, sorted by name);
and inside every shard, images whose `split` label is not 0 (train) are dropped, so a
held-out image never reaches training even from a mixed shard.

Shard arrays (the packer's format):
    encoding       str 'raw' | 'jpeg' | 'png' (absent: 'raw')
    images         uint8 [N, S, S, 3] RGB                        (raw)
    data, offsets  uint8 [B], int64 [N + 1]: image i is data[offsets[i]:offsets[i+1]]
    <labels>       any array whose first dimension is N (split, age, gender, attrs, ...)

Loading: every shard is read and decoded once (OpenCV, else Pillow, else torchvision) and
the whole set is kept as ONE uint8 tensor `[N, H, W, 3]` on the training device (a
3k-face 128 px chunk is 150 MB, all 31k training faces 1.5 GB): batches are gathered,
flipped and converted to float on the device, never per image on the CPU.

Convention: `ImageBank.batch` returns float `[B, 3, H, W]` in [-1, 1], RGB, in
channels-last memory layout (a permuted view of NHWC).
"""

from __future__ import annotations

import hashlib
import io
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

IMAGE_KEY = "images"
DATA_KEY = "data"
OFFSETS_KEY = "offsets"
ENCODING_KEY = "encoding"
SPLIT_KEY = "split"
TRAIN_SPLIT = 0
_NOT_LABELS = {IMAGE_KEY, DATA_KEY, OFFSETS_KEY, ENCODING_KEY, "size"}
CHUNK_META = "chunk.json"  # a chunk pack's description (`chunks.py`), passed on to the trainer


@dataclass
class Shard:
    """One shard in memory: images uint8 `[N, H, W, 3]` RGB plus per-image labels."""

    images: np.ndarray
    labels: dict[str, np.ndarray] = field(default_factory=dict)


def list_shards(data_dir: str | Path) -> list[Path]:
    """The training shard files of a data folder (see the module docstring), in order."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"data folder not found: {data_dir}")
    index = data_dir / "index.json"
    if index.is_file():
        entries = json.loads(index.read_text()).get("shards", [])
        shards = [data_dir / e["file"] for e in entries if e.get("split") == "train"]
        missing = [p.name for p in shards if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"{data_dir}: index.json lists missing shards {missing[:5]}")
    else:
        shards = sorted(p for p in data_dir.glob("*.npz") if p.is_file())
    if not shards:
        raise FileNotFoundError(f"no training shards in {data_dir}")
    return shards


def decode_images(buffer: np.ndarray, offsets: np.ndarray, workers: int = 8) -> np.ndarray:
    """N back-to-back JPEG/PNG files -> uint8 `[N, H, W, 3]` RGB (all the same size).

    Uses OpenCV when importable, else Pillow, else torchvision (all three are on the GPU
    machine; OpenCV and Pillow release the GIL, so threads help).
    """
    if offsets.ndim != 1 or offsets.shape[0] < 2:
        raise ValueError(f"offsets: expected [N + 1] with N >= 1, got shape {tuple(offsets.shape)}")
    decode = _image_decoder()
    buf = np.ascontiguousarray(buffer, dtype=np.uint8)
    parts = [buf[int(a) : int(b)] for a, b in zip(offsets[:-1], offsets[1:])]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        images = list(pool.map(decode, parts))
    first = images[0].shape
    for i, im in enumerate(images):
        if im.shape != first or im.ndim != 3 or im.shape[2] != 3:
            raise ValueError(f"image {i}: decoded shape {im.shape}, expected {first} like the first")
    return np.stack(images)


def _image_decoder():
    try:
        import cv2  # noqa: PLC0415  (optional; headless OpenCV is on the GPU machine)

        def decode(b: np.ndarray) -> np.ndarray:
            im = cv2.imdecode(b, cv2.IMREAD_COLOR)
            if im is None:
                raise ValueError("OpenCV could not decode an image")
            return im[:, :, ::-1].copy()  # BGR -> RGB

        return decode
    except ImportError:
        pass
    try:
        from PIL import Image  # noqa: PLC0415

        def decode_pil(b: np.ndarray) -> np.ndarray:
            with Image.open(io.BytesIO(b.tobytes())) as im:
                return np.asarray(im.convert("RGB"))

        return decode_pil
    except ImportError:
        pass
    try:
        from torchvision.io import ImageReadMode, decode_image  # noqa: PLC0415

        def decode_tv(b: np.ndarray) -> np.ndarray:
            return decode_image(torch.from_numpy(b.copy()), mode=ImageReadMode.RGB).permute(1, 2, 0).numpy()

        return decode_tv
    except ImportError:
        raise ImportError("decoding JPEG/PNG shards needs OpenCV, Pillow or torchvision") from None


def load_shard(path: str | Path, train_only: bool = True) -> Shard:
    """Read one `.npz` shard into memory, decoded; with `train_only`, images whose `split`
    label is not 0 are dropped."""
    path = Path(path)
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    encoding = str(arrays[ENCODING_KEY]) if ENCODING_KEY in arrays else "raw"
    if IMAGE_KEY in arrays:
        images = arrays[IMAGE_KEY]
    elif DATA_KEY in arrays and OFFSETS_KEY in arrays and encoding in ("jpeg", "png"):
        images = decode_images(arrays[DATA_KEY], arrays[OFFSETS_KEY])
    else:
        raise ValueError(f"{path}: no '{IMAGE_KEY}' or '{DATA_KEY}'+'{OFFSETS_KEY}' arrays (encoding {encoding!r}, has {sorted(arrays)})")
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"{path}: images must be uint8 [N, H, W, 3], got {images.dtype} {tuple(images.shape)}")
    n = images.shape[0]
    labels = {k: v for k, v in arrays.items() if k not in _NOT_LABELS and v.ndim >= 1 and v.shape[0] == n}
    if train_only and SPLIT_KEY in labels:
        keep = labels[SPLIT_KEY] == TRAIN_SPLIT
        if not keep.all():
            images = images[keep]
            labels = {k: v[keep] for k, v in labels.items()}
    return Shard(images=images, labels=labels)


def _fingerprint(path: Path, n: int) -> str:
    """Cheap identity of a shard: name, size, count, and hashes of its first and last MiB."""
    h = hashlib.sha256(f"{path.name}:{path.stat().st_size}:{n};".encode())
    with open(path, "rb") as f:
        h.update(f.read(1 << 20))
        f.seek(max(0, path.stat().st_size - (1 << 20)))
        h.update(f.read(1 << 20))
    return h.hexdigest()


class ImageBank:
    """All images of a data folder as one uint8 tensor `[N, H, W, 3]` on `device`."""

    def __init__(self, images: torch.Tensor, labels: dict[str, np.ndarray] | None = None, fingerprint: str = ""):
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"images: expected uint8 [N, H, W, 3], got {images.dtype} {list(images.shape)}")
        self.images = images
        self.labels = labels or {}
        self.fingerprint = fingerprint
        self.chunk: dict | None = None  # chunk.json of a chunk pack, when the bank is one

    @classmethod
    def from_dirs(
        cls,
        data_dirs: str | Path | Sequence[str | Path],
        device: torch.device | str = "cpu",
        resolution: int | None = None,
    ) -> "ImageBank":
        """Every training image of one or several data folders, on `device`."""
        dirs = [data_dirs] if isinstance(data_dirs, (str, Path)) else list(data_dirs)
        parts: list[np.ndarray] = []
        labels: dict[str, list[np.ndarray]] = {}
        digest = hashlib.sha256()
        for path in [p for d in dirs for p in list_shards(d)]:
            shard = load_shard(path)
            if parts and shard.images.shape[1:] != parts[0].shape[1:]:
                raise ValueError(f"{path}: images {shard.images.shape[1:]} differ from {parts[0].shape[1:]} in the first shard")
            parts.append(shard.images)
            for k, v in shard.labels.items():
                labels.setdefault(k, []).append(v)
            digest.update(_fingerprint(path, shard.images.shape[0]).encode())
        h, w = parts[0].shape[1:3]
        if resolution is not None and (h, w) != (resolution, resolution):
            raise ValueError(f"{dirs[0]}: images are {h}x{w}, training needs {resolution}x{resolution}")
        n = sum(p.shape[0] for p in parts)
        if n == 0:
            raise ValueError(f"no training images in {[str(d) for d in dirs]}")
        # Labels present in only some shards would misalign: keep those present in all.
        merged = {}
        for k, v in labels.items():
            if len(v) == len(parts):
                try:
                    merged[k] = np.concatenate(v)
                except ValueError:
                    pass  # differing trailing shapes across sets: not a usable label
        images = torch.from_numpy(np.concatenate(parts) if len(parts) > 1 else parts[0]).to(device)
        assert images.shape[0] == n
        bank = cls(images, merged, fingerprint=digest.hexdigest()[:16])
        metas = [json.loads((Path(d) / CHUNK_META).read_text()) for d in dirs if (Path(d) / CHUNK_META).is_file()]
        bank.chunk = metas[0] if len(metas) == 1 else None
        return bank

    from_dir = from_dirs

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def resolution(self) -> tuple[int, int]:
        return int(self.images.shape[1]), int(self.images.shape[2])

    def batch(self, indices: torch.Tensor, xflip: bool = False, generator: torch.Generator | None = None) -> torch.Tensor:
        """Gather `indices` (on the bank's device), randomly mirror half of them if `xflip`,
        and convert: float `[B, 3, H, W]` in [-1, 1], channels-last."""
        x = self.images[indices]  # [B, H, W, 3] uint8
        if xflip:
            flip = torch.rand(x.shape[0], device=x.device, generator=generator) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(2), x)
        return x.permute(0, 3, 1, 2).float().mul_(1 / 127.5).sub_(1.0)


class InfiniteSampler:
    """Endless shuffled batches of indices, sharded over DDP ranks.

    Epoch `e` shuffles all N indices with a generator seeded by `(seed, e)` ON `device`
    (so no host-device copy, which would synchronise the GPU, ever happens); rank `r` of
    `world_size` takes `perm[r::world_size]`, cut to `N // world_size` so that every rank
    yields the same number of batches and ranks never share an index within an epoch.
    Batches run on across epoch ends. The position (`epoch`, `cursor`) is the whole state:
    a sampler rebuilt with it on the same kind of device continues exactly (CPU and CUDA
    shuffle differently).
    """

    def __init__(
        self,
        n: int,
        batch: int,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        device: torch.device | str = "cpu",
        epoch: int = 0,
        cursor: int = 0,
    ):
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} of world_size {world_size} is invalid")
        if n // world_size < 1:
            raise ValueError(f"{n} images cannot be shared by {world_size} ranks")
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        self.n, self.batch, self.seed = n, batch, seed
        self.rank, self.world_size = rank, world_size
        self.device = torch.device(device)
        self.per_rank = n // world_size
        if not 0 <= cursor < self.per_rank:
            cursor = cursor % self.per_rank
        self.epoch, self.cursor = epoch, cursor
        self._order = self._upload(epoch)

    def rank_indices(self, epoch: int) -> np.ndarray:
        """This rank's indices for `epoch`, in order (int64 `[N // world_size]`)."""
        return self._upload(epoch).cpu().numpy()

    def _upload(self, epoch: int) -> torch.Tensor:
        g = torch.Generator(device=self.device).manual_seed((self.seed * 1_000_003 + epoch * 7_919) % (2**62))
        perm = torch.randperm(self.n, generator=g, device=self.device)
        return perm[self.rank :: self.world_size][: self.per_rank]

    def next(self) -> torch.Tensor:
        """The next batch of indices: int64 `[batch]` on `device`."""
        pieces = []
        need = self.batch
        while need > 0:
            take = min(need, self.per_rank - self.cursor)
            pieces.append(self._order[self.cursor : self.cursor + take])
            self.cursor += take
            need -= take
            if self.cursor == self.per_rank:
                self.epoch += 1
                self.cursor = 0
                self._order = self._upload(self.epoch)
        return pieces[0] if len(pieces) == 1 else torch.cat(pieces)

    def state(self) -> dict[str, int]:
        return {"epoch": self.epoch, "cursor": self.cursor}
