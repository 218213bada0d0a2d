"""The agent app end to end: the real app (build_seat: SIP engine + audio bridge + session +
windows) against the real server process driving the real Asterisk, with PulseAudio virtual
headsets. The simulated caller is a test phone registered as the PSTN gateway dialling the
sales queue (7001).

This module runs in its own process (tests/e2e/test_agent_app_e2e.py starts it): one pjsua2
Endpoint per process, and the audio environment must be set before Qt Multimedia starts.
Run alone: python -m pytest tests/e2e/app_flow.py
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"  # in memory only

import httpx
from PySide6.QtCore import QSettings, Qt
from pytestqt.qtbot import QtBot

from agent_desktop import diagnostics, logs
from agent_desktop.app import AgentApp, build_seat, install_qt_logging, parse_args
from agent_desktop.audio_env import apply_low_latency_audio_env
from agent_desktop.instance import SingleInstance
from agent_desktop.session.board import Activity
from agent_desktop.session.state import Availability, Network, Session, Sip
from agent_desktop.sip import RegistrationState
from pbx.sandbox import AsteriskSandbox
from tests.pbx_fixtures import discard
from tests.sip.audio_runner import analyse, tone_blocks
from tests.support.pbx_server import eventually, start_box
from tests.support.pulse import PulseServer, pulse_fixture  # noqa: F401
from tests.support.server_proc import ServerProcess
from tests.support.sipphone import SipPhone

# As the app's main() does, before any audio stream (the test's own pacat/parec drop it).
apply_low_latency_audio_env(os.environ)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(420),
    # The offscreen platform plugin cannot do these window-manager things; it says so.
    pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints",
                              "This plugin does not support raise",
                              "This plugin does not support setParent"),
]

CALLER_TONE = 440.0  # the caller (PSTN test phone) says this
AGENT_TONE = 1000.0  # the agent's virtual microphone says this
SERVER_DOWN_S = 60.0
# Grow each "a Qt signal, a server round trip, a SIP transaction" wait for a 2-core CI box.
STEP_MS = 10_000

PASSWORD = "e2e-Secret-7f3kQ"  # unique, so that the log check can look for it


class Lab:
    def __init__(self, box: AsteriskSandbox, server: ServerProcess, pstn: SipPhone) -> None:
        self.box, self.server, self.pstn = box, server, pstn

    def member(self, queue: str, agent_id: int) -> bool:
        return f"(Local/agent{agent_id}@cc-agents" in self.box.rx(f"queue show {queue}")


@pytest.fixture(scope="module")
def lab(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    box = start_box(f"pytest-{os.getpid()}-e2e")
    server = ServerProcess(box, tmp_path_factory.mktemp("server"))
    server.seed(sqlite_template)
    pstn = SipPhone("pstn")
    try:
        server.start()
        # The server writes the PJSIP endpoints; wait for its first reconcile to load them.
        eventually(lambda: "8001" in box.rx("pjsip show endpoints"), 15, "endpoint 8001")
        pstn.start()
        pstn.register("pstn", "pstn", f"127.0.0.1:{box.sip_port}")
        admin = server.login("supervisor", terminal="setup")
        r = httpx.put(f"{server.base_url}/api/v1/provisioning", headers=admin, timeout=10,
                      json={"teams": [{"name": "demo", "agents": [
                          {"number": "1001", "name": "Alice (fixed 8001)", "password": PASSWORD,
                           "owner": "frontdesk", "device_mode": "fixed", "device": "8001",
                           "groups": [{"name": "sales"}, {"name": "support"}]}]}]})
        assert r.status_code == 200, r.text
        yield Lab(box, server, pstn)
    finally:
        pstn.close()
        server.stop()
        print("server log tail:\n" + server.log_tail())
        discard(box)


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("app")


@pytest.fixture(scope="module")
def seat(pulse: PulseServer, lab: Lab, qapp: Any, app_dir: Path) -> Iterator[AgentApp]:
    tmp = app_dir
    # Everything the app logs, at DEBUG (PJSIP and Qt included), for the secrets check.
    log_file = logging.FileHandler(tmp / "app.log")
    log_file.setLevel(logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(log_file)
    root.setLevel(logging.DEBUG)
    install_qt_logging()
    logs.install_rings()  # the SIP trace and server errors for the diagnostics zip
    args = parse_args(["--server", lab.server.base_url, "--team", "demo",
                       "--sip-registrar", f"127.0.0.1:{lab.box.sip_port}",
                       "--history-file", str(tmp / "history.sqlite3")])
    settings = QSettings(str(tmp / "settings.ini"), QSettings.Format.IniFormat)
    # A headset: no echo canceller. (In whisper mode the PBX plays the supervisor's own test
    # tone back to them; a pure, endless tone is perfectly predictable, so AEC3 would rightly
    # remove it from the microphone as echo. Speech is not; the bridge tests cover AEC.)
    settings.setValue("audio/echo_cancellation", False)
    seat = build_seat(args, quit_app=lambda: None, settings=settings)
    assert seat.engine is not None, "the SIP engine did not start"
    try:
        yield seat
    finally:
        seat.request_quit()  # logs out (bounded), then the staged SIP shutdown
        deadline = time.monotonic() + 5
        while not seat._finished and time.monotonic() < deadline:
            qapp.processEvents()
            time.sleep(0.01)
        seat.finish()
        root.removeHandler(log_file)
        log_file.close()
        logging.getLogger(logs.PJSIP_LOGGER).removeHandler(logs.SIP_TRACE)
        logging.getLogger(logs.SESSION_LOGGER).removeHandler(logs.SERVER_ERRORS)


def wait(qtbot: QtBot, pred: Callable[[], object], ms: int = STEP_MS) -> None:
    qtbot.waitUntil(lambda: bool(pred()), timeout=ms)


def ring_from_pstn(qtbot: QtBot, lab: Lab, seat: AgentApp) -> dict[str, Any]:
    out = lab.pstn.call("pstn", "7001")
    wait(qtbot, lambda: any(c.window is not None for c in seat.calls.values()))
    return out


def answer_in_ring_window(qtbot: QtBot, lab: Lab, seat: AgentApp, out: dict[str, Any]) -> None:
    ctx = next(c for c in seat.calls.values() if c.window is not None)
    assert ctx.window is not None
    assert ctx.window.isVisible()
    qtbot.mouseClick(ctx.window.answer_button, Qt.MouseButton.LeftButton)
    wait(qtbot, lambda: lab.pstn.events("media_active", call=out["call"]))
    assert seat.window is not None
    wait(qtbot, lambda: seat.window is not None and seat.window.call_panel.talking)


def tones_cross(qtbot: QtBot, lab: Lab, pulse: PulseServer, out: dict[str, Any],
                seconds: float = 3.0) -> tuple[dict[str, Any], dict[str, Any]]:
    """The caller's tone on the agent's speaker, the agent's microphone tone at the caller."""
    rec = pulse.record("speaker")
    start = time.time()
    wait(qtbot, lambda: time.time() - start > seconds + 1.0, int((seconds + 5) * 1000))
    recorded = rec.stop()
    speaker = analyse(recorded, [CALLER_TONE], settle_s=0.5)
    # For a failure's message: which 20 ms blocks had the tone (one long gap is a stall,
    # scattered ones a damaged signal).
    speaker["map"] = "".join("#" if b else "." for b in tone_blocks(recorded, [CALLER_TONE]))
    caller = lab.pstn.tone_check(out["call"], AGENT_TONE, since_ts=start + 1.0,
                                 until_ts=start + 1.0 + seconds)
    return speaker, caller


