"""Dark (qdarkstyle, the default) and light (Qt's Fusion) themes."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication, QStyleFactory


def apply_theme(app: QApplication, name: str) -> None:
    if name == "dark":
        import qdarkstyle

        app.setStyleSheet(qdarkstyle.load_stylesheet(qt_api="pyside6"))
    else:
        app.setStyleSheet("")
        app.setStyle(QStyleFactory.create("Fusion"))
