"""The reference server as a real process (`python -m callcenter_server serve`) driving a PBX
sandbox over AMI: what the demo runs, and what end-to-end tests stop and start again.

The database is a seeded SQLite file (demo data, password "demo" everywhere), or a PostgreSQL
database several server processes share; the port stays the same across restarts so that a
client keeps its server URL.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

from pbx.sandbox import AsteriskSandbox
from tests.pbx_fixtures import free_tcp_port

REPO = Path(__file__).resolve().parents[2]


class ServerProcess:
    def __init__(self, box: AsteriskSandbox, workdir: Path, port: int = 0,
                 db_url: str | None = None) -> None:
        self.box = box
        self.workdir = workdir
        self.port = port or free_tcp_port()
        #: Default: a SQLite file in `workdir`; a PostgreSQL URL lets several share it.
        self.db_url = db_url or f"sqlite:///{workdir / 'callcenter.sqlite3'}"
        self.log_path = workdir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _cli(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "callcenter_server", "--db", self.db_url, *args]

    def _env(self) -> dict[str, str]:
        env = dict(os.environ, CALLCENTER_AMI_SECRET=self.box.ami_secret)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        return env

    def seed(self, template: Path | None = None) -> None:
        """Demo data: a copy of a seeded template, or `demo-seed` (slower: real password hashes)."""
        target = self.workdir / "callcenter.sqlite3"
        if template is not None:
            shutil.copy(template, target)
            return
        subprocess.run(self._cli("demo-seed"), cwd=REPO, env=self._env(), check=True,
                       capture_output=True, timeout=60)

    def start(self, timeout: float = 20.0) -> ServerProcess:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self._cli("serve", "--port", str(self.port), "--log-level", "warning",
                          "--ami", f"127.0.0.1:{self.box.ami_port}",
                          "--ami-user", self.box.ami_user,
                          "--pbx-config-dir", str(self.box.generated_dir)),
                cwd=REPO, env=self._env(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited ({self.proc.returncode}):\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.base_url + "/healthz", timeout=1).status_code == 200:
                    return self
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not answer /healthz:\n{self.log_tail()}")
            time.sleep(0.05)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def kill(self) -> None:
        """kill -9: no shutdown of any kind (its database sessions die with it)."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def health(self) -> dict[str, str]:
        """/healthz: its `pbx` says owner ("connected"/"disconnected") or "standby"."""
        r = httpx.get(self.base_url + "/healthz", timeout=5)
        r.raise_for_status()
        data: dict[str, str] = r.json()
        return data

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def login(self, agent: str, password: str = "demo", team: str = "demo",
              terminal: str = "api") -> dict[str, str]:
        """Log in over the API; the Authorization header of the new session."""
        r = httpx.post(self.base_url + "/api/v1/sessions", timeout=10, json={
            "team": team, "agent": agent, "password": password, "terminal_id": terminal})
        r.raise_for_status()
        return {"Authorization": f"Bearer {r.json()['token']}"}
