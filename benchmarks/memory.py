"""Resident memory over many slider updates (issue 8, item 4): it must stay flat.

Renders `--tiny` previews on the 32 px test configuration and `--real` on the 128 px
one (random weights), reading RSS from /proc/self/statm every `--every` renders, and
prints the least-squares slope in KiB per 1,000 renders after a warm-up. Last line JSON.

    .venv/bin/python benchmarks/memory.py                      # 10,000 + 300 renders
    .venv/bin/python benchmarks/memory.py --tiny 2000 --real 100
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from faceedit_gui.checkpoints.bundle import load_bundle  # noqa: E402
from faceedit_gui.engine.devbundle import build_dev_bundle  # noqa: E402
from faceedit_gui.engine.runtime import configure_cpu  # noqa: E402
from faceedit_gui.engine.session import EditSession  # noqa: E402
from faceedit_gui.faces.loading import load_photo  # noqa: E402

PHOTO = REPO.parent / "shared" / "data" / "photos" / "ffhq" / "00001.png"
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") / 1024


def rss_kib() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE_KIB


def measure(session: EditSession, n: int, every: int) -> dict[str, float]:
    name = session.attribute_names[0]
    xs, ys = [], []
    for i in range(n):
        result = session.render({name: -1.0 + (i % 200) / 100.0}, preview=(i % 10 != 9))  # a drag, a release now and then
        assert result.ok, result.error
        if i % every == 0:
            xs.append(i)
            ys.append(rss_kib())
    warm = len(xs) // 5  # the allocator settles in the first fifth
    slope = float(np.polyfit(xs[warm:], ys[warm:], 1)[0]) * 1000 if len(xs) - warm >= 2 else 0.0
    return {"renders": n, "rss_start_mib": ys[0] / 1024, "rss_end_mib": ys[-1] / 1024,
            "rss_max_mib": max(ys) / 1024, "slope_kib_per_1000": slope}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tiny", type=int, default=10_000, help="renders on the 32 px test bundle")
    p.add_argument("--real", type=int, default=300, help="renders on the 128 px configuration")
    p.add_argument("--every", type=int, default=20, help="read RSS every this many renders")
    args = p.parse_args(argv)
    configure_cpu()
    photo = load_photo(PHOTO)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for key, n, kw in (("tiny_32px", args.tiny, {"size": 32, "tiny": True}), ("real_128px", args.real, {"size": 128})):
            if n <= 0:
                continue
            session = EditSession(load_bundle(build_dev_bundle(Path(tmp) / key, **kw)), photo)
            out[key] = m = measure(session, n, args.every)
            print(f"{key}: {n} renders, RSS {m['rss_start_mib']:.1f} -> {m['rss_end_mib']:.1f} MiB "
                  f"(max {m['rss_max_mib']:.1f}), slope {m['slope_kib_per_1000']:+.1f} KiB per 1,000 renders")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
