"""Undo/redo of slider changes as steps (QUndoStack), and named snapshots.

The history keeps the last committed slider state. `commit(values)` pushes one step from
that state to `values` (nothing when equal); undo/redo apply a state through `apply`
(the slider panel), which renders it. Snapshots are named states; restoring one is itself
an undoable step.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtGui import QUndoCommand, QUndoStack
from PySide6.QtCore import QObject, Signal


def _describe(before: dict[str, float], after: dict[str, float]) -> str:
    moved = [k for k in sorted(set(before) | set(after)) if before.get(k, 0.0) != after.get(k, 0.0)]
    if not moved:
        return "no change"
    if len(moved) == 1:
        return f"{moved[0]} {before.get(moved[0], 0.0):+.2f} → {after.get(moved[0], 0.0):+.2f}"
    return f"{len(moved)} sliders ({', '.join(moved[:3])}{'…' if len(moved) > 3 else ''})"


class SliderStep(QUndoCommand):
    def __init__(self, history: "History", before: dict[str, float], after: dict[str, float], text: str = "") -> None:
        super().__init__(text or _describe(before, after))
        self.history, self.before, self.after = history, dict(before), dict(after)
        self._first = True

    def redo(self) -> None:
        if self._first:  # pushed after the sliders already moved
            self._first = False
        else:
            self.history._apply_state(self.after)

    def undo(self) -> None:
        self.history._apply_state(self.before)


class History(QObject):
    snapshotsChanged = Signal()

    def __init__(self, apply: Callable[[dict[str, float]], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.stack = QUndoStack(self)
        self._apply = apply
        self.state: dict[str, float] = {}
        self.snapshots: dict[str, dict[str, float]] = {}

    def reset(self, state: dict[str, float]) -> None:
        """A new photo or model: forget the steps (snapshots stay if their sliders still exist)."""
        self.stack.clear()
        self.state = dict(state)
        self.snapshots = {k: v for k, v in self.snapshots.items() if set(v) <= set(state)}
        self.snapshotsChanged.emit()

    def commit(self, values: dict[str, float], text: str = "") -> bool:
        if values == self.state:
            return False
        before, self.state = self.state, dict(values)
        self.stack.push(SliderStep(self, before, values, text))
        return True

    def _apply_state(self, values: dict[str, float]) -> None:
        self.state = dict(values)
        self._apply(dict(values))

    def take_snapshot(self, name: str, values: dict[str, float]) -> None:
        self.snapshots[name] = dict(values)
        self.snapshotsChanged.emit()

    def restore_snapshot(self, name: str) -> None:
        values = self.snapshots[name]
        if values != self.state:
            before = self.state
            self._apply_state(values)
            self.stack.push(SliderStep(self, before, values, f"snapshot “{name}”"))
