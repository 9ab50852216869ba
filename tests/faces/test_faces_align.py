"""align_face: the FFHQ recipe, the template framing, exact invertibility, the round trip."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from faceedit_gui.faces import Face, Framing, align_face, crop_to_photo, detect_faces, ffhq_framing, load_photo, photo_from_array
from faceedit_gui.faces.align import alignment_matrix, apply_affine, compose_affine, invert_affine, similarity_lstsq, warp_affine
from faceedit_gui.faces.framing import FIT_POINTS, ffhq_quad, load_framing

PHOTOS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "photos"
pytestmark = pytest.mark.skipif(not PHOTOS.is_dir(), reason="../shared/data/photos is not here")


@pytest.fixture(scope="module")
def ffhq_faces():
    out = []
    for path in sorted((PHOTOS / "ffhq").glob("*.png")):
        photo = load_photo(path)
        out.append((photo, detect_faces(photo)[0]))
    return out


def _face_mask(face: Face, shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(face.landmarks).astype(np.int32)), 1)
    return mask.astype(bool)


def test_ffhq_recipe_reproduces_the_ffhq_crops(ffhq_faces):
    """FFHQ images are themselves crops by this recipe: re-aligning one at its own size is
    (nearly) the identity, up to the difference between our landmarks and the original ones."""
    near_identity = 0
    for photo, face in ffhq_faces:
        m = alignment_matrix(face.landmarks, ffhq_framing(photo.width))
        scale = np.sqrt(abs(np.linalg.det(m[:, :2])))
        angle = np.degrees(np.arctan2(m[1, 0], m[0, 0]))
        if abs(scale - 1) < 0.03 and abs(angle) < 1.5 and np.abs(m[:, 2]).max() < 0.025 * photo.width:
            near_identity += 1
    assert near_identity >= 8, f"only {near_identity} of 10 FFHQ images re-align to about the identity"


def test_ffhq_quad_geometry():
    lm = np.zeros((68, 2))
    lm[36:42] = (40, 50)  # left eye
    lm[42:48] = (80, 50)  # right eye
    lm[48], lm[54] = (45, 100), (75, 100)  # mouth corners
    q = ffhq_quad(lm)
    # level eyes: an axis-aligned square, x half-side = max(2 * 40, 1.8 * 50) = 90, centre 10 % towards the mouth
    assert np.allclose(q, [[-30, -35], [-30, 145], [150, 145], [150, -35]])
    m = alignment_matrix(lm, ffhq_framing(180))
    assert np.allclose(apply_affine(m, q), [[-0.5, -0.5], [-0.5, 179.5], [179.5, 179.5], [179.5, -0.5]])


def test_transform_is_exactly_invertible(ffhq_faces):
    photo, face = ffhq_faces[3]
    aligned = align_face(photo, face, ffhq_framing(), size=1024)
    assert aligned.matrix.dtype == np.float64 and aligned.inverse.dtype == np.float64
    eye = compose_affine(aligned.inverse, aligned.matrix)
    assert np.abs(eye - np.eye(2, 3)).max() < 1e-12
    pts = np.random.default_rng(0).uniform(0, 256, (50, 2))
    assert np.abs(aligned.to_photo(aligned.to_crop(pts)) - pts).max() < 1e-9
    assert np.abs(aligned.crop_landmarks - apply_affine(aligned.matrix, face.landmarks)).max() < 1e-3


@pytest.mark.parametrize("name", ["ffhq/00000.png", "ffhq/00004.png", "hfgi/00044.jpg", "hfgi/00511.jpg"])
def test_align_then_inverse_align_returns_the_photo_inside_the_face(name):
    photo = load_photo(PHOTOS / name)
    face = detect_faces(photo)[0]
    inside_full = _face_mask(face, photo.rgb.shape[:2])
    # float crop (what a network takes), about 4x oversampled: back within 1 grey level
    aligned = align_face(photo, face, ffhq_framing(), size=1024, as_float=True)
    assert aligned.crop.shape == (1024, 1024, 3) and aligned.crop.dtype == np.float32
    (x0, y0, x1, y1), back = crop_to_photo(aligned, aligned.crop, interpolation="lanczos")
    inside = inside_full[y0:y1, x0:x1]
    assert inside.sum() > 5000
    diff = np.abs(np.rint(back) - photo.rgb[y0:y1, x0:x1]).max(axis=2)[inside]
    assert diff.max() <= 1, f"max {diff.max()} grey levels"
    # uint8 crop: its rounding costs a little on sharp edges
    aligned8 = align_face(photo, face, ffhq_framing(), size=1024)
    assert aligned8.crop.dtype == np.uint8
    (x0, y0, x1, y1), back8 = crop_to_photo(aligned8, aligned8.crop)
    diff8 = np.abs(back8.astype(int) - photo.rgb[y0:y1, x0:x1].astype(int)).max(axis=2)[inside_full[y0:y1, x0:x1]]
    assert np.mean(diff8 <= 1) > 0.995 and diff8.max() <= 4


def test_template_framing_maps_the_template_onto_itself():
    t = np.random.default_rng(1).uniform(0.2, 0.8, (68, 2))
    framing = Framing(kind="template", size=64, template=tuple(map(tuple, t)))
    # a face whose landmarks are the template turned by 20 degrees, scaled by 3 and moved
    a = np.radians(20)
    rot = 3 * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    photo_pts = (t * 64 - 0.5) @ rot.T + (300, 120)
    m = alignment_matrix(photo_pts, framing)
    assert np.abs(apply_affine(m, photo_pts) - (t * 64 - 0.5)).max() < 1e-9
    assert np.sqrt(abs(np.linalg.det(m[:, :2]))) == pytest.approx(1 / 3)


def test_similarity_fit_recovers_a_known_similarity():
    rng = np.random.default_rng(2)
    src = rng.normal(size=(20, 2)) * 50
    true = np.array([[0.8, -0.6, 10.0], [0.6, 0.8, -4.0]]) * np.array([[2.0], [2.0]])
    true[:, 2] = (10.0, -4.0)
    assert np.allclose(similarity_lstsq(src, apply_affine(true, src)), true)


def test_template_alignment_of_a_real_photo(tmp_path):
    """A template framing from a bundle card (model.json) aligns a real photo: the crop's
    landmarks land near the template."""
    photo = load_photo(PHOTOS / "celebahq" / "female_030321.jpg")
    face = detect_faces(photo)[0]
    # the template: this face's own FFHQ-crop landmarks, normalised (a stand-in for a measured one)
    ref = align_face(photo, face, ffhq_framing(), size=256).crop_landmarks
    card = tmp_path / "model.json"
    card.write_text(
        '{"resolution": 128, "framing": {"kind": "template", "template": %s}}'
        % (((ref.astype(np.float64) + 0.5) / 256).tolist(),)
    )
    framing = load_framing(card)
    assert framing.kind == "template" and framing.size == 128 and framing.fit_points == FIT_POINTS
    aligned = align_face(photo, face, framing)
    assert aligned.crop.shape == (128, 128, 3)
    target = framing.template_array() * 128 - 0.5
    assert np.abs(aligned.crop_landmarks - target).max() < 0.5


def test_big_photo_aligns_from_its_region_only():
    photo = load_photo(PHOTOS / "wild" / "img49.jpg")  # 4352 x 2903
    face = detect_faces(photo)[0]
    aligned = align_face(photo, face, ffhq_framing(), size=256)
    assert aligned.scale < 0.3  # a big face: area-averaged before the warp
    # compare with a plain full-image resize-then-warp: the area pre-reduction agrees closely
    small = cv2.resize(photo.rgb, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
    to_small = np.array([[0.25, 0, 0.25 * 0.5 - 0.5], [0, 0.25, 0.25 * 0.5 - 0.5]])
    via_small = cv2.warpAffine(small, compose_affine(aligned.matrix, invert_affine(to_small)), (256, 256), flags=cv2.INTER_CUBIC)
    assert np.abs(via_small.astype(int) - aligned.crop.astype(int)).mean() < 4


def test_border_modes_outside_the_photo():
    rgb = np.full((120, 100, 3), 200, np.uint8)
    lm = np.zeros((68, 2), np.float32)
    lm[36:42], lm[42:48], lm[48], lm[54] = (5, 40), (45, 40), (10, 80), (40, 80)  # a face at the left edge
    face = Face(box=(0, 20, 50, 100), landmarks=lm, score=1.0, detector="given")
    photo = photo_from_array(rgb)
    constant = align_face(photo, face, ffhq_framing(), size=64, border="constant").crop
    reflect = align_face(photo, face, ffhq_framing(), size=64, border="reflect").crop
    assert constant[:, 0].max() == 0  # left of the photo: black
    assert (reflect == 200).all()  # mirrored photo


def test_warp_affine_rejects_nothing_and_keeps_dtype():
    img = np.random.default_rng(3).random((40, 30)).astype(np.float32)
    out = warp_affine(img, np.array([[1.0, 0, 2], [0, 1.0, 3]]), (30, 40), "linear", "constant")
    assert out.dtype == np.float32 and out.shape == (40, 30)
    assert np.allclose(out[3:, 2:], img[:-3, :-2])
