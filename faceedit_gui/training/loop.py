"""The plumbing that the generator and encoder training loops share.

Wall-clock chunks ("continue for N minutes", stop `save_reserve_s` early to save), the
resume folder, per-step seeds, the control point every `log_every` steps (one host sync:
log, divergence, stop on any rank, periodic save) and the closing save and summary.
The loops keep what differs: their networks, losses, state and log fields.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from faceedit_gui.training import checkpoint as ckpt
from faceedit_gui.training.distributed import DistInfo, any_rank
from faceedit_gui.training.train_log import JsonlLog


class TrainingDiverged(RuntimeError):
    """A logged loss became NaN or infinite; nothing was saved after it."""


def step_seed(seed: int, step: int, rank: int, salt: int) -> int:
    """The seed for `(seed, step, rank)`; `salt` keeps each loop's stream its own."""
    return (seed * 1_000_003 + step * 7_919 + rank * 104_729 + salt) % (2**62)


def pick_resume(resume: str | Path | Sequence[str | Path] | None) -> Path | None:
    """The checkpoint folder to resume from (highest step of those given), or None."""
    if resume is None:
        return None
    dirs = [resume] if isinstance(resume, (str, Path)) else list(resume)
    resume_dir = ckpt.pick_latest(dirs)
    if resume_dir is None:
        raise ckpt.CheckpointError(f"no checkpoint (state.json) in any of {[str(d) for d in dirs]}")
    return resume_dir


def set_cuda_flags(tf32: bool) -> None:
    """cuDNN autotuning and the float32 matmul precision (TF32 when `tf32`)."""
    torch.backends.cudnn.benchmark = True
    torch.set_float32_matmul_precision("high" if tf32 else "highest")


def open_log(out_dir: Path, resume_dir: Path | None, step: int, info: DistInfo) -> JsonlLog:
    """`out_dir/log.jsonl` (main rank only), seeded with the resumed run's lines up to `step`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    log = JsonlLog(out_dir / "log.jsonl", enabled=info.is_main)
    log.seed_from(None if resume_dir is None else Path(resume_dir) / "log.jsonl", step)  # fresh: empty
    return log


class WallClock:
    """Time since `t0` (the start of the command), the deadline, throughput since the last log."""

    def __init__(self, t0: float, minutes: float, save_reserve_s: float, elapsed_before: float, step: int) -> None:
        self.t0 = t0
        self.elapsed_before = elapsed_before
        self.deadline = t0 + minutes * 60.0 - save_reserve_s
        self.t_loop = self.last_t = self.last_save = time.time()
        self.last_step = step

    def elapsed_s(self, now: float) -> float:
        """Training time over all chunks, rounded for logs and `state.json`."""
        return round(self.elapsed_before + now - self.t0, 1)

    def stale(self) -> bool:
        """No control point for a minute (slow steps): check the clock anyway."""
        return time.time() - self.last_t > 60

    def rate(self, step: int, batch: int, now: float) -> float:
        """Images per second since the last control point."""
        return round((step - self.last_step) * batch / max(now - self.last_t, 1e-9), 1)

    def run_rate(self, start_step: int, step: int, batch: int, now: float) -> float:
        """Images per second over this run's loop."""
        return round((step - start_step) * batch / max(now - self.t_loop, 1e-9), 1)

    def run_record(
        self, now: float, run: int, start_step: int, step: int, batch: int, device: str, world_size: int, data: Any,
        run_key: str = "chunk",
    ) -> dict[str, Any]:
        """This run's entry for `state.json`'s run list (`run_key` names the run counter)."""
        return {run_key: run, "start_step": start_step, "end_step": step, "seconds": round(now - self.t0, 1),
                "images_per_s": self.run_rate(start_step, step, batch, now),
                "device": device, "world_size": world_size, "data": data}  # fmt: skip


def control_point(
    clock: WallClock,
    step: int,
    now: float,
    rec: dict[str, Any],
    values: dict[str, float],
    log: JsonlLog,
    info: DistInfo,
    dev: torch.device,
    checkpoint_every_minutes: float,
    save: Callable[[], Any],
    say: Callable[[str], None],
) -> tuple[bool, bool]:
    """Write `rec`; stop on a non-finite loss or the deadline (any rank); save periodically.

    Returns `(stop, diverged)`.
    """
    log.write(rec)
    clock.last_t, clock.last_step = now, step
    diverged = any(not math.isfinite(v) for v in values.values())
    if any_rank(diverged or now >= clock.deadline, info, dev):
        return True, diverged
    if info.is_main and now - clock.last_save >= checkpoint_every_minutes * 60:
        save()
        say(f"step {step}: {rec}")
        clock.last_save = time.time()
    return False, diverged


def finish(
    clock: WallClock,
    step: int,
    diverged: bool,
    out_dir: Path,
    info: DistInfo,
    dev: torch.device,
    save: Callable[[], dict[str, Any]],
) -> tuple[dict[str, Any], float]:
    """After the loop: sync, refuse to save a diverged run, save. Returns `(written, seconds)`."""
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    if diverged:
        raise TrainingDiverged(f"a loss became non-finite by step {step}; the last good save is in {out_dir}")
    written = save() if info.is_main else {}
    return written, time.time() - clock.t_loop


def file_sizes(written: dict[str, Any]) -> dict[str, int]:
    """File name -> bytes of a `save_training_checkpoint` result (empty off the main rank)."""
    return {k: v["bytes"] for k, v in written.get("files", {}).items()}
