"""The login window against the real server: the agent's words, a live event loop."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt, QTimer
from pytestqt.qtbot import QtBot

from agent_desktop.app import AgentApp
from agent_desktop.session.client import ApiClient
from agent_desktop.session.state import AgentStateMachine, Session, Sip
from agent_desktop.ui.login import LoginWindow
from tests.session.support import FakeServer, Reply, fake_server, json_reply
from tests.support.live import LiveServer
from tests.ui.fakes import no_keyring


class Seat:
    def __init__(self, qtbot: QtBot, timeout: tuple[float, float] = (2.0, 5.0)) -> None:
        self.login = LoginWindow()
        qtbot.addWidget(self.login)
        self.machine = AgentStateMachine()
        self.quits: list[int] = []
        self.app = AgentApp(
            login_window=self.login, machine=self.machine, store=no_keyring(),
            client_factory=lambda url: ApiClient(url, timeout=timeout, client_version="ui/1"),
            terminal="ui-test", quit_app=lambda: self.quits.append(1),
        )

    def fill(self, server: str, agent: str = "1001", password: str = "demo") -> None:
        self.login.prefill(server=server, team="demo", agent=agent, password=password)


@pytest.fixture
def seat(qtbot: QtBot) -> Iterator[Seat]:
    s = Seat(qtbot)
    yield s
    s.app.finish()
    if s.app.window is not None:
        s.app.window.close()
        s.app.window.deleteLater()


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    with fake_server() as srv:
        yield srv


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_wrong_password_in_the_agents_words(qtbot: QtBot, seat: Seat,
                                             server: LiveServer) -> None:
    seat.fill(server.base_url, password="not-the-password")
    qtbot.keyClick(seat.login.password_edit, Qt.Key.Key_Return)  # type: ignore[no-untyped-call]
    assert seat.login.busy  # the reply has not come yet: the click returned at once
    assert not seat.login.login_button.isEnabled()
    qtbot.waitUntil(lambda: not seat.login.busy, timeout=10000)
    assert seat.login.error_text == "Wrong team, agent number or password."
    assert seat.machine.state.session is Session.LOGGED_OUT
    assert seat.app.window is None


def test_unreachable_server_in_the_agents_words(qtbot: QtBot, seat: Seat) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    seat.fill(url)
    seat.login.login_button.click()
    qtbot.waitUntil(lambda: not seat.login.busy, timeout=10000)
    assert seat.login.error_text == (
        f"Can't reach the call-center server at {url}: nothing answers there.")


def test_not_an_address(qtbot: QtBot, seat: Seat) -> None:
    seat.fill("ftp://example")
    seat.login.login_button.click()
    assert "is not a server address" in seat.login.error_text
    assert not seat.login.busy


def test_a_silent_server_never_freezes_the_window(qtbot: QtBot) -> None:
    """A server that accepts and never answers: the loop keeps ticking while we wait."""
    seat = Seat(qtbot, timeout=(1.0, 1.0))
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        seat.fill(url)
        ticks: list[int] = []
        timer = QTimer()
        timer.timeout.connect(lambda: ticks.append(1))
        timer.start(20)
        seat.login.login_button.click()
        assert seat.login.busy
        assert seat.login.progress.isVisibleTo(seat.login)
        qtbot.waitUntil(lambda: not seat.login.busy, timeout=10000)
        timer.stop()
    # ~1 s of read timeout at a 20 ms tick: a frozen loop would have ticked at most once.
    assert len(ticks) >= 20, ticks
    assert seat.login.error_text == (
        f"Can't reach the call-center server at {url}: it does not answer.")
    seat.app.finish()


def test_login_shows_the_main_window_and_quit_logs_out(qtbot: QtBot, seat: Seat,
                                                      server: LiveServer) -> None:
    seat.fill(server.base_url)
    seat.login.remember_box.setChecked(True)
    seat.login.login_button.click()
    qtbot.waitUntil(lambda: seat.app.window is not None and seat.app.window.isVisible(),
                    timeout=10000)
    window = seat.app.window
    assert window is not None
    assert seat.machine.state.session is Session.ACTIVE
    # No SIP engine in this test: the chip says so plainly.
    assert seat.machine.state.sip is Sip.FAILED
    assert "not registered" in window.sip_chip.text()
    assert window.server_chip.text() == "Server: connected"
    # The keyring has no backend here: the agent is told the password is not remembered.
    assert "won't be remembered" in window.status_label.text()
    assert not seat.login.isVisible()
    terminal = server.login("supervisor", terminal="sv")
    assert next(s for s in terminal.get("/api/v1/teams/demo/board").json()["agents"]
            if s["number"] == "1001")["sessions"]
    seat.app.request_quit()
    qtbot.waitUntil(lambda: bool(seat.quits), timeout=10000)
    board = terminal.get("/api/v1/teams/demo/board").json()
    assert not next(s for s in board["agents"] if s["number"] == "1001")["sessions"]


@pytest.mark.parametrize(("reply", "words"), [
    (Reply(200, b"<html><body>Welcome to nginx!</body></html>", "text/html"),
     "gave an answer this app does not understand"),
    (Reply(201, b'{"token": "abc", ', "application/json"),
     "gave an answer this app does not understand"),
    (Reply(201, b'{"hello": "world"}', "application/json"),
     "gave an answer this app does not understand"),
    (Reply(500, b"<html>Internal Server Error</html>", "text/html"),
     "The call-center server has a problem. Try again in a moment."),
    (json_reply({"type": "about:blank", "title": "Too many", "status": 429,
                 "code": "rate_limited"}, 429, **{"Retry-After": "30"}),
     "Too many failed attempts. Wait 30 seconds and try again."),
    (Reply(404, b"<html>Not Found</html>", "text/html"),
     "does not look like a call-center server"),
], ids=["html", "broken-json", "wrong-shape", "500", "429", "404-html"])
def test_bad_answers_in_the_agents_words(qtbot: QtBot, seat: Seat, fake: FakeServer,
                                         reply: Reply, words: str) -> None:
    """What a new user meets with a wrong URL or a broken server: words, never a crash."""
    fake.routes["/api/v1/sessions"] = reply
    seat.fill(fake.base_url)
    seat.login.login_button.click()
    qtbot.waitUntil(lambda: not seat.login.busy, timeout=10000)
    assert words in seat.login.error_text
    assert seat.machine.state.session is Session.LOGGED_OUT
    assert seat.app.window is None


def test_a_supervisor_after_an_agent_keeps_nothing_of_the_agents_seat(
        qtbot: QtBot, seat: Seat, server: LiveServer) -> None:
    """The same app: agent 1001 is logged out by a supervisor, then the supervisor logs in
    (team view alone). The team's events about 1001 and a resync neither change the
    supervisor's state nor refresh 1001's (hidden) window, whose client is logged out: its
    "not logged in" would end the supervisor's session."""
    seat.fill(server.base_url)
    seat.login.login_button.click()
    qtbot.waitUntil(lambda: seat.app.window is not None and seat.app.window.isVisible(),
                    timeout=10000)
    admin = server.login("supervisor", terminal="sv")
    r = admin.post("/api/v1/teams/demo/agents/1001/logout", json={"reason": "end of shift"})
    assert r.status_code == 200, r.text
    qtbot.waitUntil(lambda: seat.machine.state.session is Session.ENDED, timeout=10000)
    window = seat.app.window
    assert window is not None
    refreshed: list[int] = []
    window.refresh = lambda: refreshed.append(1)  # type: ignore[method-assign]

    seat.login.show()
    seat.fill(server.base_url, agent="supervisor")
    seat.login.login_button.click()
    qtbot.waitUntil(lambda: seat.app.team_window is not None
                    and seat.app.team_window.isVisible(), timeout=10000)
    before = seat.machine.state
    assert before.session is Session.ACTIVE
    # 1001's seat is parked: hidden, and no longer what rings, pops up or comes to the front.
    assert seat.app.window is None
    assert not window.isVisible()
    seat.app._on_event("agent.wrapup_started", {"agent": "1001", "until": "later"}, 90)
    seat.app._on_event("call.ringing", {"agent": "1001", "caller_id": "555"}, 91)
    seat.app.refetch()
    assert refreshed == []
    assert seat.machine.state == before
    team = seat.app.team_window
    assert team is not None
    # A dial request is the supervisor's phone's (before, 1001's hidden seat would have
    # dialled it); that phone is not registered here, so it waits.
    assert seat.app.handle_request({"dial": "8001"}) == "pending"
    assert team.phone_box.isVisible()
    assert not window.isVisible()
    seat.app._pending_dial = ""

    # The supervisor's session ends; 1001 logs in again: the same seat, and no team view.
    seat.app._session_over("session_ended", "")  # as when its stream says so
    seat.login.show()
    seat.fill(server.base_url)
    seat.login.login_button.click()
    qtbot.waitUntil(lambda: seat.app.window is window and window.isVisible(), timeout=10000)
    assert seat.app.team_window is None
    assert not team.isVisible()
