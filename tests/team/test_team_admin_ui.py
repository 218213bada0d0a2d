"""Team management from the app: the configuration document (load, validate, save, the
server's own error with where) and the usage per user, against the real server."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from pytestqt.qtbot import QtBot

from agent_desktop.session.client import ApiClient
from agent_desktop.ui.team_admin import TeamAdminDialog
from tests.support.live import LiveServer


@pytest.fixture
def dialog(qtbot: QtBot, server: LiveServer) -> Iterator[TeamAdminDialog]:
    client = ApiClient(server.base_url, client_version="test/1")
    client.login("demo", "supervisor", "demo", terminal_id="admin-ui")
    d = TeamAdminDialog(client, "demo")
    qtbot.addWidget(d)
    qtbot.waitUntil(lambda: "As on the server" in d.config_status.text(), timeout=5000)
    yield d
    client.close()


def edited(d: TeamAdminDialog, **changes: object) -> str:
    doc = json.loads(d.editor.toPlainText())
    doc["teams"][0].update(changes)
    return json.dumps(doc)


def test_config_loads_without_secrets_and_saves(qtbot: QtBot, dialog: TeamAdminDialog,
                                               server: LiveServer) -> None:
    text = dialog.editor.toPlainText()
    doc = json.loads(text)
    team = doc["teams"][0]
    assert team["name"] == "demo"
    assert {a["number"] for a in team["agents"]} == {"1001", "1002", "1003", "1004"}
    assert "password" not in text
    assert "demo\"" not in text.replace('"demo"', "")  # no secret values either

    dialog.editor.setPlainText(edited(dialog, heartbeat_interval_s=30, session_timeout_s=120))
    dialog.save_button.click()
    qtbot.waitUntil(lambda: "Saved" in dialog.config_status.text(), timeout=5000)
    admin = server.login("supervisor", terminal="check")
    assert admin.get("/api/v1/teams/demo/board").json()["heartbeat_interval_s"] == 30


def test_bad_documents_are_refused_with_where(qtbot: QtBot, dialog: TeamAdminDialog) -> None:
    dialog.editor.setPlainText('{"teams": [ {"name": "demo",, } ]}')
    dialog.save_button.click()
    assert "Not valid JSON at line 1" in dialog.config_status.text()
    dialog.editor.setPlainText('{"teams": [{"name": "other"}]}')
    dialog.save_button.click()
    assert "must stay demo" in dialog.config_status.text()
    dialog.reload_button.click()
    qtbot.waitUntil(lambda: "As on the server" in dialog.config_status.text(), timeout=5000)
    dialog.editor.setPlainText(edited(dialog, heartbeat_interval_s=60, session_timeout_s=30))
    dialog.save_button.click()
    qtbot.waitUntil(lambda: "session_timeout_s must exceed" in dialog.config_status.text(),
                    timeout=5000)


def test_usage_per_user(qtbot: QtBot, dialog: TeamAdminDialog) -> None:
    dialog.tabs.setCurrentIndex(1)
    dialog.usage_button.click()
    qtbot.waitUntil(lambda: "total cost" in dialog.usage_status.text()
                    or "0 users" in dialog.usage_status.text(), timeout=5000)
