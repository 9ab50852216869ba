"""Train the attribute classifier (`networks/classifier.py`) on the packed aligned sets.

Data: packed folders (`faceedit prepare-data`), e.g. `.data/aligned/celeba_128` and
`.data/aligned/utkface_128`; the train split trains, the held-out split (the README's test
lists, recorded per image by the packer) is only evaluated. Labels per logit:
`training/attribute_targets.py`; missing labels are masked out of the BCE.

Batches: `celeba_fraction` of every batch is drawn from the CelebA packs (the only source of
the 10 CelebA attributes), the rest from the others, with replacement, from a generator
seeded by (seed, step): a resumed run draws exactly the batches it would have drawn.
Augmentation: horizontal flip, a random shift of up to `shift` px (edge-replicated), mild
brightness/contrast jitter.

Outputs in `out`: `classifier.safetensors` + `classifier.json` (config, metrics, recipe),
`log.jsonl` (one JSON object per log/eval), `resume.*` (see `net_io.py`). Metrics: held-out
ROC AUC per attribute (`attribute_targets.roc_auc`), with the counts of positives/negatives.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from faceedit_gui.config import config_from_dict, config_to_dict
from faceedit_gui.networks.classifier import AttributeClassifier, AttributeClassifierConfig
from faceedit_gui.training.attribute_targets import CELEBA_ATTRIBUTE_ORDER, attribute_targets, auc_table, masked_bce
from faceedit_gui.training.face_packs import FacePack, load_pack
from faceedit_gui.training.net_io import load_resume, save_network, save_resume
from faceedit_gui.training.train_log import JsonlLog


@dataclass(frozen=True)
class ClassifierTrainConfig:
    network: AttributeClassifierConfig = field(default_factory=AttributeClassifierConfig)  # the classifier
    steps: int = 3000  # length of the learning-rate schedule (total optimiser steps)
    batch: int = 64  # images per step
    lr: float = 2e-3  # AdamW peak learning rate
    weight_decay: float = 5e-4  # AdamW decoupled weight decay
    warmup: int = 100  # linear warm-up steps, then cosine decay to 0 at `steps`
    celeba_fraction: float = 0.5  # share of each batch drawn from the CelebA packs
    shift: int = 6  # random translation, pixels at the pack's resolution
    jitter: float = 0.1  # brightness (+-jitter) and contrast (1 +- 2*jitter) range
    log_every: int = 25  # steps between log lines
    eval_every: int = 500  # steps between held-out evaluations (and resume saves)
    save_every_minutes: float = 3.0  # wall-clock between resume saves
    seed: int = 0  # initialisation and batch sampling


@dataclass
class LabelledSet:
    """Images of several packs with their [N, K] targets and known-masks, and a per-row source."""

    images: torch.Tensor  # uint8 [N, S, S, 3]
    targets: np.ndarray  # float32 [N, K]
    known: np.ndarray  # bool [N, K]
    is_celeba: np.ndarray  # bool [N]


def labelled_set(packs: Sequence[FacePack], attributes: tuple[str, ...], age_old_threshold: int) -> LabelledSet:
    sizes = {p.size for p in packs}
    if len(sizes) != 1:
        raise ValueError(f"packs of different sizes {sorted(sizes)}: give packs of one resolution")
    tk = [attribute_targets(p.labels, attributes, p.dataset, age_old_threshold, p.attribute_names or CELEBA_ATTRIBUTE_ORDER) for p in packs]
    return LabelledSet(
        images=torch.from_numpy(np.concatenate([p.images for p in packs])),
        targets=np.concatenate([t for t, _ in tk]),
        known=np.concatenate([k for _, k in tk]),
        is_celeba=np.concatenate([np.full(len(p), p.dataset == "celeba") for p in packs]),
    )


def to_float(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 `[B, S, S, 3]` -> float `[B, 3, S, S]` in [-1, 1] on `device`."""
    return images.to(device).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


