"""Batched inversion and editing of aligned face crops: the network half of the batch export.

    renderer = FaceRenderer(bundle, method="refine", sliders={"age": 0.8})
    edits = renderer.render([crop_a, crop_b, crop_c], with_reference=False)

N aligned crops (the bundle's framing and size, e.g. from `align_face`) go through each
stage in one batched forward pass: the encoder (`w_p`, `f_enc`), the reconstruction
features `Q_i`, the content inputs, the style pass and the fused pass (DESIGN.md §1.4).
The arithmetic is `EditSession`'s (engine/session.py), sample by sample; the tests hold a
batch of one equal to `EditSession.render` and a batch of four to batches of one within
one grey level. Detection, alignment and file writing stay with the caller, per photo.

`render` never raises for a face: a face whose render fails comes back with `error` set.
A batched pass that raises (out of memory, one odd input) is done again face by face, so
one bad face never fails the others (`fallbacks` counts such batches); a face whose output
holds non-finite values fails alone.

Methods: `refine` x_refine; `style` x_edit = G(w_p + d_sty); a baseline (`linear`, a
`LinearEditor`) G(w_p + its directions). The bundle's extra directions (pose) add to w_p
for every method, as in the editor.

Convention: crops in and out are numpy uint8 `[R, R, 3]` RGB; `edited` float32 `[R, R]`
(mean over levels of `1 − m_i`, where style took over); tensors stay on the bundle's device.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from faceedit_gui.conventions import tensor_to_uint8, uint8_to_tensor
from faceedit_gui.engine.runtime import INFERENCE_FUSED, set_modconv_fused
from faceedit_gui.networks.fusion import check_compatible, content_inputs, fused_edit, reconstruction_features

EDIT_METHODS = ("refine", "style")  # need the bundle's editor network


@dataclasses.dataclass(frozen=True)
class FaceEdit:
    crop: np.ndarray | None  # uint8 [R, R, 3]: the edited face
    reference: np.ndarray | None  # uint8 [R, R, 3]: what paste-back subtracts (only when asked)
    edited: np.ndarray | None  # float32 [R, R]: mean 1 − m_i (refine, only when asked)
    error: str = ""  # empty when it worked
    transient: bool = False  # the error was the machine's (out of memory), not the face's

    @property
    def ok(self) -> bool:
        return not self.error


class FaceRenderer:
    """One edit (method + slider values) applied to batches of aligned crops."""

    def __init__(self, bundle, method: str, sliders: Mapping[str, float], linear=None, fused: bool = INFERENCE_FUSED):
        self.bundle = bundle
        self.method = method
        self.generator = bundle["generator"]
        self.encoder = bundle["encoder"]
        self.editor = bundle["editor"] if "editor" in bundle else None
        self.linear = linear
        if method in EDIT_METHODS:
            if self.editor is None:
                raise ValueError(f"bundle {bundle.folder} has no editor network: method {method!r} needs one")
            check_compatible(self.generator, self.editor)
        elif linear is None:
            raise ValueError(f"method {method!r} needs its baseline directions (a LinearEditor)")
        set_modconv_fused(self.generator, fused)  # both paths agree to ~1e-6; see docs/PERFORMANCE.md
        param = next(self.generator.parameters())
        self.device, self.dtype = param.device, param.dtype
        self.size = self.generator.size
        self.attribute_names = [a.name for a in bundle.card.attributes]
        self.sliders = {k: float(v) for k, v in sliders.items()}
        self.slider_row = torch.tensor([[self.sliders.get(n, 0.0) for n in self.attribute_names]],
                                       dtype=torch.float32, device=self.device)  # [1, K]  # fmt: skip
        self.offset = self._direction_offset()  # [1, n_w, D] or None when no direction moves
        self.fallbacks = 0  # batched passes that failed and were done face by face

    def _direction_offset(self) -> torch.Tensor | None:
        """Σ value · direction over the bundle's extra directions (pose, ...), as EditSession."""
        offset = None
        for name, vector in self.bundle.directions.items():
            v = self.sliders.get(name, 0.0)
            if v:
                term = v * vector.to(device=self.device, dtype=self.dtype)
                offset = term if offset is None else offset + term
        return None if offset is None else offset.expand(1, self.generator.n_latent, self.generator.style_dim)

    # ------------------------------------------------------------------ public

    def render(self, crops: Sequence[np.ndarray], with_reference: bool = False) -> list[FaceEdit]:
        """One `FaceEdit` per crop, in order; a failing batch is redone face by face."""
        if not crops:
            return []
        try:
            return self._forward(crops, with_reference)
        except Exception as exc:  # noqa: BLE001 - isolate the faces from each other
            if len(crops) == 1:
                transient = isinstance(exc, (MemoryError, torch.OutOfMemoryError))
                return [FaceEdit(None, None, None, f"{type(exc).__name__}: {exc}", transient)]
        self.fallbacks += 1
        if self.device.type == "cuda":
            torch.cuda.empty_cache()  # an out-of-memory batch leaves its blocks cached
        return [self.render([crop], with_reference)[0] for crop in crops]

    # ------------------------------------------------------------------ the passes

    @torch.inference_mode()
    def _forward(self, crops: Sequence[np.ndarray], with_reference: bool) -> list[FaceEdit]:
        r = self.size
        for i, crop in enumerate(crops):
            if crop.shape != (r, r, 3):
                raise ValueError(f"crop {i}: got shape {crop.shape}, expected ({r}, {r}, 3) (the bundle's size)")
        image = uint8_to_tensor(np.stack(crops), self.device).to(self.dtype)  # [B, 3, R, R]
        b = image.shape[0]
        w_p, enc_features = self.encoder(image)  # [B, n_w, D]
        w = w_p if self.offset is None else w_p + self.offset.to(w_p.dtype)
        reference = edited = None
        if self.method == "refine":
            s = self.slider_row.expand(b, -1)
            out = fused_edit(self.generator, self.editor, w, enc_features, image, s,
                             q_features=reconstruction_features(self.generator, w),
                             content=content_inputs(self.editor, enc_features, image))  # fmt: skip
            x = out.x_refine
            if with_reference:
                edited = _edited_region(out.masks, r)
        elif self.method == "style":
            s = self.slider_row.expand(b, -1)
            x = self.generator.synthesis(w + self.editor.style_offset(s).to(w.dtype))
        else:
            attrs = {n: v for n, v in self.sliders.items() if n in self.linear.directions}
            moved = self.linear.apply(w_p, attrs)
            x = self.generator.synthesis(moved if self.offset is None else moved + self.offset.to(w_p.dtype))
        if with_reference and self.method != "refine":
            reference = tensor_to_uint8(self.generator.synthesis(w_p))  # G(w_p): inversion error stays out
        finite = torch.isfinite(x).flatten(1).all(1).tolist()
        images = tensor_to_uint8(x)
        edits = []
        for i in range(b):
            if not finite[i]:
                edits.append(FaceEdit(None, None, None, "the render produced non-finite values"))
                continue
            ref = crops[i] if with_reference and self.method == "refine" else (reference[i] if reference is not None else None)
            edits.append(FaceEdit(images[i], ref, None if edited is None else edited[i]))
        return edits


def _edited_region(masks: Mapping[str, torch.Tensor], size: int) -> np.ndarray | None:
    """Mean of `1 − m_i` over levels, each upsampled to the crop: `[B, R, R]` float32."""
    if not masks:
        return None
    maps = [F.interpolate((1.0 - m).float(), size=(size, size), mode="bilinear") for m in masks.values()]  # [B, 1, R, R]
    return torch.stack(maps).mean(0)[:, 0].cpu().numpy().astype(np.float32)
