"""Keep a lent-GPU run under its 64 MiB carry: park the committed model files it does not need.

A device run sends the repository's tracked and untracked-but-not-ignored files. Once the
generator's training state (G + G_ema + D, ~36 MiB), the encoder (~11 MiB), the editor
(~8 MiB per variant) and the assembled bundle `models/default/` are all committed, the
tree alone passes 64 MiB, although each run reads only a few of those files: encoder and
editor training need the generator's `G_ema` and `state.json`, not `G` or `D`. So, before
a call, move the model files that run does not read into `.park/` (git-ignored, so it does
not travel), and move them back after:

    python -m faceedit_gui.training.park encoder          # park all but what `train encoder` reads
    python -m faceedit_gui.training.park editor --variant full
    ... stage a data window of the MiB printed, device run, collect ...
    python -m faceedit_gui.training.park restore          # every parked file back in place
    python -m faceedit_gui.training.park status

Only tracked files under `models/` are parked (its Markdown stays); nothing is deleted; `.park/manifest.json`
lists what moved, and `restore` refuses to overwrite a file that reappeared meanwhile.
Commit with explicit paths (`git commit -- PATH`) while files are parked, never `-a`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from faceedit_gui.training.chunks import CARRY_LIMIT, MiB, REPO, working_tree_bytes

PARK_DIR = ".park"
MANIFEST = "manifest.json"
MODELS = "models"
GENERATOR = "models/training/generator"
FROZEN = ("models/training/classifier/", "models/training/identity/")
EDITOR_VARIANTS = ("style", "style_spa", "refine", "full")


def needed(run: str, variant: str = "full") -> tuple[str, ...]:
    """Repo-relative files or folders (ending in '/') that a device run of `run` reads."""
    ema = (f"{GENERATOR}/G_ema.safetensors", f"{GENERATOR}/state.json")
    if run == "generator":
        return (f"{GENERATOR}/",)
    if run == "encoder":
        return ema + ("models/training/encoder/",) + FROZEN
    if run == "editor":
        if variant not in EDITOR_VARIANTS:
            raise ValueError(f"variant: got {variant!r}, expected one of {EDITOR_VARIANTS}")
        editor = "models/training/editor/" if variant == "full" else f"models/training/editor_{variant}/"
        return ema + ("models/training/encoder/", editor) + FROZEN
    if run == "none":  # benchmarks on random weights
        return ()
    raise ValueError(f"run: got {run!r}, expected generator, encoder, editor or none")


def keeps(path: str, keep: tuple[str, ...]) -> bool:
    """Whether `path` is one of `keep` or lies in one of its folders (entries ending in '/')."""
    return any(path == k or (k.endswith("/") and path.startswith(k)) for k in keep)


def tracked_model_files(repo: Path) -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z", "--", MODELS], cwd=repo, check=True, capture_output=True).stdout
    return sorted(n for n in out.decode().split("\0") if n and not n.endswith(".md") and (repo / n).is_file())


def _manifest_path(repo: Path) -> Path:
    return repo / PARK_DIR / MANIFEST


def parked(repo: Path = REPO) -> list[str]:
    path = _manifest_path(repo)
    return json.loads(path.read_text())["files"] if path.is_file() else []


def _check_ignored(repo: Path) -> None:
    if subprocess.run(["git", "check-ignore", "-q", PARK_DIR + "/x"], cwd=repo).returncode != 0:
        raise RuntimeError(f"{PARK_DIR}/ is not git-ignored: parked files would still travel")


def park(run: str, variant: str = "full", repo: Path = REPO) -> list[str]:
    """Move every tracked model file that `run` does not read into `.park/`; return them.
    Files parked earlier stay parked (the manifest accumulates)."""
    _check_ignored(repo)
    keep = needed(run, variant)
    already = parked(repo)
    moved = [p for p in tracked_model_files(repo) if not keeps(p, keep)]
    # the manifest first: a run cut off while moving still restores what did move
    _write_manifest(repo, sorted(set(already) | set(moved)), run)
    for rel in moved:
        target = repo / PARK_DIR / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(repo / rel), str(target))
    return moved


def _write_manifest(repo: Path, files: list[str], run: str) -> None:
    path = _manifest_path(repo)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"run": run, "files": files}, indent=1) + "\n")
    tmp.replace(path)


def restore(repo: Path = REPO) -> list[str]:
    """Move every parked file back; return them. If a parked file exists in the tree again
    (say a newer checkpoint was collected meanwhile), nothing moves and the clash is named."""
    files = parked(repo)
    clashes = [rel for rel in files if (repo / rel).exists() and (repo / PARK_DIR / rel).exists()]
    if clashes:
        raise RuntimeError(f"these parked files exist in the tree again; move one copy away first: {clashes[:5]}")
    for rel in files:
        source = repo / PARK_DIR / rel
        if source.exists():
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(source), str(repo / rel))
    _manifest_path(repo).unlink(missing_ok=True)
    return files


def carry_room(repo: Path = REPO, margin_mib: float = 1.5) -> int:
    """Bytes left for carried data with the tree as it is now."""
    return CARRY_LIMIT - working_tree_bytes(repo) - int(margin_mib * MiB)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m faceedit_gui.training.park", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("run", choices=["generator", "encoder", "editor", "none", "restore", "status"])
    p.add_argument("--variant", default="full", choices=EDITOR_VARIANTS, help="the editor variant a run trains")
    args = p.parse_args(argv)
    try:
        if args.run == "restore":
            print(f"restored {len(restore())} files")
        elif args.run != "status":
            print(f"parked {len(park(args.run, args.variant))} files for a {args.run} run (restore: ... park restore)")
    except (RuntimeError, ValueError, OSError) as exc:
        print(f"park: {exc}", file=sys.stderr)
        return 1
    files = parked()
    print(f"parked now: {len(files)} files" + "".join(f"\n  {f}" for f in files[:20]))
    room = carry_room()
    print(f"working tree {working_tree_bytes(REPO) / MiB:.2f} MiB; room for carried data {room / MiB:.2f} MiB "
          f"(stage with: python -m faceedit_gui.training.chunks stage --budget-mib {max(room, 0) / MiB:.1f})")  # fmt: skip
    return 0 if room > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
