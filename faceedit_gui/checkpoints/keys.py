"""Loading a state dict into a module key by key, with loud, specific mismatches."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
from torch import nn

from faceedit_gui.checkpoints.safe_load import CheckpointError

_LIST_MAX = 8


def strip_prefix(state: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The entries whose key starts with `prefix + "."`, with that prefix removed."""
    p = prefix + "."
    return {k[len(p) :]: v for k, v in state.items() if k.startswith(p)}


def compare_shapes(
    expected: Mapping[str, Sequence[int]],
    got: Mapping[str, Sequence[int] | None],
    optional_suffixes: tuple[str, ...] = (),
) -> tuple[list[str], list[str], list[str]]:
    """`(missing, unexpected, wrong_shape)` keys of `got` against `expected` (key -> shape).

    The one place where keys and shapes are compared. Keys ending in one of
    `optional_suffixes` may be missing. A `got` shape of `None` (an entry that is not a
    tensor) is never called a wrong shape; callers report it themselves. `missing` and
    `wrong_shape` follow `expected`'s order, `unexpected` follows `got`'s.
    """
    missing = [k for k in expected if k not in got and not k.endswith(optional_suffixes)]
    unexpected = [k for k in got if k not in expected]
    wrong = [k for k in expected if got.get(k) is not None and tuple(got[k]) != tuple(expected[k])]  # type: ignore[arg-type]
    return missing, unexpected, wrong


def check_state(
    expected: Mapping[str, Sequence[int]],
    state: Mapping[str, Any],
    source: str,
    target: str,
    optional_suffixes: tuple[str, ...] = ("num_batches_tracked",),
    list_max: int = _LIST_MAX,
) -> None:
    """Raise one `CheckpointError` naming every missing key, unexpected key, non-tensor entry
    and wrong shape (got/expected) of `state` against `expected` (key -> shape).

    `source` names the file (and the part of it), `target` what it should fit (a class name).
    """
    got = {k: tuple(v.shape) if isinstance(v, torch.Tensor) else None for k, v in state.items()}
    missing, unexpected, wrong_keys = compare_shapes(expected, got, optional_suffixes)
    not_tensors = [k for k in state if k in expected and got[k] is None]
    wrong = [f"{k}: got {list(got[k])}, expected {list(expected[k])}" for k in wrong_keys]  # type: ignore[arg-type]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing key(s): {short_list(missing, list_max)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s): {short_list(unexpected, list_max)}")
    if not_tensors:
        problems.append(f"{len(not_tensors)} entries that are not tensors: {short_list(not_tensors, list_max)}")
    if wrong:
        problems.append(f"{len(wrong)} wrong shape(s): {short_list(wrong, list_max)}")
    if problems:
        raise CheckpointError(f"{source}: does not fit {target}: " + "; ".join(problems))


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
    check_state(
        {k: tuple(v.shape) for k, v in expected.items()}, state, source, type(module).__name__, optional_suffixes
    )
    full = dict(expected)
    for k, v in state.items():
        target = expected[k]
        full[k] = v.to(target.dtype) if v.is_floating_point() and target.is_floating_point() else v
    module.load_state_dict(full, strict=True)


def short_list(items: list[str], list_max: int = _LIST_MAX) -> str:
    """The first `list_max` items, comma-separated, and how many more there are."""
    head = ", ".join(items[:list_max])
    return head + (f", ... ({len(items) - list_max} more)" if len(items) > list_max else "")
