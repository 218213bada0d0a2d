"""The main window from a real /me snapshot; its actions reach the real server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytestqt.qtbot import QtBot

from agent_desktop.session.client import ApiClient
from agent_desktop.session.state import AgentStateMachine, Sip
from agent_desktop.ui.main_window import STATIC_TOOLTIP, MainWindow
from tests.support.live import LiveServer


@pytest.fixture
def agent_1004(server: LiveServer) -> Iterator[tuple[ApiClient, AgentStateMachine, MainWindow]]:
    client = ApiClient(server.base_url, client_version="ui/1")
    result = client.login("demo", "1004", "demo", terminal_id="ui-main")
    machine = AgentStateMachine()
    machine.login_succeeded(result)
    window = MainWindow(machine, client)
    window.apply_me(client.me())
    yield client, machine, window
    window.close()
    window.deleteLater()
    client.close()


def test_groups_from_me_with_static_locked(qtbot: QtBot, agent_1004: tuple[
        ApiClient, AgentStateMachine, MainWindow]) -> None:
    _, _, window = agent_1004
    qtbot.addWidget(window)
    support, sales = window.group_row("support"), window.group_row("sales")
    assert support.static
    assert not support.box.isEnabled()
    assert support.box.isChecked()
    assert support.toolTip() == STATIC_TOOLTIP == "static member: always in the queue"
    assert not sales.static
    assert sales.box.isEnabled()
    assert not sales.box.isChecked()


def test_toggling_a_group_checks_in_at_the_server(qtbot: QtBot, agent_1004: tuple[
        ApiClient, AgentStateMachine, MainWindow]) -> None:
    client, machine, window = agent_1004
    qtbot.addWidget(window)
    sales = window.group_row("sales")
    sales.box.click()
    assert not sales.box.isEnabled()  # pending until the server answers
    qtbot.waitUntil(lambda: "sales" in machine.state.checked_in and sales.box.isEnabled(),
                    timeout=10000)
    assert sales.box.isChecked()
    assert sales.state_label.text() == "in the queue"
    me = client.me()
    assert me.agent is not None
    assert {g.name: g.checked_in for g in me.agent.groups}["sales"] is True
    sales.box.click()
    qtbot.waitUntil(lambda: "sales" not in machine.state.checked_in and sales.box.isEnabled(),
                    timeout=10000)
    me = client.me()
    assert me.agent is not None
    assert {g.name: g.checked_in for g in me.agent.groups}["sales"] is False


def test_pause_menu_lists_the_teams_reasons_and_pauses(qtbot: QtBot, agent_1004: tuple[
        ApiClient, AgentStateMachine, MainWindow]) -> None:
    client, machine, window = agent_1004
    qtbot.addWidget(window)
    me = client.me()
    assert window.pause_reason_labels() == [r.label for r in me.pause_reasons]
    assert len(me.pause_reasons) >= 5
    lunch = next(a for a in window.pause_menu.actions() if a.data() == "lunch")
    lunch.trigger()
    qtbot.waitUntil(lambda: machine.state.pause is not None, timeout=10000)
    assert "Paused" in window.session_chip.text()
    assert window.unpause_action.isEnabled()
    window.unpause_action.trigger()
    qtbot.waitUntil(lambda: machine.state.pause is None, timeout=10000)


def test_chips_and_status_line_say_what_happened(qtbot: QtBot, agent_1004: tuple[
        ApiClient, AgentStateMachine, MainWindow]) -> None:
    _, machine, window = agent_1004
    qtbot.addWidget(window)
    machine.sip_registration("failed", "no answer from 127.0.0.1:5060 — 408 Request Timeout")
    assert machine.state.sip is Sip.FAILED
    assert window.sip_chip.text().startswith("Phone: not registered (no answer from")
    assert not window.call_button.isEnabled()
    machine.on_event("agent.paused", {"agent": "1004", "by": "supervisor",
                                      "reason": "team meeting", "pause_reason": "meeting"}, 90)
    assert window.status_label.text() == "Paused by supervisor: team meeting"
    machine.on_event("agent.checked_out", {"agent": "1004", "group": "sales",
                                           "by": "supervisor", "reason": "too many agents"}, 91)
    assert window.status_label.text() == "Checked out of sales by supervisor: too many agents"
    machine.session_ended("session_expired")
    assert window.status_label.text().startswith("Logged out: timeout")
    assert window.relogin_button.isVisibleTo(window)
    with qtbot.waitSignal(window.relogin_requested, timeout=1000):
        window.relogin_button.click()