def augment(x: torch.Tensor, gen: torch.Generator, shift: int, jitter: float) -> torch.Tensor:
    """Flip, shift (edge-replicated) and brightness/contrast jitter of `[B, 3, S, S]` in [-1, 1]."""
    b, _, s, _ = x.shape
    flip = torch.rand(b, generator=gen) < 0.5
    x = torch.where(flip.to(x.device)[:, None, None, None], x.flip(3), x)
    if shift > 0:
        padded = torch.nn.functional.pad(x, (shift,) * 4, mode="replicate")
        d = torch.randint(0, 2 * shift + 1, (b, 2), generator=gen).tolist()
        x = torch.stack([padded[i, :, dy : dy + s, dx : dx + s] for i, (dy, dx) in enumerate(d)])
    if jitter > 0:
        bright = (torch.rand(b, 1, 1, 1, generator=gen) * 2 - 1) * jitter
        contrast = 1 + (torch.rand(b, 1, 1, 1, generator=gen) * 2 - 1) * 2 * jitter
        x = (x * contrast.to(x.device) + bright.to(x.device)).clamp(-1, 1)
    return x


def sample_rows(data: LabelledSet, batch: int, celeba_fraction: float, gen: torch.Generator) -> np.ndarray:
    celeba = np.flatnonzero(data.is_celeba)
    other = np.flatnonzero(~data.is_celeba)
    n_c = int(round(batch * celeba_fraction)) if len(celeba) and len(other) else (batch if len(celeba) else 0)
    pick = lambda rows, n: rows[torch.randint(0, len(rows), (n,), generator=gen).numpy()]  # noqa: E731
    parts = ([pick(celeba, n_c)] if n_c else []) + ([pick(other, batch - n_c)] if batch - n_c else [])
    return np.concatenate(parts)


def lr_at(step: int, cfg: ClassifierTrainConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * t))


@torch.no_grad()
def evaluate(net: AttributeClassifier, data: LabelledSet, device: torch.device, batch: int = 256) -> dict[str, Any]:
    """Held-out BCE and AUC per attribute (eval mode; restores the previous mode)."""
    was_training = net.training
    net.eval()
    logits = torch.cat([net(to_float(data.images[i : i + batch], device)).float().cpu() for i in range(0, len(data.images), batch)])
    net.train(was_training)
    loss, _ = masked_bce(logits, torch.from_numpy(data.targets), torch.from_numpy(data.known))
    table = auc_table(logits.numpy(), data.targets, data.known, net.attributes)
    aucs = [v["auc"] for v in table.values() if v["auc"] is not None]
    return {"bce": float(loss), "mean_auc": float(np.mean(aucs)) if aucs else float("nan"), "auc": table, "images": len(data.images)}


