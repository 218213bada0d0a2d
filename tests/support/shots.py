"""Screenshot helpers of the shoot_* scripts (run under Xvfb; written to docs/screenshots)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QWidget

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def settle(ms: int = 400) -> None:
    """Let layouts, paints and queued work happen before a grab."""
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def save(widget: QWidget, name: str) -> None:
    settle()
    widget.grab().save(str(OUT / name))
    print("wrote", OUT / name)
