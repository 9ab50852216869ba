"""Inversion quality on held-out faces (DESIGN §7, issue 5): PSNR, SSIM, L2, the perceptual
distance (named), and identity similarity by dlib's face-recognition ResNet, an evaluator no
one here trained; the project's identity network too when given, labelled as such.

    report = evaluate_inversion(encoder, generator, images, landmarks, perceptual=dist)
    write_report(report, "runs/eval")          # inversion.json + inversion.md

How a pair is scored: the aligned crop `x` (uint8, the generator's size) goes through the
encoder and the generator (its stored noise) to `x_rec`. PSNR and SSIM on [0, 1], L2 on
[-1, 1] (`reconstruction.py`); the perceptual distance of `x` and `x_rec`. dlib: both
images are cut to 150 px chips with the SAME 68-point shape (the crop's landmarks, as the
packer recorded them, or found by dlib's detector on the crop) and the descriptors'
cosine is reported (plus their Euclidean distance and the share below dlib's same-person
threshold 0.6: dlib descriptors of different people already have cosines near 0.85, so
the cosine alone reads high): the comparison measures the reconstruction, not two alignments. dlib
runs on numpy images outside any graph. Faces whose landmarks cannot be found are counted
and left out of the identity mean only.

Data: `load_heldout_pack(folder)` reads the TEST split of a packed set (`faceedit
prepare-data`: e.g. `.data/aligned/utkface_128`, whose test split is the README's
`utkface_test.txt`), images and landmarks; `load_aligned_images(paths, size)` reads aligned
crops from files.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from faceedit_gui.conventions import tensor_to_uint8, uint8_to_tensor
from faceedit_gui.metrics.reconstruction import reconstruction_metrics

METRIC_KEYS = ("psnr", "ssim", "l2", "perceptual", "id_dlib", "id_dlib_distance", "id_dlib_same_person")
DLIB_SAME_PERSON = 0.6  # dlib's documented threshold on the descriptor distance (same person below)


def load_heldout_pack(folder: str | os.PathLike, limit: int | None = None) -> dict[str, Any]:
    """The held-out (test) split of a packed set: images uint8 `[N, S, S, 3]`, landmarks
    `[N, 68, 2]` (crop pixels) and names."""
    from faceedit_gui.training.face_packs import load_pack

    pack = load_pack(folder, "test", limit=limit)
    names = [bytes(n).decode(errors="replace") for n in pack.labels.get("names", np.array([], "S1"))]
    return {"images": pack.images, "landmarks": pack.labels.get("landmarks"), "names": names,
            "source": f"{folder} (test split, {pack.dataset})"}  # fmt: skip


def load_aligned_images(paths: Sequence[str | os.PathLike], size: int) -> dict[str, Any]:
    """Aligned crops from image files, resized to `size` (area interpolation): no landmarks."""
    import cv2

    images = []
    for p in paths:
        bgr = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if bgr is None:
            raise FileNotFoundError(f"cannot read an image from {p}")
        images.append(cv2.resize(bgr[:, :, ::-1], (size, size), interpolation=cv2.INTER_AREA))
    return {"images": np.stack(images), "landmarks": None, "names": [Path(p).name for p in paths],
            "source": f"{len(paths)} aligned image files"}  # fmt: skip


def find_landmarks(image: np.ndarray, detect_side: int = 256) -> np.ndarray | None:
    """68 landmarks `[68, 2]` of the face in an aligned crop (crop pixels), found by dlib on a
    copy upscaled to `detect_side` with a padded border; None when no face is found."""
    import cv2

    from faceedit_gui.faces.detection import detect_faces

    s = image.shape[0]
    scale = max(1.0, detect_side / s)
    big = cv2.resize(image, (round(s * scale),) * 2, interpolation=cv2.INTER_CUBIC) if scale > 1 else image
    faces = detect_faces(np.ascontiguousarray(big), pad=0.25, upsample=1)
    if not faces:
        return None
    return ((faces[0].landmarks + 0.5) / scale - 0.5).astype(np.float32)  # pixel centres at integers


@torch.no_grad()
def reconstruct(encoder: nn.Module, generator: nn.Module, images: np.ndarray, batch: int = 16) -> np.ndarray:
    """uint8 `[N, R, R, 3]` crops -> uint8 reconstructions `G(E(x))` (stored noise)."""
    dev = next(generator.parameters()).device
    out = []
    for i in range(0, len(images), batch):
        x = uint8_to_tensor(images[i : i + batch], dev)
        w_plus = encoder(x)[0].float()
        out.append(tensor_to_uint8(generator.synthesis(w_plus).float()))
    return np.concatenate(out)


def evaluate_inversion(
    encoder: nn.Module,
    generator: nn.Module,
    images: np.ndarray,
    landmarks: np.ndarray | None = None,
    perceptual: nn.Module | None = None,
    identity: nn.Module | None = None,
    names: Sequence[str] | None = None,
    source: str = "",
    batch: int = 16,
) -> dict[str, Any]:
    """Scores of `G(E(x))` against every crop `x` of `images` (uint8 `[N, R, R, 3]`, R the
    generator's size). `perceptual` defaults to `resolve_perceptual()`; `identity` (the
    project's network) adds `id_project`. Returns the report (see `write_report`)."""
    from faceedit_gui.metrics.perceptual import resolve_perceptual
    from faceedit_gui.training.dlib_targets import DlibDescriptor

    t0 = time.time()
    size = int(generator.size)
    if images.ndim != 4 or images.shape[1:] != (size, size, 3) or images.dtype != np.uint8:
        raise ValueError(f"images: expected uint8 [N, {size}, {size}, 3], got {images.dtype} {list(images.shape)}")
    encoder.eval()
    generator.eval()
    dev = next(generator.parameters()).device
    perceptual = perceptual if perceptual is not None else resolve_perceptual(device=dev)
    recs = reconstruct(encoder, generator, images, batch)
    rows: dict[str, list[float]] = {k: [] for k in ("psnr", "ssim", "l2", "perceptual", "id_project")}
    with torch.no_grad():
        for i in range(0, len(images), batch):
            x, y = uint8_to_tensor(images[i : i + batch], dev), uint8_to_tensor(recs[i : i + batch], dev)
            for k, v in reconstruction_metrics(x, y).items():
                rows[k] += v.cpu().tolist()
            rows["perceptual"] += perceptual(x, y).cpu().tolist()
            if identity is not None:
                rows["id_project"] += torch.cosine_similarity(identity(x).float(), identity(y).float(), dim=1).cpu().tolist()

    dlib_model = DlibDescriptor()
    id_dlib: list[float | None] = []
    dist_dlib: list[float | None] = []
    landmark_source = "packed landmarks" if landmarks is not None else "dlib detection on the crop"
    for i, (x, y) in enumerate(zip(images, recs)):
        lm = landmarks[i] if landmarks is not None else find_landmarks(x)
        if lm is None or not np.isfinite(lm).all():
            id_dlib.append(None)
            dist_dlib.append(None)
            continue
        d = dlib_model.descriptors([dlib_model.chip_from_landmarks(x, lm), dlib_model.chip_from_landmarks(y, lm)])
        id_dlib.append(float(np.dot(d[0], d[1]) / (np.linalg.norm(d[0]) * np.linalg.norm(d[1]) + 1e-12)))
        dist_dlib.append(float(np.linalg.norm(d[0] - d[1])))

    per_image = []
    for i in range(len(images)):
        row = {"name": names[i] if names is not None else str(i), **{k: round(rows[k][i], 6) for k in ("psnr", "ssim", "l2", "perceptual")},
               "id_dlib": None if id_dlib[i] is None else round(id_dlib[i], 6),
               "id_dlib_distance": None if dist_dlib[i] is None else round(dist_dlib[i], 6)}  # fmt: skip
        if identity is not None:
            row["id_project"] = round(rows["id_project"][i], 6)
        per_image.append(row)
    scored = [v for v in id_dlib if v is not None]
    means = {k: float(np.mean(rows[k])) for k in ("psnr", "ssim", "l2", "perceptual")}
    dists = [v for v in dist_dlib if v is not None]
    means["id_dlib"] = float(np.mean(scored)) if scored else float("nan")
    means["id_dlib_distance"] = float(np.mean(dists)) if dists else float("nan")
    means["id_dlib_same_person"] = float(np.mean([v < DLIB_SAME_PERSON for v in dists])) if dists else float("nan")
    if identity is not None:
        means["id_project"] = float(np.mean(rows["id_project"]))
    return {
        "what": "inversion (reconstruction at s = 0)",
        "source": source,
        "n_images": len(images),
        "resolution": size,
        "perceptual": perceptual.describe() if hasattr(perceptual, "describe") else {"name": type(perceptual).__name__},
        "identity_evaluator": "dlib face-recognition ResNet v1 (face-recognition-models, CC0), cosine of 128-D descriptors",
        "identity_landmarks": landmark_source,
        "id_dlib_scored": len(scored),
        "id_dlib_no_face": len(images) - len(scored),
        "id_project_network": None if identity is None else "the project's identity network (dlib-distilled; trained here)",
        "means": {k: round(v, 6) if math.isfinite(v) else None for k, v in means.items()},
        "per_image": per_image,
        "seconds": round(time.time() - t0, 2),
    }


def write_report(report: dict[str, Any], out_dir: str | os.PathLike, extra: dict[str, Any] | None = None) -> tuple[Path, Path]:
    """`inversion.json` (everything) and `inversion.md` (the table) in `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = {**report, **(extra or {})}
    jpath, mpath = out / "inversion.json", out / "inversion.md"
    jpath.write_text(json.dumps(report, indent=1) + "\n")
    m = report["means"]
    fmt = lambda v, p: "n/a" if v is None else f"{v:.{p}f}"  # noqa: E731
    lines = [
        "# Inversion on held-out faces",
        "",
        f"Data: {report['source']} — {report['n_images']} crops at {report['resolution']} px.",
        f"Perceptual distance: **{report['perceptual']['name']}**.",
        f"Identity: {report['identity_evaluator']}; landmarks from {report['identity_landmarks']}; "
        f"{report['id_dlib_scored']} scored, {report['id_dlib_no_face']} without a face.",
        "",
        "| metric | mean |",
        "| --- | --- |",
        f"| PSNR (dB, [0, 1]) ↑ | {fmt(m['psnr'], 2)} |",
        f"| SSIM ([0, 1]) ↑ | {fmt(m['ssim'], 4)} |",
        f"| L2 (MSE on [-1, 1]) ↓ | {fmt(m['l2'], 5)} |",
        f"| perceptual ({report['perceptual']['name'].split(' ')[0]}) ↓ | {fmt(m['perceptual'], 4)} |",
        f"| identity, dlib cosine ↑ | {fmt(m['id_dlib'], 4)} |",
        f"| identity, dlib descriptor distance ↓ | {fmt(m['id_dlib_distance'], 4)} |",
        f"| identity, share with dlib distance < {DLIB_SAME_PERSON} (same person) ↑ | {fmt(m['id_dlib_same_person'], 3)} |",
    ]
    if "id_project" in m:
        lines.append(f"| identity, project network cosine (trained here) ↑ | {fmt(m['id_project'], 4)} |")
    for k in ("model", "command"):
        if k in report:
            lines += ["", f"{k.capitalize()}: `{report[k]}`"]
    mpath.write_text("\n".join(lines) + "\n")
    return jpath, mpath
