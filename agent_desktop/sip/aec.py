"""Acoustic echo cancellation for the audio bridge (16 kHz mono s16le, 20 ms frames).

The pjsua2 wheels run on the null sound device, so pjsua's own canceller is never applied: the
bridge (pjsua2 AudioMediaPort <-> Qt Multimedia) calls :class:`EchoCanceller` itself, with the
frame it hands to the speaker as the far-end reference and the microphone frame as near end.

Backend: WebRTC AEC3 through ``pywebrtc-audio`` (PyPI, Apache-2.0, wheels for Linux x86_64 and
aarch64, macOS and Windows x86_64, CPython 3.10-3.14, needs numpy; the C++ work runs with the GIL
released). Chosen after measuring every option on this machine (2-core x86_64, CPython 3.11) with
the scenario of ``tests/sip/test_aec.py``: speech-like far end at -20 dBFS, echo path = bulk delay
+ 80 ms decaying random room response at -6 dB + noise at -70 dBFS; ERLE over seconds 2-5;
double talk = 440 Hz near-end tone at -26 dBFS, its level at the output minus its level alone:

=============================== ============== ============== ============= ===========
backend                         ERLE 60/150/   ERLE steady    double talk   us / frame
                                250 ms delay   1 kHz tone     (tone level)  (20 ms)
=============================== ============== ============== ============= ===========
WebRTC AEC3, pywebrtc-audio 0.2 28 / 28 / 45   1              -0.7 dB       115
WebRTC AEC3, livekit 1.2.1 APM  42 / 43 / 45   3              -0.8 dB       100
pjmedia WebRTC AEC1 (ctypes,    1 / 24 / 2     39             -5 to -8 dB   40
wheel .so), tail 200 ms
pjmedia Speex (ctypes), 256 ms  31 / 19 / 16   47-52          -6 to -7 dB   70
=============================== ============== ============== ============= ===========

Through this class (bytes in/out, ERLE bookkeeping included): 28 dB at 60 and 150 ms, double
talk -0.9 dB, 115-175 us per frame, i.e. < 1 % of one core at 50 frames/s.

* pjmedia (``pjmedia_echo_create2`` + ``pjmedia_echo_cancel`` through ctypes, pool from
  ``pj_init`` + ``pj_caching_pool_init`` + ``pj_pool_create``, ``PJMEDIA_ECHO_NO_LOCK``) works on
  Linux, where the wheel's .so exports pjmedia, Speex and WebRTC AEC1 symbols (no AEC3 code);
  but AEC1's delay-agnostic mode needs 5-10 s to lock (ERLE erratic), Speex's residual
  suppressor costs 6 dB of near-end speech in double talk, and the Windows wheel
  (``pjsua2-wheel`` 2.15.3) exports only ``PyInit__pjsua2`` and has no WebRTC AEC: not portable.
* livekit's APM cancels as well as pywebrtc-audio, but is an 11-12 MB real-time SDK with
  protobuf/aiohttp dependencies for one class. ``webrtc-apm`` and ``aec-audio-processing`` ship
  Windows wheels only; ``webrtc-audio-processing`` (2019) and ``speexdsp`` (2018) are stale.
* AEC3 finds the bulk delay itself: reliable for 0-500 ms, erratic at 600-700 ms, lost from
  800 ms (3-4 dB). Its linear filter length is fixed by AEC3 (not exposed by the binding), so
  there is no tail setting: an 80 ms room tail behind the bulk delay is measured above. A longer
  speaker->microphone path is handled by ``reference_delay_ms`` (1000 ms path with 850 ms of
  reference delay: 47 dB).
* Known limit: AEC3 treats a steady pure tone as narrow-band render and mostly leaves it: 300 Hz
  31-36 dB and 440 Hz 34-39 dB, but 600, 1000, 1100, 1209, 1500, 2000 Hz only 1-5 dB (697 Hz 16).
  Speech, beeps (1 kHz on/off: 38 dB after 4 s) and music are cancelled. Echo acceptance tests
  must use speech-like far-end audio, not a steady 1 kHz tone.

What the bridge must do:

* Call :meth:`EchoCanceller.process` once per 20 ms microphone frame, from any one thread at a
  time (calls are serialised by a lock), with the far-end frame most recently *written to the
  speaker* (silence, or ``None``, when nothing was played). Never pass a far frame later than the
  microphone frame that may contain its echo: the reference must lead the echo (causality).
* The speaker->microphone delay (sink buffer + acoustic path + source buffer, 40-200 ms here) is
  found by AEC3 as long as it stays within ~500 ms; ``stream_delay_ms`` may carry the bridge's
  own estimate as a hint. If the path is longer (large device buffers), set
  ``reference_delay_ms`` to the fixed excess: the reference is then delayed by that much inside.
* Call :meth:`EchoCanceller.reset` when the speaker or microphone device changes (the echo path
  changed) and at the start of a call.

If the backend cannot be loaded or fails at run time, the canceller logs one warning and passes
the microphone audio through unchanged: it never raises out of :meth:`process` for that.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

from agent_desktop.sip.echo_delay import EchoDelayLock, EchoPresence, move_reference
from agent_desktop.sip.pcm import numpy_module

SAMPLE_RATE = 16_000
FRAME_SAMPLES = 320
FRAME_BYTES = FRAME_SAMPLES * 2
MAX_REFERENCE_DELAY_MS = 2_000

_LOG = logging.getLogger(__name__)

# Far-end frames quieter than this (mean square of s16 samples, about -50 dBFS) do not count
# towards the ERLE estimate: there is no echo to measure.
_FAR_ACTIVE_POWER = (32768.0 * 10 ** (-50 / 20)) ** 2
# The echo lags the reference by the speaker->microphone delay: a frame counts as "far end
# active" if any reference frame of the last 0.5 s was.
_FAR_ACTIVE_WINDOW = 25
# Quiet far end (every reference frame of the window below _FAR_ACTIVE_POWER): the backend
# is skipped and the microphone frame passes unchanged; the last frames skipped are replayed
# through it when far audio comes back (AEC3's delay search looks up to ~500 ms back, its
# linear filter a few tens of ms around the delay: 300 ms of true history is enough).
_REPLAY_FRAMES = 15
# Smoothing of the ERLE powers: about 1 s at 50 frames/s.
_ERLE_ALPHA = 0.02
# ...sampled every this many frames (two mean squares: ~40 us a frame in a call, for a
# statistic averaged over a second anyway).
_ERLE_EVERY = 4
_ERLE_MIN_FRAMES = 25


class _Backend(Protocol):
    name: str

    def process(self, near: bytes, far: bytes) -> bytes: ...

    def reset(self) -> None: ...

    def set_stream_delay_ms(self, ms: int) -> None: ...


class _WebRtcAec3:
    """WebRTC AEC3 through pywebrtc-audio; one instance per canceller, not thread-safe."""

    def __init__(self, stream_delay_ms: int) -> None:
        import numpy as np
        import pywebrtc_audio

        self._np = np
        self._ec: Any = pywebrtc_audio.EchoCanceller(
            sample_rate=SAMPLE_RATE, num_channels=1, stream_delay_ms=stream_delay_ms
        )
        version = getattr(pywebrtc_audio, "__version__", "?")
        self.name = f"webrtc-aec3 (pywebrtc-audio {version})"

    def process(self, near: bytes, far: bytes) -> bytes:
        np = self._np
        out = self._ec.process(np.frombuffer(near, dtype=np.int16), np.frombuffer(far, np.int16))
        return bytes(np.ascontiguousarray(out, dtype=np.int16).tobytes())

    def reset(self) -> None:
        self._ec.reset()

    def set_stream_delay_ms(self, ms: int) -> None:
        self._ec.stream_delay_ms = ms


@dataclass(frozen=True)
class AecStats:
    """A snapshot of the canceller's state for logs and the call-quality view."""

    backend: str
    active: bool
    frames: int
    far_active_frames: int
    erle_db: float | None
    """Echo return loss enhancement estimate (microphone power / output power while the far end
    is active, smoothed over about 1 s). Under-estimates during double talk; None until about
    0.5 s of far-end activity has been seen."""
    mean_process_us: float
    mean_process_cpu_us: float = 0.0
    """CPU time of the calling thread per processed frame (wall time above includes waits
    for the GIL, which the backend releases while it works)."""
    skipped_frames: int = 0
    """Frames passed through unprocessed because the far end was quiet (skip_quiet) or
    the microphone did not hear it (idle_without_echo)."""
    replayed_frames: int = 0
    """Skipped frames fed to the backend afterwards, when far audio came back."""
    echo_delay_ms: float | None = None
    """The echo delay the backend sees (held constant by the delay lock), once measured."""
    reference_moves: int = 0
    """Times the delay lock moved the reference after the echo delay jumped."""
    reference_offset_ms: float = 0.0
    """Delay the lock has added to the reference now."""
    echo_free: bool = False
    """The microphone hears no echo of the far end (a headset): the backend idles."""
    echo_free_frames: int = 0
    """Frames passed through unprocessed for that reason (also in skipped_frames)."""
    echo_free_entries: int = 0
    """Times the canceller found the path echo-free (again, after an echo came back)."""


