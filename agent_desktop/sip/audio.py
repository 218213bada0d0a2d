"""The audio bridge: pjsua2's conference bridge <-> Qt Multimedia (speaker, microphone, ringer).

pjsua2 runs with its null sound device (the wheels have no sound backend). One `BridgePort`
(an AudioMediaPort, 16 kHz mono 16-bit, 20 ms frames) is connected both ways to every
attached call's audio media. Its frame callbacks run on pjmedia's clock thread and touch only
two locked PCM rings and counters. An `AudioIO` worker on a dedicated QThread owns the
QAudioSink (speaker) and QAudioSource (microphone), opened with `start()` (Qt hands us the
QIODevice), and pumps between them and the rings. pjsua2 is touched only by `AudioBridge`,
on the thread that owns the library (the GUI thread).

What the engine calls, on the pjsua2 thread, after `libInit()` with `setNullDev()`:
    bridge = AudioBridge()                   # once; QObject on the GUI thread
    bridge.attach(key, call.getAudioMedia(-1))   # on media active (again on re-INVITE)
    bridge.detach(key)                        # on hold / media gone / DISCONNECTED
    bridge.shutdown()                         # staged quit, BEFORE libDestroy (the port is
                                              # disconnected and kept for the process)
Settings screen: devices(kind), set_device(kind, id or None), active_devices(),
start_test_tone(), stop_test_tone(), set_meter_enabled(), start_ringing(), stop_ringing(),
stats(); signals devices_changed, active_devices_changed, level_changed(dBFS),
underrun(count), overrun(count).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import math
import os
import socket
import tempfile
import threading
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pjsua2 as pj
from PySide6.QtCore import QObject, QSocketNotifier, QThread, QTimer, QUrl, Signal, Slot
from PySide6.QtMultimedia import (
    QAudio,  # noqa: F401  (PySide6: import QAudio before connecting stateChanged)
    QAudioDevice,
    QAudioFormat,
    QAudioSink,
    QAudioSource,
    QMediaDevices,
    QSoundEffect,
    QtAudio,
)

from agent_desktop.audio_env import qt_audio_backend
from agent_desktop.sip.aec import EchoCanceller
from agent_desktop.sip.pcm import (
    FRAME_BYTES,
    FRAME_MS,
    RATE,
    SAMPLE_BYTES,
    SILENCE_FRAME,
    PcmRing,
    StandingLatency,
    ToneGenerator,
    bytes_to_ms,
    level_dbfs,
    ms_to_bytes,
    shorten,
)

log = logging.getLogger(__name__)

SPEAKER = "speaker"
MICROPHONE = "microphone"
RINGER = "ringer"
KINDS = (SPEAKER, MICROPHONE, RINGER)

# Qt's sink buffer in front of the sound server's own: 40 ms (design note audio.md: below
# that, with the server's default buffering, underruns and CPU climb fast); one 20 ms frame
# when the process asks the server for a short latency itself (agent_desktop.audio_env).
SINK_BUFFER_BYTES = 1280
SINK_BUFFER_BYTES_LOW_LATENCY = 640
SOURCE_BUFFER_BYTES = 1280
# Qt's native PipeWire backend puts each graph cycle's capture into Qt's source buffer at
# once: at 2048 samples (42.7 ms) the 40 ms buffer lost part of every cycle, and the call got
# a silent frame in its place every ~0.35 s (36 in 10 s; with 200 ms: 6, all at the start).
# The bridge reads the buffer whenever Qt says data is there, so its size adds no latency.
PIPEWIRE_SOURCE_BUFFER_BYTES = ms_to_bytes(200)
NATIVE_PERIOD_FRAMES = 256
# With a short server buffer a whole 20 ms frame may not fit: under PULSE_LATENCY_MSEC=20,
# PulseAudio keeps a 15 ms target length (480 bytes) in front of a 5 ms sink latency, so
# bytesFree() never exceeds 480. What it refused is written this much later, not with the
# next frame 20 ms on (measured: fed only by call frames, the speaker lost 2-25 % of its
# 20 ms blocks per call, and the ring grew until trimmed; with this, none in 6+ calls).
REFILL_MS = 5
TONE_INTERVAL_MS = 10  # the test tone (no call clock to drive the speaker) is fed by a timer
SPEAKER_RING_BYTES = ms_to_bytes(400)
SPEAKER_MAX_BYTES = ms_to_bytes(120)  # more queued than this: trim (a sink stalled)
SPEAKER_TRIM_TO = ms_to_bytes(40)
SPEAKER_STANDING_MAX = ms_to_bytes(30)  # ring never below this for a window: trim the excess
STANDING_WINDOW_S = 0.5
# Below that limit, the ring's lowest level in a window beyond this slack is latency too: it
# is played away gently, dropping at most one sample in CATCH_UP_RATIO (the far end's voice
# 2 % faster meanwhile, no click). Under PipeWire the ring stood at 9-17 ms at its lowest
# all call long (PulseAudio: 5 ms), and a headset's clock drifts against pjmedia's.
SPEAKER_SLACK = ms_to_bytes(3)
SPEAKER_PREBUFFER = FRAME_BYTES  # after a starvation, wait for one frame before writing
MIC_RING_BYTES = ms_to_bytes(400)
MIC_MAX_BYTES = ms_to_bytes(100)  # more waiting than this: trim to keep latency bounded
MIC_TRIM_TO = ms_to_bytes(40)
# The microphone's blocks land in the ring whenever Qt delivers them, pjmedia reads a frame
# every 20 ms on its own clock: what stays behind after each read, at its lowest over a
# window, is delay on the agent's voice (measured before this bound: 4-22 ms all call long,
# depending on how the two clocks happened to start). Bounded like the speaker's ring.
# Unlike the speaker's ring, nothing behind this one absorbs a late block or a late clock
# tick: a read that finds less than a frame sends 20 ms of silence. So the slack that stays
# is the microphone's jitter buffer: it starts at MIC_SLACK_START (about what stood there
# before the bound, at random: a call's first seconds keep the margin they had), shrinks by
# MIC_SLACK_DECAY each window without a short read, down to MIC_SLACK, and grows by
# MIC_SLACK_STEP after each window with one (up to MIC_SLACK_MAX). On this 2-core test
# machine the microphone's blocks came 10-37 ms late now and then.
MIC_SLACK = ms_to_bytes(8)
MIC_SLACK_START = ms_to_bytes(20)
MIC_SLACK_STEP = ms_to_bytes(10)
MIC_SLACK_MAX = ms_to_bytes(30)
MIC_SLACK_DECAY = ms_to_bytes(0.25)  # 20 ms in 40 s
MIC_STANDING_MAX = ms_to_bytes(40)  # above MIC_SLACK_MAX
LEVEL_BLOCK_BYTES = ms_to_bytes(50)  # meter updates at ~20 Hz
# Echo canceller reference: bytes written to the sink wait here until a microphone frame
# takes them (one far frame per near frame, in order). More than this queued means the two
# streams drifted apart: drop the oldest (the canceller re-finds the delay).
AEC_FAR_MAX_BYTES = ms_to_bytes(200)
AEC_FAR_TRIM_TO = ms_to_bytes(60)
# The pairing "microphone frame k <-> reference frame k" must never slide: a slide moves the
# echo delay under AEC3, which then re-converges and, meanwhile, suppresses near-end speech.
# Sink writes (any size, when Qt has room) and microphone reads (bursts) jitter against each
# other, so a microphone frame can find less than a frame queued: the missing part is then
# silence and as many bytes of the next far audio are skipped, so the alignment after it is
# unchanged. (Inserting a whole silent frame instead made the reference 20 ms later each
# time, eating the echo's lag behind it; measured: 48 ms in the looped test, and the
# double-talk tone lost 4-5 dB once that lead shrank below ~15 ms.)
# Hence a microphone frame whose reference is not written yet waits for it (the speaker is
# fed from the same thread, usually within a few ms), at most this long while the speaker
# is playing; only then is the missing part taken as silence, and the alignment kept as above.
AEC_NEAR_WAIT_BYTES = ms_to_bytes(40)
AEC_SPEAKER_IDLE_S = 0.1  # nothing written to the sink for this long: no reference to wait for
# How far the reference leads the pairing at a (re)start: the first far audio of a call or
# device is left out of it, so every echo lags its reference frame by this much more (no
# audio is delayed). Through PipeWire 1.x (Qt's native backend) the looped echo lagged its
# reference by 1 sample in one run and came 9.6 ms before it in another (where the pairing
# starts depends on how the streams start): AEC3 cancelled nothing (ERLE -6 dB; offline, the
# same recording with the echo 2 ms or more later: 28.5 dB). With 40 ms: 27.7 dB there.
# Over PulseAudio, 15-25 ms of lag become 55-65 (AEC3 finds any delay up to ~500 ms).
AEC_REFERENCE_LEAD_BYTES = ms_to_bytes(40)
# Qt's native PipeWire backend (Qt 6.11 on PipeWire 1.x) has no server-side buffer: Qt's
# sink buffer is the stream's only one, and PipeWire takes a whole graph quantum from it each
# cycle. In any virtual machine (a VDI seat) PipeWire's own configuration makes that at least
# 1024 samples at 48 kHz (21.3 ms); some Bluetooth sinks run at 2048. A 20 ms buffer never
# holds one: the speaker lost 46 % of its 20 ms blocks at 1024 and 55 % at 2048
# (tests/sip/test_audio_pipewire.py, clock.force-quantum). So there the buffer is large
# enough for any quantum, and how full it is kept is measured (SinkFillCap).
PIPEWIRE_SINK_BUFFER_BYTES = ms_to_bytes(200)  # above 8192 samples at 48 kHz
SINK_FILL_MARGIN_BYTES = ms_to_bytes(5)
SINK_FILL_WINDOW_S = 1.0
# Never below one frame, what the 20 ms buffer used to hold. Starting above 2048 samples (a
# start of 20 ms left ~40 ms more standing at 2048, from the first, short pulls: simulated)
# costs a catch-up at the start of a call (the cap falls to what the graph takes; what Qt's
# buffer held beyond it is played away, 2 % faster).
SINK_FILL_START_BYTES = ms_to_bytes(45)  # until measured: above 2048 samples at 48 kHz
SINK_FILL_FLOOR_BYTES = FRAME_BYTES
# A stopped or suspended sink reads bytesFree() 0 too: no refills for it (the next frame
# or the device re-check comes anyway).
_PLAYING = (QtAudio.State.ActiveState, QtAudio.State.IdleState)
VERIFY_INTERVAL_MS = 2000  # Linux: unplug emits no Qt signal, so re-check periodically


# ------------------------------------------------------------------ ByteVector access


def _vec_bytes_slow(vec: Any, size: int) -> bytes:
    return bytes(list(vec))[:size]


def _vec_ptr(vec: Any) -> int:
    # A SWIG std::vector<unsigned char>: its first member is the data pointer.
    return ctypes.c_void_p.from_address(int(vec.this)).value or 0


def _vec_bytes_fast(vec: Any, size: int) -> bytes:
    ptr = _vec_ptr(vec)
    return ctypes.string_at(ptr, size) if ptr else b""


def _vec_fill_slow(frame: Any, data: bytes) -> None:
    frame.buf = pj.ByteVector(data)


def _vec_fill_fast(frame: Any, data: bytes) -> None:
    """Resize the frame's own vector and copy into it (~3 us instead of ~12 us for a
    new ByteVector, which SWIG fills byte by byte)."""
    vec = frame.buf  # a reference to the member, not a copy
    vec.resize(len(data))
    ctypes.memmove(_vec_ptr(vec), data, len(data))


def _choose_vec_reader() -> Callable[[Any, int], bytes]:
    probe = bytes(range(1, 256)) * 3
    try:
        if _vec_bytes_fast(pj.ByteVector(probe), len(probe)) == probe:
            return _vec_bytes_fast
    except Exception:
        log.exception("probing the ByteVector data pointer")
    log.warning("ByteVector data pointer not readable; using bytes(vec) (slower)")
    return _vec_bytes_slow


def _choose_vec_filler() -> Callable[[Any, bytes], None]:
    probe = bytes(range(1, 256)) * 2 + bytes(130)
    try:
        frame = pj.MediaFrame()
        _vec_fill_fast(frame, probe)
        if frame.buf.size() == len(probe) and bytes(list(frame.buf)) == probe:
            return _vec_fill_fast
    except Exception:
        log.exception("probing the MediaFrame buffer")
    log.warning("MediaFrame buffer not writable in place; using ByteVector(data) (slower)")
    return _vec_fill_slow


_vec_reader: Callable[[Any, int], bytes] | None = None
_vec_filler: Callable[[Any, bytes], None] | None = None


def vec_reader() -> Callable[[Any, int], bytes]:
    """The fastest verified way to copy a frame's ByteVector (probed once)."""
    global _vec_reader
    if _vec_reader is None:
        _vec_reader = _choose_vec_reader()
    return _vec_reader


