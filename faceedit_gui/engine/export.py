"""The batch export job shared by `faceedit batch` and the GUI's File ▸ Batch export.

    job = BatchJob(BatchConfig(input=Path("in"), output=Path("out"), sliders={"age": 0.8}))
    report = job.run(progress=print, cancel=threading.Event())

Every face of every photo in `input` (with `recursive`, sub-folders too, mirrored under
`output`) is inverted and edited with `method`:
    refine        x_refine, the two-branch editor's output (DESIGN §1.4)
    style         x_edit = G(w_p + d_sty), the style branch alone
    interfacegan, ganspace, sefa    G(w_p + direction) with the baselines' calibrated
                  directions (`editing/`), read from `<bundle>/baselines/` or fitted once
                  on generated samples and cached in `<output>/.faceedit-batch/baselines/`
Extra directions of the bundle (pose) add to w_p for every method.

Outputs: `output_kind="crop"` writes the aligned edited crop `<stem>_<k>.<fmt>` for face k
(0 = largest); `"photo"` writes `<stem>_edited.<fmt>`, the full photo with every face's
edit pasted back. Pasting adds only the edit: for `refine` the difference to the aligned
input (as the editor's session does), for the others the difference to the reconstruction
G(w_p), so inversion error never reaches the photo.

Nothing lost (issue 8.4): each output is written to a hidden `.<name>.partial-<pid>` file and
`os.replace`d into place; only then is its record written to `.faceedit-batch/done/`
(itself atomically). A re-run skips outputs whose record matches the settings and whose
file is there, and deletes partial files a killed run left. No output path may be an input
file. Bad files, photos without faces and failed renders are reported and skipped.
Cancel is checked between faces; the progress callback gets a `Progress` after each face.
Reports: `batch_report.json` and `batch_report.txt`, and the resolved config
`batch_config.json`, all beside the outputs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch

from faceedit_gui.engine.presets import check_sliders

METHODS = ("refine", "style", "interfacegan", "ganspace", "sefa")
OUTPUT_KINDS = ("crop", "photo")
FORMATS = {"png": ".png", "jpg": ".jpg"}
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
STATE_DIR = ".faceedit-batch"
PARTIAL = ".partial-"


@dataclasses.dataclass(frozen=True)
class BatchConfig:
    input: Path  # folder of photos (or one photo file)
    output: Path  # folder for the outputs and the reports
    sliders: dict[str, float] = dataclasses.field(default_factory=dict)  # name -> value
    method: str = "refine"  # refine | style | interfacegan | ganspace | sefa
    output_kind: str = "crop"  # crop: aligned crops; photo: pasted back into the full photo
    format: str = "png"  # png | jpg
    quality: int = 95  # JPEG quality
    recursive: bool = False  # include sub-folders (mirrored under output)
    bundle: Path | None = None  # model bundle (None: models/default)
    baselines: Path | None = None  # folder of fitted baseline directions (None: <bundle>/baselines)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method {self.method!r}: choose one of {', '.join(METHODS)}")
        if self.output_kind not in OUTPUT_KINDS:
            raise ValueError(f"output {self.output_kind!r}: choose crop or photo")
        if self.format not in FORMATS:
            raise ValueError(f"format {self.format!r}: choose png or jpg")
        if not 1 <= int(self.quality) <= 100:
            raise ValueError(f"quality {self.quality}: must lie in 1..100")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        return {k: str(v) if isinstance(v, Path) else v for k, v in d.items()}


@dataclasses.dataclass(frozen=True)
class Progress:
    file: str  # the photo being worked on
    done: int  # photos finished (written, skipped or failed)
    total: int  # photos in the job
    faces_written: int  # outputs written so far in this run
    eta_s: float | None  # seconds left, from the rate of the photos processed so far


@dataclasses.dataclass
class BatchReport:
    photos: int = 0
    outputs_written: int = 0
    outputs_skipped: int = 0  # complete from an earlier run
    faces: int = 0
    failures: list[dict[str, str]] = dataclasses.field(default_factory=list)  # {photo, reason}
    outputs: list[str] = dataclasses.field(default_factory=list)
    cancelled: bool = False
    seconds: float = 0.0

    @property
    def nothing_done(self) -> bool:
        return self.outputs_written + self.outputs_skipped == 0


def list_photos(folder: Path, recursive: bool) -> list[Path]:
    """Image files (by suffix) in `folder`, sorted; hidden files and our state folder skipped."""
    if folder.is_file():
        return [folder]
    if not folder.is_dir():
        raise FileNotFoundError(f"input {folder}: no such folder")
    found = folder.rglob("*") if recursive else folder.iterdir()
    out = []
    for p in found:
        rel = p.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if p.suffix.lower() in PHOTO_SUFFIXES and (p.is_file() or p.is_symlink()):
            out.append(p)
    return sorted(out)


def output_stems(photos: list[Path], root: Path) -> dict[Path, Path]:
    """photo -> output stem relative to the output folder (`sub/<stem>`); clashing stems
    in one folder (a.jpg, a.png) get their suffix appended (`a_jpg`, `a_png`)."""
    rel = {p: (p.relative_to(root) if root.is_dir() else Path(p.name)) for p in photos}
    counts: dict[Path, int] = {}
    for r in rel.values():
        counts[r.with_suffix("")] = counts.get(r.with_suffix(""), 0) + 1
    out = {}
    for p, r in rel.items():
        stem = r.with_suffix("")
        out[p] = stem.with_name(f"{stem.name}_{r.suffix.lstrip('.').lower()}") if counts[stem] > 1 else stem
    return out


def save_atomic(path: Path, rgb: np.ndarray, quality: int = 95) -> None:
    """Write an image to a hidden partial file beside `path`, then rename it into place."""
    from faceedit_gui.faces.loading import save_image

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}{PARTIAL}{os.getpid()}{path.suffix}")
    try:
        save_image(tmp, rgb, quality=quality)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}{PARTIAL}{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def remove_partials(folder: Path) -> int:
    """Delete partial files a killed run left under `folder`; returns how many."""
    n = 0
    if folder.is_dir():
        for p in folder.rglob(f".*{PARTIAL}*"):
            if p.is_file():
                p.unlink()
                n += 1
    return n


class BatchJob:
    """One batch export; `run` may be called from a worker thread (no Qt here)."""

    def __init__(self, config: BatchConfig, bundle=None):
        from faceedit_gui.checkpoints.bundle import default_bundle_path, load_bundle

        self.config = config
        folder = Path(config.bundle) if config.bundle is not None else default_bundle_path()
        self.bundle = bundle if bundle is not None else load_bundle(folder)
        card = self.bundle.card
        self.known = [a.name for a in card.attributes] + list(self.bundle.directions)
        self.sliders = check_sliders(config.sliders, self.known, "batch settings")
        self.generator = self.bundle["generator"]
        self.linear = self._baseline() if config.method in ("interfacegan", "ganspace", "sefa") else None
        if config.method in ("refine", "style") and "editor" not in self.bundle:
            raise ValueError(f"bundle {self.bundle.folder} has no editor network: --method {config.method} needs one "
                             "(a baseline method works without it)")  # fmt: skip
        self.fingerprint = self._fingerprint()

    # ------------------------------------------------------------------ setup

    def _baseline(self):
        from faceedit_gui.editing.baselines import BASELINE_FOLDER, load_or_fit
        from faceedit_gui.editing.directions import LinearEditor

        method = self.config.method
        attrs = [a.name for a in self.bundle.card.attributes]
        for folder in (self.config.baselines, Path(self.bundle.folder) / BASELINE_FOLDER):
            if folder is not None and (Path(folder) / f"{method}.json").is_file():
                return LinearEditor.load(Path(folder) / method)
        classifier = None
        if "classifier" in self.bundle.card.networks:
            from faceedit_gui.checkpoints.bundle import load_bundle

            classifier = load_bundle(self.bundle.folder, networks=["classifier"])["classifier"]
        cache = self.config.output / STATE_DIR / "baselines"
        return load_or_fit(method, cache, self.generator, classifier, attrs)

    def _fingerprint(self) -> str:
        c = self.config
        card_path = Path(self.bundle.folder) / "model.json"
        card_hash = hashlib.sha256(card_path.read_bytes()).hexdigest() if card_path.is_file() else ""
        key = {"method": c.method, "sliders": self.sliders, "output": c.output_kind, "format": c.format,
               "quality": c.quality, "bundle": card_hash,
               "linear": self.linear.meta if self.linear is not None else None}  # fmt: skip
        return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]

    # ------------------------------------------------------------------ the job

    def run(
        self,
        progress: Callable[[Progress], None] | None = None,
        cancel: threading.Event | Callable[[], bool] | None = None,
    ) -> BatchReport:
        c = self.config
        t0 = time.perf_counter()
        out = c.output
        out.mkdir(parents=True, exist_ok=True)
        remove_partials(out)
        write_json_atomic(out / "batch_config.json", {**c.to_dict(), "sliders": self.sliders, "bundle_folder": str(self.bundle.folder),
                                                      "bundle_name": self.bundle.card.name, "fingerprint": self.fingerprint})  # fmt: skip
        photos = list_photos(c.input, c.recursive)
        stems = output_stems(photos, c.input)
        inputs = {p.resolve() for p in photos}
        report = BatchReport(photos=len(photos))
        cancelled = (cancel.is_set if isinstance(cancel, threading.Event) else cancel) or (lambda: False)
        worked, work_time = 0, 0.0
        for i, photo_path in enumerate(photos):
            if cancelled():
                report.cancelled = True
                break
            t_photo = time.perf_counter()
            did_work = self._photo(photo_path, stems[photo_path], inputs, report, cancelled, progress, i, len(photos))
            if did_work:
                worked += 1
                work_time += time.perf_counter() - t_photo
            if report.cancelled:
                break
            if progress is not None:
                eta = work_time / worked * (len(photos) - i - 1) if worked else None
                progress(Progress(str(photo_path), i + 1, len(photos), report.outputs_written, eta))
        report.seconds = round(time.perf_counter() - t0, 3)
        self.write_report(report)
        return report

    def _photo(self, path: Path, stem: Path, inputs: set[Path], report: BatchReport, cancelled, progress,
               index: int, total: int) -> bool:  # fmt: skip
        """Edit every face of one photo; True when work (not just skipping) was done."""
        from faceedit_gui.faces.detection import detect_faces, no_face_message
        from faceedit_gui.faces.loading import PhotoError, load_photo

        c = self.config
        ext = FORMATS[c.format]
        photo_record = c.output / STATE_DIR / "photos" / f"{stem}.json"
        done = _read_json(photo_record)
        if done and done.get("fingerprint") == self.fingerprint and all((c.output / o).is_file() for o in done["outputs"]):
            report.outputs_skipped += len(done["outputs"])
            report.faces += len(done["outputs"]) if c.output_kind == "crop" else done.get("faces", 0)
            report.outputs += done["outputs"]
            return False
        try:
            photo = load_photo(path)
            faces = detect_faces(photo)
        except PhotoError as e:
            report.failures.append({"photo": str(path), "reason": e.reason})
            return True
        except Exception as e:  # noqa: BLE001 - a bad file must not stop the batch
            report.failures.append({"photo": str(path), "reason": f"{type(e).__name__}: {e}"})
            return True
        if not faces:
            report.failures.append({"photo": str(path), "reason": no_face_message(photo)})
            return True
        report.faces += len(faces)
        written: list[str] = []
        canvas = photo.rgb if c.output_kind == "photo" else None
        for k in range(len(faces)):
            if cancelled():
                report.cancelled = True
                return True
            rel = f"{stem}_{k}{ext}" if c.output_kind == "crop" else f"{stem}_edited{ext}"
            target = c.output / rel
            if target.resolve() in inputs:
                report.failures.append({"photo": str(path), "reason": f"face {k}: the output {target} is an input file; not overwritten"})
                continue
            if c.output_kind == "crop" and self._output_done(rel, path):
                report.outputs_skipped += 1
                written.append(rel)
                continue
            try:
                crop, reference, aligned, extra = self._edit_face(photo, faces, k)
                if c.output_kind == "crop":
                    self._commit(target, rel, path, crop, report)
                    written.append(rel)
                else:
                    from faceedit_gui.faces.paste import paste_back

                    canvas = paste_back(canvas, aligned, crop, mask_extra=extra, reference_crop=reference)
            except Exception as e:  # noqa: BLE001 - one face failing must not stop the batch
                report.failures.append({"photo": str(path), "reason": f"face {k}: {type(e).__name__}: {e}"})
            if progress is not None:
                progress(Progress(str(path), index, total, report.outputs_written, None))
        if c.output_kind == "photo" and canvas is not photo.rgb:
            rel = f"{stem}_edited{ext}"
            if (c.output / rel).resolve() not in inputs:
                self._commit(c.output / rel, rel, path, np.ascontiguousarray(canvas), report)
                written.append(rel)
        if len(written) == (len(faces) if c.output_kind == "crop" else 1):
            write_json_atomic(photo_record, {"fingerprint": self.fingerprint, "photo": str(path), "faces": len(faces),
                                             "outputs": written})  # fmt: skip
        return True

    # ------------------------------------------------------------------ pieces

    def _record_path(self, rel: str) -> Path:
        return self.config.output / STATE_DIR / "done" / f"{rel}.json"

    def _output_done(self, rel: str, photo: Path) -> bool:
        rec = _read_json(self._record_path(rel))
        target = self.config.output / rel
        return bool(rec) and rec.get("fingerprint") == self.fingerprint and target.is_file() \
            and target.stat().st_size == rec.get("bytes")  # fmt: skip

    def _commit(self, target: Path, rel: str, photo: Path, rgb: np.ndarray, report: BatchReport) -> None:
        save_atomic(target, rgb, self.config.quality)
        write_json_atomic(self._record_path(rel), {"fingerprint": self.fingerprint, "photo": str(photo),
                                                   "bytes": target.stat().st_size})  # fmt: skip
        report.outputs_written += 1
        report.outputs.append(rel)

    @torch.inference_mode()
    def _edit_face(self, photo, faces, k: int):
        """(edited crop uint8, paste reference crop, AlignedFace, paste mask extra or None)."""
        from faceedit_gui.conventions import tensor_to_uint8
        from faceedit_gui.engine.session import EditSession

        session = EditSession(self.bundle, photo, faces=faces, face_index=k)
        method = self.config.method
        if method in ("refine", "style"):
            result = session.render(self.sliders)
            if not result.ok:
                raise RuntimeError(result.error)
            if method == "style":
                return result.style, session.reconstruction(), session.aligned, None
            return result.refined, session.aligned.crop, session.aligned, _edited_region(result.masks, session.aligned.size)
        attrs = {n: v for n, v in self.sliders.items() if n in self.linear.directions}
        w = self.linear.apply(session.w_p, attrs) + session.direction_offset(self.sliders)
        crop = tensor_to_uint8(self.generator.synthesis(w)[0])
        return crop, session.reconstruction(), session.aligned, None

    def write_report(self, report: BatchReport) -> None:
        out = self.config.output
        data = {**dataclasses.asdict(report), "method": self.config.method, "sliders": self.sliders,
                "input": str(self.config.input), "output_kind": self.config.output_kind}  # fmt: skip
        write_json_atomic(out / "batch_report.json", data)
        lines = [
            f"faceedit batch: {self.config.input} -> {out} ({self.config.method}, {self.config.output_kind})",
            f"photos: {report.photos}, faces: {report.faces}, written: {report.outputs_written}, "
            f"already complete: {report.outputs_skipped}, failed: {len(report.failures)}"
            + (", CANCELLED" if report.cancelled else ""),
        ]
        lines += [f"FAILED {f['photo']}: {f['reason']}" for f in report.failures]
        tmp = out / f".batch_report.txt{PARTIAL}{os.getpid()}"
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
        os.replace(tmp, out / "batch_report.txt")


def _edited_region(masks: Mapping[str, np.ndarray], size: int) -> np.ndarray | None:
    """Mean of `1 - m_i` over levels, upsampled to the crop: where style took over."""
    import torch.nn.functional as F

    if not masks:
        return None
    maps = [F.interpolate(torch.from_numpy(1.0 - m)[None, None], size=(size, size), mode="bilinear")[0, 0] for m in masks.values()]
    return torch.stack(maps).mean(0).numpy().astype(np.float32)


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
