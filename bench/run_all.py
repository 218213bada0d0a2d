"""Every benchmark of the project in one run, and a summary table of ratios.

    .venv/bin/python bench/run_all.py [--quick] [--skip NAME ...]

Runs, one after the other (each writes its own bench/results/<name>.json):
  peers         idle memory and start time of peers measured now: a bare pjsua2 process, a bare
                PySide6 window, baresip (Debian's `baresip-core`, installed when missing and
                root), and the app at its login window
  cold_start    app start to a usable login window vs a PySide6 window + pjsua2 floor
  login         login click -> SIP registered and session active (real server + Asterisk)
  gui_stall     longest GUI-thread stall with a server answering after 5 s
  team_board    5,000-agent board under 1,000 events/s
  audio_bridge  bridge CPU and added latency vs pjsua2's own path (real Asterisk, PulseAudio)
  native_softphone  the bridge's call CPU vs baresip's, the same call through the same
                PulseAudio (the other floor the CPU goal may be set against)
  heartbeat     1,000 sessions heartbeating against the server (SQLite)
  load          1,000 agents on two server instances and PostgreSQL for 10 minutes: state
                audited, heartbeat p99, expiry of 100 abandoned sessions

then writes bench/results/SUMMARY.md (linked from the README): one line per measured figure
with the floor or peer it is compared with, the ratio and the goal. Ratios come from the same
run as their floor; absolute numbers depend on the machine (2 shared cores here).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
PY = sys.executable

BENCHES: dict[str, tuple[list[str], list[str]]] = {  # name -> (full args, quick args)
    "cold_start": ([], ["--quick"]),
    "login": ([], ["--quick"]),
    "gui_stall": ([], ["--quick"]),
    "team_board": ([], ["--quick"]),
    "audio_bridge": ([], ["--quick"]),
    "native_softphone": ([], ["--seconds", "20", "--rounds", "1"]),
    "heartbeat": ([], ["--sessions", "200", "--seconds", "15"]),
    "load": ([], ["--quick"]),
}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure_process(cmd: list[str], env: dict[str, str], ready: Callable[[str], bool] | None,
                    idle_s: float = 2.0, timeout_s: float = 30.0) -> dict[str, float]:
    """Start time (to a ready line on stdout, or to idle) and RSS after idling."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, text=True)
    started = None
    try:
        if ready is not None and proc.stdout is not None:
            deadline = start + timeout_s
            while time.monotonic() < deadline:
                line = proc.stdout.readline()
                if not line:
                    break
                if ready(line):
                    started = time.monotonic() - start
                    break
        time.sleep(idle_s)  # idle: the RSS a running process keeps
        rss = rss_mb(proc.pid) if proc.poll() is None else 0.0
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    out = {"rss_mb": round(rss, 1)}
    if started is not None:
        out["start_ms"] = round(started * 1000, 1)
    return out


def baresip_available() -> bool:
    if shutil.which("baresip"):
        return True
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends",
                        "baresip-core"], capture_output=True, check=False, timeout=300,
                       env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    return bool(shutil.which("baresip"))


