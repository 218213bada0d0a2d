"""The team view for team admins: the live board plus actions on the selected agents.

Every action asks for a reason (the agent sees it): force checkout (static members are
skipped, and the result says so), force logout (one terminal or all), force pause with one of
the team's pause reasons, unpause. Actions run through `run_in_worker`; the board itself
changes through the event stream, not through the replies.

`load_board()` fetches the board off the GUI thread (and builds its rows there, too).
Events reach the board through `on_event` (the composition root forwards the stream).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QColor, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPushButton,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from agent_desktop.session.board import Activity, BoardRow, Presence, TeamBoard
from agent_desktop.session.errors import ProtocolError
from agent_desktop.session.messages import tr, tr_noop, user_message
from agent_desktop.session.models import (
    PauseReason,
    QueueRow,
    Queues,
    SpyReply,
    parse_queue_row,
)
from agent_desktop.session.worker import run_in_worker
from agent_desktop.ui.call_panel import CallPanel
from agent_desktop.ui.ink import ink
from agent_desktop.ui.team_admin import TeamAdminDialog
from agent_desktop.ui.team_board import BoardModel, BoardView, duration

if TYPE_CHECKING:
    from agent_desktop.session.client import ApiClient
    from agent_desktop.sip import CallSession

log = logging.getLogger("agent_desktop.ui.team")

CHECKOUT, LOGOUT, PAUSE, UNPAUSE = "checkout", "logout", "pause", "unpause"


@dataclass(frozen=True)
class ActionRequest:
    action: str
    agents: tuple[str, ...]
    reason: str
    pause_reason: str = ""
    terminal_id: str | None = None  # logout: None = every terminal


class ReasonDialog(QDialog):
    """Asks why (required), and the pause reason or the terminal where that applies."""

    def __init__(self, action: str, rows: list[BoardRow], reasons: tuple[PauseReason, ...],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.action = action
        self.rows = rows
        titles = {CHECKOUT: tr("Check out of the queues"), LOGOUT: tr("Log out"),
                  PAUSE: tr("Pause"), UNPAUSE: tr("Unpause")}
        names = ", ".join(r.number for r in rows[:5]) + (" …" if len(rows) > 5 else "")
        self.setWindowTitle(f"{titles[action]}: {names}")
        form = QFormLayout(self)
        self.reason_edit = QLineEdit()
        self.reason_edit.setAccessibleName(tr("Reason"))
        self.reason_edit.setPlaceholderText(tr("The agent sees this"))
        self.reason_edit.setMaxLength(200)
        form.addRow(tr("&Reason:"), self.reason_edit)
        self.pause_box = QComboBox()
        self.pause_box.setAccessibleName(tr("Pause reason"))
        for r in reasons:
            self.pause_box.addItem(r.label or r.code, r.code)
        if action == PAUSE:
            form.addRow(tr("&Pause as:"), self.pause_box)
        self.terminal_box = QComboBox()
        self.terminal_box.setAccessibleName(tr("Terminal"))
        self.terminal_box.addItem(tr("Every terminal"), None)
        if action == LOGOUT and len(rows) == 1:
            for t in rows[0].terminals:
                self.terminal_box.addItem(f"{t.terminal_id} ({t.ip})", t.terminal_id)
            form.addRow(tr("&Terminal:"), self.terminal_box)
        static = [r.number for r in rows if r.static] if action == CHECKOUT else []
        if static:
            note = QLabel(tr("Static members stay in their static queues: {who}").format(
                who=", ".join(static)))
            note.setWordWrap(True)
            note.setStyleSheet(f"color: {ink('muted')};")
            form.addRow(note)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(False)
        self.reason_edit.textChanged.connect(lambda t: ok.setEnabled(bool(t.strip())))
        if action == PAUSE and not reasons:
            ok.setEnabled(False)
            self.reason_edit.setEnabled(False)
            form.addRow(QLabel(tr("This team has no pause reasons.")))

    def request(self) -> ActionRequest:
        return ActionRequest(
            self.action, tuple(r.number for r in self.rows), self.reason_edit.text().strip(),
            pause_reason=str(self.pause_box.currentData() or "") if self.action == PAUSE
            else "",
            terminal_id=self.terminal_box.currentData() if self.action == LOGOUT else None)


def run_action(client: ApiClient, team: str, req: ActionRequest) -> list[str]:
    """One request per agent (in a worker); a line per agent saying what happened."""
    lines: list[str] = []
    for agent in req.agents:
        try:
            if req.action == CHECKOUT:
                reply = client.force_checkout(team, agent, req.reason)
                skipped = [g for g, r in reply.by_group().items() if r == "static_member"]
                done = [g for g, r in reply.by_group().items() if r == "checked_out"]
                line = tr("{agent}: checked out of {groups}").format(
                    agent=agent, groups=", ".join(done) or tr("no queue"))
                if skipped:
                    line += tr("; static in {groups} (stays)").format(groups=", ".join(skipped))
                lines.append(line)
            elif req.action == LOGOUT:
                ended = client.force_logout(team, agent, req.reason, req.terminal_id).ended
                lines.append(tr("{agent}: logged out ({n} terminal(s))").format(
                    agent=agent, n=len(ended)))
            elif req.action == PAUSE:
                client.force_pause(team, agent, req.reason, req.pause_reason)
                lines.append(tr("{agent}: paused").format(agent=agent))
            else:
                client.force_unpause(team, agent, req.reason)
                lines.append(tr("{agent}: unpaused").format(agent=agent))
        except Exception as exc:
            lines.append(f"{agent}: {user_message(exc)}")
    return lines


QUEUE_COLUMNS = (tr_noop("Queue"), tr_noop("Waiting"), tr_noop("Longest wait"),
                 tr_noop("Available"), tr_noop("Paused"), tr_noop("Busy"), tr_noop("Answered"),
                 tr_noop("Abandoned"), tr_noop("Service level"))


class QueuePanel(QTableWidget):
    """Per group: callers waiting, longest wait, agents, today's calls and service level.
    Rows are replaced whole from `queue.changed` (never older than what is shown)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 parent: QWidget | None = None) -> None:
        super().__init__(0, len(QUEUE_COLUMNS), parent)
        self.setHorizontalHeaderLabels([tr(c) for c in QUEUE_COLUMNS])
        self.verticalHeader().hide()
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setAccessibleName(tr("Queues"))
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().setDefaultSectionSize(24)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self._clock = clock
        self.rows: dict[str, tuple[QueueRow, float]] = {}  # group -> (row, received at)
        self._tick = QTimer(self)
        self._tick.setInterval(1000)
        self._tick.timeout.connect(self._render_waits)
        self._tick.start()

    def load(self, queues: Queues) -> None:
        now = self._clock()
        self.rows = {q.group: (q, now) for q in queues.queues}
        self.setRowCount(len(self.rows))
        for i, group in enumerate(self.rows):
            self._render(i, group)
        rows = sum(self.rowHeight(i) for i in range(self.rowCount())) or 26
        self.setFixedHeight(self.horizontalHeader().sizeHint().height() + rows
                            + 2 * self.frameWidth())

    def apply(self, data: Mapping[str, Any]) -> bool:
        """A `queue.changed` event; False when it names a group not shown (refetch)."""
        try:
            row = parse_queue_row(data.get("row"))
        except ProtocolError as exc:
            log.warning("queue row not understood: %s", exc)
            return False
        old = self.rows.get(row.group)
        if old is None:
            return False
        if row.version and old[0].version >= row.version:
            return True
        self.rows[row.group] = (row, self._clock())
        self._render(list(self.rows).index(row.group), row.group)
        return True

    def longest_wait(self, group: str) -> float:
        row, at = self.rows[group]
        return row.longest_wait_s + (self._clock() - at) if row.waiting else 0.0

    def _render(self, i: int, group: str) -> None:
        row, _at = self.rows[group]
        level = "—" if row.service_level is None else f"{row.service_level * 100:.0f} %"
        cells = (f"{row.group}" + (f" ({row.extension})" if row.extension else ""),
                 str(row.waiting), duration(self.longest_wait(group)) if row.waiting else "",
                 str(row.available), str(row.paused), str(row.busy), str(row.answered),
                 str(row.abandoned), level)
        for c, text in enumerate(cells):
            item = self.item(i, c)
            if item is None:
                item = QTableWidgetItem()
                self.setItem(i, c, item)
            item.setText(text)
            if c == 1:
                item.setForeground(QColor(ink("error") if row.waiting else ink("muted")))
            if c == 8:
                item.setToolTip(tr("Answered within {s} s, of all answered and abandoned "
                                   "today").format(s=row.service_level_s))

    def _render_waits(self) -> None:
        for i, group in enumerate(self.rows):
            if self.rows[group][0].waiting:
                item = self.item(i, 2)
                if item is not None:
                    item.setText(duration(self.longest_wait(group)))


