"""Latest-wins rendering on one worker thread, in plain Python (no Qt).

A burst of slider ticks must not become a backlog (CONVENTIONS.md §3): the scheduler
keeps ONE pending request; a new request replaces it. Each request gets a generation
stamp; a result is delivered only if it is newer than everything delivered before and
was not cancelled (`cancel()` or a new `epoch`, e.g. another photo), so a stale frame is
never shown, while a long drag still shows the newest finished frame at the worker's
pace. The render function returns its errors as data; an exception escaping it is
caught and turned into an error result, and the worker keeps going.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Delivery:
    generation: int
    result: Any  # whatever the render function returned, or None with `error`
    seconds: float  # wall time of the render
    error: str = ""


class RenderScheduler:
    def __init__(self, render: Callable[[Any], Any], deliver: Callable[[Delivery], None], name: str = "faceedit-render"):
        self._render = render
        self._deliver = deliver
        self._cond = threading.Condition()
        self._pending: tuple[int, Any] | None = None
        self._generation = 0
        self._floor = 0  # results at or below this generation are stale (cancelled)
        self._delivered = 0
        self._busy = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, request: Any) -> int:
        """Queue `request`, replacing any request not yet started; returns its generation."""
        with self._cond:
            if self._closed:
                raise RuntimeError("the render scheduler is closed")
            self._generation += 1
            self._pending = (self._generation, request)
            self._cond.notify()
            return self._generation

    def cancel(self) -> None:
        """Drop the pending request and make every result in flight stale."""
        with self._cond:
            self._pending = None
            self._floor = self._generation

    def idle(self) -> bool:
        with self._cond:
            return self._pending is None and not self._busy

    def wait_idle(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending is not None or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def close(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._closed = True
            self._pending = None
            self._floor = self._generation
            self._cond.notify_all()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                generation, request = self._pending
                self._pending = None
                self._busy = True
            t0 = time.perf_counter()
            try:
                delivery = Delivery(generation, self._render(request), time.perf_counter() - t0)
            except Exception as exc:  # keep the worker alive; the error is data
                delivery = Delivery(generation, None, time.perf_counter() - t0, f"{type(exc).__name__}: {exc}")
            with self._cond:
                fresh = generation > self._floor and generation > self._delivered
                if fresh:
                    self._delivered = generation
            if fresh:
                try:
                    self._deliver(delivery)
                except Exception:  # a broken consumer must not kill rendering
                    pass
            with self._cond:
                self._busy = False
                self._cond.notify_all()
