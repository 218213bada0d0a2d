"""The GUI thread never waits on the network (issue 5): event-loop stalls against a slow server.

    .venv/bin/python bench/gui_stall.py [--runs 3] [--delay 5] [--quick]

The real server (demo call center, no PBX) sits behind a proxy in this process that answers
every request `--delay` s late (5 s; the event stream too). The SIP registrar is a loopback
port that never answers (UDP never read; TCP listening, never accepting). In a fresh app
process (bench/app_driver.py, the app as `python -m agent_desktop` builds it) a 1 ms precise
QTimer records every gap of the GUI event loop:
- startup: the first second at the login window (the app's keyring probe and its prewarm
  import run on worker threads: GIL contention only);
- floor: `--floor-s` s at the idle login window (no server activity; the SIP poll timer runs);
- activity: click "Log in" (answered after 5 s), then a heartbeat, "Check in to all", the first
  pause reason and a /me refetch at once (each answered 5 s late, then refetches), until every
  worker task has answered; the event stream connects meanwhile and SIP REGISTERs go unanswered;
- relogin (unless --no-relogin): the event stream reconnects (its request then waits on the
  slow server) and 0.5 s later the app logs in again, as its "Log in again" button does; until
  the new session is active.
A gap is the time between two timer callbacks (so 1 ms is no stall at all). Goal: the longest
gap of the activity and relogin phases < 20 ms; reported with p99 and the floor's, per run
and overall.
Writes bench/results/gui_stall.json.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.appbench import (
    BENCH_LINE,
    RESULTS,
    SlowProxy,
    app_env,
    demo_server,
    display,
    driver_cmd,
    machine,
    percentile,
    silent_sip_port,
    spawn,
    write_json,
)

GOAL_MS = 20.0
PHASES = ("startup", "floor", "activity", "relogin")


def gap_stats(gaps: list[float]) -> dict[str, Any]:
    v = sorted(gaps)
    return {"ticks": len(v), "max_ms": round(v[-1], 2), "p99_ms": round(percentile(v, 0.99), 2),
            "p999_ms": round(percentile(v, 0.999), 2), "median_ms": round(percentile(v, 0.5), 3),
            "over_20ms": sum(1 for g in v if g > GOAL_MS),
            "over_5ms": sum(1 for g in v if g > 5.0)}


def condense(samples: list[dict[str, Any]], keep: int = 40) -> list[dict[str, Any]]:
    """One sample per distinct place (innermost 3 frames): the latest-running one, by time."""
    best: dict[tuple[str, ...], dict[str, Any]] = {}
    for sample in samples:
        key = tuple(sample["stack"][:3])
        if key not in best or sample["late_ms"] > best[key]["late_ms"]:
            best[key] = sample
    return sorted(best.values(), key=lambda x: x["at_ms"])[:keep]


def one_run(env: dict[str, str], work: Path, proxy_url: str, registrar: str, floor_s: float,
            i: int, sample: bool = False, relogin: bool = True) -> dict[str, Any]:
    extra = (["--sample"] if sample else []) + (["--relogin"] if relogin else [])
    proc = spawn(driver_cmd("stall", "--server", proxy_url, "--sip-registrar", registrar,
                            "--history-file", str(work / "history.sqlite3"),
                            "--floor-s", str(floor_s), "--timeout", "90", *extra),
                 env, work / f"driver-{i}.log")
    try:
        line, _ = proc.wait_line(BENCH_LINE, 120)
        data: dict[str, Any] = json.loads(line[len(BENCH_LINE):])
        proc.proc.wait(30)
    finally:
        proc.stop(signal.SIGINT)
    if data["kind"] != "stall":
        raise RuntimeError(f"run {i} failed: {data}")
    return data


def run(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {
        "benchmark": "gui_stall",
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "platform": args.platform,
        "runs": args.runs,
        "server_delay_s": args.delay,
        "floor_s": args.floor_s,
        "machine": machine(),
        "what": "gaps between the callbacks of a 1 ms PreciseTimer on the GUI thread; floor: "
                "idle login window; activity: login + heartbeat + check-in + pause + /me "
                "against a server answering every request late, SIP registrar silent",
    }
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-stall-") as tmp, \
            display(args.platform) as qt:
        work = Path(tmp)
        env = app_env(work / "home", qt)
        with demo_server(work) as srv, SlowProxy(srv.port, args.delay) as proxy, \
                silent_sip_port() as sip_port:
            for i in range(args.runs):
                data = one_run(env, work, proxy.base_url, f"127.0.0.1:{sip_port}",
                               args.floor_s, i, relogin=args.relogin)
                per = {phase: gap_stats(g) for phase, g in data["gaps_ms"].items()}
                runs.append({"phases": per, "worst": data["worst"],
                             "long_gaps": data["long_gaps"], "events": data["events"],
                             "relogin_call_ms": data["relogin_call_ms"],
                             "final_state": data["state"],
                             "gaps": data["gaps_ms"]})
                print(f"  run {i + 1}/{args.runs}: startup max {per['startup']['max_ms']} ms, "
                      f"relogin max {per.get('relogin', {}).get('max_ms')} ms, "
                      f"floor max {per['floor']['max_ms']} ms, "
                      f"activity max {per['activity']['max_ms']} ms "
                      f"(p99 {per['activity']['p99_ms']} ms)", flush=True)
            if args.diagnose:
                print("  diagnosis run (GUI-thread stacks during gaps > 8 ms) …", flush=True)
                diag = one_run(env, work, proxy.base_url, f"127.0.0.1:{sip_port}",
                               args.floor_s, args.runs, sample=True, relogin=args.relogin)
                result["diagnosis"] = {
                    "note": "an extra run, not in the figures: a thread samples the GUI "
                            "thread's innermost frames every 2 ms while it is > 8 ms late",
                    "long_gaps": diag["long_gaps"], "events": diag["events"],
                    "samples": condense(diag["samples"])}
            result["proxy_requests"] = len(proxy.requests)
    overall = {phase: gap_stats([g for r in runs for g in r["gaps"][phase]])
               for phase in PHASES if all(phase in r["gaps"] for r in runs)}
    for r in runs:
        del r["gaps"]
    result["per_run"] = runs
    result["overall"] = overall
    result["goals"] = {"max_gap_ms_below": GOAL_MS,
                       "activity_met": overall["activity"]["max_ms"] < GOAL_MS}
    if "relogin" in overall:
        result["goals"]["relogin_met"] = overall["relogin"]["max_ms"] < GOAL_MS
    return result


def print_table(r: dict[str, Any]) -> None:
    print(f"\nGUI event-loop gaps, 1 ms timer ({r['runs']} runs, server answers "
          f"{r['server_delay_s']:g} s late, {r['platform']}, {r['machine']['cpus']} CPUs)")
    print(f"{'':10} {'ticks':>7} {'median':>7} {'p99':>7} {'p99.9':>7} {'max':>7} {'>5ms':>5} "
          f"{'>20ms':>5}")
    for phase in (p for p in PHASES if p in r["overall"]):
        s = r["overall"][phase]
        print(f"{phase:10} {s['ticks']:>7} {s['median_ms']:>7.2f} {s['p99_ms']:>7.2f} "
              f"{s['p999_ms']:>7.2f} {s['max_ms']:>7.2f} {s['over_5ms']:>5} {s['over_20ms']:>5}")
    g = r["goals"]
    verdict = ", ".join(f"{k.removesuffix('_met')} {'met' if v else 'NOT met'}"
                        for k, v in g.items() if k.endswith("_met"))
    print(f"goal: longest gap < {g['max_gap_ms_below']:.0f} ms: {verdict}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--delay", type=float, default=5.0, help="server answer delay (s)")
    ap.add_argument("--floor-s", type=float, default=5.0,
                    help="seconds measured at the idle login window first (default 5)")
    ap.add_argument("--platform", choices=("offscreen", "xvfb"), default="offscreen")
    ap.add_argument("--no-relogin", dest="relogin", action="store_false",
                    help="skip the relogin phase")
    ap.add_argument("--diagnose", action="store_true",
                    help="one extra run sampling the GUI thread's stack during long gaps")
    ap.add_argument("--quick", action="store_true", help="1 run, 3 s floor")
    ap.add_argument("--out", type=Path, default=RESULTS / "gui_stall.json")
    args = ap.parse_args(argv)
    if args.quick:
        args.runs, args.floor_s = 1, min(args.floor_s, 3.0)
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
