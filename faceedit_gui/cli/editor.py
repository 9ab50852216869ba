"""`faceedit [PHOTO]`: open the desktop editor."""

from __future__ import annotations

import sys


def run_editor(argv: list[str]) -> int:
    try:
        from faceedit_gui.gui.app import run  # noqa: F401  (the GUI issue adds this module)
    except ImportError:
        print(
            "faceedit: the desktop editor is not built yet. The package, networks and "
            "model tools are installed; run `faceedit -h` for the commands available.",
            file=sys.stderr,
        )
        return 2
    return run(argv)
