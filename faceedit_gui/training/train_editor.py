"""Train the two-branch editor (`networks/editor.py`: d_sty, d_cnt, A_i, H_i) against FROZEN
generator, encoder, attribute classifier, identity and perceptual networks.

Paper: Yin et al., "Expanding the Latent Space of StyleGAN for Real Face Editing" (2022),
as read in `../shared/DESIGN.md` §1. Per step, on a batch of real aligned faces x:
    w_p, f_enc = E(x); Q, G(w_p) = G.synthesis(w_p)           (no grad: the inversion)
    source = classifier(x); s, y = sample_targets(source)      (`editor_targets.py`)
    x_edit, x_refine, m = fused_edit(G, editor, w_p, f_enc, x, s, Q)
    L = L_edit + L_refine                                      (`editor_losses.py`)
Only the editor's parameters train; every other network is in eval mode with
`requires_grad=False` (gradients flow *through* G to the directions, never into G).
The inversion is recomputed every step (on the GPU it costs less than the edit; a cache
would only pay off on a CPU and would pin the batch order to the cached set).

Table 3 ablations are config flags: `sparsity` (L_spa), `refine` (the content branch and
every refine term; off = style branch alone, the fused pass never runs), `align` (L_align);
`VARIANTS` names the four rows (style, style_spa, refine, full).

The loop shares the generator and encoder trainers' pieces: ImageBank/InfiniteSampler
(`data.py`), safetensors checkpoints + `state.json` (`checkpoint.py`: `editor.safetensors`,
optional `optim.safetensors` with the two Adams `dirs` and `nets`), `log.jsonl`, wall-clock
chunks, per-step seeds, the control point and the closing save (`loop.py`), `grid.png`
(`png.py`: per fixed training face, source | then per attribute x_edit, x_refine and the
edited region `1 - mean_i m_i` in white), `torchrun` via `distributed.py` (`batch` is
global). bf16 autocast on CUDA; float32 on the CPU.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from faceedit_gui.config import config_from_dict, config_to_dict
from faceedit_gui.conventions import tensor_to_uint8
from faceedit_gui.metrics.perceptual import load_network_source, resolve_perceptual
from faceedit_gui.networks.editor import Editor, EditorConfig
from faceedit_gui.networks.fusion import check_compatible, fused_edit
from faceedit_gui.networks.stylegan2 import Generator
from faceedit_gui.training import checkpoint as ckpt
from faceedit_gui.training.data import ImageBank, InfiniteSampler
from faceedit_gui.training.distributed import DistInfo, all_reduce_grads, broadcast_module, init_distributed, shutdown
from faceedit_gui.training.editor_losses import DEFAULT_SLIDERS, EditorLossWeights, check_slider_names, editor_loss, slider_logits
from faceedit_gui.training.editor_targets import flip_sliders, sample_targets
from faceedit_gui.training.loop import control_point, file_sizes, finish, open_log, pick_resume, set_cuda_flags, step_seed
from faceedit_gui.training.loop import WallClock
from faceedit_gui.training.png import make_grid, write_png
from faceedit_gui.training.train_encoder import load_generator, load_trained_encoder
from faceedit_gui.training.train_log import DeviceMeter

EDITOR_ARCH = ("attributes", "relevance_width", "image_channels")
# Table 3 rows: name -> (sparsity, refine, align)
VARIANTS: dict[str, tuple[bool, bool, bool]] = {
    "style": (False, False, False),  # style branch alone
    "style_spa": (True, False, False),  # + L_spa
    "refine": (True, True, False),  # + refine branch
    "full": (True, True, True),  # + L_align (the method)
}


@dataclasses.dataclass(frozen=True)
class EditorTrainConfig:
    # --- the editor (n_w, style_dim and channel tables come from G and E) ---
    attributes: tuple[str, ...] = DEFAULT_SLIDERS  # slider names (table in editor_losses.py), in card order
    relevance_width: int = 16  # c of H_i's query/key convs
    image_channels: int = 16  # width of A_i's image stem for levels finer than the encoder
    direction_init: float = 0.0  # std of the initial directions (0: sliders start neutral)
    # --- losses and ablations (Table 3) ---
    weights: EditorLossWeights = field(default_factory=EditorLossWeights)  # the paper's weights
    sparsity: bool = True  # L_spa on (False zeroes edit_spa)
    refine: bool = True  # content branch + refine losses (False: style branch alone)
    align: bool = True  # L_align on (needs refine)
    max_flips: int = 2  # attributes flipped per sample: uniform in 1..max_flips
    # --- optimisation ---
    batch: int = 16  # global batch (split over DDP ranks)
    lr: float = 1e-4  # Adam LR of A_i and H_i
    lr_directions: float = 1e-3  # Adam LR of d_sty and d_cnt (W+ units: they must travel ~1)
    betas: tuple[float, float] = (0.9, 0.999)  # Adam betas
    xflip: bool = True  # mirror half of the faces
    resume_warmup_steps: int = 100  # LR warm-up after a resume without optimiser state
    # --- speed (CUDA only) ---
    precision: str = "bf16"  # "bf16" autocast for the networks, "fp32" none (losses in fp32)
    tf32: bool = True  # TensorFloat-32 matmuls where float32 remains
    # --- bookkeeping ---
    seed: int = 0  # initial weights, batch order, targets
    log_every: int = 50  # steps between log lines (the only host syncs) and stop checks
    checkpoint_every_minutes: float = 2.0  # periodic safety saves
    save_reserve_s: float = 20.0  # stop this long before `minutes` run out
    grid_images: int = 4  # fixed training faces in grid.png (one row each)
    checkpoint_dtype: str = "float16"  # editor.safetensors: float16 | bfloat16 | float32 (4.2 M params: 8.4 MB fp16; fp32 passes the 16 MiB return limit)
    save_optimizer: bool = False  # also save Adam state (float32, 2x the weights)

    def loss_weights(self) -> EditorLossWeights:
        """`weights` with the ablation flags applied."""
        w = self.weights
        if not self.sparsity:
            w = dataclasses.replace(w, edit_spa=0.0)
        if not self.refine:
            w = dataclasses.replace(w, refine_l2=0.0, refine_cls=0.0, refine_align=0.0)
        if not self.align:
            w = dataclasses.replace(w, refine_align=0.0)
        return w


def tiny_config(**overrides: Any) -> EditorTrainConfig:
    """For the 32 px tiny generator and encoder: milliseconds per step on a CPU (tests)."""
    base = EditorTrainConfig(relevance_width=4, image_channels=4, batch=4, resume_warmup_steps=2, log_every=1,
                             save_reserve_s=0.0, grid_images=2, checkpoint_dtype="float32",
                             save_optimizer=True, precision="fp32")  # fmt: skip
    return dataclasses.replace(base, **overrides)


def variant_config(config: EditorTrainConfig, variant: str) -> EditorTrainConfig:
    """`config` with the ablation flags of a Table 3 row (`VARIANTS`)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r} (known: {', '.join(VARIANTS)})")
    sparsity, refine, align = VARIANTS[variant]
    return dataclasses.replace(config, sparsity=sparsity, refine=refine, align=align)


