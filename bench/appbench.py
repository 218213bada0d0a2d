"""Shared parts of the agent-app benchmarks (issue 5): bench/cold_start.py, bench/login.py,
bench/gui_stall.py.

- measured processes: the app (`python -m agent_desktop`), the floor (bench/floor_app.py) and
  the driven app (bench/app_driver.py), each in an isolated environment (own XDG folders, so no
  QSettings, history or keyring state of the user is read or written);
- the display: Qt's `offscreen` platform, or a private Xvfb (`xcb`);
- the real server with the demo call center (as scripts/demo.sh), optionally driving a real
  Asterisk sandbox (pbx/sandbox.py; root only);
- statistics and the JSON result (helpers of bench/heartbeat.py).
"""

from __future__ import annotations

import contextlib
import os
import platform
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.heartbeat import (  # noqa: E402
    LOOPBACK,
    _die_with_parent,
    free_port,
    log_tail,
    percentile,
    stop_process,
    summary_ms,
    wait_ready,
    write_json,
)

RESULTS = REPO / "bench" / "results"
PYTHON = sys.executable
BENCH_LINE = "BENCH "  # app_driver.py's result lines on stdout (pjlib prints there too)
READY_MARKER = "agent-desktop: ready"  # agent_desktop.app.READY_MARKER (not imported: no Qt here)
ENGINE_MARKER = "agent-desktop: engine started"  # agent_desktop.app.ENGINE_MARKER
BENCH_READY_ENV = "AGENT_DESKTOP_BENCH_READY"
DEMO_PASSWORD = "demo"  # every password of the demo call center

__all__ = [
    "LOOPBACK", "PYTHON", "REPO", "RESULTS", "free_port", "log_tail", "percentile",
    "stop_process", "summary_ms", "write_json",
]


# --------------------------------------------------------------------------- statistics


def median_ms(seconds: Sequence[float]) -> float | None:
    return round(statistics.median(seconds) * 1000, 1) if seconds else None


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def machine() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {"cpus": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "loadavg_1m_at_start": round(load[0], 2)}


# --------------------------------------------------------------------------- display


