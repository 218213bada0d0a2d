"""Operations: redacted rotating logs and the diagnostics zip.

The zip comes from a real session (the real server, logged in through AgentApp, a call on the
seat) with a recorded PJSIP-format trace of a REGISTER carrying a digest Authorization header
and a line with the SIP password; none of the secrets may be in it.
"""

from __future__ import annotations

import json
import logging
import secrets
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from PySide6.QtCore import QSettings
from pytestqt.qtbot import QtBot

from agent_desktop import diagnostics, logs
from agent_desktop.app import AgentApp, main
from agent_desktop.history import HistoryStore
from agent_desktop.session import errors as e
from agent_desktop.session.client import ApiClient
from agent_desktop.session.state import AgentStateMachine
from agent_desktop.sip import CallState
from agent_desktop.ui.login import LoginWindow
from tests.support.live import LiveServer
from tests.ui.fakes import FakeCall, no_keyring

LOGIN_PW = "Pw-Zebra-4711"
SIP_PW = "Sip-Quokka-9931"
EXPECTED = {"README.txt", "logs/agent-desktop.log", "sip-trace.log", "server-errors.log",
            "audio-devices.json", "network.json", "versions.json", "settings.json"}


def register_trace(sip_password: str, digest: str, proxy_digest: str) -> list[str]:
    """What PJSIP logs at level 5 for a REGISTER with credentials (pjsua2 LogWriter lines)."""
    return [
        "pjsua_acc.c  ....Acc 0: setting registration..",
        f"pjsua_acc.c  .....Account sip:8009@127.0.0.1: cred realm=* scheme=digest "
        f"username=8009 data_type=0 data={sip_password}",
        "sip_endpoint.c  .Request msg REGISTER/cseq=53127 (tdta0x1) created.",
        "pjsua_core.c  .TX 612 bytes Request msg REGISTER/cseq=53128 (tdta0x1) to TCP "
        "127.0.0.1:5060:\n"
        "REGISTER sip:127.0.0.1:5060;transport=tcp SIP/2.0\r\n"
        "Via: SIP/2.0/TCP 127.0.0.1:40213;rport;branch=z9hG4bKPj1\r\n"
        "From: <sip:8009@127.0.0.1>;tag=abc\r\n"
        "To: <sip:8009@127.0.0.1>\r\n"
        "Call-ID: 5b3a9c\r\n"
        "CSeq: 53128 REGISTER\r\n"
        'Authorization: Digest username="8009", realm="asterisk", nonce="1700000000/x", '
        f'uri="sip:127.0.0.1:5060;transport=tcp", response="{digest}", algorithm=MD5\r\n'
        'Proxy-Authorization: Digest username="8009", realm="proxy", nonce="n2", '
        f'uri="sip:127.0.0.1", response="{proxy_digest}"\r\n'
        "Content-Length:  0\r\n\r\n--end msg--",
        "pjsua_core.c  .RX 380 bytes Response msg 200/REGISTER/cseq=53128 (rdata0x2) from TCP "
        "127.0.0.1:5060:\nSIP/2.0 200 OK\r\nCSeq: 53128 REGISTER\r\n\r\n--end msg--",
    ]


