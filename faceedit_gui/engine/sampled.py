"""An edit session on a face sampled from the bundle's generator (z -> w -> G(w)).

The editor needs something to edit before the user opens a photo: `SampledSession` is an
`EditSession` whose "photo" is the generated face itself. Its `w_p` is the sampled W+
code (so the reconstruction is exact), the encoder pyramid `f_enc` and the content
branch's input image are computed from the generated image, and paste back is the crop
itself (the photo *is* the crop). Rendering is the parent's `render` unchanged.

Convention: as `EditSession` (uint8 `[R, R, 3]` RGB out, masks float32 in [0, 1]).
"""

from __future__ import annotations

import time
from typing import Mapping

import numpy as np
import torch

from faceedit_gui.checkpoints.bundle import Bundle
from faceedit_gui.conventions import tensor_to_uint8
from faceedit_gui.engine.session import EditSession
from faceedit_gui.faces.align import AlignedFace
from faceedit_gui.faces.detection import Face
from faceedit_gui.faces.framing import Framing, ffhq_framing
from faceedit_gui.faces.loading import photo_from_array
from faceedit_gui.networks.fusion import check_compatible, content_inputs, reconstruction_features


class SampledSession(EditSession):
    """`EditSession` on `G(mapping(z))` for a seeded z, with truncation towards the mean w."""

    def __init__(self, bundle: Bundle, seed: int = 0, truncation: float = 0.7):
        t0 = time.perf_counter()
        self.bundle = bundle
        self.seed = seed
        self.generator = bundle["generator"]
        self.encoder = bundle["encoder"]
        self.editor = bundle["editor"] if "editor" in bundle else None
        if self.editor is not None:
            check_compatible(self.generator, self.editor)
        size = self.generator.size
        self.framing = Framing.from_dict(bundle.card.framing) if bundle.card.framing else ffhq_framing(size)
        self.attribute_names = [a.name for a in bundle.card.attributes]
        self.direction_names = list(bundle.directions)
        self.device = device = next(self.generator.parameters()).device
        with torch.inference_mode():
            g = torch.Generator().manual_seed(int(seed))
            z = torch.randn(1, self.generator.style_dim, generator=g).to(device)
            w = self.generator.mapping(z)  # [1, style_dim]
            w_avg = self.generator.mapping(torch.randn(512, self.generator.style_dim, generator=g).to(device)).mean(0, keepdim=True)
            w = self.generator.truncate(w, truncation, w_avg)
            self.w_p = self.generator.broadcast(w)  # [1, n_w, style_dim]
            self.image = self.generator.synthesis(self.w_p)  # [1, 3, R, R] in [-1, 1]
            _, self.enc_features = self.encoder(self.image)
            self.q_features = reconstruction_features(self.generator, self.w_p)
            self.content = content_inputs(self.editor, self.enc_features, self.image) if self.editor is not None else None
        crop = tensor_to_uint8(self.image[0])
        self.photo = photo_from_array(crop)
        identity = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        template = getattr(self.framing, "template", None)
        landmarks = np.asarray(template, dtype=np.float32) * size if template else np.zeros((68, 2), np.float32)
        if landmarks.shape != (68, 2):  # a framing without 68 template points: no landmarks to show
            landmarks = np.zeros((68, 2), np.float32)
        face = Face(box=(0, 0, size, size), landmarks=landmarks, score=1.0, detector="given")
        self.faces = [face]
        self.face_index = 0
        self.aligned = AlignedFace(crop=crop, matrix=identity, inverse=identity.copy(), face=face, framing=self.framing,
                                   photo_size=(size, size))
        self.timings = {"sample_ms": (time.perf_counter() - t0) * 1e3}

    def select_face(self, index: int) -> None:
        if index != 0:
            raise ValueError("a sampled face has one face only")

    def paste(self, refined: np.ndarray, masks: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        """The photo is the crop: paste back is the refined crop itself."""
        return np.array(refined, copy=True)