@contextlib.contextmanager
def display(kind: str) -> Iterator[dict[str, str]]:
    """Environment for Qt: `offscreen` (no X at all) or `xvfb` (a private Xvfb, Qt's xcb)."""
    if kind == "offscreen":
        yield {"QT_QPA_PLATFORM": "offscreen"}
        return
    if kind != "xvfb":
        raise ValueError(kind)
    if shutil.which("Xvfb") is None:
        raise RuntimeError("Xvfb is not installed")
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-nolisten", "tcp", "-screen", "0",
         "1280x1024x24"], pass_fds=(write_fd,), stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None)
    os.close(write_fd)
    try:
        number = b""
        deadline = time.monotonic() + 15
        while not number.endswith(b"\n"):
            ready, _, _ = select.select([read_fd], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(read_fd, 16) if ready else b""
            if not chunk:
                raise RuntimeError("Xvfb did not start")
            number += chunk
        yield {"QT_QPA_PLATFORM": "xcb", "DISPLAY": f":{number.decode().strip()}"}
    finally:
        os.close(read_fd)
        stop_process(proc)


def app_env(home: Path, qt: dict[str, str]) -> dict[str, str]:
    """The environment of a measured process: isolated XDG folders, this checkout first."""
    env = dict(os.environ)
    env.pop(BENCH_READY_ENV, None)
    env.update(qt)
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        path = home / name.lower()
        path.mkdir(parents=True, exist_ok=True)
        env[name] = str(path)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    # Bytecode as an installed app has it: written once (by the untimed first run) to a
    # private cache, not compiled on every start (this machine sets PYTHONDONTWRITEBYTECODE).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(home / "pycache")
    # Each measured app is its own single instance (a previous run's must not take it over).
    env["AGENT_DESKTOP_INSTANCE"] = f"agent-desktop-bench-{home.name}"
    return env


# --------------------------------------------------------------------------- measured processes


def rss_kb(pid: int) -> dict[str, int]:
    """VmRSS/VmHWM/RssAnon of a process (kB) and its PSS from smaps_rollup (Linux)."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"):
            out[key] = int(value.split()[0])
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                out["Pss"] = int(line.split()[1])
    return out


@dataclass
class Measured:
    """A child process whose stdout is read line by line (with a deadline)."""

    proc: subprocess.Popen[bytes]
    started: float
    log_path: Path
    lines: list[str] = field(default_factory=list)
    _buf: bytes = b""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_line(self, prefix: str, timeout: float) -> tuple[str, float]:
        """The next stdout line starting with `prefix`, and when it was read (perf_counter)."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.perf_counter() + timeout
        while True:
            while b"\n" in self._buf:
                raw, self._buf = self._buf.split(b"\n", 1)
                line = raw.decode(errors="replace")
                self.lines.append(line)
                if line.startswith(prefix):
                    return line, time.perf_counter()
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError(f"no {prefix!r} line from pid {self.pid} in {timeout:.0f} s; "
                                   f"log:\n{log_tail(self.log_path)}")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    self.proc.wait(5)
                    raise RuntimeError(f"pid {self.pid} exited ({self.proc.returncode}) before "
                                       f"{prefix!r}; log:\n{log_tail(self.log_path)}")
                self._buf += chunk

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int | None:
        """Signal the process (if alive) and wait; SIGKILL after `timeout`."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return self.proc.returncode


def spawn(cmd: Sequence[str], env: dict[str, str], log_path: Path,
          cwd: Path = REPO) -> Measured:
    """Start a measured process (stdout piped, stderr to `log_path`); dies with the bench."""
    with log_path.open("ab") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(
            list(cmd), cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=log, preexec_fn=_die_with_parent if sys.platform == "linux" else None)
    return Measured(proc, started, log_path)


def app_cmd(*args: str) -> list[str]:
    return [PYTHON, "-m", "agent_desktop", *args]


def floor_cmd() -> list[str]:
    return [PYTHON, str(REPO / "bench" / "floor_app.py")]


def driver_cmd(*args: str) -> list[str]:
    return [PYTHON, str(REPO / "bench" / "app_driver.py"), *args]


# --------------------------------------------------------------------------- PBX and server


@contextlib.contextmanager
def asterisk(name: str) -> Iterator[Any]:
    """A started Asterisk sandbox on free ports (no example devices: the server generates
    the demo's 8001-8004); needs root. Always discarded."""
    if os.geteuid() != 0 or shutil.which("chroot") is None:
        raise RuntimeError("the PBX sandbox needs root (chroot)")
    from tests.pbx_fixtures import discard, new_sandbox

    box = new_sandbox(name)
    try:
        box.start(fresh=True)
        yield box
    finally:
        discard(box)


@dataclass
class Server:
    base_url: str
    port: int
    pid: int
    log_path: Path


def _cli(db_url: str, *args: str) -> list[str]:
    return [PYTHON, "-m", "callcenter_server", "--db", db_url, *args]


@contextlib.contextmanager
def demo_server(workdir: Path, box: Any = None, timeout: float = 60.0) -> Iterator[Server]:
    """The real server (`python -m callcenter_server serve`, as scripts/demo.sh) with the demo
    call center in a fresh SQLite file; driving `box` (an AsteriskSandbox) when given, in which
    case it yields only after the first reconcile with Asterisk. Always stopped."""
    db_url = f"sqlite:///{workdir / 'callcenter.sqlite3'}"
    seeded = subprocess.run(_cli(db_url, "demo-seed"), cwd=REPO, capture_output=True, text=True,
                            timeout=300, check=False)
    if seeded.returncode != 0:
        raise RuntimeError(f"demo-seed failed:\n{seeded.stderr[-3000:]}")
    port = free_port()
    args = ["serve", "--host", LOOPBACK, "--port", str(port), "--log-level", "info"]
    env = dict(os.environ)
    if box is not None:
        args += ["--ami", f"127.0.0.1:{box.ami_port}", "--ami-user", box.ami_user,
                 "--pbx-config-dir", str(box.generated_dir)]
        env["CALLCENTER_AMI_SECRET"] = box.ami_secret
    log_path = workdir / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            _cli(db_url, *args), cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        try:
            wait_ready(proc, port, log_path)
            if box is not None:
                deadline = time.monotonic() + timeout
                while "reconciled" not in log_path.read_text(errors="replace"):
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError("the server did not reconcile with Asterisk:\n"
                                           + log_tail(log_path))
                    time.sleep(0.1)  # polling an outside process's log for readiness
            yield Server(f"http://{LOOPBACK}:{port}", port, proc.pid, log_path)
        finally:
            stop_process(proc)


# --------------------------------------------------------------------------- slow network


class SlowProxy:
    """A reverse proxy on loopback that answers every request `delay_s` late.

    Each request waits `delay_s` (on the proxy's own thread), then goes to `upstream`; the
    answer is passed back (an event stream is passed on line by line as it comes). Every
    connection is closed after one answer (HTTP/1.0)."""

    def __init__(self, upstream_port: int, delay_s: float) -> None:
        self.delay_s = delay_s
        self.requests: list[tuple[float, str, str]] = []
        self._closing = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                proxy.requests.append((time.monotonic(), self.command, self.path))
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if proxy._closing.wait(proxy.delay_s):
                    return
                import http.client

                conn = http.client.HTTPConnection(LOOPBACK, upstream_port, timeout=120)
                try:
                    headers = {k: v for k, v in self.headers.items()
                               if k.lower() not in ("host", "connection", "keep-alive")}
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    streaming = resp.getheader("Content-Type", "").startswith(
                        "text/event-stream")
                    self.send_response_only(resp.status, resp.reason)
                    for k, v in resp.getheaders():
                        if k.lower() not in ("transfer-encoding", "connection",
                                             "content-length", "keep-alive"):
                            self.send_header(k, v)
                    if streaming:
                        self.end_headers()
                        self.wfile.flush()
                        while not proxy._closing.is_set():
                            line = resp.readline()
                            if not line:
                                break
                            self.wfile.write(line)
                            self.wfile.flush()
                    else:
                        data = resp.read()
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data)
                except OSError:
                    pass
                finally:
                    conn.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _forward

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="slow-proxy")

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def __enter__(self) -> SlowProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()


@contextlib.contextmanager
def silent_sip_port() -> Iterator[int]:
    """A loopback port that never answers SIP: UDP bound but never read, TCP listening but
    never accepting (connections complete in the backlog, requests go unanswered)."""
    from tests.pbx_fixtures import free_sip_port

    port = free_sip_port()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, socket.socket() as tcp:
        udp.bind((LOOPBACK, port))
        tcp.bind((LOOPBACK, port))
        tcp.listen(16)
        yield port
