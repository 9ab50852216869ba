"""One photo being edited: detection, alignment, inversion, and the per-photo cache.

`EditSession` keeps everything the sliders do not change (the alignment, `w_p`, the
encoder pyramid `f_enc`, the reconstruction features `Q_i`), so a slider change runs
only the style pass, `A`, `H` and the fused pass (DESIGN.md §1.6, §5).
`render(sliders)` returns plain data (`RenderResult`): uint8 images, float32 masks,
timings and an `error` string; it never raises for a bad request.

Convention: images handed out are numpy uint8 `[H, W, 3]` RGB; masks float32 `[H, W]`
in [0, 1] at the crop's resolution (1 = content kept, 0 = edited by style).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Mapping

import numpy as np
import torch
import torch.nn.functional as F

from faceedit_gui.checkpoints.bundle import Bundle
from faceedit_gui.conventions import tensor_to_uint8, uint8_to_tensor
from faceedit_gui.faces.align import AlignedFace, align_face
from faceedit_gui.faces.detection import Face, detect_faces, pick_face
from faceedit_gui.faces.framing import Framing
from faceedit_gui.faces.loading import Photo
from faceedit_gui.faces.paste import paste_back
from faceedit_gui.engine.runtime import INFERENCE_FUSED, set_modconv_fused
from faceedit_gui.networks.fusion import check_compatible, content_inputs, fused_edit, reconstruction_features


@dataclasses.dataclass(frozen=True)
class RenderResult:
    refined: np.ndarray | None  # uint8 [R, R, 3]: x_refine (the product's output)
    style: np.ndarray | None  # uint8 [R, R, 3]: x_edit, the style branch alone
    masks: dict[str, np.ndarray]  # level name -> float32 [H_i, W_i] relevance m_i
    photo: np.ndarray | None  # uint8 [H, W, 3]: the full photo with the edit pasted back
    timings: dict[str, float]  # stage -> milliseconds
    sliders: dict[str, float]  # the request this answers
    error: str = ""  # empty when it worked

    @property
    def ok(self) -> bool:
        return not self.error


class EditSession:
    """A photo, one chosen face, and its inversion into the bundle's model."""

    content: list[torch.Tensor] | None = None  # A_i's slider-independent inputs (fusion.content_inputs)
    preview_drop = 1  # levels the preview stops early (1: half resolution); benchmarks/slider.py

    def __init__(self, bundle: Bundle, photo: Photo, faces: list[Face] | None = None, face_index: int = 0):
        self.bundle = bundle
        self.photo = photo
        self.generator = bundle["generator"]
        self.device = next(self.generator.parameters()).device  # the bundle's (load_bundle(..., device=))
        set_modconv_fused(self.generator, INFERENCE_FUSED)  # the faster equivalent path at batch 1
        self.encoder = bundle["encoder"]
        self.editor = bundle["editor"] if "editor" in bundle else None
        if self.editor is not None:
            check_compatible(self.generator, self.editor)
        self.framing = Framing.from_dict(bundle.card.framing) if bundle.card.framing else None
        self.attribute_names = [a.name for a in bundle.card.attributes]
        self.direction_names = list(bundle.directions)
        self.faces = faces if faces is not None else detect_faces(photo)
        self.timings: dict[str, float] = {}
        self.select_face(face_index)

    # ---------------------------------------------------------------- per-photo cache

    @torch.inference_mode()
    def select_face(self, index: int) -> None:
        """Align and invert face `index` (0 = the largest); refills the cache."""
        t0 = time.perf_counter()
        face = pick_face(self.faces, self.photo, index)
        if self.framing is None:
            raise ValueError(f"bundle {self.bundle.folder}: its card has no face framing")
        self.face_index = index
        self.aligned: AlignedFace = align_face(self.photo, face, self.framing, size=self.generator.size)
        t1 = time.perf_counter()
        self.image = uint8_to_tensor(self.aligned.crop).to(self.device)  # [1, 3, R, R]
        self.w_p, self.enc_features = self.encoder(self.image)
        t2 = time.perf_counter()
        self.q_features = reconstruction_features(self.generator, self.w_p)
        self.content = content_inputs(self.editor, self.enc_features, self.image) if self.editor is not None else None
        t3 = time.perf_counter()
        self.timings = {"align_ms": (t1 - t0) * 1e3, "encode_ms": (t2 - t1) * 1e3, "reconstruct_ms": (t3 - t2) * 1e3}

    # ---------------------------------------------------------------- rendering

    def slider_vector(self, sliders: Mapping[str, float]) -> torch.Tensor:
        """Named slider values -> `[1, K]` in the bundle's attribute order (missing = 0)."""
        unknown = sorted(set(sliders) - set(self.attribute_names) - set(self.direction_names))
        if unknown:
            raise ValueError(f"unknown slider(s) {unknown}; this model has {self.attribute_names + self.direction_names}")
        values = []
        for name in self.attribute_names:
            v = float(sliders.get(name, 0.0))
            if not np.isfinite(v):
                raise ValueError(f"slider {name!r} is not a finite number ({v})")
            values.append(v)
        return torch.tensor([values], dtype=torch.float32, device=self.device)

    def direction_offset(self, sliders: Mapping[str, float]) -> torch.Tensor:
        """Σ value · direction over the extra style-only directions (pose, ...): `[1, n_w, D]`."""
        offset = torch.zeros_like(self.w_p)
        for name in self.direction_names:
            v = float(sliders.get(name, 0.0))
            if not np.isfinite(v):
                raise ValueError(f"slider {name!r} is not a finite number ({v})")
            if v:
                offset = offset + v * self.bundle.directions[name].to(offset)
        return offset

    @torch.inference_mode()
    def render(self, sliders: Mapping[str, float], paste: bool = False, preview: bool | int = False) -> RenderResult:
        """The edit for these slider values; errors come back in `error`, never raised.

        `preview` (while a slider is dragged) stops both passes early and upsamples that
        level's RGB output to full size: `True` drops `preview_drop` (1) levels (about half
        the work at 128 px), an int drops that many. The masks then lack the dropped
        levels, and nothing is pasted back.
        """
        request = {k: float(v) for k, v in sliders.items()}
        t0 = time.perf_counter()
        try:
            s = self.slider_vector(request)
            if self.editor is None:
                raise ValueError(f"bundle {self.bundle.folder} has no editor network: only reconstruction is possible")
            moved = any(request.get(n, 0.0) for n in self.direction_names)
            w_p = self.w_p + self.direction_offset(request) if moved else self.w_p
            q = None if moved else self.q_features  # Q_i belongs to the unmoved w_p
            drop = self.preview_drop if preview is True else int(preview)
            levels = max(1, self.generator.num_levels - drop) if drop > 0 else None
            out = fused_edit(self.generator, self.editor, w_p, self.enc_features, self.image, s, q_features=q, levels=levels,
                             content=self.content)
            t1 = time.perf_counter()
            refined = tensor_to_uint8(_full_size(out.x_refine, self.generator.size)[0])
            style = tensor_to_uint8(_full_size(out.x_edit, self.generator.size)[0])
            paste = paste and not preview
            masks = {name: m[0, 0].float().cpu().numpy() for name, m in out.masks.items()}
            timings = {"render_ms": (t1 - t0) * 1e3}
            pasted = None
            if paste:
                pasted = self.paste(refined, masks)
                timings["paste_ms"] = (time.perf_counter() - t1) * 1e3
            return RenderResult(refined, style, masks, pasted, timings, request)
        except Exception as exc:  # the render path hands errors back as data
            return RenderResult(None, None, {}, None, {"render_ms": (time.perf_counter() - t0) * 1e3}, request, str(exc))

    def paste(self, refined: np.ndarray, masks: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        """The full photo with `refined` blended in; the mask widens where style took over."""
        extra = None
        if masks:
            edited = [1.0 - m for m in masks.values()]
            size = self.aligned.size
            extra = np.mean(
                [F.interpolate(torch.from_numpy(e)[None, None], size=(size, size), mode="bilinear")[0, 0].numpy() for e in edited],
                axis=0,
            ).astype(np.float32)
        return paste_back(self.photo, self.aligned, refined, mask_extra=extra, reference_crop=self.aligned.crop)

    def reconstruction(self) -> np.ndarray:
        """G(w_p) as uint8, the inversion without any edit or content fusion."""
        with torch.inference_mode():
            return tensor_to_uint8(self.generator.synthesis(self.w_p)[0])


def _full_size(image: torch.Tensor, size: int) -> torch.Tensor:
    """A preview image upsampled to the generator's resolution (unchanged if already there)."""
    if image.shape[-1] == size:
        return image
    return F.interpolate(image, size=(size, size), mode="bilinear", align_corners=False)


PREVIEW_FPS = 30.0  # the drag preview aims at least at this many frames per second


def adapt_preview_drop(drop: int, render_ms: float, num_levels: int, max_drop: int = 2) -> int:
    """The number of levels the next preview skips: one more when this preview missed
    PREVIEW_FPS, one fewer when it took under half its budget (sharper previews on fast
    machines); always at least 1 and at most `max_drop` (beyond that the preview is too
    coarse to judge an edit) and below the generator's level count."""
    budget = 1000.0 / PREVIEW_FPS
    if render_ms > budget:
        drop += 1
    elif render_ms < budget / 2:
        drop -= 1
    return max(1, min(drop, max_drop, num_levels - 1))
