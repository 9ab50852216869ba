"""The generator check's pieces (`faceedit_gui/metrics/generator.py`): dlib HOG on real held-out
faces and on non-faces, the ratio and its verdict, the sheet layout, the held-out selection."""

from __future__ import annotations


import numpy as np
import pytest

from faceedit_gui.metrics import generator as gm


def test_dlib_hog_finds_held_out_faces_at_128_px_and_nothing_in_non_faces(utkface_data):
    reals, names = gm.load_heldout_utkface(utkface_data, 128, 20)
    assert reals.shape == (20, 128, 128, 3) and reals.dtype == np.uint8 and len(set(names)) == 20
    held_out = set((utkface_data / "utkface_test.txt").read_text().split())
    assert set(names) <= held_out  # never a training image
    assert gm.face_found(reals).sum() >= 18
    rng = np.random.default_rng(0)
    non_faces = np.stack([np.full((128, 128, 3), 128, np.uint8), rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)])
    assert gm.face_found(non_faces).tolist() == [False, False]


def test_the_selection_spreads_over_the_list_and_takes_all_when_asked_for_more(utkface_data):
    names = gm.heldout_utkface_names(utkface_data)
    picked = gm.evenly_spaced(names, 5)
    assert picked[0] == names[0] and picked[-1] == names[-1] and len(set(picked)) == 5
    assert gm.evenly_spaced(names, len(names) + 10) == names
    with pytest.raises(ValueError):
        gm.evenly_spaced(names, 0)


def test_missing_data_is_a_clear_error(tmp_path):
    with pytest.raises(gm.MissingDataError, match="utkface_test.txt"):
        gm.heldout_utkface_names(tmp_path)


def test_ratio_and_verdict():
    reals = [True] * 20
    at_target = gm.detection_comparison([True] * 19 + [False], reals)  # 0.95 / 1.0
    assert at_target["ratio"] == pytest.approx(0.95) and at_target["passed"] and at_target["verdict"].startswith("PASS")
    below = gm.detection_comparison([True] * 18 + [False] * 2, reals)
    assert not below["passed"] and below["verdict"].startswith("FAIL")
    assert below["samples"] == {"n": 20, "detected": 18, "rate": 0.9} and below["reals"]["detected"] == 20
    truncated = gm.detection_comparison([True] * 20, reals, truncation=0.7)  # the target is stated at 1.0
    assert truncated["ratio"] == 1.0 and not truncated["passed"] and "NOT APPLICABLE" in truncated["verdict"]
    none_real = gm.detection_comparison([True], [False, False])
    assert none_real["ratio"] is None and not none_real["passed"] and "undefined" in none_real["verdict"]
    with pytest.raises(ValueError):
        gm.detection_comparison([], reals)


def test_sheet_layout_row_major_with_black_gaps():
    images = np.stack([np.full((4, 4, 3), 10 + i, np.uint8) for i in range(64)])
    sheet = gm.sample_sheet(images)
    assert sheet.shape == (8 * 4 + 7 * 2, 8 * 4 + 7 * 2, 3)
    assert (sheet[0:4, 0:4] == 10).all() and (sheet[0:4, 6:10] == 11).all() and (sheet[6:10, 0:4] == 18).all()
    assert (sheet[-4:, -4:] == 73).all() and not sheet[4:6].any() and not sheet[:, 4:6].any()
    with pytest.raises(ValueError):
        gm.sample_sheet(images.astype(np.float32))
    with pytest.raises(ValueError):
        gm.face_found(np.zeros((2, 8, 8), np.uint8))
