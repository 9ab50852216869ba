"""The one place that opens foreign `.pt` / `.pth` files.

Everything goes through `torch.load(weights_only=True)`: tensors, plain containers and
a short allow-list of harmless types that official checkpoints hold (argparse.Namespace
in rosinality training files). A pickle that would construct anything else, or run code,
is refused with `UnsafeCheckpointError` and nothing from it executes.
"""

from __future__ import annotations

import argparse
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

SAFE_GLOBALS = [argparse.Namespace]


class CheckpointError(Exception):
    """A checkpoint or bundle cannot be used; the message names the file and the reason."""


class UnsafeCheckpointError(CheckpointError):
    """The file's pickle asks for code or types outside the allow-list."""


def load_torch_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> Any:
    """Load a PyTorch checkpoint without executing code from it.

    Raises `CheckpointError` (missing, empty, unreadable) or `UnsafeCheckpointError`
    (the pickle references code or a type that is not allow-listed).
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if path.is_dir():
        raise CheckpointError(f"{path}: is a folder, not a checkpoint file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: the file is empty (0 bytes)")
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if "GLOBAL" not in str(exc) and "global" not in str(exc):
            raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({_first_line(exc)})") from None
        raise UnsafeCheckpointError(
            f"{path}: refused to load: the checkpoint's pickle asks for code or types that a "
            f"weights-only load does not allow, so nothing from it was run ({_unsafe_reason(exc)})"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({_first_line(exc)})") from None


def _unsafe_reason(exc: BaseException) -> str:
    """The line of torch's message that names the refused global, not its advice."""
    for line in str(exc).splitlines():
        if "GLOBAL" in line or "Unsupported" in line:
            return line.strip()
    return "unsupported pickle content"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
