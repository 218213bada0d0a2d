"""What pjmedia's clock thread spends on a Python AudioMediaPort, without any call or device.

    .venv/bin/python bench/pjsua_callbacks.py [--seconds 8] [--rounds 3]

pjsua2 with its null sound device; one child process (one Endpoint) per measurement:
- "direct": the null capture device connected to the null playback device (the conference
  bridge ticking every 20 ms, no Python);
- "empty": the same with a Python AudioMediaPort in between whose two callbacks
  (onFrameReceived, onFrameRequested) do nothing;
- "bridge": the app's own `BridgePort` in between (rings, counters; no wake-up socket).
CPU of the clock thread per 20 ms tick, each mode the median of its rounds (the modes take
turns). "empty" minus "direct" is what the two SWIG director calls cost by themselves (GIL,
Python frames, the MediaFrame proxy), however little the callbacks do; "bridge" minus
"empty" is what the bridge's own code adds. Used by bench/audio_bridge.py (its "budget").
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from statistics import median
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MODES = ("direct", "empty", "bridge")
TICKS_PER_S = 50


def thread_cpu_s() -> dict[str, float]:
    out: dict[str, float] = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            stat = Path(f"/proc/self/task/{tid}/stat").read_text()
            ns = int(Path(f"/proc/self/task/{tid}/schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        out[name] = out.get(name, 0.0) + ns / 1e9
    return out


def child(mode: str, seconds: float) -> dict[str, Any]:
    """One measurement in this process (it ends the process: one Endpoint per process)."""
    sys.path.insert(0, str(REPO))
    import pjsua2 as pj

    from agent_desktop.sip.audio import BridgeCounters, BridgePort, keep_for_process
    from agent_desktop.sip.pcm import FRAME_MS, RATE, PcmRing, ms_to_bytes

    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.logConfig.level = cfg.logConfig.consoleLevel = 0
    ep.libInit(cfg)
    adm = ep.audDevManager()
    adm.setNullDev()
    ep.libStart()

    class EmptyPort(pj.AudioMediaPort):  # type: ignore[misc]
        def onFrameReceived(self, frame: Any) -> None:
            pass

        def onFrameRequested(self, frame: Any) -> None:
            pass

    port: Any = None
    if mode == "empty":
        port = EmptyPort()
        fmt = pj.MediaFormatAudio()
        fmt.init(pj.PJMEDIA_FORMAT_PCM, RATE, 1, FRAME_MS * 1000, 16)
        port.createPort("empty", fmt)
        keep_for_process(port)
    elif mode == "bridge":
        port = BridgePort(PcmRing(ms_to_bytes(400)), PcmRing(ms_to_bytes(400)), BridgeCounters())
        port.create("bridge")
    if port is None:
        adm.getCaptureDevMedia().startTransmit(adm.getPlaybackDevMedia())
    else:
        adm.getCaptureDevMedia().startTransmit(port)
        port.startTransmit(adm.getPlaybackDevMedia())
    settle = time.monotonic() + 1.0
    while time.monotonic() < settle:
        ep.libHandleEvents(10)
    before, t0 = thread_cpu_s(), time.monotonic()
    end = t0 + seconds
    while time.monotonic() < end:
        ep.libHandleEvents(10)  # as the app's poll timer does
    after, wall = thread_cpu_s(), time.monotonic() - t0
    ticks = wall * TICKS_PER_S
    clock_s = after.get("clock", 0) - before.get("clock", 0)
    return {
        "mode": mode,
        "clock_us_per_tick": round(clock_s / ticks * 1e6, 1),
        "process_us_per_tick": round(
            (sum(after.values()) - sum(before.values())) / ticks * 1e6, 1
        ),
    }


def measure(seconds: float = 8.0, rounds: int = 3) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in MODES}
    for _ in range(rounds):
        for mode in MODES:
            proc = subprocess.run(
                [sys.executable, __file__, "--child", mode, "--seconds", str(seconds)],
                cwd=REPO, capture_output=True, text=True, timeout=seconds + 60, check=True,
            )  # fmt: skip
            runs[mode].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    clock = {m: median(r["clock_us_per_tick"] for r in runs[m]) for m in MODES}
    return {
        "seconds": seconds,
        "rounds": rounds,
        "clock_us_per_tick": clock,
        "two_empty_callbacks_us_per_tick": round(clock["empty"] - clock["direct"], 1),
        "bridge_code_us_per_tick": round(clock["bridge"] - clock["empty"], 1),
        "two_empty_callbacks_pct_of_core": round(
            (clock["empty"] - clock["direct"]) * TICKS_PER_S / 1e4, 2
        ),
        "runs": runs,
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--child", choices=MODES)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.seconds)), flush=True)
        os._exit(0)  # no interpreter teardown with the library alive (see pjsua2-qt.md)
    print(json.dumps(measure(args.seconds, args.rounds), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
