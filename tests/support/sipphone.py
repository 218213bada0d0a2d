"""A pjsua2 test phone in its own process, driven from pytest over JSON lines.

pjsua2 allows one Endpoint per process, so every phone is a child process
(`python -m tests.support.sipphone`); one phone may hold several accounts (an agent's
phone and a PSTN caller, say). The parent side is `SipPhone`.

Protocol. stdin: one JSON object per line, `{"id": ..., "cmd": NAME, ...args}`.
stdout: replies `{"id": ..., "ok": true, ...}` / `{"id": ..., "ok": false, "error": ...}`
and events `{"event": NAME, "ts": time.time(), ...}`. Native and Python logs go to
stderr only (fd 1 is pointed at stderr at start; the protocol uses a private dup).

Commands (the phone's own ids: accounts by name, calls "c1", "c2", ...):
  account    name?, user, password?, registrar? "host:port", register? (true),
             auth_user?, display?, auto_ring? (answer 180 at once)   -> {account}
  call       account, to (SIP URI, user@host or an extension), headers? {name: value}
                                                                        -> {call, ts}
  answer     call, code? (200; 180/183 for ringing)
  hangup     call? (all when absent), code?
  send_tone  call, freq (Hz, whole numbers loop seamlessly), amplitude? (0..1, 0.25)
  stop_tone  call
  dtmf       call, digits, method? ("rfc2833" | "info")
  stats      call?, freqs? [Hz], last? (5), expect? (Hz)
             -> {calls: {id: {blocks, rx_frames, recent: [{ts, rms, dominant, score,
                 zc_hz}], expect: {present, absent, gaps, ...}}}}
  tone_check call, freq, since_ts?, until_ts?, min_score? (0.5), min_rms? (300)
             -> {blocks, present, absent, gaps, longest_gap_ms, ...}
  quit       staged shutdown; the reply comes after libDestroy, then exit code 0
Events: ready (pid, sip_port), reg_state (account, code, reason, active, expiration),
incoming (call, account, remote_uri, caller_id {name, number}, request_uri, headers),
call_state (call, account, state, code, reason), media_active (call, again),
media_state (call, status), dtmf_received (call, digit, method, duration_ms).

Received audio is cut into 50 ms blocks (8 kHz, 400 samples). A block "has" a tone
when a least-squares sine fit at that frequency explains at least `min_score` of the
block's variance (or of each of its 10 ms parts, at that frequency or 2 % higher:
`tone_score`) and the block is loud enough; a gap is a run of blocks without it.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import logging
import math
import operator
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("sipphone")

RATE = 8000  # bridge and port clock: PCMU's own rate, so nothing is resampled
FRAME_SAMPLES = RATE // 50  # 20 ms
FRAME_BYTES = FRAME_SAMPLES * 2
BLOCK_SAMPLES = RATE // 20  # 50 ms
BLOCK_BYTES = BLOCK_SAMPLES * 2
BLOCK_MS = 50
MAX_BLOCKS = 20 * 60 * 10  # ten minutes of received audio per call
# agent_desktop.sip.pcm.CATCH_UP_SPEED (not imported: agent_desktop.sip loads the engine and
# Qt; tests/sip/test_mic_feed.py checks that the two agree)
CATCH_UP_SPEED = 50 / 49

REPO = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------ tone analysis


@dataclass(frozen=True)
class _FitTable:
    sin: tuple[float, ...]
    cos: tuple[float, ...]
    sin_sum: float
    cos_sum: float
    gss: float
    gcc: float
    gsc: float


_tables: dict[tuple[float, int], _FitTable] = {}


def _fit_table(freq: float, n: int) -> _FitTable:
    key = (freq, n)
    table = _tables.get(key)
    if table is None:
        w = 2 * math.pi * freq / RATE
        s = tuple(math.sin(w * i) for i in range(n))
        c = tuple(math.cos(w * i) for i in range(n))
        ms, mc = sum(s) / n, sum(c) / n
        table = _FitTable(
            sin=s,
            cos=c,
            sin_sum=sum(s),
            cos_sum=sum(c),
            gss=sum((v - ms) ** 2 for v in s),
            gcc=sum((v - mc) ** 2 for v in c),
            gsc=sum((a - ms) * (b - mc) for a, b in zip(s, c, strict=True)),
        )
        _tables[key] = table
    return table


def tone_score(block: array[int], freq: float) -> float:
    """How well `block` holds a tone at `freq`: the sine fit over the whole block or, if
    that is better, the worst fit of its 10 ms parts, each at `freq` or `freq` *
    CATCH_UP_SPEED.

    While the app's audio bridge plays standing latency away, its audio runs 2 % fast for a
    while: 1000 Hz is 1020 Hz then, which a 1000 Hz fit over 50 ms does not pass (score 0),
    and each stretch moves the tone's phase, so a 50 ms block across its start or end fits
    no single sine either (scores 0.36-0.48 seen). Over 10 ms the tone is one sine at
    either pitch. Never stricter than the whole-block fit alone, which is what decides on a
    block with a gap (a 20 ms gap scores 0.6 there, as before this function)."""
    whole = sine_fit(block, freq)[0]
    part = FRAME_SAMPLES // 2
    parts = min(
        max(sine_fit(block[i : i + part], f)[0] for f in (freq, freq * CATCH_UP_SPEED))
        for i in range(0, len(block) - part + 1, part)
    )
    return max(whole, parts)


def sine_fit(samples: array[int], freq: float) -> tuple[float, float]:
    """Least-squares fit of `a*sin + b*cos + dc` at `freq`.

    Returns (score, amplitude): the share of the block's variance the sine explains
    (1.0 for a clean tone, ~0 for another tone or noise) and the sine's amplitude.
    """
    n = len(samples)
    if n < 8:
        return 0.0, 0.0
    t = _fit_table(freq, n)
    mean = sum(samples) / n
    var = sum(map(operator.mul, samples, samples)) - n * mean * mean
    if var <= 1e-9:
        return 0.0, 0.0
    xs = sum(map(operator.mul, samples, t.sin)) - mean * t.sin_sum
    xc = sum(map(operator.mul, samples, t.cos)) - mean * t.cos_sum
    det = t.gss * t.gcc - t.gsc * t.gsc
    if abs(det) < 1e-9:
        return 0.0, 0.0
    a = (xs * t.gcc - xc * t.gsc) / det
    b = (xc * t.gss - xs * t.gsc) / det
    return max(0.0, min(1.0, (a * xs + b * xc) / var)), math.hypot(a, b)


def rms(samples: array[int]) -> float:
    return math.sqrt(sum(map(operator.mul, samples, samples)) / max(1, len(samples)))


def zero_crossing_hz(samples: array[int]) -> float:
    """A rough frequency from sign changes around the mean (for tones nobody asked about)."""
    if not samples:
        return 0.0
    mean = sum(samples) / len(samples)
    changes = 0
    prev = samples[0] >= mean
    for v in samples:
        cur = v >= mean
        if cur != prev:
            changes += 1
            prev = cur
    return changes / 2 / (len(samples) / RATE)


def tone_frames(freq: float, amplitude: float) -> list[bytes]:
    """One second of a sine as 20 ms frames; whole-Hz tones loop without a phase jump."""
    peak = max(0.0, min(1.0, amplitude)) * 32767
    w = 2 * math.pi * freq / RATE
    pcm = array("h", (round(peak * math.sin(w * i)) for i in range(RATE)))
    raw = pcm.tobytes()
    return [raw[i : i + FRAME_BYTES] for i in range(0, len(raw), FRAME_BYTES)]


@dataclass
class Block:
    ts: float  # when the frame completing the block arrived (time.time())
    pcm: array[int]
    rms: float


class CallRecord:
    """What one call received, kept after the call (and its Call object) is gone."""

    def __init__(self, call_id: str, account: str, direction: str) -> None:
        self.call_id = call_id
        self.account = account
        self.direction = direction
        self.state = "NULL"
        self.code = 0
        self.media_ts: float | None = None
        self.rx_frames = 0
        self.blocks: deque[Block] = deque(maxlen=MAX_BLOCKS)
        self._pending = bytearray()
        self.tone: tuple[float, float] | None = None

    def feed(self, chunks: Iterable[tuple[float, bytes]]) -> None:
        for ts, data in chunks:
            self.rx_frames += 1
            self._pending += data
            while len(self._pending) >= BLOCK_BYTES:
                pcm = array("h", bytes(self._pending[:BLOCK_BYTES]))
                if sys.byteorder != "little":
                    pcm.byteswap()
                del self._pending[:BLOCK_BYTES]
                self.blocks.append(Block(ts, pcm, rms(pcm)))

    def summary(self, freqs: list[float], last: int) -> dict[str, Any]:
        recent = []
        for block in list(self.blocks)[-last:] if last > 0 else []:
            scores = {f: sine_fit(block.pcm, f)[0] for f in freqs}
            best = max(scores, key=lambda f: scores[f]) if scores else None
            recent.append(
                {
                    "ts": block.ts,
                    "rms": round(block.rms, 1),
                    "dominant": best,
                    "score": round(scores[best], 3) if best is not None else None,
                    "zc_hz": round(zero_crossing_hz(block.pcm), 1),
                }
            )
        return {
            "account": self.account,
            "direction": self.direction,
            "state": self.state,
            "code": self.code,
            "media_ts": self.media_ts,
            "rx_frames": self.rx_frames,
            "blocks": len(self.blocks),
            "tx_tone": list(self.tone) if self.tone else None,
            "recent": recent,
        }

    def tone_check(
        self,
        freq: float,
        since_ts: float | None,
        until_ts: float | None,
        min_score: float,
        min_rms: float,
    ) -> dict[str, Any]:
        present = absent = gaps = run = longest = 0
        absent_at: list[float] = []  # where the tone was missing (s after since_ts / the first)
        absent_scores: list[float] = []
        scores: list[float] = []
        levels: list[float] = []
        first = last = None
        for block in list(self.blocks):
            if since_ts is not None and block.ts < since_ts:
                continue
            if until_ts is not None and block.ts > until_ts:
                continue
            score = tone_score(block.pcm, freq)
            scores.append(score)
            levels.append(block.rms)
            first = block.ts if first is None else first
            last = block.ts
            if score >= min_score and block.rms >= min_rms:
                present += 1
                run = 0
            else:
                absent += 1
                if len(absent_at) < 10:
                    origin = since_ts if since_ts is not None else first
                    absent_at.append(round(block.ts - origin, 3))
                    absent_scores.append(round(score, 3))
                if run == 0:
                    gaps += 1
                run += 1
                longest = max(longest, run)
        return {
            "freq": freq,
            "blocks": len(scores),
            "present": present,
            "absent": absent,
            "gaps": gaps,
            "longest_gap_ms": longest * BLOCK_MS,
            "first_ts": first,
            "last_ts": last,
            "min_score": round(min(scores), 3) if scores else None,
            "mean_score": round(sum(scores) / len(scores), 3) if scores else None,
            "mean_rms": round(sum(levels) / len(levels), 1) if levels else None,
            "absent_at_s": absent_at,
            "absent_scores": absent_scores,
        }


# --------------------------------------------------------------- SIP text helpers

_COMPACT = {
    "f": "From",
    "t": "To",
    "i": "Call-ID",
    "m": "Contact",
    "v": "Via",
    "l": "Content-Length",
    "c": "Content-Type",
    "k": "Supported",
    "s": "Subject",
    "e": "Content-Encoding",
    "o": "Event",
    "u": "Allow-Events",
    "r": "Refer-To",
    "b": "Referred-By",
    "x": "Session-Expires",
}


def parse_sip_headers(message: str) -> tuple[str, dict[str, list[str]]]:
    """The start line and the headers (name as sent -> values) of a raw SIP message."""
    head = re.split(r"\r?\n\r?\n", message, maxsplit=1)[0]
    lines: list[str] = []
    for line in re.split(r"\r?\n", head):
        if line[:1] in (" ", "\t") and lines:
            lines[-1] += " " + line.strip()
        elif line:
            lines.append(line)
    if not lines:
        return "", {}
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            continue
        name = name.strip()
        name = _COMPACT.get(name.lower(), name) if len(name) == 1 else name
        headers.setdefault(name, []).append(value.strip())
    return lines[0], headers


def parse_name_addr(text: str) -> dict[str, str]:
    """`"Name" <sip:user@host>;tag=..` -> {name, number, uri}."""
    name = ""
    match = re.match(r'\s*(?:"((?:[^"\\]|\\.)*)"|([^<"]*?))\s*<([^>]*)>', text)
    if match:
        name = (match.group(1) if match.group(1) is not None else match.group(2) or "").strip()
        uri = match.group(3)
    else:
        uri = text.split(";", 1)[0].strip()
    user = re.match(r"\s*(?:sips?|tel):([^@;>]+)", uri)
    return {"name": name, "number": user.group(1) if user else "", "uri": uri}


def _hdr(headers: dict[str, list[str]], name: str) -> str | None:
    for key, values in headers.items():
        if key.lower() == name.lower() and values:
            return values[0]
    return None


# =========================================================== child: the phone process


def _child_main(argv: list[str] | None = None) -> int:
    import pjsua2 as pj  # only the child loads pjsua2 into its process

    parser = argparse.ArgumentParser(prog="python -m tests.support.sipphone")
    parser.add_argument("--name", default="phone")
    parser.add_argument("--log-level", type=int, default=3, help="pjsip console level 0-6")
    args = parser.parse_args(argv)

    # The protocol gets a private copy of stdout; fd 1 then points at stderr, so
    # whatever native code prints (pjlib logs before libInit, asserts) is not protocol.
    proto = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format=f"%(asctime)s {args.name}[%(process)d] %(levelname)s %(message)s",
    )
    # The clock thread's frame callbacks need the GIL: hand it over sooner.
    sys.setswitchinterval(0.001)
    # Ctrl-C in pytest reaches the whole process group; a KeyboardInterrupt raised inside
    # a pjsua2 callback would escape into native code. The parent ends us instead
    # (`quit`, or closing stdin, which quits the same way).
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    out_lock = threading.Lock()

    def send(obj: dict[str, Any]) -> None:
        line = json.dumps(obj, default=str)
        with out_lock:
            proto.write(line + "\n")
            proto.flush()

    def emit(event: str, **fields: Any) -> None:
        send({"event": event, "ts": time.time(), **fields})

    def guarded(fn: Callable[..., None]) -> Callable[..., None]:
        """No exception may escape into pjsua2's native callback code."""

        def wrapper(*a: Any) -> None:
            try:
                fn(*a)
            except Exception:
                log.exception("callback %s failed", fn.__name__)

        wrapper.__name__ = fn.__name__
        return wrapper

    # -- fast ByteVector reading: std::vector's first member is its data pointer.
    def _bytes_slow(vec: Any, size: int) -> bytes:
        return bytes(vec)[:size]

    def _bytes_fast(vec: Any, size: int) -> bytes:
        ptr = ctypes.c_void_p.from_address(int(vec.this)).value
        return ctypes.string_at(ptr, size) if ptr else b""

    probe = bytes(range(1, 200))
    vec_bytes: Callable[[Any, int], bytes] = _bytes_slow
    try:
        if _bytes_fast(pj.ByteVector(probe), len(probe)) == probe:
            vec_bytes = _bytes_fast
    except Exception:
        log.exception("probing ByteVector")
    if vec_bytes is _bytes_slow:
        log.warning("ByteVector data pointer not readable; using bytes(vec)")

    silence = pj.ByteVector(bytes(FRAME_BYTES))
    _KEPT_PORTS: list[Any] = []  # see attach_audio

    class TestPort(pj.AudioMediaPort):  # type: ignore[misc]
        """Receives a call's audio into a locked list, sends a looped tone or silence.

        Both callbacks run on pjmedia's clock thread: they touch only this object's
        lock-protected fields, never pjsua2 calls.
        """

        def __init__(self) -> None:
            super().__init__()
            self.lock = threading.Lock()
            self.chunks: list[tuple[float, bytes]] = []
            self.bound: str | None = None  # call id
            self.tone: list[Any] | None = None
            self.tone_idx = 0

        def bind(self, call_id: str | None) -> None:
            with self.lock:
                self.bound = call_id
                self.chunks = []
                self.tone = None

        def set_tone(self, frames: list[Any] | None) -> None:
            with self.lock:
                self.tone = frames
                self.tone_idx = 0

        def drain(self) -> list[tuple[float, bytes]]:
            with self.lock:
                chunks, self.chunks = self.chunks, []
            return chunks

        def onFrameReceived(self, frame: Any) -> None:
            try:
                if frame.type != pj.PJMEDIA_FRAME_TYPE_AUDIO or frame.size == 0:
                    return
                data = vec_bytes(frame.buf, frame.size)
                now = time.time()
                with self.lock:
                    if self.bound is not None:
                        self.chunks.append((now, data))
            except Exception:
                log.exception("onFrameReceived")

        def onFrameRequested(self, frame: Any) -> None:
            try:
                with self.lock:
                    tone = self.tone
                    idx = self.tone_idx
                    if tone:
                        self.tone_idx = (idx + 1) % len(tone)
                frame.buf = tone[idx] if tone else silence
                frame.size = FRAME_BYTES
                frame.type = pj.PJMEDIA_FRAME_TYPE_AUDIO
            except Exception:
                log.exception("onFrameRequested")

    state_names = {
        pj.PJSIP_INV_STATE_NULL: "NULL",
        pj.PJSIP_INV_STATE_CALLING: "CALLING",
        pj.PJSIP_INV_STATE_INCOMING: "INCOMING",
        pj.PJSIP_INV_STATE_EARLY: "EARLY",
        pj.PJSIP_INV_STATE_CONNECTING: "CONNECTING",
        pj.PJSIP_INV_STATE_CONFIRMED: "CONFIRMED",
        pj.PJSIP_INV_STATE_DISCONNECTED: "DISCONNECTED",
    }
    media_names = {
        pj.PJSUA_CALL_MEDIA_NONE: "NONE",
        pj.PJSUA_CALL_MEDIA_ACTIVE: "ACTIVE",
        pj.PJSUA_CALL_MEDIA_LOCAL_HOLD: "LOCAL_HOLD",
        pj.PJSUA_CALL_MEDIA_REMOTE_HOLD: "REMOTE_HOLD",
        pj.PJSUA_CALL_MEDIA_ERROR: "ERROR",
    }

    class CommandError(Exception):
        pass

    class PhoneCall(pj.Call):  # type: ignore[misc]
        audio_slot: int  # the call's conference slot our port is connected to

        def __init__(self, phone: Phone, acc: PhoneAccount, call_id: str, pj_id: int) -> None:
            super().__init__(acc, pj_id)
            self.phone = phone
            self.cid = call_id
            self.account = acc.name
            self.port: TestPort | None = None
            self.audio: Any = None
            self.audio_slot = -1

        @guarded
        def onCallState(self, prm: Any) -> None:
            ci = self.getInfo()
            state = state_names.get(ci.state, ci.stateText)
            rec = self.phone.records[self.cid]
            rec.state, rec.code = state, ci.lastStatusCode
            emit(
                "call_state",
                call=self.cid,
                account=self.account,
                state=state,
                code=ci.lastStatusCode,
                reason=ci.lastReason,
            )
            if ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
                self.phone.call_ended(self)

        @guarded
        def onCallMediaState(self, prm: Any) -> None:
            ci = self.getInfo()
            for mi in ci.media:
                if mi.type != pj.PJMEDIA_TYPE_AUDIO:
                    continue
                if mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                    slot = int(mi.audioConfSlot)
                    again = self.port is not None and self.audio_slot == slot
                    if not again:  # a re-INVITE with the same stream needs no reconnect
                        self.phone.attach_audio(self, self.getAudioMedia(mi.index))
                        self.audio_slot = slot
                    emit("media_active", call=self.cid, account=self.account, again=again)
                else:
                    emit("media_state", call=self.cid, status=media_names.get(mi.status))

        @guarded
        def onDtmfDigit(self, prm: Any) -> None:
            names = {pj.PJSUA_DTMF_METHOD_RFC2833: "rfc2833", pj.PJSUA_DTMF_METHOD_SIP_INFO: "info"}
            emit(
                "dtmf_received",
                call=self.cid,
                digit=prm.digit,
                method=names.get(prm.method, str(prm.method)),
                duration_ms=None if prm.duration in (None, 0xFFFFFFFF) else prm.duration,
            )

    class PhoneAccount(pj.Account):  # type: ignore[misc]
        def __init__(self, phone: Phone, name: str, spec: dict[str, Any]) -> None:
            super().__init__()
            self.phone = phone
            self.name = name
            self.registrar: str | None = spec.get("registrar")
            self.auto_ring = bool(spec.get("auto_ring", False))
            self.reg_active = False

        @guarded
        def onRegState(self, prm: Any) -> None:
            self.reg_active = bool(self.getInfo().regIsActive)
            emit(
                "reg_state",
                account=self.name,
                code=prm.code,
                reason=prm.reason,
                active=self.reg_active,
                expiration=prm.expiration,
            )

        @guarded
        def onIncomingCall(self, prm: Any) -> None:
            phone = self.phone
            call = phone.new_call(self, prm.callId, "in")
            ci = call.getInfo()
            start, headers = parse_sip_headers(prm.rdata.wholeMsg)
            caller = parse_name_addr(ci.remoteUri)
            pai = _hdr(headers, "P-Asserted-Identity")
            emit(
                "incoming",
                call=call.cid,
                account=self.name,
                remote_uri=ci.remoteUri,
                local_uri=ci.localUri,
                caller_id={"name": caller["name"], "number": caller["number"]},
                asserted_id=parse_name_addr(pai) if pai else None,
                request_uri=start.split(" ")[1] if " " in start else "",
                sip_call_id=ci.callIdString,
                headers=headers,
            )
            if phone.quitting:
                call.hangup(_op(503))
            elif self.auto_ring:
                call.answer(_op(180))

    def _op(code: int = 0) -> Any:
        prm = pj.CallOpParam(True)
        if code:
            prm.statusCode = code
        return prm

    class Phone:
        def __init__(self, name: str) -> None:
            self.name = name
            self.ep = pj.Endpoint()
            self.commands: queue.Queue[dict[str, Any]] = queue.Queue()
            self.accounts: dict[str, PhoneAccount] = {}
            self.calls: dict[str, PhoneCall] = {}  # strong refs until DISCONNECTED
            self.records: dict[str, CallRecord] = {}  # kept for stats
            self.dying: list[PhoneCall] = []  # DISCONNECTED during this turn
            self.doomed: list[PhoneCall] = []  # released at the start of the next turn
            self.ports_free: list[TestPort] = []
            self.ports_all: list[TestPort] = []
            self.call_seq = 0
            self.sip_port = 0
            self.quitting = False
            self.done = False

        # -- library
        def start(self, log_level: int) -> None:
            self.ep.libCreate()
            cfg = pj.EpConfig()
            cfg.uaConfig.threadCnt = 0
            cfg.uaConfig.mainThreadOnly = True
            cfg.uaConfig.userAgent = f"agent-desktop-testphone/{self.name}"
            cfg.logConfig.level = log_level
            cfg.logConfig.consoleLevel = log_level
            cfg.medConfig.clockRate = RATE
            cfg.medConfig.sndClockRate = RATE
            cfg.medConfig.channelCount = 1
            cfg.medConfig.noVad = True
            cfg.medConfig.ecTailLen = 0
            self.ep.libInit(cfg)
            self.ep.audDevManager().setNullDev()
            # G.711 only: tone checks want PCMU (speex distorted a test tone once), and a
            # short SDP keeps the INVITE under 1300 bytes (else pjsip tries TCP first).
            for codec in self.ep.codecEnum2():
                prio = {"PCMU/8000/1": 255, "PCMA/8000/1": 254}.get(codec.codecId, 0)
                self.ep.codecSetPriority(codec.codecId, prio)
            tcfg = pj.TransportConfig()
            tcfg.port = 0
            tcfg.boundAddress = "127.0.0.1"
            tid = self.ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
            self.ep.libStart()
            self.sip_port = int(self.ep.transportGetInfo(tid).localName.rsplit(":", 1)[1])

        # -- calls and audio
        def new_call(self, acc: PhoneAccount, pj_id: int, direction: str) -> PhoneCall:
            self.call_seq += 1
            cid = f"c{self.call_seq}"
            self.records[cid] = CallRecord(cid, acc.name, direction)
            call = PhoneCall(self, acc, cid, pj_id)
            self.calls[cid] = call
            return call

        def call_ended(self, call: PhoneCall) -> None:
            self.calls.pop(call.cid, None)
            if call.port is not None:
                self.records[call.cid].feed(call.port.drain())
                call.port.bind(None)
                self.ports_free.append(call.port)  # reused, not destroyed (see quit)
                call.port = None
            call.audio = None
            self.dying.append(call)

        def attach_audio(self, call: PhoneCall, audio: Any) -> None:
            rec = self.records[call.cid]
            if call.port is None:
                if self.ports_free:
                    port = self.ports_free.pop()
                else:
                    port = TestPort()
                    fmt = pj.MediaFormatAudio()
                    fmt.init(pj.PJMEDIA_FORMAT_PCM, RATE, 1, 20000, 16)
                    port.createPort(f"test{len(self.ports_all)}", fmt)
                    # Never destroyed, as agent_desktop.sip.audio.keep_for_process does for
                    # the app's port (this process stays free of the app's Qt imports):
                    # pjmedia removes a conference port on a later clock tick, and a port
                    # freed 5 ticks after stopTransmit still crashed 1 run in 6 there; this
                    # phone once exited with SIGSEGV right after its last un-REGISTER in CI.
                    with contextlib.suppress(AttributeError):
                        port.__disown__()
                    _KEPT_PORTS.append(port)
                    self.ports_all.append(port)
                port.bind(call.cid)
                call.port = port
                if rec.tone:
                    port.set_tone(self._tone_vectors(*rec.tone))
            if rec.media_ts is None:
                rec.media_ts = time.time()
            call.audio = audio
            audio.startTransmit(call.port)
            call.port.startTransmit(audio)

        def _tone_vectors(self, freq: float, amplitude: float) -> list[Any]:
            return [pj.ByteVector(f) for f in tone_frames(freq, amplitude)]

        def pump_audio(self) -> None:
            for call in self.calls.values():
                if call.port is not None:
                    chunks = call.port.drain()
                    if chunks:
                        self.records[call.cid].feed(chunks)

        # -- loop
        def turn(self, wait_ms: int = 10) -> None:
            self.doomed, self.dying = self.dying, []  # drop last turn's ended calls
            self.ep.libHandleEvents(wait_ms)
            self.pump_audio()

        def run(self) -> int:
            while not self.done:
                self.turn()
                while not self.done:
                    try:
                        msg = self.commands.get_nowait()
                    except queue.Empty:
                        break
                    self.dispatch(msg)
            return 0

        def dispatch(self, msg: dict[str, Any]) -> None:
            req_id = msg.get("id")
            name = str(msg.get("cmd", ""))
            handler = getattr(self, f"cmd_{name}", None)
            try:
                if handler is None:
                    raise CommandError(f"unknown command {name!r}")
                result = handler(msg)
            except CommandError as exc:
                if req_id is not None:
                    send({"id": req_id, "ok": False, "error": str(exc)})
                return
            except pj.Error as exc:
                log.warning("%s failed: %s", name, exc.info())
                if req_id is not None:
                    send({"id": req_id, "ok": False, "error": f"pjsua2: {exc.info()}"})
                return
            except Exception as exc:
                log.exception("command %s failed", name)
                if req_id is not None:
                    send({"id": req_id, "ok": False, "error": f"{type(exc).__name__}: {exc}"})
                return
            if req_id is not None:
                send({"id": req_id, "ok": True, **(result or {})})

        # -- helpers
        def _call(self, msg: dict[str, Any]) -> PhoneCall:
            cid = msg.get("call")
            call = self.calls.get(str(cid))
            if call is None:
                state = self.records[cid].state if cid in self.records else "unknown"
                raise CommandError(f"no live call {cid!r} ({state})")
            return call

        def _record(self, msg: dict[str, Any]) -> CallRecord:
            rec = self.records.get(str(msg.get("call")))
            if rec is None:
                raise CommandError(f"no call {msg.get('call')!r}")
            return rec

        # -- commands
        def cmd_account(self, msg: dict[str, Any]) -> dict[str, Any]:
            user = str(msg["user"])
            name = str(msg.get("name") or user)
            if name in self.accounts:
                raise CommandError(f"account {name!r} exists")
            registrar = msg.get("registrar")
            register = bool(msg.get("register", True)) and bool(registrar)
            host = registrar or f"127.0.0.1:{self.sip_port}"
            acfg = pj.AccountConfig()
            display = msg.get("display")
            acfg.idUri = f'"{display}" <sip:{user}@{host}>' if display else f"sip:{user}@{host}"
            if registrar:
                acfg.regConfig.registrarUri = f"sip:{registrar}"
            acfg.regConfig.registerOnAdd = register
            acfg.regConfig.timeoutSec = 300
            acfg.regConfig.retryIntervalSec = 5
            acfg.regConfig.firstRetryIntervalSec = 1
            if msg.get("password") is not None:
                acfg.sipConfig.authCreds.append(
                    pj.AuthCredInfo(
                        "digest", "*", str(msg.get("auth_user") or user), 0, str(msg["password"])
                    )
                )
            acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
            if msg.get("contact_params"):  # e.g. ";line=abc": one device, two bindings
                acfg.sipConfig.contactUriParams = str(msg["contact_params"])
            acc = PhoneAccount(self, name, {**msg, "registrar": registrar})
            acc.create(acfg, False)
            self.accounts[name] = acc
            return {"account": name, "uri": acfg.idUri, "register": register}

        def cmd_reregister(self, msg: dict[str, Any]) -> dict[str, Any]:
            """Send a fresh REGISTER now (what a phone does when its registration is due)."""
            self.accounts[str(msg["account"])].setRegistration(True)
            return {"ts": time.time()}

        def cmd_call(self, msg: dict[str, Any]) -> dict[str, Any]:
            acc = self.accounts.get(str(msg.get("account")))
            if acc is None:
                raise CommandError(f"no account {msg.get('account')!r}")
            to = str(msg["to"])
            if not re.match(r"^(sips?:|tel:|\"|<)", to):
                if "@" not in to:
                    if not acc.registrar:
                        raise CommandError("extension without a registrar: give a SIP URI")
                    to = f"{to}@{acc.registrar}"
                to = f"sip:{to}"
            prm = _op()
            for hname, hvalue in (msg.get("headers") or {}).items():
                hdr = pj.SipHeader()
                hdr.hName = str(hname)
                hdr.hValue = str(hvalue)
                prm.txOption.headers.append(hdr)
            call = self.new_call(acc, pj.PJSUA_INVALID_ID, "out")
            ts = time.time()
            try:
                call.makeCall(to, prm)
            except pj.Error:
                self.calls.pop(call.cid, None)
                self.records[call.cid].state = "FAILED"
                self.dying.append(call)
                raise
            return {"call": call.cid, "ts": ts, "to": to}

        def cmd_answer(self, msg: dict[str, Any]) -> dict[str, Any]:
            code = int(msg.get("code", 200))
            self._call(msg).answer(_op(code))
            return {}

        def cmd_hangup(self, msg: dict[str, Any]) -> dict[str, Any]:
            if msg.get("call") is None:
                self.ep.hangupAllCalls()
                return {"calls": sorted(self.calls)}
            self._call(msg).hangup(_op(int(msg.get("code", 0))))
            return {}

        def cmd_send_tone(self, msg: dict[str, Any]) -> dict[str, Any]:
            rec = self._record(msg)
            freq = float(msg["freq"])
            if not 0 < freq < RATE / 2:
                raise CommandError(f"frequency {freq} outside 0..{RATE // 2} Hz")
            rec.tone = (freq, float(msg.get("amplitude", 0.25)))
            call = self.calls.get(rec.call_id)
            if call is not None and call.port is not None:
                call.port.set_tone(self._tone_vectors(*rec.tone))
            return {"media": call is not None and call.port is not None}

        def cmd_stop_tone(self, msg: dict[str, Any]) -> dict[str, Any]:
            rec = self._record(msg)
            rec.tone = None
            call = self.calls.get(rec.call_id)
            if call is not None and call.port is not None:
                call.port.set_tone(None)
            return {}

        def cmd_dtmf(self, msg: dict[str, Any]) -> dict[str, Any]:
            call = self._call(msg)
            prm = pj.CallSendDtmfParam()
            prm.digits = str(msg["digits"])
            method = msg.get("method", "rfc2833")
            prm.method = (
                pj.PJSUA_DTMF_METHOD_SIP_INFO if method == "info" else pj.PJSUA_DTMF_METHOD_RFC2833
            )
            call.sendDtmf(prm)
            return {}

        def cmd_stats(self, msg: dict[str, Any]) -> dict[str, Any]:
            freqs = [float(f) for f in msg.get("freqs") or []]
            last = int(msg.get("last", 5))
            self.pump_audio()
            chosen = [self._record(msg)] if msg.get("call") else list(self.records.values())
            calls = {r.call_id: r.summary(freqs, last) for r in chosen}
            if msg.get("expect") is not None:  # block counts for one expected tone
                for r in chosen:
                    calls[r.call_id]["expect"] = r.tone_check(
                        float(msg["expect"]), None, None, 0.5, 300.0
                    )
            return {"calls": calls}

        def cmd_tone_check(self, msg: dict[str, Any]) -> dict[str, Any]:
            rec = self._record(msg)
            self.pump_audio()
            return rec.tone_check(
                float(msg["freq"]),
                msg.get("since_ts"),
                msg.get("until_ts"),
                float(msg.get("min_score", 0.5)),
                float(msg.get("min_rms", 300)),
            )

        def cmd_ping(self, msg: dict[str, Any]) -> dict[str, Any]:
            return {
                "pid": os.getpid(),
                "calls": sorted(self.calls),
                "accounts": sorted(self.accounts),
            }

        def cmd_quit(self, msg: dict[str, Any]) -> dict[str, Any]:
            stages = self.shutdown()
            self.done = True
            return {"stages": stages}

        # -- staged shutdown (on this, the owning, thread)
        def _wait(self, until: Callable[[], bool], seconds: float) -> bool:
            deadline = time.monotonic() + seconds
            while not until():
                if time.monotonic() > deadline:
                    return False
                self.turn()
            return True

        def shutdown(self) -> dict[str, float | bool]:
            """Staged quit. Each stage is its own method so that no loop variable keeps
            a Call, Account or port alive past libDestroy (its destructor would assert)."""
            t0 = time.monotonic()
            stages: dict[str, float | bool] = {}
            self.quitting = True
            # 1. hang up everything, wait (bounded) for DISCONNECTED
            if self.calls:
                self.ep.hangupAllCalls()
            stages["calls_ended"] = self._wait(lambda: not self.calls, 3.0)
            stages["hangup_s"] = round(time.monotonic() - t0, 3)
            # 2. unregister, wait (bounded), shut the accounts down
            t1 = time.monotonic()
            self._unregister_all()
            stages["unregistered"] = self._wait(
                lambda: not any(a.reg_active for a in self.accounts.values()), 2.0
            )
            self._shutdown_accounts()
            stages["unregister_s"] = round(time.monotonic() - t1, 3)
            # 3. drop every Call/Account/port reference, collect
            t2 = time.monotonic()
            self._drop_all()
            gc.collect()
            # Removing a port from the bridge is asynchronous in pjsua 2.15: let the
            # clock thread finish it while the library is alive.
            end = time.monotonic() + 0.1
            while time.monotonic() < end:
                self.ep.libHandleEvents(10)
            stages["release_s"] = round(time.monotonic() - t2, 3)
            # 4. (no poll timer here) 5. destroy without waiting for the network
            t3 = time.monotonic()
            self.ep.libDestroy(pj.PJSUA_DESTROY_NO_NETWORK)
            stages["destroy_s"] = round(time.monotonic() - t3, 3)
            stages["total_s"] = round(time.monotonic() - t0, 3)
            log.info("shutdown %s", stages)
            return stages

        def _unregister_all(self) -> None:
            for acc in self.accounts.values():
                if acc.reg_active:
                    try:
                        acc.setRegistration(False)
                    except pj.Error as exc:
                        log.warning("unregister %s: %s", acc.name, exc.info())

        def _shutdown_accounts(self) -> None:
            for acc in self.accounts.values():
                acc.shutdown()

        def _drop_all(self) -> None:
            for call in self.calls.values():
                call.port = None
                call.audio = None
            for port in self.ports_all:
                port.bind(None)
            self.calls.clear()
            self.dying.clear()
            self.doomed.clear()
            self.accounts.clear()
            self.ports_free.clear()
            self.ports_all.clear()

    def read_stdin(phone: Phone) -> None:
        """Only parses and enqueues: pjsua2 is never touched from this thread."""
        for raw in sys.stdin:
            line = raw.strip()
            if not line:
                continue
            try:
                msg = json.loads(line)
                if not isinstance(msg, dict):
                    raise ValueError("not an object")
            except ValueError as exc:
                send({"id": None, "ok": False, "error": f"bad JSON line: {exc}"})
                continue
            phone.commands.put(msg)
        phone.commands.put({"id": None, "cmd": "quit"})  # parent gone: shut down cleanly

    phone = Phone(args.name)
    phone.start(args.log_level)
    emit("ready", pid=os.getpid(), sip_port=phone.sip_port, name=args.name)
    threading.Thread(target=read_stdin, args=(phone,), name="stdin", daemon=True).start()
    code = phone.run()
    # The Endpoint object outlives libDestroy (its destructor knows); drop it last.
    del phone
    gc.collect()
    log.info("exit %d", code)
    return code


