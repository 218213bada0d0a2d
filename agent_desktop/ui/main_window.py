"""The main window: status chips, groups, pause/wrap-up, dialling and the current call.

Driven by `AgentStateMachine.changed` (chips, status line, availability) and by `/me` snapshots
(`apply_me`: the group list and the team's pause reasons). Every server action runs through
`run_in_worker`; its result refetches `/me`, its failure is shown with `user_message`. SIP work
(dialling) is handed to the composition root through `call_requested`; the call panel drives
the `CallSession` it is given directly (the SIP engine lives on this thread).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from agent_desktop.history import HistoryStore
from agent_desktop.session import errors as e
from agent_desktop.session.messages import tr, user_message
from agent_desktop.session.models import Agent, Group, Me, PauseReason
from agent_desktop.session.state import (
    AgentState,
    AgentStateMachine,
    Availability,
    Network,
    Session,
    Sip,
)
from agent_desktop.session.worker import run_in_worker
from agent_desktop.sip import CallSession, CallState, SipError
from agent_desktop.ui.dialpad import DialPad
from agent_desktop.ui.history import HistoryView

if TYPE_CHECKING:
    from agent_desktop.session.client import ApiClient

log = logging.getLogger("agent_desktop.ui.main")

GREEN, AMBER, RED, GREY, BLUE = "#1e7b34", "#9a6700", "#b42318", "#5f6b7a", "#1f5fbf"
STATIC_TOOLTIP = tr("static member: always in the queue")
_END_WORDS = {"session_expired": tr("timeout"), "session_revoked": tr("forced"),
              "session_replaced": tr("replaced by a new login on this computer"),
              "session_ended": tr("logout")}


class Chip(QLabel):
    """A rounded status label: text plus a colour that says good / working / bad."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.setObjectName(name)
        self.setAccessibleName(name)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.colour = GREY

    def set(self, text: str, colour: str, tooltip: str = "") -> None:
        self.colour = colour
        self.setText(text)
        self.setToolTip(tooltip or text)
        self.setStyleSheet(
            f"QLabel {{ color: white; background: {colour}; border-radius: 10px;"
            " padding: 3px 10px; font-weight: 600; }")


def chip_texts(s: AgentState, *, device_note: str = "") -> dict[str, tuple[str, str, str]]:
    """(text, colour, tooltip) of each chip for a state (pure, for tests and the window)."""
    server = {
        Network.REACHABLE: (tr("Server: connected"), GREEN, ""),
        Network.UNREACHABLE: (tr("Server: unreachable, retrying"), RED,
                              s.network_error),
        Network.UNKNOWN: (tr("Server: not connected"), GREY, ""),
    }[s.network]
    reason = s.sip_reason or ""
    sip = {
        Sip.REGISTERED: (tr("Phone: registered"), GREEN, reason),
        Sip.REGISTERING: (tr("Phone: registering…"), AMBER, reason),
        Sip.FAILED: (tr("Phone: not registered") + (f" ({reason})" if reason else ""), RED,
                     reason),
        Sip.UNREGISTERED: (device_note or tr("Phone: not registered"), GREY, reason),
    }[s.sip]
    if s.session is Session.ACTIVE:
        if s.availability is Availability.PAUSED:
            what = s.pause.what if s.pause else ""
            session = (tr("Paused") + (f": {what}" if what else ""), AMBER, "")
        elif s.availability is Availability.WRAPUP:
            session = (tr("Wrap-up"), BLUE, "")
        elif s.checked_in:
            session = (tr("Ready · in {n} queue(s)").format(n=len(s.checked_in)), GREEN,
                       ", ".join(sorted(s.checked_in)))
        else:
            session = (tr("Logged in · not in a queue"), BLUE, "")
    elif s.session is Session.LOGGING_IN:
        session = (tr("Logging in…"), AMBER, "")
    elif s.session is Session.ENDED:
        session = (tr("Logged out"), RED, "")
    else:
        session = (tr("Logged out"), GREY, "")
    return {"server": server, "sip": sip, "session": session}


