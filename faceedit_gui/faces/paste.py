"""Put an edited crop back into the full-resolution photo.

The crop is warped back with the inverse of its alignment and blended through a feathered
mask: the face region (convex hull of the jaw line, brows and a forehead band above the
brows), grown a little, optionally widened where the relevance maps say the edit reached
(hair, glasses), then faded linearly to exactly 0 over a feather band and at the crop's
edges. Colours are matched at the seam: the edited crop's per-channel mean and spread are
moved to the photo's, both measured (in crop space) in the feather ring where the two meet.

Guarantees: pixels where the photo-space mask is exactly 0 (everything outside the face
region, the ring and the widening) are byte-identical to the input; pasting face after face
into the returned photo edits several faces of one photo in turn.

Convention:
    Photos and crops uint8 RGB `[H, W, 3]`; masks float32 in [0, 1] (1 = take the edit);
    `mask_extra` is crop-space (any square size, resized), e.g. the relevance `1 - m_i` of
    the finest level. Pixel coordinates with pixel centres at integers.
"""

from __future__ import annotations

import cv2
import numpy as np

from faceedit_gui.faces.align import AlignedFace, apply_affine, crop_to_box, crop_to_photo, invert_affine, photo_to_crop_matrix, warp_affine
from faceedit_gui.faces.loading import Photo

_MIN_RING_PIXELS = 64
_GAIN_RANGE = (0.8, 1.25)
_STRIP_PIXELS = 4_000_000  # photo pixels blended per strip


def face_region_points(crop_landmarks: np.ndarray, forehead: float = 0.9) -> np.ndarray:
    """Polygon points covering the face, crop pixel coordinates `[N, 2]`: jaw (0-16), brows
    (17-26) and the brows lifted by `forehead` times the brow-to-nose-base distance."""
    lm = np.asarray(crop_landmarks, dtype=np.float64)
    eye_to_eye = lm[42:48].mean(axis=0) - lm[36:42].mean(axis=0)
    up = np.array([eye_to_eye[1], -eye_to_eye[0]]) / max(np.hypot(*eye_to_eye), 1e-9)
    brows = lm[17:27]
    height = np.hypot(*(brows.mean(axis=0) - lm[33])) * forehead
    return np.concatenate([lm[0:17], brows, brows + up * height])


