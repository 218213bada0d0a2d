"""Bench: what the audio bridge costs, as ratios from one run.

    .venv/bin/python bench/audio_bridge.py [--seconds 60] [--rounds 3]
        [--sound-server pulseaudio|pipewire|pipewire1] [--latency-only]

Starts a PBX sandbox and a private PulseAudio, then in child processes (one pjsua2
Endpoint each, tests/sip/audio_runner.py):
- latency (5 calls of 12 s): bursts into the virtual mic, echoed by 9000; each returning
  burst is stamped where pjsua2's own media path delivers it (a plain AudioMediaPort on the
  call, as a player/recorder would see it) and again on the virtual speaker's monitor: the
  difference is the one-way latency the bridge adds on the speaker path (goal <= 40 ms);
  the same bursts stamped on the virtual microphone's signal and where pjmedia takes them
  for the call give the whole microphone path (no goal set);
- CPU of a call to 9001 with the bridge vs the same call without it (goal <= 2x): the five
  kinds of call in turn, `--rounds` times (the machine's load drifts: a floor measured once
  moved by a factor of two between runs), each figure the median of its rounds; the tests'
  own threads (the speaker's recorder) are not counted. Against two floors:
  "nullaudio", the call connected both ways to pjsua2's null sound device (pjsua2's
  own media path: the call's audio is decoded, mixed and encoded, as with a sound device),
  and "nobridge", the call with nothing connected (pjmedia then neither decodes nor encodes
  its audio: a floor that no call with audio can reach, kept for comparison with earlier
  results).
The bridge's calls: "tone", the canceller on (the default) and nothing of the speaker in the
microphone (a headset: the canceller idles after ~5 s); "tone-echo", the speaker looped into
the microphone (a speakerphone: it runs all call long); "tone-noaec", the canceller off.
Then the "budget": where "tone-echo"'s CPU goes, per thread, against the floor's, with what
two Python callbacks per 20 ms cost by themselves on pjmedia's clock (bench/pjsua_callbacks.py)
and what WebRTC AEC3 itself costs; "ratio_floor_of_this_design" is the ratio if the bridge's
own Python code cost nothing.
Writes bench/results/audio_bridge.json (audio_bridge_pipewire.json with `--sound-server
pipewire`: PipeWire 0.3 + pipewire-pulse + WirePlumber, the Debian 12 desktop's sound server,
which the app reaches through libpulse as it does PulseAudio; audio_bridge_pipewire1.json with
`--sound-server pipewire1`: PipeWire 1.x from scripts/pipewire1.sh, which Qt plays through with
its native PipeWire backend).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from statistics import median
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.pjsua_callbacks import measure as measure_callbacks  # noqa: E402
from tests.pbx_fixtures import discard, new_sandbox  # noqa: E402
from tests.sip.audio_runner import run_scenario  # noqa: E402
from tests.support.pipewire import PipeWireServer, pipewire1_prefix  # noqa: E402
from tests.support.pulse import PulseServer  # noqa: E402

LATENCY_CALLS = 5
CPU_SCENARIOS = ("tone", "tone-echo", "tone-noaec", "nobridge", "nullaudio")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="20 s calls, 1 round, 3 latency calls")
    ap.add_argument("--sound-server", choices=("pulseaudio", "pipewire", "pipewire1"),
                    default="pulseaudio")  # fmt: skip
    ap.add_argument("--latency-only", action="store_true", help="the latency calls, no CPU")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    results = REPO / "bench" / "results"
    suffix = "" if args.sound_server == "pulseaudio" else f"_{args.sound_server}"
    out = Path(args.out or results / f"audio_bridge{suffix}.json")
    latency_calls = LATENCY_CALLS
    if args.quick:
        args.seconds, args.rounds, latency_calls = 20.0, 1, 3
    server = {
        "pulseaudio": PulseServer,
        "pipewire": PipeWireServer,
        "pipewire1": lambda: PipeWireServer(prefix=pipewire1_prefix()),
    }[args.sound_server]()
    box = new_sandbox(f"bench-{os.getpid()}")
    box.start(example_devices=True, fresh=True)
    runs: dict[str, list[dict[str, Any]]] = {sc: [] for sc in CPU_SCENARIOS}
    try:
        with server as pulse, tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            # The fresh virtual devices stall ~1.5 s in the first call after the sound server
            # starts (the bridge then trims the backlog); a headset does not: warm them first.
            run_scenario(box.sip_port, "latency", 4.0, pulse.env, work)
            # The latency is set when a call's streams start (it holds for the call, the
            # bursts of one call agree within ~1 ms) and differs from call to call: several calls.
            lats = [run_scenario(box.sip_port, "latency", 12.0, pulse.env, work)
                    for _ in range(latency_calls)]  # fmt: skip
            for _ in range(0 if args.latency_only else args.rounds):
                for sc in CPU_SCENARIOS:
                    runs[sc].append(run_scenario(box.sip_port, sc, args.seconds, pulse.env,
                                                 work, timeout=args.seconds + 90))  # fmt: skip
    finally:
        discard(box)
    callbacks = None if args.latency_only else measure_callbacks(8.0, args.rounds)
    for r in (*lats, *(r for rs in runs.values() for r in rs)):
        if not r.get("ok"):
            print(r.get("error"), r.get("log_tail"), file=sys.stderr)
            return 1
    mic_ms = [c["mic_ms_median"] for c in lats if c["mic_ms_median"] is not None]
    latency = {
        "sound_server": args.sound_server,
        "qt_audio_backend": sorted({c.get("qt_audio_backend", "?") for c in lats}),
        "speaker_added_ms_median": median(c["speaker_added_ms_median"] for c in lats),
        "speaker_added_ms_worst_call": max(c["speaker_added_ms_median"] for c in lats),
        # None when no call matched a burst on the microphone side (said so, not a crash)
        "microphone_ms_median": median(mic_ms) if mic_ms else None,
        "microphone_ms_worst_call": max(mic_ms, default=None),
        "per_call": [
            {
                "median": c["speaker_added_ms_median"],
                "p90": c["speaker_added_ms_p90"],
                "bursts_matched": c["matched"],
                "microphone_median": c["mic_ms_median"],
                "microphone_p90": c["mic_ms_p90"],
                "microphone_bursts_matched": c["mic_matched"],
                "bridge_estimate_ms": c["stats"]["added_latency_ms"],
                "microphone_caught_up_ms": c["stats"].get("mic_caught_up_ms"),
            }
            for c in lats
        ],
        "note": "median over the calls of each call's median; the speaker's includes parec's "
        "own 5 ms capture latency (an upper bound). microphone: from the virtual "
        "microphone's signal to the frame pjmedia takes for the call, all of it (Qt's source "
        "buffer, the canceller's 20 ms frames, the bridge's ring); parec's 5 ms delays the "
        "first stamp (a lower bound). No goal was set for it.",
        "sound_server_env": {
            k: os.environ.get(k) for k in ("PULSE_LATENCY_MSEC", "PIPEWIRE_LATENCY")
        },
        "goal_ms": 40,
    }
    if args.latency_only:
        return write_result(out, {"when": time.strftime("%Y-%m-%dT%H:%M:%S"), "latency": latency})
    bridge, echo, noaec, base, null = (median_run(runs[sc]) for sc in CPU_SCENARIOS)
    ratio = bridge["cpu_s"] / max(base["cpu_s"], 1e-3)
    ratio_noaec = noaec["cpu_s"] / max(base["cpu_s"], 1e-3)
    floor = max(null["cpu_s"], 1e-3)
    result = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "call_seconds": args.seconds,
        "rounds": args.rounds,
        "latency": latency,
        "cpu": {
            "vs_pjsua2_null_sound_path": {
                "ratio": round(bridge["cpu_s"] / floor, 2),
                "ratio_echo": round(echo["cpu_s"] / floor, 2),
                "ratio_no_aec": round(noaec["cpu_s"] / floor, 2),
                "null_sound_pct_of_core": round(null["cpu_pct"], 2),
                "per_round": [
                    {
                        "ratio": round(b["cpu_s"] / max(n["cpu_s"], 1e-3), 2),
                        "ratio_echo": round(e["cpu_s"] / max(n["cpu_s"], 1e-3), 2),
                        "ratio_no_aec": round(a["cpu_s"] / max(n["cpu_s"], 1e-3), 2),
                        "null_sound_pct_of_core": round(n["cpu_pct"], 2),
                    }
                    for b, e, a, n in zip(
                        runs["tone"], runs["tone-echo"], runs["tone-noaec"], runs["nullaudio"],
                        strict=True,
                    )
                ],
                "note": "the same call through pjsua2's own media path (null sound device); "
                "each call the median of its rounds by CPU",
            },
            "bridge_pct_of_core": round(bridge["cpu_pct"], 2),
            "no_bridge_pct_of_core": round(base["cpu_pct"], 2),
            "ratio": round(ratio, 2),
            "goal_ratio": 2.0,
            "note": "bridge = with the WebRTC AEC3 echo canceller on (the default); the "
            "virtual microphone does not hear the speaker (a headset), so the canceller "
            "idles after ~5 s of the far end's tone. bridge_echo = the same call with the "
            "speaker looped into the microphone (a speakerphone): the canceller runs all call "
            "long. ratio, ratio_no_aec: against the call with nothing connected (no decoding)",
            "bridge_echo_pct_of_core": round(echo["cpu_pct"], 2),
            "bridge_no_aec_pct_of_core": round(noaec["cpu_pct"], 2),
            "harness_cpu_s": {sc: [r.get("harness_cpu_s") for r in rs] for sc, rs in runs.items()},
            "ratio_no_aec": round(ratio_noaec, 2),
            "aec": bridge["stats"].get("aec"),
            "aec_echo": echo["stats"].get("aec"),
            "threads_s": {
                "bridge": bridge.get("thread_cpu_s"),
                "bridge_echo": echo.get("thread_cpu_s"),
                "bridge_no_aec": noaec.get("thread_cpu_s"),
                "no_bridge": base.get("thread_cpu_s"),
                "null_sound": null.get("thread_cpu_s"),
            },
        },
        "budget": budget(echo, null, callbacks),
        "pjsua_callbacks": callbacks,
        "speaker_tone": bridge["speaker"],
        "speaker_tone_echo": echo["speaker"],
        "speaker_tone_no_aec": noaec["speaker"],
    }
    return write_result(out, result)


def write_result(out: Path, result: dict[str, Any]) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


def budget(
    bridge: dict[str, Any], null: dict[str, Any], callbacks: dict[str, Any] | None
) -> dict[str, Any]:
    """Where the bridge's CPU goes (% of a core, the median rounds), against the floor's;
    `bridge` is the call whose canceller runs all call long (the speaker looped in)."""
    wall = float(bridge["wall_s"])
    mine, floor_threads = bridge.get("thread_cpu_s") or {}, null.get("thread_cpu_s") or {}

    def pct(seconds: float) -> float:
        return round(100 * seconds / wall, 2)

    aec = bridge["stats"].get("aec") or {}
    processed = int(aec.get("frames") or 0) - int(aec.get("skipped_frames") or 0)
    processed += int(aec.get("replayed_frames") or 0)
    # per processed frame x processed frames, over the call's wall time (frames span the
    # whole call, the wall time only the measured part: a rate, not a count)
    frames_per_s = 50 * processed / max(int(aec.get("frames") or 0), 1)
    aec_pct = round(float(aec.get("mean_process_cpu_us") or 0) * frames_per_s / 1e4, 2)
    clock_extra = pct(mine.get("clock", 0) - floor_threads.get("clock", 0))
    qt_pulse = pct(sum(v for k, v in mine.items() if k.startswith("QPulseAudio")))
    audio_thread = pct(mine.get("audio-io", 0))
    floor_pct = round(float(null["cpu_pct"]), 2)
    total = round(float(bridge["cpu_pct"]), 2)
    callbacks_pct = callbacks["two_empty_callbacks_pct_of_core"] if callbacks else None
    unavoidable = floor_pct + qt_pulse + aec_pct + (callbacks_pct or 0)
    return {
        "unit": "% of a core",
        "floor_null_sound_call": floor_pct,
        "bridge_call_aec_running": total,
        "clock_thread_above_the_floors": clock_extra,
        "of_which_two_empty_python_callbacks": callbacks_pct,
        "qt_multimedia_pulseaudio_thread": qt_pulse,
        "audio_thread": audio_thread,
        "of_which_webrtc_aec3": aec_pct,
        "other_threads_above_the_floors": round(
            total - floor_pct - clock_extra - qt_pulse - audio_thread, 2
        ),
        "ratio_floor_of_this_design": round(unavoidable / max(floor_pct, 1e-3), 2),
        "note": "ratio_floor_of_this_design: (floor + Qt's PulseAudio thread + AEC3 + two "
        "empty Python callbacks per 20 ms) / floor, i.e. the ratio if the bridge's own "
        "Python code cost nothing",
    }


def median_run(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the median CPU (its own stats and threads, not a blend)."""
    ordered = sorted(rounds, key=lambda r: float(r["cpu_s"]))
    return ordered[len(ordered) // 2]


if __name__ == "__main__":
    sys.exit(main())
