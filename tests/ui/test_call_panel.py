"""Dial pad, call timer and blind transfer in the main window (a fake call, no server)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from agent_desktop.session.client import ApiClient
from agent_desktop.session.state import AgentStateMachine
from agent_desktop.sip import CallState
from agent_desktop.ui.main_window import MainWindow
from tests.ui.fakes import FakeCall


@pytest.fixture
def window(qtbot: QtBot) -> Iterator[MainWindow]:
    machine = AgentStateMachine()
    client = ApiClient("http://127.0.0.1:9", client_version="ui/1")  # never contacted here
    w = MainWindow(machine, client)
    qtbot.addWidget(w)
    machine.sip_registration("registered", "200 OK")
    yield w
    client.close()


def test_dial_pad_types_the_number_without_a_call(qtbot: QtBot, window: MainWindow) -> None:
    for key in "12*#":
        window.dialpad.press(key)
    assert window.number_edit.text() == "12*#"
    with qtbot.waitSignal(window.call_requested, timeout=1000) as sig:
        qtbot.mouseClick(window.call_button, Qt.MouseButton.LeftButton)
    assert sig.args == ["12*#"]


def test_dial_pad_sends_dtmf_to_the_current_call(qtbot: QtBot, window: MainWindow) -> None:
    window.number_edit.setText("2002")
    call = FakeCall(state=CallState.CALLING)
    window.set_call(call)  # type: ignore[arg-type]
    window.dialpad.press("5")  # not connected yet: no DTMF, a digit of the number
    assert call.dtmf == []
    call.set_state(CallState.CONFIRMED)
    assert window.dialpad.isEnabled()
    for key in "5#":
        window.dialpad.press(key)
    assert call.dtmf == ["5", "#"]
    assert window.number_edit.text() == "20025"  # the keys went to the call, not the field
    assert "keys sent: 5#" in window.call_panel.state_label.text()
    call.hangup()
    window.dialpad.press("9")
    assert call.dtmf == ["5", "#"]
    assert window.number_edit.text() == "200259"


def test_call_timer_runs_while_confirmed(qtbot: QtBot, window: MainWindow) -> None:
    call = FakeCall()
    window.set_call(call)  # type: ignore[arg-type]
    assert window.call_panel.timer_label.text() == ""  # ringing: no timer yet
    call.answer()
    assert window.call_panel.timer_label.text() == "00:00"
    qtbot.waitUntil(lambda: window.call_panel.timer_label.text() == "00:01", timeout=2500)
    call.hangup()
    assert window.call_panel.timer_label.text() == "00:01"  # frozen at the end
    assert not window.call_panel._tick.isActive()


def test_blind_transfer_asks_for_the_number(qtbot: QtBot, window: MainWindow) -> None:
    call = FakeCall(state=CallState.CONFIRMED)
    window.set_call(call)  # type: ignore[arg-type]
    panel = window.call_panel
    assert panel.transfer_button.isEnabled()
    panel.ask_transfer_target = lambda: None  # cancelled
    panel.transfer_button.click()
    assert call.transfers == []
    panel.ask_transfer_target = lambda: " 2002 "
    panel.transfer_button.click()
    assert call.transfers == ["2002"]
    assert "transferring to 2002" in panel.state_label.text()
    call.transfer_status.emit(603, "Decline", True)
    assert "transfer failed: 603 Decline" in panel.state_label.text()