def missed_tone(speaker: dict[str, Any], seat: AgentApp) -> str:
    """A failure's message: the analysis (with the block map) and what the app's audio
    bridge counted. A string: pytest would shorten a dict to its first items."""
    stats = seat.bridge.stats() if seat.bridge is not None else {}
    keys = ("frames_in", "speaker_underruns", "speaker_dropped_bytes", "speaker_caught_up_ms",
            "sink_errors", "added_latency_ms")
    return f"speaker {speaker}; bridge { {k: stats.get(k) for k in keys} }"


def missed_mic_tone(caller: dict[str, Any], seat: AgentApp) -> str:
    """A failure's message: what the caller's phone heard of the agent's tone (with where it
    was missing) and what the app's audio bridge counted on the microphone side."""
    stats = seat.bridge.stats() if seat.bridge is not None else {}
    keys = ("frames_out", "mic_gaps", "mic_caught_up_ms", "mic_trimmed_ms", "mic_slack_raises",
            "mic_dropped_bytes", "added_latency_ms")
    return f"caller {caller}; bridge { {k: stats.get(k) for k in keys} }"


def heard(speaker: dict[str, Any], seconds: float) -> bool:
    """The tone is there, bar a lost 20 ms block or two (the bridge's own test asks for
    zero gaps over 30 s; here a busy 2-core machine runs the server and phones too)."""
    checked = speaker["present"] + speaker["absent"]
    return (speaker["checked_s"] >= seconds and speaker["present"] >= 0.97 * checked
            and speaker["longest_gap_ms"] <= 60)


