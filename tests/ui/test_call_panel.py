"""Dial pad, call timer and blind transfer in the main window (a fake call, no server)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from agent_desktop.session.client import ApiClient
from agent_desktop.session.state import AgentStateMachine
from agent_desktop.sip import CallQuality, CallState
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
    panel.ask_transfer_target = lambda title: None  # cancelled
    panel.blind_action.trigger()
    assert call.transfers == []
    panel.ask_transfer_target = lambda title: " 2002 "
    panel.blind_action.trigger()
    assert call.transfers == ["2002"]
    assert "transferring to 2002" in panel.state_label.text()
    call.transfer_status.emit(603, "Decline", True)
    assert "transfer failed: 603 Decline" in panel.state_label.text()


def test_warm_transfer_consult_swap_complete(qtbot: QtBot, window: MainWindow) -> None:
    call = FakeCall(number="5550123", state=CallState.CONFIRMED)
    window.set_call(call)  # type: ignore[arg-type]
    panel = window.call_panel
    consults: list[FakeCall] = []

    def place(number: str) -> FakeCall:
        consults.append(FakeCall(number=number, key="call-2", state=CallState.CALLING))
        return consults[-1]

    assert not panel.consult_action.isEnabled()  # nothing to place calls with yet
    panel.place_call = place  # type: ignore[assignment]
    panel.ask_transfer_target = lambda title: "2002"
    window.set_call(call)  # type: ignore[arg-type]
    assert panel.consult_action.isEnabled()
    panel.consult_action.trigger()
    assert call.held  # the caller waits on hold
    consult = consults[0]
    assert panel.consult is consult
    assert panel.complete_button.isVisible() or not panel.isVisible()
    assert not panel.complete_button.isEnabled()  # not answered yet
    consult.set_state(CallState.CONFIRMED)
    assert "Consulting 2002: talking" in panel.consult_label.text()
    assert panel.active is consult
    # Swap: talk to the caller again, the consulted party waits.
    panel.swap_button.click()
    assert consult.held
    assert not call.held
    assert panel.active is call
    window.dialpad.press("7")  # DTMF goes to the call being talked to
    assert call.dtmf == ["7"]
    assert consult.dtmf == []
    panel.swap_button.click()
    assert panel.active is consult
    panel.complete_button.click()
    assert call.transfers == ["replaces call-2"]
    call.transfer_status.emit(200, "OK", True)
    assert "transferred" in panel.state_label.text()
    consult.set_state(CallState.DISCONNECTED)
    call.set_state(CallState.DISCONNECTED)
    assert panel.consult is None


def test_warm_transfer_cancel_resumes_the_caller(qtbot: QtBot, window: MainWindow) -> None:
    call = FakeCall(state=CallState.CONFIRMED)
    panel = window.call_panel
    consult = FakeCall(number="2002", key="call-2", state=CallState.CONFIRMED)
    panel.place_call = lambda number: consult  # type: ignore[assignment,return-value]
    panel.ask_transfer_target = lambda title: "2002"
    window.set_call(call)  # type: ignore[arg-type]
    panel.consult_action.trigger()
    assert call.held
    panel.cancel_consult_button.click()
    assert consult.actions == ["hangup"]
    assert not call.held
    assert panel.consult is None
    assert panel.active is call


def test_caller_leaving_during_consult_leaves_the_consulted_call(
        qtbot: QtBot, window: MainWindow) -> None:
    call = FakeCall(state=CallState.CONFIRMED)
    panel = window.call_panel
    consult = FakeCall(number="2002", key="call-2", state=CallState.CONFIRMED)
    panel.place_call = lambda number: consult  # type: ignore[assignment,return-value]
    panel.ask_transfer_target = lambda title: "2002"
    window.set_call(call)  # type: ignore[arg-type]
    panel.consult_action.trigger()
    call.set_state(CallState.DISCONNECTED)
    assert panel.call is consult
    assert panel.consult is None
    assert panel.caller_label.text() == "2002"


def test_record_and_quality(qtbot: QtBot, window: MainWindow, tmp_path: Path) -> None:
    call = FakeCall(state=CallState.CONFIRMED)
    panel = window.call_panel
    window.set_call(call)  # type: ignore[arg-type]
    assert not panel.record_button.isEnabled()  # no recordings folder configured
    panel.recordings_dir = tmp_path / "rec"
    window.set_call(call)  # type: ignore[arg-type]
    panel.record_button.click()
    assert call.recording_path.startswith(str(tmp_path / "rec"))
    assert call.recording_path.endswith("-5550123.wav")
    assert "● recording" in panel.state_label.text()
    assert panel.record_button.text() == "Stop recording"
    panel.record_button.click()
    assert call.recording_path == ""
    assert "recording" not in panel.state_label.text()

    call.call_quality = CallQuality(jitter_ms=3.2, loss_percent=0.0, rtt_ms=12.0,
                                    rx_packets=500, lost_packets=0, mos=4.4)
    panel.show_quality()
    assert panel.quality_label.text() == (
        "Quality good: MOS 4.4 · jitter 3 ms · loss 0.0% · RTT 12 ms")
    call.call_quality = CallQuality(jitter_ms=60, loss_percent=8.0, rtt_ms=400.0,
                                    rx_packets=500, lost_packets=40, mos=2.1)
    panel.show_quality()
    assert panel.quality_label.text().startswith("Quality poor: MOS 2.1")
