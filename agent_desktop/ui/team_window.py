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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from agent_desktop.session.board import BoardRow, Presence, TeamBoard
from agent_desktop.session.client import ApiClient
from agent_desktop.session.messages import tr, user_message
from agent_desktop.session.models import PauseReason
from agent_desktop.session.worker import run_in_worker
from agent_desktop.ui.ink import ink
from agent_desktop.ui.team_board import BoardModel, BoardView

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


class TeamWindow(QMainWindow):
    """Signals: quit_requested(), relogin_requested()."""

    quit_requested = Signal()

    def __init__(self, client: ApiClient, team: str, reasons: tuple[PauseReason, ...] = (),
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.team = team
        self.reasons = reasons
        self.setWindowTitle(tr("Team {team} — Agent Desktop").format(team=team))
        self.setObjectName("TeamWindow")
        self.model = BoardModel(parent=self)
        self.board_view = BoardView(self.model)
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
        self.refresh_action = QAction(tr("Refresh"), self)
        self.refresh_action.setShortcut(QKeySequence.StandardKey.Refresh)
        self.refresh_action.triggered.connect(self.load_board)
        bar.addAction(self.refresh_action)

        central = QWidget()
        lay = QVBoxLayout(central)
        lay.addWidget(self.board_view, 1)
        lay.addWidget(self.status_label)
        self.setCentralWidget(central)
        self.resize(1200, 720)
        selection = self.board_view.table.selectionModel()
        selection.selectionChanged.connect(lambda *_: self._enable())
        self.model.layoutChanged.connect(self._enable)
        self._enable()

    # ----------------------------------------------------------------- data

    def load_board(self) -> None:
        client, team = self.client, self.team
        run_in_worker(lambda: TeamBoard(client.board(team)), on_success=self._loaded,
                      on_failure=self.show_error, parent=self)

    def _loaded(self, board: TeamBoard) -> None:
        self.model.load(board)
        self.status_label.setText(tr("{n} agents in team {team}.").format(
            n=len(board.rows), team=self.team))
        self._enable()

    def on_event(self, etype: str, data: Mapping[str, Any], event_id: int) -> None:
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

    def show_error(self, exc: BaseException) -> None:
        self.status_label.setStyleSheet(f"color: {ink('error')};")
        self.status_label.setText(user_message(exc))

    def closeEvent(self, event: QCloseEvent) -> None:
        self.quit_requested.emit()
        super().closeEvent(event)
