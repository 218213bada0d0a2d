"""Cold start and idle memory of the agent app at its login window, against a floor (issue 5).

    .venv/bin/python bench/cold_start.py [--runs 15] [--platform offscreen|xvfb] [--quick]

Each run spawns a fresh process and times it from `Popen` to the ready marker: the login window
is exposed and the event loop is about to block for the first time (AGENT_DESKTOP_BENCH_READY,
agent_desktop/app.py). The floor (bench/floor_app.py) is a bare QWidget window plus a pjsua2
Endpoint (libCreate/libInit/libStart, null audio device), timed to the same marker. App and
floor runs alternate; the result is the ratio of the medians (goal <= 1.3x).

The app shows its login window before it starts its SIP engine (on the next loop turn; the
floor starts its endpoint first): the moment its engine has started is reported too
("engine_started", ENGINE_MARKER), not judged.

After the marker each process idles `--idle` seconds, then its RSS (and PSS) is read: idle
memory at the login window against the floor's (goal <= 1.3x). The app is then quit with
SIGINT (its clean path), the floor with SIGTERM. One extra app run under `python -X importtime`
(not timed) lists the slowest imports. Everything runs with its own XDG folders; the display is
Qt's offscreen platform (default) or a private Xvfb. `--baseline DIR` adds a third series: the
app of another checkout (before/after a change, in the same run). Writes
bench/results/cold_start.json (cold_start-xvfb.json under Xvfb).
"""

from __future__ import annotations

import argparse
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
    BENCH_READY_ENV,
    ENGINE_MARKER,
    READY_MARKER,
    REPO,
    RESULTS,
    app_cmd,
    app_env,
    display,
    floor_cmd,
    machine,
    median_ms,
    ratio,
    rss_kb,
    spawn,
    write_json,
)

GOAL_RATIO = 1.3
READY_TIMEOUT_S = 60.0


def one_run(kind: str, env: dict[str, str], work: Path, idle_s: float,
            baseline: Path | None = None) -> dict[str, Any]:
    """Spawn the app, the baseline checkout's app or the floor; seconds to the marker, memory
    after `idle_s` idle."""
    log = work / f"{kind}.log"
    cmd = floor_cmd() if kind == "floor" else app_cmd("--history-file",
                                                      str(work / "history.sqlite3"))
    run_env, cwd = {**env, BENCH_READY_ENV: "1"}, REPO
    if kind == "baseline":
        assert baseline is not None
        run_env["PYTHONPATH"], cwd = str(baseline), baseline
    proc = spawn(cmd, run_env, log, cwd=cwd)
    try:
        _, at = proc.wait_line(READY_MARKER, READY_TIMEOUT_S)
        ready_s = at - proc.started
        engine_s = None
        if kind == "app":  # the app starts its SIP engine after the window (the floor before)
            _, at = proc.wait_line(ENGINE_MARKER, READY_TIMEOUT_S)
            engine_s = at - proc.started
        time.sleep(idle_s)  # the measured idle period, not a synchronisation
        mem = rss_kb(proc.pid)
    finally:
        rc = proc.stop(signal.SIGTERM if kind == "floor" else signal.SIGINT)
    return {"ready_s": ready_s, "engine_s": engine_s, "mem_kb": mem, "rc": rc}


