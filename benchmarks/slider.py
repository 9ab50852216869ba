"""Per-slider update speed on the 128 px configuration at batch 1 (issue 8, item 1).

Times side by side, interleaved, in one run:
  naive     the whole pipeline per slider change: align + encode + reconstruction pass
            + content inputs + edit (face detection excluded: it is cached either way)
  full      the cached full refined 128 px update (`EditSession.render`)
  preview   the preview shown while dragging (both passes one level early, 64 px)
  preview2  two levels early (32 px), for comparison
  fused / unfused  the full update with each modulated-conv path
  uncached  the full update without the cached content inputs (before this issue)
and prints ratios; the LAST line is one JSON object (`preview_fps`, `full_ms`,
`speedup_vs_naive`, ...). Random weights, the real architecture
(`faceedit_gui.engine.devbundle`).

    .venv/bin/python benchmarks/slider.py
    .venv/bin/python benchmarks/slider.py --repeats 40 --threads 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from faceedit_gui.checkpoints.bundle import load_bundle  # noqa: E402
from faceedit_gui.engine.devbundle import build_dev_bundle  # noqa: E402
from faceedit_gui.engine.runtime import configure_cpu, cpu_name, set_modconv_fused  # noqa: E402
from faceedit_gui.engine.session import EditSession  # noqa: E402
from faceedit_gui.faces.loading import load_photo  # noqa: E402

DEFAULT_PHOTO = REPO.parent / "shared" / "data" / "photos" / "wild" / "img1.jpg"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--photo", type=Path, default=DEFAULT_PHOTO, help="a photo with one face")
    p.add_argument("--repeats", type=int, default=20, help="timed rounds (each times every variant once)")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: usable cores)")
    args = p.parse_args(argv)
    threads = configure_cpu(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        bundle = load_bundle(build_dev_bundle(Path(tmp) / "bundle", size=128))
    session = EditSession(bundle, load_photo(args.photo))
    names = session.attribute_names
    generator = session.generator
    tick = [0]

    def sliders() -> dict[str, float]:  # a new value every call, like a drag
        tick[0] += 1
        return {names[0]: -1.0 + (tick[0] % 40) / 20.0, names[1]: 0.3}

    def render(preview: bool = False, drop: int = 1) -> None:
        session.preview_drop = drop
        result = session.render(sliders(), preview=preview)
        session.preview_drop = 1
        assert result.ok, result.error

    def naive() -> None:
        session.select_face(session.face_index)
        render()

    def with_path(fused: bool):
        def run() -> None:
            set_modconv_fused(generator, fused)
            render()
        return run

    def uncached() -> None:
        content, session.content = session.content, None
        render()
        session.content = content

    variants = {
        "naive": naive,
        "full": render,
        "preview": lambda: render(preview=True),
        "preview2": lambda: render(preview=True, drop=2),
        "fused": with_path(True),
        "unfused": with_path(False),
        "uncached": uncached,
    }
    engine_fused = all(m.fused for m in generator.modules() if hasattr(m, "fused"))
    times: dict[str, list[float]] = {k: [] for k in variants}
    with torch.inference_mode():
        for fn in variants.values():  # warm-up
            fn()
        for _ in range(args.repeats):
            for name, fn in variants.items():
                t0 = time.perf_counter()
                fn()
                times[name].append((time.perf_counter() - t0) * 1e3)
    set_modconv_fused(generator, engine_fused)
    ms = {k: statistics.median(v) for k, v in times.items()}

    print(f"machine: {cpu_name()}, {threads['threads']} torch threads, interop {threads['interop_threads']}, torch {torch.__version__}")
    print(f"model: 128 px real configuration, random weights; photo {args.photo.name}; median of {args.repeats}")
    for name, v in ms.items():
        print(f"  {name:9s} {v:8.1f} ms  ({1e3 / v:6.1f} /s)")
    print(f"cached full vs naive:     {ms['naive'] / ms['full']:.2f}x   (target >= 2x)")
    print(f"preview vs full:          {ms['full'] / ms['preview']:.2f}x")
    print(f"preview2 vs full:         {ms['full'] / ms['preview2']:.2f}x")
    print(f"unfused vs fused:         {ms['fused'] / ms['unfused']:.2f}x   (engine uses {'fused' if engine_fused else 'unfused'})")
    print(f"content cache (uncached/full): {ms['uncached'] / ms['full']:.2f}x")
    print(f"targets: preview >= 30/s: {1e3 / ms['preview']:.1f}/s; full <= 100 ms: {ms['full']:.1f} ms")
    record = {
        "preview_fps": round(1e3 / ms["preview"], 2),
        "preview2_fps": round(1e3 / ms["preview2"], 2),
        "full_ms": round(ms["full"], 2),
        "naive_ms": round(ms["naive"], 2),
        "speedup_vs_naive": round(ms["naive"] / ms["full"], 3),
        "unfused_vs_fused": round(ms["fused"] / ms["unfused"], 3),
        "content_cache_speedup": round(ms["uncached"] / ms["full"], 3),
        "threads": threads["threads"],
        "cpu": cpu_name(),
    }
    print(json.dumps(record))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
