"""detect_faces with the real dlib models on the real photos in ../shared/data/photos."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from faceedit_gui.faces import (
    Face,
    LandmarkBackendWarning,
    NoFaceError,
    detect_faces,
    landmark_backend_status,
    landmarks_for_box,
    load_photo,
    photo_from_array,
    pick_face,
)

PHOTOS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "photos"
ALIGNED_SETS = ("ffhq", "celebahq", "hfgi")
pytestmark = pytest.mark.skipif(not PHOTOS.is_dir(), reason="../shared/data/photos is not here")


def _aligned_photos() -> list[Path]:
    return sorted(p for d in ALIGNED_SETS for p in (PHOTOS / d).glob("*") if p.suffix in (".png", ".jpg"))


def _assert_plausible(face: Face, size: tuple[int, int]) -> None:
    w, h = size
    lm = face.landmarks
    assert lm.dtype == np.float32 and lm.shape == (68, 2)
    # eyes above the nose tip above the mouth, left eye left of the right eye
    assert lm[36:42, 1].mean() < lm[30, 1] < lm[48:68, 1].mean()
    assert lm[36:42, 0].mean() < lm[42:48, 0].mean()
    x0, y0, x1, y1 = face.box
    assert -0.1 * w < x0 < x1 < 1.1 * w and -0.1 * h < y0 < y1 < 1.1 * h
    assert face.score > 0


# hard cases on purpose: sunglasses, a hand over the face, theatrical make-up, a second face
@pytest.mark.parametrize(
    "name",
    ["ffhq/00000.png", "ffhq/00008.png", "celebahq/male_189498.jpg", "celebahq/female_015248.jpg",
     "hfgi/00247.jpg", "hfgi/00085.jpg", "hfgi/00467.jpg", "hfgi/00705.jpg"],
)  # fmt: skip
def test_finds_the_face_in_aligned_photos(name):
    photo = load_photo(PHOTOS / name)
    faces = detect_faces(photo)
    assert faces, f"no face in {name}"
    _assert_plausible(faces[0], photo.size)
    # an aligned crop centres its face: the largest face's centre is in the middle third
    cx, cy = faces[0].landmarks[:, 0].mean() / photo.width, faces[0].landmarks[:, 1].mean() / photo.height
    assert 1 / 3 < cx < 2 / 3 and 1 / 3 < cy < 2 / 3


@pytest.mark.slow  # ~10 s alone, 30 s on a busy 2-core machine
def test_detection_rate_on_every_aligned_photo():
    photos = _aligned_photos()
    assert len(photos) == 78
    missed = [p.name for p in photos if not detect_faces(load_photo(p))]
    assert missed == [], f"{len(missed)} of {len(photos)} aligned photos without a face: {missed}"


def test_multi_face_photo_returns_every_face_largest_first():
    photo = load_photo(PHOTOS / "wild" / "couple.jpg")
    faces = detect_faces(photo)
    assert len(faces) == 2
    assert faces[0].area >= faces[1].area
    for f in faces:
        _assert_plausible(f, photo.size)
    assert pick_face(faces) is faces[0]
    assert pick_face(faces, index=1) is faces[1]
    with pytest.raises(NoFaceError, match="only 2 face"):
        pick_face(faces, photo, index=2)


def test_big_photo_is_detected_on_a_downscaled_copy_with_full_resolution_landmarks():
    photo = load_photo(PHOTOS / "wild" / "img40.jpg")  # 3061 x 4600
    faces = detect_faces(photo, max_side=800)
    assert len(faces) == 1
    face = faces[0]
    _assert_plausible(face, photo.size)
    assert face.width > 800  # the box is in full-resolution photo pixels
    # landmarks predicted on a copy at another scale agree to about 1 % of the face size
    other = detect_faces(photo, max_side=1200)[0]
    assert np.abs(other.landmarks - face.landmarks).mean() < 0.01 * face.width


def test_no_face_gives_a_specific_message():
    blank = photo_from_array(np.full((240, 320, 3), 128, np.uint8), path="wall.png")
    faces = detect_faces(blank)
    assert faces == []
    with pytest.raises(NoFaceError) as e:
        pick_face(faces, blank)
    message = str(e.value)
    assert "wall.png" in message and "no face found" in message and "320x240" in message


def test_landmarks_for_a_given_box_match_detection():
    photo = load_photo(PHOTOS / "ffhq" / "00001.png")
    face = detect_faces(photo)[0]
    again = landmarks_for_box(photo, face.box)
    assert again.detector == "given"
    assert np.abs(again.landmarks - face.landmarks).max() < 1.0


def test_face_alignment_backend_falls_back_to_dlib_with_a_reason():
    usable, reason = landmark_backend_status("face_alignment")
    photo = load_photo(PHOTOS / "ffhq" / "00002.png")
    if usable:
        pytest.skip("face-alignment and its weights are installed here")
    assert "face-alignment" in reason
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        faces = detect_faces(photo, backend="face_alignment")
    assert faces and faces[0].landmark_model == "dlib-68"
    assert any(issubclass(w.category, LandmarkBackendWarning) and "using dlib" in str(w.message) for w in caught)


def test_bad_arguments():
    photo = photo_from_array(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="landmark backend"):
        detect_faces(photo, backend="mediapipe")
    with pytest.raises(ValueError, match="detector"):
        detect_faces(photo, detector="yolo")


def test_face_round_trips_through_json_dict():
    face = detect_faces(load_photo(PHOTOS / "hfgi" / "00044.jpg"))[0]
    again = Face.from_dict(face.to_dict())
    assert np.abs(again.landmarks - face.landmarks).max() < 1e-3
    assert again.box == pytest.approx(face.box, abs=1e-3)