# ================================================================ parent: SipPhone


LOG_DIR = Path(tempfile.gettempdir()) / "agent-desktop-sipphone"
LOG_MAX_AGE = 24 * 3600


def _new_log_path(name: str) -> Path:
    """A fresh log file for one phone's stderr; logs older than a day are pruned."""
    LOG_DIR.mkdir(exist_ok=True)
    now = time.time()
    for old in LOG_DIR.glob("*.log"):
        with contextlib.suppress(OSError):
            if now - old.stat().st_mtime > LOG_MAX_AGE:
                old.unlink()
    fd, path = tempfile.mkstemp(prefix=f"{name}-", suffix=".log", dir=LOG_DIR)
    os.close(fd)
    return Path(path)


class SipPhoneError(RuntimeError):
    """The phone refused a command, timed out, or died."""


class SipPhone:
    """A test phone child process. Use as a context manager.

    >>> with SipPhone("agent") as phone:
    ...     phone.add_account("8001", password="demo", registrar="127.0.0.1:5060")
    ...     phone.wait_event("reg_state", account="8001", code=200)
    """

    def __init__(
        self,
        name: str = "phone",
        *,
        log_level: int = 3,
        log_path: Path | str | None = None,
        start_timeout: float = 15.0,
    ) -> None:
        self.name = name
        self.log_level = log_level
        if log_path is None:
            log_path = _new_log_path(name)
        self.log_path = Path(log_path)
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.sip_port = 0
        self.pid = 0
        self.returncode: int | None = None
        self.quit_reply: dict[str, Any] | None = None
        self._events: list[dict[str, Any]] = []
        self._replies: dict[int, dict[str, Any]] = {}
        self._noise: list[str] = []
        self._cond = threading.Condition()
        self._eof = False
        self._next_id = 0
        self._write_lock = threading.Lock()
        self._reader: threading.Thread | None = None

    # -- lifecycle
    @staticmethod
    def python() -> str:
        venv = REPO / ".venv" / "bin" / "python"
        return str(venv) if venv.exists() else sys.executable

    def start(self) -> SipPhone:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        with open(self.log_path, "ab") as err:
            self.proc = subprocess.Popen(
                [
                    self.python(),
                    "-m",
                    "tests.support.sipphone",
                    "--name",
                    self.name,
                    "--log-level",
                    str(self.log_level),
                ],
                cwd=REPO,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
            )
        self._reader = threading.Thread(
            target=self._read, name=f"sipphone-{self.name}", daemon=True
        )
        self._reader.start()
        try:
            ready = self.wait_event("ready", timeout=self.start_timeout)
        except BaseException:
            self._kill()
            raise
        self.sip_port = int(ready["sip_port"])
        self.pid = int(ready["pid"])
        return self

    def __enter__(self) -> SipPhone:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self, timeout: float = 10.0) -> int | None:
        """Ask the phone to quit; kill it if it does not. Returns the exit code."""
        proc = self.proc
        if proc is None:
            return self.returncode
        if proc.poll() is None and not self._eof:
            with contextlib.suppress(SipPhoneError):
                self.quit_reply = self.request("quit", timeout=timeout)
        try:
            self.returncode = proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            self.returncode = proc.wait()
        with contextlib.suppress(OSError):
            if proc.stdin:
                proc.stdin.close()
        if self._reader is not None:
            self._reader.join(timeout=2)
        if proc.stdout:
            proc.stdout.close()
        self.proc = None
        return self.returncode

    def _kill(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.returncode = self.proc.wait()
            self.proc = None

    def quit(self, timeout: float = 10.0) -> int | None:
        return self.close(timeout)

    # -- I/O
    def _read(self) -> None:
        assert self.proc is not None
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").strip()
            try:
                msg = json.loads(line)
                if not isinstance(msg, dict):
                    raise ValueError
            except ValueError:
                with self._cond:
                    self._noise.append(line)
                continue
            with self._cond:
                if "event" in msg:
                    self._events.append(msg)
                elif isinstance(msg.get("id"), int):
                    self._replies[msg["id"]] = msg
                else:
                    self._noise.append(line)
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def stderr_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _died(self, what: str) -> SipPhoneError:
        code = self.proc.poll() if self.proc else self.returncode
        if code is None and self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = self.proc.wait(timeout=1)
        return SipPhoneError(
            f"phone {self.name!r} died ({what}; exit code {code}); log {self.log_path}, "
            f"tail:\n{self.stderr_tail()}"
        )

    def request(self, cmd: str, timeout: float = 5.0, **args: Any) -> dict[str, Any]:
        """Send one command; return its reply, raise SipPhoneError if it failed."""
        if self.proc is None or self.proc.stdin is None:
            raise SipPhoneError(f"phone {self.name!r} is not running")
        with self._cond:
            self._next_id += 1
            req_id = self._next_id
        line = json.dumps({"id": req_id, "cmd": cmd, **args}) + "\n"
        try:
            with self._write_lock:
                self.proc.stdin.write(line.encode())
                self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise self._died(f"writing {cmd}") from exc
        deadline = time.monotonic() + timeout
        with self._cond:
            while req_id not in self._replies:
                if self._eof:
                    raise self._died(f"waiting for the reply to {cmd}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SipPhoneError(
                        f"phone {self.name!r}: no reply to {cmd} in {timeout}s; "
                        f"tail:\n{self.stderr_tail(15)}"
                    )
                self._cond.wait(left)
            reply = self._replies.pop(req_id)
        if not reply.get("ok"):
            raise SipPhoneError(f"phone {self.name!r}: {cmd} failed: {reply.get('error')}")
        return reply

    # -- events
    @staticmethod
    def _matches(
        event: dict[str, Any], name: str, after: float | None, match: dict[str, Any]
    ) -> bool:
        if event.get("event") != name:
            return False
        if after is not None and float(event.get("ts", 0)) < after:
            return False
        for key, want in match.items():
            have = event.get(key)
            if callable(want):
                if not want(have):
                    return False
            elif have != want:
                return False
        return True

    def events(self, name: str | None = None, **match: Any) -> list[dict[str, Any]]:
        with self._cond:
            found = list(self._events)
        return [e for e in found if name is None or self._matches(e, name, None, match)]

    def wait_event(
        self, name: str, timeout: float = 5.0, *, after: float | None = None, **match: Any
    ) -> dict[str, Any]:
        """The first event (since the start, or with ts >= `after`) named `name` whose
        fields equal `match` (a callable value is used as a predicate)."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for event in self._events[seen:]:
                    if self._matches(event, name, after, match):
                        return event
                seen = len(self._events)
                if self._eof:
                    raise self._died(f"waiting for {name} {match}")
                left = deadline - time.monotonic()
                if left <= 0:
                    recent = [
                        {k: v for k, v in e.items() if k != "headers"} for e in self._events[-8:]
                    ]
                    raise SipPhoneError(
                        f"phone {self.name!r}: no {name} event matching {match} in {timeout}s; "
                        f"last events: {recent}"
                    )
                self._cond.wait(left)

    def wait_events(
        self, name: str, count: int, timeout: float = 5.0, **match: Any
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [e for e in self._events if self._matches(e, name, None, match)]
                if len(found) >= count:
                    return found[:count]
                if self._eof:
                    raise self._died(f"waiting for {count} {name}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SipPhoneError(
                        f"phone {self.name!r}: {len(found)}/{count} {name} events in {timeout}s"
                    )
                self._cond.wait(left)

    @staticmethod
    def header(event: dict[str, Any], name: str) -> str | None:
        """A header of an `incoming` event, by case-insensitive name."""
        return _hdr(event.get("headers") or {}, name)

    # -- commands
    def add_account(
        self,
        user: str,
        *,
        password: str | None = None,
        registrar: str | None = None,
        register: bool = True,
        name: str | None = None,
        **extra: Any,
    ) -> str:
        reply = self.request(
            "account",
            user=user,
            password=password,
            registrar=registrar,
            register=register,
            name=name,
            **extra,
        )
        return str(reply["account"])

    def register(
        self, user: str, password: str, registrar: str, timeout: float = 5.0, **extra: Any
    ) -> dict[str, Any]:
        """Add a registering account and wait for its 200 OK; returns the reg_state event."""
        name = self.add_account(user, password=password, registrar=registrar, **extra)
        return self.wait_event("reg_state", timeout, account=name, code=200, active=True)

    def reregister(self, account: str, timeout: float = 5.0) -> dict[str, Any]:
        """REGISTER again now; returns the 200 OK reg_state event."""
        sent = self.request("reregister", account=account)
        return self.wait_event("reg_state", timeout, after=sent["ts"], account=account, code=200)

    def call(self, account: str, to: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
        return self.request("call", account=account, to=to, headers=headers or {})

    def answer(self, call: str, code: int = 200) -> None:
        self.request("answer", call=call, code=code)

    def hangup(self, call: str | None = None, code: int = 0) -> None:
        self.request("hangup", call=call, code=code)

    def send_tone(self, call: str, freq: float, amplitude: float = 0.25) -> None:
        self.request("send_tone", call=call, freq=freq, amplitude=amplitude)

    def stop_tone(self, call: str) -> None:
        self.request("stop_tone", call=call)

    def dtmf(self, call: str, digits: str, method: str = "rfc2833") -> None:
        self.request("dtmf", call=call, digits=digits, method=method)

    def stats(
        self,
        call: str | None = None,
        freqs: Iterable[float] = (),
        last: int = 5,
        expect: float | None = None,
    ) -> dict[str, Any]:
        reply = self.request("stats", call=call, freqs=list(freqs), last=last, expect=expect)
        return dict(reply["calls"])

    def tone_check(
        self,
        call: str,
        freq: float,
        since_ts: float | None = None,
        until_ts: float | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        return self.request(
            "tone_check", call=call, freq=freq, since_ts=since_ts, until_ts=until_ts, **extra
        )

    def state_of(self, call: str) -> str | None:
        states = self.events("call_state", call=call)
        return str(states[-1]["state"]) if states else None


@contextlib.contextmanager
def phones(*names: str, **kwargs: Any) -> Iterator[list[SipPhone]]:
    """Several phones started together (each its own process), all closed at the end."""
    started: list[SipPhone] = []
    try:
        for name in names:
            started.append(SipPhone(name, **kwargs).start())
        yield started
    finally:
        for phone in reversed(started):
            phone.close()


if __name__ == "__main__":
    sys.exit(_child_main())
