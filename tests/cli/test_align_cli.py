"""`faceedit align`: PNG + JSON per face, missing faces listed on stderr, the run goes on."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceedit_gui.cli.main import main

PHOTOS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "photos"
pytestmark = pytest.mark.skipif(not PHOTOS.is_dir(), reason="../shared/data/photos is not here")


def test_align_writes_png_and_json_and_lists_missing_faces(tmp_path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(PHOTOS / "wild" / "couple.jpg", inputs / "couple.jpg")
    shutil.copy(PHOTOS / "ffhq" / "00003.png", inputs / "portrait.png")
    Image.fromarray(np.full((200, 300, 3), 90, np.uint8)).save(inputs / "wall.png")
    (inputs / "notes.jpg").write_text("not a photo")
    out = tmp_path / "out"
    photos = [inputs / n for n in ("couple.jpg", "wall.png", "notes.jpg", "portrait.png")]

    status = main(["align", *map(str, photos), "-o", str(out), "--framing", "ffhq", "--size", "128"])

    assert status == 1  # some photos gave no crop, the others were still aligned
    err = capsys.readouterr().err
    assert "wall.png" in err and "no face" in err
    assert "notes.jpg" in err and "text file" in err
    written = sorted(p.name for p in out.iterdir())
    assert written == ["align_run.json", "couple_0.json", "couple_0.png", "couple_1.json", "couple_1.png",
                       "portrait_0.json", "portrait_0.png"]  # fmt: skip
    crop = np.asarray(Image.open(out / "couple_0.png"))
    assert crop.shape == (128, 128, 3)
    record = json.loads((out / "couple_0.json").read_text())
    assert record["faces_in_photo"] == 2 and record["face_index"] == 0
    assert len(record["face"]["landmarks"]) == 68 and len(record["face"]["box"]) == 4
    m = np.array(record["matrix_photo_to_crop"])
    inv = np.array(record["matrix_crop_to_photo"])
    assert np.allclose(m[:, :2] @ inv[:, :2], np.eye(2), atol=1e-9)
    assert record["framing"]["kind"] == "ffhq" and record["size"] == 128
    # the larger face comes first
    other = json.loads((out / "couple_1.json").read_text())
    box0, box1 = record["face"]["box"], other["face"]["box"]
    assert (box0[2] - box0[0]) >= (box1[2] - box1[0])
    run = json.loads((out / "align_run.json").read_text())
    assert run["crops"] == 3 and run["failed"] == 2


def test_bundle_framing_without_a_bundle_says_so(tmp_path, capsys):
    status = main(["align", str(PHOTOS / "ffhq" / "00000.png"), "-o", str(tmp_path), "--bundle", str(tmp_path / "nowhere")])
    assert status == 2
    err = capsys.readouterr().err
    assert "no model bundle" in err and "--framing ffhq" in err


def test_bundle_framing_from_a_model_card(tmp_path):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    template = (np.array(json.loads(_ffhq_landmarks_json())) + 0.5) / 256
    (bundle / "model.json").write_text(json.dumps({"resolution": 64, "framing": {"kind": "template", "template": template.tolist()}}))
    out = tmp_path / "out"
    status = main(["align", str(PHOTOS / "hfgi" / "00044.jpg"), "-o", str(out), "--framing", "bundle", "--bundle", str(bundle)])
    assert status == 0
    assert np.asarray(Image.open(out / "00044_0.png")).shape == (64, 64, 3)
    assert json.loads((out / "00044_0.json").read_text())["framing"]["kind"] == "template"


def _ffhq_landmarks_json() -> str:
    """Crop landmarks of one FFHQ-aligned 256 photo: a plausible template for the test bundle."""
    from faceedit_gui.faces import align_face, detect_faces, ffhq_framing, load_photo

    photo = load_photo(PHOTOS / "ffhq" / "00000.png")
    aligned = align_face(photo, detect_faces(photo)[0], ffhq_framing(), size=256)
    return json.dumps(aligned.crop_landmarks.astype(float).tolist())
