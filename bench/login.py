"""Login click -> SIP registered and session active, on loopback (issue 5); and idle memory after
login against the floor.

    .venv/bin/python bench/login.py [--logins 10] [--quick]     # as root (the Asterisk sandbox)

Starts the real Asterisk sandbox (pbx/sandbox.py, on free ports) and the real server driving it
with the demo call center (as scripts/demo.sh: `python -m callcenter_server serve --ami ...`,
default password hashing), then for each login a fresh app process (bench/app_driver.py: the
app as `python -m agent_desktop` builds it) that fills the login window as agent 1001 (fixed
device 8001) and clicks "Log in". Timed in the app from the click until the state machine has
both session=active (the login reply handled) and sip=registered (Asterisk's 200 to the
REGISTER): goal <= 150 ms, median and p90. Each app then idles `--idle` s and reads its memory;
the floor process (bench/floor_app.py) is measured the same way in the same run (goal 1.3x).
Writes bench/results/login.json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.appbench import (
    BENCH_LINE,
    BENCH_READY_ENV,
    READY_MARKER,
    RESULTS,
    app_env,
    asterisk,
    demo_server,
    display,
    driver_cmd,
    floor_cmd,
    machine,
    percentile,
    ratio,
    rss_kb,
    spawn,
    write_json,
)

GOAL_MS = 150.0
GOAL_RSS_RATIO = 1.3


def drive_login(env: dict[str, str], work: Path, server: str, registrar: str, idle_s: float,
                i: int) -> dict[str, Any]:
    proc = spawn(driver_cmd("login", "--server", server, "--sip-registrar", registrar,
                            "--history-file", str(work / "history.sqlite3"),
                            "--idle", str(idle_s)), env, work / f"driver-{i}.log")
    try:
        line, _ = proc.wait_line(BENCH_LINE, 90)
        data: dict[str, Any] = json.loads(line[len(BENCH_LINE):])
        proc.proc.wait(30)  # the app logs out and shuts SIP down by itself
    finally:
        rc = proc.stop(signal.SIGINT)
    data["rc"] = rc
    if data["kind"] != "login":
        raise RuntimeError(f"login {i} failed: {data}")
    return data


def floor_memory(env: dict[str, str], work: Path, idle_s: float) -> dict[str, int]:
    proc = spawn(floor_cmd(), {**env, BENCH_READY_ENV: "1"}, work / "floor.log")
    try:
        proc.wait_line(READY_MARKER, 60)
        time.sleep(idle_s)  # the measured idle period, not a synchronisation
        return rss_kb(proc.pid)
    finally:
        proc.stop(signal.SIGTERM)


def run(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {
        "benchmark": "login",
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "platform": args.platform,
        "logins": args.logins,
        "idle_s": args.idle,
        "machine": machine(),
        "what": "click on Log in -> state machine has session=active and sip=registered "
                "(agent 1001, device 8001), real server + real Asterisk on loopback, "
                "a fresh app process per login",
    }
    with tempfile.TemporaryDirectory(prefix="bench-login-") as tmp, \
            display(args.platform) as qt:
        work = Path(tmp)
        env = app_env(work / "home", qt)
        t0 = time.monotonic()
        with asterisk(f"bench-login-{os.getpid()}") as box, demo_server(work, box) as srv:
            result["setup_s"] = round(time.monotonic() - t0, 1)
            registrar = f"127.0.0.1:{box.sip_port}"
            print(f"server {srv.base_url}, Asterisk SIP {registrar} (setup "
                  f"{result['setup_s']} s)", flush=True)
            drive_login(env, work, srv.base_url, registrar, 0.0, -1)  # warm-up, not counted
            logins: list[dict[str, Any]] = []
            floors: list[dict[str, int]] = []
            for i in range(args.logins):
                logins.append(drive_login(env, work, srv.base_url, registrar, args.idle, i))
                if i < args.floor_runs:
                    floors.append(floor_memory(env, work, args.idle))
                d = logins[-1]
                print(f"  login {i + 1}/{args.logins}: active {d['click_to_active_ms']:.1f} ms, "
                      f"registered {d['click_to_registered_ms']:.1f} ms, "
                      f"both {d['click_to_both_ms']:.1f} ms", flush=True)
    both = sorted(d["click_to_both_ms"] for d in logins)
    active = sorted(d["click_to_active_ms"] for d in logins)
    reg = sorted(d["click_to_registered_ms"] for d in logins)

    def stats(v: list[float]) -> dict[str, float]:
        return {"median": round(statistics.median(v), 1), "p90": round(percentile(v, 0.9), 1),
                "min": round(v[0], 1), "max": round(v[-1], 1)}

    result["click_to_both_ms"] = stats(both)
    result["click_to_active_ms"] = stats(active)
    result["click_to_registered_ms"] = stats(reg)
    result["all_ms"] = [d["click_to_both_ms"] for d in logins]
    result["steps_example"] = logins[len(logins) // 2]["steps"]
    app_rss = statistics.median(d["mem_kb"]["VmRSS"] for d in logins) / 1024
    floor_rss = statistics.median(f["VmRSS"] for f in floors) / 1024
    app_pss = statistics.median(d["mem_kb"]["Pss"] for d in logins) / 1024
    floor_pss = statistics.median(f["Pss"] for f in floors) / 1024
    result["memory_after_login"] = {
        "app_rss_mb": round(app_rss, 1), "floor_rss_mb": round(floor_rss, 1),
        "rss_ratio": ratio(app_rss, floor_rss), "app_pss_mb": round(app_pss, 1),
        "floor_pss_mb": round(floor_pss, 1), "pss_ratio": ratio(app_pss, floor_pss),
        "floor_runs": len(floors),
    }
    result["goals"] = {
        "click_to_both_ms_max": GOAL_MS,
        "median_met": result["click_to_both_ms"]["median"] <= GOAL_MS,
        "p90_met": result["click_to_both_ms"]["p90"] <= GOAL_MS,
        "rss_ratio_max": GOAL_RSS_RATIO,
        "rss_met": (result["memory_after_login"]["rss_ratio"] or 99) <= GOAL_RSS_RATIO,
    }
    return result


def print_table(r: dict[str, Any]) -> None:
    print(f"\nlogin click -> registered + active ({r['logins']} logins, {r['platform']}, "
          f"{r['machine']['cpus']} CPUs)")
    print(f"{'':22} {'median':>8} {'p90':>8} {'min':>8} {'max':>8}")
    for key in ("click_to_active_ms", "click_to_registered_ms", "click_to_both_ms"):
        s = r[key]
        print(f"{key:22} {s['median']:>8.1f} {s['p90']:>8.1f} {s['min']:>8.1f} {s['max']:>8.1f}")
    g, m = r["goals"], r["memory_after_login"]
    print(f"goal <= {g['click_to_both_ms_max']:.0f} ms: median "
          f"{'met' if g['median_met'] else 'NOT met'}, p90 {'met' if g['p90_met'] else 'NOT met'}")
    print(f"idle after login: RSS {m['app_rss_mb']} MB vs floor {m['floor_rss_mb']} MB = "
          f"{m['rss_ratio']}x ({'met' if g['rss_met'] else 'NOT met'}, goal <= "
          f"{g['rss_ratio_max']}x); PSS {m['pss_ratio']}x")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--logins", type=int, default=10)
    ap.add_argument("--floor-runs", type=int, default=3)
    ap.add_argument("--idle", type=float, default=2.0,
                    help="seconds idle after login before memory is read (default 2)")
    ap.add_argument("--platform", choices=("offscreen", "xvfb"), default="offscreen")
    ap.add_argument("--quick", action="store_true", help="3 logins, 1 floor run")
    ap.add_argument("--out", type=Path, default=RESULTS / "login.json")
    args = ap.parse_args(argv)
    if args.quick:
        args.logins, args.floor_runs = min(args.logins, 3), 1
    try:
        result = run(args)
    except (RuntimeError, TimeoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    write_json(result, args.out)
    print_table(result)
    print(f"\nwritten: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
