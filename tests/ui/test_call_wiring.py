"""The composition root wires a ringing call: ring window, queue, screen pop, history row.

Logged in through the real server; the SIP call is a fake (no Asterisk here), the server's
`call.ringing` event is handed to the app as the event stream would.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from pytestqt.qtbot import QtBot

from agent_desktop.app import AgentApp
from agent_desktop.history import HistoryStore
from agent_desktop.screenpop import PopWhen, ScreenPop, ScreenPopSettings
from agent_desktop.session.client import ApiClient
from agent_desktop.session.state import AgentStateMachine
from agent_desktop.sip import CallState
from agent_desktop.ui.login import LoginWindow
from agent_desktop.ui.main_window import MainWindow
from tests.support.live import LiveServer
from tests.ui.fakes import FakeCall, no_keyring

TEMPLATE = "https://crm.example/search?phone={caller_id}&queue={queue}"
RING = {"agent": "1004", "device": "1004", "caller_id": "5550123", "caller_name": "Ada",
        "queue": "sales", "call_id": "1700000000.7"}


class Seat:
    def __init__(self, qtbot: QtBot, tmp_path: Path, when: PopWhen) -> None:
        self.login = LoginWindow()
        qtbot.addWidget(self.login)
        self.opened: list[str] = []
        self.history = HistoryStore(tmp_path / "history.sqlite3")
        self.app = AgentApp(
            login_window=self.login, machine=AgentStateMachine(), store=no_keyring(),
            client_factory=lambda url: ApiClient(url, client_version="ui/1"),
            terminal="ui-wiring", quit_app=lambda: None, history=self.history,
            screen_pop=ScreenPop(ScreenPopSettings(TEMPLATE, when),
                                 opener=lambda url: self.opened.append(url) is None))

    @property
    def window(self) -> MainWindow:
        assert self.app.window is not None
        return self.app.window


@pytest.fixture(params=[PopWhen.RING])
def seat(request: pytest.FixtureRequest, qtbot: QtBot, tmp_path: Path,
         server: LiveServer) -> Iterator[Seat]:
    s = Seat(qtbot, tmp_path, request.param)
    s.login.prefill(server=server.base_url, team="demo", agent="1004", password="demo")
    s.login.login_button.click()
    qtbot.waitUntil(lambda: s.app.window is not None and s.window.isVisible(), timeout=10000)
    # The history view joins the main window a loop turn after it is shown (AgentApp).
    qtbot.waitUntil(lambda: s.window.history_view is not None, timeout=5000)
    s.app.account = SimpleNamespace()  # a registered softphone (the call itself is a fake)
    yield s
    s.app.finish()
    s.window.close()
    s.window.deleteLater()


def test_event_first_then_invite(qtbot: QtBot, seat: Seat) -> None:
    seat.app._on_event("call.ringing", RING, 41)
    call = FakeCall("5550123")
    seat.app.on_incoming_call(call)
    ring = seat.app.calls[call.key].window
    assert ring is not None
    assert ring.isVisible()
    assert ring.queue_label.text() == "Queue: sales"
    assert ring.name_label.text() == "Ada"
    assert seat.opened == ["https://crm.example/search?phone=5550123&queue=sales"]
    assert seat.window.call_panel.call is call  # type: ignore[comparison-overlap]
    ring.answer_button.click()
    assert call.actions == ["answer 200"]
    assert not ring.isVisible()
    assert seat.window.call_panel.timer_label.text() == "00:00"
    history = seat.window.history_view
    assert history is not None
    call.hangup()
    qtbot.waitUntil(lambda: history.numbers() == ["5550123"], timeout=5000)
    item = history.list.topLevelItem(0)
    assert item is not None
    assert (item.text(1), item.text(3), item.text(4)) == ("↙ in", "Ada", "sales")
    assert seat.opened == ["https://crm.example/search?phone=5550123&queue=sales"]


def test_invite_first_waits_for_the_queue(qtbot: QtBot, seat: Seat) -> None:
    call = FakeCall("5550123")
    seat.app.on_incoming_call(call)
    assert seat.opened == []  # waiting (briefly) for the server's queue name
    seat.app._on_event("call.ringing", RING, 42)
    assert seat.opened == ["https://crm.example/search?phone=5550123&queue=sales"]
    ring = seat.app.calls[call.key].window
    assert ring is not None
    assert ring.queue_label.text() == "Queue: sales"
    call.set_state(CallState.DISCONNECTED)  # answered by another agent: the queue cancels
    assert not ring.isVisible()
    history = seat.window.history_view
    assert history is not None
    qtbot.waitUntil(lambda: history.numbers() == ["5550123"], timeout=5000)
    item = history.list.topLevelItem(0)
    assert item is not None
    assert item.text(1) == "✗ missed"


def test_another_agents_ring_is_not_this_seats(qtbot: QtBot, seat: Seat) -> None:
    """A team admin's stream carries the whole team's calls: the same caller ringing another
    agent names neither the queue nor the caller of this seat's call."""
    seat.app._on_event("call.ringing", RING | {"agent": "1002"}, 43)
    call = FakeCall("5550123")
    seat.app.on_incoming_call(call)
    assert seat.opened == []  # still waiting for this agent's own ring event
    qtbot.waitUntil(lambda: bool(seat.opened), timeout=3000)
    assert seat.opened == ["https://crm.example/search?phone=5550123&queue="]
    ring = seat.app.calls[call.key].window
    assert ring is not None
    assert ring.queue_label.text() != "Queue: sales"
    call.reject()


