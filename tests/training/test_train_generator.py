"""The generator training loop on a tiny config: it trains, saves, resumes exactly, and
its command lines (`faceedit train generator`, `faceedit sample`) work end to end."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from faceedit_gui.cli.main import main as cli_main
from faceedit_gui.training import checkpoint as ckpt
from faceedit_gui.training.train_generator import GeneratorTrainConfig, merge_config, tiny_config, train

REPO = Path(__file__).resolve().parents[2]
QUIET = {"device": "cpu", "echo": lambda _: None}


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py


def write_shards(folder: Path, n: int = 20, size: int = 32, seed: int = 0) -> Path:
    """Two raw shards of coloured discs on grey (the documented shard format)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    images = np.full((n, size, size, 3), 60, np.uint8)
    for i in range(n):
        r = rng.integers(size // 5, size // 2)
        images[i][(yy - size / 2) ** 2 + (xx - size / 2) ** 2 < r * r] = rng.integers(0, 256, 3)
    folder.mkdir(parents=True, exist_ok=True)
    half = n // 2
    np.savez(folder / "train_000.npz", images=images[:half], age=np.arange(half, dtype=np.int16))
    np.savez(folder / "train_001.npz", images=images[half:], age=np.arange(n - half, dtype=np.int16))
    return folder


@pytest.fixture
def shards(tmp_path: Path) -> Path:
    return write_shards(tmp_path / "data")


def read_log(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]


def test_tiny_run_logs_finite_losses_and_writes_a_checkpoint(shards, tmp_path):
    out = tmp_path / "run"
    summary = train(tiny_config(), shards, out, minutes=5, max_steps=3, **QUIET)
    assert summary["step"] == 3
    log = read_log(out)
    assert [r["step"] for r in log] == [1, 2, 3]
    for rec in log:
        for key in ("d/logistic", "g/nonsat", "d/real_logit", "d/fake_logit"):
            assert np.isfinite(rec[key]), (key, rec)
    assert any("d/r1" in r for r in log)  # lazy R1 ran (r1_every=2 in the tiny config)
    state = json.loads((out / "state.json").read_text())
    assert state["step"] == 3 and state["chunks"] == 1
    assert state["kimg"] == pytest.approx(3 * 4 / 1000)
    for name in ("G", "G_ema", "D", "optim"):
        assert (out / state["files"][name]["file"]).is_file()
    grid = cv2.imread(str(out / "grid.png"))
    assert grid.shape == (64, 64, 3)  # 2 x 2 samples of 32 px


def test_resumed_run_repeats_an_uninterrupted_run_exactly(shards, tmp_path):
    cfg = tiny_config()
    train(cfg, shards, tmp_path / "a", minutes=5, max_steps=4, **QUIET)
    train(cfg, shards, tmp_path / "b1", minutes=5, max_steps=2, **QUIET)
    train(cfg, shards, tmp_path / "b2", minutes=5, max_steps=4, resume=tmp_path / "b1", **QUIET)
    for name in ("G_ema", "G", "D"):
        a = load_file(str(tmp_path / "a" / f"{name}.safetensors"))
        b = load_file(str(tmp_path / "b2" / f"{name}.safetensors"))
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), f"{name}.{k} differs after resuming"
    sa = json.loads((tmp_path / "a" / "state.json").read_text())
    sb = json.loads((tmp_path / "b2" / "state.json").read_text())
    assert sa["data"] == sb["data"]  # same sampler position
    assert sb["chunks"] == 2 and [h["end_step"] for h in sb["history"]] == [2, 4]
    assert [r["step"] for r in read_log(tmp_path / "b2")] == [1, 2, 3, 4]  # the log carries over
    g_before = load_file(str(tmp_path / "b1" / "G_ema.safetensors"))
    g_after = load_file(str(tmp_path / "b2" / "G_ema.safetensors"))
    assert any(not torch.equal(g_before[k], g_after[k]) for k in g_before if k.startswith("convs"))


def test_compact_checkpoint_is_float16_and_resumes_the_counters(shards, tmp_path):
    cfg = tiny_config(checkpoint_dtype="float16", save_optimizer=False)
    train(cfg, shards, tmp_path / "c1", minutes=5, max_steps=2, **QUIET)
    assert not (tmp_path / "c1" / ckpt.OPTIM_FILE).exists()
    g1 = load_file(str(tmp_path / "c1" / "G_ema.safetensors"))
    assert all(v.dtype == torch.float16 for v in g1.values())
    train(cfg, shards, tmp_path / "c2", minutes=5, max_steps=5, resume=[tmp_path / "missing", tmp_path / "c1"], **QUIET)
    state = json.loads((tmp_path / "c2" / "state.json").read_text())
    assert state["step"] == 5 and state["chunks"] == 2
    g2 = load_file(str(tmp_path / "c2" / "G_ema.safetensors"))
    assert any(not torch.equal(g1[k], g2[k]) for k in g1 if k.startswith("convs"))


