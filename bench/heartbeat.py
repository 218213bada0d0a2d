"""Heartbeat latency of the reference server for many logged-in sessions (default: SQLite).

Answers "heartbeat p50/p99 on SQLite for 1,000 sessions":

1. provisions one team with N agents, each with its own internal device (fixed mode), by
   writing an import document and running `python -m callcenter_server import` (timed: argon2
   hashing of N passwords dominates it);
2. starts the real server (`python -m callcenter_server serve`) on a free loopback port;
3. measures a floor: the same client machinery and the same paced schedule against
   `GET /healthz` (no database, no authentication);
4. logs N sessions in from a bounded pool of keep-alive connections (timed);
5. paces heartbeats: every session heartbeats once per `--interval` seconds (default 20 s, the
   demo team's; smaller values probe capacity), phases spread evenly, from `--workers`
   client threads, for `--seconds`;
   records each request's latency and how late it was sent against its schedule.

It reports heartbeat latency as ratios against the floor of the same run; absolute numbers
depend on the machine (client and server share its CPUs). The result goes to
bench/results/heartbeat.json. The server subprocess is stopped on every exit path, and all
HTTP traffic goes to 127.0.0.1.

    .venv/bin/python bench/heartbeat.py                  # 1,000 sessions on SQLite
    .venv/bin/python bench/heartbeat.py --db postgresql://user@127.0.0.1:5432/scratch
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import http.client
import json
import math
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import yaml
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "bench" / "results" / "heartbeat.json"
LOOPBACK = "127.0.0.1"
TEAM = "bench"
PASSWORD = "bench-password"
HEARTBEAT_PATH = "/api/v1/sessions/current/heartbeat"
#: The import is allowed this long before the benchmark gives up (argon2: ~20-50 ms/agent).
IMPORT_TIMEOUT_S = 1800.0
SERVER_START_TIMEOUT_S = 60.0
LOGIN_PHASE_TIMEOUT_S = 900.0
REQUEST_TIMEOUT_S = 30.0
SLOW_IMPORT_S = 60.0

#: (method, path, headers, body)
Request = tuple[str, str, dict[str, str], bytes | None]


# --------------------------------------------------------------------------- HTTP client


class Client:
    """One keep-alive HTTP/1.1 connection to the server on loopback; reconnects after errors."""

    def __init__(self, port: int, timeout: float = REQUEST_TIMEOUT_S) -> None:
        self._port = port
        self._timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def send(self, req: Request) -> tuple[int, bytes]:
        method, path, headers, body = req
        if self._conn is None:
            self._conn = http.client.HTTPConnection(LOOPBACK, self._port, timeout=self._timeout)
        try:
            self._conn.request(method, path, body=body, headers=headers)
            resp = self._conn.getresponse()
            data = resp.read()
        except BaseException:
            self.close()
            raise
        if resp.will_close:
            self.close()
        return resp.status, data

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _error_kind(status: int, data: bytes) -> str:
    try:
        code = json.loads(data).get("code", "")
    except (ValueError, AttributeError):
        code = ""
    return f"HTTP {status} {code}".rstrip()


def _run_threads(workers: int, target: Callable[[int], None], stop: threading.Event,
                 timeout: float) -> None:
    """Run target(worker index) on `workers` threads; Ctrl-C or the timeout stops them."""
    threads = [threading.Thread(target=target, args=(t,), daemon=True, name=f"client-{t}")
               for t in range(workers)]
    for th in threads:
        th.start()
    deadline = time.monotonic() + timeout
    try:
        for th in threads:
            while th.is_alive():
                if time.monotonic() > deadline:
                    raise TimeoutError(f"client threads still busy after {timeout:.0f} s")
                th.join(0.2)
    finally:
        stop.set()
        for th in threads:
            th.join(REQUEST_TIMEOUT_S + 1)


# --------------------------------------------------------------------------- statistics


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks; `sorted_values` must be sorted."""
    if not sorted_values:
        return math.nan
    pos = q * (len(sorted_values) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def summary_ms(seconds: list[float]) -> dict[str, float | None]:
    values = sorted(seconds)
    if not values:
        return {"p50": None, "p90": None, "p99": None, "max": None, "mean": None}
    return {
        "p50": round(percentile(values, 0.50) * 1000, 3),
        "p90": round(percentile(values, 0.90) * 1000, 3),
        "p99": round(percentile(values, 0.99) * 1000, 3),
        "max": round(values[-1] * 1000, 3),
        "mean": round(statistics.fmean(values) * 1000, 3),
    }


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds a process has used so far (Linux /proc; None elsewhere)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Phase:
    """What one paced phase measured."""

    name: str
    offered_per_s: float
    latencies: list[float] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    duration_s: float = 0.0
    server_cpu_s: float | None = None
    client_cpu_s: float = 0.0
    closed_loop_per_s: float | None = None

    @property
    def ok(self) -> int:
        return len(self.latencies) - sum(self.errors.values())

    def as_json(self) -> dict[str, Any]:
        requests = len(self.latencies)
        return {
            "requests": requests,
            "ok": self.ok,
            "errors": sum(self.errors.values()),
            "error_kinds": dict(self.errors.most_common(10)),
            "duration_s": round(self.duration_s, 3),
            "offered_per_s": round(self.offered_per_s, 1),
            "throughput_per_s": round(self.ok / self.duration_s, 1) if self.duration_s else 0.0,
            "latency_ms": summary_ms(self.latencies),
            # How late requests went out against their schedule: large values mean the client
            # threads were held up by slow replies, and the offered rate was not met.
            "send_lag_ms": {k: v for k, v in summary_ms(self.lags).items() if k != "mean"},
            "server_cpu_s": None if self.server_cpu_s is None else round(self.server_cpu_s, 3),
            "server_cpu_ms_per_request": (
                round(self.server_cpu_s * 1000 / requests, 3)
                if self.server_cpu_s is not None and requests else None),
            "client_cpu_s": round(self.client_cpu_s, 3),
            "warmup_closed_loop_per_s": (
                None if self.closed_loop_per_s is None else round(self.closed_loop_per_s, 1)),
        }


# --------------------------------------------------------------------------- load phases


def closed_loop(port: int, requests: list[Request], workers: int, stop: threading.Event,
                expect: int) -> tuple[float, Counter[str]]:
    """Send every request once, as fast as `workers` connections allow; (rate/s, errors)."""
    errors: Counter[str] = Counter()
    lock = threading.Lock()

    def work(t: int) -> None:
        client = Client(port)
        try:
            for i in range(t, len(requests), workers):
                if stop.is_set():
                    return
                try:
                    status, data = client.send(requests[i])
                    kind = None if status == expect else _error_kind(status, data)
                except (OSError, http.client.HTTPException) as exc:
                    kind = type(exc).__name__
                if kind is not None:
                    with lock:
                        errors[kind] += 1
        finally:
            client.close()

    t0 = time.perf_counter()
    _run_threads(min(workers, len(requests)), work, threading.Event(), LOGIN_PHASE_TIMEOUT_S)
    elapsed = time.perf_counter() - t0
    return len(requests) / elapsed, errors


def paced(name: str, port: int, requests: list[Request], *, workers: int, interval: float,
          seconds: float, server_pid: int, expect: int = 200) -> Phase:
    """Each of len(requests) clients sends its request once per `interval`, phases spread
    evenly over the interval, for `seconds`. Client i is served by thread i % workers."""
    n = len(requests)
    workers = min(workers, n)
    stop = threading.Event()
    phase = Phase(name=name, offered_per_s=n / interval)
    phase.closed_loop_per_s, _ = closed_loop(port, requests, workers, stop, expect)  # warm-up
    per_thread: list[tuple[list[float], list[float], Counter[str], float]] = [
        ([], [], Counter(), 0.0) for _ in range(workers)]
    start = time.perf_counter() + 0.2  # let every thread start before the first due time
    end = start + seconds

    def work(t: int) -> None:
        client = Client(port)
        lat, lag, errors = per_thread[t][0], per_thread[t][1], per_thread[t][2]
        last_done = start
        mine = range(t, n, workers)
        try:
            for k in range(math.ceil(seconds / interval) + 1):
                for i in mine:
                    due = start + (k + i / n) * interval
                    if due >= end:
                        return
                    delay = due - time.perf_counter()
                    if delay > 0 and stop.wait(delay):
                        return
                    if stop.is_set():
                        return
                    t0 = time.perf_counter()
                    try:
                        status, data = client.send(requests[i])
                        kind = None if status == expect else _error_kind(status, data)
                    except (OSError, http.client.HTTPException) as exc:
                        kind = type(exc).__name__
                    last_done = time.perf_counter()
                    lat.append(last_done - t0)
                    lag.append(max(0.0, t0 - due))
                    if kind is not None:
                        errors[kind] += 1
        finally:
            client.close()
            per_thread[t] = (lat, lag, errors, last_done)

    cpu0, client0 = process_cpu_s(server_pid), time.process_time()
    _run_threads(workers, work, stop, seconds + LOGIN_PHASE_TIMEOUT_S)
    cpu1, client1 = process_cpu_s(server_pid), time.process_time()
    for lat, lag, errors, _ in per_thread:
        phase.latencies.extend(lat)
        phase.lags.extend(lag)
        phase.errors.update(errors)
    phase.duration_s = max(seconds, max(done for *_, done in per_thread) - start)
    if cpu0 is not None and cpu1 is not None:
        phase.server_cpu_s = cpu1 - cpu0
    phase.client_cpu_s = client1 - client0
    return phase


@dataclass
class Logins:
    tokens: list[str]
    latencies: list[float]
    errors: Counter[str]
    seconds: float


def login_all(port: int, n: int, workers: int) -> Logins:
    tokens: list[str | None] = [None] * n
    latencies: list[list[float]] = [[] for _ in range(workers)]
    errors: Counter[str] = Counter()
    lock = threading.Lock()
    stop = threading.Event()

    def work(t: int) -> None:
        client = Client(port)
        try:
            for i in range(t, n, workers):
                if stop.is_set():
                    return
                body = json.dumps({
                    "team": TEAM, "agent": agent_number(i), "password": PASSWORD,
                    "terminal_id": f"bench-terminal-{i}", "client_version": "bench/1",
                    "device_number": device_number(i),
                }).encode()
                t0 = time.perf_counter()
                try:
                    status, data = client.send(("POST", "/api/v1/sessions",
                                                {"Content-Type": "application/json"}, body))
                    kind = None if status == 201 else _error_kind(status, data)
                except (OSError, http.client.HTTPException) as exc:
                    kind = type(exc).__name__
                latencies[t].append(time.perf_counter() - t0)
                if kind is None:
                    tokens[i] = json.loads(data)["token"]
                else:
                    with lock:
                        errors[kind] += 1
        finally:
            client.close()

    t0 = time.perf_counter()
    _run_threads(min(workers, n), work, stop, LOGIN_PHASE_TIMEOUT_S)
    return Logins(tokens=[tok for tok in tokens if tok is not None],
                  latencies=[x for per in latencies for x in per], errors=errors,
                  seconds=time.perf_counter() - t0)


# --------------------------------------------------------------------------- provisioning


def agent_number(i: int) -> str:
    return f"{100000 + i}"


def device_number(i: int) -> str:
    return f"{500000 + i}"


def import_document(n: int) -> dict[str, Any]:
    """One team, n internal devices and n fixed-mode agents (agent i always uses device i)."""
    return {"teams": [{
        "name": TEAM,
        "heartbeat_interval_s": 20,
        # Long enough that no session expires during a slow login phase; the timeout does not
        # change what a heartbeat costs.
        "session_timeout_s": 3600,
        "wrapup_s": 0,
        "devices": [{"number": device_number(i), "kind": "internal",
                     "sip_password": f"sip-{i}"} for i in range(n)],
        "agents": [{"number": agent_number(i), "name": f"Bench agent {i}",
                    "password": PASSWORD, "device_mode": "fixed",
                    "device": device_number(i)} for i in range(n)],
    }]}


def argon2_hash_ms(samples: int = 5) -> float | None:
    """What one password hash costs with the server's default profile, in this process."""
    try:
        from callcenter_server.security import Passwords
    except ImportError:
        return None
    passwords = Passwords()
    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        passwords.hash(PASSWORD)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def server_cmd(db_url: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "callcenter_server", "--db", db_url, *args]


def run_import(db_url: str, n: int, workdir: Path) -> float:
    doc = workdir / "bench-import.yaml"
    doc.write_text(yaml.safe_dump(import_document(n), sort_keys=False), encoding="utf-8")
    t0 = time.perf_counter()
    done = subprocess.run(server_cmd(db_url, "import", str(doc)), cwd=REPO, capture_output=True,
                          text=True, timeout=IMPORT_TIMEOUT_S, check=False)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"import failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return elapsed


# --------------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    """Linux: the kernel kills the server if this benchmark dies without cleaning up."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)


@contextlib.contextmanager
def running_server(db_url: str, log_path: Path, log_level: str) -> Iterator[tuple[int, int]]:
    """Start the server on a free loopback port; yields (port, pid); always stops it."""
    port = free_port()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            server_cmd(db_url, "serve", "--host", LOOPBACK, "--port", str(port),
                       "--log-level", log_level),
            cwd=REPO, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        try:
            wait_ready(proc, port, log_path)
            yield port, proc.pid
        finally:
            stop_process(proc)


def wait_ready(proc: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}) while starting:\n"
                               + log_tail(log_path))
        client = Client(port, timeout=1.0)
        try:
            status, _ = client.send(("GET", "/healthz", {}, None))
            if status == 200:
                return
        except (OSError, http.client.HTTPException):
            pass
        finally:
            client.close()
        time.sleep(0.1)
    raise RuntimeError(f"server not ready after {SERVER_START_TIMEOUT_S:.0f} s:\n"
                       + log_tail(log_path))


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


