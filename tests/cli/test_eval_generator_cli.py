"""`faceedit eval-generator` end to end on untrained generators, with the real dlib and the
real held-out UTKFace faces (skipped when ../shared/data is absent): consistent counts,
the verdict of an untrained model, the sheet, both generator sources, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from faceedit_gui.cli.main import main as cli_main

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py


@pytest.fixture(scope="module")
def bundle_128(tmp_path_factory) -> Path:
    """An untrained 128 px bundle with tiny channels (the reals need 128 px for dlib's HOG)."""
    from faceedit_gui.engine.devbundle import build_dev_bundle

    return build_dev_bundle(tmp_path_factory.mktemp("ge") / "bundle", size=128, tiny=True)


@pytest.fixture(scope="module")
def checkpoint_32(tmp_path_factory) -> Path:
    """A tiny 32 px generator training checkpoint after one step."""
    from faceedit_gui.training.tiny_models import write_tiny_pack
    from faceedit_gui.training.train_generator import tiny_config, train

    root = tmp_path_factory.mktemp("ge_ckpt")
    train(tiny_config(), write_tiny_pack(root / "pack"), root / "generator", 5.0, max_steps=1, device="cpu", echo=lambda _: None)
    return root / "generator"


def read_png(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert bgr is not None, path
    return bgr[:, :, ::-1]


def test_untrained_bundle_fails_the_target_with_consistent_counts_and_a_sheet(bundle_128, utkface_data, tmp_path, capsys):
    out, copy = tmp_path / "eval", tmp_path / "resources" / "sample_sheet_128.png"
    argv = ["eval-generator", "--bundle", str(bundle_128), "-n", "20", "--reals", "20", "--out", str(out),
            "--sheet", str(copy), "--data", str(utkface_data)]  # fmt: skip
    assert cli_main(argv) == 0
    report = json.loads((out / "generator_eval.json").read_text())
    s, r = report["samples"], report["reals"]
    assert report["resolution"] == 128 and report["model"]["bundle"] == str(bundle_128)
    assert s["n"] == 20 and s["seeds"] == [0, 19] and s["truncation"] == 1.0
    assert r["n"] == 20 and r["available"] == len((utkface_data / "utkface_test.txt").read_text().split())
    assert s["rate"] == pytest.approx(s["detected"] / 20) and r["rate"] == pytest.approx(r["detected"] / 20)
    assert r["rate"] >= 0.9  # real faces: dlib HOG finds nearly all
    assert s["detected"] <= 2  # random weights draw colour blobs, not faces
    assert report["ratio"] == pytest.approx(s["rate"] / r["rate"])
    assert report["passed"] is False and report["verdict"].startswith("FAIL")
    assert report["detector"]["detector"] == "hog" and report["detector"]["upsample"] == 0
    assert report["arguments"]["num"] == 20 and report["arguments"]["threads"] == 1
    assert report["timing_s"]["total"] >= report["timing_s"]["sample"] > 0
    sheet = read_png(out / "sample_sheet.png")
    assert sheet.shape == (8 * 128 + 7 * 2, 8 * 128 + 7 * 2, 3)
    assert report["sheet"]["size"] == [1038, 1038] and report["sheet"]["copy"] == str(copy)
    assert copy.read_bytes() == (out / "sample_sheet.png").read_bytes()
    assert not sheet[128:130].any() and not sheet[:, 128:130].any()  # the gaps are black
    printed = capsys.readouterr().out
    assert "ratio" in printed and "FAIL" in printed and "20" in printed

    # tile 9 (row 1, column 1) is `faceedit sample`'s image of seed 9 (up to rounding: the
    # batched, unfused modulated-conv path here, the fused one there)
    assert cli_main(["sample", "-n", "1", "--seed", "9", "-o", str(tmp_path / "s"), "--bundle", str(bundle_128)]) == 0
    diff = np.abs(sheet[130:258, 130:258].astype(int) - read_png(tmp_path / "s" / "seed00009.png"))
    assert diff.max() <= 1, diff.max()
    assert np.abs(sheet[130:258, 130:258].astype(int) - sheet[0:128, 0:128]).mean() > 5  # tiles differ


def test_checkpoint_source_other_seeds_and_an_undefined_ratio_at_32_px(checkpoint_32, utkface_data, tmp_path):
    out = tmp_path / "eval"
    argv = ["eval-generator", "--checkpoint", str(checkpoint_32), "-n", "3", "--reals", "2", "--seed", "5",
            "--truncation", "0.7", "--out", str(out), "--data", str(utkface_data)]  # fmt: skip
    assert cli_main(argv) == 0
    report = json.loads((out / "generator_eval.json").read_text())
    assert report["model"]["checkpoint"] == str(checkpoint_32) and report["model"]["step"] == 1
    assert report["resolution"] == 32 and report["samples"]["seeds"] == [5, 7]
    # 32 px is below dlib HOG's 80 px window: no face is found even in the real faces
    assert report["reals"]["detected"] == 0 and report["ratio"] is None and report["passed"] is False
    assert "undefined" in report["verdict"]
    assert report["sheet"]["seeds"] == [0, 63] and report["sheet"]["truncation"] == 0.7
    assert read_png(out / "sample_sheet.png").shape == (8 * 32 + 14, 8 * 32 + 14, 3)


def test_bad_input_exits_non_zero_with_a_message(bundle_128, tmp_path, capsys):
    fake = tmp_path / "data"  # a held-out list, no images: enough to reach the generator
    (fake / "utkface").mkdir(parents=True)
    (fake / "utkface_test.txt").write_text("1_0_0_missing.jpg.chip.jpg\n")
    cases = [
        (["--bundle", str(tmp_path / "nope"), "--data", str(fake)], 1, "cannot load the generator"),
        (["--checkpoint", str(tmp_path), "--data", str(fake)], 1, "not a training checkpoint"),
        (["--bundle", str(bundle_128), "--data", str(tmp_path / "no_data")], 1, "utkface_test.txt"),
        (["--bundle", str(bundle_128), "--data", str(fake), "-n", "1", "--reals", "1"], 1, "cannot read the held-out face"),
        (["--bundle", str(bundle_128), "-n", "0"], 2, "-n must be >= 1"),
        (["--bundle", str(bundle_128), "--truncation", "1.5"], 2, "--truncation"),
    ]
    for extra, code, message in cases:
        assert cli_main(["eval-generator", "--out", str(tmp_path / "o"), *extra]) == code, extra
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (extra, err)
        assert err.startswith("faceedit eval-generator: ")
    assert not (tmp_path / "o" / "generator_eval.json").exists()