def preload_backend() -> None:
    """Import the WebRTC backend (numpy + pywebrtc-audio, ~50-70 ms) now, e.g. on a worker
    thread, so that creating an :class:`EchoCanceller` later is quick; missing: no error
    here (the canceller then says so itself)."""
    try:
        import numpy  # noqa: F401
        import pywebrtc_audio  # noqa: F401
    except ImportError:
        pass


def _mean_square(frame: bytes) -> float:
    np = numpy_module()
    samples = np.frombuffer(frame, dtype=np.int16).astype(np.float32)
    return float(np.dot(samples, samples)) / max(1, int(samples.size))


class EchoCanceller:
    """Removes the speaker's echo from microphone frames; thread-agnostic (serialised by a lock).

    ``backend``: ``"auto"`` (WebRTC AEC3 if available, else pass-through), ``"webrtc"`` (same, but
    says so if it falls back) or ``"passthrough"`` (no cancellation, for headsets or tests).
    ``stream_delay_ms``: the bridge's estimate of the speaker->microphone delay, a hint for AEC3.
    ``reference_delay_ms``: extra delay applied to the far-end reference inside the canceller, for
    speaker->microphone paths longer than the ~500 ms that AEC3's delay estimator covers.
    ``skip_quiet``: while the far end has been quiet (below -50 dBFS) for 0.5 s there is no
    echo to cancel: the backend is not run (the microphone frame passes unchanged) and the
    frames are replayed through it when far audio returns. About half of a conversation's
    frames, at ~0.13-0.25 ms of CPU each.
    ``lock_echo_delay``: keep the echo delay the backend sees constant when the devices
    glitch (see :mod:`agent_desktop.sip.echo_delay`).
    ``idle_without_echo`` (needs ``lock_echo_delay``, whose measurements it uses): once
    ~5 s of far-end audio have shown no echo of it in the microphone (a headset), the
    backend is not run until an echo shows again, as with a quiet far end (the frames are
    replayed through it then). See :class:`agent_desktop.sip.echo_delay.EchoPresence`.
    """

    def __init__(
        self,
        *,
        backend: str = "auto",
        stream_delay_ms: int = 0,
        reference_delay_ms: int = 0,
        skip_quiet: bool = True,
        lock_echo_delay: bool = True,
        idle_without_echo: bool = True,
        logger: logging.Logger | None = None,
    ) -> None:
        if backend not in ("auto", "webrtc", "passthrough"):
            raise ValueError(f"unknown AEC backend {backend!r}")
        if not 0 <= stream_delay_ms <= 1000:
            raise ValueError("stream_delay_ms must be within 0..1000")
        if not 0 <= reference_delay_ms <= MAX_REFERENCE_DELAY_MS:
            raise ValueError(f"reference_delay_ms must be within 0..{MAX_REFERENCE_DELAY_MS}")
        self._log = logger or _LOG
        self._lock = threading.Lock()
        self._skip_quiet = skip_quiet
        self._stream_delay_ms = stream_delay_ms
        self._ref_delay_bytes = reference_delay_ms * SAMPLE_RATE // 1000 * 2
        self._fifo = bytearray(self._ref_delay_bytes)
        self._delay_lock = EchoDelayLock(self._log) if lock_echo_delay else None
        self._presence = (
            EchoPresence(self._log) if lock_echo_delay and idle_without_echo else None
        )
        self._backend: _Backend | None = None
        self._fallback_reason: str | None = None
        if backend == "passthrough":
            self._fallback_reason = "disabled by configuration"
            self._log.info("AEC: pass-through (echo cancellation disabled by configuration)")
        else:
            try:
                self._backend = _WebRtcAec3(stream_delay_ms)
            except Exception as exc:  # ImportError, OSError from a broken wheel, anything else
                self._fall_back(f"WebRTC AEC3 backend unavailable: {exc!r}")
            else:
                self._log.info(
                    "AEC: %s, %d Hz mono, %d ms frames, stream delay hint %d ms, "
                    "reference delay %d ms",
                    self._backend.name,
                    SAMPLE_RATE,
                    FRAME_SAMPLES * 1000 // SAMPLE_RATE,
                    stream_delay_ms,
                    reference_delay_ms,
                )
        self._reset_counters()

    # -- public API ---------------------------------------------------------------------------

    @property
    def backend(self) -> str:
        return self._backend.name if self._backend is not None else "passthrough"

    @property
    def active(self) -> bool:
        """True while echo is really being cancelled (not the pass-through fallback)."""
        return self._backend is not None

    @property
    def fallback_reason(self) -> str | None:
        return self._fallback_reason

    def process(self, near: bytes, far: bytes | None) -> bytes:
        """Cancel echo in one 20 ms microphone frame; ``far`` is the frame sent to the speaker.

        Both are 640 bytes of 16 kHz mono s16le; ``far`` may be None or empty for silence.
        Returns the 640-byte cleaned frame (``near`` itself in pass-through).
        """
        if len(near) != FRAME_BYTES:
            raise ValueError(f"near frame must be {FRAME_BYTES} bytes, got {len(near)}")
        if not far:
            far = bytes(FRAME_BYTES)
        elif len(far) != FRAME_BYTES:
            raise ValueError(f"far frame must be {FRAME_BYTES} bytes, got {len(far)}")
        with self._lock:
            if self._fifo:  # reference_delay_ms and/or the delay lock's offset
                self._fifo += far
                far = bytes(self._fifo[:FRAME_BYTES])
                del self._fifo[:FRAME_BYTES]
            self._frames += 1
            backend = self._backend
            if backend is None:
                return bytes(near)
            if self._delay_lock is not None:
                self._follow_echo_delay(near, far)
            if self._presence is not None and self._presence.echo_free:
                # The microphone does not hear the far end (the lock above listens on for an
                # echo). Nothing else is computed: in a call each step costs tens of us.
                self._far_recent.clear()  # measured afresh once an echo shows
                self._echo_free_frames += 1
                return self._hold(near, far)
            far_power = _mean_square(far)
            self._far_recent.append(far_power)
            if self._skip_quiet and max(self._far_recent) < _FAR_ACTIVE_POWER:
                # The far end has been quiet for _FAR_ACTIVE_WINDOW frames: the microphone
                # holds no echo, the canceller would pass it through and its filter does
                # not adapt without render energy.
                return self._hold(near, far)
            started = time.perf_counter()
            started_cpu = time.thread_time()
            try:
                if self._held:
                    # Far audio again: first let AEC3 see the quiet frames just before it,
                    # so its render buffer (the delay search) holds what really played.
                    for held_near, held_far in self._held:
                        backend.process(held_near, held_far)
                    self._replayed += len(self._held)
                    self._held.clear()
                out = backend.process(bytes(near), far)
            except Exception as exc:
                self._fall_back(f"WebRTC AEC3 failed while processing: {exc!r}")
                return bytes(near)
            self._busy_s += time.perf_counter() - started
            self._busy_cpu_s += time.thread_time() - started_cpu
            self._update_erle(near, far_power, out)
            return out

    def reset(self) -> None:
        """Forget the learnt echo path (device change, new call); keeps the configuration."""
        with self._lock:
            self._fifo = bytearray(self._ref_delay_bytes)
            if self._delay_lock is not None:
                self._delay_lock.reset()
            if self._presence is not None:
                self._presence.reset()
            if self._backend is not None:
                try:
                    self._backend.reset()
                except Exception as exc:
                    self._fall_back(f"WebRTC AEC3 failed to reset: {exc!r}")
            self._reset_counters()

    def set_stream_delay_ms(self, ms: int) -> None:
        """Update the speaker->microphone delay hint (e.g. after a device change)."""
        if not 0 <= ms <= 1000:
            raise ValueError("stream_delay_ms must be within 0..1000")
        with self._lock:
            self._stream_delay_ms = ms
            if self._backend is not None:
                try:
                    self._backend.set_stream_delay_ms(ms)
                except Exception as exc:
                    self._fall_back(f"WebRTC AEC3 rejected the delay hint: {exc!r}")

    def stats(self) -> AecStats:
        with self._lock:
            erle: float | None = None
            if self._far_frames >= _ERLE_MIN_FRAMES and self._p_out > 0:
                erle = 10 * math.log10(max(self._p_in, 1e-9) / self._p_out)
            processed = max(1, self._far_frames + self._quiet_frames - self._skipped)
            lock = self._delay_lock if self._backend is not None else None
            presence = self._presence if self._backend is not None else None
            return AecStats(
                backend=self.backend,
                active=self._backend is not None,
                frames=self._frames,
                far_active_frames=self._far_frames,
                erle_db=erle,
                mean_process_us=self._busy_s / processed * 1e6,
                mean_process_cpu_us=self._busy_cpu_s / processed * 1e6,
                skipped_frames=self._skipped,
                replayed_frames=self._replayed,
                echo_delay_ms=lock.locked_lag_ms if lock is not None else None,
                reference_moves=lock.adjustments if lock is not None else 0,
                reference_offset_ms=lock.offset * 1000 / SAMPLE_RATE if lock is not None else 0.0,
                echo_free=presence is not None and presence.echo_free,
                echo_free_frames=self._echo_free_frames,
                echo_free_entries=presence.idles if presence is not None else 0,
            )

    # -- internals ----------------------------------------------------------------------------

    def _hold(self, near: bytes, far: bytes) -> bytes:
        """Pass a frame without the backend; keep it for a replay when the backend runs
        again (its delay search then sees what really played just before)."""
        self._quiet_frames += 1
        self._skipped += 1
        self._held.append((bytes(near), far))
        return bytes(near)

    def _follow_echo_delay(self, near: bytes, far: bytes) -> None:
        """Feed the delay lock; move the queued reference when it says the echo moved."""
        lock = self._delay_lock
        assert lock is not None
        try:
            if lock.feed(near, far) and self._presence is not None:
                self._presence.window(lock.window_peak, lock.window_lag)
        except Exception as exc:  # numpy trouble: cancel on without the lock
            self._delay_lock = None
            self._presence = None
            self._log.warning("AEC: echo delay lock off after an error: %r", exc)
            return
        move_reference(self._fifo, lock.take_adjustment())

    def _fall_back(self, reason: str) -> None:
        self._backend = None
        self._fallback_reason = reason
        self._log.warning(
            "AEC: %s; passing microphone audio through WITHOUT echo cancellation", reason
        )

    def _reset_counters(self) -> None:
        self._frames = 0
        self._far_frames = 0
        self._quiet_frames = 0
        self._busy_s = 0.0
        self._busy_cpu_s = 0.0
        self._p_in = 0.0
        self._p_out = 0.0
        self._far_recent: deque[float] = deque(maxlen=_FAR_ACTIVE_WINDOW)
        self._held: deque[tuple[bytes, bytes]] = deque(maxlen=_REPLAY_FRAMES)
        self._skipped = 0
        self._replayed = 0
        self._echo_free_frames = 0

    def _update_erle(self, near: bytes, far_power: float, out: bytes) -> None:
        if max(self._far_recent) < _FAR_ACTIVE_POWER:
            self._quiet_frames += 1
            return
        self._far_frames += 1
        if (self._far_frames - 1) % _ERLE_EVERY:
            return
        p_in, p_out = _mean_square(near), max(_mean_square(out), 1e-3)
        if self._far_frames == 1:
            self._p_in, self._p_out = p_in, p_out
        else:
            self._p_in += _ERLE_ALPHA * _ERLE_EVERY * (p_in - self._p_in)
            self._p_out += _ERLE_ALPHA * _ERLE_EVERY * (p_out - self._p_out)