class GroupRow(QWidget):
    """One group: a check-in toggle (locked for static members) and its state."""

    toggled = Signal(str, bool)

    def __init__(self, group: Group) -> None:
        super().__init__()
        self.name = group.name
        self.static = group.membership == "static"
        self.box = QCheckBox(group.name)
        self.box.setAccessibleName(tr("Queue {name}").format(name=group.name))
        self.state_label = QLabel()
        self.box.setMinimumWidth(120)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(4, 2, 4, 2)
        lay.addWidget(self.box)
        lay.addWidget(self.state_label)
        lay.addStretch(1)
        self.box.clicked.connect(lambda checked: self.toggled.emit(self.name, checked))
        self.update_group(group)

    def update_group(self, group: Group) -> None:
        checked = group.checked_in or self.static
        self.box.setChecked(checked)
        if self.static:
            self.box.setEnabled(False)
            # Words, not a lock emoji: many workstations lack an emoji font.
            self.box.setText(tr("{name} (static)").format(name=group.name))
            self.setToolTip(STATIC_TOOLTIP)
            self.box.setToolTip(STATIC_TOOLTIP)
            self.state_label.setText(tr("always in the queue"))
        else:
            self.box.setEnabled(True)
            self.state_label.setText(tr("in the queue") if checked else tr("not in the queue"))
        self.state_label.setStyleSheet(f"color: {GREEN if checked else GREY};")

    def set_pending(self, pending: bool) -> None:
        if not self.static:
            self.box.setEnabled(not pending)
            if pending:
                self.state_label.setText(tr("…"))


