"""Train the bundled StyleGAN2 in chunks: "continue for N minutes", then save compactly.

Paper: Karras et al., "Analyzing and Improving the Image Quality of StyleGAN" (2020) for
the networks, losses, lazy regularisation, style mixing and the EMA generator;
Zhao et al. (2020) for DiffAugment. The loop follows the structure of the public
StyleGAN2 trainers (a D step, lazy R1, a G step, optional lazy path length, EMA), written
for short runs on a lent GPU: wall-clock stop, one host sync per `log_every` steps,
a checkpoint small enough to travel (`checkpoint.py`), exact resumption.

Determinism: every step reseeds torch's generators from `(seed, step, rank)` and the
sampler's position is saved, so a run resumed from a float32 checkpoint with optimiser
state repeats an uninterrupted run bit for bit on the same device. The compact float16
checkpoint without optimiser state resumes approximately (weights rounded to fp16, Adam
moments rebuilt during `resume_warmup_steps` of linear learning-rate warm-up).

Runs unchanged under `torchrun --nproc_per_node=K` (see `distributed.py`); `batch` is the
global batch.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from faceedit_gui.config import config_from_dict, config_to_dict
from faceedit_gui.conventions import tensor_to_uint8
from faceedit_gui.networks.cost import discriminator_cost, format_cost, generator_cost
from faceedit_gui.networks.discriminator import Discriminator
from faceedit_gui.networks.layers import ModulatedConv2d
from faceedit_gui.networks.stylegan2 import Generator
from faceedit_gui.training import checkpoint as ckpt
from faceedit_gui.training.augment import diff_augment, parse_policy
from faceedit_gui.training.data import ImageBank, InfiniteSampler
from faceedit_gui.training.distributed import DistInfo, all_reduce_grads, broadcast_module, init_distributed, shutdown
from faceedit_gui.training.gan_losses import d_logistic_loss, g_nonsaturating_loss, path_length_loss, r1_loss, style_mixing_w_plus
from faceedit_gui.training.loop import (  # noqa: F401  (TrainingDiverged: re-exported for the CLI)
    TrainingDiverged,
    WallClock,
    control_point,
    file_sizes,
    finish,
    open_log,
    pick_resume,
    set_cuda_flags,
    step_seed,
)
from faceedit_gui.training.png import make_grid, write_png
from faceedit_gui.training.train_log import DeviceMeter

# ~0.93 GMAC per 128 px synthesis pass (conv + linear), 7.15 M parameters; D with the
# same table: ~0.96 GMAC, 4.76 M parameters (`faceedit train generator --cost`).
BUNDLED_CHANNELS: dict[int, int] = {4: 256, 8: 256, 16: 256, 32: 128, 64: 64, 128: 32}

# Fields that fix the networks' shapes: a resumed run must keep them.
ARCH_FIELDS = ("size", "style_dim", "n_mlp", "channels", "d_channels", "lr_mlp")


@dataclasses.dataclass(frozen=True)
class GeneratorTrainConfig:
    # --- networks (fixed once training starts) ---
    size: int = 128  # output resolution (the packed training images must match)
    style_dim: int = 512  # width of z, w and every style vector
    n_mlp: int = 8  # mapping-network layers
    channels: dict[int, int] = field(default_factory=lambda: dict(BUNDLED_CHANNELS))  # G: resolution -> channels
    d_channels: dict[int, int] | None = None  # D: resolution -> channels; None: same as G
    lr_mlp: float = 0.01  # learning-rate multiplier of the mapping network
    # --- optimisation ---
    batch: int = 64  # global batch (split evenly over DDP ranks)
    g_lr: float = 0.002  # Adam learning rate of G (before the lazy-regularisation correction)
    d_lr: float = 0.002  # Adam learning rate of D (idem)
    betas: tuple[float, float] = (0.0, 0.99)  # Adam betas, as in StyleGAN2
    r1_gamma: float = 0.1  # R1 weight (see gan_losses.py for the choice); 0 disables R1
    r1_every: int = 16  # lazy R1 interval in steps
    pl_weight: float = 0.0  # path-length regularisation weight; 0 (default) is off, for speed
    pl_every: int = 4  # lazy path-length interval in steps
    pl_batch_shrink: int = 2  # path-length batch = batch // this
    pl_decay: float = 0.01  # running-mean rate of the path length
    mixing_prob: float = 0.9  # probability of style mixing per image
    augment: str = "color,translation,cutout"  # DiffAugment policy on reals and fakes before D
    xflip: bool = True  # mirror half of the real images
    ema_kimg: float = 10.0  # half-life of the EMA generator, in thousands of images
    ema_rampup: float | None = 0.05  # early on, half-life <= this x images seen; None: off
    resume_warmup_steps: int = 200  # LR warm-up after a resume without optimiser state
    # --- speed (meant for CUDA; they work on the CPU too, where fp32 is usually faster) ---
    precision: str = "bf16"  # "bf16": bfloat16 autocast for G and D passes (R1 stays fp32); "fp32"
    channels_last: bool = True  # NHWC memory layout for convolutions
    compile: bool = False  # torch.compile the G synthesis and D passes (R1 stays eager)
    tf32: bool = True  # TensorFloat-32 matmuls where float32 remains
    # --- bookkeeping ---
    seed: int = 0  # initial weights, per-step noise and data order derive from it
    log_every: int = 100  # steps between log lines (the only host syncs) and stop checks
    checkpoint_every_minutes: float = 2.0  # periodic safety saves into the output folder
    save_reserve_s: float = 25.0  # the loop stops this long before `minutes` run out
    grid: tuple[int, int] = (8, 8)  # sample grid, columns x rows (fixed z, EMA generator)
    grid_seed: int = 2024  # seed of the grid's latents
    checkpoint_dtype: str = "float16"  # weights on disk: float16 | bfloat16 | float32
    save_optimizer: bool = False  # also save Adam state (float32; ~2x G+D, too big to carry)

    def resolved_d_channels(self) -> dict[int, int]:
        return dict(self.d_channels if self.d_channels is not None else self.channels)


def tiny_config(**overrides: Any) -> GeneratorTrainConfig:
    """A 32 px config that trains in milliseconds per step on a CPU (tests, smoke runs)."""
    base = GeneratorTrainConfig(
        size=32,
        style_dim=32,
        n_mlp=2,
        channels={4: 16, 8: 16, 16: 8, 32: 8},
        batch=4,
        r1_every=2,
        ema_kimg=0.02,
        resume_warmup_steps=2,
        log_every=1,
        save_reserve_s=0.0,
        grid=(2, 2),
        checkpoint_dtype="float32",
        save_optimizer=True,
        precision="fp32",
        channels_last=False,
    )
    return dataclasses.replace(base, **overrides)


def merge_config(base: GeneratorTrainConfig, overrides: dict[str, Any]) -> GeneratorTrainConfig:
    """`base` with some fields replaced from JSON-typed `overrides` (unknown keys: error)."""
    return config_from_dict(GeneratorTrainConfig, {**config_to_dict(base), **overrides})


def check_architecture(config: GeneratorTrainConfig, saved: GeneratorTrainConfig) -> None:
    diff = [f for f in ARCH_FIELDS if getattr(config, f) != getattr(saved, f)]
    if diff:
        pairs = ", ".join(f"{f}: {getattr(saved, f)} -> {getattr(config, f)}" for f in diff)
        raise ValueError(f"the config changes the networks of the checkpoint being resumed ({pairs})")


def build_networks(config: GeneratorTrainConfig) -> tuple[Generator, Discriminator]:
    g = Generator(config.size, config.style_dim, config.n_mlp, channels=config.channels, lr_mlp=config.lr_mlp)
    d = Discriminator(config.size, channels=config.resolved_d_channels())
    return g, d


def cost_report(config: GeneratorTrainConfig) -> str:
    g, d = build_networks(config)
    return "\n".join(
        [
            format_cost("G (all parameters; MACs of one synthesis pass)", generator_cost(g, synthesis_only=True)),
            format_cost("D", discriminator_cost(d)),
        ]
    )


def _unfused(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, ModulatedConv2d):
            m.fused = False  # batched training: shared conv on scaled activations


def _channels_last(module: nn.Module) -> None:
    """NHWC strides for every 4-D parameter and buffer (`Module.to(memory_format=...)`
    would fail on the 5-D modulated-conv weights)."""
    with torch.no_grad():
        for t in list(module.parameters()) + list(module.buffers()):
            if t.dim() == 4:
                t.data = t.data.contiguous(memory_format=torch.channels_last)


def _requires_grad(module: nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


_SEED_SALT = 12_345  # this loop's per-step seed stream (`loop.step_seed`)


def _data_seed(seed: int, fingerprint: str) -> int:
    return (seed * 1_000_003 + int(fingerprint or "0", 16)) % (2**62)


def _adam(params: Sequence[nn.Parameter], lr: float, betas: tuple[float, float], every: int | None):
    ratio = every / (every + 1) if every else 1.0  # lazy-regularisation correction
    # fused: one kernel for all parameters, no host sync (CPU and CUDA alike)
    opt = torch.optim.Adam(params, lr=lr * ratio, betas=(betas[0] ** ratio, betas[1] ** ratio), eps=1e-8, fused=True)
    return opt, lr * ratio


def _match_state_layout(opt: torch.optim.Optimizer) -> None:
    """Loaded Adam moments come back contiguous: give them their parameter's strides."""
    for p, st in opt.state.items():
        for k, v in list(st.items()):
            if torch.is_tensor(v) and v.shape == p.shape and v.stride() != p.stride():
                st[k] = torch.empty_like(p).copy_(v)


