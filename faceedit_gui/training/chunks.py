"""Chunked generator training on a lent GPU: what to carry in, what to commit after.

A lent GPU run carries at most 64 MiB: the repository's tracked and untracked-but-not-
ignored files (the committed checkpoint `models/training/generator/` included, ~36 MiB
for the bundled config) plus the git-ignored paths named in `carry`. So each run trains on
a *window* of the training faces that fits what is left:

    python -m faceedit_gui.training.chunks budget     # MiB left for data, and why
    python -m faceedit_gui.training.chunks stage      # write .data/gen_chunk/ (next window)
    ... device run: scripts/gpu_train_generator.sh, carry [".data/gen_chunk"] ...
    python -m faceedit_gui.training.chunks collect FILES_AT --commit

`stage` orders every TRAIN image of the packed sets (`faceedit prepare-data` output,
default `.data/aligned/{utkface,celeba}_128`) by one fixed permutation and cuts the next
window from where the committed checkpoint's last run stopped (its `state.json` history
records each window), wrapping around; faces are re-encoded as JPEG q90 4:2:0 (about half
the packed bytes; `--quality 0` copies the packed bytes as they are). `collect` checks a returned
checkpoint (hashes, steps, shapes) and replaces the committed one with it.

Re-encoding uses OpenCV (here, on the CPU machine); nothing here runs on the GPU machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MiB = 1 << 20
CARRY_LIMIT = 64 * MiB
CHUNK_FORMAT = "faceedit-gen-chunk/1"
CHUNK_META = "chunk.json"  # also read by data.ImageBank and recorded in state.json history
CHUNK_FILE = "chunk.npz"
REPO = Path(__file__).resolve().parents[2]
DEFAULT_SETS = (".data/aligned/utkface_128", ".data/aligned/celeba_128")
DEFAULT_CKPT = "models/training/generator"
DEFAULT_STAGE = ".data/gen_chunk"
CKPT_FILES = ("G.safetensors", "G_ema.safetensors", "D.safetensors", "state.json", "log.jsonl")
ORDER_SEED = 0
# Re-encoding the packed q95 4:4:4 crops as q90 4:2:0 about halves their bytes (~4.7 KB vs
# ~9 KB a 128 px face; mean error 1.6 grey levels): twice the faces per chunk, which
# matters more to a discriminator that sees each face hundreds of times per chunk.
DEFAULT_QUALITY = 90
_NAME_BYTES = 64  # names are stored as S64
_NPZ_SLACK = 16 * 1024  # zip headers of a handful of arrays


# ----------------------------------------------------------------------------- budget


def working_tree_bytes(repo: Path = REPO, exclude: str | None = None) -> int:
    """Bytes of what a device run sends: tracked + untracked-not-ignored files (those
    under `exclude`, a repo-relative folder, left out)."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=repo, check=True, capture_output=True,
    ).stdout  # fmt: skip
    total = 0
    for name in sorted(set(out.decode().split("\0")) - {""}):
        if exclude and (name == exclude or name.startswith(exclude.rstrip("/") + "/")):
            continue
        p = repo / name
        if p.is_file():
            total += p.stat().st_size
    return total


def expected_checkpoint_bytes(ckpt_dir: Path) -> int:
    """Bytes the committed checkpoint will take in the next run: its files now, or, before
    the first commit, the bundled config's G + G_ema + D in float16 plus 0.2 MiB."""
    present = [ckpt_dir / f for f in CKPT_FILES if (ckpt_dir / f).is_file()]
    if len(present) >= 4:
        return sum(p.stat().st_size for p in present) + 64 * 1024  # room for log growth
    from faceedit_gui.training.train_generator import GeneratorTrainConfig, build_networks

    g, d = build_networks(GeneratorTrainConfig())
    params = 2 * sum(p.numel() for p in g.parameters()) + sum(p.numel() for p in d.parameters())
    buffers = 2 * sum(b.numel() for b in g.buffers()) + sum(b.numel() for b in d.buffers())
    return 2 * (params + buffers) + int(0.2 * MiB)


