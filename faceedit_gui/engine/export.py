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

Batching (`batch_size`): loading, detection and alignment run per photo; the faces of
consecutive photos are then inverted, edited and rendered `batch_size` at a time in one
batched forward pass (`engine/batch_render.py`, on the bundle's device: `device`), and the
outputs are written per photo, in order. A batch that fails is redone face by face, so one
bad face fails alone.

Nothing lost (issue 8.4): each output is written to a hidden partial file and renamed into
place; only then is its record written (`engine/export_files.py`). A re-run skips outputs
whose record matches the settings and whose file is there, and deletes partial files a
killed run left. No output path may be an input file.

Failures (a bad file, no face, a failed render) are reported and recorded with the input's
fingerprint in `.faceedit-batch/failed/`; a re-run does not try them again but lists them
as "failed before, skipped" (report and summary), unless the input file changed, the
settings changed (render failures only: a bad file stays bad whatever the sliders), or
`retry_failed` is set. A photo interrupted (killed, cancelled) has no record and is redone,
and so is one whose loader or detector raised something unexpected (not a `PhotoError`:
missing models, memory), which is reported but not the file's fault as far as we know.

Cancel is checked before each photo, each batch and each written face; the progress
callback gets a `Progress` after each written face and each finished photo.
Reports: `batch_report.json` and `batch_report.txt`, and the resolved config
`batch_config.json`, all beside the outputs.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from faceedit_gui.engine.export_files import (PARTIAL, PHOTO_SUFFIXES, STATE_DIR, input_fingerprint,  # noqa: F401
                                              input_unchanged, list_photos, output_stems, read_json, remove_partials,
                                              save_atomic, write_json_atomic, write_text_atomic)
from faceedit_gui.engine.presets import check_sliders
from faceedit_gui.engine.runtime import INFERENCE_FUSED, resolve_device

METHODS = ("refine", "style", "interfacegan", "ganspace", "sefa")
OUTPUT_KINDS = ("crop", "photo")
FORMATS = {"png": ".png", "jpg": ".jpg"}
FAILED = "failed"
FAILED_BEFORE = "failed before, skipped"
MAX_BATCH = 1024


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
    retry_failed: bool = False  # try photos that failed in an earlier run again, even if unchanged
    batch_size: int = 1  # faces per batched forward pass (1: one at a time, the CPU default)
    device: str = "cpu"  # where the networks run: cpu | cuda | cuda:N (a given bundle keeps its own)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method {self.method!r}: choose one of {', '.join(METHODS)}")
        if self.output_kind not in OUTPUT_KINDS:
            raise ValueError(f"output {self.output_kind!r}: choose crop or photo")
        if self.format not in FORMATS:
            raise ValueError(f"format {self.format!r}: choose png or jpg")
        if not 1 <= int(self.quality) <= 100:
            raise ValueError(f"quality {self.quality}: must lie in 1..100")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or not 1 <= self.batch_size <= MAX_BATCH:
            raise ValueError(f"batch size {self.batch_size!r}: must be a whole number in 1..{MAX_BATCH}")
        if self.device != "cpu" and not (self.device == "cuda" or (self.device.startswith("cuda:") and self.device[5:].isdigit())):
            raise ValueError(f"device {self.device!r}: choose cpu, cuda or cuda:N")

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
    failures: list[dict[str, str]] = dataclasses.field(default_factory=list)  # {photo, reason, status}
    failed_before: int = 0  # photos not tried again: they failed in an earlier run (status FAILED_BEFORE)
    batch_fallbacks: int = 0  # batched passes that failed and were redone face by face
    outputs: list[str] = dataclasses.field(default_factory=list)
    cancelled: bool = False
    seconds: float = 0.0

    @property
    def nothing_done(self) -> bool:
        return self.outputs_written + self.outputs_skipped == 0

    @property
    def failed_now(self) -> list[dict[str, str]]:
        return [f for f in self.failures if f.get("status") != FAILED_BEFORE]


@dataclasses.dataclass
class _Face:
    k: int  # face index in its photo (0 = largest)
    rel: str  # output path relative to the output folder
    aligned: Any  # AlignedFace
    edit: Any = None  # FaceEdit once rendered


@dataclasses.dataclass
class _Photo:
    path: Path
    stem: Path
    photo: Any  # faces.loading.Photo, kept for paste-back (output "photo") only
    n_faces: int
    faces: list[_Face]  # faces to render
    written: list[str]  # outputs complete (from an earlier run, or written now)
    failures: list[dict[str, str]]

    @property
    def ready(self) -> bool:
        return all(f.edit is not None for f in self.faces)


class BatchJob:
    """One batch export; `run` may be called from a worker thread (no Qt here).

    `detect(photo) -> list[Face]` replaces dlib's detector (default `detect_faces`), for
    callers that know where the faces are (benchmarks on a machine without dlib's models).
    """

    def __init__(self, config: BatchConfig, bundle=None, detect: Callable | None = None):
        from faceedit_gui.checkpoints.bundle import default_bundle_path, load_bundle
        from faceedit_gui.faces.detection import detect_faces
        from faceedit_gui.faces.framing import Framing

        self.config = config
        if bundle is None:
            resolve_device(config.device)
            folder = Path(config.bundle) if config.bundle is not None else default_bundle_path()
            bundle = load_bundle(folder, device=config.device)
        self.bundle = bundle
        self.detect = detect or detect_faces
        card = self.bundle.card
        self.known = [a.name for a in card.attributes] + list(self.bundle.directions)
        self.sliders = check_sliders(config.sliders, self.known, "batch settings")
        if not card.framing:
            raise ValueError(f"bundle {self.bundle.folder}: its card has no face framing")
        self.framing = Framing.from_dict(card.framing)
        self.generator = self.bundle["generator"]
        self.linear = self._baseline() if config.method in ("interfacegan", "ganspace", "sefa") else None
        if config.method in ("refine", "style") and "editor" not in self.bundle:
            raise ValueError(f"bundle {self.bundle.folder} has no editor network: --method {config.method} needs one "
                             "(a baseline method works without it)")  # fmt: skip
        self.fingerprint = self._fingerprint()
        self.modconv_fused = INFERENCE_FUSED  # the modulated-conv path (equivalent); benchmarks/open_batch.py --modconv

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

            device = next(self.generator.parameters()).device
            classifier = load_bundle(self.bundle.folder, networks=["classifier"], device=device)["classifier"]
        cache = self.config.output / STATE_DIR / "baselines"
        return load_or_fit(method, cache, self.generator, classifier, attrs)

    def _fingerprint(self) -> str:
        """The settings that decide an output's pixels (not batch size or device: those agree
        to within a grey level, so a run may resume with other ones)."""
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
        from faceedit_gui.engine.batch_render import FaceRenderer

        c = self.config
        t0 = time.perf_counter()
        out = c.output
        out.mkdir(parents=True, exist_ok=True)
        remove_partials(out)
        write_json_atomic(out / "batch_config.json", {**c.to_dict(), "sliders": self.sliders, "bundle_folder": str(self.bundle.folder),
                                                      "bundle_name": self.bundle.card.name, "fingerprint": self.fingerprint,
                                                      "network_device": str(next(self.generator.parameters()).device)})  # fmt: skip
        photos = list_photos(c.input, c.recursive)
        stems = output_stems(photos, c.input)
        self._inputs = {p.resolve() for p in photos}
        self._renderer = FaceRenderer(self.bundle, c.method, self.sliders, self.linear, fused=self.modconv_fused)
        self._report = report = BatchReport(photos=len(photos))
        self._cancel = (cancel.is_set if isinstance(cancel, threading.Event) else cancel) or (lambda: False)
        self._progress = progress
        self._done, self._worked, self._total, self._t_work = 0, 0, len(photos), None
        pending: collections.deque[_Photo] = collections.deque()  # prepared, waiting for their faces' batch
        queue: list[_Face] = []  # faces to render, in photo order
        for path in photos:
            if self._stopped():
                break
            work = self._prepare(path, stems[path])
            if work is None:  # complete, failed, or failed before
                self._photo_done(str(path), worked=False)
                continue
            pending.append(work)
            queue += work.faces
            while len(queue) >= c.batch_size and not self._stopped():
                self._render(queue[: c.batch_size])
                del queue[: c.batch_size]
                self._finish_ready(pending)
            self._finish_ready(pending)  # photos with nothing left to render
        while queue and not self._stopped():
            self._render(queue[: c.batch_size])
            del queue[: c.batch_size]
            self._finish_ready(pending)
        report.batch_fallbacks = self._renderer.fallbacks
        report.seconds = round(time.perf_counter() - t0, 3)
        self.write_report(report)
        return report

    def _stopped(self) -> bool:
        if not self._report.cancelled and self._cancel():
            self._report.cancelled = True
        return self._report.cancelled

    def _photo_done(self, file: str, worked: bool) -> None:
        self._done += 1
        self._worked += worked
        if self._progress is not None:
            eta = None
            if self._worked and self._t_work is not None:
                eta = (time.perf_counter() - self._t_work) / self._worked * (self._total - self._done)
            self._progress(Progress(file, self._done, self._total, self._report.outputs_written, eta))

    def _prepare(self, path: Path, stem: Path) -> _Photo | None:
        """Load, detect and align one photo; None when it needs no render (done or failed)."""
        from faceedit_gui.faces.align import align_face
        from faceedit_gui.faces.detection import no_face_message
        from faceedit_gui.faces.loading import PhotoError, load_photo

        c, report = self.config, self._report
        done = read_json(self._photo_record(stem))
        if done and done.get("fingerprint") == self.fingerprint and all((c.output / o).is_file() for o in done["outputs"]):
            report.outputs_skipped += len(done["outputs"])
            report.faces += len(done["outputs"]) if c.output_kind == "crop" else done.get("faces", 0)
            report.outputs += done["outputs"]
            return None
        if not c.retry_failed and self._failed_before(path, stem):
            return None
        if self._t_work is None:
            self._t_work = time.perf_counter()
        try:
            photo = load_photo(path)
            found = self.detect(photo)
        except PhotoError as e:
            return self._failed(path, stem, [e.reason], "input")
        except Exception as e:  # noqa: BLE001 - a bad file must not stop the batch
            self._report.failures.append(_failure(path, f"{type(e).__name__}: {e}"))
            return None  # not the file's fault as far as we know (models, memory): not recorded, tried again
        if not found:
            return self._failed(path, stem, [no_face_message(photo)], "input")
        report.faces += len(found)
        ext = FORMATS[c.format]
        work = _Photo(path, stem, photo if c.output_kind == "photo" else None, len(found), [], [], [])  # crops need no photo
        if c.output_kind == "photo" and (c.output / f"{stem}_edited{ext}").resolve() in self._inputs:
            return self._failed(path, stem, [f"the output {c.output / f'{stem}_edited{ext}'} is an input file; not overwritten"], "render")
        for k, face in enumerate(found):
            rel = f"{stem}_{k}{ext}" if c.output_kind == "crop" else f"{stem}_edited{ext}"
            if c.output_kind == "crop":
                if (c.output / rel).resolve() in self._inputs:
                    work.failures.append(_failure(path, f"face {k}: the output {c.output / rel} is an input file; not overwritten"))
                    continue
                if self._output_done(rel):
                    report.outputs_skipped += 1
                    report.outputs.append(rel)
                    work.written.append(rel)
                    continue
            try:
                work.faces.append(_Face(k, rel, align_face(photo, face, self.framing, size=self.generator.size)))
            except Exception as e:  # noqa: BLE001 - one face failing must not stop the batch
                work.failures.append(_failure(path, f"face {k}: {type(e).__name__}: {e}"))
        return work

    def _render(self, faces: list[_Face]) -> None:
        edits = self._renderer.render([f.aligned.crop for f in faces], with_reference=self.config.output_kind == "photo")
        for face, edit in zip(faces, edits):
            face.edit = edit

    def _finish_ready(self, pending: collections.deque) -> None:
        while pending and pending[0].ready and not self._stopped():
            work = pending.popleft()
            if self._finish(work):
                self._photo_done(str(work.path), worked=True)

    def _finish(self, work: _Photo) -> bool:
        """Write one photo's outputs and its record; False when cancelled part-way."""
        c, report = self.config, self._report
        canvas = work.photo.rgb if work.photo is not None else None
        for face in work.faces:
            if face.edit.error:
                work.failures.append(_failure(work.path, f"face {face.k}: {face.edit.error}"))
                continue
            if c.output_kind == "crop":
                if self._stopped():
                    return False
                self._commit(face.rel, work.path, face.edit.crop)
                work.written.append(face.rel)
                if self._progress is not None:
                    self._progress(Progress(str(work.path), self._done, self._total, report.outputs_written, None))
            else:
                from faceedit_gui.faces.paste import paste_back

                try:
                    canvas = paste_back(canvas, face.aligned, face.edit.crop, mask_extra=face.edit.edited,
                                        reference_crop=face.edit.reference)  # fmt: skip
                except Exception as e:  # noqa: BLE001 - one face failing must not stop the batch
                    work.failures.append(_failure(work.path, f"face {face.k}: {type(e).__name__}: {e}"))
        if c.output_kind == "photo" and canvas is not work.photo.rgb:
            if self._stopped():
                return False
            rel = f"{work.stem}_edited{FORMATS[c.format]}"
            self._commit(rel, work.path, np.ascontiguousarray(canvas))
            work.written.append(rel)
        report.failures += work.failures
        if any(face.edit.transient for face in work.faces):
            pass  # out of memory: the machine's fault, not the photo's; no record, tried again next run
        elif work.failures:
            self._record_failure(work.path, work.stem, [f["reason"] for f in work.failures], "render", work.written, work.n_faces)
        elif len(work.written) == (work.n_faces if c.output_kind == "crop" else 1):
            write_json_atomic(self._photo_record(work.stem), {"fingerprint": self.fingerprint, "photo": str(work.path),
                                                              "faces": work.n_faces, "outputs": work.written})  # fmt: skip
            self._failure_record(work.stem).unlink(missing_ok=True)
        return True

    # ------------------------------------------------------------------ failures

    def _failed(self, path: Path, stem: Path, reasons: list[str], stage: str) -> None:
        self._report.failures += [_failure(path, r) for r in reasons]
        self._record_failure(path, stem, reasons, stage, [], 0)
        return None

    def _record_failure(self, path: Path, stem: Path, reasons: list[str], stage: str, outputs: list[str], faces: int) -> None:
        """Remember a failed photo by its content; one that cannot be read gets no record (retried)."""
        fingerprint = input_fingerprint(path)
        if fingerprint is not None:
            write_json_atomic(self._failure_record(stem), {"format": 1, "photo": str(path), "input": fingerprint,
                                                           "stage": stage, "fingerprint": self.fingerprint, "reasons": reasons,
                                                           "outputs": outputs, "faces": faces,
                                                           "when": time.strftime("%Y-%m-%d %H:%M:%S")})  # fmt: skip

    def _failed_before(self, path: Path, stem: Path) -> bool:
        """Report a photo that failed in an earlier run and has not changed since; True if so."""
        rec = read_json(self._failure_record(stem))
        if not rec or not isinstance(rec.get("reasons"), list) or not isinstance(rec.get("outputs"), list):
            return False
        if rec.get("stage") != "input" and rec.get("fingerprint") != self.fingerprint:
            return False  # a render failure under other settings says nothing about these
        if not all((self.config.output / o).is_file() for o in rec["outputs"]) or not input_unchanged(path, rec.get("input")):
            return False
        report = self._report
        report.failed_before += 1
        report.faces += int(rec.get("faces", 0))
        report.outputs_skipped += len(rec["outputs"])
        report.outputs += rec["outputs"]
        report.failures += [_failure(path, str(r), FAILED_BEFORE) for r in rec["reasons"]]
        return True

    # ------------------------------------------------------------------ pieces

    def _photo_record(self, stem: Path) -> Path:
        return self.config.output / STATE_DIR / "photos" / f"{stem}.json"

    def _failure_record(self, stem: Path) -> Path:
        return self.config.output / STATE_DIR / "failed" / f"{stem}.json"

    def _record_path(self, rel: str) -> Path:
        return self.config.output / STATE_DIR / "done" / f"{rel}.json"

    def _output_done(self, rel: str) -> bool:
        rec = read_json(self._record_path(rel))
        target = self.config.output / rel
        return bool(rec) and rec.get("fingerprint") == self.fingerprint and target.is_file() \
            and target.stat().st_size == rec.get("bytes")  # fmt: skip

    def _commit(self, rel: str, photo: Path, rgb: np.ndarray) -> None:
        target = self.config.output / rel
        save_atomic(target, rgb, self.config.quality)
        write_json_atomic(self._record_path(rel), {"fingerprint": self.fingerprint, "photo": str(photo),
                                                   "bytes": target.stat().st_size})  # fmt: skip
        self._report.outputs_written += 1
        self._report.outputs.append(rel)

    def write_report(self, report: BatchReport) -> None:
        out = self.config.output
        data = {**dataclasses.asdict(report), "method": self.config.method, "sliders": self.sliders,
                "input": str(self.config.input), "output_kind": self.config.output_kind,
                "batch_size": self.config.batch_size}  # fmt: skip
        write_json_atomic(out / "batch_report.json", data)
        before = len(report.failures) - len(report.failed_now)
        lines = [
            f"faceedit batch: {self.config.input} -> {out} ({self.config.method}, {self.config.output_kind})",
            f"photos: {report.photos}, faces: {report.faces}, written: {report.outputs_written}, "
            f"already complete: {report.outputs_skipped}, failed: {len(report.failures)} ({before} failed before, skipped)"
            + (", CANCELLED" if report.cancelled else ""),
        ]
        lines += [f"FAILED {f['photo']}: {f['reason']}" for f in report.failed_now]
        lines += [f"FAILED BEFORE, SKIPPED {f['photo']}: {f['reason']}" for f in report.failures if f.get("status") == FAILED_BEFORE]
        if report.failed_before:
            lines.append("(photos that failed before are tried again when the file changes, or with --retry-failed)")
        write_text_atomic(out / "batch_report.txt", "\n".join(lines) + "\n")


def _failure(photo: Path, reason: str, status: str = FAILED) -> dict[str, str]:
    return {"photo": str(photo), "reason": reason, "status": status}
