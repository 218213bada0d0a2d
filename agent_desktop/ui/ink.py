"""Text colours that stay readable in light and dark themes (WCAG AA contrast on the window
background of each): `ink("ok")` gives the one for the palette in use now.

After a theme switch at run time, `restyle()` makes widgets with style sheets take the new
palette (Qt keeps the one they were polished with) and tells windows to re-render.
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QEvent
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

LIGHT = {"ok": "#1e7b34", "muted": "#5f6b7a", "error": "#b42318", "info": "#1f5fbf",
         "warn": "#8a5a00"}
DARK = {"ok": "#6fcf86", "muted": "#a3abb5", "error": "#ff8a80", "info": "#8ab4f8",
        "warn": "#f2c14e"}


def is_dark() -> bool:
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        return False
    return app.palette().color(QPalette.ColorRole.Window).lightness() < 128


def ink(name: str) -> str:
    return (DARK if is_dark() else LIGHT)[name]


def restyle() -> None:
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        return
    for w in app.allWidgets():
        sheet = w.styleSheet()
        if sheet:
            w.setStyleSheet(sheet)
    for w in app.topLevelWidgets():
        QCoreApplication.sendEvent(w, QEvent(QEvent.Type.PaletteChange))
