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
    assert report["audio"]["ok"] is True
    assert isinstance(report["audio"]["outputs"], list)
    assert report["keyring"]["backend"]


def test_version() -> None:
    proc = run("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"agent-desktop {__version__}"
