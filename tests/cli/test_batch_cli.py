"""`faceedit batch` as a user runs it: exit codes, and a SIGKILLed run that resumes with no partial file."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from faceedit_gui.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
WILD = ROOT.parent / "shared" / "data" / "photos" / "wild"


def batch_cmd(src: Path, out: Path, bundle: Path, batch_size: int = 1) -> list[str]:
    return [sys.executable, "-m", "faceedit_gui.cli.main", "batch", str(src), str(out), "--set", "age=0.5",
            "--bundle", str(bundle), "--no-progress", "--threads", "1", "--batch-size", str(batch_size)]  # fmt: skip


@pytest.mark.skipif(not WILD.is_dir(), reason="../shared/data/photos/wild is not here")
@pytest.mark.parametrize("batch_size", [1, 3])
def test_a_killed_batch_resumes_and_completes_with_no_partial_files(tmp_path, edit_bundle_dir, batch_size):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("couple.jpg", "img16.jpg", "img12.jpg", "img17.jpg"):
        shutil.copy(WILD / name, src / name)
    (src / "zero.jpg").write_bytes(b"")
    out = tmp_path / "out"
    cmd = batch_cmd(src, out, edit_bundle_dir, batch_size)
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not list(out.glob("*_[0-9].png")):
        time.sleep(0.02)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    first = {p.name for p in out.glob("*_[0-9].png")}
    assert first, "the first run wrote nothing before it was killed"

    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    outputs = sorted(out.glob("*_[0-9].png"))
    assert {"couple_0.png", "couple_1.png", "img16_0.png"} <= {p.name for p in outputs}
    assert not list(out.rglob("*.partial-*"))
    for p in outputs:  # every output is a complete image
        with Image.open(p) as im:
            im.load()
    assert f"{len(outputs)}" in done.stderr or "already complete" in done.stderr
    assert "zero.jpg" in done.stderr and "Traceback" not in done.stderr  # the bad file is still listed


def test_failed_photos_are_listed_as_failed_before_and_retried_with_the_flag(tmp_path, edit_bundle_dir, capsys):
    src = tmp_path / "in"
    src.mkdir()
    (src / "zero.jpg").write_bytes(b"")
    (src / "text.jpg").write_text("not an image")
    args = ["batch", str(src), str(tmp_path / "o"), "--set", "age=1", "--bundle", str(edit_bundle_dir), "--no-progress"]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "failed " in err and "zero.jpg" in err and "before" not in err
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.count("failed before, skipped") == 2 and "zero.jpg: empty file" in err
    assert "2 failed (2 of them failed before and were skipped: --retry-failed tries them again)" in err
    assert main(args + ["--retry-failed"]) == 1
    err = capsys.readouterr().err
    assert "failed before" not in err and "zero.jpg" in err and "text.jpg" in err


def test_a_bad_batch_size_or_a_missing_cuda_device_is_a_message(tmp_path, edit_bundle_dir, capsys):
    import torch

    base = ["batch", str(tmp_path), str(tmp_path / "o"), "--bundle", str(edit_bundle_dir), "--no-progress"]
    assert main(base + ["--batch-size", "0"]) == 2
    assert "batch size 0" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(base + ["--device", "cuda"]) == 2
        err = capsys.readouterr().err
        assert "no CUDA device" in err and "Traceback" not in err


def test_exit_codes_bad_arguments_2_nothing_done_1(tmp_path, edit_bundle_dir, capsys):
    src = tmp_path / "in"
    src.mkdir()
    (src / "fake.jpg").write_text("not an image")
    assert main(["batch", str(src), str(tmp_path / "o"), "--set", "nose=1", "--bundle", str(edit_bundle_dir), "--no-progress"]) == 2
    assert "unknown slider" in capsys.readouterr().err
    assert main(["batch", str(src), str(tmp_path / "o"), "--set", "age=1", "--bundle", str(edit_bundle_dir), "--no-progress"]) == 1
    assert (tmp_path / "o" / "batch_report.json").is_file()
    assert "fake.jpg" in (tmp_path / "o" / "batch_report.txt").read_text()
