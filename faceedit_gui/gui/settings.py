"""What the editor remembers between runs, in QSettings (INI format, user scope).

Organisation and application names are fixed (`faceedit` / `editor`); tests isolate the
store with `QSettings.setPath(IniFormat, UserScope, tmp_path)`.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

ORGANIZATION = "faceedit"
APPLICATION = "editor"
MAX_RECENT = 8
THEMES = ("dark", "light")


class Settings:
    def __init__(self) -> None:
        self._q = QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)

    # recent photos
    def recent_files(self) -> list[str]:
        value = self._q.value("recent_files", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])][:MAX_RECENT]

    def add_recent_file(self, path: str | Path) -> list[str]:
        path = str(Path(path).resolve())
        files = [path] + [f for f in self.recent_files() if f != path]
        self._q.setValue("recent_files", files[:MAX_RECENT])
        return files[:MAX_RECENT]

    def clear_recent_files(self) -> None:
        self._q.setValue("recent_files", [])

    # theme
    def theme(self) -> str:
        value = str(self._q.value("theme", "dark"))
        return value if value in THEMES else "dark"

    def set_theme(self, theme: str) -> None:
        if theme not in THEMES:
            raise ValueError(f"theme must be one of {THEMES}, got {theme!r}")
        self._q.setValue("theme", theme)

    # folders ("open", "save", "preset", "bundle", "batch_in", "batch_out")
    def last_folder(self, kind: str) -> str:
        return str(self._q.value(f"folders/{kind}", "") or "")

    def set_last_folder(self, kind: str, path: str | Path) -> None:
        p = Path(path)
        self._q.setValue(f"folders/{kind}", str(p if p.is_dir() else p.parent))

    # model
    def last_bundle(self) -> str:
        return str(self._q.value("bundle", "") or "")

    def set_last_bundle(self, folder: str | Path) -> None:
        self._q.setValue("bundle", str(folder))

    # window
    def geometry(self) -> QByteArray | None:
        value = self._q.value("window/geometry")
        return value if isinstance(value, QByteArray) else None

    def window_state(self) -> QByteArray | None:
        value = self._q.value("window/state")
        return value if isinstance(value, QByteArray) else None

    def set_window(self, geometry: QByteArray, state: QByteArray) -> None:
        self._q.setValue("window/geometry", geometry)
        self._q.setValue("window/state", state)

    def sync(self) -> None:
        self._q.sync()
