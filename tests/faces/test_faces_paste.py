"""paste_back: the edit goes in at full resolution, everything outside the mask stays byte-identical."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from faceedit_gui.faces import align_face, detect_faces, ffhq_framing, load_photo, paste_back, paste_mask, paste_mask_in_photo
from faceedit_gui.faces.framing import Framing

PHOTOS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "photos"
pytestmark = pytest.mark.skipif(not PHOTOS.is_dir(), reason="../shared/data/photos is not here")


@pytest.fixture(scope="module")
def couple():
    photo = load_photo(PHOTOS / "wild" / "couple.jpg")  # 2280 x 1588, two faces
    faces = detect_faces(photo)
    assert len(faces) == 2
    return photo, [align_face(photo, f, ffhq_framing(), size=256) for f in faces]


def _edit_mouth(aligned) -> np.ndarray:
    """A local edit: a dark band over the mouth (what a 'smile' slider would touch)."""
    edited = aligned.crop.copy()
    lm = aligned.crop_landmarks
    x0, y0 = np.floor(lm[48:68].min(axis=0)).astype(int)
    x1, y1 = np.ceil(lm[48:68].max(axis=0)).astype(int)
    edited[y0:y1, x0:x1] //= 3
    return edited


def test_outside_the_mask_is_byte_identical(couple):
    photo, aligned = couple
    out = paste_back(photo, aligned[0], _edit_mouth(aligned[0]))
    assert out.dtype == np.uint8 and out.shape == photo.rgb.shape
    mask = paste_mask_in_photo(aligned[0])
    assert np.array_equal(out[mask == 0], photo.rgb[mask == 0])
    assert (mask == 0).mean() > 0.7  # most of the photo is outside
    changed = np.any(out != photo.rgb, axis=2)
    assert changed.sum() > 1000 and mask[changed].min() > 0  # the edit arrived, only inside the mask
    x0, y0, x1, y1 = aligned[0].footprint()
    outside = np.ones(changed.shape, bool)
    outside[y0:y1, x0:x1] = False
    assert not changed[outside].any()  # nothing at all outside the crop's footprint


def test_the_edit_lands_at_the_mouth(couple):
    photo, aligned = couple
    out = paste_back(photo, aligned[0], _edit_mouth(aligned[0]))
    lm = aligned[0].face.landmarks
    mouth = np.round(lm[48:68].mean(axis=0)).astype(int)
    before, after = photo.rgb[mouth[1], mouth[0]].astype(int), out[mouth[1], mouth[0]].astype(int)
    assert (after < before - 20).all()


def test_unchanged_crop_changes_the_photo_only_slightly(couple):
    photo, aligned = couple
    out = paste_back(photo, aligned[1], aligned[1].crop)
    mask = paste_mask_in_photo(aligned[1])
    inside = mask > 0
    diff = (out.astype(int) - photo.rgb.astype(int))[inside]
    # a 256 crop of a ~700 px face is softer (texture differs a little), but neither shifted nor recoloured
    assert np.abs(diff).mean() < 5
    assert np.abs(diff.mean(axis=0)).max() < 1.0


def test_residual_mode_keeps_the_photo_exactly_when_nothing_was_edited(couple):
    photo, aligned = couple
    out = paste_back(photo, aligned[0], aligned[0].crop, reference_crop=aligned[0].crop)
    assert np.array_equal(out, photo.rgb)
    edited = _edit_mouth(aligned[0])
    out = paste_back(photo, aligned[0], edited, reference_crop=aligned[0].crop)
    mask = paste_mask_in_photo(aligned[0])
    assert np.array_equal(out[mask == 0], photo.rgb[mask == 0])
    assert (out != photo.rgb).any()


def test_two_faces_in_turn(couple):
    photo, aligned = couple
    first = paste_back(photo, aligned[0], _edit_mouth(aligned[0]))
    both = paste_back(first, aligned[1], _edit_mouth(aligned[1]))
    m0, m1 = paste_mask_in_photo(aligned[0]), paste_mask_in_photo(aligned[1])
    untouched = (m0 == 0) & (m1 == 0)
    assert np.array_equal(both[untouched], photo.rgb[untouched])
    only0 = (m0 > 0) & (m1 == 0)
    assert np.array_equal(both[only0], first[only0])  # the second paste left the first face alone
    for a in aligned:
        mouth = np.round(a.face.landmarks[48:68].mean(axis=0)).astype(int)
        assert (both[mouth[1], mouth[0]].astype(int) < photo.rgb[mouth[1], mouth[0]].astype(int) - 20).all()


def test_relevance_widens_the_mask(couple):
    _, aligned = couple
    base = paste_mask(aligned[0])
    hair = np.zeros((64, 64), np.float32)  # any resolution: the relevance of a coarse level
    hair[:12, 16:48] = 0.9  # the edit reached the top of the head
    wide = paste_mask(aligned[0], mask_extra=hair)
    assert wide.shape == base.shape == (256, 256) and wide.dtype == np.float32
    assert (wide >= base - 1e-6).all()
    assert wide[10:40, 80:180].mean() > base[10:40, 80:180].mean() + 0.3
    weak = np.full((64, 64), 0.2, np.float32)  # below the threshold everywhere: no widening
    assert np.array_equal(paste_mask(aligned[0], mask_extra=weak), base)


def test_mask_is_zero_at_the_crop_edges_and_one_on_the_face(couple):
    _, aligned = couple
    mask = paste_mask(aligned[0])
    assert mask[0].max() == 0 and mask[-1].max() == 0 and mask[:, 0].max() == 0 and mask[:, -1].max() == 0
    nose = np.round(aligned[0].crop_landmarks[30]).astype(int)
    assert mask[nose[1], nose[0]] == 1.0


def test_colour_is_matched_at_the_seam(couple):
    photo, aligned = couple
    shifted = np.clip(aligned[0].crop.astype(int) + (30, -10, 20), 0, 255).astype(np.uint8)  # a colour cast
    plain = paste_back(photo, aligned[0], shifted, color_match=False)
    matched = paste_back(photo, aligned[0], shifted)
    mask = paste_mask_in_photo(aligned[0])
    ring = (mask > 0.02) & (mask < 0.6)
    err_plain = np.abs(plain[ring].astype(float).mean(axis=0) - photo.rgb[ring].mean(axis=0)).max()
    err_matched = np.abs(matched[ring].astype(float).mean(axis=0) - photo.rgb[ring].mean(axis=0)).max()
    assert err_plain > 5 and err_matched < 1.5


def test_edited_crop_of_another_resolution(couple):
    photo, aligned = couple
    edited = cv2.resize(_edit_mouth(aligned[0]), (512, 512), interpolation=cv2.INTER_CUBIC)
    out = paste_back(photo, aligned[0], edited)
    mask = paste_mask_in_photo(aligned[0], size=512)
    assert np.array_equal(out[mask == 0], photo.rgb[mask == 0])


def test_template_framing_paste(couple):
    photo, aligned = couple
    t = (aligned[0].crop_landmarks.astype(np.float64) + 0.5) / 256
    framing = Framing(kind="template", size=128, template=tuple(map(tuple, t)))
    a = align_face(photo, aligned[0].face, framing)
    out = paste_back(photo, a, _edit_mouth(a))
    mask = paste_mask_in_photo(a)
    assert np.array_equal(out[mask == 0], photo.rgb[mask == 0])


def test_wrong_inputs(couple):
    photo, aligned = couple
    with pytest.raises(ValueError, match="aligned on"):
        paste_back(photo.rgb[:100], aligned[0], aligned[0].crop)
    with pytest.raises(ValueError, match="edited_crop"):
        paste_back(photo, aligned[0], aligned[0].crop.astype(np.float32))


@pytest.mark.slow  # writes and decodes a 60 MP JPEG: ~10 s
def test_60_megapixel_photo_end_to_end_in_bounded_memory(tmp_path):
    """Load, detect, align and paste back on a 60 MP photo in a fresh process; its peak
    memory stays far below what whole-photo float copies would need (60 MP x 12 B = 720 MB each)."""
    import json
    import subprocess
    import sys

    small = cv2.imread(str(PHOTOS / "wild" / "img40.jpg"))
    big = cv2.resize(small, (6324, 9504), interpolation=cv2.INTER_LINEAR)  # 60.1 MP
    cv2.imwrite(str(tmp_path / "big.jpg"), big, [cv2.IMWRITE_JPEG_QUALITY, 85])
    del small, big
    script = """
import json, resource, sys, time
from faceedit_gui.faces import align_face, detect_faces, ffhq_framing, load_photo, paste_back
t = time.perf_counter(); photo = load_photo(sys.argv[1]); load = time.perf_counter() - t
faces = detect_faces(photo)
aligned = align_face(photo, faces[0], ffhq_framing(), size=1024)
out = paste_back(photo, aligned, aligned.crop)
print(json.dumps({"size": photo.size, "faces": len(faces), "load_s": load, "changed": int((out != photo.rgb).any(axis=2).sum()),
                  "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "big.jpg")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["size"] == [6324, 9504] and result["faces"] == 1
    assert result["changed"] > 1_000_000  # the face is huge: the paste really covered it
    assert result["maxrss_mib"] < 1500, result
