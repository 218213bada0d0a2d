"""`python -m agent_desktop --self-test` and `--version` in a child process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from agent_desktop import __version__

REPO = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(REPO))
    env.pop("AGENT_DESKTOP_PASSWORD", None)
    return subprocess.run([sys.executable, "-m", "agent_desktop", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def test_self_test_prints_json_and_exits_0() -> None:
    proc = run("--self-test")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] is True
    assert report["problems"] == []
    assert report["app"] == __version__
    assert report["pyside6"].startswith("6.")
    assert report["pjsua2"]["ok"] is True
    assert report["pjsua2"]["version"]
    assert isinstance(report["pjsua2"]["openssl"], list)
    assert report["audio"]["ok"] is True
    assert isinstance(report["audio"]["outputs"], list)
    assert report["keyring"]["backend"]


def test_version() -> None:
    proc = run("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"agent-desktop {__version__}"


def test_smoke_login_needs_the_password_from_the_environment() -> None:
    proc = run("--smoke-login", "--server", "http://127.0.0.1:9", "--agent", "1001")
    assert proc.returncode == 2
    report = json.loads(proc.stdout)
    assert report["ok"] is False
    assert "AGENT_DESKTOP_PASSWORD" in report["error"]


def test_resources_dir_holds_the_icon() -> None:
    from agent_desktop.app import resources_dir

    assert (resources_dir() / "agent-desktop.png").is_file()
