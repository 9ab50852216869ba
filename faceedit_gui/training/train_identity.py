"""Distil dlib's face descriptor into the identity network (`networks/identity.py`).

Data: packed folders at the network's resolution (e.g. `.data/aligned/utkface_128`,
`.data/aligned/celeba_128`). dlib descriptors (`training/dlib_targets.py`) are computed
once per crop and cached under `cache_dir`; dlib costs ~0.1 s a crop on this CPU, so by
default only the first `train_per_pack` train crops of each pack are used (the packs are
shuffled with a fixed seed, so a prefix is a fair sample), plus every held-out crop.

Targets: `t = normalize(d - dlib_mean)`, `d` the dlib descriptor, `dlib_mean` the mean over
the training crops (stored in the network). Loss:
    L = mean(1 - cos(s, t)) + relation_weight * MSE(S_s, S_t)
with `S` the in-batch matrix of pairwise cosines (relational distillation: the ID loss
compares two images, so the geometry between faces matters, not only each vector).
Augmentation: horizontal flip with the same target (dlib's descriptor of a mirrored chip
has cosine 0.99 with the original's), a shift of up to `shift` px.

Held-out metrics (never trained on): `cos_agreement` = mean cos(s, t) in the centred space,
`cos_agreement_raw` = mean cos(dlib_mean + norm * s, d) in dlib's own space beside the
trivial baseline `cos_mean_baseline_raw` = mean cos(dlib_mean, d); `pair_corr` = Pearson
correlation over all held-out pairs of the network's pairwise cosines with the centred
dlib ones (`pair_corr_raw`: with dlib's raw cosines, what the evaluator computes);
`rank1_retrieval` = share of crops whose own (centred) dlib descriptor is the nearest to
their network embedding; `nn_agreement` = share whose nearest other crop is the same by
the network and by centred dlib.

Outputs in `out`: `identity.safetensors` + `identity.json`, `log.jsonl`, `resume.*`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from faceedit_gui.config import config_from_dict, config_to_dict
from faceedit_gui.networks.identity import IdentityNet, IdentityNetConfig
from faceedit_gui.training.dlib_targets import compute_targets
from faceedit_gui.training.face_packs import FacePack, load_pack
from faceedit_gui.training.net_io import load_resume, save_network, save_resume
from faceedit_gui.training.train_classifier import augment, lr_at, to_float
from faceedit_gui.training.train_log import JsonlLog


@dataclass(frozen=True)
class IdentityTrainConfig:
    network: IdentityNetConfig = field(default_factory=IdentityNetConfig)  # the identity network
    train_per_pack: int = 4000  # train crops used per pack (dlib targets are costly); 0 = all
    steps: int = 3000  # length of the learning-rate schedule (total optimiser steps)
    batch: int = 64  # crops per step
    lr: float = 2e-3  # AdamW peak learning rate
    weight_decay: float = 5e-4  # AdamW decoupled weight decay
    warmup: int = 100  # linear warm-up steps, then cosine decay to 0
    relation_weight: float = 1.0  # weight of the pairwise-cosine MSE term
    shift: int = 3  # random translation, pixels at the pack's resolution
    jitter: float = 0.05  # brightness/contrast jitter (see train_classifier.augment)
    log_every: int = 25  # steps between log lines
    eval_every: int = 500  # steps between held-out evaluations
    save_every_minutes: float = 3.0  # wall-clock between resume saves
    seed: int = 0  # initialisation and batch sampling


def distill_loss(s: torch.Tensor, t: torch.Tensor, relation_weight: float) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Student `s` and target `t`, both unit `[B, D]` -> (total, {"id/cos": .., "id/relation": ..})."""
    cos = (1.0 - (s * t).sum(1)).mean()
    terms = {"id/cos": cos}
    total = cos
    if relation_weight > 0:
        rel = F.mse_loss(s @ s.T, t @ t.T)
        terms["id/relation"] = rel
        total = total + relation_weight * rel
    return total, terms


def agreement_metrics(s: np.ndarray, d: np.ndarray, dlib_mean: np.ndarray, norm: float) -> dict[str, float]:
    """Held-out agreement of student embeddings `s` `[N, D]` (unit, centred space) with dlib `d` `[N, D]`."""
    unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)  # noqa: E731
    t = unit(d - dlib_mean)
    raw = unit(dlib_mean + norm * s)
    dn = unit(d)
    out = {
        "cos_agreement": float(np.mean(np.sum(s * t, 1))),
        "cos_agreement_raw": float(np.mean(np.sum(raw * dn, 1))),
        "cos_mean_baseline_raw": float(np.mean(dn @ unit(dlib_mean[None])[0])),
        "crops": int(len(s)),
    }
    if len(s) > 2:
        ss, st, sd = s @ s.T, t @ t.T, dn @ dn.T
        iu = np.triu_indices(len(s), 1)
        out["pair_corr"] = float(np.corrcoef(ss[iu], st[iu])[0, 1])
        out["pair_corr_raw"] = float(np.corrcoef(ss[iu], sd[iu])[0, 1])
        out["rank1_retrieval"] = float(np.mean(np.argmax(s @ t.T, 1) == np.arange(len(s))))
        np.fill_diagonal(ss, -np.inf)
        np.fill_diagonal(st, -np.inf)
        out["nn_agreement"] = float(np.mean(np.argmax(ss, 1) == np.argmax(st, 1)))
    return out


def _with_targets(pack: FacePack, cache_dir: Path, folder: Path, echo: Callable[[str], None]) -> np.ndarray:
    cache = cache_dir / f"{folder.name}_{pack.split}.npz"
    return compute_targets(pack.images, pack.labels["landmarks"], pack.labels["names"], cache, echo=echo)