def test_agent_day_end_to_end(qtbot: QtBot, lab: Lab, seat: AgentApp,
                              pulse: PulseServer, app_dir: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    machine = seat.machine
    login = seat.login_window
    login.show()

    # -- log in through the login window
    login.server_edit.setText(lab.server.base_url)
    login.team_edit.setText("demo")
    login.agent_edit.setText("1001")
    login.password_edit.setText(PASSWORD)
    qtbot.mouseClick(login.login_button, Qt.MouseButton.LeftButton)
    wait(qtbot, lambda: machine.state.session is Session.ACTIVE
         and machine.state.sip is Sip.REGISTERED)
    tokens = [seat.client._token if seat.client else None]
    window = seat.window
    assert window is not None
    assert window.isVisible()
    assert not login.isVisible()

    # -- check in to all groups
    qtbot.mouseClick(window.checkin_all, Qt.MouseButton.LeftButton)
    wait(qtbot, lambda: lab.member("sales", 1))

    # -- the simulated caller rings the app; answer; tone both ways; hang up
    pulse.feed_tone(AGENT_TONE)
    out = ring_from_pstn(qtbot, lab, seat)
    answer_in_ring_window(qtbot, lab, seat, out)
    lab.pstn.send_tone(out["call"], CALLER_TONE)
    speaker, caller = tones_cross(qtbot, lab, pulse, out)
    assert heard(speaker, 2.0), missed_tone(speaker, seat)
    assert caller["blocks"] >= 55, caller
    assert caller["present"] == caller["blocks"], missed_mic_tone(caller, seat)
    qtbot.mouseClick(window.call_panel.hangup_button, Qt.MouseButton.LeftButton)
    wait(qtbot, lambda: lab.pstn.events("call_state", call=out["call"], state="DISCONNECTED"))
    history = window.history_view
    assert history is not None
    wait(qtbot, lambda: "pstn" in history.numbers())
    # Wrap-up after the call (10 s in the demo team): end it from the window.
    wait(qtbot, lambda: machine.state.availability is Availability.WRAPUP)
    assert window.wrapup_button.isEnabled()
    qtbot.mouseClick(window.wrapup_button, Qt.MouseButton.LeftButton)
    wait(qtbot, lambda: machine.state.availability is Availability.READY)

    # -- diagnostics after a real call: the real SIP trace is in the zip, no secret is
    target = app_dir / "diagnostics.zip"
    monkeypatch.setattr(diagnostics, "default_zip_path", lambda: target)
    monkeypatch.setenv(logs.LOG_DIR_ENV, str(app_dir / "no-log-files"))
    seat.collect_diagnostics()
    wait(qtbot, target.exists, 30_000)  # written as .part, then renamed: complete when there
    with zipfile.ZipFile(target) as z:
        zipped = {n: z.read(n).decode("utf-8", "replace") for n in z.namelist()}
    trace = zipped["sip-trace.log"]
    assert "REGISTER sip:" in trace, trace[-3000:]
    assert "INVITE sip:" in trace, trace[-3000:]
    assert "Authorization: <redacted>" in trace, trace[-3000:]
    for name, text in zipped.items():
        assert PASSWORD not in text, name
        assert str(tokens[0]) not in text, name
        assert not re.search(r'response="(?!<redacted>)', text), name
        assert "Authorization: Digest" not in text, name
    assert json.loads(zipped["network.json"])["server"]["http"]["answers_like_the_api"]

    # -- the server stops for 60 s during a call: the call goes on, the app says so, resumes
    out = ring_from_pstn(qtbot, lab, seat)
    answer_in_ring_window(qtbot, lab, seat, out)
    lab.pstn.send_tone(out["call"], CALLER_TONE)
    session_before = machine.state.session_id
    assert seat.stream is not None
    connections = seat.stream.connections
    lab.server.stop()
    stopped = time.monotonic()
    wait(qtbot, lambda: machine.state.network is Network.UNREACHABLE, 30_000)
    assert "unreachable" in window.server_chip.text().lower(), window.server_chip.text()
    wait(qtbot, lambda: time.monotonic() - stopped >= SERVER_DOWN_S - 4, 70_000)
    speaker, caller = tones_cross(qtbot, lab, pulse, out, seconds=2.0)
    assert window.call_panel.talking
    assert heard(speaker, 1.5), missed_tone(speaker, seat)
    assert caller["present"] == caller["blocks"] >= 36, missed_mic_tone(caller, seat)
    lab.server.start()
    wait(qtbot, lambda: machine.state.network is Network.REACHABLE, 30_000)
    # ... and the event stream follows at once (not after its backoff).
    wait(qtbot, lambda: seat.stream is not None and seat.stream.connections > connections)
    assert machine.state.session is Session.ACTIVE
    assert machine.state.session_id == session_before  # resumed, not a new login
    qtbot.mouseClick(window.call_panel.hangup_button, Qt.MouseButton.LeftButton)
    wait(qtbot, lambda: lab.pstn.events("call_state", call=out["call"], state="DISCONNECTED"))

    # -- a team admin logs the agent out with a reason: the app shows it
    admin = lab.server.login("supervisor", terminal="admin-desk")
    r = httpx.post(f"{lab.server.base_url}/api/v1/teams/demo/agents/1001/logout",
                   headers=admin, json={"reason": "end of the test shift"}, timeout=10)
    assert r.status_code == 200, r.text
    wait(qtbot, lambda: machine.state.session is Session.ENDED)
    assert machine.state.ended is not None
    assert machine.state.ended.code == "session_revoked"
    wait(qtbot, lambda: "end of the test shift" in window.status_label.text())
    assert window.relogin_button.isVisible()

    # -- heartbeat timeout: a short timeout, the server away longer than it
    r = httpx.put(f"{lab.server.base_url}/api/v1/provisioning", headers=admin, timeout=10,
                  json={"teams": [{"name": "demo", "heartbeat_interval_s": 2,
                                   "session_timeout_s": 5}]})
    assert r.status_code == 200, r.text
    qtbot.mouseClick(window.relogin_button, Qt.MouseButton.LeftButton)
    wait(qtbot, lambda: machine.state.session is Session.ACTIVE)
    tokens.append(seat.client._token if seat.client else None)
    assert seat.heartbeat is not None
    assert seat.heartbeat.interval_s == 2
    lab.server.stop()
    stopped = time.monotonic()
    wait(qtbot, lambda: time.monotonic() - stopped >= 7, 15_000)
    lab.server.start()
    wait(qtbot, lambda: machine.state.session is Session.ENDED, 20_000)
    assert machine.state.ended is not None
    assert machine.state.ended.code == "session_expired"
    assert "timeout" in window.status_label.text()

    # -- no password and no token in anything the app logged (DEBUG, PJSIP and Qt included)
    assert all(tokens), tokens
    logged = (app_dir / "app.log").read_text(errors="replace")
    assert "POST /api/v1/sessions" in logged or "login" in logged  # the log is not empty
    assert PASSWORD not in logged
    for token in tokens:
        assert str(token) not in logged


def test_self_adapting_agent_registers_this_app_as_the_phone_first(
        qtbot: QtBot, lab: Lab, seat: AgentApp) -> None:
    """Agent 1002 (self-adapting): the server takes the phone registered from this computer.
    None is: the login says so and asks for a phone; this app registers as 8002, then logs in."""
    machine, login = seat.machine, seat.login_window
    seat._remove_account()  # no phone of ours registered from here any more
    wait(qtbot, lambda: "8001" not in lab.box.rx("pjsip show contacts"))
    qtbot.wait(1000)  # the server hears of it from Asterisk (AMI) a moment later
    login.show()
    login.prefill(server=lab.server.base_url, team="demo", agent="1002", password="demo")
    qtbot.mouseClick(login.login_button, Qt.MouseButton.LeftButton)
    wait(qtbot, lambda: "no phone is registered from this computer" in login.error_text.lower())
    assert login.phone_password_edit.isVisible()
    assert login.device_edit.isVisible()

    login.phone_password_edit.setText("wrong")
    login.device_edit.setText("8002")
    qtbot.mouseClick(login.login_button, Qt.MouseButton.LeftButton)
    wait(qtbot, lambda: "refused this phone number" in login.error_text)
    assert machine.state.session is not Session.ACTIVE

    login.phone_password_edit.setText("demo")
    qtbot.mouseClick(login.login_button, Qt.MouseButton.LeftButton)
    wait(qtbot, lambda: machine.state.session is Session.ACTIVE
         and machine.state.sip is Sip.REGISTERED)
    assert seat.account is not None
    assert seat.account.settings.username == "8002"
    assert seat.window is not None
    assert seat.window._agent is not None
    assert seat.window._agent.device is not None
    assert seat.window._agent.device.number == "8002"
    # The phone registered before the login stays this seat's phone: the state machine
    # follows its registration after the login too (it used to stop listening at the login,
    # so a PBX outage went unnoticed). Its signal, as a PBX restart would send it:
    account = seat.account
    account.registration_changed.emit(RegistrationState.FAILED, 503, "Service Unavailable")
    wait(qtbot, lambda: machine.state.sip is Sip.FAILED)
    account.registration_changed.emit(RegistrationState.REGISTERED, 200, "OK")
    wait(qtbot, lambda: machine.state.sip is Sip.REGISTERED)


def test_a_second_launch_makes_this_app_dial(qtbot: QtBot, lab: Lab, seat: AgentApp) -> None:
    """`agent-desktop --dial 8001` while this app runs (agent 1002's seat, registered as
    8002): it hands the number over and exits; this app calls 8001, whose phone rings."""
    name = f"agent-desktop-e2e-{os.getpid()}"
    single = SingleInstance(name)
    assert single.claim()
    single.request.connect(seat.handle_request)
    assert seat.account is not None
    try:
        with SipPhone("phone8001") as phone:
            phone.register("8001", "demo", f"127.0.0.1:{lab.box.sip_port}")
            second = subprocess.Popen(
                [sys.executable, "-m", "agent_desktop", "--dial", "8001"],
                env=dict(os.environ, AGENT_DESKTOP_INSTANCE=name, QT_QPA_PLATFORM="offscreen"),
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            wait(qtbot, lambda: second.poll() is not None, 30_000)
            assert second.returncode == 0
            wait(qtbot, lambda: phone.events("incoming"))
            ring = phone.events("incoming")[0]
            assert ring["caller_id"]["number"] == "8002"
            phone.hangup(ring["call"])
            wait(qtbot, lambda: not any(c.is_active for c in seat.engine.calls))
    finally:
        single.close()


def test_team_admin_listens_and_whispers_on_this_apps_phone(
        qtbot: QtBot, lab: Lab, seat: AgentApp, pulse: PulseServer) -> None:
    """The supervisor (team view alone, phone 8003 = this app) listens to agent 1001's call:
    the caller's tone comes out of this app's speaker; in whisper the agent hears this app's
    microphone (1 kHz, fed since the first test) and the caller does not."""
    base = lab.server.base_url
    admin = lab.server.login("supervisor", terminal="provision")
    r = httpx.put(f"{base}/api/v1/provisioning", headers=admin, timeout=10, json={"teams": [
        {"name": "demo", "accounts": [{"username": "supervisor", "password": "demo",
                                       "role": "team_admin", "device": "8003",
                                       "display_name": "Demo supervisor"}]}]})
    assert r.status_code == 200, r.text
    registrar = f"127.0.0.1:{lab.box.sip_port}"
    with SipPhone("agent8001") as agent_phone:
        agent_phone.register("8001", "demo", registrar)
        agent = lab.server.login("1001", password=PASSWORD, terminal="desk-1001")
        assert httpx.post(f"{base}/api/v1/me/checkin", headers=agent, json={},
                          timeout=10).status_code == 200

        login = seat.login_window
        login.show()
        login.prefill(server=base, team="demo", agent="supervisor", password="demo")
        qtbot.mouseClick(login.login_button, Qt.MouseButton.LeftButton)
        wait(qtbot, lambda: seat.team_window is not None and seat.team_window.isVisible()
             and seat.machine.state.sip is Sip.REGISTERED)
        assert seat.account is not None
        assert seat.account.settings.username == "8003"
        team = seat.team_window
        assert team is not None
        # The supervisor's phone places calls from the team view (here a link's dial
        # request; 9001 is the PBX's tone line, which answers) and hangs up there.
        assert team.phone_box.isVisible()
        assert seat.handle_request({"dial": "9001"}) == "ok"
        placed = team.call_panel.call
        assert placed is not None
        wait(qtbot, lambda: placed.state.value == "confirmed")
        assert team.call_panel.hangup_button.isEnabled()
        qtbot.mouseClick(team.call_panel.hangup_button, Qt.MouseButton.LeftButton)
        wait(qtbot, lambda: not seat.engine.calls)  # released: the listen call is counted

        out = lab.pstn.call("pstn", "7001")
        ring = agent_phone.wait_event("incoming", 10, after=out["ts"], account="8001")
        agent_phone.answer(ring["call"])
        wait(qtbot, lambda: lab.pstn.events("media_active", call=out["call"]))
        lab.pstn.send_tone(out["call"], CALLER_TONE)
        team.board_view.search_edit.setText("1001")
        wait(qtbot, lambda: team.model.rowCount() == 1
             and team.model.row_at(0).activity is Activity.TALKING)
        team.board_view.table.selectRow(0)

        calls_before = len(seat.engine.calls)
        team.spy_actions["listen"].trigger()
        wait(qtbot, lambda: team.spying is not None and len(seat.engine.calls) > calls_before)
        spy_call = seat.engine.calls[-1]
        wait(qtbot, lambda: spy_call.state.value == "confirmed")  # answered by Call-Info
        # Agent 1001's seat from the first test is parked: the spy call neither rang nor
        # popped up there (a ring there would mix into the caller's tone on the speaker).
        assert seat.window is None
        assert not seat.bridge.is_ringing()
        assert seat.calls == {}
        speaker, _ = tones_cross(qtbot, lab, pulse, out, seconds=2.0)
        # the caller's tone, on this app's speaker
        assert heard(speaker, 1.5), missed_tone(speaker, seat)
        team.stop_spy_button.click()
        wait(qtbot, lambda: not spy_call.is_active)

        team.spy_actions["whisper"].trigger()
        wait(qtbot, lambda: len([c for c in seat.engine.calls if c.is_active]) == 1
             and seat.engine.calls[-1] is not spy_call
             and seat.engine.calls[-1].state.value == "confirmed")
        start = time.time()
        wait(qtbot, lambda: time.time() - start > 3.0, 6000)
        to_agent = agent_phone.tone_check(ring["call"], AGENT_TONE, since_ts=start + 1.0,
                                          until_ts=start + 3.0)
        to_caller = lab.pstn.tone_check(out["call"], AGENT_TONE, since_ts=start + 1.0,
                                        until_ts=start + 3.0)
        assert to_agent["present"] >= 0.9 * to_agent["blocks"] > 0, to_agent
        assert to_caller["present"] <= 0.05 * to_caller["blocks"], to_caller
        team.stop_spy_button.click()
        lab.pstn.hangup(out["call"])
        wait(qtbot, lambda: not any(c.is_active for c in seat.engine.calls))
