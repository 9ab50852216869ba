"""`faceedit prepare-data` end to end on a few real UTKFace images, and parallel detection."""

from __future__ import annotations

import json

import numpy as np
import pytest

from faceedit_gui.cli.main import main as cli_main
from faceedit_gui.faces.prepare import DETECT_SETTINGS, detect_landmarks
from faceedit_gui.faces.sources import records


def test_detection_in_worker_processes_equals_one_process(utkface_data, tmp_path):
    recs = records("utkface", utkface_data)[:24]
    one = detect_landmarks(recs, tmp_path / "one.npz", DETECT_SETTINGS["utkface"], lambda _: None, every=10)
    two = detect_landmarks(recs, tmp_path / "two.npz", DETECT_SETTINGS["utkface"], lambda _: None, every=10, jobs=2)
    assert one.names == two.names == [r.name for r in recs]
    assert one.ok().sum() >= 20  # dlib finds nearly every UTKFace face
    np.testing.assert_array_equal(one.landmarks, two.landmarks)
    np.testing.assert_array_equal(one.boxes, two.boxes)
    assert one.reasons == two.reasons and one.detector == two.detector
    # the cache resumes: asking again for more images detects only the new ones
    more = records("utkface", utkface_data)[:30]
    logs: list[str] = []
    resumed = detect_landmarks(more, tmp_path / "two.npz", DETECT_SETTINGS["utkface"], logs.append, every=10, jobs=2)
    assert any("resuming after 24" in line for line in logs)
    assert resumed.names == [r.name for r in more] and len(resumed.landmarks) == 30
    np.testing.assert_array_equal(resumed.landmarks[:24], one.landmarks)


def test_prepare_data_command_packs_aligned_shards(utkface_data, tmp_path):
    out = tmp_path / "aligned"
    rc = cli_main(["prepare-data", "--data", str(utkface_data), "--out", str(out), "--datasets", "utkface",
                   "--sizes", "64", "--limit", "16", "--jobs", "2"])  # fmt: skip
    assert rc == 0
    report = json.loads((out / "report.json").read_text())
    d = report["datasets"]["utkface"]
    aligned = sum(d["aligned"].values())
    assert d["images"] == 16 and aligned + d["failed"] == 16 and aligned >= 14
    index = json.loads((out / "utkface_64" / "index.json").read_text())
    assert index["size"] == 64 and index["shards"]
    assert cli_main(["prepare-data", "--data", str(tmp_path / "nothing"), "--out", str(out), "--limit", "1"]) == 2
