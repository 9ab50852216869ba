"""`faceedit [PHOTO]`: open the desktop editor."""

from __future__ import annotations

import sys


def run_editor(argv: list[str]) -> int:
    try:
        import PySide6  # noqa: F401
    except ImportError as exc:
        print(
            f"faceedit: the desktop editor needs PySide6, which cannot be imported here ({exc}). "
            "Install it (pip install PySide6-Essentials qdarkstyle); the command-line tools work "
            "without it: run `faceedit -h`.",
            file=sys.stderr,
        )
        return 2
    from faceedit_gui.gui.app import run  # an ImportError here is a bug in the GUI: let it show

    return run(argv)
