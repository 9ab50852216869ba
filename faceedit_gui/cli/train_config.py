"""The training config a `faceedit train ...` command runs with, resolved one way for every trainer."""

from __future__ import annotations

import argparse
import json
from typing import Any, Callable, TypeVar

C = TypeVar("C")


def resolve_train_config(
    args: argparse.Namespace,
    config_cls: type[C],
    tiny_config: Callable[[], C],
    merge_config: Callable[[C, dict[str, Any]], C],
) -> C:
    """base (`--tiny` / the resumed checkpoint's / the default) + `--config` JSON + `--batch`."""
    from faceedit_gui.config import config_from_dict
    from faceedit_gui.training import checkpoint as ckpt

    latest = ckpt.pick_latest(args.resume) if args.resume else None
    if args.tiny:
        config = tiny_config()
    elif latest is not None:
        config = config_from_dict(config_cls, ckpt.read_state(latest)["config"])
    else:
        config = config_cls()
    if args.config is not None:
        overrides = json.loads(args.config.read_text())
        if not isinstance(overrides, dict):
            raise ValueError(f"{args.config}: expected a JSON object of config fields")
        config = merge_config(config, overrides)
    if args.batch is not None:
        config = merge_config(config, {"batch": args.batch})
    return config
