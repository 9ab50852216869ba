"""`faceedit eval --limit 2` runs end to end on the untrained test bundle and writes the named report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from faceedit_gui.cli.main import main

PHOTOS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "photos"
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.skipif(not (PHOTOS / "hfgi").is_dir(), reason="../shared/data/photos is not here")
def test_eval_limit_2_writes_json_markdown_and_grids(tmp_path, edit_bundle_dir):
    photos = tmp_path / "photos" / "hfgi"
    photos.mkdir(parents=True)
    for name in ("00044.jpg", "00051.jpg", "00418.jpg"):
        shutil.copy(PHOTOS / "hfgi" / name, photos / name)
    out = tmp_path / "eval"
    rc = main(["eval", "--out", str(out), "--bundle", str(edit_bundle_dir), "--limit", "2", "--packs",
               "--photos", str(tmp_path / "photos"), "--fit-samples", "64", "--calibration-samples", "4",
               "--grid-faces", "1"])  # fmt: skip
    assert rc == 0
    report = json.loads((out / "editing.json").read_text())
    assert report["n_faces"] == 2
    assert set(report["table1"]) == {"interfacegan", "ganspace", "sefa", "ours_edit", "ours_edit_refine"}
    for method in report["table1"].values():
        assert set(method["mean"]) >= {"id_dlib", "l2", "perceptual", "attr_change"}
        assert set(method) >= {"age", "smile", "glasses", "mean"}
    assert set(report["table2"]["inversion"]) == {"l2", "psnr", "ssim", "ms_ssim", "id_dlib"}
    assert report["table3"] == {}
    assert "substitute" in report["perceptual"]["name"] or "lpips" in report["perceptual"]["name"]
    assert report["warnings"]  # the untrained stand-in classifier is announced
    md = (out / "editing.md").read_text()
    assert "Table 1" in md and "Table 2" in md and "Table 3" in md
    assert report["grids"] and all((out / g).is_file() for g in report["grids"])


def test_the_eval_command_leaves_the_callers_torch_state_alone(tmp_path, edit_bundle_dir):
    import torch

    from faceedit_gui.cli.main import main

    threads = torch.get_num_threads()
    main(["eval", "--bundle", str(tmp_path / "no-such-bundle"), "--out", str(tmp_path / "out"), "--threads", "1"])
    assert torch.is_grad_enabled()
    assert torch.get_num_threads() == threads


def test_grid_columns_get_a_header_naming_each_method():
    import numpy as np

    from faceedit_gui.metrics.editing import label_columns

    grid = np.random.default_rng(0).integers(0, 256, (64, 3 * 64, 3), dtype=np.uint8)
    out = label_columns(grid, ["source", "reconstruction", "ours_edit_refine"])
    assert out.shape == (64 + 18, 192, 3)
    assert np.array_equal(out[18:], grid)  # the images themselves are untouched
    header = out[:18]
    for i in range(3):  # every column's header holds text (bright pixels), inside its own column
        column = header[:, i * 64 : (i + 1) * 64]
        assert column.max() > 200 and (column == 32).mean() > 0.5
    assert label_columns(grid, []) is grid
