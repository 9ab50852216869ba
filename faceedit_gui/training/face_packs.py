"""Read packed aligned face sets (`faces/packing.py`) into memory for the classifier and
identity trainers: one uint8 image array plus the labels, per split.

The GAN reader (`training/data.py`) reads a different shard layout (raw `images` or
`jpeg`/`jpeg_offsets`, no split); the packer's own `packing.iter_shards` decodes this one,
and this module only concatenates its shards and keeps the per-image labels.

Convention: `images` uint8 `[N, S, S, 3]` RGB; labels as packed (-1 = missing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceedit_gui.faces.packing import iter_shards, read_index

SPLITS = {"train": 0, "test": 1}
LABEL_KEYS = ("names", "split", "age", "gender", "race", "attrs", "landmarks", "fit_rms")


@dataclass
class FacePack:
    """One split of one packed set, in memory."""

    dataset: str  # 'utkface' | 'celeba' (the index's "dataset")
    split: str  # 'train' | 'test'
    size: int  # crop side in pixels
    images: np.ndarray  # uint8 [N, S, S, 3] RGB
    labels: dict[str, np.ndarray] = field(default_factory=dict)  # LABEL_KEYS present in the shards, [N, ...]
    attribute_names: tuple[str, ...] = ()  # column order of labels["attrs"]
    framing: dict | None = None  # the index's framing (Framing.to_dict()), how the crops were aligned

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def subset(self, rows: np.ndarray) -> "FacePack":
        rows = np.asarray(rows)
        return FacePack(self.dataset, self.split, self.size, self.images[rows],
                        {k: v[rows] for k, v in self.labels.items()}, self.attribute_names, self.framing)


def load_pack(folder: str | Path, split: str, limit: int | None = None) -> FacePack:
    """All shards of `split` ('train' or 'test') of the packed set in `folder`.

    Checks that every image's recorded split matches (a held-out image in a train shard
    would be a leak) and stops reading after `limit` images when given.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    folder = Path(folder)
    if not (folder / "index.json").is_file():
        raise FileNotFoundError(f"{folder}: no index.json (not a packed face set; see `faceedit prepare-data`)")
    index = read_index(folder)
    images, labels = [], {k: [] for k in LABEL_KEYS}
    count = 0
    for shard in iter_shards(folder, split):
        images.append(shard["images"])
        for k in LABEL_KEYS:
            if k in shard:
                labels[k].append(shard[k])
        count += len(shard["images"])
        if limit is not None and count >= limit:
            break
    if not images:
        raise FileNotFoundError(f"{folder}: no {split} shards")
    merged = {k: np.concatenate(v) for k, v in labels.items() if len(v) == len(images)}
    pack = FacePack(
        dataset=str(index["dataset"]),
        split=split,
        size=int(index["size"]),
        images=np.concatenate(images),
        labels=merged,
        attribute_names=tuple(index.get("labels", {}).get("attribute_names", ())),
        framing=index.get("framing"),
    )
    if "split" in pack.labels and (pack.labels["split"] != SPLITS[split]).any():
        raise ValueError(f"{folder}: {split} shards hold images recorded as another split")
    return pack.subset(np.arange(min(len(pack), limit))) if limit is not None else pack
