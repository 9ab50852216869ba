"""Inversion evaluation on 3 real aligned photos (FFHQ crops from ../shared/data/photos)
with an untrained tiny bundle: real dlib, real files, no mocks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from faceedit_gui.cli.eval_inversion import main as eval_main
from faceedit_gui.faces.packing import ShardWriter
from faceedit_gui.metrics.inversion import METRIC_KEYS, find_landmarks, load_aligned_images

PHOTOS = sorted((Path(__file__).resolve().parents[3] / "shared" / "data" / "photos" / "ffhq").glob("*.png"))[:3]


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py


@pytest.fixture(scope="module")
def photos() -> list[Path]:
    if len(PHOTOS) < 3:
        pytest.skip("the real FFHQ photos are not here")
    return PHOTOS


def test_cli_on_aligned_files_writes_json_and_markdown_with_named_metrics(photos, edit_bundle_dir, tmp_path):
    out = tmp_path / "eval"
    assert eval_main(["--images", *map(str, photos), "--bundle", str(edit_bundle_dir), "--out", str(out)]) == 0
    report = json.loads((out / "inversion.json").read_text())
    assert report["n_images"] == 3 and report["resolution"] == 32
    assert set(METRIC_KEYS) <= set(report["means"])
    assert report["perceptual"]["name"].startswith("faceedit-msssim-v1 (substitute")
    assert report["id_dlib_scored"] == 3  # dlib finds all three faces on the 32 px crops
    for row in report["per_image"]:
        assert 0 < row["psnr"] < 60 and -1 <= row["ssim"] <= 1 and row["l2"] > 0 and 0 < row["id_dlib"] <= 1
    md = (out / "inversion.md").read_text()
    assert "faceedit-msssim-v1" in md and "dlib" in md


def test_held_out_split_of_a_pack_uses_its_landmarks(photos, edit_bundle_dir, tmp_path):
    crops = load_aligned_images(photos, 32)["images"]
    pack = tmp_path / "ffhq_32"
    pack.mkdir()
    writer = ShardWriter(pack, "test", 32, encoding="png")
    for i, rgb in enumerate(crops):
        writer.add(rgb, f"photo_{i}.png", 1, -1, -1, -1, (-1,) * 40, find_landmarks(rgb), 0.0)
    writer.flush()
    (pack / "index.json").write_text(json.dumps({"dataset": "ffhq", "size": 32, "encoding": "png", "shards": writer.shards}))
    out = tmp_path / "eval"
    assert eval_main(["--pack", str(pack), "--bundle", str(edit_bundle_dir), "--out", str(out), "--limit", "2"]) == 0
    report = json.loads((out / "inversion.json").read_text())
    assert report["n_images"] == 2 and report["identity_landmarks"] == "packed landmarks"
    assert [r["name"] for r in report["per_image"]] == ["photo_0.png", "photo_1.png"]
    assert np.isfinite(report["means"]["id_dlib"])
