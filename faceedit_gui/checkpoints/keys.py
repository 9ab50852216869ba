"""Loading a state dict into a module key by key, with loud, specific mismatches."""

from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from faceedit_gui.checkpoints.safe_load import CheckpointError

_LIST_MAX = 8


def strip_prefix(state: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The entries whose key starts with `prefix + "."`, with that prefix removed."""
    p = prefix + "."
    return {k[len(p) :]: v for k, v in state.items() if k.startswith(p)}


def load_state_dict_checked(
    module: nn.Module,
    state: Mapping[str, torch.Tensor],
    source: str,
    optional_suffixes: tuple[str, ...] = ("num_batches_tracked",),
) -> None:
    """`module.load_state_dict(state, strict=True)` with an error that says what is wrong.

    `source` names the file (and the part of it) for the message. Keys ending in one of
    `optional_suffixes` may be missing (old BatchNorm files lack `num_batches_tracked`).
    Floating tensors are cast to the module's dtype.
    """
    expected = module.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith(optional_suffixes)]
    unexpected = [k for k in state if k not in expected]
    wrong = [
        f"{k}: got {list(state[k].shape)}, expected {list(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing key(s): {_short(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s): {_short(unexpected)}")
    if wrong:
        problems.append(f"{len(wrong)} wrong shape(s): {_short(wrong)}")
    if problems:
        raise CheckpointError(f"{source}: does not fit {type(module).__name__}: " + "; ".join(problems))
    full = dict(expected)
    for k, v in state.items():
        target = expected[k]
        full[k] = v.to(target.dtype) if v.is_floating_point() and target.is_floating_point() else v
    module.load_state_dict(full, strict=True)


def _short(items: list[str]) -> str:
    head = ", ".join(items[:_LIST_MAX])
    return head + (f", ... ({len(items) - _LIST_MAX} more)" if len(items) > _LIST_MAX else "")
