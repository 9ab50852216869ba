"""Training-set preparation: labels, the template measurement, shards under their byte budget."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from faceedit_gui.faces.align import apply_affine
from faceedit_gui.faces.framing import UTKFACE_TEMPLATE_PATH, Framing, ffhq_framing, load_framing, save_framing
from faceedit_gui.faces.packing import MiB, ShardWriter, iter_shards, read_shard
from faceedit_gui.faces.sources import CELEBA_ATTRIBUTES, celeba_records, parse_utkface_name, utkface_records
from faceedit_gui.faces.template import measure_template, procrustes_mean, template_residual

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
needs_data = pytest.mark.skipif(not (DATA / "utkface").is_dir(), reason="../shared/data is not here")


def _shape(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(20, 180, (68, 2))


# ----------------------------------------------------------------------------- labels


def test_utkface_names():
    assert parse_utkface_name("26_1_3_20170119180523862.jpg.chip.jpg") == (26, 1, 3)
    assert parse_utkface_name("39_1_20170116174525125.jpg.chip.jpg") == (39, 1, -1)  # no race field
    assert parse_utkface_name("x_y_z_w.jpg.chip.jpg") == (-1, -1, -1)


@needs_data
def test_real_label_files_match_the_readme():
    utk = utkface_records(DATA)
    assert len(utk) == 23_707 and sum(r.split == "test" for r in utk) == 1_190
    assert sum(r.race == -1 for r in utk) == 3
    assert all(r.attrs[CELEBA_ATTRIBUTES.index("Male")] == 1 - r.gender for r in utk[:100])
    celeba = celeba_records(DATA)
    assert len(celeba) == 10_000 and sum(r.split == "test" for r in celeba) == 1_000
    counts = np.array([r.attrs for r in celeba]).sum(axis=0)
    named = dict(zip(CELEBA_ATTRIBUTES, counts))
    assert (named["Eyeglasses"], named["Smiling"], named["Male"], named["Young"]) == (674, 4822, 4217, 7771)
    assert all(r.age == -1 and r.race == -1 for r in celeba)


# ----------------------------------------------------------------------------- template


def test_procrustes_mean_of_similar_copies_is_the_shape():
    base = _shape()
    copies = []
    for i, angle in enumerate(np.radians([-15, 0, 10, 25])):
        rot = (1 + 0.3 * i) * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        copies.append(base @ rot.T + (i * 7.0, -3.0 * i))
    mean = procrustes_mean(np.stack(copies))
    # equal to `base` up to a similarity
    fitted = apply_affine(np.linalg.lstsq(np.c_[base, np.ones(68)], mean, rcond=None)[0].T, base)
    assert np.abs(fitted - mean).max() < 1e-6


def test_measured_template_sits_where_the_crops_hold_the_face():
    rng = np.random.default_rng(1)
    base = _shape(2)
    shapes = np.stack([base + rng.normal(0, 1.0, base.shape) for _ in range(50)])
    framing = measure_template(shapes, (200, 200), size=128, name="t")
    assert framing.kind == "template" and framing.size == 128
    assert np.abs(framing.template_array() - (base + 0.5) / 200).max() < 0.01
    assert template_residual(shapes, framing).max() < 0.02


def test_framing_json_round_trip(tmp_path):
    framing = Framing(kind="template", size=64, template=tuple(map(tuple, (_shape() + 0.5) / 200)), name="x", note="y")
    assert load_framing(save_framing(framing, tmp_path / "f.json")) == framing
    assert Framing.from_dict(ffhq_framing(256).to_dict()) == ffhq_framing(256)
    with pytest.raises(ValueError):
        Framing(kind="template", size=64)  # no template
    with pytest.raises(ValueError):
        Framing.from_dict({"kind": "tight"})


def test_committed_utkface_template_is_valid():
    if not UTKFACE_TEMPLATE_PATH.is_file():
        pytest.skip("the template is measured by `faceedit prepare-data`")
    framing = load_framing(UTKFACE_TEMPLATE_PATH)
    t = framing.template_array()
    assert framing.kind == "template" and t.shape == (68, 2)
    # a tight crop: the eyes in the upper half, the mouth in the lower half, the face filling it
    assert t[36:48, 1].mean() < 0.5 < t[48:68, 1].mean()
    assert t[16, 0] - t[0, 0] > 0.7


# ----------------------------------------------------------------------------- shards


def _write(tmp_path: Path, encoding: str, n: int = 30, size: int = 32, max_bytes: int = 160 * 1024):
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    images[:, :, : size // 2] = (200, 120, 80)  # some flat area, as faces have
    writer = ShardWriter(tmp_path, "train", size, encoding, 95, max_bytes)
    for i in range(n):
        attrs = [-1] * 40
        writer.add(images[i], f"img{i}.jpg", 0, 20 + i, i % 2, -1, attrs, np.full((68, 2), i, np.float32), 0.01 * i)
    writer.flush()
    (tmp_path / "index.json").write_text(json.dumps({"shards": writer.shards}))
    return images, writer


@pytest.mark.parametrize("encoding", ["raw", "png", "jpeg"])
def test_shards_round_trip_and_stay_under_budget(tmp_path, encoding):
    images, writer = _write(tmp_path, encoding)
    assert len(writer.shards) >= (2 if encoding == "raw" else 1)
    assert all((tmp_path / s["file"]).stat().st_size <= 160 * 1024 for s in writer.shards)
    got = list(iter_shards(tmp_path, "train"))
    decoded = np.concatenate([g["images"] for g in got])
    assert decoded.shape == images.shape and decoded.dtype == np.uint8
    if encoding == "jpeg":
        assert np.abs(decoded.astype(int) - images.astype(int))[:, :, :16].max() <= 3  # flat half: near exact
    else:
        assert np.array_equal(decoded, images)
    ages = np.concatenate([g["age"] for g in got])
    assert ages.tolist() == list(range(20, 50))
    first = read_shard(tmp_path / writer.shards[0]["file"])
    assert first["attrs"].shape[1] == 40 and first["landmarks"].shape[1:] == (68, 2)
    assert first["names"][0] == b"img0.jpg" and first["fit_rms"].dtype == np.float32


def test_default_budget_is_40_mib():
    assert ShardWriter(Path("."), "train", 128).max_bytes == 40 * MiB
