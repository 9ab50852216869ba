"""Open-to-first-frame time for a 12-megapixel photo, and batch export throughput (issue 8, item 2).

On the 128 px configuration (random weights, `faceedit_gui.engine.devbundle`), this CPU:
  open      load a 12 MP JPEG (made in a temporary folder by upscaling a real photo from
            ../shared/data/photos/wild; nothing is committed) -> detect -> align + invert
            -> the first edited frame (full refined crop), and the same with paste-back
  batch     `BatchJob` over N wild photos (every face, refined crops as PNG): photos/s
The last line is one JSON object.

    .venv/bin/python benchmarks/open_batch.py
    .venv/bin/python benchmarks/open_batch.py --photos 12 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from faceedit_gui.checkpoints.bundle import load_bundle  # noqa: E402
from faceedit_gui.engine.devbundle import build_dev_bundle  # noqa: E402
from faceedit_gui.engine.export import BatchConfig, BatchJob  # noqa: E402
from faceedit_gui.engine.runtime import configure_cpu  # noqa: E402
from faceedit_gui.engine.session import EditSession  # noqa: E402
from faceedit_gui.faces.detection import detect_faces  # noqa: E402
from faceedit_gui.faces.loading import load_photo  # noqa: E402

WILD = REPO.parent / "shared" / "data" / "photos" / "wild"


def make_12mp(source: Path, target: Path) -> tuple[int, int]:
    with Image.open(source) as im:
        im = im.convert("RGB")
        w, h = im.size
        scale = (12e6 / (w * h)) ** 0.5
        big = im.resize((round(w * scale), round(h * scale)), Image.Resampling.BICUBIC)
    big.save(target, quality=92)
    return big.size


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--photo", type=Path, default=WILD / "img1.jpg", help="source of the 12 MP photo")
    p.add_argument("--photos", type=int, default=8, help="wild photos in the batch")
    p.add_argument("--repeats", type=int, default=3, help="timed opens (median)")
    args = p.parse_args(argv)
    threads = configure_cpu()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        bundle = load_bundle(build_dev_bundle(tmp / "bundle", size=128))
        big = tmp / "photo_12mp.jpg"
        size = make_12mp(args.photo, big)
        stages: dict[str, list[float]] = {k: [] for k in ("load", "detect", "invert", "first_frame", "total", "paste")}
        for _ in range(args.repeats + 1):  # the first round warms caches (dlib models, allocator)
            t0 = time.perf_counter()
            photo = load_photo(big)
            t1 = time.perf_counter()
            faces = detect_faces(photo)
            t2 = time.perf_counter()
            session = EditSession(bundle, photo, faces)
            t3 = time.perf_counter()
            result = session.render({session.attribute_names[0]: 0.5})
            t4 = time.perf_counter()
            assert result.ok, result.error
            session.render({session.attribute_names[0]: 0.5}, paste=True)
            t5 = time.perf_counter()
            for k, v in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0, t5 - t4)):
                stages[k].append(v * 1e3)
        ms = {k: statistics.median(v[1:]) for k, v in stages.items()}

        folder = tmp / "in"
        folder.mkdir()
        wild = sorted(q for q in WILD.iterdir() if q.suffix.lower() in (".jpg", ".jpeg", ".png"))[: args.photos]
        for q in wild:
            shutil.copy(q, folder / q.name)
        job = BatchJob(BatchConfig(input=folder, output=tmp / "out", sliders={session.attribute_names[0]: 0.5}), bundle=bundle)
        t0 = time.perf_counter()
        report = job.run()
        batch_s = time.perf_counter() - t0

    print(f"{threads['threads']} torch threads; 12 MP photo {size[0]}x{size[1]} from {args.photo.name}; median of {args.repeats}")
    for k, v in ms.items():
        print(f"  {k:12s} {v:8.1f} ms")
    print(f"open -> first edited frame: {ms['total'] / 1e3:.2f} s (target < 1 s)")
    rate = len(wild) / batch_s
    print(f"batch: {len(wild)} photos, {report.faces} faces, {report.outputs_written} outputs, "
          f"{len(report.failures)} failures in {batch_s:.1f} s: {rate:.2f} photos/s")
    print(json.dumps({"open_to_first_frame_s": round(ms["total"] / 1e3, 3), **{f"{k}_ms": round(v, 1) for k, v in ms.items()},
                      "batch_photos_per_s": round(rate, 3), "batch_photos": len(wild), "batch_faces": report.faces,
                      "threads": threads["threads"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
