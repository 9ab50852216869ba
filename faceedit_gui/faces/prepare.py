"""Align the training sets (UTKFace, CelebA 10k) to one template framing and pack them.

Three stages, each resumable from what the earlier ones left in `out_dir`:
1. landmarks: detect every image's face and 68 landmarks (dlib), cached in
   `out_dir/landmarks_<dataset>.npz` (checkpointed; a rerun continues where it stopped).
2. template: the UTKFace template framing (`template.py`), measured on the UTKFace
   *training* split only (never the held-out list), written to
   `resources/framing_template_utkface.json`; an existing file is reused unless asked.
3. pack: align every image, train and held-out alike (the split is recorded), at each size
   and write `out_dir/<dataset>_<size>/` shards (`packing.py`) with an `index.json`
   (counts, framing, shards, failures).

Images whose face is not found are left out and listed with the reason.

Convention: crops uint8 RGB; landmarks in pixel coordinates (pixel centres at integers).
"""

from __future__ import annotations

import json
import multiprocessing
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from faceedit_gui.faces.align import apply_affine, template_matrix, warp_affine
from faceedit_gui.faces.detection import detect_faces
from faceedit_gui.faces.framing import UTKFACE_TEMPLATE_PATH, Framing, load_framing, save_framing
from faceedit_gui.faces.loading import PhotoError, load_photo
from faceedit_gui.faces.packing import MiB, ShardWriter
from faceedit_gui.faces.sources import CELEBA_ATTRIBUTES, DERIVED_LABELS, Record, records
from faceedit_gui.faces.template import measure_template, template_residual

FORMAT_VERSION = 1
# detection settings per set: UTKFace's tight 200 px crops need a border for the HOG window;
# CelebA's 89x109 faces (~45 px wide) need dlib's 2x pyramid upsampling.
DETECT_SETTINGS = {"utkface": {"pad": 0.25, "upsample": 0}, "celeba": {"pad": 0.25, "upsample": 1}}
UTKFACE_CROP = (200, 200)


@dataclass(frozen=True)
class PrepareConfig:
    data_dir: Path  # ../shared/data
    out_dir: Path  # .data/aligned (git-ignored)
    datasets: tuple[str, ...] = ("utkface", "celeba")
    sizes: tuple[int, ...] = (64, 128, 256)
    encoding: str = "jpeg"  # 'jpeg' (quality below, 4:4:4), 'png' or 'raw'
    quality: int = 95
    shard_mib: float = 40.0  # each shard file stays under this
    template_path: Path = UTKFACE_TEMPLATE_PATH
    remeasure_template: bool = False
    template_size: int = 128  # the framing's default crop size (the bundled model's resolution)
    limit: int | None = None  # first N images per set (smoke runs)
    seed: int = 0
    border: str = "reflect"
    jobs: int = 1  # face-detection worker processes (dlib runs single-threaded)


@dataclass
class Landmarks:
    names: list[str]
    landmarks: np.ndarray  # float32 [N, 68, 2], NaN where no face
    boxes: np.ndarray  # float32 [N, 4]
    scores: np.ndarray  # float32 [N]
    n_faces: np.ndarray  # int16 [N]
    detector: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)  # '' when a face was found

    def ok(self) -> np.ndarray:
        return np.isfinite(self.landmarks).all(axis=(1, 2))


def detect_landmarks(recs: list[Record], cache: Path, settings: dict, log: Callable[[str], None], every: int = 2000,
                     jobs: int = 1) -> Landmarks:
    """Stage 1 for one set: the largest face's landmarks per image, cached and resumable;
    `jobs` > 1 detects in that many worker processes (results stay in input order)."""
    done = _load_landmarks(cache) if cache.is_file() else None
    names = [r.name for r in recs]
    if done is not None and done.names == names[: len(done.names)]:
        lm = done
        log(f"{cache.name}: resuming after {len(lm.names)} of {len(recs)} images")
    else:
        lm = Landmarks([], np.zeros((0, 68, 2), np.float32), np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int16))
    start = time.time()
    start_index = len(lm.names)
    todo = [(recs[i].path, settings) for i in range(start_index, len(recs))]
    pool = multiprocessing.get_context("spawn").Pool(jobs) if jobs > 1 and todo else None
    pending: list[tuple] = []
    try:
        results = pool.imap(_detect_one, todo, chunksize=16) if pool else map(_detect_one, todo)
        for i, result in zip(range(start_index, len(recs)), results):
            pending.append(result)
            if (i + 1) % every == 0 or i == len(recs) - 1:
                _extend(lm, [r.name for r in recs[i + 1 - len(pending) : i + 1]], pending)
                pending = []
                _save_landmarks(cache, lm)
                rate = (i + 1 - start_index) / max(time.time() - start, 1e-6)
                failed = sum(1 for r in lm.reasons if r)
                log(f"{cache.name}: {i + 1}/{len(recs)} images, {failed} without a face, {rate:.1f} img/s, "
                    f"eta {(len(recs) - i - 1) / max(rate, 1e-6) / 60:.1f} min")
    finally:
        if pool:
            pool.terminate()
    return lm


