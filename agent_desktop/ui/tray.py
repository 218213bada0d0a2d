"""The tray icon: the agent's state at a glance (colour, shape and tooltip), quick actions
(show, ready / pause, check in / out, answer, hang up, quit) and call notifications.

Available only where the desktop has a system tray (`available()`); the app works without.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal, SignalInstance
from PySide6.QtGui import QAction, QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from agent_desktop.session.messages import tr
from agent_desktop.session.models import PauseReason
from agent_desktop.session.state import AgentState, Availability, Call, Session
from agent_desktop.ui.main_window import chip_texts

log = logging.getLogger("agent_desktop.ui.tray")


def available() -> bool:
    return QSystemTrayIcon.isSystemTrayAvailable()


def state_icon(colour: str, ringing: bool = False, paused: bool = False) -> QIcon:
    """A filled circle in the state's colour; a bar pair when paused, a ring when ringing
    (the shape tells the state without the colour)."""
    icon = QIcon()
    for size in (16, 22, 32, 48, 64):
        pix = QPixmap(size, size)
        pix.fill(Qt.GlobalColor.transparent)
        p = QPainter(pix)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(colour))
        m = size * 0.08
        p.drawEllipse(QRectF(m, m, size - 2 * m, size - 2 * m))
        p.setBrush(QColor("white"))
        if paused:
            w, h = size * 0.13, size * 0.42
            for x in (size * 0.33, size * 0.54):
                p.drawRect(QRectF(x, (size - h) / 2, w, h))
        elif ringing:
            p.drawEllipse(QPointF(size / 2, size / 2), size * 0.18, size * 0.18)
        p.end()
        icon.addPixmap(pix)
    return icon


class Tray(QObject):
    show_requested = Signal()
    quit_requested = Signal()
    answer_requested = Signal()
    hangup_requested = Signal()
    pause_requested = Signal(str)  # pause reason code
    unpause_requested = Signal()
    checkin_requested = Signal()
    checkout_requested = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.icon = QSystemTrayIcon(self)
        self.menu = QMenu()
        self.show_action = self._add(tr("Show Agent Desktop"), self.show_requested)
        self.menu.addSeparator()
        self.ready_action = self._add(tr("Ready"), self.unpause_requested)
        self.pause_menu = self.menu.addMenu(tr("Pause"))
        self.checkin_action = self._add(tr("Check in to all queues"), self.checkin_requested)
        self.checkout_action = self._add(tr("Check out of all queues"), self.checkout_requested)
        self.menu.addSeparator()
        self.answer_action = self._add(tr("Answer"), self.answer_requested)
        self.hangup_action = self._add(tr("Hang up"), self.hangup_requested)
        self.menu.addSeparator()
        self.quit_action = self._add(tr("Quit"), self.quit_requested)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        self.update_state(AgentState())

    def _add(self, text: str, signal: SignalInstance) -> QAction:
        act = self.menu.addAction(text)
        act.triggered.connect(signal.emit)
        return act

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger,
                      QSystemTrayIcon.ActivationReason.DoubleClick):
            self.show_requested.emit()

    def show(self) -> bool:
        self.icon.show()
        return self.icon.isVisible()

    def set_pause_reasons(self, reasons: tuple[PauseReason, ...]) -> None:
        self.pause_menu.clear()
        for r in reasons:
            act = self.pause_menu.addAction(r.label or r.code)
            act.triggered.connect(lambda _=False, code=r.code: self.pause_requested.emit(code))
        self.pause_menu.setEnabled(bool(reasons))

    def update_state(self, s: AgentState) -> None:
        chips = chip_texts(s)
        text, colour, _tip = chips["session"]
        if s.sip.value == "failed" or s.network.value == "unreachable":
            colour = chips["sip"][1] if s.sip.value == "failed" else chips["server"][1]
        self.icon.setIcon(state_icon(colour, ringing=s.call is Call.RINGING,
                                     paused=s.availability is Availability.PAUSED))
        lines = [tr("Agent Desktop"), text, chips["sip"][0], chips["server"][0]]
        self.icon.setToolTip("\n".join(lines))
        active = s.session is Session.ACTIVE
        self.ready_action.setEnabled(active and s.availability is Availability.PAUSED)
        self.pause_menu.setEnabled(active and s.availability is not Availability.PAUSED
                                   and not self.pause_menu.isEmpty())
        self.checkin_action.setEnabled(active)
        self.checkout_action.setEnabled(active and bool(s.checked_in))

    def set_call_actions(self, ringing: bool, live: bool) -> None:
        self.answer_action.setEnabled(ringing)
        self.hangup_action.setEnabled(live)

    def notify_call(self, caller: str, queue: str = "") -> None:
        body = caller + (tr(" · queue {q}").format(q=queue) if queue else "")
        self.icon.showMessage(tr("Incoming call"), body,
                              QSystemTrayIcon.MessageIcon.Information, 8000)
