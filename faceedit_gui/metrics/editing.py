"""The paper's evaluation (issue 6.5): editing (Table 1), reconstruction (Table 2), ablations
(Table 3) and grids, on held-out faces.

    faces = load_eval_faces(size=128, limit=50)              # held-out UTKFace/CelebA + photos
    report = evaluate_editing(models, faces, baselines, perceptual, classifier)
    write_editing_report(report, grids, "docs/eval")         # editing.json, editing.md, grid_*.png

Methods (Table 1): `interfacegan`, `ganspace`, `sefa` = G(w_p + s * direction) with the
baselines' calibrated directions; `ours_edit` = x_edit = G(w_p + d_sty); `ours_edit_refine`
= x_refine. All on the same inversion `w_p = E(x)`. Per attribute and `s in {-1, +1}`:
    id_dlib       cosine of dlib face-recognition descriptors, source x vs edit (both cut to
                  150 px chips with the SAME landmarks: the source's), a network no one here trained
    l2            MSE on [-1, 1], source vs edit (the paper's code)
    perceptual    the named perceptual distance (LPIPS when its files are here, else the
                  substitute; `report["perceptual"]["name"]` says which)
    attr_change   sign(s) * (p(edit) - p(x)): how far the classifier's probability of the
                  attribute moved the asked way (also `attr_change_vs_rec`, against G(w_p))
Averages: over faces, then over s and attributes (`mean`). Table 2 (s = 0): L2, PSNR,
SSIM, MS-SSIM and dlib identity of G(w_p) (and ours x_refine at s = 0) against x.
Table 3: the same Table 1 means and Table 2 row for `ours` of each trained variant given.

Data (`load_eval_faces`), DESIGN §7: the TEST split of the packed UTKFace and CelebA sets
(`.data/aligned/<set>_128`, the README's held-out lists) with their landmarks, and the aligned
photos of `../shared/data/photos/{celebahq,hfgi,ffhq}` run through the project's aligner with
the bundle's framing (`celebahq/male_005735.jpg` and `male_006930.jpg` left out for models
trained on CelebA). Crops are resized to the generator's size.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from faceedit_gui.conventions import tensor_to_uint8, uint8_to_tensor
from faceedit_gui.metrics.reconstruction import ms_ssim, reconstruction_metrics, to_unit

REPO = Path(__file__).resolve().parents[2]
PACKS = (REPO / ".data" / "aligned" / "utkface_128", REPO / ".data" / "aligned" / "celeba_128")
PHOTOS = REPO.parent / "shared" / "data" / "photos"
PHOTO_FOLDERS = ("celebahq", "hfgi", "ffhq")
CELEBA_TRAIN_OVERLAP = ("celebahq/male_005735.jpg", "celebahq/male_006930.jpg")
BASELINES = ("interfacegan", "ganspace", "sefa")
OURS = ("ours_edit", "ours_edit_refine")
EDIT_KEYS = ("id_dlib", "l2", "perceptual", "attr_change", "attr_change_vs_rec")
REC_KEYS = ("l2", "psnr", "ssim", "ms_ssim", "id_dlib")


@dataclasses.dataclass
class FaceSet:
    source: str  # e.g. "utkface test", "photos/celebahq"
    images: np.ndarray  # uint8 [N, R, R, 3]
    landmarks: list[np.ndarray | None]  # per face [68, 2] crop pixels, or None (found by dlib later)
    names: list[str]


@dataclasses.dataclass
class Models:
    """What one model under test brings: generator, encoder, and optionally the editor."""

    generator: torch.nn.Module
    encoder: torch.nn.Module
    editor: torch.nn.Module | None
    attributes: list[str]  # the editor's slider order (the bundle's attributes)
    label: str = "ours"


# ------------------------------------------------------------------------------ data


def _resize(images: np.ndarray, landmarks: np.ndarray | None, size: int) -> tuple[np.ndarray, np.ndarray | None]:
    import cv2

    s = images.shape[1]
    if s == size:
        return images, landmarks
    interp = cv2.INTER_AREA if size < s else cv2.INTER_CUBIC
    out = np.stack([cv2.resize(im, (size, size), interpolation=interp) for im in images])
    if landmarks is not None:
        landmarks = (landmarks + 0.5) * (size / s) - 0.5
    return out, landmarks


def load_eval_faces(
    size: int,
    limit: int | None = None,
    framing=None,
    celeba_trained: bool = True,
    packs: Sequence[Path] = PACKS,
    photos: Path | None = PHOTOS,
    photo_folders: Sequence[str] = PHOTO_FOLDERS,
) -> list[FaceSet]:
    """The held-out faces (see the module docstring), at most `limit` per source."""
    from faceedit_gui.metrics.inversion import load_heldout_pack

    sets = []
    for pack in packs:
        if not (Path(pack) / "index.json").is_file():
            continue
        data = load_heldout_pack(pack, limit)
        images, lms = _resize(data["images"], data["landmarks"], size)
        sets.append(FaceSet(f"{Path(pack).name} test split", images, list(lms) if lms is not None else [None] * len(images),
                            data["names"]))  # fmt: skip
    if photos is not None and framing is not None and Path(photos).is_dir():
        from faceedit_gui.faces import align_face, detect_faces, load_photo

        for folder in photo_folders:
            files = sorted(p for p in (Path(photos) / folder).glob("*") if p.suffix.lower() in (".jpg", ".png"))
            if celeba_trained:
                files = [p for p in files if f"{folder}/{p.name}" not in CELEBA_TRAIN_OVERLAP]
            images, lms, names = [], [], []
            for p in files:
                if limit is not None and len(images) >= limit:
                    break
                photo = load_photo(p)
                faces = detect_faces(photo)
                if not faces:
                    continue
                aligned = align_face(photo, faces[0], framing, size=size)
                images.append(aligned.crop)
                lms.append(aligned.crop_landmarks.astype(np.float32))
                names.append(f"{folder}/{p.name}")
            if images:
                sets.append(FaceSet(f"photos/{folder}", np.stack(images), lms, names))
    return sets


# ------------------------------------------------------------------------------ scoring


class Identity:
    """dlib's descriptor cosine between a source crop and other images, chips cut with one shape."""

    def __init__(self) -> None:
        from faceedit_gui.training.dlib_targets import DlibDescriptor

        self.model = DlibDescriptor()

    def descriptor(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        return self.model.descriptors([self.model.chip_from_landmarks(image, landmarks)])[0]

    @staticmethod
    def cosine(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def _probabilities(classifier, images: torch.Tensor, names: Sequence[str]) -> torch.Tensor | None:
    if classifier is None or not names:
        return None
    return torch.sigmoid(classifier.user_logits(classifier(images), tuple(names)))  # [B, K]


@torch.no_grad()
def evaluate_editing(
    models: Models,
    faces: Sequence[FaceSet],
    baselines: Mapping[str, Any],
    perceptual: torch.nn.Module,
    classifier: torch.nn.Module | None,
    strengths: Sequence[float] = (-1.0, 1.0),
    grid_faces: int = 4,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(report dict with `table1`, `table2`, `by_source`; grids name -> uint8 image)."""
    from faceedit_gui.metrics.inversion import find_landmarks
    from faceedit_gui.networks.fusion import fused_edit

    g, e, ed = models.generator, models.encoder, models.editor
    attrs = list(models.attributes)
    scored = [a for a in attrs if classifier is not None and a in classifier.user_names()]
    methods = [m for m in BASELINES if m in baselines] + (list(OURS) if ed is not None else [])
    ident = Identity()
    rows: dict[tuple[str, str, float], dict[str, list[float]]] = {}
    rec_rows: dict[str, dict[str, list[float]]] = {"inversion": {k: [] for k in REC_KEYS}}
    if ed is not None:
        rec_rows["ours_refine_s0"] = {k: [] for k in REC_KEYS}
    by_source: dict[str, dict[str, list[float]]] = {}
    grids: dict[str, list[np.ndarray]] = {}
    for fs in faces:
        for i in range(len(fs.images)):
            src = fs.images[i]
            x = uint8_to_tensor(src)
            lm = fs.landmarks[i] if fs.landmarks[i] is not None else find_landmarks(src)
            d_src = ident.descriptor(src, lm) if lm is not None else None

            def id_of(img_u8: np.ndarray) -> float:
                return ident.cosine(d_src, ident.descriptor(img_u8, lm)) if d_src is not None else float("nan")

            w_p, f_enc = e(x)
            rec = g.synthesis(w_p)
            p_src, p_rec = _probabilities(classifier, x, scored), _probabilities(classifier, rec, scored)
            recon = {"inversion": rec}
            if ed is not None:
                recon["ours_refine_s0"] = fused_edit(g, ed, w_p, f_enc, x, torch.zeros(1, len(attrs))).x_refine
            for name, y in recon.items():
                m = reconstruction_metrics(x, y)
                r = rec_rows[name]
                r["l2"].append(float(m["l2"])); r["psnr"].append(float(m["psnr"])); r["ssim"].append(float(m["ssim"]))  # noqa: E702
                r["ms_ssim"].append(float(ms_ssim(to_unit(x).clamp(0, 1), to_unit(y).clamp(0, 1))))
                r["id_dlib"].append(id_of(tensor_to_uint8(y[0])))
            for attr in attrs:
                for s in strengths:
                    outs: dict[str, torch.Tensor] = {}
                    for mth in BASELINES:
                        if mth in baselines and attr in baselines[mth].directions:
                            outs[mth] = g.synthesis(baselines[mth].apply(w_p, {attr: s}))
                    if ed is not None:
                        sl = torch.zeros(1, len(attrs))
                        sl[0, attrs.index(attr)] = s
                        res = fused_edit(g, ed, w_p, f_enc, x, sl)
                        outs["ours_edit"], outs["ours_edit_refine"] = res.x_edit, res.x_refine
                    for mth, y in outs.items():
                        r = rows.setdefault((mth, attr, s), {k: [] for k in EDIT_KEYS})
                        y_u8 = tensor_to_uint8(y[0])
                        r["id_dlib"].append(id_of(y_u8))
                        r["l2"].append(float(reconstruction_metrics(x, y)["l2"]))
                        r["perceptual"].append(float(perceptual(x, y)))
                        if attr in scored:
                            k = scored.index(attr)
                            p = _probabilities(classifier, y, [attr])[0, 0]
                            r["attr_change"].append(float(math.copysign(1, s) * (p - p_src[0, k])))
                            r["attr_change_vs_rec"].append(float(math.copysign(1, s) * (p - p_rec[0, k])))
                        src_rows = by_source.setdefault(f"{fs.source}|{mth}", {"id_dlib": [], "l2": []})
                        src_rows["id_dlib"].append(r["id_dlib"][-1]); src_rows["l2"].append(r["l2"][-1])  # noqa: E702
                    if i < grid_faces:
                        row = [src, tensor_to_uint8(rec[0])] + [tensor_to_uint8(outs[m][0]) for m in methods if m in outs]
                        grids.setdefault(f"{_slug(fs.source)}_{attr}_{'plus' if s > 0 else 'minus'}", []).append(np.concatenate(row, 1))
    table1 = _table1(rows, methods, attrs, strengths)
    table2 = {name: _means(r) for name, r in rec_rows.items()}
    report = {
        "table1": table1,
        "table2": table2,
        "by_source": {k: _means(v) for k, v in by_source.items()},
        "methods": methods,
        "attributes": attrs,
        "attributes_scored": scored,
        "strengths": list(strengths),
        "n_faces": int(sum(len(f.images) for f in faces)),
        "sources": [{"source": f.source, "n": len(f.images), "names": f.names} for f in faces],
        "grid_columns": ["source", "reconstruction"] + methods,
    }
    return report, {k: np.concatenate(v, 0) for k, v in grids.items()}


def _slug(s: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in s).strip("_")


def _mean(v: Sequence[float]) -> float | None:
    vals = [x for x in v if x is not None and math.isfinite(x)]
    return round(float(np.mean(vals)), 6) if vals else None


def _means(r: Mapping[str, Sequence[float]]) -> dict[str, float | None]:
    return {k: _mean(v) for k, v in r.items()}


def _table1(rows, methods, attrs, strengths) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mth in methods:
        per_attr: dict[str, Any] = {}
        for attr in attrs:
            cell = {f"{s:+g}": _means(rows[(mth, attr, s)]) for s in strengths if (mth, attr, s) in rows}
            if cell:
                cell["mean"] = {k: _mean([c[k] for c in cell.values() if c.get(k) is not None]) for k in EDIT_KEYS}
                per_attr[attr] = cell
        per_attr["mean"] = {k: _mean([a["mean"][k] for a in per_attr.values() if a["mean"][k] is not None]) for k in EDIT_KEYS}
        out[mth] = per_attr
    return out


# ------------------------------------------------------------------------------ writing


def label_columns(grid: np.ndarray, labels: Sequence[str], height: int = 18) -> np.ndarray:
    """`grid` uint8 `[H, W, 3]` of `len(labels)` equal columns, with a dark header strip
    naming each column (white text, shrunk to fit its column). No labels: unchanged."""
    import cv2

    if not labels:
        return grid
    width = grid.shape[1] // len(labels)
    header = np.full((height, grid.shape[1], 3), 32, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for i, label in enumerate(labels):
        scale = 0.45
        (tw, th), _ = cv2.getTextSize(label, font, scale, 1)
        if tw > width - 4:
            scale *= (width - 4) / tw
            (tw, th), _ = cv2.getTextSize(label, font, scale, 1)
        org = (i * width + max(2, (width - tw) // 2), (height + th) // 2)
        cv2.putText(header, label, org, font, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return np.concatenate([header, grid], 0)


def write_editing_report(report: dict[str, Any], grids: Mapping[str, np.ndarray], out_dir: str | os.PathLike) -> dict[str, Path]:
    """`editing.json`, `editing.md` and `grid_<source>_<attr>_<plus|minus>.png` in `out_dir`."""
    from PIL import Image

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    names = []
    for name, img in grids.items():
        p = out / f"grid_{name}.png"
        Image.fromarray(label_columns(img, report.get("grid_columns", []))).save(p)
        names.append(p.name)
    report = {**report, "grids": sorted(names)}
    jpath, mpath = out / "editing.json", out / "editing.md"
    jpath.write_text(json.dumps(report, indent=1, allow_nan=False) + "\n")
    mpath.write_text(markdown(report) + "\n")
    files.update(json=jpath, markdown=mpath)
    return files


def _f(v: Any, p: int = 4) -> str:
    return "n/a" if v is None else f"{v:.{p}f}"


def markdown(report: dict[str, Any]) -> str:
    lines = ["# Editing evaluation", ""]
    for w in report.get("warnings", []):
        lines.append(f"> **Warning:** {w}")
    lines += ["", f"Faces: {report['n_faces']} — " + ", ".join(f"{s['source']} ({s['n']})" for s in report["sources"]) + ".",
              f"Perceptual distance: **{report['perceptual']['name']}**.",
              f"Identity: {report['identity_evaluator']}.",
              f"Attribute change: {report['classifier']}.", ""]  # fmt: skip
    lines += ["## Table 1: editing at s = ±1 (averaged over attributes and both signs)", "",
              "| method | ID (dlib cos) ↑ | L2 ↓ | perceptual ↓ | attr. change ↑ | attr. change vs rec ↑ |", "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for mth, t in report["table1"].items():
        m = t["mean"]
        lines.append(f"| {mth} | {_f(m['id_dlib'])} | {_f(m['l2'], 5)} | {_f(m['perceptual'])} | {_f(m['attr_change'])} | {_f(m['attr_change_vs_rec'])} |")
    for attr in report["attributes"]:
        lines += ["", f"### {attr}", "", "| method | s | ID ↑ | L2 ↓ | perceptual ↓ | attr. change ↑ |", "| --- | --- | --- | --- | --- | --- |"]
        for mth, t in report["table1"].items():
            for s, c in t.get(attr, {}).items():
                lines.append(f"| {mth} | {s} | {_f(c['id_dlib'])} | {_f(c['l2'], 5)} | {_f(c['perceptual'])} | {_f(c['attr_change'])} |")
    lines += ["", "## Table 2: reconstruction (s = 0)", "", "| model | L2 ↓ | PSNR ↑ | SSIM ↑ | MS-SSIM ↑ | ID (dlib cos) ↑ |",
              "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for name, m in report["table2"].items():
        lines.append(f"| {name} | {_f(m['l2'], 5)} | {_f(m['psnr'], 2)} | {_f(m['ssim'])} | {_f(m['ms_ssim'])} | {_f(m['id_dlib'])} |")
    lines += ["", "## Table 3: ablations (ours edit_refine, averaged)", ""]
    if report.get("table3"):
        lines += ["| variant | ID ↑ | L2 ↓ | perceptual ↓ | attr. change ↑ | rec. L2 ↓ | rec. ID ↑ |", "| --- | --- | --- | --- | --- | --- | --- |"]
        for name, v in report["table3"].items():
            m, r = v["edit_refine"], v["reconstruction"]
            lines.append(f"| {name} | {_f(m['id_dlib'])} | {_f(m['l2'], 5)} | {_f(m['perceptual'])} | {_f(m['attr_change'])} | {_f(r['l2'], 5)} | {_f(r['id_dlib'])} |")
    else:
        lines.append("No trained variants were given (`faceedit eval --variant NAME=BUNDLE ...`).")
    lines += ["", "## Grids", "", "Columns: " + " | ".join(report["grid_columns"]) + "; one row per face.", ""]
    lines += [f"![{g}]({g})" for g in report.get("grids", [])]
    if report.get("command"):
        lines += ["", f"Command: `{report['command']}`"]
    return "\n".join(lines)

