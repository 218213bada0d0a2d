"""The incoming-call window: who is calling, from which queue, Answer / Reject.

One window per ringing call, shown on top and activated (the composition root also raises
the main window). Enter answers, Esc rejects. It closes itself as soon as the call stops
ringing: answered here, answered elsewhere (the queue cancels the INVITE) or hung up.

The SIP INVITE carries the caller's number and name; the server's `call.ringing` event adds
the queue (and often a better name). They arrive in either order, so `set_ring_info` may be
called before or after the window is shown.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QCloseEvent, QKeyEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from agent_desktop.session.messages import tr
from agent_desktop.ui.ink import ink

log = logging.getLogger("agent_desktop.ui.incoming")

RINGING = "ringing_in"


@dataclass(frozen=True)
class RingInfo:
    """What the server's `call.ringing` event says about a call."""

    caller_id: str = ""
    caller_name: str = ""
    queue: str = ""
    call_id: str = ""

    @classmethod
    def from_event(cls, data: dict[str, Any]) -> RingInfo:
        def text(key: str) -> str:
            value = data.get(key)
            return str(value) if value is not None else ""

        return cls(text("caller_id"), text("caller_name"), text("queue"), text("call_id"))

    def matches(self, number: str) -> bool:
        """Same caller as a SIP call from `number` (unknown numbers match anything)."""
        return not self.caller_id or not number or self.caller_id == number


class IncomingCallWindow(QWidget):
    """A small always-on-top window for one ringing call.

    `call` is a CallSession (or anything with `caller_id`, `state`, `state_changed`, `ended`,
    `answer()`, `reject()`). Signals: `answered`, `rejected` (after the call was told),
    `failed(exc)` when the SIP action raised, `closed` when the window went away.
    """

    answered = Signal()
    rejected = Signal()
    failed = Signal(object)
    closed = Signal()

    def __init__(self, call: Any, info: RingInfo | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window | Qt.WindowType.WindowStaysOnTopHint)
        self.call = call
        self.info = RingInfo()
        self.setWindowTitle(tr("Incoming call"))
        self.setAccessibleName(tr("Incoming call"))
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)

        self.heading = QLabel(tr("Incoming call"))
        self.heading.setStyleSheet(f"color: {ink('muted')}; font-weight: 600;")
        self.number_label = QLabel()
        self.number_label.setAccessibleName(tr("Caller number"))
        self.number_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.number_label.setStyleSheet("font-size: 20pt; font-weight: 700;")
        self.name_label = QLabel()
        self.name_label.setAccessibleName(tr("Caller name"))
        self.name_label.setStyleSheet("font-size: 13pt;")
        self.queue_label = QLabel()
        self.queue_label.setAccessibleName(tr("Queue"))
        self.queue_label.setStyleSheet(
            "QLabel { color: white; background: #1f5fbf; border-radius: 9px;"
            " padding: 2px 10px; font-weight: 600; }")
        for lab in (self.number_label, self.name_label, self.queue_label):
            lab.setTextFormat(Qt.TextFormat.PlainText)

        self.answer_button = QPushButton(tr("Answer"))
        self.reject_button = QPushButton(tr("Reject"))
        self.answer_button.setAccessibleName(tr("Answer"))
        self.reject_button.setAccessibleName(tr("Reject"))
        self.answer_button.setToolTip(tr("Answer (Enter)"))
        self.reject_button.setToolTip(tr("Reject (Esc)"))
        self.answer_button.setMinimumHeight(38)
        self.reject_button.setMinimumHeight(38)
        self.answer_button.setStyleSheet(
            "QPushButton { background: #1e7b34; color: white; font-weight: 700;"
            " border-radius: 6px; padding: 6px 18px; }"
            " QPushButton:disabled { background: #9aa5b1; }")
        self.reject_button.setStyleSheet(
            "QPushButton { background: #b42318; color: white; font-weight: 700;"
            " border-radius: 6px; padding: 6px 18px; }"
            " QPushButton:disabled { background: #9aa5b1; }")
        self.answer_button.clicked.connect(self.answer)
        self.reject_button.clicked.connect(self.reject)

        queue_row = QHBoxLayout()
        queue_row.addWidget(self.queue_label)
        queue_row.addStretch(1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.reject_button)
        buttons.addWidget(self.answer_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(18, 14, 18, 14)
        lay.setSpacing(6)
        lay.addWidget(self.heading)
        lay.addWidget(self.number_label)
        lay.addWidget(self.name_label)
        lay.addLayout(queue_row)
        lay.addSpacing(8)
        lay.addLayout(buttons)
        self.setMinimumWidth(340)

        call.state_changed.connect(self._on_state)
        call.ended.connect(self._on_ended)
        self.set_ring_info(info or RingInfo())

    # ----------------------------------------------------------------- content

    @property
    def caller_number(self) -> str:
        return str(self.call.caller_id.number or self.info.caller_id)

    def set_ring_info(self, info: RingInfo) -> None:
        self.info = info
        cid = self.call.caller_id
        number = cid.number or info.caller_id
        name = info.caller_name or cid.name
        if name == number:
            name = ""
        self.number_label.setText(number or tr("Unknown number"))
        self.name_label.setText(name)
        self.name_label.setVisible(bool(name))
        self.queue_label.setText(tr("Queue: {queue}").format(queue=info.queue))
        self.queue_label.setVisible(bool(info.queue))
        title = name or number or tr("unknown caller")
        self.setWindowTitle(tr("Incoming call: {who}").format(who=title))

    def present(self) -> None:
        """Show on top of everything and take the keyboard focus."""
        self.adjustSize()
        self.show()
        self.raise_()
        self.activateWindow()
        self.answer_button.setFocus()

    # ----------------------------------------------------------------- actions

    @Slot()
    def answer(self) -> None:
        if not self._ringing():
            return
        self._act(self.call.answer, self.answered)

    @Slot()
    def reject(self) -> None:
        if not self._ringing():
            return
        self._act(self.call.reject, self.rejected)

    def _act(self, action: Any, done: Any) -> None:
        self.answer_button.setEnabled(False)
        self.reject_button.setEnabled(False)
        try:
            action()
        except Exception as exc:  # SipError; the call may have ended under us
            log.warning("incoming call action failed: %s", exc)
            self.failed.emit(exc)
            self.close()
            return
        done.emit()
        self.close()

    def _ringing(self) -> bool:
        return bool(getattr(self.call.state, "value", self.call.state) == RINGING)

    @Slot(object)
    def _on_state(self, state: object) -> None:
        if getattr(state, "value", state) != RINGING:
            self.close()

    def _on_ended(self, *_: object) -> None:
        self.close()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Enter answers, Esc rejects (whichever child has the focus: buttons pass them on)."""
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.answer()
        elif event.key() == Qt.Key.Key_Escape:
            self.reject()
        else:
            super().keyPressEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        for sig, slot in ((self.call.state_changed, self._on_state),
                          (self.call.ended, self._on_ended)):
            with contextlib.suppress(RuntimeError, TypeError):
                sig.disconnect(slot)
        super().closeEvent(event)
        self.closed.emit()
