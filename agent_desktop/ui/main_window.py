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
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, Qt, Signal, Slot
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from agent_desktop.history import HistoryStore
from agent_desktop.session import errors as e
from agent_desktop.session.messages import tr, tr_noop, user_message
from agent_desktop.session.models import Agent, Group, Me, PauseReason
from agent_desktop.session.state import (
    AgentState,
    AgentStateMachine,
    Availability,
    Call,
    Network,
    Session,
    Sip,
)
from agent_desktop.session.worker import run_in_worker
from agent_desktop.sip import CallSession
from agent_desktop.ui import shortcuts
from agent_desktop.ui.call_panel import CallPanel
from agent_desktop.ui.dialpad import DialPad
from agent_desktop.ui.history import HistoryView
from agent_desktop.ui.ink import ink

if TYPE_CHECKING:
    from agent_desktop.session.client import ApiClient

log = logging.getLogger("agent_desktop.ui.main")

GREEN, AMBER, RED, GREY, BLUE = "#1e7b34", "#9a6700", "#b42318", "#5f6b7a", "#1f5fbf"
# Module-level texts are only marked here (a translator comes later): tr() at use.
STATIC_TOOLTIP = tr_noop("static member: always in the queue")
_END_WORDS = {"session_expired": tr_noop("timeout"), "session_revoked": tr_noop("forced"),
              "session_replaced": tr_noop("replaced by a new login on this computer"),
              "session_ended": tr_noop("logout")}


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
        elif s.call in (Call.TALKING, Call.HOLD):
            session = (tr("On a call"), BLUE, ", ".join(sorted(s.checked_in)))
        elif s.call is Call.RINGING:
            session = (tr("Ringing"), AMBER, ", ".join(sorted(s.checked_in)))
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
        self.group = group
        checked = group.checked_in or self.static
        self.box.setChecked(checked)
        if self.static:
            self.box.setEnabled(False)
            # Words, not a lock emoji: many workstations lack an emoji font.
            self.box.setText(tr("{name} (static)").format(name=group.name))
            self.setToolTip(tr(STATIC_TOOLTIP))
            self.box.setToolTip(tr(STATIC_TOOLTIP))
            self.state_label.setText(tr("always in the queue"))
        else:
            self.box.setEnabled(True)
            self.state_label.setText(tr("in the queue") if checked else tr("not in the queue"))
        self.state_label.setStyleSheet(f"color: {ink('ok') if checked else ink('muted')};")

    def set_pending(self, pending: bool) -> None:
        if not self.static:
            self.box.setEnabled(not pending)
            if pending:
                self.state_label.setText(tr("…"))


class MainWindow(QMainWindow):
    """Signals: call_requested(number), relogin_requested(), quit_requested(),
    settings_requested()."""

    call_requested = Signal(str)
    relogin_requested = Signal()
    quit_requested = Signal()
    settings_requested = Signal()
    team_view_requested = Signal()

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
        self.settings_button = QToolButton()
        self.settings_button.setText(tr("Settings…"))
        self.settings_button.setAccessibleName(tr("Settings"))
        self.settings_button.setToolTip(tr("Audio devices, auto-answer, screen pop, language, "
                                           "theme (Ctrl+,)"))
        self.settings_button.setShortcut("Ctrl+,")
        self.settings_button.clicked.connect(self.settings_requested.emit)
        chips.addWidget(self.settings_button)
        self.team_button = QToolButton()
        self.team_button.setText(tr("Team view"))
        self.team_button.setAccessibleName(tr("Team view"))
        self.team_button.setToolTip(tr("The live board of your team (you are its team admin)"))
        self.team_button.clicked.connect(self.team_view_requested.emit)
        self.team_button.hide()
        chips.addWidget(self.team_button)

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
        self.call_button = QPushButton(tr("Call", "dial button"))
        self.call_button.setAccessibleName(tr("Call", "dial button"))
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
        self.install_shortcuts()

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

    def pause(self, code: str) -> None:
        """Pause with one of the team's reasons (tray, shortcuts)."""
        self._pause(code)

    def unpause(self) -> None:
        self.unpause_action.trigger()

    def toggle_ready(self) -> None:
        """Ready when paused; else pause with the team's first reason."""
        if self._machine.state.availability is Availability.PAUSED:
            self.unpause()
        elif self._reasons:
            self._pause(self._reasons[0].code)

    def install_shortcuts(self, keys: dict[str, str] | None = None) -> None:
        # Installing again (IT's hotkeys arrive after the window is built) replaces the set: a
        # default left behind would still fire, or make a reused key ambiguous.
        for old in getattr(self, "shortcuts", {}).values():
            old.setEnabled(False)
            old.deleteLater()
        panel = self.call_panel
        self.shortcuts = shortcuts.install(self, {
            "answer": panel.answer_button.click,
            "hangup": panel.hangup,
            "hold": panel.toggle_hold,
            "mute": panel.mute_button.click,
            "ready_pause": self.toggle_ready,
            "checkin_all": self.checkin_all.click,
            "checkout_all": self.checkout_all.click,
            "dial": self.number_edit.setFocus,
        }, keys)
        names = shortcuts.action_names()
        for name, widget in (("answer", panel.answer_button), ("hangup", panel.hangup_button),
                             ("hold", panel.hold_button), ("mute", panel.mute_button),
                             ("checkin_all", self.checkin_all),
                             ("checkout_all", self.checkout_all)):
            sc = self.shortcuts.get(name)
            if sc is not None:
                key = sc.key().toString(QKeySequence.SequenceFormat.NativeText)
                widget.setToolTip(f"{names[name]} ({key})")

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
            # A refetch still in flight when the session ended answers "unauthenticated"
            # (the token is gone): the first word on it is the reason, as in AgentApp.
            if self._machine.state.session is not Session.ENDED:
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
        self.status_label.setStyleSheet(f"color: {ink('error')};")

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
            word = tr(_END_WORDS.get(s.ended.code, s.ended.code))
            if s.ended.code == "session_revoked" and (s.ended.by or s.ended.detail):
                word = tr("forced by {by}: {why}").format(by=s.ended.by or tr("a team admin"),
                                                          why=s.ended.detail or "-")
            err = e.AuthenticationError(s.ended.code, 401, detail=s.ended.detail)
            self.status_label.setText(tr("Logged out: {reason}").format(reason=word)
                                      + "\n" + user_message(err))
            self.status_label.setStyleSheet(f"color: {ink('error')};")
            self.relogin_button.show()
        else:
            self.relogin_button.hide()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.quit_requested.emit()
        super().closeEvent(event)

    def changeEvent(self, event: QEvent) -> None:
        """A theme switch: colours chosen for the old palette are chosen again."""
        if event.type() == QEvent.Type.PaletteChange:
            for row in self._rows.values():
                row.update_group(row.group)
            self._render_state(self._machine.state)
            self.call_panel._refresh()
            if self.history_view is not None:
                self.history_view.reload()
        super().changeEvent(event)
