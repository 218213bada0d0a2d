"""Provisioning by IT: the system settings file (and URL), locks in the login window and the
settings dialog, the command line losing to a lock, bad files as warnings and defaults."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings
from pytestqt.qtbot import QtBot

import agent_desktop.sip.audio  # noqa: F401 - loads Qt Multimedia (and its warnings) now
from agent_desktop import provisioning as p
from agent_desktop.app import DEFAULT_SERVER, AgentApp, build_seat, parse_args
from agent_desktop.screenpop import PopWhen
from agent_desktop.session import worker
from agent_desktop.session.client import ApiClient
from agent_desktop.session.state import AgentStateMachine
from agent_desktop.settings import AppSettings, Theme, apply_theme
from agent_desktop.sip import SipError
from agent_desktop.ui.login import LoginWindow
from agent_desktop.ui.settings_dialog import SettingsDialog
from tests.session.support import FakeServer, fake_server, json_reply
from tests.support.live import LiveServer
from tests.ui.fakes import no_keyring

IT_URL = "https://callcenter.example.com"
TIP = "Set by your IT department"


def write(tmp_path: Path, doc: Any, name: str = "settings.json") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), "utf-8")
    return path


def ini(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "user.ini"), QSettings.Format.IniFormat)


@pytest.fixture(autouse=True)
def _own_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The autostart entry and the provisioning cache go to tmp_path, never to ~/.config."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


@pytest.fixture
def seat_from(qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
              ) -> Iterator[Any]:
    """build_seat (the production wiring) with a system file, no SIP engine, an INI store."""
    def no_audio(*_args: Any, **_kwargs: Any) -> None:
        raise SipError("no SIP engine in this test")

    monkeypatch.setattr("agent_desktop.sip.audio.AudioBridge", no_audio)
    # pjsua2 allows one Endpoint per process (a second one aborts it): none here.
    monkeypatch.setattr("agent_desktop.sip.SipEngine", no_audio)
    monkeypatch.setattr("agent_desktop.app.CredentialStore", no_keyring)
    seats: list[AgentApp] = []

    def make(doc: Any, *argv: str) -> AgentApp:
        monkeypatch.setenv(p.SYSTEM_ENV, str(write(tmp_path, doc)))
        args = parse_args(["--history-file", str(tmp_path / "history.sqlite3"), *argv])
        seat = build_seat(args, quit_app=lambda: None, settings=ini(tmp_path))
        qtbot.addWidget(seat.login_window)
        seats.append(seat)
        return seat

    yield make
    for seat in seats:
        seat.finish()
    apply_theme(Theme.SYSTEM)  # the theme is the application's: leave it as found


def test_locked_server_is_read_only_and_beats_the_command_line(
        seat_from: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "agent_desktop.provisioning")
    seat = seat_from({"server_url": IT_URL + "/", "team": "sales",
                      "locked": ["server_url", "team"]},
                     "--server", "http://127.0.0.1:9", "--team", "demo")
    login: LoginWindow = seat.login_window
    for edit, value in ((login.server_edit, IT_URL), (login.team_edit, "sales")):
        assert edit.text() == value
        assert edit.isReadOnly()
        assert edit.toolTip() == TIP
    assert not login.agent_edit.isReadOnly()
    assert login.form().server == IT_URL
    ignored = [r.getMessage() for r in caplog.records if "ignored" in r.getMessage()]
    assert any("server_url=http://127.0.0.1:9" in m and IT_URL in m for m in ignored), ignored
    assert any("team=demo" in m for m in ignored), ignored
    # Busy and back: still read-only (set_busy toggles enabled, never the lock).
    login.set_busy(True)
    login.set_busy(False)
    assert login.server_edit.isReadOnly()


def test_unlocked_values_are_defaults_the_agent_can_change(
        seat_from: Any, tmp_path: Path, qtbot: QtBot) -> None:
    seat = seat_from({"server_url": IT_URL, "team": "sales", "theme": "dark",
                      "screen_pop": {"template": "https://crm.example/?n={caller_id}",
                                     "when": "ring"},
                      "auto_answer": True, "auto_answer_delay_s": 2,
                      "hotkeys": {"answer": "Ctrl+Shift+A"},
                      "locked": ["screen_pop"]},
                     "--team", "support")
    login: LoginWindow = seat.login_window
    assert login.server_edit.text() == IT_URL  # IT's default, no --server given
    assert not login.server_edit.isReadOnly()
    assert login.team_edit.text() == "support"  # the command line beats an unlocked default
    assert not login.team_edit.isReadOnly()
    assert login.team_edit.toolTip() == ""
    s = seat.settings
    assert (s.theme, s.auto_answer, s.auto_answer_delay_s) == (Theme.DARK, True, 2)
    assert s.screen_pop.when is PopWhen.RING
    assert seat.hotkeys == {"answer": "Ctrl+Shift+A"}  # for the desktop integration

    dialog = SettingsDialog(seat.settings)
    qtbot.addWidget(dialog)
    dialog.lock(seat.provisioning.locked, p.locked_tooltip())
    assert not dialog.pop_template.isEnabled()
    assert dialog.pop_template.toolTip() == TIP
    assert not dialog.pop_when.isEnabled()
    assert dialog.theme_box.isEnabled()
    assert dialog.auto_answer_box.isEnabled()
    dialog.auto_answer_box.setChecked(False)
    dialog.auto_answer_box.setChecked(True)  # re-enables the delay, never a locked control
    assert not dialog.pop_when.isEnabled()
    dialog.theme_box.setCurrentIndex(dialog.theme_box.findData("light"))
    dialog.auto_answer_box.setChecked(False)
    dialog.pop_template.setText("https://evil.example/")  # cannot happen by hand; enforced
    seat.apply_settings(dialog.value())
    assert seat.settings.theme is Theme.LIGHT
    assert seat.settings.screen_pop.template == "https://crm.example/?n={caller_id}"
    assert worker.pool().waitForDone(5000)  # saved off the GUI thread
    stored = ini(tmp_path)
    assert stored.value("ui/theme") == "light"
    assert not stored.contains("screen_pop/template")  # locked: IT's, not the agent's
    again = p.effective_settings(ini(tmp_path), seat.provisioning)
    assert (again.theme, again.auto_answer) == (Theme.LIGHT, False)
    assert again.screen_pop.template == "https://crm.example/?n={caller_id}"
    assert p.effective_hotkeys(ini(tmp_path), seat.provisioning) == {"answer": "Ctrl+Shift+A"}


def test_bad_json_is_a_warning_and_the_defaults(
        seat_from: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "agent_desktop.provisioning")
    seat = seat_from('{"server_url": "https://x.example", "locked": ["server_url"],')
    path = str(tmp_path / "settings.json")
    assert any(path in r.getMessage() and "not valid JSON" in r.getMessage()
               for r in caplog.records), caplog.text
    login: LoginWindow = seat.login_window
    assert login.server_edit.text() == DEFAULT_SERVER
    assert not login.server_edit.isReadOnly()
    assert seat.settings == AppSettings()
    assert not seat.provisioning.locked


def test_wrong_types_are_warnings_and_the_good_part_applies(
        seat_from: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "agent_desktop.provisioning")
    seat = seat_from({"server_url": 5, "team": "sales", "theme": "purple",
                      "auto_answer": "yes", "auto_answer_delay_s": 99,
                      "sip": {"transport": "carrier-pigeon", "registrar": "pbx.example:5061"},
                      "audio": "loud", "hotkeys": {"answer": 3, "hangup": "Ctrl+H"},
                      "screen_pop": {"template": "javascript:alert(1)"},
                      "colour": "blue", "locked": ["server_url", "team", "nonsense", 7]})
    text = caplog.text
    path = str(tmp_path / "settings.json")
    for problem in ("server_url: expected a string", "theme: 'purple' is not one of",
                    "auto_answer: expected true or false", "auto_answer_delay_s: must be",
                    "sip.transport: 'carrier-pigeon'", "'audio' must be an object",
                    "hotkeys: bad key sequence for answer", "screen_pop.template",
                    "unknown setting 'colour'", "locked: unknown setting 'nonsense'",
                    "locked: 7 is not a setting name",
                    "server_url is locked but not set"):
        assert problem in text, problem
    assert all(path in r.getMessage() for r in caplog.records
               if r.getMessage().startswith("provisioning /")), text
    prov = seat.provisioning
    assert prov.values == {"team": "sales", "sip.registrar": "pbx.example:5061",
                           "hotkeys": {"hangup": "Ctrl+H"}}
    assert prov.locked == {"team"}
    assert seat.login_window.team_edit.isReadOnly()
    assert not seat.login_window.server_edit.isReadOnly()
    assert seat.settings == AppSettings()


def test_not_an_object_and_no_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "agent_desktop.provisioning")
    assert p.load_system(write(tmp_path, "[1, 2]"), tmp_path).values == {}
    assert "expected a JSON object" in caplog.text
    assert p.load_system(tmp_path / "absent.json", tmp_path) == p.Provisioning()
    assert p.load_system(tmp_path, tmp_path).values == {}  # a folder: a warning, no crash
    assert f"provisioning {tmp_path}: cannot be read (not a file)" in caplog.text


@pytest.fixture
def it_server() -> Iterator[FakeServer]:
    with fake_server() as srv:
        yield srv


def test_provisioning_url_fetched_cached_and_used_when_down(
        tmp_path: Path, it_server: FakeServer, caplog: pytest.LogCaptureFixture) -> None:
    url = it_server.base_url + "/desk.json"
    system = write(tmp_path, {"team": "sales", "theme": "light", "provisioning_url": url})
    cache = tmp_path / "cache"
    it_server.routes["/desk.json"] = json_reply(
        {"server_url": IT_URL, "theme": "dark", "locked": ["server_url", "theme"]})
    fetched = p.refresh(system, cache, timeout=2.0)
    assert (fetched.server_url, fetched.team, fetched.get("theme")) == (IT_URL, "sales", "dark")
    assert fetched.locked == {"server_url", "theme"}
    assert (cache / p.CACHE_FILE).is_file()
    # Startup reads the cached copy (no network); a failed fetch falls back to it too.
    assert p.load_system(system, cache).locked == {"server_url", "theme"}
    it_server.routes["/desk.json"] = json_reply({"detail": "down"}, 503)
    caplog.set_level(logging.WARNING, "agent_desktop.provisioning")
    fallback = p.refresh(system, cache, timeout=2.0)
    assert "fetch failed" in caplog.text
    assert url in caplog.text
    assert (fallback.server_url, fallback.locked) == (IT_URL, {"server_url", "theme"})


def test_agent_app_enforces_locks_without_build_seat(qtbot: QtBot, tmp_path: Path) -> None:
    login = LoginWindow()
    qtbot.addWidget(login)
    app = AgentApp(login_window=login, machine=AgentStateMachine(), store=no_keyring(),
                   client_factory=lambda url: ApiClient(url, client_version="ui/1"),
                   terminal="prov", quit_app=lambda: None, settings_store=ini(tmp_path))
    prov = p.parse_document({"server_url": IT_URL, "language": "en", "start_at_login": False,
                             "sip": {"transport": "udp"}, "audio": {"echo_cancellation": False},
                             "locked": ["server_url", "language", "start_at_login", "audio"]},
                            "test")
    app.use_provisioning(prov)
    assert login.server_edit.isReadOnly()
    assert login.server_edit.text() == IT_URL
    assert app.settings.language == "en"
    assert app.sip_transport == "udp"
    dialog = SettingsDialog(app.settings)
    qtbot.addWidget(dialog)
    dialog.lock(prov.locked, p.locked_tooltip())
    assert not dialog.start_at_login_box.isEnabled()
    assert not dialog.aec_box.isEnabled()
    assert not dialog.device_boxes["speaker"].isEnabled()
    assert app.settings.echo_cancellation is False
    assert dialog.start_minimized_box.isEnabled()
    app.apply_settings(AppSettings(language="zh_CN", start_at_login=True, echo_cancellation=True))
    assert (app.settings.language, app.settings.start_at_login) == ("en", False)
    assert app.settings.echo_cancellation is False
    assert worker.pool().waitForDone(5000)
    app.finish()


def test_the_documented_example_is_valid(caplog: pytest.LogCaptureFixture) -> None:
    example = Path(__file__).parents[2] / "resources" / "agent-desktop-settings.example.json"
    prov = p.load_file(example)
    assert not prov.warnings, prov.warnings
    assert (prov.server_url, prov.team, prov.sip_transport) == (
        "https://callcenter.example.com", "sales", "tls")
    assert {"server_url", "team", "sip.transport", "sip.srtp", "sip.registrar",
            "screen_pop.template", "screen_pop.when"} == prov.locked
    assert prov.sip_srtp == "off"
    assert prov.hotkeys == {"answer": "F9", "hangup": "F10", "hold": "F11", "mute": "F12"}
    doc = (Path(__file__).parents[2] / "docs" / "provisioning-desktop.md").read_text("utf-8")
    assert '"locked": ["server_url", "team", "sip", "screen_pop"]' in doc


def test_build_seat_fetches_the_url_in_the_background(
        seat_from: Any, it_server: FakeServer, tmp_path: Path, qtbot: QtBot,
        monkeypatch: pytest.MonkeyPatch) -> None:
    it_server.routes["/desk.json"] = json_reply(
        {"server_url": IT_URL, "team": "support", "locked": ["server_url", "team"]})
    seat = seat_from({"team": "sales", "provisioning_url": it_server.base_url + "/desk.json"})
    login: LoginWindow = seat.login_window
    assert login.team_edit.text() == "sales"  # the window is up before the fetch is back
    qtbot.waitUntil(login.server_edit.isReadOnly, timeout=5000)
    assert (login.server_edit.text(), login.team_edit.text()) == (IT_URL, "support")
    assert login.team_edit.isReadOnly()
    assert (tmp_path / "config" / "agent-desktop" / p.CACHE_FILE).is_file()


def test_provisioned_hotkeys_are_the_main_windows_shortcuts(
        qtbot: QtBot, tmp_path: Path, server: LiveServer) -> None:
    login = LoginWindow()
    qtbot.addWidget(login)
    store = ini(tmp_path)
    store.setValue("hotkeys/mute", "Ctrl+F12")  # the agent's own, over IT's (not locked)
    app = AgentApp(login_window=login, machine=AgentStateMachine(), store=no_keyring(),
                   client_factory=lambda url: ApiClient(url, client_version="ui/1"),
                   terminal="keys", quit_app=lambda: None, settings_store=store)
    app.use_provisioning(p.parse_document(
        {"hotkeys": {"answer": "F9", "hangup": "F10", "mute": "F12"}}, "test"))
    login.prefill(server=server.base_url, team="demo", agent="1001", password="demo")
    login.login_button.click()
    qtbot.waitUntil(lambda: app.window is not None and app.window.isVisible(), timeout=10000)
    assert app.window is not None
    keys = {name: sc.key().toString() for name, sc in app.window.shortcuts.items()}
    assert (keys["answer"], keys["hangup"], keys["mute"]) == ("F9", "F10", "Ctrl+F12")
    assert keys["hold"] == "Ctrl+Shift+H"  # not provisioned: the default
    assert "(F9)" in app.window.call_panel.answer_button.toolTip()
    app.finish()
    app.window.close()
    app.window.deleteLater()


@pytest.mark.parametrize(
    ("sip", "srtp", "tls"),
    [
        ({"transport": "tls", "srtp": "mandatory"}, "MANDATORY", True),
        ({"transport": "tls", "srtp": "optional"}, "OPTIONAL", True),
        ({"transport": "tls"}, "DISABLED", True),
        ({"transport": "tcp", "srtp": "mandatory"}, "DISABLED", False),
    ],
)
def test_srtp_is_provisioned_with_tls_only(
    seat_from: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    sip: dict[str, str], srtp: str, tls: bool,
) -> None:
    """sip.srtp reaches the engine's configuration with sip.transport tls; without TLS it is
    ignored and the log says why (SDES keys would cross the network in clear)."""
    configs: list[Any] = []

    def record_config(config: Any, *_args: Any, **_kwargs: Any) -> None:
        configs.append(config)
        raise SipError("no SIP engine in this test")

    monkeypatch.setattr("agent_desktop.sip.SipEngine", record_config)
    caplog.set_level(logging.WARNING, "agent_desktop.app")
    seat_from({"server_url": IT_URL, "sip": sip})
    assert len(configs) == 1
    assert configs[0].srtp.name == srtp
    assert any(t.name == "TLS" for t in configs[0].transports) is tls
    ignored = [r.getMessage() for r in caplog.records if "sip.srtp" in r.getMessage()]
    assert bool(ignored) is (sip.get("srtp", "off") != "off" and not tls), ignored