class CallPanel(QGroupBox):
    """The current call: caller, state, timer, answer / hang up / hold / mute / transfer.

    `ask_transfer_target()` asks the agent for the number to transfer to (None: cancelled);
    tests replace it.
    """

    error = Signal(object)

    def __init__(self) -> None:
        super().__init__(tr("Call"))
        self.call: CallSession | None = None
        self._talk_started: float | None = None
        self._transfer_note = ""
        self._dtmf_sent = ""
        self.ask_transfer_target: Callable[[], str | None] = self._ask_transfer_target
        self.caller_label = QLabel(tr("No call"))
        self.caller_label.setAccessibleName(tr("Caller"))
        self.caller_label.setStyleSheet("font-size: 13pt; font-weight: 600;")
        self.caller_label.setTextFormat(Qt.TextFormat.PlainText)
        self.state_label = QLabel("")
        self.state_label.setAccessibleName(tr("Call state"))
        self.timer_label = QLabel("")
        self.timer_label.setAccessibleName(tr("Call time"))
        self.timer_label.setStyleSheet("font-size: 13pt; font-family: monospace;")
        self.answer_button = QPushButton(tr("Answer"))
        self.hangup_button = QPushButton(tr("Hang up"))
        self.hold_button = QPushButton(tr("Hold"))
        self.mute_button = QPushButton(tr("Mute"))
        self.transfer_button = QPushButton(tr("Transfer…"))
        self._buttons = (self.answer_button, self.hangup_button, self.hold_button,
                         self.mute_button, self.transfer_button)
        for b in self._buttons:
            b.setAccessibleName(b.text())
        self.transfer_button.setToolTip(tr("Blind transfer: the caller is sent to another "
                                           "number and this call ends"))
        self.hold_button.setCheckable(True)
        self.mute_button.setCheckable(True)
        self.answer_button.clicked.connect(lambda: self._do(lambda c: c.answer()))
        self.hangup_button.clicked.connect(lambda: self._do(lambda c: c.hangup()))
        self.hold_button.clicked.connect(
            lambda: self._do(lambda c: c.resume() if c.held else c.hold()))
        self.mute_button.clicked.connect(lambda: self._do(lambda c: c.set_muted(not c.muted)))
        self.transfer_button.clicked.connect(self.transfer)
        self._tick = QTimer(self)
        self._tick.setInterval(1000)
        self._tick.timeout.connect(self._show_time)
        top = QHBoxLayout()
        top.addWidget(self.caller_label, 1)
        top.addWidget(self.timer_label)
        buttons = QHBoxLayout()
        for b in self._buttons:
            buttons.addWidget(b)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.state_label)
        lay.addLayout(buttons)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self._refresh()

    def set_call(self, call: CallSession | None) -> None:
        if call is self.call:
            self._refresh()
            return
        if self.call is not None:
            for sig in (self.call.state_changed, self.call.hold_changed, self.call.mute_changed,
                        self.call.ended, self.call.transfer_status):
                with contextlib.suppress(RuntimeError, TypeError):
                    sig.disconnect(self._refresh)
            with contextlib.suppress(RuntimeError, TypeError):
                self.call.transfer_status.disconnect(self._on_transfer)
        self.call = call
        self._talk_started = None
        self._transfer_note = ""
        self._dtmf_sent = ""
        if call is not None:
            call.state_changed.connect(self._refresh)
            call.hold_changed.connect(self._refresh)
            call.mute_changed.connect(self._refresh)
            call.ended.connect(self._refresh)
            call.transfer_status.connect(self._on_transfer)
        self._refresh()

    @property
    def talking(self) -> bool:
        return self.call is not None and self.call.state is CallState.CONFIRMED

    def _do(self, action: Callable[[CallSession], Any]) -> None:
        if self.call is None:
            return
        try:
            action(self.call)
        except SipError as exc:
            log.warning("call action failed: %s", exc)
            self.error.emit(exc)
        self._refresh()

    def send_dtmf(self, digits: str) -> bool:
        """Send DTMF to the current call; False when there is no call to send it to."""
        if not self.talking:
            return False
        self._dtmf_sent = (self._dtmf_sent + digits)[-16:]
        self._do(lambda c: c.send_dtmf(digits))
        return True

    def transfer(self) -> None:
        """Blind transfer: ask for the number, then REFER the call there."""
        if not self.talking:
            return
        target = (self.ask_transfer_target() or "").strip()
        if not target or not self.talking:
            return
        self._transfer_note = tr("transferring to {n}…").format(n=target)
        self._do(lambda c: c.transfer(target))

    def _ask_transfer_target(self) -> str | None:
        text, ok = QInputDialog.getText(self, tr("Transfer"),
                                        tr("Transfer the caller to number:"))
        return str(text) if ok else None

    def _on_transfer(self, code: int, reason: str, final: bool) -> None:
        if final and 200 <= code < 300:
            self._transfer_note = tr("transferred")
        elif final:
            self._transfer_note = tr("transfer failed: {code} {reason}").format(
                code=code, reason=reason)
        else:
            self._transfer_note = tr("transfer: {code} {reason}").format(code=code,
                                                                         reason=reason)
        self._refresh()

    def _show_time(self) -> None:
        if self._talk_started is None:
            self.timer_label.setText("")
            return
        s = int(time.monotonic() - self._talk_started)
        h, rest = divmod(s, 3600)
        m, s = divmod(rest, 60)
        self.timer_label.setText(f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}")

    @Slot()
    def _refresh(self, *_: object) -> None:
        c = self.call
        if c is None or c.state is not CallState.CONFIRMED:
            self._tick.stop()
        if c is None:
            self.caller_label.setText(tr("No call"))
            self.state_label.setText(tr("Calls to your queues ring here."))
            self.timer_label.setText("")
            for b in self._buttons:
                b.setEnabled(False)
            return
        if c.state is CallState.CONFIRMED:
            if self._talk_started is None:
                self._talk_started = time.monotonic()
            if not self._tick.isActive():
                self._tick.start()
        self._show_time()
        who = c.caller_id.name or c.caller_id.number or c.remote_uri or tr("unknown caller")
        if c.caller_id.name and c.caller_id.number:
            who = f"{c.caller_id.name} <{c.caller_id.number}>"
        self.caller_label.setText(who)
        words = {CallState.NEW: tr("starting"), CallState.CALLING: tr("calling…"),
                 CallState.RINGING_IN: tr("ringing"), CallState.EARLY: tr("ringing at the far end"),
                 CallState.CONNECTING: tr("connecting…"), CallState.CONFIRMED: tr("talking"),
                 CallState.DISCONNECTED: tr("ended")}
        text = words.get(c.state, c.state.value)
        if c.held:
            text = tr("on hold")
        if c.muted:
            text += tr(" · muted")
        if self._dtmf_sent and c.state is CallState.CONFIRMED:
            text += " · " + tr("keys sent: {keys}").format(keys=self._dtmf_sent)
        if self._transfer_note:
            text += " · " + self._transfer_note
        self.state_label.setText(text)
        live = c.state is not CallState.DISCONNECTED
        talking = c.state is CallState.CONFIRMED
        self.answer_button.setEnabled(c.state is CallState.RINGING_IN)
        self.hangup_button.setEnabled(live)
        self.hold_button.setEnabled(talking)
        self.mute_button.setEnabled(talking)
        self.transfer_button.setEnabled(talking)
        self.hold_button.setChecked(c.held)
        self.hold_button.setText(tr("Resume") if c.held else tr("Hold"))
        self.mute_button.setChecked(c.muted)
        self.mute_button.setText(tr("Unmute") if c.muted else tr("Mute"))


