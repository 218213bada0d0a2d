"""Render resources/agent-desktop.svg into the PNG (window icon) and ICO (Windows EXE) beside it.

    python scripts/make_icon.py      # then commit the three files together
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

RESOURCES = Path(__file__).resolve().parents[1] / "resources"


def render(size: int) -> QImage:
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    QSvgRenderer(str(RESOURCES / "agent-desktop.svg")).render(painter)
    painter.end()
    return image


def main() -> int:
    app = QGuiApplication(sys.argv[:1])
    ok = render(256).save(str(RESOURCES / "agent-desktop.png"), "PNG")
    ok = render(256).save(str(RESOURCES / "agent-desktop.ico"), "ICO") and ok
    del app
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
