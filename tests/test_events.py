"""The server-sent event stream: visibility, resume, resync, keep-alive, end of session."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime

import pytest

from callcenter_server.app import Settings
from callcenter_server.clock import SystemClock
from callcenter_server.model import Activity
from tests.support.live import LiveServer, start_live_server

REAL_TIME_TEAM = {"teams": [{
    "name": "fast",
    "heartbeat_interval_s": 1,
    "session_timeout_s": 2,
    "devices": [{"number": "9101", "kind": "internal", "sip_password": "x"}],
    "groups": [{"name": "q", "queue": "fast-q"}],
    "agents": [{"number": "3001", "password": "pw", "device_mode": "fixed", "device": "9101",
                "groups": ["q"]}],
}]}


def test_agent_sees_only_its_own_events(server: LiveServer) -> None:
    alice = server.login("1001")
    stream = alice.events()
    carol = server.login("1003", device="8003")
    carol.post("/api/v1/me/checkin")
    alice.post("/api/v1/me/checkin", {"groups": ["sales"]})
    ev = stream.wait_for("agent.checked_in")
    assert ev.data["agent"] == "1001"
    assert all(e.data.get("agent") in (None, "1001") for e in stream.seen)


def test_team_admin_sees_the_whole_team(server: LiveServer) -> None:
    sup = server.login("supervisor", terminal="sup")
    stream = sup.events()
    server.login("1001").post("/api/v1/me/checkin", {"groups": ["sales"]})
    server.login("1003", device="8003").post("/api/v1/me/checkin")
    agents = set()
    while agents != {"1001", "1003"}:
        agents.add(stream.wait_for("agent.checked_in").data["agent"])


def test_resume_with_last_event_id_delivers_exactly_what_was_missed(server: LiveServer) -> None:
    t = server.login("1001")
    first = t.events()
    t.post("/api/v1/me/checkin", {"groups": ["sales"]})
    seen = first.wait_for("agent.checked_in")
    first.close()
    t.post("/api/v1/me/checkin", {"groups": ["support"]})
    t.post("/api/v1/me/pause", {"reason": "rest"})
    resumed = t.events(last_event_id=seen.id)
    again = resumed.wait_for("agent.checked_in")
    assert again.data["group"] == "support"
    assert again.id is not None
    assert seen.id is not None
    assert again.id > seen.id
    resumed.wait_for("agent.paused")
    assert [e.type for e in resumed.seen] == ["agent.checked_in", "agent.paused"]


@pytest.fixture
def small_window_server(settings: Settings) -> Iterator[LiveServer]:
    with start_live_server(replace(settings, event_window=5)) as live:
        yield live


def test_client_too_far_behind_gets_resync(small_window_server: LiveServer) -> None:
    server = small_window_server
    t = server.login("1001")
    for reason in ("rest", "lunch", "rest", "lunch", "rest", "lunch"):
        t.post("/api/v1/me/pause", {"reason": reason})
    stream = t.events(last_event_id=1)
    assert stream.wait_for("resync").id is not None
    t.post("/api/v1/me/unpause")
    stream.wait_for("agent.unpaused")


def test_nonsense_last_event_id_resyncs(server: LiveServer) -> None:
    t = server.login("1001")
    stream = t.events(last_event_id=10**9)
    stream.wait_for("resync")


def test_keep_alive_comments_flow_while_idle(server: LiveServer) -> None:
    t = server.login("1001")
    stream = t.events()
    deadline = time.monotonic() + 3
    while not any("keep-alive" in c for c in stream.comments):
        assert time.monotonic() < deadline, "no keep-alive within 3 s (interval 0.5 s)"
        stream.closed.wait(0.05)


def test_stream_ends_with_the_session(server: LiveServer) -> None:
    t = server.login("1001")
    stream = t.events()
    sup = server.login("supervisor", terminal="sup")
    sup.post("/api/v1/teams/demo/agents/1001/logout", {"reason": "bye"})
    ended = stream.wait_for("session.ended")
    assert ended.data["reason"] == "forced"
    assert stream.closed.wait(3)
    r = t.get("/api/v1/events")
    assert r.status_code == 401
    assert r.json()["code"] == "session_revoked"


def test_call_events_reach_the_agent(server: LiveServer) -> None:
    t = server.login("1001")
    stream = t.events()
    server.center.call_activity("8001", Activity.RINGING, {"caller_id": "555", "queue": "sales"})
    server.center.call_activity("8001", Activity.TALKING)
    server.center.call_activity("8001", Activity.HOLD)
    server.center.call_activity("8001", Activity.TALKING)
    server.center.call_activity("8001", Activity.IDLE, answered=True)
    for etype in ("call.ringing", "call.answered", "call.hold", "call.resumed", "call.ended"):
        stream.wait_for(etype)
    stream.wait_for("agent.wrapup_started")


@pytest.fixture
def real_clock_server(settings: Settings) -> Iterator[LiveServer]:
    with start_live_server(replace(settings, reaper_interval_s=0.25),
                           clock=SystemClock()) as live:
        live.provision(REAL_TIME_TEAM)
        yield live


def test_timeout_lands_within_two_seconds_of_the_deadline(real_clock_server: LiveServer) -> None:
    """Real clock and reaper: a 2 s timeout with no heartbeat."""
    server = real_clock_server
    t = server.login("3001", team="fast", password="pw")
    t.post("/api/v1/me/checkin")
    stream = t.events()
    ended = stream.wait_for("session.ended", timeout=6)
    deadline = datetime.fromisoformat(t.login["session"]["expires_at"]).timestamp()
    ended_at = datetime.fromisoformat(ended.data["at"]).timestamp()
    assert ended.data["reason"] == "timeout"
    # The server's own end time: client-side arrival would add this machine's load.
    assert 0 <= ended_at - deadline < 2.0, ended_at - deadline
