"""Load on several server instances: simulated agents (lightweight HTTP clients, not GUIs)
heartbeating, checking in and out and pausing against two instances on one PostgreSQL, then
an audit of every agent's final state against the operations that succeeded, and the expiry
of abandoned sessions measured against their deadlines.

    .venv/bin/python bench/load.py                     # 1,000 agents, 10 minutes, 2 instances
    .venv/bin/python bench/load.py --quick             # 200 agents, 1 minute
    .venv/bin/python bench/load.py --db postgresql://… # an existing database (else a private
                                                       # PostgreSQL cluster is started)

Each agent heartbeats every `--interval` s (phases spread) and, about every 20 s, does one of:
check in or out of one of two groups, pause (reason `rest`) or unpause; requests alternate
between the instances. The expected state is updated only from 2xx answers. At the end, GET
/me for every agent is compared with it ("lost state" = any difference). Separately,
`--abandoned` agents log in and never heartbeat: each `session.ended` (reason timeout) seen on
a team admin's event stream is compared with that session's `expires_at` (server time).
Writes bench/results/load.json.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.heartbeat import (  # noqa: E402
    LOOPBACK,
    PASSWORD,
    TEAM,
    Client,
    running_server,
    server_cmd,
    summary_ms,
)

OUT = REPO / "bench" / "results" / "load.json"
GROUPS = ("g1", "g2")


def agent(i: int) -> str:
    return f"{200000 + i}"


def document(n: int, interval: int, timeout: int) -> dict[str, Any]:
    return {"teams": [{
        "name": TEAM, "heartbeat_interval_s": interval, "session_timeout_s": timeout,
        "wrapup_s": 0,
        "accounts": [{"username": "boss", "password": PASSWORD, "role": "team_admin"}],
        "groups": [{"name": g, "queue": g} for g in GROUPS],
        "devices": [{"number": f"{600000 + i}", "kind": "internal",
                     "sip_password": f"sip-{i}"} for i in range(n)],
        "agents": [{"number": agent(i), "name": f"Load agent {i}", "password": PASSWORD,
                    "device_mode": "fixed", "device": f"{600000 + i}",
                    "groups": [{"name": g} for g in GROUPS]} for i in range(n)],
    }]}


STALE = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


def post(client: Client, path: str, token: str | None, body: Any = None
         ) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = ("POST", path, headers, json.dumps(body).encode() if body is not None else None)
    try:
        status, data = client.send(req)
    except STALE:
        # The server closed an idle keep-alive connection before reading the request: send
        # it again on a new connection, as HTTP clients do.
        status, data = client.send(req)
    try:
        return status, json.loads(data) if data else {}
    except ValueError:
        return status, {}


def get(client: Client, path: str, token: str) -> tuple[int, dict[str, Any]]:
    req = ("GET", path, {"Authorization": f"Bearer {token}"}, None)
    try:
        status, data = client.send(req)
    except STALE:
        status, data = client.send(req)
    return status, json.loads(data) if data else {}


def login(client: Client, i: int, terminal: str) -> dict[str, Any]:
    status, body = post(client, "/api/v1/sessions", None, {
        "team": TEAM, "agent": agent(i), "password": PASSWORD, "terminal_id": terminal,
        "client_version": "load/1"})
    if status != 201:
        raise RuntimeError(f"login {agent(i)}: {status} {body}")
    return body


class EndedWatcher:
    """A team admin's event stream: when each session ended by timeout (server time)."""

    def __init__(self, port: int, token: str) -> None:
        self.ended: dict[int, float] = {}
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(port, token), daemon=True)
        self.thread.start()

    def _run(self, port: int, token: str) -> None:
        conn = http.client.HTTPConnection(LOOPBACK, port, timeout=None)
        conn.request("GET", "/api/v1/events", headers={"Authorization": f"Bearer {token}",
                                                       "Accept": "text/event-stream"})
        resp = conn.getresponse()
        etype, data = "", ""
        while not self._stop.is_set():
            raw = resp.readline()
            if not raw:
                return
            line = raw.decode().rstrip("\r\n")
            if line.startswith("event:"):
                etype = line[6:].strip()
            elif line.startswith("data:"):
                data = line[5:].strip()
            elif line == "":
                if etype == "session.ended" and data:
                    d = json.loads(data)
                    if d.get("reason") == "timeout":
                        at = datetime.fromisoformat(d["at"]).timestamp()
                        self.ended[int(d["session_id"])] = at
                etype, data = "", ""

    def close(self) -> None:
        self._stop.set()