# --------------------------------------------------------------------------- the benchmark


def check_db_url(url: str) -> str:
    """Only PostgreSQL on this machine: the benchmark talks to nothing off loopback."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("postgres"):
        raise SystemExit("--db: only postgresql:// URLs (SQLite is the default)")
    if parsed.host not in (None, "", "localhost", LOOPBACK, "::1"):
        raise SystemExit("--db: the database must be on this machine (localhost)")
    return url


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def run(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {
        "benchmark": "heartbeat",
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "backend": "postgresql" if args.db else "sqlite",
        "db": make_url(args.db).render_as_string(hide_password=True) if args.db else None,
        "sessions": args.sessions,
        "seconds": args.seconds,
        "interval_s": args.interval,
        "workers": args.workers,
        "login_workers": args.login_workers,
        "server_log_level": args.server_log_level,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "notes": [],
    }
    with tempfile.TemporaryDirectory(prefix="bench-heartbeat-") as tmp:
        workdir = Path(tmp)
        db_url = args.db or f"sqlite:///{workdir / 'callcenter.sqlite3'}"

        print(f"importing {args.sessions} agents and devices …", flush=True)
        hash_ms = argon2_hash_ms()
        import_s = run_import(db_url, args.sessions, workdir)
        result["import"] = {
            "seconds": round(import_s, 2), "agents": args.sessions, "devices": args.sessions,
            "argon2_hash_ms": None if hash_ms is None else round(hash_ms, 2),
            "argon2_share_estimate": (None if hash_ms is None
                                      else round(hash_ms * args.sessions / 1000 / import_s, 2)),
        }
        if import_s > SLOW_IMPORT_S:
            result["notes"].append(
                f"import took {import_s:.0f} s (> {SLOW_IMPORT_S:.0f} s), mostly argon2; the "
                "import command has no option for security.FAST_PROFILE")

        with running_server(db_url, workdir / "server.log", args.server_log_level) as (port, pid):
            print("floor: GET /healthz …", flush=True)
            floor = paced("floor", port, [("GET", "/healthz", {}, None)] * args.sessions,
                          workers=args.workers, interval=args.interval, seconds=args.seconds,
                          server_pid=pid)

            print(f"logging in {args.sessions} sessions …", flush=True)
            logins = login_all(port, args.sessions, args.login_workers)
            result["login"] = {
                "seconds": round(logins.seconds, 2),
                "ok": len(logins.tokens),
                "errors": sum(logins.errors.values()),
                "error_kinds": dict(logins.errors.most_common(10)),
                "per_s": round(len(logins.tokens) / logins.seconds, 1),
                "latency_ms": summary_ms(logins.latencies),
            }
            if not logins.tokens:
                raise RuntimeError(f"no session logged in: {dict(logins.errors)}\n"
                                   + log_tail(workdir / "server.log"))

            print(f"heartbeats: {len(logins.tokens)} sessions every {args.interval:g} s "
                  f"for {args.seconds:g} s …", flush=True)
            beats: list[Request] = [
                ("POST", HEARTBEAT_PATH, {"Authorization": f"Bearer {tok}"}, None)
                for tok in logins.tokens]
            heartbeat = paced("heartbeat", port, beats, workers=args.workers,
                              interval=args.interval, seconds=args.seconds, server_pid=pid)

    result["floor"] = floor.as_json()
    result["heartbeat"] = heartbeat.as_json()
    hb, fl = result["heartbeat"]["latency_ms"], result["floor"]["latency_ms"]
    result["ratios"] = {"p50": ratio(hb["p50"], fl["p50"]), "p99": ratio(hb["p99"], fl["p99"])}
    lag_p99 = result["heartbeat"]["send_lag_ms"]["p99"]
    if lag_p99 is not None and lag_p99 > args.interval * 1000 / 10:
        result["notes"].append(
            f"heartbeats were sent up to {lag_p99:.0f} ms late (p99): the offered rate was not "
            "met, and the latencies understate what a client waiting on schedule would see")
    return result


def print_table(r: dict[str, Any]) -> None:
    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:.1f}"

    imp, login = r["import"], r["login"]
    print()
    print(f"heartbeat benchmark: {r['backend']}, {r['sessions']} sessions, one heartbeat per "
          f"{r['interval_s']:g} s each, {r['seconds']:g} s, {r['workers']} client threads, "
          f"{r['machine']['cpus']} CPUs")
    print(f"import : {imp['agents']} agents + devices in {imp['seconds']:.1f} s "
          f"(argon2 {ms(imp['argon2_hash_ms'])} ms/hash)")
    print(f"login  : {login['ok']} ok, {login['errors']} errors in {login['seconds']:.1f} s "
          f"({login['per_s']:.0f}/s; p50 {ms(login['latency_ms']['p50'])} ms, "
          f"p99 {ms(login['latency_ms']['p99'])} ms)")
    print(f"{'':10} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8} {'req/s':>7} "
          f"{'offered':>7} {'errors':>6} {'srv cpu ms/req':>14}")
    for name in ("floor", "heartbeat"):
        p = r[name]
        lat = p["latency_ms"]
        print(f"{name:10} {ms(lat['p50']):>8} {ms(lat['p90']):>8} {ms(lat['p99']):>8} "
              f"{ms(lat['max']):>8} {p['throughput_per_s']:>7.0f} {p['offered_per_s']:>7.0f} "
              f"{p['errors']:>6} {ms(p['server_cpu_ms_per_request']):>14}")
    print(f"ratio heartbeat/floor: p50 {r['ratios']['p50']}x, p99 {r['ratios']['p99']}x")
    for note in r["notes"]:
        print(f"note: {note}")


def write_json(result: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, out)


def positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive: {text}")
        return value
    return parse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=positive(int), default=1000,
                        help="agents provisioned and sessions logged in (default 1000)")
    parser.add_argument("--seconds", type=positive(float), default=40.0,
                        help="length of the floor and of the heartbeat phase (default 40)")
    parser.add_argument("--interval", type=positive(float), default=20.0,
                        help="seconds between two heartbeats of a session (default 20: the "
                             "demo team's interval; smaller values probe capacity)")
    parser.add_argument("--workers", type=positive(int), default=32,
                        help="client threads (keep-alive connections) for the paced phases")
    parser.add_argument("--login-workers", type=positive(int), default=32,
                        help="client threads for logging in")
    parser.add_argument("--db", type=check_db_url, default=None,
                        help="run against this PostgreSQL database on localhost instead of a "
                             "fresh SQLite file; use an empty, disposable database")
    parser.add_argument("--server-log-level", default="info",
                        help="the server's --log-level (default info: access log on, as shipped)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the JSON goes")
    args = parser.parse_args(argv)

    def on_term(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)  # unwinds through the server's cleanup

    signal.signal(signal.SIGTERM, on_term)
    try:
        result = run(args)
    except (RuntimeError, TimeoutError, subprocess.TimeoutExpired) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    write_json(result, args.out)
    print_table(result)
    print(f"\nwritten: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