@torch.no_grad()
def embed(net: IdentityNet, images: torch.Tensor, device: torch.device, batch: int = 256) -> np.ndarray:
    was = net.training
    net.eval()
    out = torch.cat([net(to_float(images[i : i + batch], device)).float().cpu() for i in range(0, len(images), batch)])
    net.train(was)
    return out.numpy()


def train_identity(
    data_dirs: Sequence[str | Path],
    out_dir: str | Path,
    cache_dir: str | Path,
    config: IdentityTrainConfig = IdentityTrainConfig(),
    minutes: float | None = None,
    device: str | None = None,
    fresh: bool = False,
    test_limit: int | None = None,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Distil until `config.steps` or `minutes`; writes `out/identity.{safetensors,json}` every call.

    dlib targets are computed (or read from `cache_dir`) before the clock of `minutes` starts.
    `test_limit` caps the held-out crops per pack (smoke tests).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cache_dir = Path(cache_dir)
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if (out / "resume.json").is_file() and not fresh:
        config = config_from_dict(IdentityTrainConfig, json.loads((out / "resume.json").read_text())["config"])
    train_imgs, train_d, test_imgs, test_d, framing = [], [], [], [], None
    for folder in map(Path, data_dirs):
        tr = load_pack(folder, "train", config.train_per_pack or None)
        te = load_pack(folder, "test", test_limit)
        framing = framing or tr.framing
        train_imgs.append(tr.images)
        train_d.append(_with_targets(tr, cache_dir, folder, echo))
        test_imgs.append(te.images)
        test_d.append(_with_targets(te, cache_dir, folder, echo))
    x_train, d_train = torch.from_numpy(np.concatenate(train_imgs)), np.concatenate(train_d)
    x_test, d_test = torch.from_numpy(np.concatenate(test_imgs)), np.concatenate(test_d)
    dlib_mean = d_train.mean(0)
    centred = d_train - dlib_mean
    norm = float(np.linalg.norm(centred, axis=1).mean())  # typical length of a centred descriptor
    t_train = torch.from_numpy(centred / np.linalg.norm(centred, axis=1, keepdims=True)).float()
    echo(f"identity: {len(x_train)} train / {len(x_test)} held-out crops with dlib targets, device {dev}")

    if config.steps == 0:  # targets only
        return {"metrics": {"targets_only": True, "train_crops": len(x_train), "held_out_crops": len(x_test)}}
    t0 = time.time()
    torch.manual_seed(config.seed)
    net = IdentityNet(config.network).to(dev)
    net.dlib_mean.copy_(torch.from_numpy(dlib_mean))
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    log = JsonlLog(out / "log.jsonl")
    state = None if fresh else load_resume(out, net, opt)
    step = int(state["step"]) if state else 0
    before = float(state.get("train_seconds", 0.0)) if state else 0.0
    last_eval = state.get("last_eval") if state else None
    if state:
        echo(f"identity: resumed at step {step}")

    def save() -> None:
        save_resume(out, net, opt, {"step": step, "config": config_to_dict(config), "last_eval": last_eval,
                                    "train_seconds": before + time.time() - t0})

    def evaluate() -> dict[str, Any]:
        m = agreement_metrics(embed(net, x_test, dev), d_test, dlib_mean, norm)
        log.write({"step": step, **{f"eval/{k}": v for k, v in m.items()}})
        echo(f"step {step}: held-out cos agreement {m['cos_agreement']:.4f} (raw {m['cos_agreement_raw']:.4f}, "
             f"baseline {m['cos_mean_baseline_raw']:.4f}), pair corr {m.get('pair_corr', float('nan')):.4f}")
        return {**m, "step": step}

    net.train()
    last_save, t_log, sums, n_sum = time.time(), time.time(), {}, 0
    while step < config.steps and (minutes is None or time.time() - t0 < minutes * 60):
        gen = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
        rows = torch.randint(0, len(x_train), (config.batch,), generator=gen)
        x = augment(to_float(x_train[rows], dev), gen, config.shift, config.jitter)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, config)
        loss, terms = distill_loss(net(x), t_train[rows].to(dev), config.relation_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        n_sum += 1
        for k, v in terms.items():
            sums[k] = sums.get(k, 0.0) + float(v.detach())
        if step % config.log_every == 0:
            rate = n_sum * config.batch / (time.time() - t_log)
            log.write({"step": step, **{k: v / n_sum for k, v in sums.items()}, "lr": lr_at(step - 1, config), "img_per_s": rate})
            echo(f"step {step}/{config.steps} " + " ".join(f"{k} {v / n_sum:.4f}" for k, v in sums.items()) + f" {rate:.1f} img/s")
            t_log, sums, n_sum = time.time(), {}, 0
        if step % config.eval_every == 0:
            last_eval = evaluate()
        if time.time() - last_save > config.save_every_minutes * 60:
            save()
            last_save = time.time()
    if last_eval is None or last_eval.get("step") != step:
        last_eval = evaluate()
    save()
    record = {
        "metrics": {"held_out": last_eval, "steps": step, "images_seen": step * config.batch,
                    "train_seconds": round(before + time.time() - t0, 1), "centred_norm": norm},
        "recipe": {"trainer": "faceedit_gui.training.train_identity", "config": config_to_dict(config),
                   "data": [str(d) for d in data_dirs], "teacher": "dlib_face_recognition_resnet_model_v1 "
                   "(get_face_chip 150 px from the packed 68 landmarks)", "device": str(dev), "complete": step >= config.steps},
        "data": {"train_crops": len(x_train), "held_out_crops": len(x_test)},
        "framing": framing,  # how the training crops were aligned (faces.load_framing reads it)
    }
    save_network(out / "identity", net.cpu(), **record)
    echo(f"identity: step {step}, wrote {out / 'identity.safetensors'}")
    return record