def _detect_one(item: tuple[Path, dict]) -> tuple:
    """(landmarks [68, 2], box [4], score, faces found, detector, reason) of one image's
    largest face; NaNs and a reason when there is none."""
    path, settings = item
    reason, det = "", ""
    pts, box, score, n = np.full((68, 2), np.nan, np.float32), np.full(4, np.nan, np.float32), np.nan, 0
    try:
        faces = detect_faces(load_photo(path), **settings)
        n = len(faces)
        if faces:
            pts, box, score, det = faces[0].landmarks, np.array(faces[0].box, np.float32), faces[0].score, faces[0].detector
        else:
            reason = "no face found"
    except PhotoError as e:
        reason = f"unreadable: {e.reason}"
    return pts, box, score, n, det, reason


def _extend(lm: Landmarks, names: list[str], results: list[tuple]) -> None:
    """Append `_detect_one` results (in order) for `names` to `lm`."""
    pts, box, score, n, det, reason = zip(*results)
    lm.names += names
    lm.landmarks = np.concatenate([lm.landmarks, np.array(pts, np.float32).reshape(-1, 68, 2)])
    lm.boxes = np.concatenate([lm.boxes, np.array(box, np.float32).reshape(-1, 4)])
    lm.scores = np.concatenate([lm.scores, np.array(score, np.float32)])
    lm.n_faces = np.concatenate([lm.n_faces, np.array(n, np.int16)])
    lm.detector += det
    lm.reasons += reason


def _save_landmarks(path: Path, lm: Landmarks) -> None:
    tmp = path.with_suffix(".tmp.npz")
    np.savez(
        tmp,
        names=np.array(lm.names, dtype="U64"),
        landmarks=lm.landmarks,
        boxes=lm.boxes,
        scores=lm.scores,
        n_faces=lm.n_faces,
        detector=np.array(lm.detector, dtype="U16"),
        reasons=np.array(lm.reasons, dtype="U200"),
    )
    tmp.replace(path)


def _load_landmarks(path: Path) -> Landmarks:
    with np.load(path, allow_pickle=False) as z:
        return Landmarks(
            names=[str(s) for s in z["names"]],
            landmarks=z["landmarks"],
            boxes=z["boxes"],
            scores=z["scores"],
            n_faces=z["n_faces"],
            detector=[str(s) for s in z["detector"]],
            reasons=[str(s) for s in z["reasons"]],
        )


def utkface_template(recs: list[Record], lm: Landmarks, size: int) -> Framing:
    """Stage 2: the template framing from the UTKFace training split's landmarks."""
    train = np.array([r.split == "train" for r in recs]) & lm.ok()
    note = (
        f"Procrustes mean of dlib 68-point landmarks on {int(train.sum())} UTKFace training "
        "images (held-out list excluded), placed like the mean face of UTKFace's 200x200 "
        "'aligned & cropped' images (faceedit_gui/faces/template.py). Fit on landmarks 17-67."
    )
    return measure_template(lm.landmarks[train], UTKFACE_CROP, size, name="utkface-mean-68", note=note)


