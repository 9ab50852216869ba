"""Training data: the DDP sampler, the image bank over packed sets, chunk windows, PNGs."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from faceedit_gui.training import chunks
from faceedit_gui.training.data import ImageBank, InfiniteSampler, list_shards
from faceedit_gui.training.png import encode_png, make_grid, write_png


def test_two_ranks_draw_disjoint_indices_of_equal_count():
    r0 = InfiniteSampler(11, batch=5, seed=3, rank=0, world_size=2)
    r1 = InfiniteSampler(11, batch=5, seed=3, rank=1, world_size=2)
    a, b = r0.rank_indices(0), r1.rank_indices(0)
    assert len(a) == len(b) == 5
    assert not set(a) & set(b)
    assert set(a) | set(b) <= set(range(11))
    # batches follow the per-rank order, across the epoch end
    first, second = r0.next(), r0.next()
    assert first.tolist() == a.tolist()
    assert second.tolist() == r0.rank_indices(1).tolist() and r0.epoch == 2


def test_sampler_continues_exactly_from_its_state():
    s = InfiniteSampler(10, batch=3, seed=1)
    for _ in range(5):
        s.next()
    t = InfiniteSampler(10, batch=3, seed=1, **s.state())
    for _ in range(7):
        assert torch.equal(s.next(), t.next())
    with pytest.raises(ValueError):
        InfiniteSampler(1, batch=2, world_size=2)


def write_packed_set(folder: Path, n_train: int = 6, n_test: int = 3, size: int = 16) -> Path:
    """A packed set in the format of `faceedit_gui/faces/packing.py` (written here with
    numpy + OpenCV, so this test pins the format, not that module's API): JPEG shards
    `train_000.npz`, `test_000.npz` and `index.json`."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    shards = []
    for split_name, split, n in (("train", 0, n_train), ("test", 1, n_test)):
        blobs = []
        for i in range(n):
            rgb = np.full((size, size, 3), 40 * split + 10 * i, np.uint8)
            rgb[: size // 2] = rng.integers(0, 256, 3)
            blobs.append(cv2.imencode(".jpg", rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes())
        lengths = np.array([len(x) for x in blobs], np.int64)
        name = f"{split_name}_000.npz"
        np.savez(
            folder / name,
            encoding=np.array("jpeg"),
            size=np.array(size, np.int32),
            offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            data=np.frombuffer(b"".join(blobs), np.uint8),
            names=np.array([f"{split_name}{i}.jpg".encode() for i in range(n)], dtype="S64"),
            split=np.full(n, split, np.int8),
            age=np.arange(20, 20 + n, dtype=np.int16),
            attrs=np.zeros((n, 40), np.int8),
            landmarks=np.zeros((n, 68, 2), np.float32),
        )
        shards.append({"file": name, "split": split_name, "count": n})
    (folder / "index.json").write_text(json.dumps({"shards": shards}))
    return folder


def test_bank_reads_train_shards_only_and_converts_on_device(tmp_path):
    packed = write_packed_set(tmp_path / "faces_16")
    assert [p.name for p in list_shards(packed)] == ["train_000.npz"]
    bank = ImageBank.from_dirs(packed, resolution=16)
    assert len(bank) == 6 and bank.images.dtype == torch.uint8
    assert bank.labels["age"].tolist() == [20, 21, 22, 23, 24, 25]
    x = bank.batch(torch.tensor([0, 5]))
    assert x.shape == (2, 3, 16, 16) and x.dtype == torch.float32
    assert x.is_contiguous(memory_format=torch.channels_last)
    expected = bank.images[[0, 5]].permute(0, 3, 1, 2).float() / 127.5 - 1
    assert torch.allclose(x, expected, atol=1e-6)
    torch.manual_seed(0)
    flipped = bank.batch(torch.arange(6).repeat(4), xflip=True)
    plain = bank.batch(torch.arange(6).repeat(4))
    mirrored = [torch.equal(f, p.flip(2)) and not torch.equal(f, p) for f, p in zip(flipped, plain)]
    assert 0 < sum(mirrored) < 24
    with pytest.raises(ValueError, match="training needs 32x32"):
        ImageBank.from_dirs(packed, resolution=32)


def test_bank_drops_held_out_images_inside_a_shard(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    images = np.arange(4 * 8 * 8 * 3, dtype=np.uint8).reshape(4, 8, 8, 3)
    np.savez(folder / "a.npz", images=images, split=np.array([0, 1, 0, 1], np.int8))
    bank = ImageBank.from_dirs(folder)
    assert len(bank) == 2 and torch.equal(bank.images, torch.from_numpy(images[[0, 2]]))


def test_stage_cuts_consecutive_windows_within_the_budget(tmp_path):
    a = write_packed_set(tmp_path / "a_16", n_train=7)
    b = write_packed_set(tmp_path / "b_16", n_train=5)
    total = len(chunks.training_items([a, b]))
    assert total == 12
    one = chunks.stage_chunk([a, b], tmp_path / "chunk", budget_bytes=20_000, start=0)
    assert 0 < one["count"] < total and one["bytes"] <= 20_000
    bank = ImageBank.from_dirs(tmp_path / "chunk", resolution=16)
    assert len(bank) == one["count"] and bank.chunk["start"] == 0
    # the committed checkpoint's history says where the next window starts
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "state.json").write_text(json.dumps({"history": [{"window": one}]}))
    start = chunks.next_start(ckpt, total)
    assert start == one["count"]
    two = chunks.stage_chunk([a, b], tmp_path / "chunk", budget_bytes=20_000, start=start)
    assert two["start"] == one["count"]
    everything = chunks.stage_chunk([a, b], tmp_path / "all", budget_bytes=10 << 20, start=5)
    assert everything["count"] == total  # a big budget takes all, wrapping around
    requal = chunks.stage_chunk([a, b], tmp_path / "q", budget_bytes=10 << 20, start=0, quality=80)
    assert requal["count"] == total and len(ImageBank.from_dirs(tmp_path / "q")) == total


def test_budget_counts_the_working_tree():
    budget = chunks.carry_budget()
    assert budget.tree > 0 and budget.checkpoint > 30 * chunks.MiB
    assert budget.tree + budget.checkpoint + budget.margin + budget.data == chunks.CARRY_LIMIT


def test_png_writer_round_trips_through_opencv(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (7, 5, 3), dtype=np.uint8)
    path = write_png(tmp_path / "x.png", rgb)
    back = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)[:, :, ::-1]
    assert np.array_equal(back, rgb)
    grey = rng.integers(0, 256, (4, 6), dtype=np.uint8)
    dec = cv2.imdecode(np.frombuffer(encode_png(grey), np.uint8), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(dec, grey)
    grid = make_grid(np.stack([rgb] * 3), cols=2)
    assert grid.shape == (14, 10, 3) and np.array_equal(grid[7:, :5], rgb) and not grid[7:, 5:].any()
    with pytest.raises(TypeError):
        encode_png(rgb.astype(np.float32))
