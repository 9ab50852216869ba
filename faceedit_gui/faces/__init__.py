"""Photos in, aligned crops out, edited crops back in: loading, detection, landmarks,
alignment to a model's framing, paste back. No Qt here (see DESIGN.md, "faces/").

    photo = load_photo("group.jpg")                     # 8-bit RGB, EXIF orientation applied
    faces = detect_faces(photo)                          # largest first, 68 landmarks each
    aligned = align_face(photo, faces[0], ffhq_framing(1024))
    out = paste_back(photo, aligned, edited_crop)        # full resolution, outside untouched
"""

from faceedit_gui.faces.align import AlignedFace, align_face, alignment_matrix, crop_to_photo, invert_affine, warp_affine
from faceedit_gui.faces.detection import (
    Face,
    LandmarkBackendWarning,
    NoFaceError,
    detect_faces,
    landmark_backend_status,
    landmarks_for_box,
    no_face_message,
    pick_face,
)
from faceedit_gui.faces.framing import UTKFACE_TEMPLATE_PATH, Framing, ffhq_framing, load_framing, save_framing
from faceedit_gui.faces.loading import MAX_PIXELS, Photo, PhotoError, load_photo, photo_from_array, save_image
from faceedit_gui.faces.paste import paste_back, paste_mask, paste_mask_in_photo

__all__ = [
    "AlignedFace", "Face", "Framing", "LandmarkBackendWarning", "MAX_PIXELS", "NoFaceError", "Photo", "PhotoError",
    "UTKFACE_TEMPLATE_PATH", "align_face", "alignment_matrix", "crop_to_photo", "detect_faces", "ffhq_framing",
    "invert_affine", "landmark_backend_status", "landmarks_for_box", "load_framing", "load_photo", "no_face_message",
    "paste_back", "paste_mask", "paste_mask_in_photo", "photo_from_array", "pick_face", "save_framing", "save_image",
    "warp_affine",
]  # fmt: skip
