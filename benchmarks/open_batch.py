"""Open-to-first-frame time for a 12-megapixel photo, and batch export throughput (issue 8, item 2).

On the 128 px configuration (random weights, `faceedit_gui.engine.devbundle`):
  open      load a 12 MP JPEG (made in a temporary folder by upscaling a real photo from
            ../shared/data/photos/wild; nothing is committed) -> detect -> align + invert
            -> the first edited frame (full refined crop), and the same with paste-back.
            CPU only (the editor's session); skipped with --no-open, on cuda, or without ../shared.
  batch     `BatchJob` over N photos (every face, refined crops as PNG) at batch size 1 and
            at each --batch-size (with each --modconv path), side by side: the variants
            alternate within each round, and the median of --rounds rounds is reported,
            with the ratio to batch 1. Then the networks alone (`FaceRenderer` on the same
            aligned crops, no files), which is what batching can speed up.
Inputs (--inputs):
  wild       N photos of ../shared/data/photos/wild (dlib detection included in the time)
  synthetic  N JPEGs made here (1024x768, one generator sample pasted on noise, its landmarks
             known, so no detector runs): for a machine without ../shared or dlib's models
             (the lent GPU). Same pipeline otherwise: load, align, batched render, PNG writes.
The last line is one JSON object.

    .venv/bin/python benchmarks/open_batch.py
    .venv/bin/python benchmarks/open_batch.py --no-open --threads 1 --batch-size 4 8 --photos 16 --rounds 3
    .venv/bin/python benchmarks/open_batch.py --no-open --inputs synthetic --threads 1 --batch-size 4 8
    python3 benchmarks/open_batch.py --device cuda --inputs synthetic --photos 256 --batch-size 8 32 --modconv fused unfused
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from faceedit_gui.checkpoints.bundle import load_bundle  # noqa: E402
from faceedit_gui.engine.batch_render import FaceRenderer  # noqa: E402
from faceedit_gui.engine.devbundle import build_dev_bundle  # noqa: E402
from faceedit_gui.engine.export import BatchConfig, BatchJob  # noqa: E402
from faceedit_gui.engine.runtime import configure_cpu  # noqa: E402

WILD = REPO.parent / "shared" / "data" / "photos" / "wild"
SLIDERS = {"age": 0.5}


def make_12mp(source: Path, target: Path) -> tuple[int, int]:
    with Image.open(source) as im:
        im = im.convert("RGB")
        w, h = im.size
        scale = (12e6 / (w * h)) ** 0.5
        big = im.resize((round(w * scale), round(h * scale)), Image.Resampling.BICUBIC)
    big.save(target, quality=92)
    return big.size


def time_open(bundle, source: Path, folder: Path, repeats: int) -> tuple[tuple[int, int], dict[str, float]]:
    from faceedit_gui.engine.session import EditSession
    from faceedit_gui.faces.detection import detect_faces
    from faceedit_gui.faces.loading import load_photo

    big = folder / "photo_12mp.jpg"
    size = make_12mp(source, big)
    stages: dict[str, list[float]] = {k: [] for k in ("load", "detect", "invert", "first_frame", "total", "paste")}
    for _ in range(repeats + 1):  # the first round warms caches (dlib models, allocator)
        t0 = time.perf_counter()
        photo = load_photo(big)
        t1 = time.perf_counter()
        faces = detect_faces(photo)
        t2 = time.perf_counter()
        session = EditSession(bundle, photo, faces)
        t3 = time.perf_counter()
        result = session.render(SLIDERS)
        t4 = time.perf_counter()
        assert result.ok, result.error
        session.render(SLIDERS, paste=True)
        t5 = time.perf_counter()
        for k, v in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0, t5 - t4)):
            stages[k].append(v * 1e3)
    big.unlink()
    return size, {k: statistics.median(v[1:]) for k, v in stages.items()}


def wild_inputs(folder: Path, n: int) -> None:
    wild = sorted(q for q in WILD.iterdir() if q.suffix.lower() in (".jpg", ".jpeg", ".png"))[:n]
    for q in wild:
        shutil.copy(q, folder / q.name)


def synthetic_inputs(folder: Path, n: int, bundle, seed: int = 0):
    """n JPEGs with one generator sample each at a known place; returns `detect(photo)`."""
    from faceedit_gui.conventions import tensor_to_uint8
    from faceedit_gui.faces.detection import Face
    from faceedit_gui.faces.framing import UTKFACE_TEMPLATE_PATH, load_framing

    template = load_framing(UTKFACE_TEMPLATE_PATH).template_array()  # [68, 2] in 0..1: a mean face's landmarks
    gen = bundle["generator"]
    device = next(gen.parameters()).device
    rng = np.random.default_rng(seed)
    g = torch.Generator().manual_seed(seed)
    faces = {}
    with torch.inference_mode():
        for i in range(n):
            z = torch.randn(1, gen.style_dim, generator=g).to(device)
            sample = tensor_to_uint8(gen(z)[0])
            side = int(rng.integers(260, 380))
            x0, y0 = int(rng.integers(0, 1024 - side)), int(rng.integers(0, 768 - side))
            canvas = rng.integers(0, 256, (768, 1024, 3), dtype=np.uint8)
            canvas[y0 : y0 + side, x0 : x0 + side] = np.asarray(Image.fromarray(sample).resize((side, side), Image.Resampling.BICUBIC))
            name = f"synthetic_{i:04d}.jpg"
            Image.fromarray(canvas).save(folder / name, quality=92)
            landmarks = (template * side + [x0, y0]).astype(np.float32)
            faces[name] = Face(box=(x0, y0, x0 + side, y0 + side), landmarks=landmarks, score=1.0, detector="given")
    return lambda photo: [faces[photo.path.name]]


def aligned_crops(folder: Path, bundle, detect=None) -> list[np.ndarray]:
    """The aligned crop of every face in `folder`, as the batch job makes them."""
    from faceedit_gui.faces.align import align_face
    from faceedit_gui.faces.detection import detect_faces
    from faceedit_gui.faces.framing import Framing
    from faceedit_gui.faces.loading import PhotoError, load_photo

    framing = Framing.from_dict(bundle.card.framing)
    crops = []
    for path in sorted(folder.iterdir()):
        try:
            photo = load_photo(path)
        except PhotoError:
            continue
        crops += [align_face(photo, f, framing, size=bundle.card.resolution).crop for f in (detect or detect_faces)(photo)]
    return crops


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--photo", type=Path, default=WILD / "img1.jpg", help="source of the 12 MP photo")
    p.add_argument("--photos", type=int, default=8, help="photos in the batch")
    p.add_argument("--repeats", type=int, default=3, help="timed opens (median)")
    p.add_argument("--open", action=argparse.BooleanOptionalAction, default=True, help="time the 12 MP open (CPU)")
    p.add_argument("--inputs", choices=["wild", "synthetic"], default=None,
                   help="batch inputs (default: wild when ../shared is here, else synthetic)")
    p.add_argument("--batch-size", type=int, nargs="+", default=[4], metavar="N", help="batch sizes to compare with 1")
    p.add_argument("--modconv", nargs="+", choices=["fused", "unfused"], default=["fused"],
                   help="modulated-conv path(s) for batch > 1 (batch 1 is always the engine's fused path)")
    p.add_argument("--rounds", type=int, default=2, help="interleaved timed rounds per batch size (median)")
    p.add_argument("--device", default="cpu", help="cpu | cuda")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: the usable cores)")
    args = p.parse_args(argv)
    threads = configure_cpu(args.threads)
    inputs = args.inputs or ("wild" if WILD.is_dir() else "synthetic")
    if inputs == "wild" and not WILD.is_dir():
        p.error(f"--inputs wild needs {WILD}")
    sizes = [1] + sorted({b for b in args.batch_size if b > 1})
    load = [os.getloadavg()[0]]
    gpu = torch.cuda.get_device_name() if args.device.startswith("cuda") and torch.cuda.is_available() else None
    result: dict = {"device": args.device, "gpu": gpu, "threads": threads["threads"], "torch": torch.__version__}

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        bundle = load_bundle(build_dev_bundle(tmp / "bundle", size=128), device=args.device)
        if args.open and args.device == "cpu" and args.photo.is_file():
            size, ms = time_open(bundle, args.photo, tmp, args.repeats)
            print(f"{threads['threads']} torch threads; 12 MP photo {size[0]}x{size[1]} from {args.photo.name}; median of {args.repeats}")
            for k, v in ms.items():
                print(f"  {k:12s} {v:8.1f} ms")
            print(f"open -> first edited frame: {ms['total'] / 1e3:.2f} s (target < 1 s)")
            result.update({"open_to_first_frame_s": round(ms["total"] / 1e3, 3), **{f"{k}_ms": round(v, 1) for k, v in ms.items()}})

        folder = tmp / "in"
        folder.mkdir()
        detect = None
        if inputs == "wild":
            wild_inputs(folder, args.photos)
        else:
            detect = synthetic_inputs(folder, args.photos, bundle)
        n_photos = len(list(folder.iterdir()))

        def export(variant: tuple[int, str], out: Path):
            config = BatchConfig(input=folder, output=out, sliders=SLIDERS, batch_size=variant[0], device=args.device)
            job = BatchJob(config, bundle=bundle, detect=detect)
            job.modconv_fused = variant[1] == "fused"
            t0 = time.perf_counter()
            report = job.run()
            return time.perf_counter() - t0, report

        variants = [(1, "fused")] + [(b, m) for b in sizes[1:] for m in args.modconv]
        warm = tmp / "warm"  # dlib models, allocator, cuDNN's choices, for every variant
        for v in variants:
            export(v, warm / f"{v[0]}_{v[1]}")
        seconds: dict[tuple[int, str], list[float]] = {v: [] for v in variants}
        reports = {}
        for r in range(args.rounds):
            for v in (variants if r % 2 == 0 else variants[::-1]):  # alternate the order: drift hits all
                out = tmp / f"out_{r}_{v[0]}_{v[1]}"
                s, reports[v] = export(v, out)
                seconds[v].append(s)
                shutil.rmtree(out)
        crops = aligned_crops(folder, bundle, detect)
        net: dict[tuple[int, str], list[float]] = {v: [] for v in variants}
        for r in range(args.rounds + 1):  # the first round warms up
            for v in (variants if r % 2 == 0 else variants[::-1]):
                renderer = FaceRenderer(bundle, "refine", SLIDERS, fused=v[1] == "fused")
                t0 = time.perf_counter()
                for i in range(0, len(crops), v[0]):
                    assert all(e.ok for e in renderer.render(crops[i : i + v[0]]))
                if r:
                    net[v].append(len(crops) / (time.perf_counter() - t0))
        load.append(os.getloadavg()[0])

    base = reports[variants[0]]
    assert all(rep.outputs_written == base.outputs_written for rep in reports.values()), "the variants wrote different outputs"
    rate = {v: n_photos / statistics.median(t) for v, t in seconds.items()}
    one = rate[variants[0]]
    where = gpu or f"cpu, {threads['threads']} torch thread(s)"
    print(f"batch export: {n_photos} {inputs} photos, {base.faces} faces, {base.outputs_written} refined crops (PNG), "
          f"{len(base.failures)} failures; {where}; median of {args.rounds} interleaved rounds; "
          f"load average {load[0]:.1f} -> {load[1]:.1f}")  # fmt: skip
    print(f"  {'batch':>5} {'modconv':>8} {'photos/s':>9} {'faces/s':>8} {'vs batch 1':>10}")
    for v in variants:
        print(f"  {v[0]:5d} {v[1]:>8} {rate[v]:9.2f} {rate[v] * base.faces / n_photos:8.2f} {rate[v] / one:9.2f}x")
    net_rate = {v: statistics.median(x) for v, x in net.items()}
    print(f"networks alone (FaceRenderer.render on the {len(crops)} aligned crops: encode, Q_i, content, style + fused pass):")
    print(f"  {'batch':>5} {'modconv':>8} {'faces/s':>8} {'vs batch 1':>10}")
    for v in variants:
        print(f"  {v[0]:5d} {v[1]:>8} {net_rate[v]:8.2f} {net_rate[v] / net_rate[variants[0]]:9.2f}x")
    key = {v: str(v[0]) if len(args.modconv) == 1 or v[0] == 1 else f"{v[0]}_{v[1]}" for v in variants}
    result.update({"batch_inputs": inputs, "batch_photos": n_photos, "batch_faces": base.faces,
                   "batch_photos_per_s": {key[v]: round(r, 3) for v, r in rate.items()},
                   "batch_ratio_vs_1": {key[v]: round(r / one, 3) for v, r in rate.items()},
                   "render_faces_per_s": {key[v]: round(r, 2) for v, r in net_rate.items()},
                   "render_ratio_vs_1": {key[v]: round(r / net_rate[variants[0]], 3) for v, r in net_rate.items()},
                   "modconv": args.modconv, "rounds": args.rounds, "loadavg": [round(x, 2) for x in load]})  # fmt: skip
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
