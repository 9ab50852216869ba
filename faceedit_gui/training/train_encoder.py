"""Train the bundled e4e-style encoder (`networks/small_encoder.py`) against a FROZEN generator.

Paper: Tov et al., "Designing an Encoder for StyleGAN Image Manipulation" (e4e, 2021):
W+ offsets from the average latent, a delta regulariser that keeps the per-style offsets
small (edits stay on the manifold), and the progressive schedule that opens one delta at
a time. Losses: `encoder_losses.py`. Not from e4e: a share of every batch is generated
(z -> w -> G(w)), whose W+ is known and supervised directly (`latent` weight): a cheap,
exact signal that teaches the encoder the generator's own latent space early on.

The loop shares the generator trainer's pieces: the device image bank and DDP sampler
(`data.py`), compact safetensors checkpoints with `state.json` (`checkpoint.py`; the
encoder is `E.safetensors`, float16 by default: ~11 MB at the bundled size), `log.jsonl`
(`train_log.py`), PNG grids (`png.py`, input | reconstruction pairs of fixed training
images) and `distributed.py` (runs unchanged under `torchrun`; `batch` is global).
Wall-clock chunks: "continue for N minutes", then save; `--resume` continues the step
counter, the data position and the schedule. bf16 autocast on CUDA; float32 on the CPU.
"""