@dataclass(frozen=True)
class Budget:
    tree: int  # bytes of the working tree outside the checkpoint folder
    checkpoint: int  # bytes of the checkpoint the run carries
    margin: int  # slack for files added before the run
    data: int  # what is left for data

    def describe(self) -> str:
        return (
            f"carry limit 64.0 MiB = tree {self.tree / MiB:.2f} + checkpoint {self.checkpoint / MiB:.2f} "
            f"+ margin {self.margin / MiB:.2f} + data {self.data / MiB:.2f} MiB"
        )


def carry_budget(repo: Path = REPO, ckpt: str = DEFAULT_CKPT, margin_mib: float = 1.5, stage: str = DEFAULT_STAGE) -> Budget:
    tree = working_tree_bytes(repo, exclude=ckpt)
    if (repo / stage).exists() and not _is_ignored(repo, stage):
        raise RuntimeError(f"{stage} is not git-ignored: it would travel twice")
    checkpoint = expected_checkpoint_bytes(repo / ckpt)
    margin = int(margin_mib * MiB)
    return Budget(tree, checkpoint, margin, CARRY_LIMIT - tree - checkpoint - margin)


def _is_ignored(repo: Path, path: str) -> bool:
    return subprocess.run(["git", "check-ignore", "-q", path], cwd=repo).returncode == 0


# ----------------------------------------------------------------------------- windows


@dataclass(frozen=True)
class Item:
    set_index: int  # index into the list of packed sets
    shard: str  # shard file name
    index: int  # image index inside the shard


def training_items(sets: list[Path]) -> list[Item]:
    """Every train image of the packed sets, in one fixed shuffled order."""
    from faceedit_gui.training.data import SPLIT_KEY, TRAIN_SPLIT, list_shards

    items = []
    for si, folder in enumerate(sets):
        for path in list_shards(folder):
            with np.load(path, allow_pickle=False) as z:
                split = z[SPLIT_KEY] if SPLIT_KEY in z.files else None
                n = (z["offsets"].shape[0] - 1) if "offsets" in z.files else z["images"].shape[0]
            keep = range(n) if split is None else np.flatnonzero(split == TRAIN_SPLIT).tolist()
            items += [Item(si, path.name, int(i)) for i in keep]
    order = np.random.default_rng(ORDER_SEED).permutation(len(items))
    return [items[i] for i in order]


def next_start(ckpt_dir: Path, total: int) -> int:
    """Where the next window starts: after the last window the committed checkpoint saw."""
    state_path = ckpt_dir / "state.json"
    if not state_path.is_file():
        return 0
    for run in reversed(json.loads(state_path.read_text()).get("history", [])):
        meta = run.get("window")
        if isinstance(meta, dict) and meta.get("format") == CHUNK_FORMAT and meta.get("total") == total:
            return (int(meta["start"]) + int(meta["count"])) % total
    return 0