def run_peers(runs: int) -> dict[str, Any]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(REPO))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    home = Path(tempfile.mkdtemp(prefix="peers-"))
    pj_only = [PY, "-c", (
        "import pjsua2 as pj, time\n"
        "ep = pj.Endpoint(); ep.libCreate(); c = pj.EpConfig(); c.uaConfig.threadCnt = 0\n"
        "c.uaConfig.mainThreadOnly = True; c.logConfig.consoleLevel = 0; c.logConfig.level = 0\n"
        "ep.libInit(c); ep.audDevManager().setNullDev(); ep.libStart()\n"
        "print('agent-desktop: ready', flush=True)\n"
        "while True: ep.libHandleEvents(20)\n")]
    qt_only = [PY, "-c", (
        "import sys\nfrom PySide6.QtCore import QTimer\n"
        "from PySide6.QtWidgets import QApplication, QWidget\n"
        "app = QApplication(sys.argv[:1]); w = QWidget(); w.show()\n"
        "QTimer.singleShot(0, lambda: print('agent-desktop: ready', flush=True))\n"
        "app.exec()\n")]
    app_cmd = [PY, "-m", "agent_desktop", "--server", "http://127.0.0.1:9",
               "--history-file", str(home / "h.sqlite3")]
    app_env = dict(env, AGENT_DESKTOP_BENCH_READY="1", XDG_CONFIG_HOME=str(home / "config"),
                   XDG_DATA_HOME=str(home / "data"), AGENT_DESKTOP_INSTANCE="bench-peers",
                   PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    peers: dict[str, list[dict[str, float]]] = {"pjsua2_process": [], "pyside6_window": [],
                                                 "app_login_window": []}
    has_baresip = baresip_available()
    if has_baresip:
        peers["baresip"] = []
        conf = home / "baresip"
        conf.mkdir()
        # A SIP UA with one codec and no audio device (as our app's null-device floor).
        (conf / "config").write_text("sip_listen\t127.0.0.1:0\nmodule\t\tg711.so\n")
    is_ready: Callable[[str], bool] = lambda line: "agent-desktop: ready" in line  # noqa: E731
    for _ in range(runs):  # alternated, so that load drifts hit all alike
        peers["pjsua2_process"].append(measure_process(pj_only, env, is_ready))
        peers["pyside6_window"].append(measure_process(qt_only, env, is_ready))
        peers["app_login_window"].append(measure_process(app_cmd, app_env, is_ready))
        if has_baresip:
            peers["baresip"].append(measure_process(
                ["baresip", "-f", str(home / "baresip")], env,
                lambda line: "baresip is ready" in line))
    summary: dict[str, Any] = {}
    for name, samples in peers.items():
        summary[name] = {k: round(sorted(s[k] for s in samples)[len(samples) // 2], 1)
                         for k in samples[0]}
    result = {"benchmark": "peers", "runs": runs, "baresip": has_baresip,
              "when": datetime.now(UTC).isoformat(timespec="seconds"), "median": summary}
    (RESULTS / "peers.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def load(name: str) -> dict[str, Any]:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def dig(d: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def mic_row(rows: list[tuple[str, str, str, str, str]], result: dict[str, Any], on: str) -> None:
    """The microphone path of bench/audio_bridge.py's latency calls (results since the
    microphone ring's delay bound; older results have none)."""
    mic = dig(result, "latency", "microphone_ms_median")
    if mic is None:
        return
    rows.append((f"audio bridge: microphone path, virtual microphone to pjmedia's frame{on}",
                 f"{mic} ms (worst call {dig(result, 'latency', 'microphone_ms_worst_call')} ms)",
                 "— (the whole path: Qt's source buffer, the canceller's 20 ms frames, the "
                 "bridge's ring)", "—", "reported"))


def table() -> str:
    rows: list[tuple[str, str, str, str, str]] = []

    def add(what: str, ours: Any, base: Any, base_name: str, goal: str, unit: str = "") -> None:
        if ours is None or base is None:
            rows.append((what, str(ours), f"{base} ({base_name})", "—", goal))
            return
        ratio = f"{ours / base:.2f}x" if base else "—"
        rows.append((what, f"{ours}{unit}", f"{base}{unit} ({base_name})", ratio, goal))

    p = load("peers").get("median", {})
    app = p.get("app_login_window", {})
    for peer in ("pjsua2_process", "pyside6_window", "baresip"):
        if peer in p:
            add(f"idle RSS, app login window vs {peer}", app.get("rss_mb"),
                p[peer].get("rss_mb"), peer, "—", " MB")
            add(f"start to ready, app vs {peer}", app.get("start_ms"),
                p[peer].get("start_ms"), peer, "—", " ms")
    cs = load("cold_start")
    lg = load("login")
    add("cold start to login window", dig(cs, "app", "ready_ms", "median"),
        dig(cs, "floor_process", "ready_ms", "median"), "Qt window + pjsua2", "≤ 1.3x", " ms")
    add("cold start, until the app's SIP engine has started too (after its window)",
        dig(cs, "app", "engine_started_ms_median"),
        dig(cs, "floor_process", "ready_ms", "median"), "Qt window + pjsua2", "reported", " ms")
    add("idle RSS at login window", dig(cs, "app", "rss_mb_median"),
        dig(cs, "floor_process", "rss_mb_median"), "Qt window + pjsua2", "≤ 1.3x", " MB")
    add("idle RSS after login", dig(lg, "memory_after_login", "app_rss_mb"),
        dig(lg, "memory_after_login", "floor_rss_mb"), "Qt window + pjsua2", "≤ 1.3x", " MB")
    rows.append(("login click → registered + active (median / p90)",
                 f"{dig(lg, 'click_to_both_ms', 'median')} / "
                 f"{dig(lg, 'click_to_both_ms', 'p90')} ms", "—", "—", "≤ 150 ms"))
    gs = load("gui_stall")
    add("longest GUI stall, server answering after 5 s",
        dig(gs, "overall", "activity", "max_ms"), dig(gs, "overall", "floor", "max_ms"),
        "idle floor", "< 20 ms", " ms")
    tb = load("team_board")
    add("team board: longest stall, 5,000 agents, 1,000 ev/s",
        dig(tb, "gaps_with_events", "max_ms"), dig(tb, "floor_gaps", "max_ms"), "no events",
        "≤ 16 ms", " ms")
    rows.append(("team board: every change visible within",
                 f"{dig(tb, 'visible_within_ms', 'max')} ms", "—", "—", "≤ 500 ms"))
    ab = load("audio_bridge")
    add("audio bridge: CPU of a call, echo canceller on, headset (no echo: the canceller "
        "idles after ~5 s) (% of a core)",
        dig(ab, "cpu", "bridge_pct_of_core"),
        dig(ab, "cpu", "vs_pjsua2_null_sound_path", "null_sound_pct_of_core"),
        "the same call through pjsua2's null sound device", "≤ 2x", " %")
    add("audio bridge: CPU of a call, echo canceller on, speaker looped into the microphone "
        "(it runs all call long) (% of a core)",
        dig(ab, "cpu", "bridge_echo_pct_of_core"),
        dig(ab, "cpu", "vs_pjsua2_null_sound_path", "null_sound_pct_of_core"),
        "the same call through pjsua2's null sound device", "≤ 2x", " %")
    add("audio bridge: CPU of a call, echo canceller off (% of a core)",
        dig(ab, "cpu", "bridge_no_aec_pct_of_core"),
        dig(ab, "cpu", "vs_pjsua2_null_sound_path", "null_sound_pct_of_core"),
        "the same call through pjsua2's null sound device", "≤ 2x", " %")
    bd = dig(ab, "budget")
    if bd:
        rows.append(("audio bridge: CPU ratio, echo canceller running, if the bridge's own Python "
                     "code cost nothing (this design's floor; see the JSON's budget)",
                     f"{bd['ratio_floor_of_this_design']}x",
                     "Qt's PulseAudio thread + WebRTC AEC3 + two empty pjsua2 Python callbacks "
                     "per 20 ms, over the same floor", "—", "≤ 2x"))
    rows.append(("audio bridge: added speaker latency",
                 f"{dig(ab, 'latency', 'speaker_added_ms_median')} ms "
                 f"(worst call {dig(ab, 'latency', 'speaker_added_ms_worst_call')} ms)",
                 "pjsua2's own player path", "—", "≤ 40 ms"))
    mic_row(rows, ab, "")
    ns = load("native_softphone")  # bench/native_softphone.py
    then = "; no echo in the call: the canceller idles after ~5 s"
    for kind, words, note in (("tone", "on", then), ("tone-noaec", "off", "")) if ns else ():
        add(f"audio bridge: CPU of a call, echo canceller {words}, vs a native softphone "
            f"(% of a core; measured {str(ns.get('when', '?'))[:10]}{note})",
            dig(ns, "pct_of_core", kind),
            dig(ns, "pct_of_core", "baresip"),
            "baresip 1.0, the same call through the same PulseAudio; no echo canceller",
            "—", " %")
    for name, what in (("audio_bridge_pipewire", "PipeWire 0.3 (pipewire-pulse)"),
                       ("audio_bridge_pipewire1", "PipeWire 1.4 (Qt's PipeWire backend)")):
        pw = load(name)  # bench/audio_bridge.py --sound-server pipewire / pipewire1
        if pw:
            rows.append((f"audio bridge: added speaker latency on {what}",
                         f"{dig(pw, 'latency', 'speaker_added_ms_median')} ms "
                         f"(worst call {dig(pw, 'latency', 'speaker_added_ms_worst_call')} ms;"
                         f" measured {pw.get('when', '?')[:10]})",
                         "pjsua2's own player path", "—", "≤ 40 ms"))
            mic_row(rows, pw, f" on {what}")
    hb = load("heartbeat")
    rows.append(("heartbeat p50 / p99",
                 f"{dig(hb, 'heartbeat', 'latency_ms', 'p50')} / "
                 f"{dig(hb, 'heartbeat', 'latency_ms', 'p99')} ms",
                 f"GET /healthz, same schedule ({hb.get('sessions')} sessions, "
                 f"{hb.get('interval_s')} s interval)",
                 f"{dig(hb, 'ratios', 'p50')}x / {dig(hb, 'ratios', 'p99')}x", "—"))
    ld = load("load")
    if ld:
        rows.append((f"load: {ld.get('agents')} agents, {ld.get('instances')} instances, "
                     f"{ld.get('minutes')} min: lost state", str(ld.get("lost_state")),
                     "the operations that succeeded", "—", "0"))
        rows.append(("load: heartbeat p50 / p99", f"{dig(ld, 'heartbeat_ms', 'p50')} / "
                     f"{dig(ld, 'heartbeat_ms', 'p99')} ms", "—", "—", "reported"))
        rows.append(("load: abandoned sessions ended after their deadline (max)",
                     f"{dig(ld, 'abandoned', 'late_s_max')} s "
                     f"({dig(ld, 'abandoned', 'ended')}/{dig(ld, 'abandoned', 'sessions')})",
                     "—", "—", "≤ 2 s"))
    lines = ["| figure | ours | compared with | ratio | goal |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {' | '.join(r)} |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="the short variant of each benchmark")
    ap.add_argument("--skip", nargs="*", default=[], help="benchmarks not to run now")
    ap.add_argument("--table-only", action="store_true", help="only rewrite SUMMARY.md")
    args = ap.parse_args(argv)
    failed: list[str] = []
    if not args.table_only:
        if "peers" not in args.skip:
            run_peers(3 if args.quick else 7)
        for name, (full, quick) in BENCHES.items():
            if name in args.skip:
                continue
            cmd = [PY, str(REPO / "bench" / f"{name}.py"), *(quick if args.quick else full)]
            print("==", " ".join(cmd), flush=True)
            if subprocess.run(cmd, cwd=REPO, check=False).returncode != 0:
                failed.append(name)
    when = datetime.now(UTC).isoformat(timespec="minutes")
    text = (f"# Benchmark summary\n\nWritten by `bench/run_all.py` on {when}"
            f"{' (--quick)' if args.quick else ''}; each figure's details are in its JSON file "
            "here. Ratios are against floors or peers measured in the same run on the same "
            "machine.\n\n" + table() + "\n")
    if failed:
        text += f"\nFailed to run: {', '.join(failed)}.\n"
    (RESULTS / "SUMMARY.md").write_text(text)
    print(text)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