def import_profile(env: dict[str, str], work: Path, top: int = 15) -> dict[str, Any]:
    """One app run under -X importtime: the heaviest imports (cumulative, ms)."""
    log = work / "importtime.log"
    cmd = app_cmd("--history-file", str(work / "history.sqlite3"))
    cmd.insert(1, "-X")
    cmd.insert(2, "importtime")
    proc = spawn(cmd, {**env, BENCH_READY_ENV: "exit"}, log)
    try:
        proc.wait_line(READY_MARKER, READY_TIMEOUT_S)
    finally:
        proc.stop(signal.SIGINT)
    rows: list[tuple[int, int, str]] = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("import time:") and "|" in line and "self [us]" not in line:
            self_us, cum_us, name = line[len("import time:"):].split("|", 2)
            rows.append((int(self_us), int(cum_us), name.rstrip()))
    top_level = [(c, n.strip()) for _, c, n in rows if not n.startswith("  ")]
    ours = [(c, n.strip()) for _, c, n in rows if n.strip().startswith("agent_desktop")]
    return {
        "total_ms": round(sum(c for c, _ in top_level) / 1000, 1),
        "top_level_ms": {n: round(c / 1000, 1) for c, n in sorted(top_level, reverse=True)[:top]},
        "agent_desktop_ms": {n: round(c / 1000, 1) for c, n in sorted(ours, reverse=True)[:top]},
        "note": "python -X importtime of one app run (inflates times); cumulative per module",
    }


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ready = [r["ready_s"] for r in runs]
    rss = [r["mem_kb"]["VmRSS"] for r in runs]
    pss = [r["mem_kb"].get("Pss", 0) for r in runs]
    engine = [r["engine_s"] for r in runs if r.get("engine_s") is not None]
    return {
        "runs": len(runs),
        "ready_ms": {"median": median_ms(ready), "min": round(min(ready) * 1000, 1),
                     "max": round(max(ready) * 1000, 1)},
        "engine_started_ms_median": median_ms(engine) if engine else None,
        "ready_ms_all": [round(x * 1000, 1) for x in ready],
        "rss_mb_median": round(statistics.median(rss) / 1024, 1),
        "pss_mb_median": round(statistics.median(pss) / 1024, 1),
        "rss_anon_mb_median": round(
            statistics.median(r["mem_kb"].get("RssAnon", 0) for r in runs) / 1024, 1),
        "exit_codes": sorted({r["rc"] for r in runs}),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {
        "benchmark": "cold_start",
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "platform": args.platform,
        "runs_each": args.runs,
        "idle_s": args.idle,
        "machine": machine(),
        "what": "Popen -> login window exposed and event loop about to block "
                "(AGENT_DESKTOP_BENCH_READY); memory after idle_s at that window",
        "floor": "bench/floor_app.py: QApplication + shown QWidget + pjsua2 Endpoint "
                 "(libCreate/libInit/libStart, null audio device, 10 ms poll timer)",
    }
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp, \
            display(args.platform) as qt:
        work = Path(tmp)
        env = app_env(work / "home", qt)
        kinds = ["app", "floor"] + (["baseline"] if args.baseline else [])
        # One untimed run of each first: the page cache holds the libraries in all cases.
        for kind in kinds:
            one_run(kind, env, work, 0.0, args.baseline)
        runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
        for i in range(args.runs):
            order = kinds[i % len(kinds):] + kinds[:i % len(kinds)]  # rotate
            for kind in order:
                runs[kind].append(one_run(kind, env, work, args.idle, args.baseline))
            print(f"  run {i + 1}/{args.runs}: " + ", ".join(
                f"{k} {runs[k][-1]['ready_s'] * 1000:.0f} ms" for k in kinds), flush=True)
        if not args.quick:
            result["import_profile"] = import_profile(env, work)
    app, floor = summarize(runs["app"]), summarize(runs["floor"])
    result["app"], result["floor_process"] = app, floor
    start_ratio = ratio(app["ready_ms"]["median"], floor["ready_ms"]["median"])
    rss_ratio = ratio(app["rss_mb_median"], floor["rss_mb_median"])
    result["ratios"] = {"ready": start_ratio, "rss": rss_ratio,
                        "pss": ratio(app["pss_mb_median"], floor["pss_mb_median"]),
                        # for the record: the app's window comes before its SIP engine, the
                        # floor's after; this is the app with its engine started too
                        "engine_started": ratio(app["engine_started_ms_median"],
                                                floor["ready_ms"]["median"])}
    if args.baseline:
        base = summarize(runs["baseline"])
        result["baseline"] = {"checkout": str(args.baseline), **base,
                              "ready_ratio_vs_floor": ratio(base["ready_ms"]["median"],
                                                            floor["ready_ms"]["median"]),
                              "rss_ratio_vs_floor": ratio(base["rss_mb_median"],
                                                          floor["rss_mb_median"])}
    result["goals"] = {"ready_ratio_max": GOAL_RATIO, "rss_ratio_max": GOAL_RATIO,
                       "ready_met": start_ratio is not None and start_ratio <= GOAL_RATIO,
                       "rss_met": rss_ratio is not None and rss_ratio <= GOAL_RATIO}
    return result


def print_table(r: dict[str, Any]) -> None:
    print(f"\ncold start to a usable login window ({r['platform']}, {r['runs_each']} runs each, "
          f"{r['machine']['cpus']} CPUs)")
    print(f"{'':8} {'ready ms':>9} {'min':>7} {'max':>7} {'RSS MB':>8} {'PSS MB':>8}")
    rows = [("app", r["app"]), ("floor", r["floor_process"])]
    if "baseline" in r:
        rows.append(("baseline", r["baseline"]))
    for name, s in rows:
        print(f"{name:8} {s['ready_ms']['median']:>9.1f} {s['ready_ms']['min']:>7.1f} "
              f"{s['ready_ms']['max']:>7.1f} {s['rss_mb_median']:>8.1f} "
              f"{s['pss_mb_median']:>8.1f}")
    g = r["goals"]
    print(f"ratio app/floor: start {r['ratios']['ready']}x "
          f"({'met' if g['ready_met'] else 'NOT met'}, goal <= {g['ready_ratio_max']}x), "
          f"RSS {r['ratios']['rss']}x ({'met' if g['rss_met'] else 'NOT met'}), "
          f"PSS {r['ratios']['pss']}x; with its SIP engine started "
          f"{r['app']['engine_started_ms_median']} ms ({r['ratios']['engine_started']}x)")
    prof = r.get("import_profile")
    if prof:
        print("slowest agent_desktop imports (ms, -X importtime): " + ", ".join(
            f"{k} {v}" for k, v in list(prof["agent_desktop_ms"].items())[:6]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=15, help="runs of each (default 15)")
    ap.add_argument("--idle", type=float, default=2.0,
                    help="seconds idle at the window before memory is read (default 2)")
    ap.add_argument("--platform", choices=("offscreen", "xvfb"), default="offscreen")
    ap.add_argument("--baseline", type=Path, default=None,
                    help="also time the app of another checkout (e.g. `git archive REV | tar "
                         "-x -C DIR`), alternating with the others")
    ap.add_argument("--quick", action="store_true", help="5 runs each, no import profile")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.quick:
        args.runs = min(args.runs, 5)
    out = args.out or RESULTS / ("cold_start.json" if args.platform == "offscreen"
                                 else f"cold_start-{args.platform}.json")
    try:
        result = run(args)
    except (RuntimeError, TimeoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    write_json(result, out)
    print_table(result)
    print(f"\nwritten: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