def train_classifier(
    data_dirs: Sequence[str | Path],
    out_dir: str | Path,
    config: ClassifierTrainConfig = ClassifierTrainConfig(),
    minutes: float | None = None,
    device: str | None = None,
    fresh: bool = False,
    limit: int | None = None,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train (or continue) until `config.steps` or `minutes` of wall clock; returns the final record.

    Writes `out/classifier.{safetensors,json}` at the end of every call, so a time-limited
    call leaves usable weights; a later call with the same `out` resumes (unless `fresh`).
    `limit` caps the images read per pack and split (smoke tests).
    """
    t0 = time.time()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    resume_cfg = out / "resume.json"
    if resume_cfg.is_file() and not fresh:
        config = config_from_dict(ClassifierTrainConfig, json.loads(resume_cfg.read_text())["config"])
    ncfg = config.network
    train_packs = [load_pack(d, "train", limit) for d in data_dirs]
    train = labelled_set(train_packs, ncfg.attributes, ncfg.age_old_threshold)
    held = labelled_set([load_pack(d, "test", limit) for d in data_dirs], ncfg.attributes, ncfg.age_old_threshold)
    echo(f"classifier: {len(train.images)} train / {len(held.images)} held-out images from {len(data_dirs)} packs, device {dev}")

    torch.manual_seed(config.seed)
    net = AttributeClassifier(ncfg).to(dev)
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    log = JsonlLog(out / "log.jsonl")
    state = None if fresh else load_resume(out, net, opt)
    step = int(state["step"]) if state else 0
    elapsed_before = float(state.get("train_seconds", 0.0)) if state else 0.0
    if state:
        echo(f"classifier: resumed at step {step}")
    last_eval: dict[str, Any] | None = state.get("last_eval") if state else None

    def save() -> None:
        save_resume(out, net, opt, {"step": step, "config": config_to_dict(config), "last_eval": last_eval,
                                    "train_seconds": elapsed_before + time.time() - t0})

    net.train()
    last_save = time.time()
    t_log, loss_sum, n_sum = time.time(), 0.0, 0
    while step < config.steps and (minutes is None or time.time() - t0 < minutes * 60):
        gen = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
        rows = sample_rows(train, config.batch, config.celeba_fraction, gen)
        x = augment(to_float(train.images[rows], dev), gen, config.shift, config.jitter)
        targets = torch.from_numpy(train.targets[rows]).to(dev)
        known = torch.from_numpy(train.known[rows]).to(dev)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, config)
        loss, _ = masked_bce(net(x), targets, known)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        loss_sum, n_sum = loss_sum + float(loss.detach()), n_sum + 1
        if step % config.log_every == 0:
            rate = n_sum * config.batch / (time.time() - t_log)
            log.write({"step": step, "loss/bce": loss_sum / n_sum, "lr": lr_at(step - 1, config), "img_per_s": rate})
            echo(f"step {step}/{config.steps} bce {loss_sum / n_sum:.4f} {rate:.1f} img/s")
            t_log, loss_sum, n_sum = time.time(), 0.0, 0
        if step % config.eval_every == 0:
            last_eval = {**evaluate(net, held, dev), "step": step}
            log.write({"step": step, "eval/bce": last_eval["bce"], "eval/mean_auc": last_eval["mean_auc"],
                       **{f"eval/auc/{k}": v["auc"] for k, v in last_eval["auc"].items()}})
            echo(f"step {step}: held-out mean AUC {last_eval['mean_auc']:.4f}")
        if time.time() - last_save > config.save_every_minutes * 60:
            save()
            last_save = time.time()

    if last_eval is None or last_eval.get("step") != step:
        last_eval = {**evaluate(net, held, dev), "step": step}
        log.write({"step": step, "eval/bce": last_eval["bce"], "eval/mean_auc": last_eval["mean_auc"],
                   **{f"eval/auc/{k}": v["auc"] for k, v in last_eval["auc"].items()}})
    save()
    train_seconds = elapsed_before + time.time() - t0
    record = {
        "metrics": {"held_out": last_eval, "steps": step, "images_seen": step * config.batch, "train_seconds": round(train_seconds, 1)},
        "recipe": {"trainer": "faceedit_gui.training.train_classifier", "config": config_to_dict(config),
                   "data": [str(d) for d in data_dirs], "device": str(dev), "complete": step >= config.steps},
        "data": {"train_images": len(train.images), "held_out_images": len(held.images)},
        "framing": train_packs[0].framing,  # how the training crops were aligned (faces.load_framing reads it)
    }
    save_network(out / "classifier", net.cpu(), **record)
    echo(f"classifier: step {step}, held-out mean AUC {last_eval['mean_auc']:.4f}, wrote {out / 'classifier.safetensors'}")
    return record


def override(config: ClassifierTrainConfig, **changes: Any) -> ClassifierTrainConfig:
    """`config` with top-level fields replaced (None values ignored)."""
    return dataclasses.replace(config, **{k: v for k, v in changes.items() if v is not None})
