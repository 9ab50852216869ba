"""Process-wide inference settings, in one place: threads and the modulated-conv path.

`configure_cpu()` sets torch's intra-op threads to the cores this process may use and
one inter-op thread (the engine runs one render at a time). `set_modconv_fused(module,
fused)` switches every `ModulatedConv2d` under `module` between its two equivalent paths
(fused: per-sample grouped conv, the reference; unfused: shared conv with scaled
activations). `INFERENCE_FUSED` is the path `EditSession` picks for batch-1 rendering,
chosen from `benchmarks/slider.py` on the project's 2-core CPU (docs/PERFORMANCE.md).
"""

from __future__ import annotations

import contextlib
import os
import platform
from typing import Iterator

import torch
from torch import nn

INFERENCE_FUSED = True  # batch 1 on the 2-core CPU: fused measured ~1.1x faster than unfused (docs/PERFORMANCE.md)


def usable_cores() -> int:
    """CPU cores this process may run on (affinity-aware where the OS says)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def cpu_name() -> str:
    """The processor's model name, for benchmark records."""
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def configure_cpu(threads: int | None = None) -> dict[str, int]:
    """Intra-op threads = usable cores (or `threads`), inter-op 1 where still settable."""
    torch.set_num_threads(threads or usable_cores())
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # only settable before the first parallel work; keep what is there
        pass
    return {"threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads()}


def resolve_device(name: str = "auto") -> str:
    """"auto" -> "cuda" when torch sees a GPU, else "cpu"; "cuda"/"cuda:N" checked to exist
    (ValueError with what is there otherwise); "cpu" as is."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return name
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {name}: no CUDA device is available to this torch ({torch.__version__}); use cpu")
        index = name.partition(":")[2]
        if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
            raise ValueError(f"device {name}: there are {torch.cuda.device_count()} CUDA device(s) here (cuda:0..)")
        return name
    raise ValueError(f"device {name!r}: expected auto, cpu, cuda or cuda:N")


@contextlib.contextmanager
def command_scope(threads: int | None = None, no_grad: bool = True) -> Iterator[None]:
    """A command's torch settings for its own duration: `threads` intra-op threads (if
    given) and, with `no_grad`, gradients off; in-process callers (tests, the GUI) get
    their own settings back afterwards, whatever the command changed meanwhile."""
    saved = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        with torch.no_grad() if no_grad else contextlib.nullcontext():
            yield
    finally:
        torch.set_num_threads(saved)


def set_modconv_fused(module: nn.Module, fused: bool) -> int:
    """Switch every modulated conv under `module` to the fused or unfused path; returns how many."""
    from faceedit_gui.networks.layers import ModulatedConv2d

    n = 0
    for m in module.modules():
        if isinstance(m, ModulatedConv2d):
            m.fused = fused
            n += 1
    return n
