"""Attribute targets from the packed labels, the masked BCE loss, and a small ROC AUC.

Packed labels (`faces/packing.py`): `age` int16 (years), `gender` int8 (0 male, 1 female),
`attrs` int8 `[N, 40]` (CelebA order, 1 yes / 0 no), `split` int8 (0 train, 1 held-out);
-1 = missing everywhere. Which label feeds which logit of the classifier:

    logit        source                                  missing for
    <CelebA>     `attrs[:, CelebA index]`, CelebA rows   UTKFace rows (its derived `Male`,
                                                         1 - gender, is not used: see below)
    age_old      `age >= age_old_threshold`              CelebA rows (no age)
    gender_male  `gender == 0`                           rows without gender

`Male` is kept CelebA-only so that it stays the CelebA attribute it is named after, while
`gender_male` learns from both sets (CelebA's gender is itself derived from `Male`).
Which rows are CelebA comes from the pack's dataset name, passed in as `dataset`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from faceedit_gui.labels import CELEBA_ATTRIBUTES

CELEBA_ATTRIBUTE_ORDER: tuple[str, ...] = CELEBA_ATTRIBUTES  # the packer's order


def attribute_targets(
    labels: dict[str, np.ndarray],
    attributes: tuple[str, ...],
    dataset: str,
    age_old_threshold: int = 40,
    attribute_names: tuple[str, ...] = CELEBA_ATTRIBUTE_ORDER,
) -> tuple[np.ndarray, np.ndarray]:
    """Packed labels of one dataset -> (targets float32 `[N, K]` in {0, 1}, known bool `[N, K]`).

    `dataset` is 'celeba' or 'utkface' (the pack's `index.json` "dataset");
    `attribute_names` the order of `attrs`' columns (the pack's index lists it).
    """
    n = len(labels["split"])
    targets = np.zeros((n, len(attributes)), np.float32)
    known = np.zeros((n, len(attributes)), bool)
    celeba = dataset == "celeba"
    for k, name in enumerate(attributes):
        if name == "age_old":
            age = labels["age"].astype(np.int64)
            known[:, k] = age >= 0
            targets[:, k] = age >= age_old_threshold
        elif name == "gender_male":
            gender = labels["gender"].astype(np.int64)
            known[:, k] = gender >= 0
            targets[:, k] = gender == 0
        elif name in attribute_names:
            if not celeba:
                continue  # UTKFace has no CelebA attributes (its `Male` is derived): all missing
            col = labels["attrs"][:, attribute_names.index(name)].astype(np.int64)
            known[:, k] = col >= 0
            targets[:, k] = col == 1
        else:
            raise KeyError(f"no label source for attribute {name!r}")
    targets[~known] = 0.0
    return targets, known


def masked_bce(logits: torch.Tensor, targets: torch.Tensor, known: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Binary cross-entropy over the known labels only.

    Args: logits, targets float `[B, K]`; known bool `[B, K]`.
    Returns (total, per_attribute): total = the mean over every known entry (0 if none);
    per_attribute `[K]` = the mean over each column's known entries (0 where none).
    A missing label contributes neither loss nor gradient, whatever its target value.
    """
    if logits.shape != targets.shape or logits.shape != known.shape:
        raise ValueError(f"logits {tuple(logits.shape)}, targets {tuple(targets.shape)}, known {tuple(known.shape)} must match")
    w = known.to(logits.dtype)
    per = F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype), reduction="none") * w
    total = per.sum() / w.sum().clamp(min=1.0)
    per_attribute = per.sum(0) / w.sum(0).clamp(min=1.0)
    return total, per_attribute


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve = P(score of a positive > score of a negative), ties count 1/2.

    Computed from average ranks (the Mann-Whitney U statistic). NaN when either class is absent.
    """
    scores = np.asarray(scores, np.float64).ravel()
    labels = np.asarray(labels).ravel().astype(bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(len(scores), np.float64)
    i = 0
    while i < len(scores):  # average rank (1-based) over each run of tied scores
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    u = ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def auc_table(scores: np.ndarray, targets: np.ndarray, known: np.ndarray, attributes: tuple[str, ...]) -> dict[str, dict]:
    """Per attribute: {"auc", "positives", "negatives"} over the rows whose label is known
    (auc None when a class is absent, so that the table stays valid JSON)."""
    out = {}
    for k, name in enumerate(attributes):
        rows = known[:, k]
        y = targets[rows, k] > 0.5
        auc = roc_auc(scores[rows, k], y)
        out[name] = {"auc": None if np.isnan(auc) else auc, "positives": int(y.sum()), "negatives": int((~y).sum())}
    return out
