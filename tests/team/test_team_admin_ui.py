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


def test_a_team_admin_with_a_seat_gets_the_team_view_beside_it(
        qtbot: QtBot, server: LiveServer) -> None:
    from agent_desktop.app import AgentApp
    from agent_desktop.session.state import AgentStateMachine
    from agent_desktop.ui.login import LoginWindow
    from tests.ui.fakes import no_keyring

    server.provision({"teams": [{"name": "demo", "agents": [
        {"number": "1009", "name": "Sue (supervisor's seat)", "password": "demo",
         "owner": "frontdesk", "device_mode": "fixed", "device": "8003",
         "admin_account": "supervisor", "groups": [{"name": "sales"}]}]}]})
    login = LoginWindow()
    qtbot.addWidget(login)
    app = AgentApp(login_window=login, machine=AgentStateMachine(), store=no_keyring(),
                   client_factory=lambda url: ApiClient(url, client_version="test/1"),
                   terminal="seat-test", quit_app=lambda: None)
    login.prefill(server=server.base_url, team="demo", agent="supervisor", password="demo")
    login.login_button.click()
    qtbot.waitUntil(lambda: app.window is not None and app.window.isVisible(), timeout=10000)
    assert app.window is not None
    assert app.window.team_button.isVisibleTo(app.window)
    assert app.team_window is None
    app.window.team_button.click()
    assert app.team_window is not None
    qtbot.waitUntil(lambda: app.team_window is not None
                    and app.team_window.model.rowCount() == 5, timeout=5000)
    assert app.window.isVisible()  # the seat stays
    app.finish()
    for w in (app.window, app.team_window):
        w.close()
        w.deleteLater()
