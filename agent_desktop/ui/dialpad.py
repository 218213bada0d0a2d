"""A telephone key pad (1 to 9, *, 0, #).

It only emits `digit(str)`; the main window decides what a key means: a digit of the number
to dial when there is no call, a DTMF tone (CallSession.send_dtmf) during a call.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from agent_desktop.session.messages import tr
from agent_desktop.ui.ink import ink

KEYS = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#")
LETTERS = {"2": "ABC", "3": "DEF", "4": "GHI", "5": "JKL", "6": "MNO", "7": "PQRS",
           "8": "TUV", "9": "WXYZ", "0": "+"}


class DialPad(QWidget):
    digit = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAccessibleName(tr("Dial pad"))
        self.buttons: dict[str, QPushButton] = {}
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(4)
        for i, key in enumerate(KEYS):
            letters = LETTERS.get(key, "")
            b = QPushButton()
            b.setAccessibleName(tr("Key {key}").format(key=key))
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the number field keeps the focus
            b.setMinimumSize(52, 42)
            b.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            # Two labels inside the button: the key large, its letters small beneath.
            face = QVBoxLayout(b)
            face.setContentsMargins(2, 3, 2, 3)
            face.setSpacing(0)
            for text, style in ((key, "font-size: 13pt; font-weight: 600;"),
                                (letters, f"font-size: 7pt; color: {ink('muted')};")):
                if not text:
                    continue
                lab = QLabel(text)
                lab.setAlignment(Qt.AlignmentFlag.AlignCenter)
                lab.setStyleSheet(style)
                lab.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
                face.addWidget(lab)
            b.clicked.connect(lambda _=False, k=key: self.digit.emit(k))
            grid.addWidget(b, i // 3, i % 3)
            self.buttons[key] = b

    def press(self, key: str) -> None:
        """Click the key (tests and keyboard shortcuts)."""
        self.buttons[key].click()