def train(
    config: GeneratorTrainConfig,
    data_dir: str | Path | Sequence[str | Path],
    out_dir: str | Path,
    minutes: float,
    resume: str | Path | Sequence[str | Path] | None = None,
    *,
    device: str | None = None,
    max_steps: int | None = None,
    echo: Callable[[str], None] = print,
    start_time: float | None = None,
) -> dict[str, Any]:
    """Train for `minutes` of wall clock (counted from `start_time`, default now), or until
    the absolute step `max_steps`, then save to `out_dir`. `data_dir`: one data folder or
    several (see `data.py`). `resume`: one folder or several
    (the one with the highest step is used); it must hold a checkpoint. Returns a summary.
    """
    t0 = time.time() if start_time is None else start_time
    info = init_distributed(device)
    try:
        dirs = [Path(data_dir)] if isinstance(data_dir, (str, Path)) else [Path(p) for p in data_dir]
        return _train(config, dirs, Path(out_dir), minutes, resume, info, max_steps, echo, t0)
    finally:
        shutdown(info)


def _train(config, data_dirs: list[Path], out_dir, minutes, resume, info: DistInfo, max_steps, echo, t0) -> dict[str, Any]:
    dev = info.device
    cuda = dev.type == "cuda"
    say = echo if info.is_main else (lambda _: None)
    if config.batch % info.world_size:
        raise ValueError(f"batch {config.batch} does not split over {info.world_size} ranks")
    parse_policy(config.augment)
    b = config.batch // info.world_size
    if cuda:
        set_cuda_flags(config.tf32)
    amp = torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=config.precision == "bf16")
    no_amp = torch.autocast(device_type=dev.type, enabled=False)
    if config.precision not in ("bf16", "fp32"):
        raise ValueError(f"precision must be 'bf16' or 'fp32', got {config.precision!r}")

    # ---- resume source
    resume_dir = pick_resume(resume)
    if resume_dir is not None:
        saved_cfg = config_from_dict(GeneratorTrainConfig, ckpt.read_state(resume_dir)["config"])
        check_architecture(config, saved_cfg)

    # ---- networks and optimisers
    torch.manual_seed(config.seed)
    g, d = build_networks(config)
    _unfused(g)
    g_ema = copy.deepcopy(g).eval()
    for m in (g, d, g_ema):
        m.to(dev)
        if config.channels_last:
            _channels_last(m)
    _requires_grad(g_ema, False)
    opt_g, g_lr = _adam(list(g.parameters()), config.g_lr, config.betas, config.pl_every if config.pl_weight > 0 else None)
    opt_d, d_lr = _adam(list(d.parameters()), config.d_lr, config.betas, config.r1_every if config.r1_gamma > 0 else None)

    step, elapsed_before, chunk, history = 0, 0.0, 0, []
    pl_mean = torch.zeros((), device=dev)
    saved_data: dict[str, Any] = {}
    optimizer_loaded = False
    if resume_dir is not None:
        optims = {"G": (opt_g, g), "D": (opt_d, d)} if config.save_optimizer else None
        st = ckpt.load_training_checkpoint(resume_dir, {"G": g, "G_ema": g_ema, "D": d}, optims)
        optimizer_loaded = st["optimizer_loaded"]
        if optimizer_loaded:
            _match_state_layout(opt_g)
            _match_state_layout(opt_d)
        step, elapsed_before = int(st["step"]), float(st.get("elapsed_s", 0.0))
        chunk, history = int(st.get("chunks", 0)), list(st.get("history", []))
        pl_mean.fill_(float(st.get("pl_mean", 0.0)))
        saved_data = dict(st.get("data", {}))
        say(f"resumed {resume_dir} at step {step} ({step * saved_cfg.batch / 1000:.1f} kimg), optimiser state: {optimizer_loaded}")
    for m in (g, d, g_ema):
        broadcast_module(m, info)
    start_step = step
    warmup_end = step + config.resume_warmup_steps if (resume_dir is not None and not optimizer_loaded) else step

    # ---- data
    bank = ImageBank.from_dirs(data_dirs, dev, resolution=config.size)
    data_names = ",".join(p.name for p in data_dirs)
    same_data = saved_data.get("fingerprint") == bank.fingerprint
    sampler = InfiniteSampler(
        len(bank), b, seed=_data_seed(config.seed, bank.fingerprint), rank=info.rank, world_size=info.world_size, device=dev,
        epoch=int(saved_data.get("epoch", 0)) if same_data else 0,
        cursor=int(saved_data.get("cursor", 0)) if same_data else 0,
    )  # fmt: skip
    say(f"data {data_names}: {len(bank)} images {bank.resolution}, {'continuing at' if same_data else 'new data, from'} "
        f"epoch {sampler.epoch} cursor {sampler.cursor}; device {dev} x{info.world_size}, batch {config.batch}")  # fmt: skip
    say(cost_report(config))

    # ---- output
    log = open_log(out_dir, resume_dir, step, info)
    grid_z = torch.randn(config.grid[0] * config.grid[1], config.style_dim, generator=torch.Generator().manual_seed(config.grid_seed))

    synth = torch.compile(g.synthesis) if config.compile else g.synthesis
    d_fast = torch.compile(d) if config.compile else d
    augment = (lambda x: diff_augment(x, config.augment)) if config.augment else (lambda x: x)
    n_latent, sd = g.n_latent, config.style_dim
    g_params, ema_params = list(g.parameters()), list(g_ema.parameters())
    meter = DeviceMeter()
    clock = WallClock(t0, minutes, config.save_reserve_s, elapsed_before, step)
    device_name = torch.cuda.get_device_name(dev) if cuda else "cpu"

    def save() -> dict[str, Any]:
        now = time.time()
        run = clock.run_record(now, chunk + 1, start_step, step, config.batch, device_name, info.world_size, data_names,
                               run_key="index")
        run.update(fingerprint=bank.fingerprint, window=bank.chunk)
        state = {
            "step": step,
            "kimg": step * config.batch / 1000,
            "elapsed_s": clock.elapsed_s(now),
            "chunks": chunk + 1,
            "seed": config.seed,
            "config": config_to_dict(config),
            "data": {"fingerprint": bank.fingerprint, "n_images": len(bank), **sampler.state()},
            "pl_mean": float(pl_mean),
            "history": history + [run],
            "torch": torch.__version__,
        }
        optims = {"G": (opt_g, g), "D": (opt_d, d)} if config.save_optimizer else None
        written = ckpt.save_training_checkpoint(out_dir, {"G": g, "G_ema": g_ema, "D": d}, state, config.checkpoint_dtype, optims)
        write_png(out_dir / "grid.png", sample_grid(g_ema, grid_z, config.grid[0]))
        return written

    diverged = False
    while max_steps is None or step < max_steps:
        torch.manual_seed(step_seed(config.seed, step, info.rank, _SEED_SALT))
        if step < warmup_end:
            frac = (step - start_step + 1) / max(warmup_end - start_step, 1)
            opt_g.param_groups[0]["lr"], opt_d.param_groups[0]["lr"] = g_lr * frac, d_lr * frac
        elif step == warmup_end:
            opt_g.param_groups[0]["lr"], opt_d.param_groups[0]["lr"] = g_lr, d_lr
        real = bank.batch(sampler.next(), xflip=config.xflip)  # [b, 3, R, R] float, [-1, 1]

        # D: logistic loss on augmented reals and fakes
        _requires_grad(g, False)
        _requires_grad(d, True)
        with torch.no_grad(), amp:
            fake = synth(style_mixing_w_plus(g.mapping, b, sd, n_latent, config.mixing_prob, dev), randomize_noise=True)
        with amp:  # both augmented in float32: reals and fakes reach D by the same arithmetic
            fake_logits, real_logits = d_fast(augment(fake.float())), d_fast(augment(real))
        loss, terms = d_logistic_loss(real_logits, fake_logits)
        opt_d.zero_grad(set_to_none=True)
        loss.backward()
        all_reduce_grads(d.parameters(), info)
        opt_d.step()
        meter.add(terms)

        # D: lazy R1 (float32, eager: double backward)
        if config.r1_gamma > 0 and step % config.r1_every == 0:
            with no_amp:
                loss, terms = r1_loss(lambda x: d(augment(x)), real, config.r1_gamma, config.r1_every)
            opt_d.zero_grad(set_to_none=True)
            loss.backward()
            all_reduce_grads(d.parameters(), info)
            opt_d.step()
            meter.add(terms)

        # G: non-saturating loss through the augmented D
        _requires_grad(g, True)
        _requires_grad(d, False)
        with amp:
            fake = synth(style_mixing_w_plus(g.mapping, b, sd, n_latent, config.mixing_prob, dev), randomize_noise=True)
            loss, terms = g_nonsaturating_loss(d_fast(augment(fake.float())))
        opt_g.zero_grad(set_to_none=True)
        loss.backward()
        all_reduce_grads(g.parameters(), info)
        opt_g.step()
        meter.add(terms)

        # G: lazy path length
        if config.pl_weight > 0 and step % config.pl_every == 0:
            pb = max(1, b // config.pl_batch_shrink)
            with amp:
                w_plus = style_mixing_w_plus(g.mapping, pb, sd, n_latent, config.mixing_prob, dev)
                loss, terms = path_length_loss(
                    lambda w: g.synthesis(w, randomize_noise=True), w_plus, pl_mean, config.pl_weight, config.pl_every, config.pl_decay
                )
            pl_mean = terms["g/pl_mean"]
            opt_g.zero_grad(set_to_none=True)
            loss.backward()
            all_reduce_grads(g.parameters(), info)
            opt_g.step()
            meter.add(terms)

        # EMA generator
        step += 1
        ema_nimg = config.ema_kimg * 1000
        if config.ema_rampup is not None:
            ema_nimg = min(ema_nimg, step * config.batch * config.ema_rampup)
        beta = 0.5 ** (config.batch / max(ema_nimg, 1e-8))
        with torch.no_grad():
            torch._foreach_lerp_(ema_params, g_params, 1.0 - beta)

        # control point: log (one host sync), stop check, periodic save
        final = max_steps is not None and step >= max_steps
        stale = not info.enabled and clock.stale()  # slow steps (CPU): check the clock anyway
        if step % config.log_every == 0 or final or stale:
            values = meter.flush()
            now = time.time()
            rec = {
                "step": step, "kimg": round(step * config.batch / 1000, 3),
                "time_s": clock.elapsed_s(now),
                "images_per_s": clock.rate(step, config.batch, now),
                **{k: round(v, 5) for k, v in values.items()},
            }  # fmt: skip
            stop, diverged = control_point(
                clock, step, now, rec, values, log, info, dev, config.checkpoint_every_minutes, save, say
            )
            if stop:
                break
    written, seconds = finish(clock, step, diverged, out_dir, info, dev, save)
    summary = {
        "step": step,
        "kimg": step * config.batch / 1000,
        "steps_this_run": step - start_step,
        "seconds_training": round(seconds, 2),
        "images_per_s": round((step - start_step) * config.batch / max(seconds, 1e-9), 1),
        "out": str(out_dir),
        "files": file_sizes(written),
    }
    say(f"done: {summary}")
    return summary


@torch.no_grad()
def sample_images(g_ema: Generator, z: torch.Tensor, truncation: float = 1.0, w_avg: torch.Tensor | None = None) -> np.ndarray:
    """uint8 `[N, R, R, 3]` samples of `g_ema` for latents `z` `[N, style_dim]`, with its
    stored (fixed) noise; truncation toward `w_avg` (default: `mean_latent()`) when < 1."""
    if z.ndim != 2 or z.shape[1] != g_ema.style_dim:
        raise ValueError(f"z: got shape {list(z.shape)}, expected [N, {g_ema.style_dim}]")
    dev = next(g_ema.parameters()).device
    if truncation < 1 and w_avg is None:
        w_avg = g_ema.mean_latent(4096)
    images = []
    for part in z.split(16):
        w = g_ema.mapping(part.to(dev))
        if truncation < 1:
            w = g_ema.truncate(w, truncation, w_avg.to(dev))
        images.append(tensor_to_uint8(g_ema.synthesis(g_ema.broadcast(w)).float()))
    return np.concatenate(images)


def sample_grid(g_ema: Generator, z: torch.Tensor, cols: int) -> np.ndarray:
    """uint8 grid image of `g_ema`'s samples for `z` (the training progress grid)."""
    return make_grid(sample_images(g_ema, z), cols)
