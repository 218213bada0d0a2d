"""One audio scenario in its own process (one pjsua2 Endpoint per process).

    python -m tests.sip.audio_runner --sip-port P --scenario NAME --out result.json [...]

A minimal pjsua2 endpoint (null device, threadCnt 0, mainThreadOnly, a QTimer polling
libHandleEvents) registers as example phone 8001 on the PBX sandbox, calls 9001 (1 kHz
milliwatt) or 9000 (echo) and writes JSON results. The Pulse environment (PULSE_SERVER...)
comes from the parent. Scenarios:
  tone      call 9001 through the bridge; record speaker.monitor; tone blocks, gaps, CPU
  echo      feed 440 Hz into the virtual mic, call 9000, record the speaker: 440 comes back
  hotplug   pin the speaker to sink "headset"; unplug it mid-call, plug it back
  michotplug  pin the microphone to "headmic" (660 Hz), call 9000 (echo); unplug it
            mid-call (fallback to "mic", 440 Hz), plug it back
  followdefault  nothing pinned, call 9000; a new default sink, then a new default
            source mid-call: the audio must follow
  pindefault  speaker and microphone pinned to the devices that are the defaults, call
            9000; other devices become the defaults mid-call: the audio must stay
  ringer    speaker pinned to one sink, ringer to another: ring, stop, ring and unplug
            the ringer's sink, plug it back (a call to 9001 plays meanwhile)
  level     meter on, no call: microphone level with and without the 440 Hz feed
  tone-noaec  the same with the echo canceller disabled (CPU of the transport alone)
  tone-echo  the same with the speaker looped into the microphone (a speakerphone: the
            canceller hears an echo and runs all call long; it idles on "tone")
  nobridge  call 9001 without any port (null device only): CPU reference; note that
            pjmedia then neither decodes nor encodes the call's audio (no connection)
  nullaudio call 9001 connected both ways to pjsua2's null sound device: pjsua2's own
            media path (decode, mix, encode), the CPU of a call without the bridge
  latency   bench: burst onset at the port vs on the speaker monitor
  aecloop   speaker looped into the microphone: ERLE and double talk (see aec_loop)
  mute      the app's path (SipEngine + AudioBridge + CallSession.set_muted): 440 Hz into
            the mic, call a test phone 8002, mute and unmute; what did 8002 receive?
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import resource
import subprocess
import sys
import time
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent_desktop.audio_env import apply_low_latency_audio_env, qt_audio_backend
from agent_desktop.sip.pcm import CATCH_UP_SPEED
from tests.support.pulse import HARNESS_THREADS, name_this_thread, tool_env

log = logging.getLogger("audio_runner")
RATE = 16000
BLOCK_MS = 20
BLOCK = RATE * BLOCK_MS // 1000


# ------------------------------------------------------------------ tone analysis


def sine_fit(x: list[float] | array[int], freq: float) -> tuple[float, float]:
    """(share of the block's variance a sine at freq explains, its amplitude)."""
    n = len(x)
    if n < 8:
        return 0.0, 0.0
    w = 2 * math.pi * freq / RATE
    s = [math.sin(w * i) for i in range(n)]
    c = [math.cos(w * i) for i in range(n)]
    mean = sum(x) / n
    xm = [v - mean for v in x]
    var = sum(v * v for v in xm)
    if var <= 1e-9:
        return 0.0, 0.0
    ms, mc = sum(s) / n, sum(c) / n
    s = [v - ms for v in s]
    c = [v - mc for v in c]
    gss = sum(v * v for v in s)
    gcc = sum(v * v for v in c)
    gsc = sum(a * b for a, b in zip(s, c, strict=True))
    xs = sum(a * b for a, b in zip(xm, s, strict=True))
    xc = sum(a * b for a, b in zip(xm, c, strict=True))
    det = gss * gcc - gsc * gsc
    a = (xs * gcc - xc * gsc) / det
    b = (xc * gss - xs * gsc) / det
    return max(0.0, min(1.0, (a * xs + b * xc) / var)), math.hypot(a, b)


def tone_blocks(
    data: bytes, freqs: list[float], min_score: float = 0.6, min_amp: float = 300
) -> list[bool]:
    """Which 20 ms blocks hold one of `freqs`, or one of them 2 % higher: while the bridge
    plays standing latency away (agent_desktop.sip.pcm.CATCH_UP_SPEED), a 1004 Hz tone comes
    out at 1024.5 Hz, which a 1004 Hz fit over 20 ms does not pass (score ~0.57): 1 s of
    catch-up read as 50 blocks without the tone (the ringer test on PipeWire: 4-49 of 191,
    none with these)."""
    freqs = [*freqs, *(f * CATCH_UP_SPEED for f in freqs)]
    pcm = array("h")
    pcm.frombytes(data[: len(data) - len(data) % 2])
    out = []
    for i in range(0, len(pcm) - BLOCK + 1, BLOCK):
        blk = pcm[i : i + BLOCK]
        best = max((sine_fit(blk, f) for f in freqs), key=lambda t: t[0])
        out.append(best[0] >= min_score and best[1] >= min_amp)
    return out


def analyse(
    data: bytes, freqs: list[float], settle_s: float = 1.0, tail_s: float = 0.3
) -> dict[str, Any]:
    """Tone presence in 20 ms blocks from the first tone block + settle to the end - tail."""
    blocks = tone_blocks(data, freqs)
    first = next((i for i, b in enumerate(blocks) if b), None)
    if first is None:
        return {"blocks": len(blocks), "first_tone_s": None, "present": 0, "absent": len(blocks),
                "gaps": 0, "longest_gap_ms": 0, "checked_s": 0.0}  # fmt: skip
    start = first + int(settle_s * 1000 / BLOCK_MS)
    end = len(blocks) - int(tail_s * 1000 / BLOCK_MS)
    window = blocks[start:end]
    gaps, run, longest = 0, 0, 0
    for b in window:
        if b:
            if run:
                gaps += 1
                longest = max(longest, run)
            run = 0
        else:
            run += 1
    if run:
        gaps += 1
        longest = max(longest, run)
    return {
        "blocks": len(blocks),
        "first_tone_s": first * BLOCK_MS / 1000,
        "present": sum(window),
        "absent": len(window) - sum(window),
        "gaps": gaps,
        "longest_gap_ms": longest * BLOCK_MS,
        "checked_s": len(window) * BLOCK_MS / 1000,
        # the judged window, a character per block: where the gaps are ("." = no tone)
        "map": "".join("#" if b else "." for b in window),
    }


def cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def thread_cpu() -> dict[str, float]:
    """CPU seconds per thread name (Linux /proc; schedstat's ns when available, else clock
    ticks; threads of one name summed)."""
    out: dict[str, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    with contextlib.suppress(OSError):
        for tid in os.listdir("/proc/self/task"):
            try:
                stat = Path(f"/proc/self/task/{tid}/stat").read_text()
            except OSError:
                continue
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            try:
                secs = int(Path(f"/proc/self/task/{tid}/schedstat").read_text().split()[0]) / 1e9
            except (OSError, ValueError, IndexError):
                fields = stat[stat.rindex(")") + 2 :].split()
                secs = (int(fields[11]) + int(fields[12])) / tick
            out[name] = out.get(name, 0.0) + secs
    return out


def onsets(data: bytes, t_end: float, rate: int = RATE, block_ms: int = 5) -> list[float]:
    """Times (same clock as t_end = arrival of the last byte) where a burst starts."""
    pcm = array("h")
    pcm.frombytes(data[: len(data) - len(data) % 2])
    n = rate * block_ms // 1000
    out: list[float] = []
    quiet_blocks = 0
    total = len(pcm)
    for i in range(0, total - n + 1, n):
        e = max(abs(v) for v in pcm[i : i + n])
        if e > 2000:
            if quiet_blocks >= 20:  # >= 100 ms of quiet before
                out.append(t_end - (total - i) / rate)
            quiet_blocks = 0
        else:
            quiet_blocks += 1
    return out


def measure_latency(
    pj: Any, bridge: Any, env: dict[str, str], call: Callable[[str], None],
    run_for: Callable[[float], None], holder: dict[str, Any], seconds: float,
) -> dict[str, Any]:  # fmt: skip
    """Bursts into the microphone, echoed by 9000. A plain AudioMediaPort on the call (what
    pjsua2's own player/recorder path sees) timestamps each returning burst; the speaker
    monitor (parec, 5 ms latency) timestamps it again: the difference is what the bridge's
    speaker path adds (upper bound: parec's own latency is included).

    The microphone path the same way: the virtual microphone's own signal (parec on the
    sink it monitors, 5 ms) timestamps each burst as it goes in, a second port fed by the
    bridge's port timestamps it where pjmedia takes it for the call (a lower bound: parec's
    latency delays the first stamp)."""
    import threading

    from tests.support.pulse import PACAT_ARGS, Recorder

    burst = array(
        "h", (round(9000 * math.sin(2 * math.pi * 440 * i / RATE)) for i in range(RATE // 5))
    )
    cycle = burst.tobytes() + bytes(2 * RATE * 4 // 5)
    feed = subprocess.Popen(["pacat", "-p", "-d", "micfeed", "--latency-msec=100", *PACAT_ARGS],
                            stdin=subprocess.PIPE, env=env)  # fmt: skip
    holder.setdefault("procs", []).append(feed)

    def writer() -> None:
        assert feed.stdin is not None
        name_this_thread("feeder")
        try:
            for _ in range(int(seconds) + 10):
                feed.stdin.write(cycle)
                feed.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass

    threading.Thread(target=writer, daemon=True).start()

    lock = threading.Lock()
    reader = vec_reader_for(pj)

    class Probe(pj.AudioMediaPort):  # type: ignore[misc]
        def __init__(self, name: str) -> None:
            super().__init__()
            self.chunks: list[tuple[float, bytes]] = []
            fmt = pj.MediaFormatAudio()
            fmt.init(pj.PJMEDIA_FORMAT_PCM, RATE, 1, 20000, 16)
            self.createPort(name, fmt)
            keep_for_process(self)  # never destroyed: see BridgePort

        def onFrameReceived(self, frame: Any) -> None:
            if frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO and frame.size:
                data = reader(frame.buf, frame.size)
                with lock:
                    self.chunks.append((time.monotonic(), data))

        def onsets(self) -> list[float]:
            with lock:
                chunks = list(self.chunks)
            # frames arrive every 20 ms; the last one's arrival time anchors the joined stream
            return onsets(b"".join(d for _, d in chunks), chunks[-1][0]) if chunks else []

    def delays(first: list[float], then: list[float]) -> list[float]:
        out = []
        for p in first:
            later = [s - p for s in then if 0 <= s - p < 0.5]
            if later:
                out.append(min(later))
        return sorted(out)

    def ms_at(sorted_delays: list[float], q: float) -> float | None:
        if not sorted_delays:
            return None
        at = min(len(sorted_delays) - 1, int(len(sorted_delays) * q))  # as before: n // 2
        return round(1000 * sorted_delays[at], 1)

    rec = Recorder(env, "speaker.monitor", latency_ms=5)
    mic_rec = Recorder(env, "micfeed.monitor", latency_ms=5)
    call("9000")
    probe, mic_probe = Probe("probe"), Probe("mic-probe")
    media = holder["call"].getAudioMedia(-1)
    media.startTransmit(probe)
    bridge.port.startTransmit(mic_probe)
    holder["probe"], holder["mic_probe"] = probe, mic_probe
    run_for(seconds)
    media.stopTransmit(probe)
    bridge.port.stopTransmit(mic_probe)
    t_rec_end = time.monotonic()
    spk = rec.stop()
    mic = mic_rec.stop()
    port_on, spk_on = probe.onsets(), onsets(spk, t_rec_end)
    spk_diffs = delays(port_on, spk_on)
    mic_diffs = delays(onsets(mic, t_rec_end), mic_probe.onsets())
    return {
        "bursts_port": len(port_on),
        "bursts_speaker": len(spk_on),
        "matched": len(spk_diffs),
        "speaker_added_ms_median": ms_at(spk_diffs, 0.5),
        "speaker_added_ms_p90": ms_at(spk_diffs, 0.9),
        "mic_matched": len(mic_diffs),
        "mic_ms_median": ms_at(mic_diffs, 0.5),
        "mic_ms_p90": ms_at(mic_diffs, 0.9),
    }


ECHO_PATH_DB = -6


def aec_loop(
    pj: Any, bridge: Any, env: dict[str, str], run_for: Callable[[float], None],
    holder: dict[str, Any], feed: Callable[[float, float], Any],
) -> dict[str, Any]:  # fmt: skip
    """Echo acceptance: the speaker is looped into the microphone (the bridge plays into the
    sink "micfeed", whose monitor is the virtual microphone), the far end is a speech-like
    WAV played by pjsua2 into the bridge (a local AudioMediaPlayer attached like a call), and
    a separate near-end feed puts a 440 Hz tone into the same sink for double talk. What the
    bridge sends to the call is captured by a probe port; what the microphone heard by
    `parec micfeed.monitor`. Timeline from the attach: far only 0-6 s (ERLE over 2.5-5.5 s),
    near tone from 6 s (double talk 6.8-9.8 s), far ends at 10 s (near alone 10.8-12.8 s).

    Each figure is given for the whole window and per 0.5 s window (and their median): a
    virtual sound server starved of CPU (2 cores, other test runs) sometimes plays a gap of
    a few ms that is not in the bridge's stream, which moves the echo delay (see diag
    lags_ms) and costs the canceller about a second of re-convergence."""
    import shutil
    import tempfile
    import threading
    import wave

    import numpy as np

    from tests.sip.test_aec import _speechlike
    from tests.support.pulse import Recorder

    far_s, total_s = 10.0, 13.5
    rng = np.random.default_rng(11)
    far = _speechlike(int(far_s * RATE), rng) * 32768.0 * 10 ** (-20 / 20)
    pcm = np.clip(np.round(far), -32768, 32767).astype(np.int16).tobytes()
    tmp = Path(tempfile.mkdtemp(prefix="aecloop-"))
    wav_path = tmp / "far.wav"
    with wave.open(str(wav_path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm + bytes(int(2 * RATE * (total_s - far_s + 1))))

    bridge.set_device("speaker", "micfeed")
    run_for(0.5)
    lock = threading.Lock()
    out_chunks: list[tuple[float, bytes]] = []
    reader = vec_reader_for(pj)

    class Probe(pj.AudioMediaPort):  # type: ignore[misc]
        def onFrameReceived(self, frame: Any) -> None:
            if frame.type == pj.PJMEDIA_FRAME_TYPE_AUDIO and frame.size:
                data = reader(frame.buf, frame.size)
                with lock:
                    out_chunks.append((time.time(), data))

    mic_rec = Recorder(env, "micfeed.monitor", latency_ms=20)
    run_for(0.3)
    player = pj.AudioMediaPlayer()
    player.createPlayer(str(wav_path), pj.PJMEDIA_FILE_NO_LOOP)
    probe = Probe()
    fmt = pj.MediaFormatAudio()
    fmt.init(pj.PJMEDIA_FORMAT_PCM, RATE, 1, 20000, 16)
    probe.createPort("aec-probe", fmt)
    keep_for_process(probe)  # never destroyed: see BridgePort
    holder["player"], holder["probe"] = player, probe
    tap = _TimedTap()
    bridge.io.aec_tap = tap
    bridge.attach("far", player)
    t0, t0_mono = time.time(), time.monotonic()
    bridge.port.startTransmit(probe)
    # The loop's "acoustic" attenuation: -6 dB on the bridge's own playback stream (the
    # only sink input on micfeed until the near-end feed starts), as in test_aec.py's room.
    run_for(0.3)
    pulse_env = {**os.environ, **env}
    micfeed = subprocess.run(["pactl", "list", "short", "sinks"], env=pulse_env,
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
    idx = next(ln.split("\t")[0] for ln in micfeed.splitlines() if "\tmicfeed\t" in ln)
    inputs = subprocess.run(["pactl", "list", "short", "sink-inputs"], env=pulse_env,
                            capture_output=True, text=True, check=True).stdout  # fmt: skip
    for ln in inputs.splitlines():
        parts = ln.split("\t")
        if len(parts) > 1 and parts[1] == idx:
            subprocess.run(["pactl", "set-sink-input-volume", parts[0], f"{ECHO_PATH_DB}dB"],
                           env=pulse_env, check=True)  # fmt: skip
    run_for(6.0)
    feed(440.0, 10 ** (-26 / 20) * math.sqrt(2))  # -26 dBFS RMS near-end tone
    run_for(total_s - 6.0)
    aec_stats = bridge.stats()["aec"]
    bridge.port.stopTransmit(probe)
    bridge.detach("far")
    mic = mic_rec.stop()
    shutil.rmtree(tmp, ignore_errors=True)  # the player has the file open: fine on Linux
    with lock:
        chunks = list(out_chunks)

    def out_window(a: float, b: float) -> np.ndarray:
        data = b"".join(d for ts, d in chunks if t0 + a <= ts < t0 + b)
        return np.frombuffer(data, dtype=np.int16).astype(np.float64)

    def mic_window(a: float, b: float) -> np.ndarray:
        start_ts = mic_rec.first_byte_ts or mic_rec.started
        x = np.frombuffer(mic[: len(mic) - len(mic) % 2], dtype=np.int16).astype(np.float64)
        i, j = (int((t0 + s - start_ts) * RATE) for s in (a, b))
        return x[max(0, i) : max(0, j)]

    def power_db(x: np.ndarray) -> float:
        return float(10 * np.log10(np.mean(x**2) + 1e-9)) if len(x) else float("nan")

    def tone_db(x: np.ndarray, freq: float = 440.0) -> float:
        if not len(x):
            return float("nan")
        basis = np.exp(-2j * np.pi * freq * np.arange(len(x)) / RATE)
        return float(20 * np.log10(abs(np.dot(x * np.hanning(len(x)), basis)) / len(x) + 1e-9))

    erle_mic, erle_out = mic_window(2.5, 5.5), out_window(2.5, 5.5)
    dt_out, near_out = out_window(6.8, 9.8), out_window(10.8, 12.8)

    def halves(a: float, b: float) -> list[tuple[float, float]]:
        return [(a + i / 2, a + (i + 1) / 2) for i in range(int((b - a) * 2))]

    def near_window(a: float, b: float) -> np.ndarray:
        """What the canceller got from the microphone (the frames it processed meanwhile)."""
        data = b"".join(n for ts, (n, _) in zip(tap.times, tap, strict=True)
                        if t0 + a <= ts < t0 + b)  # fmt: skip
        return np.frombuffer(data, dtype=np.int16).astype(np.float64)

    erle_windows = [
        round(power_db(mic_window(a, b)) - power_db(out_window(a, b)), 1)
        for a, b in halves(2.5, 5.5)
    ]
    erle_in_windows = [
        round(power_db(near_window(a, b)) - power_db(out_window(a, b)), 1)
        for a, b in halves(2.5, 5.5)
    ]
    alone = float(np.median([tone_db(out_window(a, b)) for a, b in halves(10.8, 12.8)]))
    dt_windows = [round(tone_db(out_window(a, b)) - alone, 1) for a, b in halves(6.8, 9.8)]
    return {
        "far_only": {
            "mic_dbfs": round(power_db(erle_mic) - 90.31, 1),
            "out_dbfs": round(power_db(erle_out) - 90.31, 1),
            "erle_db": round(power_db(erle_mic) - power_db(erle_out), 1),
            "erle_db_windows": erle_windows,
            "erle_db_median": round(float(np.median(erle_windows)), 1),
            # Against the canceller's own input (what the app got from the microphone): the
            # recording of the loop above reads lower than that through Qt's PipeWire
            # backend (-31.9 against -26.1 dBFS, measured: each takes the stereo loop to
            # mono its own way); over PulseAudio the two agree.
            "canceller_in_dbfs": round(power_db(near_window(2.5, 5.5)) - 90.31, 1),
            "erle_at_canceller_db_windows": erle_in_windows,
            "erle_at_canceller_db_median": round(float(np.median(erle_in_windows)), 1),
            "seconds": round(len(erle_out) / RATE, 2),
        },
        "double_talk": {
            "tone_db_double_talk": round(tone_db(dt_out), 1),
            "tone_db_alone": round(tone_db(near_out), 1),
            "tone_change_db": round(tone_db(dt_out) - tone_db(near_out), 1),
            "tone_change_db_windows": dt_windows,
            "tone_change_db_median": round(float(np.median(dt_windows)), 1),
            "out_dbfs_double_talk": round(power_db(dt_out) - 90.31, 1),
            "mic_dbfs_double_talk": round(power_db(mic_window(6.8, 9.8)) - 90.31, 1),
        },
        "aec": aec_stats,
        "out_frames": len(chunks),
        "diag": {**_aec_diag(aec_stats, bridge.stats(), t0_mono), "lags_ms": _lags(tap)},
    }


class _TimedTap(list[tuple[bytes, bytes]]):
    """AudioIO.aec_tap that also notes when each (near, reference) pair was processed."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def append(self, pair: tuple[bytes, bytes]) -> None:
        self.times.append(time.time())
        super().append(pair)


def _lags(tap: list[tuple[bytes, bytes]], window_s: float = 0.5) -> list[float]:
    """Echo delay (ms) of the microphone behind the reference the canceller was given, per
    window (cross-correlation peak): it must stay constant for AEC3 to keep its filter."""
    import numpy as np

    near = np.frombuffer(b"".join(n for n, _ in tap), dtype=np.int16).astype(np.float64)
    ref = np.frombuffer(b"".join(r for _, r in tap), dtype=np.int16).astype(np.float64)
    w, max_lag = int(window_s * RATE), int(0.3 * RATE)
    lags: list[float] = []
    for start in range(max_lag, len(near) - w, w):
        seg = near[start : start + w]
        if np.dot(seg, seg) < 1e3 * w:
            lags.append(float("nan"))
            continue
        r = ref[start - max_lag : start + w]
        c = np.correlate(r, seg, mode="valid")  # c[k]: ref shifted by k vs near
        lags.append(round((max_lag - int(np.argmax(np.abs(c)))) * 1000 / RATE, 1))
    return lags


def _aec_diag(aec: dict[str, Any], stats: dict[str, Any], t0_mono: float) -> dict[str, Any]:
    """Per-run diagnostics of the reference alignment (printed by the runner)."""
    events = [(round(t - t0_mono, 2), kind, depth) for t, kind, depth in aec.pop("ref_events", [])]
    diag = {
        "ref_missing": aec.get("ref_missing"),
        "ref_trims": aec.get("ref_trims"),
        "ref_trimmed_ms": aec.get("ref_trimmed_ms"),
        "ref_depth_max_ms": aec.get("ref_depth_max_ms"),
        "speaker_underruns": stats.get("speaker_underruns"),
        "speaker_dropped_bytes": stats.get("speaker_dropped_bytes"),
        "erle_db": aec.get("erle_db"),
        "echo_delay_ms": aec.get("echo_delay_ms"),
        "reference_moves": aec.get("reference_moves"),
        "reference_offset_ms": aec.get("reference_offset_ms"),
        "ref_events_after_attach": [e for e in events if e[0] >= 0][:40],
    }
    print("aecloop diag:", json.dumps(diag), file=sys.stderr, flush=True)
    return diag


def vec_reader_for(pj: Any) -> Callable[[Any, int], bytes]:
    from agent_desktop.sip.audio import vec_reader

    return vec_reader()


def keep_for_process(port: Any) -> None:
    from agent_desktop.sip.audio import keep_for_process as keep

    keep(port)


# ------------------------------------------------------------------ mute (the app's path)

MUTE_WINDOW_S = 2.0
MUTE_SETTLE_S = 0.4  # after a switch: jitter buffers, the phone's 50 ms blocks


def mute_scenario(sip_port: int) -> dict[str, Any]:
    """SipEngine + AudioBridge (what the app runs), 440 Hz fed into the virtual mic, a
    call to test phone 8002 (its own process). Windows of MUTE_WINDOW_S: unmuted, muted
    (CallSession.set_muted(True)), unmuted again. The phone's tone check per window says
    what the far end received. Returns the three checks and the phone's levels."""
    from PySide6.QtCore import QEventLoop, QTimer

    from agent_desktop.sip import AccountSettings, EngineConfig, SipEngine, Transport
    from agent_desktop.sip.audio import AudioBridge
    from tests.support.pulse import PACAT_ARGS, Recorder
    from tests.support.sipphone import SipPhone

    registrar = f"127.0.0.1:{sip_port}"
    env = tool_env(os.environ)
    procs: list[subprocess.Popen[bytes]] = []

    def wait(cond: Callable[[], bool], seconds: float) -> bool:
        if cond():
            return True
        end = time.monotonic() + seconds
        loop = QEventLoop()
        check = QTimer()
        check.setInterval(5)

        def tick() -> None:
            if cond() or time.monotonic() > end:
                check.stop()
                loop.quit()

        check.timeout.connect(tick)
        check.start()
        loop.exec()
        return cond()

    sox = subprocess.Popen(
        ["sox", "-q", "-n", "-t", "raw", "-r", str(RATE), "-e", "signed", "-b", "16",
         "-c", "1", "-", "synth", "sine", "440", "vol", "0.3"],
        stdout=subprocess.PIPE, env=env)  # fmt: skip
    pacat = subprocess.Popen(
        ["pacat", "-p", "-d", "micfeed", "--latency-msec=100", *PACAT_ARGS],
        stdin=sox.stdout, env=env)  # fmt: skip
    assert sox.stdout is not None
    sox.stdout.close()
    procs += [sox, pacat]
    phone = SipPhone("far8002").start()
    bridge = AudioBridge(aec=False)  # the far end is silent: nothing to cancel
    engine = SipEngine(
        EngineConfig(bind_address="127.0.0.1", transports=(Transport.UDP,)), media_hook=bridge
    )
    result: dict[str, Any] = {}
    try:
        engine.start()
        phone.register("8002", "demo", registrar)
        acc = engine.add_account(AccountSettings("8001", "demo", registrar,
                                                 transport=Transport.UDP))  # fmt: skip
        if not wait(lambda: acc.state.name == "REGISTERED", 10):
            raise RuntimeError(f"8001 not registered: {acc.state}")
        call = acc.make_call("8002")
        # (the Qt loop must run meanwhile: it polls our SIP stack, e.g. for the 401 retry)
        if not wait(lambda: bool(phone.events("incoming")), 10):
            raise RuntimeError("8002 never saw the call")
        far_call = str(phone.events("incoming")[0]["call"])
        rec = Recorder(env, "speaker.monitor")
        phone.answer(far_call)
        if not wait(lambda: call.state.name == "CONFIRMED" and bridge.counters.calls_attached,
                    10):  # fmt: skip
            raise RuntimeError(f"call not confirmed: {call.state}")
        phone.send_tone(far_call, 1000.0)  # the other direction must stay open while muted
        wait(lambda: False, 1.5)  # the phone's jitter buffer, the mic stream
        marks = {"unmuted": time.time()}
        wait(lambda: False, MUTE_WINDOW_S)
        call.set_muted(True)
        marks["muted"] = time.time()
        wait(lambda: False, MUTE_WINDOW_S)
        call.set_muted(False)
        marks["unmuted_again"] = time.time()
        wait(lambda: False, MUTE_WINDOW_S)
        end = time.time()
        spk = rec.stop()
        spk_start = rec.first_byte_ts or rec.started

        def speaker_blocks(a: float, b: float) -> dict[str, int]:
            """1 kHz blocks the agent's speaker played between wall times a and b."""
            i, j = (max(0, int((t - spk_start) * RATE) * 2) for t in (a, b))
            blocks = tone_blocks(spk[i:j], [1000.0, 1004.0])
            return {"blocks": len(blocks), "present": sum(blocks)}

        names = list(marks)
        for i, name in enumerate(names):
            since = marks[name] + MUTE_SETTLE_S
            until = marks[names[i + 1]] if i + 1 < len(names) else end
            result[name] = phone.tone_check(far_call, 440.0, since_ts=since, until_ts=until)
            result[name]["speaker_1k"] = speaker_blocks(since + 0.3, until - 0.3)
        result["muted_flag"] = call.muted
        result["stats"] = bridge.stats()
        result["qt_audio_backend"] = qt_audio_backend()
        call.hangup()
        wait(lambda: not engine.calls, 5)
        result["ok"] = True
    finally:
        for proc in procs:
            proc.terminate()
        bridge.shutdown()
        engine.shutdown()
        phone.close()
    return result


# ------------------------------------------------------------------ devices: plug, default, ringer

BLOCK_BYTES = BLOCK * 2
HEADMIC_HZ = 660.0  # the pinned "headset microphone" (the default microphone carries 440 Hz)
DESKMIC_HZ = 550.0  # follow-default: the microphone that becomes the default mid-call
RING_HZ = 425.0  # agent_desktop.sip.audio.write_ringtone: 425 Hz for 1 s, 1 s silence
MILLIWATT_HZ = [1004.0, 1000.0]
DEVICE_SCENARIOS = ("michotplug", "followdefault", "pindefault", "ringer")
DEVICE_START_S = 2.0  # a null sink loaded mid-call: its first block (see tone onsets)


class VirtualDevices:
    """Virtual headsets a scenario plugs in and out with pactl (the parent's PulseAudio).

    A sink is a null sink with a keep-alive `parec` on its monitor (a null sink without
    a client runs 2 s blocks). A microphone is what tests/support/pulse.py builds for
    "mic": a null sink `<name>feed` fed a sine by `sox | pacat`, remapped into the source
    `<name>`. Unplugging ends the clients first (a playback stream of a removed sink would
    be moved to the default sink and fake a tone there), then unloads the modules.
    `restore()` puts the defaults back and unplugs what is left: the daemon is shared
    with the rest of the test session."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.modules: dict[str, list[int]] = {}
        self.procs: dict[str, list[subprocess.Popen[bytes]]] = {}

    def pactl(self, *args: str) -> str:
        return subprocess.run(
            ["pactl", *args], env=self.env, capture_output=True, text=True, check=True
        ).stdout

    def _load(self, name: str, *args: str) -> None:
        self.modules.setdefault(name, []).append(int(self.pactl("load-module", *args).strip()))

    def _keep_alive(self, name: str, sink: str) -> None:
        from tests.support.pulse import PACAT_ARGS

        self.procs.setdefault(name, []).append(subprocess.Popen(
            ["parec", "-d", f"{sink}.monitor", "--latency-msec=20", *PACAT_ARGS],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=self.env))  # fmt: skip

    def add_sink(self, name: str, description: str) -> None:
        self._load(name, "module-null-sink", f"sink_name={name}",
                   f"sink_properties=device.description={description}")  # fmt: skip
        self._keep_alive(name, name)

    def add_mic(self, name: str, description: str, freq: float) -> None:
        from tests.support.pulse import PACAT_ARGS

        feed = f"{name}feed"
        self._load(name, "module-null-sink", f"sink_name={feed}",
                   f"sink_properties=device.description={description}Feed")  # fmt: skip
        self._load(name, "module-remap-source", f"source_name={name}", f"master={feed}.monitor",
                   f"source_properties=device.description={description}")  # fmt: skip
        self._keep_alive(name, feed)
        sox = subprocess.Popen(
            ["sox", "-q", "-n", "-t", "raw", "-r", str(RATE), "-e", "signed", "-b", "16",
             "-c", "1", "-", "synth", "sine", str(freq), "vol", "0.3"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=self.env)  # fmt: skip
        pacat = subprocess.Popen(
            ["pacat", "-p", "-d", feed, "--latency-msec=100", *PACAT_ARGS],
            stdin=sox.stdout, stderr=subprocess.DEVNULL, env=self.env)  # fmt: skip
        assert sox.stdout is not None
        sox.stdout.close()
        self.procs[name] += [sox, pacat]

    def remove(self, name: str) -> None:
        for proc in reversed(self.procs.pop(name, [])):  # the feeder first
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(3)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for idx in reversed(self.modules.pop(name, [])):  # the remapped source first
            self.pactl("unload-module", str(idx))

    def restore(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.pactl("set-default-sink", "speaker")
            self.pactl("set-default-source", "mic")
        for name in list(self.modules) + list(self.procs):
            with contextlib.suppress(subprocess.CalledProcessError):
                self.remove(name)


def tone_count(data: bytes, freqs: list[float]) -> dict[str, Any]:
    """20 ms blocks with the tone, and the longest run without it (from the first one)."""
    blocks = tone_blocks(data, freqs)
    first = next((i for i, b in enumerate(blocks) if b), None)
    longest, run = 0, 0
    for b in blocks[first or 0 :] if first is not None else []:
        run = 0 if b else run + 1
        longest = max(longest, run)
    return {"blocks": len(blocks), "present": sum(blocks),
            "first_s": None if first is None else first * BLOCK_MS / 1000,
            "longest_gap_ms": longest * BLOCK_MS}  # fmt: skip


def tone_onset_s(data: bytes, freqs: list[float], run: int = 5) -> float | None:
    """Seconds into `data` at which the tone starts for `run` blocks in a row (audible)."""
    blocks = tone_blocks(data, freqs)
    for i in range(len(blocks) - run + 1):
        if all(blocks[i : i + run]):
            return round(i * BLOCK_MS / 1000, 2)
    return None


def _active(bridge: Any, kind: str) -> dict[str, Any]:
    return dict(bridge.active_devices()[kind] or {})


def mic_hotplug(
    bridge: Any, devs: VirtualDevices, call: Callable[[str], None],
    run_for: Callable[[float], None], wait: Callable[[Callable[[], bool], float], bool],
    feed: Callable[[float], Any], phase_s: float,
) -> dict[str, Any]:  # fmt: skip
    """Pin the microphone to a 'headmic' (660 Hz) while the default 'mic' carries 440 Hz;
    call 9000 (echo): the speaker plays what the microphone sent. Unplug the headset
    microphone mid-call, then plug it in again (new modules, same name)."""
    from tests.support.pulse import Recorder

    res: dict[str, Any] = {}
    feed(440)
    devs.add_mic("headmic", "HeadsetMic", HEADMIC_HZ)
    run_for(DEVICE_START_S + 0.5)  # the new device's start-up; Qt's device list
    bridge.set_device("microphone", "headmic")
    res["pinned_active"] = _active(bridge, "microphone")
    rec = Recorder(devs.env, "speaker.monitor")
    call("9000")
    run_for(phase_s)
    res["opened_before"] = bridge.opened_devices()
    gaps = {"before": bridge.counters.mic_gaps}  # microphone frames sent as silence
    pos = len(rec.data())
    before = rec.data()[max(0, pos - int((phase_s - 1.5) * RATE) * 2) : pos]
    res["before"] = {"head": tone_count(before, [HEADMIC_HZ]), "mic": tone_count(before, [440.0])}

    devs.remove("headmic")  # unplugged: Linux tells Qt nothing
    t_unplug, off = time.monotonic(), len(rec.data())
    wait(lambda: _active(bridge, "microphone").get("id") != "headmic", 8)
    res["fallback_after_s"] = round(time.monotonic() - t_unplug, 2)
    res["fallback_active"] = _active(bridge, "microphone")
    run_for(phase_s)
    during = rec.data()[off:]
    res["fallback_audible_after_s"] = tone_onset_s(during, [440.0])
    res["opened_fallback"] = bridge.opened_devices()
    gaps["unplugged"] = bridge.counters.mic_gaps - sum(gaps.values())
    last = during[-int((phase_s - 1.0) * RATE) * 2 :]
    res["during"] = {"head": tone_count(last, [HEADMIC_HZ]), "mic": tone_count(last, [440.0])}

    devs.add_mic("headmic", "HeadsetMic", HEADMIC_HZ)  # plugged back
    t_plug, off = time.monotonic(), len(rec.data())
    # The device itself, recorded directly: a freshly loaded null sink starts with a long
    # block (~2 s here) before its monitor delivers anything, bridge or not.
    ref = Recorder(devs.env, "headmic")
    wait(lambda: _active(bridge, "microphone").get("id") == "headmic", 8)
    res["back_after_s"] = round(time.monotonic() - t_plug, 2)
    res["back_active"] = _active(bridge, "microphone")
    run_for(phase_s + DEVICE_START_S)
    after = rec.stop()[off:]
    res["back_audible_after_s"] = tone_onset_s(after, [HEADMIC_HZ])
    ref_data = ref.stop()
    ref_lead = (ref.first_byte_ts or ref.started) - ref.started
    onset = tone_onset_s(ref_data, [HEADMIC_HZ])
    res["device_audible_after_s"] = None if onset is None else round(onset + ref_lead, 2)
    res["opened_after"] = bridge.opened_devices()
    gaps["plugged_back"] = bridge.counters.mic_gaps - sum(gaps.values())
    res["mic_gap_frames"] = gaps
    last = after[-int((phase_s - 1.0) * RATE) * 2 :]
    res["after"] = {"head": tone_count(last, [HEADMIC_HZ]), "mic": tone_count(last, [440.0])}
    return res


def follow_default(
    bridge: Any, devs: VirtualDevices, call: Callable[[str], None],
    run_for: Callable[[float], None], wait: Callable[[Callable[[], bool], float], bool],
    feed: Callable[[float], Any], phase_s: float,
) -> dict[str, Any]:  # fmt: skip
    """Nothing pinned; call 9000 with 440 Hz in the default 'mic'. Mid-call a new sink
    'desk' becomes the default sink, then a new microphone 'deskmic' (550 Hz) the default
    source: the echo must move to desk, then carry 550 Hz."""
    from tests.support.pulse import Recorder

    res: dict[str, Any] = {}
    bridge.set_device("speaker", None)
    bridge.set_device("microphone", None)
    feed(440)
    devs.add_sink("desk", "Desk")
    devs.add_mic("deskmic", "DeskMic", DESKMIC_HZ)
    run_for(0.5)
    res["initial_active"] = {k: _active(bridge, k) for k in ("speaker", "microphone")}
    rec_spk = Recorder(devs.env, "speaker.monitor")
    rec_desk = Recorder(devs.env, "desk.monitor")
    call("9000")
    run_for(phase_s)
    res["before"] = {"speaker": tone_count(rec_spk.data()[-int((phase_s - 1.5) * RATE) * 2 :],
                                           [440.0])}  # fmt: skip

    devs.pactl("set-default-sink", "desk")
    t0, off_spk, off_desk = time.monotonic(), len(rec_spk.data()), len(rec_desk.data())
    wait(lambda: _active(bridge, "speaker").get("id") == "desk", 8)
    res["speaker_moved_after_s"] = round(time.monotonic() - t0, 2)
    res["speaker_active"] = _active(bridge, "speaker")
    run_for(phase_s)
    desk = rec_desk.data()[off_desk:]
    res["speaker_audible_after_s"] = tone_onset_s(desk, [440.0])
    tail = int((phase_s - 1.0) * RATE) * 2
    spk = rec_spk.data()[off_spk:]
    res["sink_moved"] = {"desk": tone_count(desk[-tail:], [440.0]),
                         "speaker": tone_count(spk[-tail:], [440.0])}  # fmt: skip

    devs.pactl("set-default-source", "deskmic")
    t0, off_desk = time.monotonic(), len(rec_desk.data())
    wait(lambda: _active(bridge, "microphone").get("id") == "deskmic", 8)
    res["mic_moved_after_s"] = round(time.monotonic() - t0, 2)
    res["mic_active"] = _active(bridge, "microphone")
    run_for(phase_s)
    desk = rec_desk.data()[off_desk:]
    res["mic_audible_after_s"] = tone_onset_s(desk, [DESKMIC_HZ])
    res["source_moved"] = {"deskmic": tone_count(desk[-tail:], [DESKMIC_HZ]),
                           "mic": tone_count(desk[-tail:], [440.0])}  # fmt: skip
    res["opened"] = bridge.opened_devices()
    rec_spk.stop()
    rec_desk.stop()
    return res


def pinned_default(
    bridge: Any, devs: VirtualDevices, call: Callable[[str], None],
    run_for: Callable[[float], None], wait: Callable[[Callable[[], bool], float], bool],
    feed: Callable[[float], Any], phase_s: float,
) -> dict[str, Any]:  # fmt: skip
    """Speaker pinned to 'speaker' and microphone to 'mic' (440 Hz), both the defaults; call
    9000. Mid-call 'desk' becomes the default sink and 'deskmic' (550 Hz) the default source.
    PulseAudio and pipewire-pulse move streams on the old default along with it; pinned
    devices must keep the call: the echo stays on speaker and carries 440 Hz."""
    from tests.support.pulse import Recorder

    res: dict[str, Any] = {}
    feed(440)
    devs.add_sink("desk", "Desk")
    devs.add_mic("deskmic", "DeskMic", DESKMIC_HZ)
    run_for(0.5)
    bridge.set_device("speaker", "speaker")
    bridge.set_device("microphone", "mic")
    res["pinned_active"] = {k: _active(bridge, k) for k in ("speaker", "microphone")}
    rec_spk = Recorder(devs.env, "speaker.monitor")
    rec_desk = Recorder(devs.env, "desk.monitor")
    call("9000")
    run_for(phase_s)
    tail = int((phase_s - 1.5) * RATE) * 2
    res["before"] = {"speaker": tone_count(rec_spk.data()[-tail:], [440.0])}

    off_spk, off_desk = len(rec_spk.data()), len(rec_desk.data())
    devs.pactl("set-default-sink", "desk")
    devs.pactl("set-default-source", "deskmic")
    run_for(phase_s)
    spk, desk = rec_spk.data()[off_spk:], rec_desk.data()[off_desk:]
    res["after"] = {"speaker": tone_count(spk[-tail:], [440.0]),
                    "speaker_deskmic": tone_count(spk[-tail:], [DESKMIC_HZ]),
                    "desk": tone_count(desk[-tail:], [440.0]),
                    "desk_deskmic": tone_count(desk[-tail:], [DESKMIC_HZ])}  # fmt: skip
    res["active_after"] = {k: _active(bridge, k) for k in ("speaker", "microphone")}
    res["opened"] = bridge.opened_devices()
    rec_spk.stop()
    rec_desk.stop()
    return res


def ringer_device(
    bridge: Any, devs: VirtualDevices, call: Callable[[str], None],
    run_for: Callable[[float], None], wait: Callable[[Callable[[], bool], float], bool],
    phase_s: float,
) -> dict[str, Any]:  # fmt: skip
    """Speaker pinned to 'ringb' (a call to 9001 plays 1 kHz there), ringer pinned to
    'ringa': ring (a second call waiting), stop, ring again and unplug 'ringa', plug it
    back. Where is the 425 Hz ring tone each time?"""
    from tests.support.pulse import Recorder

    res: dict[str, Any] = {}
    devs.add_sink("ringa", "RingerA")
    devs.add_sink("ringb", "SpeakerB")
    run_for(0.5)
    bridge.set_device("speaker", "ringb")
    bridge.set_device("ringer", "ringa")
    res["pinned_active"] = {k: _active(bridge, k) for k in ("speaker", "ringer")}
    rec_a = Recorder(devs.env, "ringa.monitor")
    rec_b = Recorder(devs.env, "ringb.monitor")
    rec_s = Recorder(devs.env, "speaker.monitor")
    call("9001")
    run_for(1.5)
    off_a, off_b = len(rec_a.data()), len(rec_b.data())
    bridge.start_ringing()
    res["is_ringing_at_once"] = bridge.is_ringing()  # its ringtone still loading
    run_for(phase_s)
    res["is_ringing"] = bridge.is_ringing()
    a, b = rec_a.data()[off_a:], rec_b.data()[off_b:]
    res["ringing"] = {"a_ring": tone_count(a, [RING_HZ]), "b_ring": tone_count(b, [RING_HZ]),
                      "b_call": tone_count(b[BLOCK_BYTES * 10 :], MILLIWATT_HZ)}  # fmt: skip

    bridge.stop_ringing()
    run_for(0.5)  # what was queued in the sink drains
    off_a, off_b = len(rec_a.data()), len(rec_b.data())
    run_for(2.5)  # more than the 1 s pause of the ring cycle
    res["is_ringing_after_stop"] = bridge.is_ringing()
    res["stopped"] = {"a_ring": tone_count(rec_a.data()[off_a:], [RING_HZ]),
                      "b_ring": tone_count(rec_b.data()[off_b:], [RING_HZ])}  # fmt: skip

    bridge.start_ringing()
    run_for(1.5)
    devs.remove("ringa")  # the ringer's device unplugged while it rings
    rec_a.stop()
    t0, off_s, off_b = time.monotonic(), len(rec_s.data()), len(rec_b.data())
    wait(lambda: _active(bridge, "ringer").get("id") != "ringa", 8)
    res["ringer_fallback_after_s"] = round(time.monotonic() - t0, 2)
    res["ringer_fallback_active"] = _active(bridge, "ringer")
    run_for(phase_s)
    res["is_ringing_fallback"] = bridge.is_ringing()
    s, b = rec_s.data()[off_s:], rec_b.data()[off_b:]
    res["ring_fallback_audible_after_s"] = tone_onset_s(s, [RING_HZ])
    res["fallback"] = {"speaker_ring": tone_count(s, [RING_HZ]),
                       "b_ring": tone_count(b, [RING_HZ]),
                       "b_call": tone_count(b, MILLIWATT_HZ)}  # fmt: skip

    devs.add_sink("ringa", "RingerA")
    rec_a2 = Recorder(devs.env, "ringa.monitor")
    t0 = time.monotonic()
    wait(lambda: _active(bridge, "ringer").get("id") == "ringa", 8)
    res["ringer_back_after_s"] = round(time.monotonic() - t0, 2)
    res["ringer_back_active"] = _active(bridge, "ringer")
    run_for(0.5)  # what the fallback sink had queued drains
    off_s = len(rec_s.data())
    run_for(phase_s + DEVICE_START_S - 0.5)
    res["back"] = {"a_ring": tone_count(rec_a2.stop(), [RING_HZ]),
                   "speaker_ring": tone_count(rec_s.data()[off_s:], [RING_HZ])}  # fmt: skip
    bridge.stop_ringing()
    res["opened"] = bridge.opened_devices()
    rec_b.stop()
    rec_s.stop()
    return res


# ------------------------------------------------------------------ the child


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sip-port", type=int, required=True)
    ap.add_argument("--scenario", required=True)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s runner %(levelname)s %(name)s %(message)s")  # fmt: skip
    sys.setswitchinterval(0.001)  # the clock thread's callbacks want the GIL soon
    # As the app does in main(); the tools started below get the environment without it.
    apply_low_latency_audio_env(os.environ)
    if args.scenario == "mute":
        from PySide6.QtCore import QCoreApplication

        app = QCoreApplication([])
        app.setApplicationName("audio-runner")
        try:
            mute_result = {"scenario": "mute", **mute_scenario(args.sip_port)}
        except Exception as exc:
            log.exception("scenario failed")
            mute_result = {"scenario": "mute", "ok": False, "error": f"{type(exc).__name__}: {exc}"}
        Path(args.out).write_text(json.dumps(mute_result, indent=1, default=str))
        sys.stderr.flush()
        os._exit(0 if mute_result.get("ok") else 1)

    import pjsua2 as pj
    from PySide6.QtCore import QCoreApplication, QEventLoop, QTimer

    from tests.support.pulse import PACAT_ARGS, Recorder

    app = QCoreApplication([])
    app.setApplicationName("audio-runner")
    result: dict[str, Any] = {"scenario": args.scenario}
    use_bridge = args.scenario not in ("nobridge", "nullaudio")

    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.logConfig.level = 2
    cfg.logConfig.consoleLevel = 2
    cfg.medConfig.clockRate = RATE
    cfg.medConfig.sndClockRate = RATE
    cfg.medConfig.channelCount = 1
    cfg.medConfig.noVad = True
    cfg.medConfig.ecTailLen = 0
    ep.libInit(cfg)
    ep.audDevManager().setNullDev()
    for codec in ep.codecEnum2():
        ep.codecSetPriority(codec.codecId, {"PCMU/8000/1": 255}.get(codec.codecId, 0))
    tcfg = pj.TransportConfig()
    tcfg.port = 0
    tcfg.boundAddress = "127.0.0.1"
    ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
    ep.libStart()

    poll = QTimer()
    poll.setInterval(10)
    poll.timeout.connect(lambda: ep.libHandleEvents(0))
    poll.start()

    bridge: Any = None
    if use_bridge:
        from agent_desktop.sip.audio import AudioBridge

        # "echo": extension 9000 returns the microphone signal itself, which a canceller
        # rightly removes as echo once it plays back; that scenario tests transport only.
        # The device scenarios test routing; the echo of 9000 is what they listen to.
        bridge = AudioBridge(aec=args.scenario not in ("tone-noaec", "echo", *DEVICE_SCENARIOS))
        levels: list[tuple[float, float]] = []
        bridge.level_changed.connect(lambda v: levels.append((time.monotonic(), v)))
        actives: list[dict[str, Any]] = []
        bridge.active_devices_changed.connect(lambda d: actives.append(d))

    env = tool_env(os.environ)
    devs = VirtualDevices(env)
    state: dict[str, Any] = {"media": False, "disconnected": False, "reg": None}
    registrar = f"127.0.0.1:{args.sip_port}"

    class Acc(pj.Account):  # type: ignore[misc]
        def onRegState(self, prm: Any) -> None:
            state["reg"] = prm.code

    class Call(pj.Call):  # type: ignore[misc]
        def onCallState(self, prm: Any) -> None:
            try:
                if self.getInfo().state == pj.PJSIP_INV_STATE_DISCONNECTED:
                    state["disconnected"] = True
                    if bridge is not None:
                        bridge.detach("c1")
            except Exception:
                log.exception("onCallState")

        def onCallMediaState(self, prm: Any) -> None:
            try:
                info = self.getInfo()
                for i, mi in enumerate(info.media):
                    if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                        if bridge is not None:
                            bridge.attach("c1", self.getAudioMedia(i))
                        if not state["media"]:
                            state["media"] = True
                            state["media_ts"] = time.monotonic()
            except Exception:
                log.exception("onCallMediaState")

    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:8001@{registrar}"
    acfg.regConfig.registrarUri = f"sip:{registrar}"
    acfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", "8001", 0, "demo"))
    acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    acc = Acc()
    acc.create(acfg, True)
    holder: dict[str, Any] = {}

    def wait(cond: Callable[[], bool], seconds: float) -> bool:
        """Run the Qt loop until cond() or timeout. One QEventLoop.exec per wait: PySide6
        6.12 on Python 3.11 drops a reference to None on every processEvents() call."""
        if cond():
            return True
        end = time.monotonic() + seconds
        loop = QEventLoop()
        check = QTimer()
        check.setInterval(5)

        def tick() -> None:
            if cond() or time.monotonic() > end:
                check.stop()
                loop.quit()

        check.timeout.connect(tick)
        check.start()
        loop.exec()
        return cond()

    def run_for(seconds: float) -> None:
        wait(lambda: False, seconds)

    def pactl(*a: str) -> str:
        return subprocess.run(
            ["pactl", *a], env=env, capture_output=True, text=True, check=True
        ).stdout

    def call(to: str) -> None:
        c = Call(acc)
        holder["call"] = c
        c.makeCall(f"sip:{to}@{registrar}", pj.CallOpParam(True))
        if not wait(lambda: state["media"], 10):
            raise RuntimeError("no media")

    def feed(freq: float, amplitude: float = 0.3) -> subprocess.Popen[bytes]:
        sox = subprocess.Popen(
            ["sox", "-q", "-n", "-t", "raw", "-r", str(RATE), "-e", "signed", "-b", "16",
             "-c", "1", "-", "synth", "sine", str(freq), "vol", str(amplitude)],
            stdout=subprocess.PIPE, env=env)  # fmt: skip
        pacat = subprocess.Popen(
            ["pacat", "-p", "-d", "micfeed", "--latency-msec=100", *PACAT_ARGS],
            stdin=sox.stdout, env=env)  # fmt: skip
        assert sox.stdout is not None
        sox.stdout.close()
        holder.setdefault("procs", []).extend([sox, pacat])
        return pacat

    try:
        if not wait(lambda: state["reg"] is not None, 10) or state["reg"] != 200:
            raise RuntimeError(f"registration failed: {state['reg']}")
        sc = args.scenario
        if sc in ("tone", "tone-noaec", "tone-echo", "nobridge", "nullaudio"):
            speaker_sink = "speaker"
            if sc == "tone-echo":  # the sink whose monitor is the virtual microphone
                speaker_sink = "micfeed"
                bridge.set_device("speaker", speaker_sink)
                run_for(0.5)
            rec = Recorder(env, f"{speaker_sink}.monitor") if use_bridge else None
            call("9001")
            if sc == "nullaudio":  # pjsua2's own path: decode, mix, encode (null device)
                media = holder["call"].getAudioMedia(-1)
                adm = ep.audDevManager()
                adm.getCaptureDevMedia().startTransmit(media)
                media.startTransmit(adm.getPlaybackDevMedia())
            run_for(2.5)  # start-up settle (null sinks, jitter buffer)
            c0, t0, th0 = cpu_seconds(), time.monotonic(), thread_cpu()
            r0 = [sys.getrefcount(x) for x in (None, True, False)]
            run_for(args.seconds)
            th1 = thread_cpu()
            result["thread_cpu_s"] = {
                k: round(v - th0.get(k, 0.0), 3)
                for k, v in sorted(th1.items())
                if v > th0.get(k, 0.0)
            }
            result["refs_delta_none_true_false"] = [
                sys.getrefcount(x) - r for x, r in zip((None, True, False), r0, strict=True)
            ]
            # The test's own threads (the speaker's recorder) are not the app's work.
            harness = sum(
                v for k, v in result["thread_cpu_s"].items() if k in HARNESS_THREADS
            )
            result["harness_cpu_s"] = round(harness, 3)
            result["cpu_s"] = cpu_seconds() - c0 - harness
            result["wall_s"] = time.monotonic() - t0
            result["cpu_pct"] = 100 * result["cpu_s"] / result["wall_s"]
            if rec is not None:
                data = rec.stop()
                # settle 3.5 s: the virtual devices can stall up to ~2 s at stream start, and the
                # bridge then trims the backlog once (a phase jump, by design)
                result["speaker"] = analyse(data, [1004.0, 1000.0], settle_s=3.5)
        elif sc == "echo":
            feed(440)
            run_for(0.5)
            rec = Recorder(env, "speaker.monitor")
            call("9000")
            run_for(args.seconds)
            result["speaker"] = analyse(rec.stop(), [440.0], settle_s=1.0)
        elif sc == "hotplug":
            mod = int(pactl("load-module", "module-null-sink", "sink_name=headset",
                            "sink_properties=device.description=Headset").strip())  # fmt: skip
            run_for(0.3)
            bridge.set_device("speaker", "headset")
            result["pinned_active"] = bridge.active_devices()["speaker"]
            rec_h = Recorder(env, "headset.monitor")
            rec_s = Recorder(env, "speaker.monitor")
            call("9001")
            run_for(args.seconds / 3)
            result["before"] = {"headset": analyse(rec_h.data(), [1004.0, 1000.0], settle_s=1.5)}
            pactl("unload-module", str(mod))
            t_unplug = time.monotonic()
            rec_h.stop()
            s_offset = len(rec_s.data())
            # Linux: nothing is emitted for the unplug; the periodic verify must notice.
            wait(lambda: (bridge.active_devices()["speaker"] or {}).get("id") != "headset", 6)
            result["fallback_after_s"] = round(time.monotonic() - t_unplug, 2)
            result["fallback_active"] = bridge.active_devices()["speaker"]
            run_for(args.seconds / 3)
            result["during"] = {
                "speaker": analyse(rec_s.data()[s_offset:], [1004.0, 1000.0], settle_s=0.5)
            }
            mod = int(pactl("load-module", "module-null-sink", "sink_name=headset",
                            "sink_properties=device.description=Headset").strip())  # fmt: skip
            t_plug = time.monotonic()
            rec_h2 = Recorder(env, "headset.monitor")
            wait(lambda: (bridge.active_devices()["speaker"] or {}).get("id") == "headset", 6)
            result["back_after_s"] = round(time.monotonic() - t_plug, 2)
            result["back_active"] = bridge.active_devices()["speaker"]
            run_for(args.seconds / 3)
            result["after"] = {"headset": analyse(rec_h2.stop(), [1004.0, 1000.0], settle_s=1.0)}
            rec_s.stop()
            result["opened"] = bridge.opened_devices()
            pactl("unload-module", str(mod))
        elif sc == "michotplug":
            result.update(mic_hotplug(bridge, devs, call, run_for, wait, feed, args.seconds))
        elif sc == "followdefault":
            result.update(follow_default(bridge, devs, call, run_for, wait, feed, args.seconds))
        elif sc == "pindefault":
            result.update(pinned_default(bridge, devs, call, run_for, wait, feed, args.seconds))
        elif sc == "ringer":
            result.update(ringer_device(bridge, devs, call, run_for, wait, args.seconds))
        elif sc == "aecloop":
            result.update(aec_loop(pj, bridge, env, run_for, holder, feed))
        elif sc == "latency":
            result.update(measure_latency(pj, bridge, env, call, run_for, holder, args.seconds))
        elif sc == "level":
            bridge.set_meter_enabled(True)
            # The first stream after a fresh sound server starts ~1.5 s late (run alone,
            # this test had no quiet level at all): wait for the meter, then listen 1.5 s.
            wait(lambda: bool(levels), 5.0)
            levels.clear()
            run_for(1.5)
            quiet = [v for _, v in levels]
            n0 = len(levels)
            feed(440)
            run_for(2.0)
            loud = [v for _, v in levels[n0:]]
            result["quiet_dbfs_max"] = max(quiet) if quiet else None
            result["loud_dbfs_last"] = loud[-5:]
            result["updates_per_s"] = len(loud) / 2.0
            bridge.set_meter_enabled(False)
        else:
            raise RuntimeError(f"unknown scenario {sc}")
        if bridge is not None:
            result["stats"] = bridge.stats()
            result["actives"] = actives[-3:]
        result["qt_audio_backend"] = qt_audio_backend()
        result["ok"] = True
    except Exception as exc:
        log.exception("scenario failed")
        result["ok"] = False
        result["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        for p in holder.get("procs", []):
            p.terminate()
        # staged shutdown
        if "call" in holder and not state["disconnected"]:
            with contextlib.suppress(pj.Error):
                ep.hangupAllCalls()
            wait(lambda: state["disconnected"], 3)
        if bridge is not None:
            bridge.shutdown()
        devs.restore()
        with contextlib.suppress(pj.Error):
            acc.setRegistration(False)
        wait(lambda: False, 0.2)
        acc.shutdown()
        holder.clear()
        bridge = None
        import gc

        gc.collect()
        run_for(0.15)  # port removal is asynchronous
        poll.stop()
        ep.libDestroy(pj.PJSUA_DESTROY_NO_NETWORK)
        Path(args.out).write_text(json.dumps(result, indent=1, default=str))
    # PySide6 6.12.0 on CPython 3.11 drops a reference to None on every void call and to
    # True on every Signal.emit: the interpreter's final GC would abort. Leave without it.
    sys.stderr.flush()
    os._exit(0 if result.get("ok") else 1)


def run_scenario(
    sip_port: int,
    scenario: str,
    seconds: float,
    env: dict[str, str],
    workdir: Path,
    timeout: float = 150,
) -> dict[str, Any]:
    """Parent side: run one scenario in a child process; returns its JSON (with log tail)."""
    repo = Path(__file__).resolve().parents[2]
    out = workdir / f"{scenario}.json"
    logf = workdir / f"{scenario}.log"
    child_env = {**os.environ, **env, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(repo)}
    with open(logf, "wb") as fh:
        proc = subprocess.run(
            [sys.executable, "-m", "tests.sip.audio_runner", "--sip-port", str(sip_port),
             "--scenario", scenario, "--seconds", str(seconds), "--out", str(out)],
            cwd=repo, env=child_env, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout,
            check=False,
        )  # fmt: skip
    result: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {"ok": False}
    result["exit_code"] = proc.returncode
    result["log_tail"] = "\n".join(logf.read_text(errors="replace").splitlines()[-30:])
    return result


if __name__ == "__main__":
    sys.exit(main())