class TeamWindow(QMainWindow):
    """Signals: quit_requested(), call_requested(number) (the phone's Call button)."""

    quit_requested = Signal()
    call_requested = Signal(str)

    def __init__(self, client: ApiClient, team: str, reasons: tuple[PauseReason, ...] = (),
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.team = team
        self.reasons = reasons
        self.quits_app = False  # the team view alone (no seat): closing it ends the app
        self.setWindowTitle(tr("Team {team} — Agent Desktop").format(team=team))
        self.setObjectName("TeamWindow")
        self.model = BoardModel(parent=self)
        self.board_view = BoardView(self.model)
        self.queue_panel = QueuePanel(parent=self)
        self.spying: tuple[str, str] | None = None  # (agent, mode) while a spy call is on
        self.model.refetch_needed.connect(self.load_board)
        self.ask: Callable[[str, list[BoardRow]], ActionRequest | None] = self._ask
        self.status_label = QLabel(tr("Loading the team…"))
        self.status_label.setWordWrap(True)
        self.status_label.setAccessibleName(tr("Status"))
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        bar = QToolBar(tr("Actions"))
        bar.setMovable(False)
        self.addToolBar(bar)
        self.actions_by_name: dict[str, QAction] = {}
        for name, text, keys in ((CHECKOUT, tr("Check out…"), "Ctrl+Shift+O"),
                                 (PAUSE, tr("Pause…"), "Ctrl+Shift+P"),
                                 (UNPAUSE, tr("Unpause…"), "Ctrl+Shift+U"),
                                 (LOGOUT, tr("Log out…"), "Ctrl+Shift+L")):
            act = QAction(text, self)
            act.setShortcut(QKeySequence(keys))
            act.setToolTip(f"{text} ({keys})")
            act.triggered.connect(lambda _=False, n=name: self.act(n))
            bar.addAction(act)
            self.actions_by_name[name] = act
        bar.addSeparator()
        self.spy_actions: dict[str, QAction] = {}
        for mode, text, tip in (
                ("listen", tr("Listen"), tr("Hear the agent's call on your phone")),
                ("whisper", tr("Whisper"), tr("Talk to the agent; the caller does not hear you")),
                ("barge", tr("Barge in"), tr("Talk to both the agent and the caller"))):
            act = QAction(text, self)
            act.setToolTip(tip)
            act.triggered.connect(lambda _=False, md=mode: self.spy(md))
            bar.addAction(act)
            self.spy_actions[mode] = act
        bar.addSeparator()
        self.manage_action = QAction(tr("Manage team…"), self)
        self.manage_action.setToolTip(tr("Users, agents, devices, groups, pause reasons, "
                                         "heartbeat; usage per user"))
        self.manage_action.triggered.connect(self.open_admin)
        bar.addAction(self.manage_action)
        self.admin_dialog: TeamAdminDialog | None = None
        self.refresh_action = QAction(tr("Refresh"), self)
        self.refresh_action.setShortcut(QKeySequence.StandardKey.Refresh)
        self.refresh_action.triggered.connect(self.load_board)
        bar.addAction(self.refresh_action)

        self.spy_label = QLabel()
        self.spy_label.setAccessibleName(tr("Listening"))
        self.spy_label.setStyleSheet("font-weight: 600;")
        self.stop_spy_button = QPushButton(tr("Stop"))
        self.stop_spy_button.setAccessibleName(tr("Stop listening"))
        self.stop_spy_button.clicked.connect(self.stop_spy)
        spy_row = QHBoxLayout()
        spy_row.addWidget(self.spy_label, 1)
        spy_row.addWidget(self.stop_spy_button)
        self.spy_bar = QWidget()
        self.spy_bar.setLayout(spy_row)
        self.spy_bar.hide()

        # A team admin without an agent seat has a phone all the same (listen, whisper and
        # barge calls come to it): other calls to it and from it are handled here. Beside a
        # seat, the seat's window has them (set_phone(False)).
        self.number_edit = QLineEdit()
        self.number_edit.setPlaceholderText(tr("Number to call"))
        self.number_edit.setAccessibleName(tr("Number to call"))
        self.number_edit.returnPressed.connect(self.dial)
        self.call_button = QPushButton(tr("Call", "dial button"))
        self.call_button.setAccessibleName(tr("Call", "dial button"))
        self.call_button.clicked.connect(self.dial)
        self.call_panel = CallPanel()
        self.call_panel.error.connect(self.show_error)
        self.number_edit.setMaximumWidth(self.number_edit.fontMetrics().averageCharWidth() * 32)
        dial_row = QHBoxLayout()
        dial_row.addWidget(self.number_edit, 1)
        dial_row.addWidget(self.call_button)
        dial_row.addStretch(2)
        self.phone_box = QWidget()
        phone_lay = QVBoxLayout(self.phone_box)
        phone_lay.setContentsMargins(0, 0, 0, 0)
        phone_lay.addLayout(dial_row)
        phone_lay.addWidget(self.call_panel)
        self.phone_box.hide()

        central = QWidget()
        lay = QVBoxLayout(central)
        lay.addWidget(self.queue_panel)
        lay.addWidget(self.phone_box)
        lay.addWidget(self.spy_bar)
        lay.addWidget(self.board_view, 1)
        lay.addWidget(self.status_label)
        self.setCentralWidget(central)
        self.resize(1200, 720)
        selection = self.board_view.table.selectionModel()
        selection.selectionChanged.connect(lambda *_: self._enable())
        self.model.layoutChanged.connect(self._enable)
        self.model.modelReset.connect(self._enable)  # the selection may be gone with the rows
        self._enable()

    # ----------------------------------------------------------------- data

    def load_board(self) -> None:
        client, team = self.client, self.team
        run_in_worker(lambda: TeamBoard(client.board(team)), on_success=self._loaded,
                      on_failure=self.show_error, parent=self)
        self.load_queues()

    def load_queues(self) -> None:
        client, team = self.client, self.team
        run_in_worker(lambda: client.queues(team), on_success=self.queue_panel.load,
                      on_failure=lambda exc: log.warning("queues: %s", exc), parent=self)

    def _loaded(self, board: TeamBoard) -> None:
        self.model.load(board)
        self.status_label.setText(tr("{n} agents in team {team}.").format(
            n=len(board.rows), team=self.team))
        self._enable()

    def on_event(self, etype: str, data: Mapping[str, Any], event_id: int) -> None:
        if etype == "queue.changed":
            if not self.queue_panel.apply(data):
                self.load_queues()
            return
        if etype == "team.config_changed":
            self.load_board()
            return
        self.model.push(etype, data, event_id)

    # ----------------------------------------------------------------- actions

    def _enable(self) -> None:
        rows = self.board_view.selected_rows()
        logged_in = any(r.logged_in for r in rows)
        self.actions_by_name[CHECKOUT].setEnabled(any(r.checked_in for r in rows))
        self.actions_by_name[LOGOUT].setEnabled(logged_in)
        self.actions_by_name[PAUSE].setEnabled(
            any(r.presence is not Presence.PAUSED and r.logged_in for r in rows))
        self.actions_by_name[UNPAUSE].setEnabled(any(r.paused for r in rows))
        on_call = len(rows) == 1 and rows[0].activity is not Activity.IDLE
        for act in self.spy_actions.values():
            act.setEnabled(on_call and self.spying is None)

    def _ask(self, action: str, rows: list[BoardRow]) -> ActionRequest | None:
        dialog = ReasonDialog(action, rows, self.reasons, self)
        return dialog.request() if dialog.exec() == QDialog.DialogCode.Accepted else None

    def act(self, action: str) -> None:
        rows = self.board_view.selected_rows()
        if not rows:
            return
        req = self.ask(action, rows)
        if req is None or not req.reason:
            return
        client, team = self.client, self.team
        self.status_label.setStyleSheet("")
        self.status_label.setText(tr("Working…"))
        run_in_worker(lambda: run_action(client, team, req),
                      on_success=lambda lines: self.status_label.setText("\n".join(lines)),
                      on_failure=self.show_error, parent=self)

    def open_admin(self) -> None:
        if self.admin_dialog is None:
            self.admin_dialog = TeamAdminDialog(self.client, self.team, self)
        self.admin_dialog.show()
        self.admin_dialog.raise_()

    # ----------------------------------------------------------------- listen / whisper / barge

    def spy(self, mode: str) -> None:
        rows = self.board_view.selected_rows()
        if len(rows) != 1 or self.spying is not None:
            return
        agent = rows[0].number
        client, team = self.client, self.team
        self.status_label.setStyleSheet("")
        self.status_label.setText(tr("Calling your phone…"))
        run_in_worker(lambda: client.spy(team, agent, mode),
                      on_success=self._spy_started, on_failure=self.show_error, parent=self)

    def _spy_started(self, reply: SpyReply) -> None:
        self.spying = (reply.agent, reply.mode)
        words = {"listen": tr("Listening to {agent}"), "whisper": tr("Whispering to {agent}"),
                 "barge": tr("Barged in on {agent}")}
        self.spy_label.setText(words.get(reply.mode, reply.mode).format(agent=reply.agent)
                               + tr(" · on your phone {device}").format(device=reply.device))
        self.spy_bar.show()
        self.status_label.setText("")
        self._enable()

    def stop_spy(self) -> None:
        if self.spying is None:
            return
        agent, _mode = self.spying
        client, team = self.client, self.team
        run_in_worker(lambda: client.stop_spy(team, agent), on_success=lambda _: None,
                      on_failure=self.show_error, parent=self)
        self.spy_ended()

    def spy_ended(self) -> None:
        """The spy call is over (stopped here, or the agent's call ended)."""
        self.spying = None
        self.spy_bar.hide()
        self._enable()

    # ----------------------------------------------------------------- phone

    def set_phone(self, on: bool) -> None:
        """Show the phone (dialling and the call panel): a login without an agent seat."""
        self.phone_box.setVisible(on)

    def dial(self) -> None:
        number = self.number_edit.text().strip()
        if number:
            self.call_requested.emit(number)

    def set_call(self, call: CallSession | None) -> None:
        self.call_panel.set_call(call)

    def show_info(self, text: str) -> None:
        self.status_label.setStyleSheet("")
        self.status_label.setText(text)

    def show_error(self, exc: BaseException) -> None:
        self.status_label.setStyleSheet(f"color: {ink('error')};")
        self.status_label.setText(user_message(exc))

    def closeEvent(self, event: QCloseEvent) -> None:
        self.quit_requested.emit()
        super().closeEvent(event)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:  # a theme switch: colours again
            for i, group in enumerate(self.queue_panel.rows):
                self.queue_panel._render(i, group)
        super().changeEvent(event)
