"""The operator commands and the README walk-through, against a served demo (subprocesses)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.postgres import free_port

REPO = Path(__file__).resolve().parent.parent


def cli(*args: str, db: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "callcenter_server", "--db", db, *args],
                          capture_output=True, text=True, timeout=120, cwd=REPO)


@pytest.fixture
def served_demo(tmp_path: Path) -> Iterator[str]:
    db = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    seeded = cli("demo-seed", db=db)
    assert seeded.returncode == 0, seeded.stderr
    assert "4 agents" in seeded.stdout
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "callcenter_server", "--db", db, "serve",
                             "--port", str(port)], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "server did not come up"
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


def test_readme_walkthrough_runs_as_written(served_demo: str, tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text()
    block = re.search(r"<!-- walkthrough:start -->\s*```sh\n(.*?)```", readme, re.S)
    assert block, "README walk-through block not found"
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", block.group(1)], cwd=tmp_path,
                            env={**os.environ, "BASE": served_demo}, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert '"state_version"' in out  # the heartbeat reply
    assert '"result":"checked_in"' in out
    assert "logout: 204" in out
    for event in ("event: agent.checked_in", "event: agent.checked_out", "event: session.ended"):
        assert event in out


def test_import_creates_then_updates_and_reports_errors(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'site.sqlite3'}"
    site = tmp_path / "site.yaml"
    site.write_text("""
teams:
  - name: east
    heartbeat_interval_s: 15
    session_timeout_s: 60
    accounts:
      - {username: lead, password: pw, role: team_admin}
      - {username: billing, password: pw, role: user}
    devices:
      - {number: "6001", kind: internal, sip_password: s3cret, owner: billing}
      - {number: "+4930999", kind: external, extension: "6500", owner: billing}
    groups:
      - {name: hotline, queue: east-hotline, extension: "6100"}
    agents:
      - {number: "3001", password: pw, device_mode: fixed, device: "6001", owner: billing,
         admin_account: lead, groups: [{name: hotline, membership: static}]}
      - {number: "3002", password: pw, device_mode: dynamic, groups: [hotline]}
""")
    first = cli("import", str(site), db=db)
    assert first.returncode == 0, first.stderr
    assert "1 teams, 2 accounts, 2 devices, 1 groups, 2 agents" in first.stdout
    again = cli("import", str(site), db=db)
    assert again.returncode == 0, again.stderr

    bad = tmp_path / "bad.yaml"
    bad.write_text("teams:\n  - name: east\n    agents:\n      - {number: '3003', password: x, "
                   "device_mode: roaming}\n")
    result = cli("import", str(bad), db=db)
    assert result.returncode == 2
    assert "teams[0].agents[0]: 'roaming' is not one of fixed, self_adapting, dynamic" in \
        result.stderr
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    result = cli("import", str(broken), db=db)
    assert result.returncode == 2
    assert "cannot read" in result.stderr