def test_resume_refuses_other_networks_and_mixed_files(shards, tmp_path):
    cfg = tiny_config()
    train(cfg, shards, tmp_path / "r", minutes=5, max_steps=1, **QUIET)
    other = tiny_config(channels={4: 8, 8: 8, 16: 8, 32: 8})
    with pytest.raises(ValueError, match="channels"):
        train(other, shards, tmp_path / "x", minutes=5, max_steps=2, resume=tmp_path / "r", **QUIET)
    with pytest.raises(ckpt.CheckpointError, match="no checkpoint"):
        train(cfg, shards, tmp_path / "x", minutes=5, max_steps=2, resume=tmp_path / "nothing", **QUIET)
    # a G file from another save (its step and hash differ from state.json)
    path = tmp_path / "r" / "G.safetensors"
    save_file(load_file(str(path)), str(path), metadata={"format": ckpt.FORMAT, "step": "7"})
    with pytest.raises(ckpt.CheckpointError, match="sha256|step"):
        train(cfg, shards, tmp_path / "x", minutes=5, max_steps=2, resume=tmp_path / "r", **QUIET)


def test_gpu_speed_paths_run_on_the_cpu(shards, tmp_path):
    """bf16 autocast, channels-last weights and Adam state restored into NHWC parameters:
    the CUDA defaults, exercised here on the CPU (the numbers differ, the code is the same)."""
    cfg = tiny_config(precision="bf16", channels_last=True, pl_weight=1.0, pl_every=2)
    train(cfg, shards, tmp_path / "f1", minutes=5, max_steps=2, **QUIET)
    train(cfg, shards, tmp_path / "f2", minutes=5, max_steps=4, resume=tmp_path / "f1", **QUIET)
    log = read_log(tmp_path / "f2")
    assert [r["step"] for r in log] == [1, 2, 3, 4]
    assert all(np.isfinite(v) for r in log for k, v in r.items() if "/" in k)


def test_path_length_regulariser_runs_when_weighted(shards, tmp_path):
    train(tiny_config(pl_weight=2.0, pl_every=2), shards, tmp_path / "pl", minutes=5, max_steps=3, **QUIET)
    log = read_log(tmp_path / "pl")
    assert [("g/pl" in r) for r in log] == [True, False, True]  # steps 0 and 2 of 0, 1, 2
    assert all(np.isfinite(r["g/pl"]) and r["g/pl_mean"] > 0 for r in log if "g/pl" in r)
    assert json.loads((tmp_path / "pl" / "state.json").read_text())["pl_mean"] > 0


def test_wall_clock_stop_saves_before_the_deadline(shards, tmp_path):
    cfg = tiny_config(log_every=1)
    summary = train(cfg, shards, tmp_path / "t", minutes=0.0, **QUIET)  # deadline already past
    assert summary["step"] == 1  # one step, then the first control point stops it
    assert (tmp_path / "t" / "state.json").is_file()


def test_config_json_round_trip_and_override():
    cfg = GeneratorTrainConfig()
    assert cfg.channels == {4: 256, 8: 256, 16: 256, 32: 128, 64: 64, 128: 32}
    again = merge_config(cfg, json.loads(json.dumps({"batch": 32, "betas": [0.0, 0.99]})))
    assert again.batch == 32 and again.betas == (0.0, 0.99) and again.channels == cfg.channels
    with pytest.raises(ValueError, match="unknown"):
        merge_config(cfg, {"bach": 32})


def test_cli_trains_then_samples_pngs(shards, tmp_path):
    out = tmp_path / "cli_run"
    rc = cli_main(["train", "generator", "--data", str(shards), "--out", str(out), "--tiny", "--device", "cpu", "--steps", "2"])
    assert rc == 0 and json.loads((out / "state.json").read_text())["step"] == 2
    rc = cli_main(["train", "generator", "--data", str(shards), "--out", str(out), "--resume", str(out), "--steps", "3"])
    assert rc == 0 and json.loads((out / "state.json").read_text())["step"] == 3  # tiny config from the checkpoint
    samples = tmp_path / "samples"
    rc = cli_main(["sample", "-n", "3", "-o", str(samples), "--checkpoint", str(out), "--seed", "7", "--truncation", "0.7"])
    assert rc == 0
    pngs = sorted(samples.glob("*.png"))
    assert [p.name for p in pngs] == ["seed00007.png", "seed00008.png", "seed00009.png"]
    for p in pngs:
        image = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        assert image is not None and image.shape == (32, 32, 3) and image.dtype == np.uint8
    # image k of a run is the same image whatever -n and --seed select around it
    rc = cli_main(["sample", "-n", "1", "-o", str(tmp_path / "one"), "--checkpoint", str(out), "--seed", "8", "--truncation", "0.7"])
    assert rc == 0
    assert np.array_equal(cv2.imread(str(tmp_path / "one" / "seed00008.png")), cv2.imread(str(samples / "seed00008.png")))