from __future__ import annotations

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
from faceedit_gui.metrics.perceptual import load_network_source, resolve_perceptual
from faceedit_gui.networks.layers import ModulatedConv2d
from faceedit_gui.networks.small_encoder import SmallEncoder, SmallEncoderConfig
from faceedit_gui.networks.stylegan2 import Generator
from faceedit_gui.training import checkpoint as ckpt
from faceedit_gui.training.data import ImageBank, InfiniteSampler
from faceedit_gui.training.distributed import DistInfo, all_reduce_grads, broadcast_module, init_distributed, shutdown
from faceedit_gui.training.encoder_losses import EncoderLossWeights, active_deltas, encoder_loss
from faceedit_gui.training.loop import (  # noqa: F401  (TrainingDiverged: re-exported)
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

ENCODER_ARCH = ("channels", "units", "fpn_channels", "head_channels", "coarse_styles", "middle_styles", "se")


@dataclasses.dataclass(frozen=True)
class EncoderTrainConfig:
    # --- network (size, n_w and style_dim come from the generator) ---
    encoder: SmallEncoderConfig = field(default_factory=SmallEncoderConfig)  # the bundled encoder
    # --- losses ---
    weights: EncoderLossWeights = field(default_factory=EncoderLossWeights)  # see encoder_losses.py
    progressive_start: int | None = 0  # step at which delta 1 opens (None: all deltas from step 0)
    progressive_every: int = 400  # steps between opening successive deltas (e4e: 2000 at batch 8)
    synthetic_fraction: float = 0.25  # share of every batch generated from random z (W+ supervised)
    synthetic_truncation: float = 0.8  # truncation psi of those samples toward the mean w
    # --- optimisation ---
    batch: int = 32  # global batch (split over DDP ranks)
    lr: float = 1e-4  # Adam learning rate (e4e: 1e-4 with Ranger)
    betas: tuple[float, float] = (0.9, 0.999)  # Adam betas
    xflip: bool = True  # mirror half of the real images
    resume_warmup_steps: int = 100  # LR warm-up after a resume without optimiser state
    mean_latent_samples: int = 10_000  # z samples for the generator's mean w (latent_avg)
    # --- speed (CUDA only) ---
    precision: str = "bf16"  # "bf16" autocast for E and G, "fp32" none (losses run in fp32)
    tf32: bool = True  # TensorFloat-32 matmuls where float32 remains
    # --- bookkeeping ---
    seed: int = 0  # initial weights, batch order, generated latents
    log_every: int = 50  # steps between log lines (the only host syncs) and stop checks
    checkpoint_every_minutes: float = 2.0  # periodic safety saves
    save_reserve_s: float = 20.0  # stop this long before `minutes` run out
    grid_pairs: int = 8  # input | reconstruction pairs in grid.png (fixed training images)
    grid_cols: int = 4  # pairs per grid row
    checkpoint_dtype: str = "float16"  # E on disk: float16 | bfloat16 | float32
    save_optimizer: bool = False  # also save Adam state (float32, ~4x the fp16 weights)


def tiny_config(**overrides: Any) -> EncoderTrainConfig:
    """A tiny encoder for the 32 px tiny generator: milliseconds per step on a CPU (tests)."""
    base = EncoderTrainConfig(
        encoder=SmallEncoderConfig(size=32, channels=(8, 8, 16, 16, 16), units=(1, 1, 1, 1), fpn_channels=8, head_channels=8),
        progressive_every=2,
        batch=4,
        resume_warmup_steps=2,
        mean_latent_samples=256,
        log_every=1,
        save_reserve_s=0.0,
        grid_pairs=2,
        grid_cols=2,
        checkpoint_dtype="float32",
        save_optimizer=True,
    )
    return dataclasses.replace(base, **overrides)


def merge_config(base: EncoderTrainConfig, overrides: dict[str, Any]) -> EncoderTrainConfig:
    """`base` with fields replaced from JSON-typed `overrides` (nested dicts merge)."""
    merged = config_to_dict(base)
    for k, v in overrides.items():
        merged[k] = {**merged[k], **v} if isinstance(v, dict) and isinstance(merged.get(k), dict) else v
    return config_from_dict(EncoderTrainConfig, merged)


# ------------------------------------------------------------------ generator and encoder


def load_generator(source: str | Path, device: torch.device | str = "cpu") -> tuple[Generator, dict[str, Any]]:
    """The frozen generator (eval, no grad) from a generator training checkpoint folder
    (its `G_ema`) or a bundle folder (its `generator`), and a description for the records."""
    source = Path(source)
    if (source / "model.json").is_file():
        from faceedit_gui.checkpoints.bundle import load_bundle

        g = load_bundle(source, networks=["generator"])["generator"]
        info = {"kind": "bundle", "path": str(source)}
    elif (source / ckpt.STATE_FILE).is_file():
        from faceedit_gui.training.train_generator import GeneratorTrainConfig

        state = ckpt.read_state(source)
        c = config_from_dict(GeneratorTrainConfig, state["config"])
        g = Generator(c.size, c.style_dim, c.n_mlp, channels=c.channels, lr_mlp=c.lr_mlp)
        ckpt.load_training_checkpoint(source, {"G_ema": g})
        info = {"kind": "generator-checkpoint", "path": str(source), "step": int(state["step"]),
                "sha256": state["files"]["G_ema"]["sha256"]}  # fmt: skip
    else:
        raise FileNotFoundError(f"{source}: neither a bundle (model.json) nor a generator checkpoint (state.json)")
    for m in g.modules():
        if isinstance(m, ModulatedConv2d):
            m.fused = False  # batched: one shared conv on scaled activations
    g = g.to(device).eval()
    for p in g.parameters():
        p.requires_grad_(False)
    return g, info


def encoder_config_for(config: EncoderTrainConfig, g: Generator) -> SmallEncoderConfig:
    return dataclasses.replace(config.encoder, size=g.size, n_w=g.n_latent, style_dim=g.style_dim)


@torch.no_grad()
def generator_mean_w(g: Generator, n: int, seed: int) -> torch.Tensor:
    """Mean of `n` mapped latents, drawn from a fixed seed: `[style_dim]`."""
    dev = next(g.parameters()).device
    z = torch.randn(n, g.style_dim, generator=torch.Generator().manual_seed(seed)).to(dev)
    return torch.cat([g.mapping(part) for part in z.split(4096)]).mean(0)


_SEED_SALT = 54_321  # this loop's per-step seed stream (`loop.step_seed`)


def train(
    config: EncoderTrainConfig,
    data_dir: str | Path | Sequence[str | Path],
    generator: str | Path,
    out_dir: str | Path,
    minutes: float,
    resume: str | Path | Sequence[str | Path] | None = None,
    *,
    classifier: str | Path | nn.Module | None = None,
    identity: str | Path | nn.Module | None = None,
    lpips_backbone: str | Path | None = None,
    lpips_linear: str | Path | None = None,
    device: str | None = None,
    max_steps: int | None = None,
    echo: Callable[[str], None] = print,
    start_time: float | None = None,
) -> dict[str, Any]:
    """Train for `minutes` of wall clock (from `start_time`, default now) or until the
    absolute step `max_steps`, then save to `out_dir`. `classifier` feeds the perceptual
    substitute when LPIPS files are absent; `identity` the identity loss (skipped, with a
    note, when None). Returns a summary."""
    t0 = time.time() if start_time is None else start_time
    info = init_distributed(device)
    try:
        dirs = [Path(data_dir)] if isinstance(data_dir, (str, Path)) else [Path(p) for p in data_dir]
        nets = {"classifier": classifier, "identity": identity, "lpips": (lpips_backbone, lpips_linear)}
        return _train(config, dirs, Path(generator), Path(out_dir), minutes, resume, nets, info, max_steps, echo, t0)
    finally:
        shutdown(info)


def _train(config, data_dirs, generator_src, out_dir, minutes, resume, nets, info: DistInfo, max_steps, echo, t0):
    dev = info.device
    cuda = dev.type == "cuda"
    say = echo if info.is_main else (lambda _: None)
    if config.batch % info.world_size:
        raise ValueError(f"batch {config.batch} does not split over {info.world_size} ranks")
    if config.precision not in ("bf16", "fp32"):
        raise ValueError(f"precision must be 'bf16' or 'fp32', got {config.precision!r}")
    b = config.batch // info.world_size
    b_syn = min(b, int(round(b * config.synthetic_fraction)))  # generated images per rank
    b_real = b - b_syn
    if cuda:
        set_cuda_flags(config.tf32)
    amp = torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=cuda and config.precision == "bf16")

    # ---- resume source
    resume_dir = pick_resume(resume)
    if resume_dir is not None:
        saved = config_from_dict(EncoderTrainConfig, ckpt.read_state(resume_dir)["config"])
        diff = [f for f in ENCODER_ARCH if getattr(saved.encoder, f) != getattr(config.encoder, f)]
        if diff:
            raise ValueError(f"the config changes the encoder of the checkpoint being resumed ({', '.join(diff)})")

    # ---- frozen networks: generator, perceptual distance, identity
    g, g_info = load_generator(generator_src, dev)
    classifier, identity = nets["classifier"], nets["identity"]
    perceptual = resolve_perceptual(*nets["lpips"], classifier=classifier, device=dev)
    say(f"perceptual distance: {perceptual.name}")
    id_source = None
    if identity is not None and config.weights.identity > 0:
        id_source = "module" if isinstance(identity, nn.Module) else str(identity)
        identity = identity if isinstance(identity, nn.Module) else load_network_source(identity, "identity")
        identity = identity.to(dev).eval()
        for p in identity.parameters():
            p.requires_grad_(False)
        say(f"identity loss: the project's identity network ({id_source}), weight {config.weights.identity}")
    else:
        identity = None
        say("identity loss: skipped (" + ("weight 0" if config.weights.identity <= 0 else "no identity network given") + ")")

    # ---- encoder and optimiser
    torch.manual_seed(config.seed)
    enc_cfg = encoder_config_for(config, g)
    encoder = SmallEncoder(enc_cfg).to(dev)
    encoder.latent_avg.copy_(generator_mean_w(g, config.mean_latent_samples, config.seed)[None].expand(enc_cfg.n_w, -1))
    kw = {"fused": True} if cuda else {"foreach": True}
    opt = torch.optim.Adam(encoder.parameters(), lr=config.lr, betas=config.betas, **kw)
    step, elapsed_before, chunk, history, saved_data = 0, 0.0, 0, [], {}
    optimizer_loaded = False
    if resume_dir is not None:
        optims = {"E": (opt, encoder)} if config.save_optimizer else None
        st = ckpt.load_training_checkpoint(resume_dir, {"E": encoder}, optims)
        optimizer_loaded = st["optimizer_loaded"]
        step, elapsed_before = int(st["step"]), float(st.get("elapsed_s", 0.0))
        chunk, history, saved_data = int(st.get("chunks", 0)), list(st.get("history", [])), dict(st.get("data", {}))
        if st.get("perceptual") != perceptual.name:
            say(f"note: the checkpoint trained with perceptual distance {st.get('perceptual')!r}, now {perceptual.name!r}")
        say(f"resumed {resume_dir} at step {step}, optimiser state: {optimizer_loaded}")
    broadcast_module(encoder, info)
    start_step = step
    warmup_end = step + config.resume_warmup_steps if (resume_dir is not None and not optimizer_loaded) else step

    # ---- data
    bank = ImageBank.from_dirs(data_dirs, dev, resolution=g.size)
    same = saved_data.get("fingerprint") == bank.fingerprint
    sampler = InfiniteSampler(
        len(bank), max(b_real, 1), seed=config.seed, rank=info.rank, world_size=info.world_size, device=dev,
        epoch=int(saved_data.get("epoch", 0)) if same else 0, cursor=int(saved_data.get("cursor", 0)) if same else 0,
    )  # fmt: skip
    names = ",".join(p.name for p in data_dirs)
    say(f"data {names}: {len(bank)} images {bank.resolution}; batch {config.batch} ({b_syn}/rank generated), "
        f"device {dev} x{info.world_size}; generator {g_info}")  # fmt: skip
    grid_x = bank.batch(torch.arange(min(config.grid_pairs, len(bank)), device=dev))
    w_avg = encoder.latent_avg[0].detach().clone()

    log = open_log(out_dir, resume_dir, step, info)
    meter = DeviceMeter()
    clock = WallClock(t0, minutes, config.save_reserve_s, elapsed_before, step)
    device_name = torch.cuda.get_device_name(dev) if cuda else "cpu"

    def save() -> dict[str, Any]:
        now = time.time()
        run = clock.run_record(now, chunk + 1, start_step, step, config.batch, device_name, info.world_size, names)
        state = {
            "step": step, "elapsed_s": clock.elapsed_s(now), "chunks": chunk + 1, "seed": config.seed,
            "config": config_to_dict(config), "encoder_config": config_to_dict(enc_cfg), "network_type": SmallEncoder.network_type,
            "generator": g_info, "perceptual": perceptual.name, "perceptual_detail": perceptual.describe(),
            "identity": id_source, "data": {"fingerprint": bank.fingerprint, "n_images": len(bank), **sampler.state()},
            "active_deltas": active_deltas(step, config.progressive_start, config.progressive_every, enc_cfg.n_w),
            "history": history + [run], "torch": torch.__version__,
        }  # fmt: skip
        optims = {"E": (opt, encoder)} if config.save_optimizer else None
        written = ckpt.save_training_checkpoint(out_dir, {"E": encoder}, state, config.checkpoint_dtype, optims)
        write_png(out_dir / "grid.png", reconstruction_grid(encoder, g, grid_x, config.grid_cols))
        return written

    diverged = False
    encoder.train()
    while max_steps is None or step < max_steps:
        torch.manual_seed(step_seed(config.seed, step, info.rank, _SEED_SALT))
        if step < warmup_end:
            opt.param_groups[0]["lr"] = config.lr * (step - start_step + 1) / max(warmup_end - start_step, 1)
        elif step == warmup_end:
            opt.param_groups[0]["lr"] = config.lr
        parts, w_true = [], None
        if b_real > 0:
            parts.append(bank.batch(sampler.next(), xflip=config.xflip))  # [b_real, 3, R, R]
        if b_syn > 0:
            with torch.no_grad(), amp:
                w = g.truncate(g.mapping(torch.randn(b_syn, g.style_dim, device=dev)), config.synthetic_truncation, w_avg)
                w_true = g.broadcast(w)  # [b_syn, n_w, D]
                parts.append(g.synthesis(w_true).float().clamp(-1, 1))
        x = torch.cat(parts) if len(parts) > 1 else parts[0]
        n_active = active_deltas(step, config.progressive_start, config.progressive_every, enc_cfg.n_w)
        with amp:
            out = encoder.encode(x, active_deltas=n_active)
            x_rec = g.synthesis(out.w_plus)
        w_pred = out.w_plus[b_real:] if b_syn > 0 else None
        loss, terms = encoder_loss(x, x_rec, out.deltas, config.weights, perceptual, identity, w_pred, w_true)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        all_reduce_grads(encoder.parameters(), info)
        opt.step()
        meter.add(terms)
        step += 1

        final = max_steps is not None and step >= max_steps
        if step % config.log_every == 0 or final or clock.stale():
            values = meter.flush()
            now = time.time()
            rec = {"step": step, "time_s": clock.elapsed_s(now), "active_deltas": n_active,
                   "images_per_s": clock.rate(step, config.batch, now),
                   **{k: round(v, 6) for k, v in values.items()}}  # fmt: skip
            stop, diverged = control_point(
                clock, step, now, rec, values, log, info, dev, config.checkpoint_every_minutes, save, say
            )
            if stop:
                break
    written, seconds = finish(clock, step, diverged, out_dir, info, dev, save)
    summary = {
        "step": step, "steps_this_run": step - start_step, "seconds_training": round(seconds, 2),
        "images_per_s": round((step - start_step) * config.batch / max(seconds, 1e-9), 1),
        "perceptual": perceptual.name, "identity": id_source, "out": str(out_dir),
        "files": file_sizes(written),
    }  # fmt: skip
    say(f"done: {summary}")
    return summary


@torch.no_grad()
def reconstruction_grid(encoder: SmallEncoder, g: Generator, x: torch.Tensor, cols: int) -> np.ndarray:
    """uint8 grid of input | reconstruction pairs (`cols` pairs per row), encoder in eval mode."""
    was = encoder.training
    encoder.eval()
    rec = g.synthesis(encoder(x.float())[0].float()).float()
    encoder.train(was)
    pairs = torch.stack([x.float(), rec], 1).flatten(0, 1)  # [2N, 3, R, R]: x0, r0, x1, r1, ...
    return make_grid(tensor_to_uint8(pairs), 2 * cols)


def load_trained_encoder(ckpt_dir: str | Path, device: torch.device | str = "cpu") -> SmallEncoder:
    """The encoder of an encoder training checkpoint (eval mode, float32)."""
    state = ckpt.read_state(ckpt_dir)
    if state is None or "encoder_config" not in state:
        raise ckpt.CheckpointError(f"{ckpt_dir}: not an encoder training checkpoint (no encoder_config in state.json)")
    encoder = SmallEncoder(config_from_dict(SmallEncoderConfig, state["encoder_config"]))
    ckpt.load_training_checkpoint(ckpt_dir, {"E": encoder})
    return encoder.float().to(device).eval()
