"""PostgreSQL restarted under a running server: requests meanwhile fail cleanly (503
problem+json with Retry-After, never 500), and succeed again once it is back, without
restarting the server (the pool checks its connections before use)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import TEST_SETTINGS, _seed
from tests.support.live import start_live_server
from tests.support.postgres import _as_postgres, free_port, pg_bindir

pytestmark = [pytest.mark.postgres, pytest.mark.integration, pytest.mark.fault,
              pytest.mark.timeout(120)]


class Cluster:
    def __init__(self) -> None:
        self.bindir = pg_bindir()
        self.tmp = Path(tempfile.mkdtemp(prefix="agent-desktop-pgr-"))
        self.data, self.sock = self.tmp / "data", self.tmp / "sock"
        self.sock.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.tmp, "postgres", "postgres")
            shutil.chown(self.sock, "postgres", "postgres")
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        subprocess.run(_as_postgres([str(self.bindir / "initdb"), "-D", str(self.data), "-U",
                                     "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]),
                       check=True, capture_output=True)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        self.proc = subprocess.Popen(_as_postgres([
            str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port),
            "-k", str(self.sock), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"]),
            stdout=subprocess.DEVNULL, stderr=open(self.tmp / "log", "ab"))  # noqa: SIM115
        deadline = time.monotonic() + 30
        while subprocess.run([str(self.bindir / "pg_isready"), "-h", "127.0.0.1", "-p",
                              str(self.port)], capture_output=True).returncode != 0:
            assert time.monotonic() < deadline, (self.tmp / "log").read_text()[-2000:]
            time.sleep(0.1)

    def stop(self) -> None:
        """A fast shutdown (as a restart does): open client connections are cut."""
        if self.proc is not None:
            subprocess.run(_as_postgres([str(self.bindir / "pg_ctl"), "-D", str(self.data),
                                         "-m", "fast", "-w", "stop"]),
                           capture_output=True, check=False, timeout=30)
            self.proc.wait(20)
            self.proc = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    try:
        c.start()
        yield c
    finally:
        c.remove()


def test_requests_fail_cleanly_while_postgres_restarts(cluster: Cluster) -> None:
    _seed(cluster.url)
    with start_live_server(replace(TEST_SETTINGS, db_url=cluster.url)) as server:
        agent = server.login("1001", terminal="pg-restart")
        assert agent.post("/api/v1/sessions/current/heartbeat").status_code == 200
        cluster.stop()
        statuses = []
        for path in ("/api/v1/sessions/current/heartbeat", "/api/v1/me/checkin"):
            r = agent.post(path, {})
            statuses.append(r.status_code)
            assert r.status_code == 503, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["code"] == "database_unavailable"
            assert r.headers["retry-after"] == "2"
        r = server.login_raw("1002", device=None)
        assert r.status_code == 503, r.text
        cluster.start()
        assert agent.post("/api/v1/sessions/current/heartbeat").status_code == 200
        assert agent.post("/api/v1/me/checkin", {}).status_code == 200
        print("while PostgreSQL was down:", statuses, "; after: 200")
