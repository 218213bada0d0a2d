"""Two server processes on one PostgreSQL driving one real Asterisk (docs/deployment.md).

An agent logs in through A and heartbeats through B; events caused on one instance reach the
streams of the other; only the AMI owner connects to Asterisk, and a checkin through the
standby still reaches the queue; both instances reap, and each expiry happens once; kill -9 of
the owner hands AMI to the other within 5 s, and a checkin afterwards puts the member into the
Asterisk queue. Demo data: 1001 is agent id 1 (fixed 8001, sales + support dynamic); 1004 is
agent id 4, static member of support.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from callcenter_server.db.engine import normalise_url
from pbx.sandbox import AsteriskSandbox
from tests.pbx_fixtures import discard
from tests.support.live import EventReader
from tests.support.pbx_server import eventually, start_box
from tests.support.server_proc import ServerProcess

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.fault,
              pytest.mark.timeout(300)]


@pytest.fixture
def box() -> Iterator[AsteriskSandbox]:
    b = start_box(f"pytest-{os.getpid()}-multi")
    try:
        yield b
    finally:
        discard(b)


def member_line(box: AsteriskSandbox, queue: str, agent_id: int) -> str | None:
    needle = f"(Local/agent{agent_id}@cc-agents"
    return next((line for line in box.rx(f"queue show {queue}").splitlines()
                 if needle in line), None)


def wait_member(box: AsteriskSandbox, queue: str, agent_id: int, present: bool = True,
                contains: str = "", timeout: float = 15.0) -> float:
    """Until Asterisk has (or no longer has) the member; the seconds it took."""
    t0 = time.monotonic()

    def probe() -> bool:
        line = member_line(box, queue, agent_id)
        return line is None if not present else line is not None and contains in line
    eventually(probe, timeout, f"agent {agent_id} {'in' if present else 'out of'} {queue} "
               f"{contains}")
    return time.monotonic() - t0


def role(server: ServerProcess) -> str:
    try:
        return server.health()["pbx"]
    except httpx.HTTPError:
        return "down"


def test_two_processes_share_sessions_events_and_the_pbx(
        box: AsteriskSandbox, pg_url: str, tmp_path: Path) -> None:
    servers = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        servers.append(ServerProcess(box, tmp_path / name, db_url=pg_url))
    a, b = servers
    try:
        a.start(timeout=60)
        eventually(lambda: role(a) == "connected", 30, "A drives Asterisk")
        b.start(timeout=60)
        eventually(lambda: role(b) == "standby", 10, "B on standby")
        assert a.health()["instance"] != b.health()["instance"]
        wait_member(box, "support", 4)  # A's first reconcile reached Asterisk

        # A session made on A works on B: heartbeat, /me.
        r = httpx.post(a.base_url + "/api/v1/sessions", timeout=10, json={
            "team": "demo", "agent": "1001", "password": "demo", "terminal_id": "desk"})
        assert r.status_code == 201, r.text
        login = r.json()
        auth = {"Authorization": f"Bearer {login['token']}"}
        on_a = httpx.Client(base_url=a.base_url, headers=auth, timeout=10)
        on_b = httpx.Client(base_url=b.base_url, headers=auth, timeout=10)
        assert on_b.post("/api/v1/sessions/current/heartbeat").status_code == 200
        assert on_b.get("/api/v1/me").json()["agent"]["number"] == "1001"

        # A stream on B, from the id A handed out at login.
        stream_b = EventReader(httpx.Client(base_url=b.base_url, timeout=10),
                               {**auth, "Last-Event-ID": str(login["last_event_id"])})
        # Checkin through the standby B: the owner A puts the member into the queue.
        t0 = time.monotonic()
        assert on_b.post("/api/v1/me/groups/sales/checkin").status_code == 200
        queue_delay = wait_member(box, "sales", 1)
        print(f"\ncheckin through the standby -> member in the Asterisk queue: "
              f"{time.monotonic() - t0:.2f} s")
        stream_b.wait_for("agent.checked_in", 10)
        # Caused on A, seen on B's stream.
        t0 = time.monotonic()
        assert on_a.post("/api/v1/me/pause", json={"reason": "lunch"}).status_code == 200
        stream_b.wait_for("agent.paused", 10)
        fan_out = time.monotonic() - t0
        print(f"event caused on A -> on B's stream: {fan_out * 1000:.0f} ms")
        wait_member(box, "sales", 1, contains="paused:lunch")
        assert on_b.post("/api/v1/me/unpause").status_code == 200
        assert on_b.post("/api/v1/me/groups/sales/checkout").status_code == 200
        wait_member(box, "sales", 1, present=False)
        stream_b.wait_for("agent.checked_out", 10)

        # Both instances reap: sessions whose deadline passed end exactly once.
        boss = httpx.post(b.base_url + "/api/v1/sessions", timeout=10, json={
            "team": "demo", "agent": "supervisor", "password": "demo", "terminal_id": "boss"})
        assert boss.status_code == 201, boss.text
        boss_auth = {"Authorization": f"Bearer {boss.json()['token']}"}
        board_stream = EventReader(httpx.Client(base_url=a.base_url, timeout=10),
                                   {**boss_auth, "Last-Event-ID": str(boss.json()[
                                       "last_event_id"])})
        for n in range(8):
            server = (a, b)[n % 2]
            r = httpx.post(server.base_url + "/api/v1/sessions", timeout=10, json={
                "team": "demo", "agent": "1004", "password": "demo", "terminal_id": f"t{n}"})
            assert r.status_code == 201, r.text
        engine = create_engine(normalise_url(pg_url))
        with engine.begin() as conn:
            due = conn.execute(text(
                "UPDATE sessions SET expires_at = extract(epoch from now()) - 1"
                " WHERE agent_id = 4 AND ended_at IS NULL RETURNING id")).scalars().all()
        assert len(due) == 8
        ended = []
        for _ in due:
            ended.append(board_stream.wait_for(
                "session.ended", 15, lambda e: e.data.get("agent") == "1004").data)
        time.sleep(1.0)  # both reapers have run a few more times
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT data FROM events WHERE type = 'session.ended'")).scalars().all()
        engine.dispose()
        counts = Counter(json.loads(d)["session_id"] for d in rows)
        assert all(counts[sid] == 1 for sid in due), counts
        assert {e["reason"] for e in ended} == {"timeout"}
        assert sorted(e["session_id"] for e in ended) == sorted(due)
        board_stream.close()

        # kill -9 the owner: B takes AMI over.
        t0 = time.monotonic()
        a.kill()
        eventually(lambda: role(b) == "connected", 30, "B drives Asterisk")
        takeover = time.monotonic() - t0
        print(f"kill -9 of the AMI owner -> the other instance connected to AMI: "
              f"{takeover:.2f} s")
        assert takeover < 5.0, f"takeover took {takeover:.2f} s"
        # A checkin afterwards reaches the queue through the new owner.
        t0 = time.monotonic()
        r2 = on_b.post("/api/v1/me/groups/sales/checkin")
        assert r2.status_code == 200, r2.text
        wait_member(box, "sales", 1)
        print(f"checkin after the takeover -> member in the queue: "
              f"{time.monotonic() - t0:.2f} s (through the standby before: {queue_delay:.2f} s)")
        stream_b.wait_for("agent.checked_in", 10)
        ids = [e.id for e in stream_b.seen if e.id is not None]
        assert ids == sorted(set(ids)), ids
        assert "resync" not in [e.type for e in stream_b.seen]
        stream_b.close()
        on_a.close()
        on_b.close()
    except BaseException:
        for s in servers:
            print(f"--- server {s.port} log:\n{s.log_tail(60)}")
        raise
    finally:
        for s in servers:
            s.stop()