def stage_chunk(
    sets: list[Path],
    out_dir: Path,
    budget_bytes: int,
    start: int,
    quality: int | None = None,
) -> dict:
    """Write `out_dir/chunk.npz` (+ `chunk.json`): the images of the fixed order from
    `start` (wrapping) while the file stays within `budget_bytes`."""
    items = training_items(sets)
    total = len(items)
    if total == 0:
        raise ValueError(f"no training images in {[str(s) for s in sets]}")
    cache: dict[tuple[int, str], dict[str, np.ndarray]] = {}

    def shard(item: Item) -> dict[str, np.ndarray]:
        key = (item.set_index, item.shard)
        if key not in cache:
            with np.load(sets[item.set_index] / item.shard, allow_pickle=False) as z:
                cache[key] = {k: z[k] for k in z.files if k in ("data", "offsets", "images", "names", "encoding")}
        return cache[key]

    def encoded(item: Item) -> bytes:
        z = shard(item)
        enc = str(z["encoding"]) if "encoding" in z else "raw"
        if enc == "raw" or quality is not None:
            if enc == "raw":
                rgb = z["images"][item.index]
            else:
                a, b = z["offsets"][item.index], z["offsets"][item.index + 1]
                rgb = _decode(z["data"][a:b])
            return _encode_jpeg(rgb, quality or 95)
        a, b = z["offsets"][item.index], z["offsets"][item.index + 1]
        return z["data"][a:b].tobytes()

    blobs, names, sizes = [], [], set()
    used = _NPZ_SLACK + 8
    for k in range(total):
        item = items[(start + k) % total]
        blob = encoded(item)
        cost = len(blob) + 8 + _NAME_BYTES + 1
        if used + cost > budget_bytes:
            break
        blobs.append(blob)
        z = shard(item)
        names.append(z["names"][item.index] if "names" in z else f"{item.shard}:{item.index}".encode())
        used += cost
    if not blobs:
        raise ValueError(f"a budget of {budget_bytes} bytes holds no image")
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in list(out_dir.glob("*.npz")) + [out_dir / CHUNK_META]:
        if old.exists():
            old.unlink()
    lengths = np.array([len(b) for b in blobs], np.int64)
    with np.load(sets[items[0].set_index] / items[0].shard, allow_pickle=False) as z:
        size = int(z["size"]) if "size" in z.files else 0
    np.savez(
        out_dir / CHUNK_FILE,
        encoding=np.array("jpeg"),
        size=np.array(size, np.int32),
        data=np.frombuffer(b"".join(blobs), np.uint8),
        offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        names=np.array(names, dtype=f"S{_NAME_BYTES}"),
        split=np.zeros(len(blobs), np.int8),
    )
    nbytes = (out_dir / CHUNK_FILE).stat().st_size
    if nbytes > budget_bytes:
        raise RuntimeError(f"{out_dir / CHUNK_FILE}: {nbytes} bytes exceeds the budget {budget_bytes}")
    meta = {
        "format": CHUNK_FORMAT,
        "sets": [s.name for s in sets],
        "order_seed": ORDER_SEED,
        "total": total,
        "start": start,
        "count": len(blobs),
        "quality": quality,
        "bytes": nbytes,
    }
    (out_dir / CHUNK_META).write_text(json.dumps(meta, indent=1) + "\n")
    return meta