def test_sample_cli_reads_a_bundle_generator(shards, tmp_path):
    from faceedit_gui.checkpoints.bundle import BundleCard, save_bundle
    from faceedit_gui.cli.sample import load_checkpoint_generator

    train(tiny_config(), shards, tmp_path / "run", minutes=5, max_steps=1, **QUIET)
    g, _ = load_checkpoint_generator(tmp_path / "run")
    card = BundleCard(name="tiny", resolution=32, n_w=g.n_latent, style_dim=g.style_dim)
    w_avg = g.mean_latent(64).repeat(g.n_latent, 1)  # [n_w, style_dim]
    save_bundle(tmp_path / "bundle", card, {"generator": g}, dtype="float32", extra_tensors={"latent_avg": w_avg})
    rc = cli_main(["sample", "-n", "2", "-o", str(tmp_path / "s"), "--bundle", str(tmp_path / "bundle"), "--truncation", "0.5"])
    assert rc == 0
    for p in sorted((tmp_path / "s").glob("*.png")):
        assert cv2.imread(str(p)).shape == (32, 32, 3)
    # the same generator from the checkpoint draws the same image for the same seed at psi 1
    cli_main(["sample", "-n", "1", "-o", str(tmp_path / "b1"), "--bundle", str(tmp_path / "bundle")])
    cli_main(["sample", "-n", "1", "-o", str(tmp_path / "c1"), "--checkpoint", str(tmp_path / "run")])
    a, c = (cv2.imread(str(tmp_path / d / "seed00000.png")).astype(int) for d in ("b1", "c1"))
    assert np.abs(a - c).max() <= 1


def test_collect_replaces_the_committed_checkpoint_only_with_progress(shards, tmp_path):
    from faceedit_gui.training.chunks import collect

    returned = tmp_path / "files_at"
    train(tiny_config(save_optimizer=False), shards, returned / "generator", minutes=5, max_steps=2, **QUIET)
    committed = tmp_path / "models" / "generator"
    committed.mkdir(parents=True)
    (committed / "optim.safetensors").write_bytes(b"stale")
    state = collect(returned, committed, grids_dir=tmp_path / "grids")
    assert state["step"] == 2
    assert sorted(p.name for p in committed.iterdir()) == sorted(
        ["G.safetensors", "G_ema.safetensors", "D.safetensors", "state.json", "log.jsonl"]
    )
    assert (tmp_path / "grids" / "grid_step00000002.png").is_file()
    with pytest.raises(ckpt.CheckpointError, match="not past"):
        collect(returned, committed)
    train(tiny_config(save_optimizer=False), shards, returned / "generator", minutes=5, max_steps=4, resume=committed, **QUIET)
    assert collect(returned, committed)["step"] == 4


def test_data_windows_chain_through_training_and_collect(shards, tmp_path):
    from faceedit_gui.training import chunks

    window = chunks.stage_chunk([shards], tmp_path / "gen_chunk", budget_bytes=24_000, start=0)
    assert 0 < window["count"] < 20
    train(tiny_config(save_optimizer=False), tmp_path / "gen_chunk", tmp_path / "ret" / "generator", minutes=5, max_steps=1, **QUIET)
    committed = tmp_path / "committed"
    state = chunks.collect(tmp_path / "ret", committed)
    assert state["history"][-1]["window"]["start"] == 0 and state["history"][-1]["index"] == 1
    assert chunks.next_start(committed, 20) == window["count"]  # the next run takes the next faces


def test_cli_reports_bad_input(tmp_path, capsys):
    assert cli_main(["train", "generator", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "o"), "--tiny", "--device", "cpu", "--steps", "1"]) == 1
    assert "data folder not found" in capsys.readouterr().err
    assert cli_main(["sample", "-n", "2", "-o", str(tmp_path / "s"), "--checkpoint", str(tmp_path)]) == 1
    assert "cannot load" in capsys.readouterr().err


def test_gpu_command_path_needs_no_qt_opencv_pillow_or_dlib(shards, tmp_path, gpu_machine_cli):
    """What the GPU machine runs (`python3 -m faceedit_gui.cli.main train generator`, raw
    shards) imports nothing beyond torch, numpy and safetensors."""
    out = tmp_path / "isolated"
    res = gpu_machine_cli(["train", "generator", "--data", shards, "--out", out, "--tiny", "--device", "cpu", "--steps", "1"])
    assert res.returncode == 0, res.stderr[-2000:]
    assert (out / "state.json").is_file() and (out / "grid.png").is_file()
