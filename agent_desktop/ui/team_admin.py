"""Team management for team admins: the team's configuration as an editable document, and
the team's usage (the billing records) per user for a date range.

The configuration is the server's own provisioning format (docs/provisioning.md) for this
team, shown as JSON without secrets; "Check and save" sends it with PUT /provisioning, and the
server validates it and says where anything is wrong. Nothing is changed unless it is valid.
"""

from __future__ import annotations

import json
import logging
from datetime import date
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QDate
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDateEdit,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from agent_desktop.session.messages import tr, user_message
from agent_desktop.session.models import Usage
from agent_desktop.session.worker import run_in_worker
from agent_desktop.ui.ink import ink

if TYPE_CHECKING:
    from agent_desktop.session.client import ApiClient

log = logging.getLogger("agent_desktop.ui.team_admin")


def config_text(team_entry: dict[str, Any]) -> str:
    return json.dumps({"teams": [team_entry]}, indent=2, ensure_ascii=False)


def parse_config(text: str, team: str) -> dict[str, Any]:
    """The edited document, checked for what the server cannot say for us (JSON, own team)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(tr("Not valid JSON at line {line}, column {col}: {msg}").format(
            line=exc.lineno, col=exc.colno, msg=exc.msg)) from exc
    teams = doc.get("teams") if isinstance(doc, dict) else None
    if not isinstance(teams, list) or len(teams) != 1 or not isinstance(teams[0], dict):
        raise ValueError(tr('The document must be {"teams": [ one team ]}.'))
    if teams[0].get("name") != team:
        raise ValueError(tr("The team's name must stay {team}.").format(team=team))
    return {"teams": teams}


class TeamAdminDialog(QDialog):
    def __init__(self, client: ApiClient, team: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.client, self.team = client, team
        self.setWindowTitle(tr("Manage team {team}").format(team=team))
        self.tabs = QTabWidget()
        self.tabs.addTab(self._config_tab(), tr("Configuration"))
        self.tabs.addTab(self._usage_tab(), tr("Usage"))
        lay = QVBoxLayout(self)
        lay.addWidget(self.tabs)
        self.resize(760, 620)
        self.reload()

    # ----------------------------------------------------------------- configuration

    def _config_tab(self) -> QWidget:
        page = QWidget()
        self.editor = QPlainTextEdit()
        self.editor.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.editor.setAccessibleName(tr("Team configuration"))
        help_label = QLabel(tr(
            "Users, agents, devices (internal / external, extensions), groups and memberships "
            "(static / dynamic), pause reasons, heartbeat interval and timeout. Passwords are "
            "never shown: add \"password\" (or \"sip_password\") to an entry to set one. Send "
            "whole entries: a field left out goes back to its default."))
        help_label.setWordWrap(True)
        help_label.setStyleSheet(f"color: {ink('muted')};")
        self.config_status = QLabel()
        self.config_status.setWordWrap(True)
        self.config_status.setAccessibleName(tr("Configuration status"))
        self.save_button = QPushButton(tr("Check and save"))
        self.reload_button = QPushButton(tr("Reload"))
        self.save_button.clicked.connect(self.save)
        self.reload_button.clicked.connect(self.reload)
        row = QHBoxLayout()
        row.addWidget(self.config_status, 1)
        row.addWidget(self.reload_button)
        row.addWidget(self.save_button)
        lay = QVBoxLayout(page)
        lay.addWidget(help_label)
        lay.addWidget(self.editor, 1)
        lay.addLayout(row)
        return page

    def _say(self, text: str, kind: str = "muted") -> None:
        self.config_status.setStyleSheet(f"color: {ink(kind)};")
        self.config_status.setText(text)

    def reload(self) -> None:
        client, team = self.client, self.team
        self._say(tr("Loading…"))
        run_in_worker(lambda: client.team_config(team), on_success=self._loaded,
                      on_failure=lambda exc: self._say(user_message(exc), "error"), parent=self)

    def _loaded(self, entry: dict[str, Any]) -> None:
        self.editor.setPlainText(config_text(entry))
        self._say(tr("As on the server now."))

    def save(self) -> None:
        try:
            doc = parse_config(self.editor.toPlainText(), self.team)
        except ValueError as exc:
            self._say(str(exc), "error")
            return
        client = self.client
        self._say(tr("Saving…"))
        run_in_worker(lambda: client.provision(doc), on_success=self._saved,
                      on_failure=self._save_failed, parent=self)

    def _saved(self, reply: Any) -> None:
        counts = ", ".join(f"{n} {what}" for what, n in reply.applied.items())
        self._say(tr("Saved ({counts}).").format(counts=counts), "ok")

    def _save_failed(self, exc: BaseException) -> None:
        detail = getattr(exc, "detail", "")
        self._say(user_message(exc) + (f"\n{detail}" if detail else ""), "error")

    # ----------------------------------------------------------------- usage

    def _usage_tab(self) -> QWidget:
        page = QWidget()
        today = QDate.currentDate()
        self.first_edit = QDateEdit(today.addDays(1 - today.day()))
        self.last_edit = QDateEdit(today)
        for w, name in ((self.first_edit, tr("From")), (self.last_edit, tr("To"))):
            w.setCalendarPopup(True)
            w.setDisplayFormat("yyyy-MM-dd")
            w.setAccessibleName(name)
        self.usage_button = QPushButton(tr("Show"))
        self.usage_button.clicked.connect(self.load_usage)
        self.usage_table = QTableWidget(0, 4)
        self.usage_table.setHorizontalHeaderLabels([tr("User"), tr("Calls"),
                                                    tr("Billable minutes"), tr("Cost")])
        self.usage_table.verticalHeader().hide()
        self.usage_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.usage_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.usage_table.setAccessibleName(tr("Usage per user"))
        self.usage_status = QLabel()
        row = QHBoxLayout()
        row.addWidget(QLabel(tr("From")))
        row.addWidget(self.first_edit)
        row.addWidget(QLabel(tr("to")))
        row.addWidget(self.last_edit)
        row.addWidget(self.usage_button)
        row.addStretch(1)
        lay = QVBoxLayout(page)
        lay.addLayout(row)
        lay.addWidget(self.usage_table, 1)
        lay.addWidget(self.usage_status)
        return page

    def load_usage(self) -> None:
        first: date = self.first_edit.date().toPython()  # type: ignore[assignment]
        last: date = self.last_edit.date().toPython()  # type: ignore[assignment]
        if last < first:
            self.usage_status.setText(tr("The end date is before the start date."))
            return
        client, team = self.client, self.team
        self.usage_status.setText(tr("Loading…"))
        run_in_worker(lambda: client.usage(team, first, last), on_success=self._show_usage,
                      on_failure=lambda exc: self.usage_status.setText(user_message(exc)),
                      parent=self)

    def _show_usage(self, usage: Usage) -> None:
        self.usage_table.setRowCount(len(usage.users))
        for i, u in enumerate(usage.users):
            cells = (u.user or tr("(no owner)"), str(u.calls),
                     f"{u.billable_seconds / 60:.1f}", f"{u.cost:.2f}")
            for c, text in enumerate(cells):
                self.usage_table.setItem(i, c, QTableWidgetItem(text))
        total = sum((u.cost for u in usage.users), start=type(usage.users[0].cost)(0)) \
            if usage.users else 0
        self.usage_status.setText(tr("{first} to {last}: {n} users, total cost {total}").format(
            first=usage.first, last=usage.last, n=len(usage.users), total=f"{total:.2f}"))