def pack(recs: list[Record], lm: Landmarks, framing: Framing, cfg: PrepareConfig, dataset: str, log: Callable[[str], None]) -> dict:
    """Stage 3 for one set: aligned crops at every size, sharded per split; returns the summary."""
    ok = lm.ok()
    order = np.random.default_rng(cfg.seed).permutation(len(recs))
    folders = {s: cfg.out_dir / f"{dataset}_{s}" for s in cfg.sizes}
    writers: dict[tuple[int, str], ShardWriter] = {}
    for s, folder in folders.items():
        folder.mkdir(parents=True, exist_ok=True)
        for old in list(folder.glob("*.npz")) + list(folder.glob("index.json")):
            old.unlink()
        for split in ("train", "test"):
            writers[s, split] = ShardWriter(folder, split, s, cfg.encoding, cfg.quality, int(cfg.shard_mib * MiB))
    counts = {"train": 0, "test": 0}
    failures = []
    residual = np.full(len(recs), np.nan)
    residual[ok] = template_residual(lm.landmarks[ok], framing)
    start = time.time()
    for j, i in enumerate(order):
        rec = recs[i]
        if not ok[i]:
            failures.append({"name": rec.name, "split": rec.split, "reason": lm.reasons[i] or "no face found"})
            continue
        try:
            rgb = load_photo(rec.path).rgb
        except PhotoError as e:
            failures.append({"name": rec.name, "split": rec.split, "reason": f"unreadable: {e.reason}"})
            continue
        for s in cfg.sizes:
            matrix = template_matrix(lm.landmarks[i], framing, s)
            crop = warp_affine(rgb, matrix, (s, s), "cubic", cfg.border)
            writers[s, rec.split].add(
                crop, rec.name, int(rec.split == "test"), rec.age, rec.gender, rec.race, rec.attrs,
                apply_affine(matrix, lm.landmarks[i]).astype(np.float32), float(residual[i]),
            )
        counts[rec.split] += 1
        if (j + 1) % 2000 == 0:
            log(f"pack {dataset}: {j + 1}/{len(recs)} images, {(j + 1) / (time.time() - start):.1f} img/s")
    fit = residual[ok]
    summary = {
        "dataset": dataset,
        "images": len(recs),
        "aligned": counts,
        "failed": len(failures),
        "failed_by_split": {sp: sum(1 for f in failures if f["split"] == sp) for sp in ("train", "test")},
        "multi_face_images": int((lm.n_faces > 1).sum()),
        "cnn_fallback": int(sum(1 for d in lm.detector if d == "dlib-cnn")),
        "template_fit_rms": {
            "median": float(np.median(fit)) if len(fit) else None,
            "p95": float(np.percentile(fit, 95)) if len(fit) else None,
            "above_0.06": int((fit > 0.06).sum()),
        },
        "sizes": {},
    }
    for s, folder in folders.items():
        shards = []
        for split in ("train", "test"):
            writers[s, split].flush()
            shards += writers[s, split].shards
        index = {
            "format_version": FORMAT_VERSION,
            "dataset": dataset,
            "size": s,
            "encoding": cfg.encoding,
            "quality": cfg.quality if cfg.encoding == "jpeg" else None,
            "max_shard_bytes": int(cfg.shard_mib * MiB),
            "framing": framing.with_size(s).to_dict(),
            "counts": {**counts, "failed": len(failures)},
            "shards": shards,
            "labels": {
                "age": "years, int16, -1 missing",
                "gender": "0 male, 1 female, -1 missing",
                "race": "UTKFace coding 0-4, -1 missing",
                "attrs": "CelebA 40 attributes, 1 yes / 0 no / -1 missing",
                "split": "0 train, 1 held-out test (README lists)",
                "derived": DERIVED_LABELS,
                "attribute_names": list(CELEBA_ATTRIBUTES),
            },
            "detection": DETECT_SETTINGS.get(dataset, {}),
            "failures": failures,
            "created": time.strftime("%Y-%m-%d %H:%M:%S"),
            "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()},
        }
        (folder / "index.json").write_text(json.dumps(index, indent=1) + "\n")
        summary["sizes"][s] = {
            "shards": len(shards),
            "max_shard_mib": round(max((x["bytes"] for x in shards), default=0) / MiB, 2),
            "total_mib": round(sum(x["bytes"] for x in shards) / MiB, 2),
        }
    return summary


def prepare_datasets(cfg: PrepareConfig, log: Callable[[str], None] = print) -> dict:
    """Run the three stages; returns a report (also written to `out_dir/report.json`)."""
    cfg.out_dir.mkdir(parents=True, exist_ok=True)
    recs = {d: records(d, cfg.data_dir)[: cfg.limit] for d in cfg.datasets}
    marks = {}
    for d, rs in recs.items():
        marks[d] = detect_landmarks(rs, cfg.out_dir / f"landmarks_{d}.npz", DETECT_SETTINGS[d], log, jobs=cfg.jobs)
    if cfg.template_path.is_file() and not cfg.remeasure_template:
        framing = load_framing(cfg.template_path)
        log(f"template: using {cfg.template_path}")
    else:
        if "utkface" not in marks:
            raise ValueError("measuring the template needs the utkface set")
        framing = utkface_template(recs["utkface"], marks["utkface"], cfg.template_size)
        cfg.template_path.parent.mkdir(parents=True, exist_ok=True)
        save_framing(framing, cfg.template_path)
        log(f"template: measured and written to {cfg.template_path}")
    report = {"framing": framing.name, "template_path": str(cfg.template_path), "datasets": {}}
    for d, rs in recs.items():
        report["datasets"][d] = pack(rs, marks[d], framing, cfg, d, log)
        log(f"{d}: {json.dumps(report['datasets'][d])}")
    (cfg.out_dir / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    return report