def _decode(blob: np.ndarray) -> np.ndarray:
    import cv2  # only for re-encoding, on the CPU machine

    bgr = cv2.imdecode(np.ascontiguousarray(blob), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError("a packed image does not decode")
    return bgr[:, :, ::-1]


def _encode_jpeg(rgb: np.ndarray, quality: int) -> bytes:
    import cv2  # only for re-encoding, on the CPU machine

    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(rgb[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


# ----------------------------------------------------------------------------- collect


def collect(returned: Path, ckpt_dir: Path, grids_dir: Path | None = None, force: bool = False) -> dict:
    """Check the checkpoint a device run returned (`returned` = its generator folder, or a
    folder holding `generator/`) and replace `ckpt_dir`'s files with it."""
    from faceedit_gui.training import checkpoint as ckpt
    from faceedit_gui.config import config_from_dict
    from faceedit_gui.training.train_generator import GeneratorTrainConfig, build_networks

    src = returned / "generator" if (returned / "generator" / "state.json").is_file() else returned
    state = ckpt.read_state(src)
    if state is None:
        raise ckpt.CheckpointError(f"no state.json in {returned} or {returned / 'generator'}")
    g, d = build_networks(config_from_dict(GeneratorTrainConfig, state["config"]))
    g_ema, _ = build_networks(config_from_dict(GeneratorTrainConfig, state["config"]))
    ckpt.load_training_checkpoint(src, {"G": g, "G_ema": g_ema, "D": d})  # hashes, steps, shapes
    old = ckpt.read_state(ckpt_dir)
    if old is not None and int(old["step"]) >= int(state["step"]) and not force:
        raise ckpt.CheckpointError(f"returned step {state['step']} is not past the committed step {old['step']} (--force)")
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    for f in ckpt_dir.iterdir():
        if f.is_file():
            f.unlink()
    for name in CKPT_FILES:
        if (src / name).is_file():
            shutil.copy2(src / name, ckpt_dir / name)
    if grids_dir is not None and (src / "grid.png").is_file():
        grids_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / "grid.png", grids_dir / f"grid_step{int(state['step']):08d}.png")
    return state


def git_commit(paths: list[str], message: str, repo: Path = REPO) -> None:
    """`git add <paths> && git commit -m message`, retrying while another commit holds the lock."""
    for attempt in range(30):
        if not (repo / ".git" / "index.lock").exists():
            add = subprocess.run(["git", "add", "--", *paths], cwd=repo)  # stages deletions inside too
            if add.returncode == 0:
                subprocess.run(["git", "commit", "-m", message, "--", *paths], cwd=repo, check=True)
                return
        time.sleep(2)
    raise RuntimeError("git index stayed locked for a minute")


# ----------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m faceedit_gui.training.chunks", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("budget", help="MiB of data a run can carry")
    s = sub.add_parser("stage", help="write the next data window into .data/gen_chunk")
    for q in (b, s):
        q.add_argument("--checkpoint", default=DEFAULT_CKPT, help="committed checkpoint folder (repo-relative)")
        q.add_argument("--margin-mib", type=float, default=1.5)
    s.add_argument("--sets", nargs="+", type=Path, default=[REPO / x for x in DEFAULT_SETS], help="packed 128 px sets")
    s.add_argument("--out", type=Path, default=REPO / DEFAULT_STAGE)
    s.add_argument("--start", type=int, default=None, help="window start in the fixed order (default: after the last)")
    s.add_argument("--quality", type=int, default=DEFAULT_QUALITY,
                   help=f"re-encode as JPEG (4:2:0) at this quality (default {DEFAULT_QUALITY}); 0: copy the packed bytes")  # fmt: skip
    s.add_argument("--budget-mib", type=float, default=None, help="data size (default: computed)")
    c = sub.add_parser("collect", help="check a returned checkpoint and make it the committed one")
    c.add_argument("returned", type=Path, help="the run's files_at folder (holding generator/) or the generator folder")
    c.add_argument("--checkpoint", default=DEFAULT_CKPT)
    c.add_argument("--force", action="store_true", help="accept a step not past the committed one")
    c.add_argument("--commit", action="store_true", help="git add + commit the checkpoint folder")
    args = p.parse_args(argv)

    if args.cmd in ("budget", "stage"):
        budget = carry_budget(REPO, args.checkpoint, args.margin_mib)
        print(budget.describe())
        from faceedit_gui.training import park  # imports this module: imported here, not at the top

        idle = [f for f in park.tracked_model_files(REPO) if not park.keeps(f, park.needed("generator"))]
        if idle and args.checkpoint == DEFAULT_CKPT:
            mib = sum((REPO / f).stat().st_size for f in idle) / MiB
            print(f"note: {len(idle)} model files ({mib:.1f} MiB) that a generator run does not read travel too; "
                  "`python -m faceedit_gui.training.park generator` moves them out of the way (then stage again)")
        if args.cmd == "budget":
            return 0 if budget.data > 0 else 1
        limit = int(args.budget_mib * MiB) if args.budget_mib is not None else budget.data
        if limit <= 0:
            print("no room for data: shrink the tree or the checkpoint", file=sys.stderr)
            return 1
        sets = [Path(x) for x in args.sets]
        start = args.start if args.start is not None else next_start(REPO / args.checkpoint, len(training_items(sets)))
        meta = stage_chunk(sets, args.out, limit, start, args.quality or None)
        print(json.dumps(meta))
        return 0
    state = collect(args.returned, REPO / args.checkpoint, REPO / "runs" / "generator_grids", args.force)
    print(f"{args.checkpoint}: step {state['step']}, {state['kimg']:.1f} kimg, {len(state.get('history', []))} chunks")
    if args.commit:
        git_commit([args.checkpoint], f"Generator checkpoint: step {state['step']}, {state['kimg']:.0f} kimg")
    return 0


if __name__ == "__main__":
    sys.exit(main())