def merge_config(base: EditorTrainConfig, overrides: dict[str, Any]) -> EditorTrainConfig:
    """`base` with fields replaced from JSON-typed `overrides` (nested dicts merge)."""
    merged = config_to_dict(base)
    for k, v in overrides.items():
        merged[k] = {**merged[k], **v} if isinstance(v, dict) and isinstance(merged.get(k), dict) else v
    return config_from_dict(EditorTrainConfig, merged)


def editor_config_for(config: EditorTrainConfig, g: Generator, encoder: nn.Module) -> EditorConfig:
    """The editor that fits this generator and encoder pyramid."""
    ec = encoder.config
    enc = {int(n.split("x")[0]): int(ec.fpn_channels) for n in ec.feature_names()}
    return EditorConfig(n_attributes=len(config.attributes), n_w=g.n_latent, style_dim=g.style_dim,
                        generator_channels={int(r): int(c) for r, c in g.channels.items()}, encoder_channels=enc,
                        relevance_width=config.relevance_width, image_channels=config.image_channels,
                        direction_init=config.direction_init)  # fmt: skip


# ------------------------------------------------------------------ frozen networks


def freeze(net: nn.Module) -> nn.Module:
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def load_frozen(source: str | Path | nn.Module, name: str, device: torch.device | str = "cpu") -> nn.Module:
    """A frozen small network (classifier, identity) from a module, a bundle folder, a
    training output folder holding `<name>.safetensors/.json`, or a `save_network` stem."""
    if not isinstance(source, nn.Module):
        source = load_network_source(source, name)
    return freeze(source.float().to(device))