class MainWindow(QMainWindow):
    """Signals: call_requested(number), relogin_requested(), quit_requested()."""

    call_requested = Signal(str)
    relogin_requested = Signal()
    quit_requested = Signal()

    def __init__(self, machine: AgentStateMachine, client: ApiClient,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._machine = machine
        self._client = client
        self._agent: Agent | None = None
        self._rows: dict[str, GroupRow] = {}
        self._reasons: tuple[PauseReason, ...] = ()
        self._device_note = ""
        self._can_dial = False
        self._dial_blocked = ""
        self.setWindowTitle(tr("Agent Desktop"))

        # chips
        self.server_chip = Chip("server chip")
        self.sip_chip = Chip("SIP chip")
        self.session_chip = Chip("session chip")
        self.who_label = QLabel("")
        self.who_label.setStyleSheet("font-weight: 600;")
        chips = QHBoxLayout()
        chips.addWidget(self.who_label)
        chips.addStretch(1)
        for chip in (self.server_chip, self.sip_chip, self.session_chip):
            chips.addWidget(chip)

        # groups
        self.groups_box = QGroupBox(tr("Queues"))
        self.groups_layout = QVBoxLayout()
        self.no_groups = QLabel(tr("You are not a member of any queue."))
        self.groups_layout.addWidget(self.no_groups)
        self.checkin_all = QPushButton(tr("Check in to all"))
        self.checkout_all = QPushButton(tr("Check out of all"))
        for b in (self.checkin_all, self.checkout_all):
            b.setAccessibleName(b.text())
        self.checkin_all.clicked.connect(lambda: self._act(self._client.checkin))
        self.checkout_all.clicked.connect(lambda: self._act(self._client.checkout))
        all_row = QHBoxLayout()
        all_row.addWidget(self.checkin_all)
        all_row.addWidget(self.checkout_all)
        gl = QVBoxLayout(self.groups_box)
        gl.addLayout(self.groups_layout)
        gl.addLayout(all_row)

        # availability
        self.pause_menu = QMenu(tr("Pause"), self)
        self.pause_button = QToolButton()
        self.pause_button.setText(tr("Pause"))
        self.pause_button.setMinimumWidth(110)
        self.pause_button.setAccessibleName(tr("Pause"))
        self.pause_button.setMenu(self.pause_menu)
        self.pause_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.pause_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.unpause_action = QAction(tr("Unpause"), self)
        self.unpause_action.triggered.connect(lambda: self._act(self._client.unpause))
        self.wrapup_button = QPushButton(tr("End wrap-up"))
        self.wrapup_button.setAccessibleName(tr("End wrap-up"))
        self.wrapup_button.clicked.connect(lambda: self._act(self._client.end_wrapup))
        avail_box = QGroupBox(tr("Availability"))
        al = QHBoxLayout(avail_box)
        al.addWidget(self.pause_button)
        al.addWidget(self.wrapup_button)
        al.addStretch(1)

        # dialling
        self.number_edit = QLineEdit()
        self.number_edit.setPlaceholderText(tr("Number to call"))
        self.number_edit.setAccessibleName(tr("Number to call"))
        self.call_button = QPushButton(tr("Call"))
        self.call_button.setAccessibleName(tr("Call"))
        self.call_button.clicked.connect(self._dial)
        self.number_edit.returnPressed.connect(self._dial)
        self.dialpad = DialPad()
        self.dialpad.digit.connect(self._key)
        dial_box = QGroupBox(tr("Dial"))
        number_row = QHBoxLayout()
        number_row.addWidget(self.number_edit, 1)
        number_row.addWidget(self.call_button)
        dl = QVBoxLayout(dial_box)
        dl.addLayout(number_row)
        dl.addWidget(self.dialpad)

        self.call_panel = CallPanel()
        self.call_panel.error.connect(self.show_error)

        # history (attached by the composition root: `set_history`)
        self.history_box = QGroupBox(tr("Call history"))
        self.history_layout = QVBoxLayout(self.history_box)
        self.history_view: HistoryView | None = None
        self.history_box.hide()

        # status line
        self.status_label = QLabel("")
        self.status_label.setObjectName("statusLine")
        self.status_label.setAccessibleName(tr("Status"))
        self.status_label.setWordWrap(True)
        self.relogin_button = QPushButton(tr("Log in again"))
        self.relogin_button.setAccessibleName(tr("Log in again"))
        self.relogin_button.clicked.connect(self.relogin_requested.emit)
        self.relogin_button.hide()
        status = QFrame()
        status.setFrameShape(QFrame.Shape.StyledPanel)
        sl = QHBoxLayout(status)
        sl.addWidget(self.status_label, 1)
        sl.addWidget(self.relogin_button)

        central = QWidget()
        grid = QGridLayout(central)
        left = QVBoxLayout()
        left.addWidget(self.groups_box)
        left.addWidget(avail_box)
        left.addStretch(1)
        grid.addLayout(chips, 0, 0, 1, 2)
        grid.addLayout(left, 1, 0)
        grid.addWidget(dial_box, 1, 1)
        grid.addWidget(self.call_panel, 2, 0, 1, 2)
        grid.addWidget(self.history_box, 3, 0, 1, 2)
        grid.addWidget(status, 6, 0, 1, 2)
        grid.setColumnStretch(0, 3)
        grid.setColumnStretch(1, 2)
        grid.setRowStretch(3, 1)
        self.setCentralWidget(central)
        self.resize(900, 720)

        machine.changed.connect(self._on_state)
        self._render_state(machine.state)

    # ----------------------------------------------------------------- snapshot

    def apply_me(self, me: Me) -> None:
        """A fresh /me: groups, reasons, and the state machine follows it."""
        self._machine.me_refreshed(me)
        self.set_agent(me.agent, me.pause_reasons, who=me.name)

    def set_agent(self, agent: Agent | None, reasons: tuple[PauseReason, ...],
                  who: str = "") -> None:
        self._agent = agent
        self._reasons = reasons
        if agent is not None:
            name = agent.name or who
            self.who_label.setText(f"{agent.number} · {name}" if name else agent.number)
            self._render_groups(agent.groups)
            dev = agent.device
            if dev is None:
                self._device_note = tr("Phone: none assigned")
                self._dial_blocked = tr("You have no phone yet.")
            elif dev.kind == "external":
                self._device_note = tr("Phone: external {n}").format(n=dev.number)
                self._dial_blocked = tr(
                    "Your calls ring an external phone ({n}): no outbound dialling from here."
                ).format(n=dev.number)
            else:
                self._device_note = ""
                self._dial_blocked = ""
        self._render_pause_menu()
        self._render_state(self._machine.state)

    def _render_groups(self, groups: tuple[Group, ...]) -> None:
        names = [g.name for g in groups]
        if list(self._rows) != names:
            for row in self._rows.values():
                self.groups_layout.removeWidget(row)
                row.deleteLater()
            self._rows = {}
            for g in groups:
                row = GroupRow(g)
                row.toggled.connect(self._toggle_group)
                self.groups_layout.addWidget(row)
                self._rows[g.name] = row
        else:
            for g in groups:
                self._rows[g.name].update_group(g)
        self.no_groups.setVisible(not groups)
        dynamic = any(g.membership != "static" for g in groups)
        self.checkin_all.setEnabled(dynamic)
        self.checkout_all.setEnabled(dynamic)

    def _render_pause_menu(self) -> None:
        self.pause_menu.clear()
        for r in self._reasons:
            action = self.pause_menu.addAction(r.label)
            action.setData(r.code)
            action.triggered.connect(lambda _=False, code=r.code: self._pause(code))
        self.pause_menu.addSeparator()
        self.pause_menu.addAction(self.unpause_action)

    def pause_reason_labels(self) -> list[str]:
        return [a.text() for a in self.pause_menu.actions() if a.data() is not None]

    def group_row(self, name: str) -> GroupRow:
        return self._rows[name]

    # ----------------------------------------------------------------- actions

    def _toggle_group(self, name: str, checked: bool) -> None:
        row = self._rows[name]
        row.set_pending(True)
        call = self._client.checkin_group if checked else self._client.checkout_group
        self._act(lambda: call(name), on_done=lambda: row.set_pending(False))

    def _pause(self, code: str) -> None:
        self._act(lambda: self._client.pause(code))

    def _act(self, fn: Callable[[], object], on_done: Callable[[], None] | None = None) -> None:
        """Run a server action off the GUI thread, then refetch /me (or show the error)."""

        def ok(_: object) -> None:
            if on_done:
                on_done()
            self.refresh()

        def failed(exc: BaseException) -> None:
            if on_done:
                on_done()
            self.show_error(exc)
            self.refresh()

        run_in_worker(fn, on_success=ok, on_failure=failed, parent=self)

    def refresh(self) -> None:
        """Refetch /me off the GUI thread."""
        run_in_worker(self._client.me, on_success=self.apply_me,
                      on_failure=self._refresh_failed, parent=self)

    def _refresh_failed(self, exc: BaseException) -> None:
        if isinstance(exc, e.AuthenticationError) and exc.session_over:
            self._machine.session_ended(exc.code, exc.detail)
        else:
            self.show_error(exc)

    @Slot()
    def _dial(self) -> None:
        number = self.number_edit.text().strip()
        if not number:
            return
        if self._can_dial:
            self.call_requested.emit(number)
        else:
            self.show_info(self._dial_blocked or tr("The phone is not registered."))

    @Slot(str)
    def _key(self, key: str) -> None:
        """A dial-pad key: DTMF during a call, else a digit of the number to dial."""
        if self.call_panel.send_dtmf(key):
            return
        if self.number_edit.isEnabled():
            self.number_edit.insert(key)
            self.number_edit.setFocus()

    def set_history(self, store: HistoryStore) -> None:
        """Show the local call history; double-click / Enter on a row calls back."""
        if self.history_view is not None:
            return
        self.history_view = HistoryView(store)
        self.history_view.call_back.connect(self.call_back)
        self.history_layout.addWidget(self.history_view)
        self.history_box.show()

    @Slot(str)
    def call_back(self, number: str) -> None:
        self.number_edit.setText(number)
        self._dial()

    def set_call(self, call: CallSession | None) -> None:
        if self.call_panel.call is not None and self.call_panel.call is not call:
            with contextlib.suppress(RuntimeError, TypeError):
                self.call_panel.call.state_changed.disconnect(self._render_dialpad)
        if call is not None and call is not self.call_panel.call:
            call.state_changed.connect(self._render_dialpad)
        self.call_panel.set_call(call)
        self._render_dialpad()

    def _render_dialpad(self, *_: object) -> None:
        talking = self.call_panel.talking
        self.dialpad.setEnabled(talking or self._can_dial)
        self.dialpad.setToolTip(tr("Keys are sent to the call (DTMF)") if talking
                                else tr("Type the number to call"))

    def show_error(self, exc: BaseException) -> None:
        self.status_label.setText(user_message(exc))
        self.status_label.setStyleSheet(f"color: {RED};")

    def show_info(self, text: str) -> None:
        self.status_label.setText(text)
        self.status_label.setStyleSheet("")

    # ----------------------------------------------------------------- state

    @Slot(object, object, str)
    def _on_state(self, old: AgentState, new: AgentState, reason: str) -> None:
        del reason
        self._render_state(new)
        if new.pause is not None and new.pause.by and new.pause != old.pause:
            self.show_info(tr("Paused by {by}: {why}").format(
                by=new.pause.by, why=new.pause.reason or new.pause.what))
        fc = new.forced_checkout
        if fc is not None and fc != old.forced_checkout:
            by = fc.by or tr("the server")
            self.show_info(tr("Checked out of {group} by {by}: {why}").format(
                group=fc.what, by=by, why=fc.reason))
        if old.pause is not None and new.pause is None and old.pause.by:
            self.show_info(tr("Unpaused."))

    def _render_state(self, s: AgentState) -> None:
        texts = chip_texts(s, device_note=self._device_note)
        self.server_chip.set(*texts["server"])
        self.sip_chip.set(*texts["sip"])
        self.session_chip.set(*texts["session"])
        active = s.session is Session.ACTIVE
        self.groups_box.setEnabled(active)
        self.pause_button.setEnabled(active)
        self.unpause_action.setEnabled(s.availability is Availability.PAUSED)
        self.wrapup_button.setEnabled(active and s.availability is Availability.WRAPUP)
        self._can_dial = s.sip is Sip.REGISTERED and not self._dial_blocked
        self.call_button.setEnabled(self._can_dial)
        self.number_edit.setEnabled(self._can_dial)
        self._render_dialpad()
        tip = self._dial_blocked or ("" if s.sip is Sip.REGISTERED
                                     else tr("The phone is not registered."))
        self.call_button.setToolTip(tip)
        self.number_edit.setToolTip(tip)
        if s.session is Session.ENDED and s.ended is not None:
            word = _END_WORDS.get(s.ended.code, s.ended.code)
            if s.ended.code == "session_revoked" and (s.ended.by or s.ended.detail):
                word = tr("forced by {by}: {why}").format(by=s.ended.by or tr("a team admin"),
                                                          why=s.ended.detail or "-")
            err = e.AuthenticationError(s.ended.code, 401, detail=s.ended.detail)
            self.status_label.setText(tr("Logged out: {reason}").format(reason=word)
                                      + "\n" + user_message(err))
            self.status_label.setStyleSheet(f"color: {RED};")
            self.relogin_button.show()
        else:
            self.relogin_button.hide()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.quit_requested.emit()
        super().closeEvent(event)