def vec_filler() -> Callable[[Any, bytes], None]:
    """The fastest verified way to put bytes into a requested frame (probed once)."""
    global _vec_filler
    if _vec_filler is None:
        _vec_filler = _choose_vec_filler()
    return _vec_filler


# ------------------------------------------------------------------ shared state


@dataclass
class BridgeCounters:
    """Plain ints written by one thread each; read anywhere (GIL-atomic)."""

    frames_in: int = 0  # call -> port (to the speaker)
    frames_out: int = 0  # port -> call (from the microphone)
    mic_gaps: int = 0  # frames sent as silence because the microphone had no data
    speaker_underruns: int = 0  # the sink ran dry while a call was attached
    speaker_trimmed_bytes: int = 0
    speaker_caught_up_bytes: int = 0  # played away by shortening (SPEAKER_SLACK)
    mic_trimmed_bytes: int = 0  # cut by the standing-latency bound (MIC_STANDING_MAX)
    mic_caught_up_bytes: int = 0  # played away by shortening (MIC_SLACK)
    mic_slack_raises: int = 0  # windows with a short read (MIC_SLACK_STEP)
    sink_queued_bytes: int = 0  # in Qt's sink buffer at the last pump
    source_wait_bytes: int = SOURCE_BUFFER_BYTES // 2  # estimate: see AudioIO._open_source
    source_errors: int = 0
    sink_errors: int = 0
    aec_ref_missing: int = 0  # microphone frames that found no reference queued (silence used)
    aec_ref_trims: int = 0  # times the reference queue was cut back (the streams drifted)
    aec_ref_trimmed_bytes: int = 0
    aec_ref_depth_max: int = 0  # bytes queued as reference, highest seen
    calls_attached: bool = False
    fast_path: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class BridgePort(pj.AudioMediaPort):  # type: ignore[misc]
    """The pjmedia side. Both callbacks run on pjmedia's clock thread (50 times a second
    each): rings, counters and one non-blocking socket send (the audio thread's wake-up);
    never pjsua2 or Qt. Kept to a few microseconds of Python each.

    Lifetime: a BridgePort is never destroyed (`keep_for_process()`). Its C++ destructor
    frees the embedded pjmedia_port at once, while pjmedia (2.14+) removes a conference
    port asynchronously, on a later clock tick: the clock thread then calls a freed port
    or a Python object half-way through deallocation ("no attribute _pinned", SIGSEGV).
    Measured (tests/sip/port_lifetime.py, 150 ports a run): dropping a port right after
    stopTransmit crashed 5 runs of 5, dropping it 5 clock ticks later 1 of 6, dropping it
    after libDestroy aborted 4 of 4 (pjmedia_conf_remove_port asserts); never destroying
    it: 0 crashes. One port per AudioBridge, kept; that is the whole cost.

    The attributes also exist on the class (None/False), so that even a callback that
    reaches a half-cleared object reads defaults and returns instead of raising."""

    speaker: PcmRing | None = None
    mic: PcmRing | None = None
    counters: BridgeCounters | None = None
    wake: Callable[[], None] | None = None
    _read: Callable[[Any, int], bytes] | None = None
    _fill: Callable[[Any, bytes], None] | None = None
    _silence: Any = None
    _audio_type: int = pj.PJMEDIA_FRAME_TYPE_AUDIO
    _pinned = False

    def __init__(
        self,
        speaker: PcmRing,
        mic: PcmRing,
        counters: BridgeCounters,
        wake: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self.speaker = speaker
        self.mic = mic
        self.counters = counters
        self.wake = wake
        self._read = vec_reader()
        self._fill = vec_filler()
        counters.fast_path = self._read is _vec_bytes_fast and self._fill is _vec_fill_fast
        self._silence = pj.ByteVector(SILENCE_FRAME)
        self._audio_type = pj.PJMEDIA_FRAME_TYPE_AUDIO
        self._pinned = False

    def _pin_thread_state(self) -> None:
        self._pinned = True
        pin_python_thread_state()

    def create(self, name: str = "agent-bridge") -> None:
        fmt = pj.MediaFormatAudio()
        fmt.init(pj.PJMEDIA_FORMAT_PCM, RATE, 1, FRAME_MS * 1000, 16)
        self.createPort(name, fmt)
        keep_for_process(self)

    def onFrameReceived(self, frame: Any) -> None:
        try:
            if not self._pinned:
                self._pin_thread_state()
            if frame.type != self._audio_type:
                return  # NONE every tick when nothing is connected
            speaker, read, counters = self.speaker, self._read, self.counters
            if speaker is None or read is None or counters is None:
                return  # never expected: the object is kept for the process
            size = frame.size
            if size <= 0:
                return
            speaker.write(read(frame.buf, size))
            counters.frames_in += 1
            wake = self.wake
            if wake is not None:
                wake()
        except Exception:
            log.exception("onFrameReceived")

    def onFrameRequested(self, frame: Any) -> None:
        # Always an audio frame (silence when the microphone has nothing): DTMF and the
        # far end need audio going to the call even when idle.
        try:
            counters, mic, fill = self.counters, self.mic, self._fill
            if counters is None or mic is None or fill is None:
                return
            data = mic.read_frame(FRAME_BYTES, MIC_MAX_BYTES, MIC_TRIM_TO)
            if data is None:
                frame.buf = self._silence
                if counters.calls_attached:
                    counters.mic_gaps += 1
            else:
                fill(frame, data)
            frame.size = FRAME_BYTES
            frame.type = self._audio_type
            counters.frames_out += 1
        except Exception:
            log.exception("onFrameRequested")


_PINNED_THREADS: set[int] = set()
_KEPT_PORTS: list[Any] = []


def pin_python_thread_state() -> None:
    """Keep a Python thread state for the calling native thread's whole life.

    Callbacks from a thread Python did not start (pjmedia's clock thread; a QThread's
    event loop calling slots) run between PyGILState_Ensure/Release. Without a
    thread state that outlives them, each call creates and destroys one: about half of
    an empty callback's cost. One extra Ensure, never released, keeps the state (one
    small leak per thread). Measured: the clock thread's CPU per empty callback about
    halves; the audio thread's CPU in a call (tests/sip/audio_runner.py tone) see
    bench/results/audio_bridge.json."""
    ident = threading.get_ident()
    if ident in _PINNED_THREADS or not hasattr(ctypes, "pythonapi"):
        return
    _PINNED_THREADS.add(ident)
    with contextlib.suppress(Exception):
        ctypes.pythonapi.PyGILState_Ensure()


def keep_for_process(port: Any) -> None:
    """Never destroy this AudioMediaPort (Python subclass) while the process lives.

    `__disown__()` hands the C++ object to the SWIG director, which in turn holds a
    reference to the Python object: neither is ever freed, not by the cyclic GC, not at
    interpreter exit (a destructor after libDestroy() asserts in pjmedia). A disconnected
    conference port costs the clock nothing (the bridge skips ports without connections);
    the leak is one small object per port created. Call it after createPort()."""
    with contextlib.suppress(AttributeError):
        port.__disown__()
    _KEPT_PORTS.append(port)


class Waker:
    """Wakes the audio thread from pjmedia's clock thread without touching Qt there: one
    byte on a socket pair (a QSocketNotifier on the audio thread reads it). At most one
    byte is in flight; a lost race costs one 20 ms frame of delay, never a stall, because
    the next frame wakes again.

    Tried and dropped: no wake-ups while microphone reads (also every 20 ms) fed the
    speaker. It saved ~50 wake-ups a second, but a frame then waited up to 20 ms more
    before reaching the sink, and the 30 s tone call lost an isolated 20 ms block in 2
    runs of 5 (0 of 5 with a wake-up per frame, same machine and load)."""

    def __init__(self) -> None:
        self.rsock, self.wsock = socket.socketpair()
        self.rsock.setblocking(False)
        self.wsock.setblocking(False)
        self.pending = False

    def __call__(self) -> None:
        if not self.pending:
            self.pending = True
            with contextlib.suppress(OSError):  # full or closed: a wake-up is pending
                self.wsock.send(b"w")

    def drain(self) -> None:
        self.pending = False
        with contextlib.suppress(OSError):
            self.rsock.recv(4096)

    def close(self) -> None:
        self.rsock.close()
        self.wsock.close()


# ------------------------------------------------------------------ Qt side


def audio_format() -> QAudioFormat:
    fmt = QAudioFormat()
    fmt.setSampleRate(RATE)
    fmt.setChannelCount(1)
    fmt.setSampleFormat(QAudioFormat.SampleFormat.Int16)
    return fmt


def device_info(dev: QAudioDevice | None) -> dict[str, Any] | None:
    if dev is None or dev.isNull():
        return None
    return {
        "id": bytes(dev.id().data()).decode("utf-8", "replace"),
        "description": dev.description(),
        "is_default": dev.isDefault(),
    }


def _dev_id(dev: QAudioDevice | None) -> str | None:
    info = device_info(dev)
    return None if info is None else str(info["id"])


class SinkFillCap:
    """How full to keep a sink buffer that the sound server drains in its own cycles.

    The buffer must hold, at each of the server's cycles, what that cycle takes; anything
    more in it is latency that the bridge can no longer play away (its catch-up and trim act
    on its own ring). So the fill is capped at the most the server took between two of our
    looks (a quantum or two; 20 ms and a quantum when the ring waited for the call's next
    frame) in this or the last window, plus a margin, and never below `floor`. What the cap
    holds back waits in the bridge's ring, where the standing-latency bound sees it."""

    def __init__(
        self,
        ceiling: int,
        margin: int = SINK_FILL_MARGIN_BYTES,
        start: int = SINK_FILL_START_BYTES,
        window_s: float = SINK_FILL_WINDOW_S,
        floor: int = SINK_FILL_FLOOR_BYTES,
    ) -> None:
        self.ceiling = ceiling
        self.margin = margin
        self.floor = floor
        self.window_s = window_s
        self._queued_after: int | None = None  # in the buffer after our last look
        self._win_max = -1  # -1: nothing measured in this window (then the last one holds)
        self._last_max = start
        self._win_end = 0.0
        self.target = min(ceiling, start + margin)
        self.measured = False  # has a whole window measured the server's take yet?

    def room(self, queued: int, now: float) -> int:
        """Bytes that may be written now, with `queued` bytes in the sink buffer."""
        if self._queued_after is not None:
            self._win_max = max(self._win_max, self._queued_after - queued)
        if now >= self._win_end:
            if self._win_end and self._win_max >= 0:
                self._last_max, self._win_max = self._win_max, -1
                self.measured = True
            self._win_end = now + self.window_s
        taken = max(self._win_max, self._last_max)
        self.target = min(self.ceiling, max(self.floor, taken + self.margin))
        return max(0, self.target - queued)

    def looked(self, queued: int) -> None:
        """After a write (or none): `queued` bytes are in the buffer now."""
        self._queued_after = queued


class AudioIO(QObject):
    """Lives on the audio QThread: owns QAudioSink/QAudioSource; never touches pjsua2."""

    level_changed = Signal(float)
    opened = Signal(str, str)  # kind, device id ("" when closed)
    failed = Signal(str, str)  # kind, message

    def __init__(
        self,
        speaker: PcmRing,
        mic: PcmRing,
        counters: BridgeCounters,
        waker: Waker | None = None,
        aec: EchoCanceller | None = None,
    ) -> None:
        super().__init__()
        self.speaker_ring = speaker
        self.mic_ring = mic
        self.counters = counters
        self.waker = waker
        self.notifier: QSocketNotifier | None = None
        self.aec = aec
        self.aec_enabled = aec is not None
        self._far = bytearray()  # written to the sink, not yet used as AEC reference
        self._far_debt = 0  # far bytes to skip: their place in the reference was silence
        self._far_written_at = 0.0  # monotonic time of the last far audio queued
        self.aec_tap: list[tuple[bytes, bytes]] | None = None  # tests: (near, ref) pairs
        self._near = bytearray()  # microphone bytes short of a whole frame
        self.sink: QAudioSink | None = None
        self.sink_dev: Any = None
        self.source: QAudioSource | None = None
        self.source_dev: Any = None
        self.timer: QTimer | None = None
        self.refill: QTimer | None = None
        self._sink_buffer = 0
        self.want_out: QAudioDevice | None = None
        self.want_in: QAudioDevice | None = None
        self.running = False
        self.tone: ToneGenerator | None = None
        self.tone_until = 0.0
        self.meter = False
        self._starving = True
        self._level_acc = bytearray()
        self._speaker_standing = StandingLatency(
            SPEAKER_SLACK, SPEAKER_STANDING_MAX, STANDING_WINDOW_S
        )
        self._mic_standing = StandingLatency(
            MIC_SLACK_START, MIC_STANDING_MAX, STANDING_WINDOW_S
        )
        self._fill_cap: SinkFillCap | None = None  # see PIPEWIRE_SINK_BUFFER_BYTES

    # -- commands (queued from the GUI thread)
    @Slot()
    def setup(self) -> None:
        pin_python_thread_state()  # this runs on the audio thread (its started signal)
        self.timer = QTimer(self)
        self.timer.setTimerType(QTimer_precise())
        self.timer.setInterval(TONE_INTERVAL_MS)
        self.timer.timeout.connect(self.pump)
        self.refill = QTimer(self)
        self.refill.setSingleShot(True)
        self.refill.setTimerType(QTimer_precise())
        self.refill.setInterval(REFILL_MS)
        self.refill.timeout.connect(self.pump)
        if self.waker is not None:
            self.notifier = QSocketNotifier(
                self.waker.rsock.fileno(), QSocketNotifier.Type.Read, self
            )
            self.notifier.activated.connect(self._on_wake)

    @Slot(QAudioDevice, QAudioDevice)
    def set_devices(self, out_dev: QAudioDevice, in_dev: QAudioDevice) -> None:
        reopen_out = _dev_id(out_dev) != _dev_id(self.want_out)
        reopen_in = _dev_id(in_dev) != _dev_id(self.want_in)
        self.want_out, self.want_in = out_dev, in_dev
        if self.running:
            if reopen_out:
                self._open_sink()
            if reopen_in:
                self._open_source()

    @Slot(bool, bool)
    def set_running(self, speaker_on: bool, mic_on: bool) -> None:
        if speaker_on and self.sink is None:
            self._open_sink()
        elif not speaker_on and self.sink is not None:
            self._close_sink()
        if mic_on and self.source is None:
            self._open_source()
        elif not mic_on and self.source is not None:
            self._close_source()
        self.running = speaker_on or mic_on
        self._update_timer()

    def _update_timer(self) -> None:
        """The timer only feeds the test tone; call audio is fed when a frame arrives."""
        if self.timer is None:
            return
        want = self.running and self.tone is not None and self.sink is not None
        if want and not self.timer.isActive():
            self.timer.start()
        elif not want and self.timer.isActive():
            self.timer.stop()

    @Slot(float, float, float)
    def start_tone(self, freq: float, amplitude: float, seconds: float) -> None:
        self.tone = ToneGenerator(freq, amplitude)
        self.tone_until = time.monotonic() + seconds
        self._update_timer()

    @Slot()
    def stop_tone(self) -> None:
        self.tone = None
        self._update_timer()

    @Slot(bool)
    def set_aec(self, on: bool) -> None:
        self.aec_enabled = on and self.aec is not None
        self.reset_aec()

    @Slot()
    def reset_aec(self) -> None:
        """New call or new device: the echo path changed; forget it and the queued frames."""
        self._far.clear()
        self._far_debt = AEC_REFERENCE_LEAD_BYTES
        self._near.clear()
        if self.aec is not None and self.aec_enabled:
            self.aec.reset()

    @Slot(bool)
    def set_meter(self, on: bool) -> None:
        self.meter = on

    @Slot(bool, bool)
    def reopen(self, speaker: bool, microphone: bool) -> None:
        """Re-open the open streams named on the wanted devices (after a stream error or an
        unplug, or when the sound server may have moved them)."""
        if self.running:
            if speaker and self.sink is not None:
                self._open_sink()
            if microphone and self.source is not None:
                self._open_source()

    @Slot()
    def teardown(self) -> None:
        if self.notifier is not None:
            self.notifier.setEnabled(False)
            self.notifier.deleteLater()
            self.notifier = None
        if self.timer is not None:
            self.timer.stop()
        if self.refill is not None:
            self.refill.stop()
        self._close_sink()
        self._close_source()
        self.running = False

    # -- streams
    def _open_sink(self) -> None:
        self._close_sink()
        dev = self.want_out if self.want_out is not None else QMediaDevices.defaultAudioOutput()
        if dev.isNull():
            self.failed.emit(SPEAKER, "no audio output device")
            self.opened.emit(SPEAKER, "")
            return
        sink = QAudioSink(dev, audio_format(), self)
        cycles = sink_drained_in_cycles()
        sink.setBufferSize(PIPEWIRE_SINK_BUFFER_BYTES if cycles else sink_buffer_bytes())
        # Qt 6.12+ only (we pin <6.12 for now, see pyproject.toml): a short native period
        # is what keeps the sink buffer small without underruns.
        set_period = getattr(sink, "setNativePeriodFrameCount", None)
        if set_period is not None:
            set_period(NATIVE_PERIOD_FRAMES)
        sink.stateChanged.connect(self._sink_state)
        self.sink = sink
        self.sink_dev = sink.start()
        self._sink_buffer = sink.bufferSize()  # fixed once started; read per frame otherwise
        self._fill_cap = SinkFillCap(self._sink_buffer) if cycles else None
        self._starving = True
        self._speaker_standing.forget()
        self.reset_aec()
        self._update_timer()
        if sink.error() != QtAudio.Error.NoError:
            self.counters.sink_errors += 1
            self.failed.emit(SPEAKER, f"open failed: {sink.error().name}")
        self.opened.emit(SPEAKER, _dev_id(dev) or "")

    def _close_sink(self) -> None:
        if self.sink is not None:
            self.sink.stateChanged.disconnect(self._sink_state)
            self.sink.stop()
            self.sink.deleteLater()
        self.sink = None
        self.sink_dev = None
        self._sink_buffer = 0
        self._fill_cap = None

    def _open_source(self) -> None:
        self._close_source()
        dev = self.want_in if self.want_in is not None else QMediaDevices.defaultAudioInput()
        if dev.isNull():
            self.failed.emit(MICROPHONE, "no audio input device")
            self.opened.emit(MICROPHONE, "")
            return
        source = QAudioSource(dev, audio_format(), self)
        cycles = sink_drained_in_cycles()
        source.setBufferSize(PIPEWIRE_SOURCE_BUFFER_BYTES if cycles else SOURCE_BUFFER_BYTES)
        # For stats(): a captured sample waits half a fragment on average in Qt's buffer
        # (libpulse); under PipeWire half a graph cycle, which is not known here: left out.
        self.counters.source_wait_bytes = 0 if cycles else SOURCE_BUFFER_BYTES // 2
        # Qt 6.12+ only (we pin <6.12 for now, see pyproject.toml): a short native period
        # is what keeps the sink buffer small without underruns.
        set_period = getattr(source, "setNativePeriodFrameCount", None)
        if set_period is not None:
            set_period(NATIVE_PERIOD_FRAMES)
        self.source = source
        self.source_dev = source.start()
        self._mic_standing.forget()
        self._mic_standing.slack = MIC_SLACK_START
        self.reset_aec()
        if self.source_dev is not None:
            self.source_dev.readyRead.connect(self._read_mic)
        if source.error() != QtAudio.Error.NoError:
            self.counters.source_errors += 1
            self.failed.emit(MICROPHONE, f"open failed: {source.error().name}")
        self.opened.emit(MICROPHONE, _dev_id(dev) or "")

    def _close_source(self) -> None:
        if self.source is not None:
            if self.source_dev is not None:
                with contextlib.suppress(RuntimeError):
                    self.source_dev.readyRead.disconnect(self._read_mic)
            self.source.stop()
            self.source.deleteLater()
        self.source = None
        self.source_dev = None

    @Slot(QtAudio.State)
    def _sink_state(self, state: QtAudio.State) -> None:
        sink = self.sink
        if sink is None:
            return
        err = sink.error()
        if state == QtAudio.State.IdleState and err == QtAudio.Error.UnderrunError:
            self._starving = True
            if self.counters.calls_attached:
                self.counters.speaker_underruns += 1
        elif err in (QtAudio.Error.IOError, QtAudio.Error.FatalError, QtAudio.Error.OpenError):
            self.counters.sink_errors += 1
            self.failed.emit(SPEAKER, err.name)

    # -- feeding: a frame from the call wakes us (socket); the test tone runs on a timer;
    # the microphone is read on readyRead.
    @Slot()
    def _on_wake(self) -> None:
        try:
            if self.waker is not None:
                self.waker.drain()
            self._feed_speaker()
        except Exception:
            log.exception("audio wake")

    @Slot()
    def pump(self) -> None:
        try:
            self._feed_speaker()
            if self.tone is None:
                self._update_timer()
        except Exception:
            log.exception("audio pump")

    def _feed_speaker(self) -> None:
        sink, dev = self.sink, self.sink_dev
        if sink is None or dev is None:
            if self.speaker_ring.available > SPEAKER_MAX_BYTES:
                self.speaker_ring.trim_to(0)
            return
        free = sink.bytesFree()
        queued = max(0, self._sink_buffer - free)
        self.counters.sink_queued_bytes = queued
        cap = self._fill_cap
        if cap is not None and self.tone is None:
            free = min(free, cap.room(queued, time.monotonic()))
        free -= free % 2
        if self.tone is not None:
            self.speaker_ring.trim_to(0)  # the test tone replaces call audio
            if time.monotonic() > self.tone_until:
                self.tone = None
            elif free > 0:
                dev.write(self.tone.next_bytes(free))
            return
        ring = self.speaker_ring
        avail = ring.available
        if avail > SPEAKER_MAX_BYTES:
            self.counters.speaker_trimmed_bytes += ring.trim_to(SPEAKER_TRIM_TO)
            avail = ring.available
            self._speaker_standing.forget()
        # After a starvation, wait for what the sound server takes at once (a quantum above
        # 20 ms would otherwise find the buffer short again at once).
        prebuffer = SPEAKER_PREBUFFER
        if cap is not None and cap.measured:
            prebuffer = max(prebuffer, cap.target)
        if self._starving and avail < prebuffer:
            if cap is not None:
                cap.looked(queued)
            return
        n = min(free, avail)
        if n <= 0:
            if avail > 0 and sink.state() in _PLAYING:
                self._refill_soon()  # the sink is full: the rest once it has taken some
            if cap is not None:
                cap.looked(queued)
            return
        self._starving = False
        standing = self._speaker_standing
        drop = standing.drop_samples(n, avail - n) if standing.catch_up else 0
        if drop:
            self.counters.speaker_caught_up_bytes += drop * SAMPLE_BYTES
            data = shorten(ring.read(n + drop * SAMPLE_BYTES), drop)
        else:
            data = ring.read(n)
        written = dev.write(data)
        if 0 <= written < len(data):  # not expected (we asked for bytesFree)
            self.counters.speaker_trimmed_bytes += len(data) - written
        if cap is not None:
            cap.looked(queued + max(0, written))
        if self.aec_enabled and self.source_dev is not None and written > 0:
            far = self._far
            played = data[:written] if written < len(data) else data
            if self._far_debt:
                skip = min(self._far_debt, len(played))
                self._far_debt -= skip
                played = played[skip:]
            far += played
            self._far_written_at = time.monotonic()
            c = self.counters
            c.aec_ref_depth_max = max(c.aec_ref_depth_max, len(far))
            if len(far) > AEC_FAR_MAX_BYTES:
                c.aec_ref_trims += 1
                c.aec_ref_trimmed_bytes += len(far) - AEC_FAR_TRIM_TO
                self._aec_event("trim", len(far))
                del far[: len(far) - AEC_FAR_TRIM_TO]
            if len(self._near) >= FRAME_BYTES and self.counters.calls_attached:
                self._deliver_mic(self._cancel_echo(b""))  # frames waiting for this reference
        if ring.available:
            self._refill_soon()  # the sink took less than was waiting: the rest soon
        elif self.refill is not None and self.refill.isActive():
            self.refill.stop()  # all written (e.g. by a microphone read): nothing to refill
        self._bound_standing_latency(ring)

    def _refill_soon(self) -> None:
        # Without it, audio left waiting (the sink full or short of room) would wait for
        # the next call frame, 20 ms on: under PipeWire, whose server takes 5.3 ms at a
        # time from Qt's 20 ms buffer, that buffer then ran dry (pipewire-pulse 1.6 took
        # 1-4 % less than the call delivered, each shortfall a gap; latency grew to each trim).
        refill = self.refill
        if refill is not None and not refill.isActive():
            refill.start()

    def _bound_standing_latency(self, ring: PcmRing) -> None:
        """What stays in the ring after feeding the sink is pure added latency: see
        StandingLatency (cut beyond SPEAKER_STANDING_MAX, played away above SPEAKER_SLACK)."""
        left = ring.available
        standing = self._speaker_standing
        standing.observe(left)
        now = time.monotonic()
        if standing.due(now):
            cut = standing.end_window(now)
            if cut:
                self.counters.speaker_trimmed_bytes += ring.trim_to(left - cut)

    @Slot()
    def _read_mic(self) -> None:
        dev = self.source_dev
        if dev is None:
            return
        raw = dev.readAll()
        if raw.isEmpty():
            return
        data = bytes(raw.data())
        if self.counters.calls_attached:
            if self.aec_enabled and self.aec is not None:
                if self.speaker_ring.available:
                    self._feed_speaker()  # queue the freshest reference before pairing
                data = self._cancel_echo(data)
            self._deliver_mic(data)
        elif self.meter:
            self._meter(data)

    def _deliver_mic(self, data: bytes) -> None:
        if not data:
            return
        standing = self._mic_standing
        drop = standing.drop_samples(len(data), len(data)) if standing.catch_up else 0
        if drop:
            self.counters.mic_caught_up_bytes += drop * SAMPLE_BYTES
            data = shorten(data, drop)
        self.mic_ring.write(data)
        self._bound_mic_latency()
        if self.meter:
            self._meter(data)

    def _bound_mic_latency(self) -> None:
        """What pjmedia's reads left behind in the microphone ring, at its lowest over a
        window, beyond the slack: see StandingLatency and MIC_SLACK."""
        ring, standing = self.mic_ring, self._mic_standing
        now = time.monotonic()
        if not standing.due(now):
            return
        lowest = ring.take_lowest_left()
        if lowest is not None and standing.measuring:
            standing.observe(lowest)
            if standing.windows < 2:
                pass  # the stream's start: its first reads come short anyway
            elif lowest == 0:  # a read came short: keep more in hand for a while
                standing.slack = min(MIC_SLACK_MAX, standing.slack + MIC_SLACK_STEP)
                self.counters.mic_slack_raises += 1
            else:
                standing.slack = max(MIC_SLACK, standing.slack - MIC_SLACK_DECAY)
        cut = standing.end_window(now)
        if cut:
            self.counters.mic_trimmed_bytes += ring.trim_to(max(0, ring.available - cut))

    def _meter(self, data: bytes) -> None:
        if data:
            acc = self._level_acc
            acc += data
            if len(acc) >= LEVEL_BLOCK_BYTES:
                block = bytes(acc[-LEVEL_BLOCK_BYTES:])
                acc.clear()
                self.level_changed.emit(level_dbfs(block))

    def _aec_event(self, kind: str, depth: int) -> None:
        """Keep the first reference-queue events (diagnostics: when the alignment moved)."""
        events = self.counters.extra.setdefault("aec_ref_events", [])
        if len(events) < 200:
            events.append((round(time.monotonic(), 3), kind, depth))

    def _cancel_echo(self, data: bytes) -> bytes:
        """Whole 20 ms microphone frames through the canceller, each with the next far-end
        frame written to the sink before it (silence when nothing was played): the
        reference always leads its echo. A partial frame waits for the next read."""
        aec = self.aec
        assert aec is not None
        near = self._near
        near += data
        usable = len(near) - len(near) % FRAME_BYTES
        if not usable:
            return b""
        far = self._far
        out = []
        speaker_playing = time.monotonic() - self._far_written_at < AEC_SPEAKER_IDLE_S
        done = 0
        for i in range(0, usable, FRAME_BYTES):
            if len(far) >= FRAME_BYTES:
                ref = bytes(far[:FRAME_BYTES])
                del far[:FRAME_BYTES]
            elif speaker_playing and usable - i <= AEC_NEAR_WAIT_BYTES:
                break  # its reference is on the way: wait for the next sink write
            else:
                # Short: pad with silence and skip as much of the next far audio.
                self.counters.aec_ref_missing += 1
                self._aec_event("missing", len(far))
                ref = bytes(far) + SILENCE_FRAME[len(far) :]
                self._far_debt += FRAME_BYTES - len(far)
                far.clear()
                if self._far_debt > AEC_FAR_MAX_BYTES:  # the speaker stopped: start afresh
                    self._far_debt = 0
            frame = bytes(near[i : i + FRAME_BYTES])
            if self.aec_tap is not None:
                self.aec_tap.append((frame, ref))
            out.append(aec.process(frame, ref))
            done = i + FRAME_BYTES
        del near[:done]
        return b"".join(out)


def requested_server_latency_ms() -> int | None:
    """What this process asked the sound server for (`PULSE_LATENCY_MSEC`, set by
    agent_desktop.audio_env or an administrator); None when unset or not a whole number of
    milliseconds (libpulse ignores such a value too)."""
    try:
        latency = int(os.environ["PULSE_LATENCY_MSEC"])
    except (KeyError, ValueError):
        return None
    return latency if latency > 0 else None


def sink_drained_in_cycles() -> bool:
    """Does the sound server take its cycles' audio straight from Qt's sink buffer (Qt's
    native PipeWire backend), rather than from a buffer of its own that Qt fills (libpulse)?
    Known once Qt Multimedia has listed the devices (its threads tell the backend)."""
    return qt_audio_backend() == "pipewire"


def sink_buffer_bytes() -> int:
    """Qt's sink buffer: one frame when the sound server was asked for 20 ms or less,
    else the 40 ms that its default buffering needs."""
    latency = requested_server_latency_ms()
    if latency is not None and latency <= 20:
        return SINK_BUFFER_BYTES_LOW_LATENCY
    return SINK_BUFFER_BYTES


def server_latency_ms() -> float:
    """The sound server's buffering for our streams: the latency asked for when set, else
    the device's native period (an estimate)."""
    latency = requested_server_latency_ms()
    return latency if latency is not None else NATIVE_PERIOD_FRAMES * 1000 / RATE


def probe_device(dev: QAudioDevice, is_input: bool) -> bool:
    """Can a stream be opened on this device now? (Opening a removed Pulse sink fails at
    once with OpenError; about 6 ms when present.) Created and destroyed on the caller's
    thread."""
    stream: QAudioSink | QAudioSource = (
        QAudioSource(dev, audio_format()) if is_input else QAudioSink(dev, audio_format())
    )
    try:
        stream.start()
        return stream.error().name == "NoError"
    finally:
        stream.stop()
        stream.deleteLater()


def QTimer_precise() -> Any:
    from PySide6.QtCore import Qt

    return Qt.TimerType.PreciseTimer


# ------------------------------------------------------------------ the bridge


@dataclass
class _Attached:
    media: Any  # pj.AudioMedia of the call


class AudioBridge(QObject):
    """Call audio <-> the agent's devices. Lives on (and is called on) the pjsua2/GUI thread."""

    devices_changed = Signal()  # the device lists changed (re-read devices())
    active_devices_changed = Signal(dict)  # {kind: {id, description, is_default, pinned, fallback}}
    level_changed = Signal(float)  # microphone level, dBFS, ~20 Hz while the meter is on
    underrun = Signal(int)  # speaker underruns so far (emitted when it grows)
    overrun = Signal(int)  # bytes trimmed/dropped so far (emitted when it grows)
    error = Signal(str, str)  # kind, message

    _io_set_devices = Signal(QAudioDevice, QAudioDevice)
    _io_set_running = Signal(bool, bool)
    _io_tone = Signal(float, float, float)
    _io_stop_tone = Signal()
    _io_meter = Signal(bool)
    _io_reopen = Signal(bool, bool)  # speaker, microphone
    _io_teardown = Signal()
    _io_aec = Signal(bool)
    _io_aec_reset = Signal()

    def __init__(self, parent: QObject | None = None, *, aec: bool = True) -> None:
        """`aec`: cancel the speaker's echo in the microphone signal (WebRTC AEC3, see
        aec.py); False for headsets or tests. Switchable later with set_aec_enabled()."""
        super().__init__(parent)
        self.counters = BridgeCounters()
        self.waker = Waker()
        # Created even when disabled, so that it can be switched on mid-call.
        self.aec = EchoCanceller(backend="auto")
        self._aec_on = aec
        self.speaker_ring = PcmRing(SPEAKER_RING_BYTES)
        self.mic_ring = PcmRing(MIC_RING_BYTES)
        self.port: BridgePort | None = None
        self.calls: dict[Any, _Attached] = {}
        self.pinned: dict[str, str | None] = dict.fromkeys(KINDS)
        self.active: dict[str, dict[str, Any] | None] = dict.fromkeys(KINDS)
        self._opened: dict[str, str] = {}
        self._snapshot: tuple[Any, ...] = ()
        self._meter = False
        self._tone_until = 0.0
        self._last_underruns = 0
        self._last_overruns = 0
        self._ring_effect: QSoundEffect | None = None
        self._ring_file: Path | None = None
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        self._started_at = time.monotonic()
        self._closed = False
        # Pinned devices found unplugged by a probe while Qt still lists them (Linux/Pulse:
        # an unplug emits nothing and the list stays stale until the next change).
        self._gone: set[tuple[bool, str]] = set()

        self.media = QMediaDevices(self)
        self.media.audioOutputsChanged.connect(self._on_media_signal)
        self.media.audioInputsChanged.connect(self._on_media_signal)

        self.thread_ = QThread()
        self.thread_.setObjectName("audio-io")
        self.io = AudioIO(
            self.speaker_ring, self.mic_ring, self.counters, waker=self.waker, aec=self.aec
        )
        self.io.aec_enabled = aec
        self.io.moveToThread(self.thread_)
        self.thread_.started.connect(self.io.setup)
        self._io_set_devices.connect(self.io.set_devices)
        self._io_set_running.connect(self.io.set_running)
        self._io_tone.connect(self.io.start_tone)
        self._io_stop_tone.connect(self.io.stop_tone)
        self._io_meter.connect(self.io.set_meter)
        self._io_reopen.connect(self.io.reopen)
        self._io_teardown.connect(self.io.teardown)
        self._io_aec.connect(self.io.set_aec)
        self._io_aec_reset.connect(self.io.reset_aec)
        self.io.level_changed.connect(self._on_level)
        self.io.opened.connect(self._on_opened)
        self.io.failed.connect(self._on_failed)
        self.thread_.start(QThread.Priority.TimeCriticalPriority)

        self.verify_timer = QTimer(self)
        self.verify_timer.setInterval(VERIFY_INTERVAL_MS)
        self.verify_timer.timeout.connect(self._verify)
        self.verify_timer.start()
        self._refresh(force=True)

    # -- calls (pjsua2 thread)
    def attach(self, call_key: Any, audio_media: Any) -> None:
        """Connect a call's audio media to the devices, both ways (idempotent per key)."""
        if self._closed:
            raise RuntimeError("AudioBridge is shut down")
        if call_key in self.calls:
            self._disconnect(self.calls.pop(call_key))
        port = self._ensure_port()
        audio_media.startTransmit(port)
        port.startTransmit(audio_media)
        self.calls[call_key] = _Attached(audio_media)
        if not self.counters.calls_attached:
            self.speaker_ring.clear()
            self.mic_ring.clear()
        self._io_aec_reset.emit()  # a new (or re-negotiated) call: a new echo path
        self.counters.calls_attached = True
        self._update_running()

    def detach(self, call_key: Any) -> None:
        """Disconnect a call's media (hold, media gone, DISCONNECTED). Unknown keys are ignored."""
        att = self.calls.pop(call_key, None)
        if att is not None:
            self._disconnect(att)
        self.counters.calls_attached = bool(self.calls)
        self._update_running()

    def _disconnect(self, att: _Attached) -> None:
        port = self.port
        if port is None:
            return
        for src, dst in ((att.media, port), (port, att.media)):
            try:
                src.stopTransmit(dst)
            except pj.Error as exc:  # media already gone with its call
                log.debug("stopTransmit: %s", exc.info())

    def _ensure_port(self) -> BridgePort:
        if self.port is None:
            port = BridgePort(self.speaker_ring, self.mic_ring, self.counters, self.waker)
            port.create()
            self.port = port
        return self.port

    def shutdown(self) -> None:
        """Staged quit, on the pjsua2 thread before libDestroy: detach every call, stop
        the audio thread. The port is kept (see BridgePort); nothing to wait for."""
        if self._closed:
            return
        self._closed = True
        for key in list(self.calls):
            self.detach(key)
        # The port is NOT dropped (see BridgePort: destroying it while the library lives,
        # or after libDestroy, crashes): it stays disconnected, registered until
        # libDestroy, and is kept for the process. It no longer wakes the audio thread.
        if self.port is not None:
            self.port.wake = None
        self.verify_timer.stop()
        self.stop_ringing()
        self._io_teardown.emit()
        self.thread_.quit()
        self.thread_.wait(3000)
        self.waker.close()
        if self._tmpdir is not None:
            self._tmpdir.cleanup()

    # -- devices (GUI thread)
    def devices(self, kind: str) -> list[dict[str, Any]]:
        """Present devices of a kind: [{id, description, is_default}]."""
        devs = QMediaDevices.audioInputs() if kind == MICROPHONE else QMediaDevices.audioOutputs()
        return [d for d in (device_info(x) for x in devs) if d is not None]

    def set_device(self, kind: str, device_id: str | None) -> None:
        """Pin a device by id, or None to follow the system default."""
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}")
        self.pinned[kind] = device_id
        self._refresh(force=True)

    def active_devices(self) -> dict[str, dict[str, Any] | None]:
        return dict(self.active)

    def _resolve(self, kind: str) -> tuple[QAudioDevice, bool]:
        """(device to use, fallback?): the pinned one while present, else the default."""
        if kind == MICROPHONE:
            devs, default = QMediaDevices.audioInputs(), QMediaDevices.defaultAudioInput()
        else:
            devs, default = QMediaDevices.audioOutputs(), QMediaDevices.defaultAudioOutput()
        pinned = self.pinned[kind]
        is_input = kind == MICROPHONE
        if pinned is not None:
            if (is_input, pinned) not in self._gone:
                for d in devs:
                    if _dev_id(d) == pinned:
                        return d, False
            return default, True
        return default, False

    @Slot()
    def _on_media_signal(self) -> None:
        self._gone.clear()  # a real change: trust the fresh list again
        self._refresh()

    @Slot()
    def _verify(self) -> None:
        """Periodic: probe pinned devices Qt still lists (unplug may have gone unnoticed)."""
        for kind in KINDS:
            pinned = self.pinned[kind]
            is_input = kind == MICROPHONE
            if pinned is None or (is_input, pinned) in self._gone:
                continue
            devs = QMediaDevices.audioInputs() if is_input else QMediaDevices.audioOutputs()
            dev = next((d for d in devs if _dev_id(d) == pinned), None)
            if dev is not None and not probe_device(dev, is_input):
                log.info("audio device %s is gone (probe failed); falling back", pinned)
                self._gone.add((is_input, pinned))
        self._refresh()
        self._emit_counters()

    def _refresh(self, force: bool = False) -> None:
        """Re-query QMediaDevices; re-point the streams when the wanted device changed."""
        outs = tuple((_dev_id(d), d.isDefault()) for d in QMediaDevices.audioOutputs())
        ins = tuple((_dev_id(d), d.isDefault()) for d in QMediaDevices.audioInputs())
        snapshot = (outs, ins)
        lists_changed = snapshot != self._snapshot
        self._snapshot = snapshot
        if lists_changed and not force:
            self.devices_changed.emit()
        out_dev, out_fb = self._resolve(SPEAKER)
        in_dev, in_fb = self._resolve(MICROPHONE)
        ring_dev, ring_fb = self._resolve(RINGER)
        active: dict[str, dict[str, Any] | None] = {}
        for kind, dev, fb in (
            (SPEAKER, out_dev, out_fb),
            (MICROPHONE, in_dev, in_fb),
            (RINGER, ring_dev, ring_fb),
        ):
            info = device_info(dev)
            if info is not None:
                info.update(pinned=self.pinned[kind], fallback=fb)
            active[kind] = info
        # PulseAudio 16 and pipewire-pulse move a stream that plays on the default device to
        # the new default, even one opened on that device by name (measured: a pinned call
        # then played on the new default sink with the new default microphone). Opened again
        # while its device is not the default, it stays. (Qt's own PipeWire backend keeps it;
        # there the reopen costs a few ms of audio, when the default changes.)
        moved_away = []
        for kind in KINDS:
            now, before = active[kind] or {}, self.active.get(kind) or {}
            if (self.pinned[kind] is not None and now and not now["fallback"]
                    and not now["is_default"] and before.get("is_default")
                    and before.get("id") == now["id"]):  # fmt: skip
                moved_away.append(kind)
        if moved_away:
            log.info("audio: %s pinned to a device that stopped being the default: opened "
                     "again there (the sound server moves the default's streams along)",
                     ", ".join(moved_away))  # fmt: skip
        if active != self.active or force:
            changed_streams = any(
                (active[k] or {}).get("id") != (self.active.get(k) or {}).get("id")
                for k in (SPEAKER, MICROPHONE)
            )
            ringer_changed = (active[RINGER] or {}).get("id") != (
                self.active.get(RINGER) or {}
            ).get("id")
            self.active = active
            if changed_streams or force:
                self._io_set_devices.emit(out_dev, in_dev)
            if SPEAKER in moved_away or MICROPHONE in moved_away:
                self._io_reopen.emit(SPEAKER in moved_away, MICROPHONE in moved_away)
            if (ringer_changed or RINGER in moved_away) and self._ring_effect is not None:
                self._restart_ringer(ring_dev)
            self.active_devices_changed.emit(self.active_devices())

    # -- settings screen (GUI thread)
    def start_test_tone(
        self, freq: float = 440.0, amplitude: float = 0.3, seconds: float = 2.0
    ) -> None:
        """Play a tone on the speaker device (replaces call audio while it plays)."""
        self._tone_until = time.monotonic() + seconds
        self._io_tone.emit(freq, amplitude, seconds)
        self._update_running()
        QTimer.singleShot(int(seconds * 1000) + 50, self._update_running)

    def set_aec_enabled(self, on: bool) -> None:
        """Echo cancellation on/off (off: microphone audio goes to the call unchanged)."""
        self._aec_on = on
        self._io_aec.emit(on)

    def aec_enabled(self) -> bool:
        return self._aec_on

    def stop_test_tone(self) -> None:
        self._tone_until = 0.0
        self._io_stop_tone.emit()
        self._update_running()

    def set_meter_enabled(self, on: bool) -> None:
        """Open the microphone and emit level_changed (~20 Hz) even without a call."""
        self._meter = on
        self._io_meter.emit(on)
        self._update_running()

    def start_ringing(self, wav: Path | None = None, volume: float = 1.0) -> None:
        """Loop a ringtone on the ringer device (its own QSoundEffect)."""
        self._ring_file = wav or self._default_ringtone()
        dev, _fb = self._resolve(RINGER)
        self._restart_ringer(dev, volume)

    def stop_ringing(self) -> None:
        if self._ring_effect is not None:
            self._ring_effect.stop()
            self._ring_effect.deleteLater()
            self._ring_effect = None

    def is_ringing(self) -> bool:
        """A ring was started and not stopped. Not QSoundEffect.isPlaying(): that is False
        while the ringtone still loads, and a call answered meanwhile (a header's auto-answer,
        tens of ms) then never stopped a ring that began a moment later and looped on."""
        return self._ring_effect is not None

    def _restart_ringer(self, dev: QAudioDevice, volume: float | None = None) -> None:
        vol = (
            volume
            if volume is not None
            else (self._ring_effect.volume() if self._ring_effect is not None else 1.0)
        )
        self.stop_ringing()
        if self._ring_file is None:
            return
        effect = QSoundEffect(dev, self)  # plays only on this device (measured)
        effect.setSource(QUrl.fromLocalFile(str(self._ring_file)))
        effect.setLoopCount(QSoundEffect.Loop.Infinite.value)
        effect.setVolume(vol)
        effect.play()
        self._ring_effect = effect

    def _default_ringtone(self) -> Path:
        if self._tmpdir is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="agent-ring-")
        path = Path(self._tmpdir.name) / "ring.wav"
        if not path.exists():
            write_ringtone(path)
        return path

    # -- stats
    def stats(self) -> dict[str, Any]:
        c = self.counters
        speaker_ms = bytes_to_ms(self.speaker_ring.available + c.sink_queued_bytes)
        mic_ms = bytes_to_ms(self.mic_ring.available)
        return {
            "frames_in": c.frames_in,
            "frames_out": c.frames_out,
            "speaker_underruns": c.speaker_underruns,
            "mic_gaps": c.mic_gaps,
            "speaker_dropped_bytes": self.speaker_ring.dropped,
            "speaker_caught_up_ms": round(bytes_to_ms(c.speaker_caught_up_bytes), 1),
            "mic_caught_up_ms": round(bytes_to_ms(c.mic_caught_up_bytes), 1),
            "mic_trimmed_ms": round(bytes_to_ms(c.mic_trimmed_bytes), 1),
            "mic_slack_raises": c.mic_slack_raises,
            "mic_dropped_bytes": self.mic_ring.dropped,
            "sink_errors": c.sink_errors,
            "source_errors": c.source_errors,
            "fast_path": c.fast_path,
            # Buffered in the bridge now (rings + Qt's sink buffer), plus one pjmedia frame
            # and the device's native period: an estimate, not a measurement.
            "added_latency_ms": {
                "speaker": round(speaker_ms + FRAME_MS + server_latency_ms(), 1),
                "microphone": round(mic_ms + FRAME_MS + bytes_to_ms(c.source_wait_bytes), 1),
            },
            "calls": len(self.calls),
            "aec": self._aec_stats(),
            "speaker_ring": {
                "written": self.speaker_ring.written,
                "read": self.speaker_ring.read_total,
                "dropped": self.speaker_ring.dropped,
                "now": self.speaker_ring.available,
            },
            "mic_ring": {
                "written": self.mic_ring.written,
                "read": self.mic_ring.read_total,
                "dropped": self.mic_ring.dropped,
                "now": self.mic_ring.available,
            },
        }

    def _aec_stats(self) -> dict[str, Any]:
        st = self.aec.stats()
        return {
            "enabled": self._aec_on,
            "backend": st.backend,
            "active": st.active and self._aec_on,
            "frames": st.frames,
            "erle_db": None if st.erle_db is None else round(st.erle_db, 1),
            "mean_process_us": round(st.mean_process_us, 1),
            "mean_process_cpu_us": round(st.mean_process_cpu_us, 1),
            "skipped_frames": st.skipped_frames,
            "replayed_frames": st.replayed_frames,
            "echo_delay_ms": st.echo_delay_ms,
            "reference_moves": st.reference_moves,
            "reference_offset_ms": st.reference_offset_ms,
            "echo_free": st.echo_free,
            "echo_free_frames": st.echo_free_frames,
            "echo_free_entries": st.echo_free_entries,
            "ref_missing": self.counters.aec_ref_missing,
            "ref_trims": self.counters.aec_ref_trims,
            "ref_trimmed_ms": bytes_to_ms(self.counters.aec_ref_trimmed_bytes),
            "ref_depth_max_ms": bytes_to_ms(self.counters.aec_ref_depth_max),
            "ref_events": list(self.counters.extra.get("aec_ref_events", [])),
        }

    def _emit_counters(self) -> None:
        c = self.counters
        if c.speaker_underruns != self._last_underruns:
            self._last_underruns = c.speaker_underruns
            self.underrun.emit(c.speaker_underruns)
        over = self.speaker_ring.dropped + self.mic_ring.dropped
        if over != self._last_overruns:
            self._last_overruns = over
            self.overrun.emit(over)

    # -- internals
    def _update_running(self) -> None:
        tone = time.monotonic() < self._tone_until
        active = bool(self.calls)
        self._io_set_running.emit(active or tone, active or self._meter)

    @Slot(float)
    def _on_level(self, dbfs: float) -> None:
        self.level_changed.emit(dbfs)

    @Slot(str, str)
    def _on_opened(self, kind: str, device_id: str) -> None:
        self._opened[kind] = device_id

    @Slot(str, str)
    def _on_failed(self, kind: str, message: str) -> None:
        log.warning("audio %s: %s", kind, message)
        self.error.emit(kind, message)

    def opened_devices(self) -> dict[str, str]:
        """Device ids the audio thread has streams open on (what is really in use)."""
        return dict(self._opened)


def write_ringtone(path: Path, rate: int = 16000) -> None:
    """A plain 2 s ring cycle: 425 Hz for 1 s, then 1 s of silence."""
    from array import array

    on = [round(8000 * math.sin(2 * math.pi * 425 * i / rate)) for i in range(rate)]
    pcm = array("h", on + [0] * rate)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


__all__ = [
    "KINDS",
    "MICROPHONE",
    "RINGER",
    "SPEAKER",
    "AudioBridge",
    "AudioIO",
    "BridgeCounters",
    "BridgePort",
    "vec_filler",
    "vec_reader",
]
