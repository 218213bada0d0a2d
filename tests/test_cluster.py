"""Several server instances on one PostgreSQL (docs/deployment.md), in one test process:
exactly-once expiry with two reapers, events fanned out over LISTEN/NOTIFY, and the one PBX
owner with forwarding and takeover. The same with real processes and a real Asterisk is
tests/integration/test_multi_instance.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text

from callcenter_server.app import build_center
from callcenter_server.clock import ManualClock
from callcenter_server.cluster import ClusterPbx
from callcenter_server.db.engine import normalise_url
from callcenter_server.db.tables import Event
from callcenter_server.problems import ProblemError
from callcenter_server.service import CallCenter, LoginRequest
from tests.conftest import TEST_SETTINGS
from tests.support.live import LiveServer, start_live_server

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(180)]


def wait_until(probe: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out ({timeout} s) waiting for {what}")
        time.sleep(0.02)


# --------------------------------------------------------------------------- expiry


def test_two_instances_reaping_concurrently_end_each_session_exactly_once(pg_url: str) -> None:
    clock = ManualClock()
    settings = replace(TEST_SETTINGS, db_url=pg_url)
    a = build_center(settings, clock=clock)
    b = build_center(settings, clock=clock)
    try:
        tokens = []
        for agent in ("1001", "1004", "supervisor"):
            for n in range(12):
                reply = a.login(LoginRequest(team="demo", agent=agent, password="demo",
                                             terminal_id=f"t{n}"), "10.0.0.1")
                tokens.append(reply["token"])
        checked = [r for r in a.set_checkin(a.authenticate(tokens[0]), None, True)["results"]
                   if r["changed"]]
        assert checked
        clock.advance(3600)
        before = a.bus.newest_id
        barrier = threading.Barrier(4)
        errors: list[BaseException] = []

        def reap(cc: CallCenter) -> None:
            try:
                barrier.wait(10)
                for _ in range(5):
                    cc.expire_due()
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=reap, args=(cc,)) for cc in (a, b, a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
        with a._read() as db:
            rows = db.scalars(select(Event).where(Event.id > before).order_by(Event.id)).all()
        ended = Counter(json.loads(e.data)["session_id"] for e in rows
                        if e.type == "session.ended")
        assert len(ended) == len(tokens)
        assert set(ended.values()) == {1}, "a session ended more than once"
        reasons = {json.loads(e.data)["reason"] for e in rows if e.type == "session.ended"}
        assert reasons == {"timeout"}
        checked_out = [e for e in rows if e.type == "agent.checked_out"]
        assert len(checked_out) == len(checked)  # the last terminal, once per group
        # Both instances' buses end up with every event, in id order, each once.
        for cc in (a, b):
            cc.catch_up()
            got = cc.bus.after(before)
            assert got is not None
            assert [e.id for e in got] == [e.id for e in rows]
    finally:
        a.dispose()
        b.dispose()


# --------------------------------------------------------------------------- events


@contextlib.contextmanager
def two_servers(pg_url: str, pbx: Callable[[CallCenter], Any] | None = None
                ) -> Iterator[tuple[LiveServer, LiveServer]]:
    settings = replace(TEST_SETTINGS, db_url=pg_url)
    with start_live_server(settings, pbx=pbx) as a, start_live_server(settings, pbx=pbx) as b:
        for s in (a, b):
            wait_until(lambda s=s: s.http.get("/healthz").status_code == 200, 10, "healthz")
        yield a, b


def test_events_reach_the_streams_of_every_instance_once_in_order(pg_url: str) -> None:
    with two_servers(pg_url) as (a, b):
        assert a.center.instance_id != b.center.instance_id
        agent = a.login("1001")
        # The same session works on the other instance: heartbeat and /me.
        on_b = replace(agent, http=b.http)
        assert on_b.post("/api/v1/sessions/current/heartbeat").status_code == 200
        assert on_b.get("/api/v1/me").status_code == 200
        # A stream on B resumes from the id A handed out at login (B may not have it yet).
        stream_b = on_b.events()
        stream_a = agent.events()
        latencies = []
        for group in ("sales", "support"):
            t0 = time.monotonic()
            r = agent.post(f"/api/v1/me/groups/{group}/checkin")  # on A
            assert r.status_code == 200, r.text
            stream_b.wait_for("agent.checked_in", 10, lambda e, g=group: e.data["group"] == g)
            latencies.append(time.monotonic() - t0)
        # Caused on B, seen on A.
        t0 = time.monotonic()
        assert on_b.post("/api/v1/me/checkout").status_code == 200
        stream_a.wait_for("agent.checked_out", 10)
        latencies.append(time.monotonic() - t0)
        print(f"\nevent fan-out A->B / B->A (POST to event on the other instance's stream): "
              f"{', '.join(f'{x * 1000:.0f} ms' for x in latencies)}")
        assert on_b.delete("/api/v1/sessions/current").status_code == 204
        for stream in (stream_a, stream_b):
            stream.wait_for("session.ended", 10)
            ids = [e.id for e in stream.seen if e.id is not None]
            assert ids == sorted(set(ids)), f"duplicates or out of order: {ids}"
            assert "resync" not in [e.type for e in stream.seen]
        assert [e.type for e in stream_a.seen] == [e.type for e in stream_b.seen]


def test_failed_logins_count_on_every_instance(pg_url: str) -> None:
    with two_servers(pg_url) as (a, b):
        for server in (a, b, a, b, a):
            assert server.login_raw("1001", password="wrong").status_code == 401
        for server in (a, b):
            r = server.login_raw("1001")
            assert r.status_code == 429, r.text
            assert 1 <= int(r.headers["Retry-After"]) <= 61
        assert b.login_raw("1004").status_code == 201  # per agent, not per address
        for server in (a, b):
            server.clock.advance(61)
        assert b.login_raw("1001").status_code == 201
        # A success clears the agent's count for both.
        for server in (a, b, a, b):
            assert server.login_raw("1001", password="wrong").status_code == 401
        assert a.login_raw("1001", terminal="ws-2").status_code == 201
        assert b.login_raw("1001", password="wrong").status_code == 401
        assert a.login_raw("1001", terminal="ws-3").status_code == 201


# --------------------------------------------------------------------------- the PBX owner


class FakePbx:
    """Records what the owner is asked to do."""

    instances: list[FakePbx] = []

    def __init__(self) -> None:
        self.changed: list[int] = []
        self.configs = 0
        self.started = self.stopped = False
        FakePbx.instances.append(self)

    available = True
    retry_after_s = 3

    def agent_changed(self, agent_id: int) -> None:
        self.changed.append(agent_id)

    def config_changed(self) -> None:
        self.configs += 1

    def spy(self, *, agent_id: int, agent_device: str, admin_device: str, mode: str,
            label: str) -> str:
        return f"spy-{agent_id}-{agent_device}-{admin_device}-{mode}-{label}"

    def stop_spy(self, *, agent_id: int, admin_device: str) -> int:
        raise ProblemError("no_live_call", "nothing to stop", retry_after=7)

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True


def role(s: LiveServer) -> str:
    return str(s.http.get("/healthz").json()["pbx"])


def test_one_instance_drives_the_pbx_the_other_forwards_and_takes_over(pg_url: str) -> None:
    FakePbx.instances.clear()
    settings = replace(TEST_SETTINGS, db_url=pg_url)

    def make(cc: CallCenter) -> ClusterPbx:
        return ClusterPbx(cc, FakePbx, forward_timeout_s=10)

    with contextlib.ExitStack() as stack_b, contextlib.ExitStack() as stack_a:
        a = stack_a.enter_context(start_live_server(settings, pbx=make))
        wait_until(lambda: role(a) == "connected", 10, "A drives the PBX")
        b = stack_b.enter_context(start_live_server(settings, pbx=make))
        pbx_b = b.center.pbx
        assert isinstance(pbx_b, ClusterPbx)
        wait_until(lambda: pbx_b.available, 10, "B sees an owner")
        assert role(b) == "standby"
        assert len(FakePbx.instances) == 1
        owner = FakePbx.instances[0]
        # A checkin on the standby instance reaches the owner's driver (1001 is agent id 1).
        agent = b.login("1001")
        assert agent.post("/api/v1/me/checkin").status_code == 200
        wait_until(lambda: 1 in owner.changed, 10, "the owner reconciles the agent")
        # The owner's AMI goes down: the standby answers 503 too (the change is saved).
        owner.available = False
        wait_until(lambda: role(b) == "standby-unavailable", 10, "B hears AMI is down")
        r = agent.post("/api/v1/me/checkout")
        assert r.status_code == 503, r.text
        assert r.json()["code"] == "pbx_unavailable"
        owner.available = True
        wait_until(lambda: role(b) == "standby", 10, "B hears AMI is back")
        # Provisioning on the standby: the owner rewrites the config.
        pbx_b.config_changed()
        wait_until(lambda: owner.configs, 10, "config forwarded")
        # Calls are forwarded and answered, errors included.
        t0 = time.monotonic()
        assert pbx_b.spy(agent_id=1, agent_device="8001", admin_device="8009",
                         mode="listen", label="1001") == "spy-1-8001-8009-listen-1001"
        print(f"\nforwarded PBX call round trip: {(time.monotonic() - t0) * 1000:.0f} ms")
        with pytest.raises(ProblemError) as err:
            pbx_b.stop_spy(agent_id=1, admin_device="8009")
        assert err.value.code == "no_live_call"
        assert err.value.retry_after == 7
        # The owner goes away (an orderly stop here; kill -9 is in the integration test).
        t0 = time.monotonic()
        stack_a.close()
        assert owner.stopped
        wait_until(lambda: role(b) == "connected", 10, "B takes over")
        print(f"takeover after an orderly stop: {time.monotonic() - t0:.2f} s")
        assert len(FakePbx.instances) == 2
        assert FakePbx.instances[1].started
        # Agent changes on the new owner go to its own driver at once.
        assert agent.post("/api/v1/me/checkin").status_code == 200
        wait_until(lambda: 1 in FakePbx.instances[1].changed, 10, "new owner reconciles")


def test_instances_starting_together_migrate_one_at_a_time(pg_admin_url: str) -> None:
    """Without the migration lock, two of three fail about every other run."""
    admin = create_engine(normalise_url(pg_admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "empty_migrate_{os.getpid()}"'))
    admin.dispose()
    url = pg_admin_url.rsplit("/", 1)[0] + f"/empty_migrate_{os.getpid()}"
    repo = Path(__file__).resolve().parents[1]
    procs = [subprocess.Popen([sys.executable, "-m", "callcenter_server", "--db", url, "migrate"],
                              cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for _ in range(3)]
    outputs = [p.communicate(timeout=120)[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outputs
