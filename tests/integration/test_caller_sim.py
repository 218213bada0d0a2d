"""The demo's caller simulator (pbx/caller.py) against the real server process and Asterisk:
it calls the queue only while an agent is checked in, plays its prompt, and calls again."""

from __future__ import annotations

import os
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
from tests.support.sipphone import SipPhone

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture
def lab(sqlite_template: Path, tmp_path: Path) -> Iterator[tuple[ServerProcess, SipPhone]]:
    box = start_box(f"pytest-{os.getpid()}-caller")
    server = ServerProcess(box, tmp_path)
    server.seed(sqlite_template)
    try:
        server.start()
        eventually(lambda: "8001" in box.rx("pjsip show endpoints"), 15, "endpoint 8001")
        with SipPhone("agent8001") as phone:
            phone.register("8001", "demo", f"127.0.0.1:{box.sip_port}")
            yield server, phone
    finally:
        server.stop()
        discard(box)


def test_calls_the_queue_while_someone_is_checked_in(
        lab: tuple[ServerProcess, SipPhone], tmp_path: Path) -> None:
    server, phone = lab
    agent = server.login("1001", terminal="desk")
    caller = subprocess.Popen(
        [sys.executable, "pbx/caller.py", "--server", server.base_url,
         "--sip", f"127.0.0.1:{server.box.sip_port}", "--every", "1"],
        cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)),
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "caller.log", "wb"))  # noqa: SIM115
    try:
        # Nobody checked in: no call (the simulator polls the board every 2 s).
        time.sleep(3.0)  # waiting for an outside process to *not* act
        assert not phone.events("incoming")

        r = httpx.post(f"{server.base_url}/api/v1/me/checkin", headers=agent, json={},
                       timeout=10)
        assert r.status_code == 200, r.text
        ring = phone.wait_event("incoming", timeout=10)
        phone.answer(ring["call"])
        phone.wait_event("media_active", call=ring["call"])
        start = time.time()
        time.sleep(5.5)  # one whole prompt: speech, pause, 2 s of tone, silence
        heard = phone.tone_check(ring["call"], 440, since_ts=start, until_ts=start + 5.5)
        assert heard["present"] >= 20, heard  # about 2 s of 440 Hz in 50 ms blocks
        phone.hangup(ring["call"])
        phone.wait_event("call_state", call=ring["call"], state="DISCONNECTED")

        # After the agent's wrap-up, it calls again a moment later.
        eventually(lambda: httpx.post(f"{server.base_url}/api/v1/me/wrapup/end", headers=agent,
                                      timeout=10).status_code == 200, 5, "wrap-up ended")
        again = phone.wait_event("incoming", timeout=10, after=time.time())
        phone.hangup(again["call"])
        phone.wait_event("call_state", call=again["call"], state="DISCONNECTED")

        # Checked out (and not in wrap-up any more): no more calls.
        r = httpx.post(f"{server.base_url}/api/v1/me/checkout", headers=agent, json={},
                       timeout=10)
        assert r.status_code == 200, r.text
        quiet_from = time.time() + 2.5  # a call already placed may still arrive
        time.sleep(6.0)
        assert not [e for e in phone.events("incoming") if e["ts"] >= quiet_from]
    finally:
        caller.terminate()
        assert caller.wait(10) == 0, (tmp_path / "caller.log").read_text()
