"""Staged shutdown in any order of user actions: each scenario in its own process."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from pbx.sandbox import AsteriskSandbox
from tests.sip.conftest import PASSWORD, registrar
from tests.support.sipphone import SipPhone

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]
REPO = Path(__file__).resolve().parents[2]


def start_runner(box: AsteriskSandbox, scenario: str) -> subprocess.Popen[str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(REPO))
    return subprocess.Popen(
        [
            SipPhone.python(),
            "-m",
            "tests.sip.runner",
            "--registrar",
            registrar(box),
            "--scenario",
            scenario,
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str]) -> tuple[list[dict[str, Any]], str]:
    out, err = proc.communicate(timeout=30)
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert proc.returncode == 0, f"exit {proc.returncode}\n{err[-3000:]}"
    assert "Assertion" not in err, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    assert events, out
    assert events[-1]["event"] == "exit", out
    return events, err


@pytest.mark.parametrize(
    "scenario",
    [
        "never_started",
        "registering",
        "removing",
        "connected",
        "twice",
        "in_callback",
        "kept_error",
        "kept_call",
    ],
)
def test_shutdown_scenarios(asterisk: AsteriskSandbox, scenario: str) -> None:
    events, err = finish(start_runner(asterisk, scenario))
    final = events[-1]
    if scenario == "never_started":
        assert final["reports"] == [{"started": False}]
        return
    report = final["final"]
    assert report["calls_ended"] is True
    assert report["destroy_s"] < 1.0
    if scenario in ("connected", "twice", "in_callback"):
        assert {"event": "call_state", "call": "call-1", "state": "CONFIRMED"} in events
        assert report["unregistered"] is True
        # The account is deleted only after the PBX answered its un-REGISTER (pjsua would
        # else send a second one and log PJSIP_EBUSY as an error).
        assert "PJSIP_EBUSY" not in err, err[-3000:]
    if scenario == "registering":
        # Shut down while the first REGISTER was in flight: its answer is awaited, then the
        # binding the PBX just made is removed (not left to expire with calls routed to a
        # device that is gone), and pjsua never meets a busy transaction (PJSIP_EBUSY).
        assert report["registers_answered"] is True
        assert report["unregistered"] is True
        assert "PJSIP_EBUSY" not in err, err[-3000:]
        contacts = asterisk.rx("pjsip show contacts")  # before the fix: 8001 stayed "Avail"
        assert "8001/sip:" not in contacts, contacts
    if scenario == "removing":
        # Shut down while a removed account's un-REGISTER was in flight: the shutdown waits
        # for that answer instead of sending a second one (PJSIP_EBUSY).
        assert report["unregistered"] is True
        assert "PJSIP_EBUSY" not in err, err[-3000:]
        assert "8001/sip:" not in asterisk.rx("pjsip show contacts")
    if scenario in ("kept_error", "kept_call"):
        # A Call object that outlived libDestroy aborted the process at exit (pjsua's
        # "pjsua_call_set_user_data: Assertion call_id>=0 && call_id<max_calls"); `finish`
        # checks the exit code and stderr.
        assert {"event": "call_state", "call": "call-1", "state": "CONFIRMED"} in events
        assert final["kept"] == 1
        assert report["stray_calls"] == 1
    elif "stray_calls" in report:
        assert report["stray_calls"] == 0
    if scenario == "twice":
        assert final["reports"][0] == final["reports"][1]
    if scenario == "in_callback":
        assert final["reports"][0] == {"deferred": True}


def test_shutdown_while_ringing_out_and_in(asterisk: AsteriskSandbox) -> None:
    with SipPhone("far8002-shutdown") as far:
        far.register("8002", PASSWORD, registrar(asterisk), auto_ring=True)
        events, _ = finish(start_runner(asterisk, "ringing_out"))
        assert any(e.get("state") == "EARLY" for e in events)
        assert events[-1]["final"]["calls_ended"] is True
        proc = start_runner(asterisk, "ringing_in")
        assert proc.stdout is not None
        line = proc.stdout.readline()
        while not line.startswith("{"):  # pjlib prints a banner before its log is routed
            line = proc.stdout.readline()
        assert json.loads(line)["event"] == "registered"
        time.sleep(0.2)
        far.call("8002", "8001")
        events, _ = finish(proc)
        assert any(e.get("state") == "RINGING_IN" for e in events)
        assert events[-1]["final"]["calls_ended"] is True
