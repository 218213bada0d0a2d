"""The app killed with -9 mid-shift: the server times that terminal out (within its timeout
plus 2 s), the agent's other terminal keeps the checkin, and the call history written before
the kill is intact when the app starts again."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.pbx_fixtures import discard
from tests.support.pbx_server import eventually, start_box
from tests.support.server_proc import REPO, ServerProcess

pytestmark = [pytest.mark.integration, pytest.mark.fault, pytest.mark.timeout(180)]

TIMEOUT_S = 6  # the team's session timeout for this test (heartbeat every 2 s)


@pytest.fixture
def lab(sqlite_template: Path, tmp_path: Path) -> Iterator[ServerProcess]:
    box = start_box(f"pytest-{os.getpid()}-kill9")
    server = ServerProcess(box, tmp_path)
    server.seed(sqlite_template)
    try:
        server.start()
        eventually(lambda: "8001" in box.rx("pjsip show endpoints"), 15, "endpoint 8001")
        yield server
    finally:
        server.stop()
        discard(box)


def test_app_killed_terminal_times_out_checkin_and_history_survive(
        lab: ServerProcess, tmp_path: Path) -> None:
    base = lab.base_url
    admin = lab.login("supervisor", terminal="setup")
    r = httpx.put(f"{base}/api/v1/provisioning", headers=admin, timeout=10, json={"teams": [
        {"name": "demo", "heartbeat_interval_s": 2, "session_timeout_s": TIMEOUT_S,
         "pause_reasons": [{"code": "rest", "label": "Rest"}]}]})
    assert r.status_code == 200, r.text
    desk = lab.login("1001", terminal="desk")  # the agent's other terminal
    history = tmp_path / "history.sqlite3"
    env = dict(os.environ, AGENT_DESKTOP_PASSWORD="demo", PYTHONPATH=str(REPO),
               QT_QPA_PLATFORM="offscreen", AGENT_DESKTOP_INSTANCE=f"kill9-{os.getpid()}",
               PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    app = subprocess.Popen(
        [sys.executable, "-m", "tests.support.app_runner", "--server", base,
         "--registrar", f"127.0.0.1:{lab.box.sip_port}", "--agent", "1001",
         "--history", str(history)], cwd=REPO, env=env, stdout=subprocess.PIPE,
        stderr=open(tmp_path / "app.log", "wb"), text=True)  # noqa: SIM115
    try:
        assert app.stdout is not None
        report: dict[str, object] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not report.get("ready"):
            line = app.stdout.readline()
            if not line:
                break
            if line.startswith("{"):  # PJSIP prints its first lines to stdout too
                report = json.loads(line)
        assert report.get("ready"), (report, (tmp_path / "app.log").read_text()[-3000:])
        terminal = str(report["terminal"])
        # Keep the desk terminal alive (the server runs its real reaper meanwhile).
        os.kill(app.pid, signal.SIGKILL)
        killed = time.monotonic()
        app.wait(10)
        ended_after: float | None = None
        while time.monotonic() - killed < TIMEOUT_S + 10:
            assert httpx.post(f"{base}/api/v1/sessions/current/heartbeat", headers=desk,
                              timeout=5).status_code == 200
            sessions = httpx.get(f"{base}/api/v1/sessions", headers=desk, timeout=5).json()
            if terminal not in {s["terminal_id"] for s in sessions}:
                ended_after = time.monotonic() - killed
                break
            time.sleep(0.2)  # polling an outside system (the server)
        assert ended_after is not None, "the killed app's session never ended"
        print(f"killed app's terminal timed out {ended_after:.1f} s after kill -9 "
              f"(timeout {TIMEOUT_S} s)")
        assert ended_after <= TIMEOUT_S + 2 + 2  # timeout + 2 s, + up to one heartbeat gap
        me = httpx.get(f"{base}/api/v1/me", headers=desk, timeout=5).json()
        assert any(g["checked_in"] for g in me["agent"]["groups"]), me["agent"]["groups"]

        # History: the database the killed app wrote is whole, with the call in it.
        with sqlite3.connect(history) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            rows = db.execute("SELECT number, direction FROM calls").fetchall()
        assert ("9001", "outgoing") in rows, rows
    finally:
        if app.poll() is None:
            app.kill()
            app.wait()
