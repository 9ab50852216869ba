"""The edit controller: owns the bundle, the session and the render scheduler; speaks Qt signals.

Everything slow runs off the UI thread: bundle loading, photo loading + detection, and
alignment + inversion run as background jobs (plain Python threads, one result signal
each; a newer job of the same kind makes an older one's result stale); renders go
through the engine's `RenderScheduler` (one pending slot, latest wins). Qt only relays:
the scheduler's deliver callback emits a signal, which Qt queues to the UI thread, where
a result older than the one shown, or from a session no longer current, is dropped.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal

from faceedit_gui.checkpoints.bundle import Bundle, load_bundle
from faceedit_gui.engine.sampled import SampledSession
from faceedit_gui.engine.scheduler import Delivery, RenderScheduler
from faceedit_gui.engine.session import EditSession, RenderResult, adapt_preview_drop
from faceedit_gui.faces.detection import NoFaceError, detect_faces, no_face_message
from faceedit_gui.faces.loading import PhotoError, load_photo


@dataclass(frozen=True)
class Frame:
    """A rendered frame ready to show."""

    result: RenderResult
    session: EditSession
    generation: int
    seconds: float  # wall time of the render
    fps: float  # frames delivered per second over the last second


class EditController(QObject):
    bundleLoaded = Signal(object)  # Bundle
    sessionReady = Signal(object)  # EditSession (or SampledSession)
    facesFound = Signal(object, object)  # Photo, list[Face]: several faces, the user picks one
    failed = Signal(str, str)  # title, message
    busy = Signal(str)  # what runs in the background; "" when nothing
    frame = Signal(object)  # Frame
    _relay = Signal(object)  # Delivery, emitted on the render thread
    _job_done = Signal(int, str, bool, object)  # job id, kind, ok, value

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bundle: Bundle | None = None
        self.device = "cpu"  # where bundles are loaded (app.py: --device, default a GPU when there is one)
        self.session: EditSession | None = None
        self.values: dict[str, float] = {}
        self.paste = False
        self.preview = False  # True while a slider is dragged: cheaper frames, full one on release
        self.preview_drop = 1  # levels a preview skips; adapts to keep previews at PREVIEW_FPS
        self.shown_generation = 0
        self.last_frame: Frame | None = None
        self.render_count = 0
        self._times: deque[float] = deque(maxlen=240)
        self._latest_job: dict[str, int] = {}
        self._callbacks: dict[int, Callable[[Any], None]] = {}
        self._threads: list[threading.Thread] = []
        self._job_id = 0
        self._relay.connect(self._on_delivery)
        self._job_done.connect(self._on_job_done)
        self.scheduler = RenderScheduler(self._render, self._relay.emit)

    # ------------------------------------------------------------------ jobs
    def _start_job(self, kind: str, label: str, work: Callable[[], Any], done: Callable[[Any], None]) -> int:
        self._job_id += 1
        job = self._job_id
        self._latest_job[kind] = job
        self._callbacks[job] = done
        self.busy.emit(label)

        def run() -> None:
            try:
                value, ok = work(), True
            except (PhotoError, NoFaceError, ValueError, OSError) as exc:
                value, ok = str(exc), False
            except Exception as exc:  # noqa: BLE001 - shown to the user, never a crash
                traceback.print_exc()  # for the log (stderr); the user gets the one-line reason
                value, ok = f"{type(exc).__name__}: {exc}".strip(), False
            self._job_done.emit(job, kind, ok, value)

        thread = threading.Thread(target=run, name=f"faceedit-{kind}", daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        return job

    def _on_job_done(self, job: int, kind: str, ok: bool, value: Any) -> None:
        done = self._callbacks.pop(job, None)
        if self._latest_job.get(kind) != job:
            return  # superseded by a newer job of the same kind
        self.busy.emit("")
        if not ok:
            titles = {"bundle": "Cannot load the model", "open": "Cannot open the photo", "invert": "Cannot edit this face",
                      "sample": "Cannot sample a face"}
            self.failed.emit(titles.get(kind, "Error"), str(value))
            return
        if done is not None:
            done(value)

    def jobs_running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    # ------------------------------------------------------------------ model
    def load_bundle(self, folder: str | Path) -> None:
        self._start_job("bundle", f"Loading model {Path(folder).name}…", lambda: load_bundle(folder, device=self.device), self._set_bundle)

    def set_bundle(self, bundle: Bundle) -> None:
        self._set_bundle(bundle)

    def _set_bundle(self, bundle: Bundle) -> None:
        self.scheduler.cancel()
        self.bundle = bundle
        self.session = None
        self.last_frame = None
        self.values = {}
        self.bundleLoaded.emit(bundle)

    def slider_names(self) -> list[str]:
        if self.bundle is None:
            return []
        return [a.name for a in self.bundle.card.attributes] + [d.name for d in self.bundle.card.extra_directions]

    # ------------------------------------------------------------------ photos
    def sample(self, seed: int = 0) -> None:
        bundle = self._need_bundle()
        if bundle is not None:
            self._start_job("invert", f"Sampling a face (seed {seed})…", lambda: SampledSession(bundle, seed), self._set_session)

    def open_photo(self, path: str | Path) -> None:
        if self._need_bundle() is None:
            return

        def work():
            photo = load_photo(path)
            faces = detect_faces(photo)
            if not faces:
                raise NoFaceError(path, no_face_message(photo))
            return photo, faces

        self._start_job("open", f"Finding faces in {Path(path).name}…", work, self._photo_loaded)

    def _photo_loaded(self, value) -> None:
        photo, faces = value
        if len(faces) > 1:
            self.facesFound.emit(photo, faces)
        else:
            self.choose_face(photo, faces, 0)

    def choose_face(self, photo, faces, index: int) -> None:
        bundle = self._need_bundle()
        if bundle is not None:
            self._start_job("invert", f"Aligning and inverting face {index + 1}…",
                            lambda: EditSession(bundle, photo, faces, index), self._set_session)

    def _need_bundle(self) -> Bundle | None:
        if self.bundle is None:
            self.failed.emit("No model", "Load a model bundle first (Model ▸ Load bundle…).")
        return self.bundle

    def _set_session(self, session: EditSession) -> None:
        self.scheduler.cancel()
        self.session = session
        self.last_frame = None
        self._times.clear()
        self.sessionReady.emit(session)
        self.request_render()

    # ------------------------------------------------------------------ rendering
    def set_value(self, name: str, value: float) -> None:
        self.values[name] = float(value)
        self.request_render()

    def set_values(self, values: dict[str, float], preview: bool = False) -> None:
        self.values = {k: float(v) for k, v in values.items()}
        self.preview = preview
        self.request_render()

    def end_preview(self) -> None:
        """The drag ended: render the full frame for the values last previewed."""
        if self.preview:
            self.preview = False
            self.request_render()

    def set_paste(self, paste: bool) -> None:
        if paste != self.paste:
            self.paste = paste
            self.request_render()

    def request_render(self) -> int:
        if self.session is None:
            return 0
        sliders = {k: v for k, v in self.values.items() if v}
        return self.scheduler.submit((self.session, sliders, self.paste, self.preview_drop if self.preview else 0))

    def _render(self, request) -> tuple[EditSession, RenderResult]:
        session, sliders, paste, drop = request
        self.render_count += 1
        result = session.render(sliders, paste=paste, preview=drop)
        if drop:
            self.preview_drop = adapt_preview_drop(drop, result.timings.get("render_ms", 0.0), session.generator.num_levels)
        return session, result

    def _on_delivery(self, delivery: Delivery) -> None:
        if delivery.generation <= self.shown_generation or delivery.result is None:
            if delivery.error:
                self.failed.emit("Render failed", delivery.error)
            return
        session, result = delivery.result
        if session is not self.session:
            return  # a frame of the previous photo
        self.shown_generation = delivery.generation
        now = time.perf_counter()
        self._times.append(now)
        recent = [t for t in self._times if now - t <= 1.0]
        fps = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 1 and recent[-1] > recent[0] else 0.0
        self.last_frame = Frame(result, session, delivery.generation, delivery.seconds, fps)
        self.frame.emit(self.last_frame)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        return self.scheduler.wait_idle(timeout)

    def close(self) -> None:
        self.scheduler.close()
        for t in self._threads:
            t.join(30)
        self._threads = []

