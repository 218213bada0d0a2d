"""EventStream against the real server, plus the SSE parser and a scripted stream."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from agent_desktop.session.client import ApiClient
from agent_desktop.session.events import EventStream, SseParser, split_lines
from callcenter_server.app import Settings
from tests.session.conftest import agent_client
from tests.session.support import LOGIN, FakeServer, GatedSession, json_reply
from tests.support.live import LiveServer, start_live_server
from tests.support.postgres import free_port


class Recorder:
    """Collects event_received on the GUI thread and checks that it is the GUI thread."""

    def __init__(self, stream: EventStream) -> None:
        self.events: list[tuple[str, dict[str, Any], int]] = []
        self.threads: set[int] = set()
        stream.event_received.connect(self._got)

    def _got(self, etype: str, data: dict[str, Any], eid: int) -> None:
        self.threads.add(threading.get_ident())
        self.events.append((etype, data, eid))

    def types(self) -> list[str]:
        return [t for t, _, _ in self.events]

    def has(self, etype: str) -> bool:
        return etype in self.types()


@pytest.fixture
def streams() -> Iterator[list[EventStream]]:
    made: list[EventStream] = []
    yield made
    for s in made:
        s.stop(timeout_s=2.0)


def test_real_events_arrive_on_the_gui_thread(qtbot: QtBot, server: LiveServer,
                                              streams: list[EventStream]) -> None:
    client, login = agent_client(server)
    client.checkin(["sales"])  # before the stream starts: resumed from the login's id
    stream = EventStream(client, last_event_id=login.last_event_id, session_id=login.session.id)
    streams.append(stream)
    rec = Recorder(stream)
    with qtbot.waitSignal(stream.connected, timeout=10000):
        stream.start()
    qtbot.waitUntil(lambda: rec.has("agent.checked_in"), timeout=10000)
    client.pause("rest", "coffee")
    qtbot.waitUntil(lambda: rec.has("agent.paused"), timeout=10000)
    assert rec.threads == {threading.get_ident()}
    paused = next(d for t, d, _ in rec.events if t == "agent.paused")
    assert paused["pause_reason"] == "rest"
    assert paused["by"] is None
    ids = [i for _, _, i in rec.events]
    assert ids == sorted(set(ids))
    assert stream.last_event_id == ids[-1]


def test_resumes_with_last_event_id_after_a_forced_disconnect(
        qtbot: QtBot, server: LiveServer, streams: list[EventStream]) -> None:
    http = GatedSession()
    client = ApiClient(server.base_url, session=http)
    login = client.login("demo", "1001", "demo", terminal_id="ws-1")
    stream = EventStream(client, last_event_id=login.last_event_id, session_id=login.session.id,
                         backoff_initial_s=0.05)
    streams.append(stream)
    rec = Recorder(stream)
    stream.start()
    client.checkin(["sales"])
    qtbot.waitUntil(lambda: rec.has("agent.checked_in"), timeout=10000)
    seen_id = rec.events[-1][2]
    http.gate.clear()  # the next connection waits until we have made events it missed
    stream.reconnect_now()
    qtbot.waitUntil(http.waiting.is_set, timeout=10000)
    client.checkin(["support"])
    client.pause("rest")
    http.gate.set()
    qtbot.waitUntil(lambda: rec.has("agent.paused"), timeout=10000)
    assert http.event_headers[-1]["Last-Event-ID"] == str(seen_id)
    after = [(t, d.get("group")) for t, d, i in rec.events if i > seen_id]
    assert after == [("agent.checked_in", "support"), ("agent.paused", None)]
    assert stream.connections == 2


@pytest.fixture
def small_window_server(settings: Settings) -> Iterator[LiveServer]:
    with start_live_server(replace(settings, event_window=5)) as live:
        yield live


def test_too_far_behind_emits_resync_and_carries_on(
        qtbot: QtBot, small_window_server: LiveServer, streams: list[EventStream]) -> None:
    server = small_window_server
    client, login = agent_client(server)
    for reason in ("rest", "lunch", "rest", "lunch", "rest", "lunch"):
        client.pause(reason)
    stream = EventStream(client, last_event_id=1, session_id=login.session.id)
    streams.append(stream)
    rec = Recorder(stream)
    with qtbot.waitSignal(stream.resync_needed, timeout=10000) as resync:
        stream.start()
    assert resync.args[0] > 1
    client.unpause()
    qtbot.waitUntil(lambda: rec.has("agent.unpaused"), timeout=10000)
    assert not rec.has("resync")  # resync is its own signal, not a generic event


def test_stops_when_an_admin_ends_the_session(qtbot: QtBot, server: LiveServer,
                                              streams: list[EventStream]) -> None:
    client, login = agent_client(server)
    stream = EventStream(client, last_event_id=login.last_event_id, session_id=login.session.id)
    streams.append(stream)
    with qtbot.waitSignal(stream.connected, timeout=10000):
        stream.start()
    ended: list[tuple[str, str]] = []
    stream.ended.connect(lambda code, detail: ended.append((code, detail)))
    sup, _ = agent_client(server, "supervisor", terminal="sup")
    with qtbot.waitSignal(stream.finished, timeout=10000):
        sup.force_logout("demo", "1001", "end of shift")
    assert ended == [("session_revoked", "end of shift")]
    # `finished` is sent from the reader's last lines: the thread is gone a moment later.
    qtbot.waitUntil(lambda: not stream.running, timeout=2000)


def test_an_expired_session_stops_the_stream_with_its_code(
        qtbot: QtBot, server: LiveServer, streams: list[EventStream]) -> None:
    client, login = agent_client(server)
    server.expire(91)
    stream = EventStream(client, last_event_id=login.last_event_id)
    streams.append(stream)
    with qtbot.waitSignal(stream.ended, timeout=10000) as ended:
        stream.start()
    assert ended.args[0] == "session_expired"


def _logged_in(fake: FakeServer) -> ApiClient:
    client = ApiClient(fake.base_url)
    fake.routes["/api/v1/sessions"] = json_reply(LOGIN, 201)
    client.login("demo", "1001", "pw", terminal_id="ws-1")
    return client


def test_unknown_types_multiline_data_comments_and_prompt_stop(
        qtbot: QtBot, fake: FakeServer, streams: list[EventStream]) -> None:
    hold = threading.Event()

    def script(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.end_headers()
        h.wfile.write(b"retry: 10\r\n: hello\r\n\r\n"
                      b"event: weird.thing\ndata: {\"a\":\ndata:  1}\nid: 7\nbogus: x\n\n"
                      b"event: agent.paused\ndata: not json\nid: 8\n\n"
                      b"event: no.data\nid: 9\n\n")
        h.wfile.flush()
        hold.wait(10)  # then silence: stop() must not wait for the read timeout

    fake.streams["/api/v1/events"] = script
    stream = EventStream(_logged_in(fake), last_event_id=3, read_timeout_s=30)
    streams.append(stream)
    rec = Recorder(stream)
    stream.start()
    qtbot.waitUntil(lambda: len(rec.events) == 2, timeout=10000)
    assert rec.events == [("weird.thing", {"a": 1}, 7), ("agent.paused", {"raw": "not json"}, 8)]
    assert fake.request_headers[-1]["Last-Event-ID"] == "3"
    qtbot.waitUntil(lambda: stream.last_event_id == 9, timeout=10000)
    started = time.monotonic()
    stream.stop(timeout_s=2.0)  # the connection is cut under the reader: it ends at once
    assert time.monotonic() - started < 1.0
    assert not stream.running
    hold.set()


@pytest.mark.usefixtures("qapp")
def test_network_errors_reconnect_with_backoff(qtbot: QtBot,
                                               streams: list[EventStream]) -> None:
    client = ApiClient(f"http://127.0.0.1:{free_port()}", timeout=(0.5, 1))
    client._token = "x"
    stream = EventStream(client, last_event_id=5, backoff_initial_s=0.01, backoff_max_s=0.05)
    streams.append(stream)
    lost: list[object] = []
    stream.connection_lost.connect(lost.append)
    stream.start()
    qtbot.waitUntil(lambda: len(lost) >= 3, timeout=10_000)
    assert stream.running  # still trying
    stream.stop()  # returns at once; the reader ends on its own
    qtbot.waitUntil(lambda: not stream.running, timeout=10000)


def test_sse_parser_follows_the_spec() -> None:
    p = SseParser()
    lines = ["data:no space", "data: two", "", ": comment", "event: x", "id: 5", "retry: 1500",
             "data: {}", "", "id: bad\0id", "retry: soon", "event: y", "", "data", ""]
    out = [ev for line in lines if (ev := p.feed(line)) is not None]
    assert [(ev.type, ev.data, ev.id) for ev in out] == [
        ("message", "no space\ntwo", ""), ("x", "{}", "5"), ("message", "", "5")]
    assert p.retry_ms == 1500
    assert p.comments == 1


def test_split_lines_handles_every_line_ending_across_chunks() -> None:
    chunks = [b"a\r", b"\nb\rc\n", b"d\r", "e\u2028".encode(), b"\n\n"]
    assert list(split_lines(chunks)) == ["a", "b", "c", "d", "e\u2028", ""]


@pytest.mark.usefixtures("qapp")
def test_stop_never_waits_for_a_reader_that_is_still_connecting(
        qtbot: QtBot, streams: list[EventStream]) -> None:
    """A server that accepts but never answers: stop() returns at once (it used to wait 2 s
    on the GUI thread), and dispose() deletes the stream only when its reader is done."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        client = ApiClient(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=(0.5, 1.0))
        client._token = "x"
        stream = EventStream(client, last_event_id=5, read_timeout_s=1.0)
        stream.start()
        qtbot.waitUntil(lambda: stream.running, timeout=1000)
        started = time.monotonic()
        with qtbot.waitSignal(stream.destroyed, timeout=5000):
            stream.dispose()
            assert time.monotonic() - started < 0.05