def test_no_queue_event_pops_after_a_short_wait(qtbot: QtBot, seat: Seat) -> None:
    call = FakeCall("2002", key="call-9")
    seat.app.on_incoming_call(call)
    qtbot.waitUntil(lambda: bool(seat.opened), timeout=3000)
    assert seat.opened == ["https://crm.example/search?phone=2002&queue="]
    call.reject()


def test_a_team_admin_without_a_seat_has_a_phone_in_the_team_view(
        qtbot: QtBot, tmp_path: Path, server: LiveServer) -> None:
    """The supervisor (a team admin without an agent seat) registers a phone for listen,
    whisper and barge calls. Other calls to it ring and are answered in the team view, and
    calls are placed from there (a second launch's --dial too); a listen call does not ring."""
    s = Seat(qtbot, tmp_path, PopWhen.RING)
    s.login.prefill(server=server.base_url, team="demo", agent="supervisor", password="demo")
    s.login.login_button.click()
    qtbot.waitUntil(lambda: s.app.team_window is not None and s.app.team_window.isVisible(),
                    timeout=10000)
    team = s.app.team_window
    assert team is not None
    assert s.app.window is None
    assert team.phone_box.isVisible()
    try:
        # Not registered yet: the request waits for the phone.
        assert s.app.handle_request({"dial": "8001"}) == "pending"
        s.app._pending_dial = ""
        team.number_edit.setText("8001")
        team.call_button.click()
        assert team.status_label.text() == "The phone is not registered."

        placed = FakeCall("8001", key="out-1", state=CallState.CALLING)
        dialled: list[str] = []
        s.app.account = SimpleNamespace(
            make_call=lambda number: dialled.append(number) or placed)
        assert s.app.handle_request({"dial": "8002"}) == "ok"
        assert dialled == ["8002"]
        assert team.number_edit.text() == "8002"
        assert team.call_panel.call is placed  # type: ignore[comparison-overlap]
        team.call_panel.hangup_button.click()
        assert placed.actions == ["hangup"]

        call = FakeCall("5550123", key="in-1")
        s.app.on_incoming_call(call)
        ring = s.app.calls[call.key].window
        assert ring is not None
        assert ring.isVisible()
        assert team.call_panel.call is call  # type: ignore[comparison-overlap]
        ring.answer_button.click()
        assert call.actions == ["answer 200"]
        assert team.call_panel.hangup_button.isEnabled()
        call.hangup()

        listen = FakeCall("*555", key="listen-1")
        listen.auto_answer_after = 0.0  # Call-Info: answer-after=0 (the spy call)
        s.app.on_incoming_call(listen)
        assert listen.key not in s.app.calls
        assert team.call_panel.call is call  # type: ignore[comparison-overlap]
    finally:
        s.app.finish()
        team.hide()
        team.deleteLater()