@contextlib.contextmanager
def database(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    from tests.support.postgres import postgres_cluster

    with postgres_cluster() as admin:
        yield admin


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="load-"))
    with database(args.db) as db_url:
        import subprocess

        doc = work / "load.yaml"
        n_all = args.agents + args.abandoned
        doc.write_text(yaml.safe_dump(document(n_all, args.interval, args.timeout)))
        t0 = time.perf_counter()
        for cmd in (server_cmd(db_url, "migrate"), server_cmd(db_url, "import", str(doc))):
            done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=1800,
                                  check=False)
            if done.returncode != 0:
                raise RuntimeError(done.stderr[-3000:])
        import_s = time.perf_counter() - t0
        with contextlib.ExitStack() as stack:
            ports = [stack.enter_context(running_server(db_url, work / f"server{k}.log",
                                                        "warning"))[0]
                     for k in range(args.instances)]
            return drive(args, ports, import_s)


def drive(args: argparse.Namespace, ports: list[int], import_s: float) -> dict[str, Any]:
    boss_client = Client(ports[-1])
    status, boss = post(boss_client, "/api/v1/sessions", None, {
        "team": TEAM, "agent": "boss", "password": PASSWORD, "terminal_id": "load-boss"})
    assert status == 201, boss
    watcher = EndedWatcher(ports[-1], boss["token"])
    boss_alive = threading.Event()

    def keep_boss() -> None:  # the team admin's own session must not time out meanwhile
        while not boss_alive.wait(args.interval / 2):
            post(boss_client, "/api/v1/sessions/current/heartbeat", boss["token"])

    threading.Thread(target=keep_boss, daemon=True).start()

    # Log everyone in (alternating instances), in parallel.
    tokens: list[str] = [""] * args.agents
    expected: list[dict[str, Any]] = [{"groups": set(), "paused": False}
                                      for _ in range(args.agents)]
    lock = threading.Lock()
    errors: Counter[str] = Counter()

    def login_slice(t: int) -> None:
        clients = [Client(p) for p in ports]
        for i in range(t, args.agents, args.workers):
            tokens[i] = login(clients[i % len(ports)], i, f"load-{i}")["token"]

    threads = [threading.Thread(target=login_slice, args=(t,)) for t in range(args.workers)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    login_s = time.perf_counter() - t0

    # Abandoned sessions: log in, never heartbeat.
    abandoned: dict[int, float] = {}
    c = Client(ports[0])
    for k in range(args.abandoned):
        body = login(c, args.agents + k, f"abandoned-{k}")
        abandoned[int(body["session"]["id"])] = datetime.fromisoformat(
            body["session"]["expires_at"]).timestamp()

    beats: list[float] = []
    ops: list[float] = []
    counts: Counter[str] = Counter()
    stop_at = time.monotonic() + args.minutes * 60

    def work(t: int) -> None:
        rnd = random.Random(t)
        clients = [Client(p) for p in ports]
        mine = list(range(t, args.agents, args.workers))
        nxt = {i: time.monotonic() + rnd.uniform(0, args.interval) for i in mine}
        nxt_op = {i: time.monotonic() + rnd.uniform(0, args.op_every * 2) for i in mine}
        flip = 0
        while time.monotonic() < stop_at:
            now = time.monotonic()
            busy = False
            for i in mine:
                cl = clients[flip % len(clients)]
                if now >= nxt[i]:
                    flip += 1
                    t1 = time.perf_counter()
                    try:
                        status, body = post(cl, "/api/v1/sessions/current/heartbeat",
                                            tokens[i])
                    except (OSError, http.client.HTTPException) as exc:
                        status, body = 0, {"code": type(exc).__name__}
                    with lock:
                        beats.append(time.perf_counter() - t1)
                        if status != 200:
                            errors[f"heartbeat {status} {body.get('code', '')}"] += 1
                    nxt[i] = now + args.interval
                    busy = True
                if now >= nxt_op[i]:
                    flip += 1
                    exp = expected[i]
                    choice = rnd.random()
                    group = rnd.choice(GROUPS)
                    if choice < 0.5:
                        name = "checkout" if group in exp["groups"] else "checkin"
                        path, body_out = f"/api/v1/me/groups/{group}/{name}", None
                    else:
                        name = "unpause" if exp["paused"] else "pause"
                        path = f"/api/v1/me/{name}"
                        body_out = {"reason": "rest"} if name == "pause" else None
                    t1 = time.perf_counter()
                    try:
                        status, body = post(cl, path, tokens[i], body_out)
                    except (OSError, http.client.HTTPException) as exc:
                        status, body = 0, {"code": type(exc).__name__}
                    with lock:
                        ops.append(time.perf_counter() - t1)
                        counts[name] += 1
                        if 200 <= status < 300:
                            if name == "checkin":
                                exp["groups"].add(group)
                            elif name == "checkout":
                                exp["groups"].discard(group)
                            else:
                                exp["paused"] = name == "pause"
                        else:
                            errors[f"{name} {status} {body.get('code', '')}"] += 1
                    nxt_op[i] = now + rnd.uniform(0.5, 1.5) * args.op_every
                    busy = True
            if not busy:
                time.sleep(0.01)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(args.workers)]
    run_t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    run_s = time.perf_counter() - run_t0

    # Audit.
    lost: list[str] = []
    audit = [Client(p) for p in ports]
    for i in range(args.agents):
        status, me = get(audit[i % len(audit)], "/api/v1/me", tokens[i])
        if status != 200:
            lost.append(f"{agent(i)}: GET /me {status}")
            continue
        a = me["agent"]
        groups = {g["name"] for g in a["groups"] if g["checked_in"]}
        paused = bool(a["availability"]["paused"])
        if groups != expected[i]["groups"] or paused != expected[i]["paused"]:
            lost.append(f"{agent(i)}: server {sorted(groups)} paused={paused}, "
                        f"expected {sorted(expected[i]['groups'])} "
                        f"paused={expected[i]['paused']}")

    # Abandoned sessions: all must have ended by now (the run outlasts their timeout).
    deadline = time.monotonic() + args.timeout + 10
    while len([s for s in abandoned if s in watcher.ended]) < len(abandoned) \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    watcher.close()
    boss_alive.set()
    late = sorted(watcher.ended[s] - exp for s, exp in abandoned.items() if s in watcher.ended)
    return {
        "benchmark": "load", "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "instances": len(ports), "agents": args.agents, "minutes": args.minutes,
        "interval_s": args.interval, "timeout_s": args.timeout, "workers": args.workers,
        "import_s": round(import_s, 1), "login_s": round(login_s, 1), "run_s": round(run_s, 1),
        "heartbeats": len(beats), "heartbeat_ms": summary_ms(sorted(beats)),
        "operations": dict(counts), "operation_ms": summary_ms(sorted(ops)),
        "errors": dict(errors), "lost_state": len(lost), "lost_examples": lost[:10],
        "abandoned": {"sessions": len(abandoned), "ended": len(late),
                      "late_s_max": round(late[-1], 2) if late else None,
                      "late_s_min": round(late[0], 2) if late else None,
                      "within_timeout_plus_2s": bool(late) and len(late) == len(abandoned)
                      and late[-1] <= 2.0},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--agents", type=int, default=1000)
    ap.add_argument("--abandoned", type=int, default=100)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--instances", type=int, default=2)
    ap.add_argument("--interval", type=int, default=20, help="heartbeat interval, s")
    ap.add_argument("--timeout", type=int, default=60, help="session timeout, s")
    ap.add_argument("--op-every", type=float, default=20.0, help="s between an agent's ops")
    ap.add_argument("--workers", type=int, default=32)
    ap.add_argument("--db", default=None)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    if args.quick:
        args.agents, args.abandoned, args.minutes, args.timeout = 200, 20, 1.0, 30
    result = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0 if result["lost_state"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