@pytest.fixture
def log_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The rotating, redacting file handler of the app on the root logger, into tmp_path."""
    directory = tmp_path / "logs"
    monkeypatch.setenv(logs.LOG_DIR_ENV, str(directory))
    root = logging.getLogger()
    pj, session = logging.getLogger(logs.PJSIP_LOGGER), logging.getLogger(logs.SESSION_LOGGER)
    levels = (root.level, pj.level, session.level)
    handler = logs.file_handler(directory, logging.DEBUG)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    logs.install_rings()
    logs.SIP_TRACE.clear()
    logs.SERVER_ERRORS.clear()
    yield directory
    root.removeHandler(handler)
    handler.close()
    root.setLevel(levels[0])
    pj.setLevel(levels[1])
    session.setLevel(levels[2])
    pj.removeHandler(logs.SIP_TRACE)
    session.removeHandler(logs.SERVER_ERRORS)


def test_redaction_patterns_without_knowing_the_secrets() -> None:
    digest, token = secrets.token_hex(16), secrets.token_urlsafe(24)
    text = "\n".join([
        *register_trace("not-remembered-1", digest, digest[::-1]),
        f"GET /api/v1/me headers={{'Authorization': 'Bearer {token}'}}",
        '{"team": "demo", "agent": "1001", "password": "pw-in-json", "terminal_id": "t"}',
        "{'sip_password': 'pw-in-repr', 'token': 'tok-in-repr'}",
        "POST /login?password=pw-in-query&agent=1001",
        '{\\"password\\": \\"pw-escaped\\"}',
    ])
    clean = logs.redact(text)
    for secret in (digest, digest[::-1], token, "pw-in-json", "pw-in-repr", "tok-in-repr",
                   "pw-in-query", "pw-escaped"):
        assert secret not in clean, secret
    assert "Authorization: <redacted>" in clean
    assert "Proxy-Authorization: <redacted>" in clean
    assert "REGISTER sip:127.0.0.1:5060;transport=tcp SIP/2.0" in clean  # the trace stays
    assert '"agent": "1001"' in clean
    # The free-standing SIP password is only found once the app remembered it.
    assert "data=not-remembered-1" in clean
    logs.remember_secret("not-remembered-1")
    assert "not-remembered-1" not in logs.redact(text)


def test_the_file_rotates_and_is_redacted(log_dir: Path) -> None:
    handler = next(h for h in logging.getLogger().handlers
                   if getattr(h, "baseFilename", "").startswith(str(log_dir)))
    assert isinstance(handler, logs.RotatingLogFile)
    assert (handler.maxBytes, handler.backupCount) == (2 * 1024 * 1024, 4)
    handler.maxBytes = 2000
    noisy = logging.getLogger("agent_desktop.test")
    for i in range(200):
        noisy.info("line %d password=%s", i, "hunter2-rotated")
    names = [p.name for p in logs.log_files(log_dir)]
    assert names[0] == "agent-desktop.log"
    assert names[1:] == [f"agent-desktop.log.{i}" for i in range(1, 5)]
    for f in logs.log_files(log_dir):
        assert "hunter2-rotated" not in f.read_text()
    assert "password=<redacted>" in (log_dir / "agent-desktop.log").read_text()


# The audio-device list starts Qt Multimedia, which looks for PipeWire and PulseAudio first.
@pytest.mark.qt_log_ignore("This plugin does not support", "pipewire", "PulseAudioService")
def test_diagnostics_of_a_session_with_a_call_hold_no_secret(
        qtbot: QtBot, tmp_path: Path, server: LiveServer, log_dir: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    server.provision({"teams": [{"name": "demo", "devices": [
        {"number": "8009", "kind": "internal", "owner": "frontdesk", "sip_password": SIP_PW}],
        "agents": [{"number": "1009", "name": "Dee", "password": LOGIN_PW, "owner": "frontdesk",
                    "device_mode": "fixed", "device": "8009", "groups": [{"name": "sales"}]}]}]})
    login = LoginWindow()
    qtbot.addWidget(login)
    store = QSettings(str(tmp_path / "user.ini"), QSettings.Format.IniFormat)
    store.setValue("screen_pop/template", "https://crm.example/?n={caller_id}&api_key=k-123")
    app = AgentApp(login_window=login, machine=AgentStateMachine(), store=no_keyring(),
                   client_factory=lambda url: ApiClient(url, client_version="ui/1"),
                   terminal="diag", quit_app=lambda: None, settings_store=store,
                   history=HistoryStore(tmp_path / "history.sqlite3"))
    login.prefill(server=server.base_url, team="demo", agent="1009", password=LOGIN_PW)
    login.login_button.click()
    qtbot.waitUntil(lambda: app.window is not None and app.window.isVisible(), timeout=10000)
    assert app.window is not None
    assert app.client is not None
    token = app.client.auth_headers()["Authorization"].split()[1]

    # A call on the seat (the SIP call is a fake: no Asterisk here).
    app.account = SimpleNamespace()
    call = FakeCall("5550123", "Ada")
    app.on_incoming_call(call)
    ring = app.calls[call.key].window
    assert ring is not None
    ring.answer_button.click()
    assert call.state is CallState.CONFIRMED
    call.hangup()
    # The history view joins the main window a loop turn after it is shown (AgentApp).
    window = app.window
    qtbot.waitUntil(lambda: window.history_view is not None, timeout=5000)
    history = window.history_view
    assert history is not None
    qtbot.waitUntil(lambda: history.numbers() == ["5550123"], timeout=5000)

    # The trace of the phone's registration, and careless lines a developer might write.
    digest, proxy_digest = secrets.token_hex(16), secrets.token_hex(16)
    pj = logging.getLogger(logs.PJSIP_LOGGER)
    for line in register_trace(SIP_PW, digest, proxy_digest):
        pj.debug("%s", line)
    careless = logging.getLogger("agent_desktop.careless")
    careless.info("login body %s", json.dumps({"agent": "1009", "password": LOGIN_PW}))
    careless.info("request headers %s", {"Authorization": f"Bearer {token}"})
    careless.warning("session %s for %s", token, "1009")
    try:
        raise RuntimeError(f"phone 8009 rejected password {SIP_PW}")
    except RuntimeError:
        careless.exception("registration")
    with pytest.raises(e.ApiError):  # a server error for the recent-errors ring
        app.client.send("GET", "/teams/nowhere/board")

    # Settings → Collect diagnostics: the zip is written off the GUI thread.
    target = tmp_path / "out" / "diag.zip"
    monkeypatch.setattr(diagnostics, "default_zip_path", lambda: target)
    app.open_settings()
    dialog = app.settings_dialog
    assert dialog is not None
    dialog.diagnostics_button.click()
    assert not dialog.diagnostics_button.isEnabled()  # busy: the click returned at once
    qtbot.waitUntil(lambda: "saved to" in dialog.diagnostics_label.text(), timeout=30000)
    assert str(target) in dialog.diagnostics_label.text()
    assert dialog.diagnostics_button.isEnabled()

    with zipfile.ZipFile(target) as z:
        names = set(z.namelist())
        contents = {n: z.read(n).decode("utf-8") for n in names}
    assert names >= EXPECTED, names
    for name, text in contents.items():
        for secret in (LOGIN_PW, SIP_PW, token, digest, proxy_digest, "k-123"):
            assert secret not in text, (name, secret)
    trace = contents["sip-trace.log"]
    assert "REGISTER sip:127.0.0.1:5060;transport=tcp SIP/2.0" in trace
    assert "Authorization: <redacted>" in trace
    assert "SIP/2.0 200 OK" in trace
    log_text = contents["logs/agent-desktop.log"]
    assert "logged in as demo/1009" in log_text
    assert "Traceback" in log_text  # the exception is there, its secret is not
    assert "/teams/nowhere/board failed" in contents["server-errors.log"]
    network = json.loads(contents["network.json"])
    assert network["server"]["tcp"] == "connected"
    assert network["server"]["http"]["answers_like_the_api"] is True
    assert any(i["loopback"] for i in network["interfaces"])
    assert "inputs" in json.loads(contents["audio-devices.json"])
    assert "pyside6" in json.loads(contents["versions.json"])
    settings = json.loads(contents["settings.json"])
    assert settings["user"]["screen_pop/template"].startswith("https://crm.example/?n=")
    assert settings["locked"] == []
    # The raw log file too: the filter is in front of the file, not only of the zip.
    raw = (log_dir / "agent-desktop.log").read_text()
    for secret in (LOGIN_PW, SIP_PW, token, digest, proxy_digest):
        assert secret not in raw, secret
    dialog.reject()
    app.finish()
    app.window.close()
    app.window.deleteLater()


def test_collect_diagnostics_from_the_command_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(logs.LOG_DIR_ENV, str(tmp_path / "logs"))
    system = tmp_path / "system.json"
    system.write_text(json.dumps({"server_url": "http://127.0.0.1:9", "team": "sales",
                                  "locked": ["server_url"]}))
    monkeypatch.setenv("AGENT_DESKTOP_SYSTEM_SETTINGS", str(system))
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    try:
        rc = main(["--collect-diagnostics", str(tmp_path / "cli.zip"),
                   "--server", "http://127.0.0.1:1"])
    finally:
        for h in root.handlers[:]:
            if h not in before:
                root.removeHandler(h)
                h.close()
        root.setLevel(level)
    assert rc == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "cli.zip")
    with zipfile.ZipFile(tmp_path / "cli.zip") as z:
        assert set(z.namelist()) >= EXPECTED - {"logs/agent-desktop.log"}
        settings = json.loads(z.read("settings.json"))
        network = json.loads(z.read("network.json"))
    assert settings["locked"] == ["server_url"]
    assert settings["system"]["values"]["team"] == "sales"
    # The locked URL wins over --server; nothing listens there: the zip says so.
    assert network["server"]["url"] == "http://127.0.0.1:9"
    assert network["server"]["tcp"].startswith("failed")
