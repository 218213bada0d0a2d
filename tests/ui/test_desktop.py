"""Desktop integration: links, one app per user (a second launch hands over its request),
and the tray icon on a real X server with a system tray (Xvfb + trayer)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from agent_desktop.instance import SingleInstance, number_from_link, request_from_args

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("link", "number"), [
    ("tel:+49-30-1234567", "+49301234567"),
    ("tel:8002", "8002"),
    ("sip:8002@pbx.example;user=phone", "8002"),
    ("sips:alice%40x@pbx", "alice"),
    ("callto:+4930123", "+4930123"),
    ("https://example.org", None),
    ("tel:", None),
])
def test_links(link: str, number: str | None) -> None:
    assert number_from_link(link) == number


def test_requests_from_arguments() -> None:
    assert request_from_args("8002", False, False, []) == {"dial": "8002"}
    assert request_from_args("tel:+4930 123", False, False, []) == {"dial": "+4930123"}
    assert request_from_args(None, True, False, []) == {"answer": True}
    assert request_from_args(None, False, True, []) == {"hangup": True}
    assert request_from_args(None, False, False, ["sip:2002@x"]) == {"dial": "2002"}
    assert request_from_args(None, False, False, []) is None


def launch(name: str, *args: str, extra: dict[str, str] | None = None,
           ) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, AGENT_DESKTOP_INSTANCE=name, QT_QPA_PLATFORM="offscreen",
               PYTHONPATH=str(REPO), **(extra or {}))
    return subprocess.run([sys.executable, "-m", "agent_desktop", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def running(qtbot: QtBot) -> Iterator[tuple[SingleInstance, list[dict[str, Any]]]]:
    name = f"agent-desktop-test-{os.getpid()}"
    first = SingleInstance(name)
    assert first.claim()
    got: list[dict[str, Any]] = []
    first.request.connect(got.append)
    yield first, got
    first.close()


def test_a_second_launch_hands_its_request_to_the_first(
        qtbot: QtBot, running: tuple[SingleInstance, list[dict[str, Any]]]) -> None:
    first, got = running
    second = SingleInstance(first.name)
    assert not second.claim()  # someone answers: it must not start a second app

    proc = subprocess.Popen(
        [sys.executable, "-m", "agent_desktop", "--dial", "8002"], cwd=REPO,
        env=dict(os.environ, AGENT_DESKTOP_INSTANCE=first.name, QT_QPA_PLATFORM="offscreen",
                 PYTHONPATH=str(REPO)), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    qtbot.waitUntil(lambda: proc.poll() is not None, timeout=30000)
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    assert got == [{"dial": "8002"}]

    proc = subprocess.Popen(
        [sys.executable, "-m", "agent_desktop", "tel:+49%2030%20123"], cwd=REPO,
        env=dict(os.environ, AGENT_DESKTOP_INSTANCE=first.name, QT_QPA_PLATFORM="offscreen",
                 PYTHONPATH=str(REPO)), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    qtbot.waitUntil(lambda: proc.poll() is not None, timeout=30000)
    assert proc.returncode == 0
    assert got[-1] == {"dial": "+4930123"}


def test_garbage_on_the_socket_is_refused(
        qtbot: QtBot, running: tuple[SingleInstance, list[dict[str, Any]]]) -> None:
    first, got = running
    for line in (b"not json\n", b'{"format": "c:"}\n', b'{"dial": ""}\n', b"\xff\xfe\n"):
        assert first._handle(line.rstrip(b"\n")).startswith("error")
    assert got == []


def free_display() -> tuple[subprocess.Popen[bytes], str]:
    read, write = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1024x768x24",
                             "-nolisten", "tcp"], pass_fds=(write,),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as f:
        number = f.readline().strip()
    return xvfb, f":{number}"


@pytest.mark.skipif(not (shutil.which("Xvfb") and shutil.which("trayer")),
                    reason="needs Xvfb and trayer (a system tray) from Debian")
def test_tray_icon_on_a_real_x_server(tmp_path: Path) -> None:
    xvfb, display = free_display()
    env = dict(os.environ, DISPLAY=display, QT_QPA_PLATFORM="xcb", PYTHONPATH=str(REPO),
               AGENT_DESKTOP_INSTANCE=f"agent-desktop-tray-{os.getpid()}",
               XDG_CONFIG_HOME=str(tmp_path / "config"),
               PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    trayer = subprocess.Popen(["trayer", "--edge", "top", "--align", "right", "--widthtype",
                               "request", "--height", "32"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    app = None
    try:
        app = subprocess.Popen(
            [sys.executable, "-m", "agent_desktop", "--server", "http://127.0.0.1:9",
             "--history-file", str(tmp_path / "h.sqlite3"), "--minimized"],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        log: list[str] = []
        deadline = time.monotonic() + 30
        assert app.stderr is not None
        while time.monotonic() < deadline:
            line = app.stderr.readline()
            log.append(line)
            if "tray icon shown" in line or "no system tray" in line:
                break
        assert any("tray icon shown: True" in x for x in log), "".join(log[-20:])
        shot = subprocess.run(["import", "-window", "root", str(tmp_path / "tray.png")],
                              env=env, check=False, capture_output=True)
        # A second launch dials through the first (not logged in yet: after login).
        second = subprocess.run([sys.executable, "-m", "agent_desktop", "--dial", "8002"],
                                cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
                                check=False)
        assert second.returncode == 0, second.stderr
        while time.monotonic() < deadline:
            line = app.stderr.readline()
            log.append(line)
            if "request: {'dial': '8002'}" in line:
                break
        assert any("request: {'dial': '8002'}" in x for x in log), "".join(log[-20:])
        del shot
    finally:
        if app is not None:
            app.terminate()
            app.wait(15)
        trayer.terminate()
        trayer.wait(5)
        xvfb.terminate()
        xvfb.wait(5)


def test_start_at_login_writes_and_removes_the_autostart_entry(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agent_desktop import autostart

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert not autostart.is_enabled()
    autostart.set_enabled(True, minimized=True)
    entry = (tmp_path / "autostart" / "agent-desktop.desktop").read_text()
    assert "--minimized %u" in entry
    assert "-m agent_desktop" in entry
    assert "x-scheme-handler/tel;" in entry
    assert autostart.is_enabled()
    autostart.set_enabled(False)
    assert not autostart.is_enabled()