def paste_mask(
    aligned: AlignedFace,
    size: int | None = None,
    mask_extra: np.ndarray | None = None,
    grow: float = 0.05,
    feather: float = 0.12,
    extra_threshold: float = 0.5,
) -> np.ndarray:
    """The blending mask in crop space, float32 `[size, size]` in [0, 1].

    `grow` and `feather` are fractions of the face size (square root of the face region's
    area): the mask is 1 within `grow` of the region, falls linearly to 0 over `feather`, and
    is exactly 0 beyond. `mask_extra` (float, crop space, 1 = edited) adds every pixel where
    it reaches `extra_threshold`.
    """
    size = int(size or aligned.size)
    lm = aligned.crop_landmarks.astype(np.float64) * (size / aligned.size) + 0.5 * (size / aligned.size) - 0.5
    region = np.zeros((size, size), np.uint8)
    hull = cv2.convexHull(np.round(face_region_points(lm) * 16).astype(np.int32))
    cv2.fillConvexPoly(region, hull, 1, lineType=cv2.LINE_8, shift=4)
    face_size = float(np.sqrt(max(region.sum(), 1)))
    if mask_extra is not None:
        extra = np.asarray(mask_extra, dtype=np.float32)
        if extra.ndim == 3:
            extra = extra.max(axis=2)
        if extra.ndim != 2:
            raise ValueError(f"mask_extra must be [h, w] (or [h, w, c]), got {extra.shape}")
        if extra.shape != (size, size):
            extra = cv2.resize(extra, (size, size), interpolation=cv2.INTER_LINEAR)
        region |= (extra >= extra_threshold).astype(np.uint8)
    dist = cv2.distanceTransform((1 - region).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    g, f = grow * face_size, max(feather * face_size, 1.0)
    mask = np.clip((g + f - dist) / f, 0.0, 1.0)
    # fade to exactly 0 at the crop's edges: nothing outside the crop square can be pasted
    ramp = np.clip((np.arange(size, dtype=np.float32) - 1.0) / max(0.5 * f, 1.0), 0.0, 1.0)
    edge = np.minimum(ramp, ramp[::-1])
    mask *= np.minimum(edge[:, None], edge[None, :])
    mask = mask * mask * (3.0 - 2.0 * mask)  # smoothstep: no visible kink at the seam
    return mask.astype(np.float32)


def paste_back(
    photo: Photo | np.ndarray,
    aligned: AlignedFace,
    edited_crop: np.ndarray,
    mask_extra: np.ndarray | None = None,
    reference_crop: np.ndarray | None = None,
    color_match: bool = True,
    grow: float = 0.05,
    feather: float = 0.12,
    extra_threshold: float = 0.5,
) -> np.ndarray:
    """The photo with `edited_crop` blended in at full resolution, a new uint8 `[H, W, 3]` array.

    Args:
        photo: the original photo (a `Photo`, or the array returned by an earlier paste).
        aligned: the alignment that produced the crop that was edited.
        edited_crop: uint8 `[s, s, 3]`, any s (it covers the same square as `aligned.crop`).
        mask_extra: crop-space float map of where the edit reached (1 = edited).
        reference_crop: the unedited reconstruction of the same crop. When given, only the
            edit (edited - reference) is added to the photo, which keeps the photo's own
            full-resolution detail; colour matching is then not needed and is skipped.
        color_match: match mean and spread of the edited crop to the photo in the seam ring.

    Memory: the photo is copied once; the face region is blended in strips of rows, so a
    60 MP photo with a face filling it needs well under 1 GB beside the photo.

    Example:
        >>> out = paste_back(photo, aligned, edited)              # one face
        >>> out = paste_back(out, aligned_2, edited_2)            # then the next one
    """
    base = photo.rgb if isinstance(photo, Photo) else np.asarray(photo)
    if base.dtype != np.uint8 or base.ndim != 3 or base.shape[2] != 3:
        raise ValueError(f"expected a uint8 [H, W, 3] photo, got {base.dtype} {base.shape}")
    if (base.shape[1], base.shape[0]) != tuple(aligned.photo_size):
        raise ValueError(f"photo is {base.shape[1]}x{base.shape[0]} but the face was aligned on {aligned.photo_size}")
    edited = np.asarray(edited_crop)
    if edited.dtype != np.uint8 or edited.ndim != 3 or edited.shape[2] != 3 or edited.shape[0] != edited.shape[1]:
        raise ValueError(f"edited_crop must be uint8 [s, s, 3], got {edited.dtype} {edited.shape}")
    size = edited.shape[0]
    mask_c = paste_mask(aligned, size, mask_extra, grow, feather, extra_threshold)
    if reference_crop is not None:
        ref = np.asarray(reference_crop)
        if ref.shape != edited.shape:
            raise ValueError(f"reference_crop {ref.shape} must match edited_crop {edited.shape}")
        source = edited.astype(np.float32) - ref.astype(np.float32)  # the edit alone
    else:
        source = edited.astype(np.float32)
        if color_match:
            source = _match_colours(source, base, aligned, mask_c)
    out = base.copy()
    ys, xs = np.nonzero(mask_c > 0)
    if len(ys) == 0:
        return out
    # the photo box that the mask's support covers, handled in strips of rows
    support = np.array([[xs.min() - 1, ys.min() - 1], [xs.max() + 1, ys.min() - 1], [xs.min() - 1, ys.max() + 1], [xs.max() + 1, ys.max() + 1]])
    corners = apply_affine(invert_affine(photo_to_crop_matrix(aligned, size)), support)
    h, w = base.shape[:2]
    x0, x1 = int(max(0, np.floor(corners[:, 0].min()) - 1)), int(min(w, np.ceil(corners[:, 0].max()) + 2))
    y0, y1 = int(max(0, np.floor(corners[:, 1].min()) - 1)), int(min(h, np.ceil(corners[:, 1].max()) + 2))
    rows = max(16, _STRIP_PIXELS // max(1, x1 - x0))
    for r0 in range(y0, y1, rows):
        box = (x0, r0, x1, min(y1, r0 + rows))
        mask = np.clip(crop_to_box(aligned, mask_c, box, "linear", antialias=True), 0.0, 1.0)
        sel = mask > 0.0
        if not sel.any():
            continue
        new = crop_to_box(aligned, source, box, "cubic", antialias=True)[sel]
        strip = out[box[1] : box[3], box[0] : box[2]]
        original = strip[sel].astype(np.float32)
        if reference_crop is not None:
            new = original + new
        m = mask[sel][:, None]
        strip[sel] = np.clip(np.rint(m * new + (1.0 - m) * original), 0, 255).astype(np.uint8)
    return out


def paste_mask_in_photo(aligned: AlignedFace, size: int | None = None, mask_extra: np.ndarray | None = None, **kw) -> np.ndarray:
    """The blending mask `paste_back` uses, in photo space: float32 `[H, W]` (0 outside the crop)."""
    w, h = aligned.photo_size
    full = np.zeros((h, w), np.float32)
    (x0, y0, x1, y1), mask = crop_to_photo(aligned, paste_mask(aligned, size, mask_extra, **kw), "linear", antialias=True)
    full[y0:y1, x0:x1] = np.clip(mask, 0.0, 1.0)
    return full


def _match_colours(source: np.ndarray, base: np.ndarray, aligned: AlignedFace, mask_c: np.ndarray) -> np.ndarray:
    """Shift and scale each channel of the crop-space `source` so that, in the seam ring (crop
    pixels where the mask is between 0.02 and 0.6, and inside the photo), its mean and spread
    match the photo's, the photo being resampled into the same crop space."""
    size = source.shape[0]
    matrix = photo_to_crop_matrix(aligned, size)
    photo_c = warp_affine(base, matrix, (size, size), "cubic", "constant", antialias=True, as_float=True)
    ring = (mask_c > 0.02) & (mask_c < 0.6)
    # only crop pixels that come from inside the photo (not its mirrored border)
    grid = np.stack(np.meshgrid(np.arange(size), np.arange(size)), axis=-1)[ring].astype(np.float64)
    p = apply_affine(invert_affine(matrix), grid)
    h, w = base.shape[:2]
    inside = (p[:, 0] >= 0) & (p[:, 0] <= w - 1) & (p[:, 1] >= 0) & (p[:, 1] <= h - 1)
    if inside.sum() < _MIN_RING_PIXELS:
        return source
    a, b = source[ring][inside], photo_c[ring][inside]  # [N, 3]
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    sd_a, sd_b = a.std(axis=0), b.std(axis=0)
    gain = np.clip(sd_b / np.maximum(sd_a, 1.0), *_GAIN_RANGE)
    return (source - mu_a) * gain + mu_b
