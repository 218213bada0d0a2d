"""Runs tests/e2e/app_flow.py in its own pytest process (one pjsua2 Endpoint per process; the
audio environment is set before Qt Multimedia starts) and fails with its output if it fails."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# The app end to end, including its faults (the server away 60 s during a call, the heartbeat
# timeout): part of the fault suite too.
pytestmark = [pytest.mark.integration, pytest.mark.fault, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[2]


def test_agent_app_end_to_end(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("the PBX sandbox needs root")
    env = dict(os.environ, PYTHONPATH=str(REPO), QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/e2e/app_flow.py", "-q", "-s",
         "-p", "no:cacheprovider", "--basetemp", str(tmp_path / "run")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=560, check=False)
    print(proc.stdout[-6000:])
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-4000:]
