"""The incoming-call window: caller, queue, Answer / Reject by button and by keyboard."""

from __future__ import annotations

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from agent_desktop.sip import CallState
from agent_desktop.ui.incoming import IncomingCallWindow, RingInfo
from tests.ui.fakes import FakeCall


def show(qtbot: QtBot, call: FakeCall, info: RingInfo | None = None) -> IncomingCallWindow:
    w = IncomingCallWindow(call, info)
    qtbot.addWidget(w)
    w.present()
    qtbot.waitExposed(w)
    return w


def test_shows_caller_number_name_and_queue(qtbot: QtBot) -> None:
    w = show(qtbot, FakeCall("5550123", "Ada Lovelace"),
             RingInfo("5550123", "Ada Lovelace", "sales", "1700.1"))
    assert w.number_label.text() == "5550123"
    assert w.name_label.text() == "Ada Lovelace"
    assert w.queue_label.isVisibleTo(w)
    assert w.queue_label.text() == "Queue: sales"
    assert "Ada Lovelace" in w.windowTitle()


def test_queue_arrives_after_the_invite(qtbot: QtBot) -> None:
    w = show(qtbot, FakeCall("5550123"))
    assert not w.queue_label.isVisibleTo(w)  # no queue named: no empty chip
    assert not w.name_label.isVisibleTo(w)
    w.set_ring_info(RingInfo("5550123", "Grace Hopper", "support"))
    assert w.queue_label.text() == "Queue: support"
    assert w.name_label.text() == "Grace Hopper"


def test_answer_button_answers_and_closes(qtbot: QtBot) -> None:
    call = FakeCall()
    w = show(qtbot, call)
    with qtbot.waitSignal(w.answered, timeout=1000):
        qtbot.mouseClick(w.answer_button, Qt.MouseButton.LeftButton)
    assert call.actions == ["answer 200"]
    assert not w.isVisible()


def test_reject_button_rejects(qtbot: QtBot) -> None:
    call = FakeCall()
    w = show(qtbot, call)
    with qtbot.waitSignal(w.rejected, timeout=1000):
        qtbot.mouseClick(w.reject_button, Qt.MouseButton.LeftButton)
    assert call.actions == ["reject 486"]
    assert not w.isVisible()


def test_enter_answers_and_escape_rejects(qtbot: QtBot) -> None:
    call = FakeCall()
    w = show(qtbot, call)
    qtbot.keyClick(w, Qt.Key.Key_Return)  # type: ignore[no-untyped-call]
    assert call.actions == ["answer 200"]
    other = FakeCall(key="call-2")
    w2 = show(qtbot, other)
    # Sent to a focused button, the keys still reach the window.
    qtbot.keyClick(w2.answer_button, Qt.Key.Key_Escape)  # type: ignore[no-untyped-call]
    assert other.actions == ["reject 486"]


def test_closes_when_answered_elsewhere_or_ended(qtbot: QtBot) -> None:
    call = FakeCall()
    w = show(qtbot, call)
    with qtbot.waitSignal(w.closed, timeout=1000):
        call.set_state(CallState.DISCONNECTED)  # the queue cancelled: another agent took it
    assert not w.isVisible()
    assert call.actions == []
    qtbot.keyClick(w, Qt.Key.Key_Return)  # type: ignore[no-untyped-call]
    assert call.actions == []  # nothing to answer any more
