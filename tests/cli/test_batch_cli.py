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


def batch_cmd(src: Path, out: Path, bundle: Path) -> list[str]:
    return [sys.executable, "-m", "faceedit_gui.cli.main", "batch", str(src), str(out), "--set", "age=0.5",
            "--bundle", str(bundle), "--no-progress", "--threads", "1"]  # fmt: skip


@pytest.mark.skipif(not WILD.is_dir(), reason="../shared/data/photos/wild is not here")
def test_a_killed_batch_resumes_and_completes_with_no_partial_files(tmp_path, edit_bundle_dir):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("couple.jpg", "img16.jpg", "img12.jpg", "img17.jpg"):
        shutil.copy(WILD / name, src / name)
    out = tmp_path / "out"
    proc = subprocess.Popen(batch_cmd(src, out, edit_bundle_dir), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and not list(out.glob("*_[0-9].png")):
        time.sleep(0.02)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    first = {p.name for p in out.glob("*_[0-9].png")}
    assert first, "the first run wrote nothing before it was killed"

    done = subprocess.run(batch_cmd(src, out, edit_bundle_dir), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    outputs = sorted(out.glob("*_[0-9].png"))
    assert {"couple_0.png", "couple_1.png", "img16_0.png"} <= {p.name for p in outputs}
    assert not list(out.rglob("*.partial-*"))
    for p in outputs:  # every output is a complete image
        with Image.open(p) as im:
            im.load()
    assert f"{len(outputs)}" in done.stderr or "already complete" in done.stderr


def test_exit_codes_bad_arguments_2_nothing_done_1(tmp_path, edit_bundle_dir, capsys):
    src = tmp_path / "in"
    src.mkdir()
    (src / "fake.jpg").write_text("not an image")
    assert main(["batch", str(src), str(tmp_path / "o"), "--set", "nose=1", "--bundle", str(edit_bundle_dir), "--no-progress"]) == 2
    assert "unknown slider" in capsys.readouterr().err
    assert main(["batch", str(src), str(tmp_path / "o"), "--set", "age=1", "--bundle", str(edit_bundle_dir), "--no-progress"]) == 1
    assert (tmp_path / "o" / "batch_report.json").is_file()
    assert "fake.jpg" in (tmp_path / "o" / "batch_report.txt").read_text()