def load_encoder(source: str | Path, device: torch.device | str = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """The frozen encoder from an encoder training checkpoint or a bundle folder, and its record."""
    source = Path(source)
    if (source / "model.json").is_file():
        from faceedit_gui.checkpoints.bundle import load_bundle

        return freeze(load_bundle(source, networks=["encoder"])["encoder"].to(device)), {"kind": "bundle", "path": str(source)}
    state = ckpt.read_state(source)
    if state is None:
        raise FileNotFoundError(f"{source}: neither a bundle (model.json) nor an encoder checkpoint (state.json)")
    info = {"kind": "encoder-checkpoint", "path": str(source), "step": int(state["step"]), "sha256": state["files"]["E"]["sha256"]}
    return freeze(load_trained_encoder(source, device)), info


@dataclasses.dataclass
class FrozenNets:
    generator: Generator
    encoder: nn.Module
    classifier: nn.Module
    perceptual: nn.Module | None = None
    identity: nn.Module | None = None


@dataclasses.dataclass
class Inversion:
    w_p: torch.Tensor  # [B, n_w, D] float32
    features: dict[str, torch.Tensor]  # f_enc by level name
    q_features: dict[str, torch.Tensor]  # Q_i = G_i(w_p) by level name
    x_rec: torch.Tensor  # G(w_p) [B, 3, R, R] float32
    source_logits: torch.Tensor  # [B, K] the classifier on x (slider logits)


@torch.no_grad()
def invert(nets: FrozenNets, x: torch.Tensor, names: tuple[str, ...]) -> Inversion:
    """Everything the sliders do not change (DESIGN §1.6), without gradients."""
    w_p, features = nets.encoder(x)
    rec = nets.generator.synthesis(w_p.float(), return_features=True)
    return Inversion(w_p.float(), features, rec.features, rec.image.float(), slider_logits(nets.classifier, x, names))


def edit_loss(
    editor: Editor,
    nets: FrozenNets,
    x: torch.Tensor,
    inv: Inversion,
    s: torch.Tensor,
    labels: torch.Tensor,
    config: EditorTrainConfig,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One training forward: the edit of `x` by sliders `s` and its loss `(total, terms)`."""
    weights = config.loss_weights()
    g = nets.generator
    if config.refine:
        out = fused_edit(g, editor, inv.w_p, inv.features, x, s, q_features=inv.q_features)
        x_edit, x_refine = out.x_edit, out.x_refine
    else:
        x_edit, x_refine = g.synthesis(inv.w_p + editor.style_offset(s).to(inv.w_p.dtype)), None
    return editor_loss(x, x_edit, labels, editor.d_sty, weights, config.attributes, nets.classifier,
                       nets.perceptual, nets.identity, x_refine, inv.x_rec)  # fmt: skip


class _Directions(nn.Module):
    """A view of the editor's directions (one Adam, one optimiser-state namespace)."""

    def __init__(self, editor: Editor):
        super().__init__()
        self.d_sty, self.d_cnt = editor.d_sty, editor.d_cnt


def optimizers(editor: Editor, config: EditorTrainConfig, cuda: bool) -> dict[str, tuple[torch.optim.Optimizer, nn.Module]]:
    """`dirs` (d_sty, d_cnt at `lr_directions`) and `nets` (A_i, H_i at `lr`)."""
    kw = {"fused": True} if cuda else {"foreach": True}
    dirs = _Directions(editor)
    nets = nn.ModuleDict({"extractors": editor.extractors, "relevance": editor.relevance})
    return {
        "dirs": (torch.optim.Adam(dirs.parameters(), lr=config.lr_directions, betas=config.betas, **kw), dirs),
        "nets": (torch.optim.Adam(nets.parameters(), lr=config.lr, betas=config.betas, **kw), nets),
    }


_SEED_SALT = 77_777  # this loop's per-step seed stream (`loop.step_seed`)


def train(
    config: EditorTrainConfig,
    data_dir: str | Path | Sequence[str | Path],
    generator: str | Path,
    encoder: str | Path,
    classifier: str | Path | nn.Module,
    out_dir: str | Path,
    minutes: float,
    resume: str | Path | Sequence[str | Path] | None = None,
    *,
    identity: str | Path | nn.Module | None = None,
    lpips_backbone: str | Path | None = None,
    lpips_linear: str | Path | None = None,
    device: str | None = None,
    max_steps: int | None = None,
    echo: Callable[[str], None] = print,
    start_time: float | None = None,
) -> dict[str, Any]:
    """Train for `minutes` of wall clock (from `start_time`, default now) or until the absolute
    step `max_steps`, then save to `out_dir`. `classifier` (required: L_cls) also feeds the
    perceptual substitute when the LPIPS files are absent; `identity` None skips L_id with a
    note. Returns a summary."""
    t0 = time.time() if start_time is None else start_time
    info = init_distributed(device)
    try:
        dirs = [Path(data_dir)] if isinstance(data_dir, (str, Path)) else [Path(p) for p in data_dir]
        sources = {"generator": Path(generator), "encoder": Path(encoder), "classifier": classifier, "identity": identity,
                   "lpips": (lpips_backbone, lpips_linear)}  # fmt: skip
        return _train(config, dirs, sources, Path(out_dir), minutes, resume, info, max_steps, echo, t0)
    finally:
        shutdown(info)


def _describe(source: Any) -> str | None:
    return None if source is None else "module" if isinstance(source, nn.Module) else str(source)


def _train(config, data_dirs, sources, out_dir, minutes, resume, info: DistInfo, max_steps, echo, t0):
    dev = info.device
    cuda = dev.type == "cuda"
    say = echo if info.is_main else (lambda _: None)
    if config.batch % info.world_size:
        raise ValueError(f"batch {config.batch} does not split over {info.world_size} ranks")
    if config.precision not in ("bf16", "fp32"):
        raise ValueError(f"precision must be 'bf16' or 'fp32', got {config.precision!r}")
    b = config.batch // info.world_size
    if cuda:
        set_cuda_flags(config.tf32)
    amp = torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=cuda and config.precision == "bf16")

    resume_dir = pick_resume(resume)
    if resume_dir is not None:
        saved = config_from_dict(EditorTrainConfig, ckpt.read_state(resume_dir)["config"])
        diff = [f for f in EDITOR_ARCH if getattr(saved, f) != getattr(config, f)]
        if diff:
            raise ValueError(f"the config changes the editor of the checkpoint being resumed ({', '.join(diff)})")

    # ---- frozen networks
    g, g_info = load_generator(sources["generator"], dev)
    encoder, e_info = load_encoder(sources["encoder"], dev)
    classifier = load_frozen(sources["classifier"], "classifier", dev)
    check_slider_names(config.attributes, classifier)
    weights = config.loss_weights()
    perceptual = resolve_perceptual(*sources["lpips"], classifier=classifier, device=dev) if weights.edit_lpips > 0 else None
    identity = None
    if sources["identity"] is not None and weights.edit_id > 0:
        identity = load_frozen(sources["identity"], "identity", dev)
    nets = FrozenNets(g, encoder, classifier, perceptual, identity)
    p_name = perceptual.name if perceptual is not None else None
    say(f"perceptual distance: {p_name or 'off (weight 0)'}; identity loss: "
        + (f"the project's identity network ({_describe(sources['identity'])})" if identity is not None
           else "skipped (" + ("weight 0" if weights.edit_id <= 0 else "no identity network given") + ")"))  # fmt: skip

    # ---- editor and optimisers
    torch.manual_seed(config.seed)
    editor = Editor(editor_config_for(config, g, encoder)).to(dev)
    check_compatible(g, editor)
    optims = optimizers(editor, config, cuda)
    base_lrs = {"dirs": config.lr_directions, "nets": config.lr}
    step, elapsed_before, chunk, history, saved_data, optimizer_loaded = 0, 0.0, 0, [], {}, False
    if resume_dir is not None:
        st = ckpt.load_training_checkpoint(resume_dir, {"editor": editor}, optims if config.save_optimizer else None)
        optimizer_loaded = st["optimizer_loaded"]
        step, elapsed_before = int(st["step"]), float(st.get("elapsed_s", 0.0))
        chunk, history, saved_data = int(st.get("chunks", 0)), list(st.get("history", [])), dict(st.get("data", {}))
        say(f"resumed {resume_dir} at step {step}, optimiser state: {optimizer_loaded}")
    broadcast_module(editor, info)
    start_step = step
    warmup_end = step + config.resume_warmup_steps if (resume_dir is not None and not optimizer_loaded) else step

    # ---- data
    bank = ImageBank.from_dirs(data_dirs, dev, resolution=g.size)
    same = saved_data.get("fingerprint") == bank.fingerprint
    sampler = InfiniteSampler(
        len(bank), b, seed=config.seed, rank=info.rank, world_size=info.world_size, device=dev,
        epoch=int(saved_data.get("epoch", 0)) if same else 0, cursor=int(saved_data.get("cursor", 0)) if same else 0,
    )  # fmt: skip
    names = ",".join(p.name for p in data_dirs)
    say(f"data {names}: {len(bank)} images; batch {config.batch}, device {dev} x{info.world_size}; "
        f"attributes {config.attributes}; variant sparsity={config.sparsity} refine={config.refine} align={config.align}")  # fmt: skip
    grid_x = bank.batch(torch.arange(min(config.grid_images, len(bank)), device=dev))

    log = open_log(out_dir, resume_dir, step, info)
    meter = DeviceMeter()
    clock = WallClock(t0, minutes, config.save_reserve_s, elapsed_before, step)
    device_name = torch.cuda.get_device_name(dev) if cuda else "cpu"

    def save() -> dict[str, Any]:
        now = time.time()
        run = clock.run_record(now, chunk + 1, start_step, step, config.batch, device_name, info.world_size, names)
        state = {
            "step": step, "elapsed_s": clock.elapsed_s(now), "chunks": chunk + 1, "seed": config.seed,
            "config": config_to_dict(config), "editor_config": config_to_dict(editor.config),
            "network_type": "editor", "attributes": list(config.attributes),
            "generator": g_info, "encoder": e_info, "classifier": _describe(sources["classifier"]),
            "identity": _describe(sources["identity"]) if identity is not None else None,
            "perceptual": p_name, "perceptual_detail": perceptual.describe() if perceptual is not None else None,
            "data": {"fingerprint": bank.fingerprint, "n_images": len(bank), **sampler.state()},
            "history": history + [run], "torch": torch.__version__,
        }  # fmt: skip
        written = ckpt.save_training_checkpoint(out_dir, {"editor": editor}, state, config.checkpoint_dtype,
                                                optims if config.save_optimizer else None)  # fmt: skip
        write_png(out_dir / "grid.png", edit_grid(editor, nets, grid_x, config.attributes))
        return written

    diverged = False
    editor.train()
    while max_steps is None or step < max_steps:
        torch.manual_seed(step_seed(config.seed, step, info.rank, _SEED_SALT))
        for key, (opt, _) in optims.items():
            if step < warmup_end:
                opt.param_groups[0]["lr"] = base_lrs[key] * (step - start_step + 1) / max(warmup_end - start_step, 1)
            elif step == warmup_end:
                opt.param_groups[0]["lr"] = base_lrs[key]
        x = bank.batch(sampler.next(), xflip=config.xflip)  # [b, 3, R, R]
        with amp:
            inv = invert(nets, x, config.attributes)
        s, labels = sample_targets(inv.source_logits, config.max_flips)
        with amp:
            loss, terms = edit_loss(editor, nets, x, inv, s, labels, config)
        for opt, _ in optims.values():
            opt.zero_grad(set_to_none=True)
        loss.backward()
        all_reduce_grads(editor.parameters(), info)
        for opt, _ in optims.values():
            opt.step()
        meter.add(terms)
        step += 1

        final = max_steps is not None and step >= max_steps
        if step % config.log_every == 0 or final or clock.stale():
            values = meter.flush()
            now = time.time()
            rec = {"step": step, "time_s": clock.elapsed_s(now), "images_per_s": clock.rate(step, config.batch, now),
                   **{k: round(v, 6) for k, v in values.items()}}  # fmt: skip
            stop, diverged = control_point(
                clock, step, now, rec, values, log, info, dev, config.checkpoint_every_minutes, save, say
            )
            if stop:
                break
    written, seconds = finish(clock, step, diverged, out_dir, info, dev, save)
    summary = {
        "step": step, "steps_this_run": step - start_step, "seconds_training": round(seconds, 2),
        "images_per_s": round((step - start_step) * config.batch / max(seconds, 1e-9), 2),
        "perceptual": p_name, "identity": _describe(sources["identity"]) if identity is not None else None,
        "out": str(out_dir), "files": file_sizes(written),
    }  # fmt: skip
    say(f"done: {summary}")
    return summary


@torch.no_grad()
def edit_grid(editor: Editor, nets: FrozenNets, x: torch.Tensor, names: tuple[str, ...]) -> np.ndarray:
    """uint8 grid: per face a row `source | (x_edit, x_refine, edited region) per attribute`,
    each attribute flipped away from the source's predicted label; editor in eval mode."""
    was = editor.training
    editor.eval()
    x = x.float()
    inv = invert(nets, x, names)
    cells = [x]
    for k in range(len(names)):
        out = fused_edit(nets.generator, editor, inv.w_p, inv.features, x, flip_sliders(inv.source_logits, k),
                         q_features=inv.q_features)  # fmt: skip
        r = x.shape[-1]
        kept = torch.stack([F.interpolate(m.float(), size=(r, r), mode="bilinear", align_corners=False)
                            for m in out.masks.values()]).mean(0)  # [B, 1, R, R]  # fmt: skip
        cells += [out.x_edit.float(), out.x_refine.float(), (1 - 2 * kept).expand(-1, 3, -1, -1)]
    editor.train(was)
    grid = torch.stack(cells, 1).flatten(0, 1)  # [B * (1 + 3K), 3, R, R], row-major per face
    return make_grid(tensor_to_uint8(grid.clamp(-1, 1)), 1 + 3 * len(names))


def load_trained_editor(ckpt_dir: str | Path, device: torch.device | str = "cpu") -> tuple[Editor, dict[str, Any]]:
    """The editor of an editor training checkpoint (eval mode, float32) and its state.json."""
    state = ckpt.read_state(ckpt_dir)
    if state is None or state.get("network_type") != "editor":
        raise ckpt.CheckpointError(f"{ckpt_dir}: not an editor training checkpoint (state.json network_type != 'editor')")
    editor = Editor(config_from_dict(EditorConfig, state["editor_config"]))
    ckpt.load_training_checkpoint(ckpt_dir, {"editor": editor})
    return editor.float().to(device).eval(), state
