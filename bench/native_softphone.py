"""Bench: the bridge's call against a native softphone's, as ratios from one run.

    .venv/bin/python bench/native_softphone.py [--seconds 60] [--rounds 3]

The CPU goal of the audio bridge (bench/audio_bridge.py) is set against pjsua2's own media
path with a null sound device. This bench adds the other floor the issue's owner may choose:
a native softphone playing the same call through the same sound server. baresip 1.0
(Debian's `baresip-core`, installed when missing; its ALSA module on libasound's `pulse`
device, so the audio goes through the same private PulseAudio as the bridge's) registers as
8001 on the PBX sandbox and calls 9001 (1 kHz), as the bridge's "tone" call does; its whole
process is measured over the same seconds of the connected call. In turn, `--rounds` times:
baresip, the bridge with the echo canceller ("tone"), without it ("tone-noaec"), and
pjsua2's null-sound path ("nullaudio"); each figure the median of its rounds. The baresip
call's PulseAudio streams are listed in the result (proof that its audio went through the
sound server). Writes bench/results/native_softphone.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from statistics import median
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.run_all import baresip_available  # noqa: E402
from tests.pbx_fixtures import discard, new_sandbox  # noqa: E402
from tests.sip.audio_runner import run_scenario  # noqa: E402
from tests.support.pulse import PulseServer  # noqa: E402

KINDS = ("baresip", "tone", "tone-noaec", "nullaudio")
BARESIP_CONFIG = """poll_method epoll
sip_listen 127.0.0.1:{port}
audio_player alsa,pulse
audio_source alsa,pulse
audio_alert alsa,pulse
module_path /usr/lib/baresip/modules
module stdio.so
module g711.so
module alsa.so
module_app account.so
module_app menu.so
"""


def process_cpu_s(pid: int) -> float:
    """utime + stime of a whole process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pulse_streams(env: dict[str, str]) -> dict[str, list[str]]:
    streams = {}
    for what in ("sink-inputs", "source-outputs"):
        out = subprocess.run(["pactl", "list", what], env={**os.environ, **env},
                             capture_output=True, text=True, check=False).stdout
        streams[what] = [ln.strip() for ln in out.splitlines()
                         if "application.name" in ln or "Sample Specification" in ln]
    return streams


def baresip_call(sip_port: int, env: dict[str, str], seconds: float,
                 work: Path) -> dict[str, Any]:
    cfg = work / "baresip"
    cfg.mkdir(exist_ok=True)
    (cfg / "config").write_text(BARESIP_CONFIG.format(port=free_udp_port()))
    (cfg / "accounts").write_text(f"<sip:8001@127.0.0.1:{sip_port}>;auth_pass=demo;regint=0\n")
    (cfg / "contacts").write_text("")
    proc = subprocess.Popen(["baresip", "-f", str(cfg)], env={**os.environ, **env},
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)
    assert proc.stdin is not None
    assert proc.stdout is not None
    lines: list[str] = []
    established = threading.Event()

    def read(stdout: Any) -> None:
        for line in stdout:
            lines.append(line.rstrip())
            if "established" in line.lower():
                established.set()

    threading.Thread(target=read, args=(proc.stdout,), daemon=True).start()
    time.sleep(1.0)  # its modules and UA up
    proc.stdin.write(f"/dial sip:9001@127.0.0.1:{sip_port}\n")
    proc.stdin.flush()
    result: dict[str, Any] = {"ok": established.wait(15)}
    if result["ok"]:
        time.sleep(1.0)  # streams started
        result["streams"] = pulse_streams(env)
        c0, t0 = process_cpu_s(proc.pid), time.monotonic()
        time.sleep(seconds)
        c1, t1 = process_cpu_s(proc.pid), time.monotonic()
        result.update(cpu_s=c1 - c0, wall_s=t1 - t0, cpu_pct=100 * (c1 - c0) / (t1 - t0))
    proc.stdin.write("/quit\n")
    proc.stdin.flush()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    result["log_tail"] = "\n".join(lines[-15:])
    return result


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "native_softphone.json"))
    args = ap.parse_args()
    if not baresip_available() or not shutil.which("pactl"):
        print("needs baresip (baresip-core) and pactl", file=sys.stderr)
        return 1
    box = new_sandbox(f"native-{os.getpid()}")
    box.start(example_devices=True, fresh=True)
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in KINDS}
    try:
        with PulseServer() as pulse, tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            run_scenario(box.sip_port, "latency", 4.0, pulse.env, work)  # warm the devices
            for _ in range(args.rounds):
                for kind in KINDS:
                    if kind == "baresip":
                        res = baresip_call(box.sip_port, pulse.env, args.seconds, work)
                    else:
                        res = run_scenario(box.sip_port, kind, args.seconds, pulse.env, work,
                                           timeout=args.seconds + 90)
                    if not res.get("ok"):
                        print(kind, res.get("error"), res.get("log_tail"), file=sys.stderr)
                        return 1
                    kept = {k: res[k] for k in ("cpu_s", "cpu_pct", "wall_s", "streams")
                            if k in res}
                    runs[kind].append(kept)
                    print(kind, round(res["cpu_pct"], 2), flush=True)
    finally:
        discard(box)
    pct = {k: median(r["cpu_pct"] for r in rs) for k, rs in runs.items()}
    result = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "call_seconds": args.seconds,
        "rounds": args.rounds,
        "pct_of_core": {k: round(v, 2) for k, v in pct.items()},
        "vs_baresip": {k: round(v / pct["baresip"], 2) for k, v in pct.items()},
        "vs_pjsua2_null_sound_path": {k: round(v / pct["nullaudio"], 2) for k, v in pct.items()},
        "per_round": {k: [round(r["cpu_pct"], 2) for r in rs] for k, rs in runs.items()},
        "baresip_streams": runs["baresip"][0].get("streams"),
        "note": "baresip 1.0 (ALSA -> libasound's pulse plugin -> the same PulseAudio), no echo "
                "canceller; tone = the bridge with WebRTC AEC3; medians of the rounds",
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
