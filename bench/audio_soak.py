"""Soak: run audio_runner scenarios many times in a row and count crashes.

    .venv/bin/python bench/audio_soak.py [--runs 20] [--scenario aecloop] [--scenario tone ...]

One PBX sandbox and one private PulseAudio for the whole soak; each run is a fresh child
process (tests/sip/audio_runner.py). A run counts as a crash when the child dies by a
signal or exits without its JSON; "failed" when the scenario itself reports an error. The
child's exit code, the scenario's key figures and the tail of a crashed child's log are
printed as one JSON line per run, then a summary.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.pbx_fixtures import discard, new_sandbox  # noqa: E402
from tests.sip.audio_runner import run_scenario  # noqa: E402
from tests.support.pulse import PulseServer  # noqa: E402

SECONDS = {"tone": 30.0, "tone-noaec": 30.0, "echo": 8.0, "hotplug": 12.0, "mute": 0.0}


def figures(scenario: str, res: dict[str, Any]) -> dict[str, Any]:
    if scenario == "aecloop" and res.get("ok"):
        out = {
            "erle_db": res["far_only"]["erle_db"],
            "erle_db_median": res["far_only"]["erle_db_median"],
            "tone_change_db": res["double_talk"]["tone_change_db"],
            "tone_change_db_median": res["double_talk"]["tone_change_db_median"],
        }
        if out["erle_db"] < 20 or abs(out["tone_change_db"]) > 3:
            out["double_talk"] = res["double_talk"]
            out["diag"] = res.get("diag")
        return out
    if scenario == "mute" and res.get("ok"):

        def ratio(d: dict[str, Any]) -> str:
            return f"{d['present']}/{d['blocks']}"

        windows = ("unmuted", "muted", "unmuted_again")
        return {w: {"far_440": ratio(res[w]), "speaker_1k": ratio(res[w]["speaker_1k"])}
                for w in windows}  # fmt: skip
    if "speaker" in res:
        return {
            "gaps": res["speaker"].get("gaps"),
            "absent": res["speaker"].get("absent"),
            "underruns": res.get("stats", {}).get("speaker_underruns"),
        }
    return {}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--scenario", action="append")
    args = ap.parse_args()
    scenarios = args.scenario or ["aecloop"]
    box = new_sandbox(f"soak-{os.getpid()}")
    box.start(example_devices=True, fresh=True)
    counts: dict[str, dict[str, int]] = {s: {"ok": 0, "failed": 0, "crashed": 0} for s in scenarios}
    try:
        with PulseServer() as pulse, tempfile.TemporaryDirectory() as tmp:
            for i in range(args.runs):
                for sc in scenarios:
                    work = Path(tmp) / f"{sc}-{i}"
                    work.mkdir()
                    t0 = time.monotonic()
                    res = run_scenario(box.sip_port, sc, SECONDS.get(sc, 0.0), pulse.env, work)
                    code = res["exit_code"]
                    crashed = code < 0 or "scenario" not in res
                    kind = "crashed" if crashed else ("ok" if res.get("ok") else "failed")
                    counts[sc][kind] += 1
                    line = {"run": i, "scenario": sc, "result": kind, "exit": code,
                            "s": round(time.monotonic() - t0, 1), **figures(sc, res)}  # fmt: skip
                    if kind != "ok":
                        line["error"] = res.get("error")
                        line["log_tail"] = res["log_tail"][-3000:]
                    print(json.dumps(line), flush=True)
    finally:
        discard(box)
    print(json.dumps({"summary": counts}), flush=True)
    return 0 if all(c["crashed"] == 0 and c["failed"] == 0 for c in counts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
