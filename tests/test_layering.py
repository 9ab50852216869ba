"""Only `faceedit_gui.gui` may import Qt: everything else runs with PySide6 unavailable."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import faceedit_gui

ROOT = Path(__file__).resolve().parents[1]


def _non_gui_modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(faceedit_gui.__path__, prefix="faceedit_gui."):
        if info.name.startswith("faceedit_gui.gui"):
            continue
        names.append(info.name)
    return names


def test_every_module_outside_gui_imports_with_qt_blocked():
    modules = _non_gui_modules()
    assert "faceedit_gui.networks.stylegan2" in modules
    script = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('PySide6', 'shiboken6', 'qdarkstyle'):\n"
        "            raise ImportError('Qt is blocked in this test: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import importlib\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6')]\n"
        "assert not bad, bad\n"
        "print('ok', len(" + repr(modules) + "))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("ok")
