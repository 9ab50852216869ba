"""Logging for training loops without per-step host synchronisation.

`DeviceMeter` sums loss terms as device tensors (an add per step, no `.item()`);
`flush()` pulls every mean to the host in one transfer, at logging steps only.
`JsonlLog` appends one JSON object per line (`log.jsonl`), flushed at once so a killed run
keeps what it logged.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch


class DeviceMeter:
    """Running sums of named scalar tensors; `flush()` returns the means and resets."""

    def __init__(self) -> None:
        self._sums: dict[str, torch.Tensor] = {}
        self._counts: dict[str, int] = {}

    def add(self, values: dict[str, torch.Tensor]) -> None:
        for k, v in values.items():
            v = v.detach().float()
            if k in self._sums:
                self._sums[k] = self._sums[k] + v
                self._counts[k] += 1
            else:
                self._sums[k] = v.clone()
                self._counts[k] = 1

    def flush(self) -> dict[str, float]:
        if not self._sums:
            return {}
        keys = sorted(self._sums)
        means = torch.stack([self._sums[k].reshape(()) / self._counts[k] for k in keys]).tolist()  # one sync
        self._sums.clear()
        self._counts.clear()
        return dict(zip(keys, means))


class JsonlLog:
    """Append-only JSON-lines file; a no-op when `enabled` is False (ranks > 0)."""

    def __init__(self, path: str | os.PathLike, enabled: bool = True):
        self.path = Path(path)
        self.enabled = enabled

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()

    def seed_from(self, previous: str | os.PathLike | None, max_step: int) -> None:
        """Start this log with the lines of `previous` up to `max_step` (the resumed step;
        lines logged after the last save of an interrupted run are dropped), or empty when
        `previous` is None. `previous` may be this log's own path."""
        if not self.enabled:
            return
        lines = []
        if previous is not None and Path(previous).is_file():
            previous = Path(previous)
            for line in previous.read_text().splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut off by a kill
                if int(rec.get("step", 0)) <= max_step:
                    lines.append(line)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text("".join(line + "\n" for line in lines))
        os.replace(tmp, self.path)
