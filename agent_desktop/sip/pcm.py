"""PCM helpers for the audio bridge: a small locked ring buffer, tones and levels.

Format everywhere: 16 kHz, mono, signed 16-bit little-endian; pjsua2 frames are 20 ms.
Pure Python and Qt-free, so the pjmedia clock thread may use `PcmRing` directly.
"""

from __future__ import annotations

import math
import sys
import threading
from array import array
from typing import Any

RATE = 16000
CHANNELS = 1
SAMPLE_BYTES = 2
FRAME_MS = 20
FRAME_SAMPLES = RATE * FRAME_MS // 1000  # 320
FRAME_BYTES = FRAME_SAMPLES * SAMPLE_BYTES  # 640
SILENCE_FRAME = bytes(FRAME_BYTES)
MIN_DBFS = -100.0


def bytes_to_ms(n: int) -> float:
    return n * 1000.0 / (RATE * SAMPLE_BYTES)


def ms_to_bytes(ms: float) -> int:
    n = int(RATE * SAMPLE_BYTES * ms / 1000.0)
    return n - n % SAMPLE_BYTES


_NOT_SEEN = 1 << 30


class PcmRing:
    """A bounded FIFO of PCM bytes shared by two threads (one writer, one reader).

    Every method holds the lock for a few microseconds only. Writing past `capacity`
    drops the oldest bytes (an overrun, counted); reading more than is there returns
    what is there (the caller counts the underrun).
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity - capacity % SAMPLE_BYTES
        self._buf = bytearray()
        self._lock = threading.Lock()
        self.written = 0  # bytes ever written
        self.read_total = 0  # bytes ever read
        self.dropped = 0  # bytes dropped by overruns and trims
        self.overruns = 0  # writes that dropped old data
        self._lowest_left = _NOT_SEEN  # see take_lowest_left()

    def write(self, data: bytes) -> int:
        """Append; returns the number of old bytes dropped to stay within capacity."""
        with self._lock:
            self._buf += data
            self.written += len(data)
            excess = len(self._buf) - self.capacity
            if excess > 0:
                excess += excess % SAMPLE_BYTES
                del self._buf[:excess]
                self.dropped += excess
                self.overruns += 1
                return excess
            return 0

    def read(self, n: int) -> bytes:
        """Up to `n` bytes (whole samples), oldest first."""
        with self._lock:
            n = min(n, len(self._buf))
            n -= n % SAMPLE_BYTES
            out = bytes(self._buf[:n])
            del self._buf[:n]
            self.read_total += n
            return out

    def read_exact(self, n: int) -> bytes | None:
        """Exactly `n` bytes, or None (nothing taken) when fewer are buffered."""
        with self._lock:
            if len(self._buf) < n:
                return None
            out = bytes(self._buf[:n])
            del self._buf[:n]
            self.read_total += n
            return out

    def read_frame(self, n: int, max_bytes: int, trim_to: int) -> bytes | None:
        """`read_exact(n)` after trimming to `trim_to` when more than `max_bytes` wait (one
        lock: the pjmedia clock thread's per-frame call). Trimmed bytes count as dropped."""
        with self._lock:
            buf = self._buf
            size = len(buf)
            if size > max_bytes:
                excess = size - trim_to
                excess += excess % SAMPLE_BYTES
                del buf[:excess]
                self.dropped += excess
                size -= excess
            if size < n:
                self._lowest_left = 0
                return None
            if size - n < self._lowest_left:
                self._lowest_left = size - n
            out = bytes(buf[:n])
            del buf[:n]
            self.read_total += n
            return out

    def take_lowest_left(self) -> int | None:
        """The fewest bytes that `read_frame` left behind since the last call (0 if it
        found too few to read); None when it did not run meanwhile."""
        with self._lock:
            lowest, self._lowest_left = self._lowest_left, _NOT_SEEN
        return None if lowest == _NOT_SEEN else lowest

    def trim_to(self, keep: int) -> int:
        """Drop the oldest bytes so that at most `keep` remain (bounds added latency)."""
        with self._lock:
            excess = len(self._buf) - keep
            if excess <= 0:
                return 0
            excess += excess % SAMPLE_BYTES
            del self._buf[:excess]
            self.dropped += excess
            return excess

    def clear(self) -> None:
        with self._lock:
            self._buf.clear()

    @property
    def available(self) -> int:
        with self._lock:
            return len(self._buf)


_numpy: Any = None


def numpy_module() -> Any:
    """numpy, imported at first use (the app imports it off the GUI thread: preload_backend)
    and kept here: an import statement in a per-frame function passes PySide6's import hook
    every time. Measured in a call (3 mean squares a frame): 37 us each with the import
    statement, most of the canceller's own overhead around AEC3."""
    global _numpy
    if _numpy is None:
        import numpy

        _numpy = numpy
    return _numpy


# Standing latency is played away by dropping at most one sample in this many
# (agent_desktop.sip.audio): the audio then plays this much faster, its pitch this much higher.
CATCH_UP_RATIO = 50
CATCH_UP_SPEED = CATCH_UP_RATIO / (CATCH_UP_RATIO - 1)


class StandingLatency:
    """Audio that stays behind in a ring after its reader took its share, all through a
    window, is delay and nothing else (e.g. after a stream started late, behind a device
    clock that drifts against pjmedia's, or a microphone whose blocks land just after
    pjmedia's read). The owner reports what stayed behind (`observe`) and, when a window is
    `due`, ends it: above `trim_above` at its lowest, the excess down to half a frame is to
    be cut at once (returned); above `slack`, the excess is played away gently over the
    next window, dropping at most one sample in CATCH_UP_RATIO (`drop_samples`: the audio
    2 % faster meanwhile, no click). Not locked: one thread only."""

    def __init__(self, slack: int, trim_above: int, window_s: float) -> None:
        self.slack = slack
        self.trim_above = trim_above
        self.window_s = window_s
        self.forget()

    def forget(self) -> None:
        """A new stream (or a cut): what the last window measured no longer holds."""
        self._lowest = _NOT_SEEN
        self._window_end = 0.0
        self.windows = 0  # ended since
        self.catch_up = 0  # bytes still to play away
        self._credit = 0.0

    def observe(self, left: int) -> None:
        if left < self._lowest:
            self._lowest = left

    @property
    def measuring(self) -> bool:
        """False until the first window has started (after `forget`)."""
        return self._window_end != 0.0

    def due(self, now: float) -> bool:
        return now >= self._window_end

    def end_window(self, now: float) -> int:
        """Bytes to cut from the ring at once (0: none); starts the next window."""
        cut = 0
        self.catch_up = 0
        if self.measuring:
            self.windows += 1
            if self._lowest == _NOT_SEEN:
                pass  # nothing observed in this window
            elif self._lowest > self.trim_above:
                cut = self._lowest - FRAME_BYTES // 2
                self._credit = 0.0
            elif self._lowest > self.slack:
                self.catch_up = self._lowest - self.slack
        self._lowest = _NOT_SEEN
        self._window_end = now + self.window_s
        return cut

    def drop_samples(self, n: int, spare: int) -> int:
        """How many samples to drop while passing on `n` bytes, with `spare` more bytes
        waiting behind them (never more than that, nor more than is still to play away)."""
        if n < 2 * SAMPLE_BYTES:
            return 0  # shorten() keeps at least two samples
        credit = self._credit + n / (SAMPLE_BYTES * CATCH_UP_RATIO)
        drop = min(int(credit), self.catch_up // SAMPLE_BYTES, spare // SAMPLE_BYTES)
        # Credit not spent (nothing more was waiting) is not saved up for one bigger drop.
        self._credit = min(credit - max(drop, 0), 1.0)
        if drop <= 0:
            return 0
        self.catch_up -= drop * SAMPLE_BYTES
        return drop


def shorten(data: bytes, drop: int) -> bytes:
    """The PCM in `data` played `drop` samples shorter: resampled by linear interpolation,
    first and last sample kept (so chunks still join without a step). Dropping 1 sample in
    50 raises the pitch by 2 % (a third of a semitone) for as long as it lasts."""
    count = len(data) // SAMPLE_BYTES
    if drop <= 0 or count - drop < 2:
        return data
    np = numpy_module()
    src = np.frombuffer(data, dtype="<i2", count=count).astype(np.float32)
    at = np.linspace(0.0, count - 1, count - drop, dtype=np.float32)
    out = np.interp(at, np.arange(count, dtype=np.float32), src)
    return bytes(out.round().astype("<i2").tobytes())


def samples(data: bytes) -> array[int]:
    pcm = array("h")
    pcm.frombytes(data[: len(data) - len(data) % SAMPLE_BYTES])
    if sys.byteorder == "big":
        pcm.byteswap()
    return pcm


def level_dbfs(data: bytes) -> float:
    """RMS level in dBFS (a full-scale sine is about -3 dBFS); MIN_DBFS for silence."""
    pcm = samples(data)
    if not pcm:
        return MIN_DBFS
    total = 0
    for v in pcm:
        total += v * v
    rms = math.sqrt(total / len(pcm))
    if rms < 1e-3:
        return MIN_DBFS
    return max(MIN_DBFS, 20.0 * math.log10(rms / 32768.0))


class ToneGenerator:
    """A continuous sine (no phase jump between chunks)."""

    def __init__(self, freq: float, amplitude: float = 0.25, rate: int = RATE) -> None:
        self.freq = freq
        self.peak = max(0.0, min(1.0, amplitude)) * 32767.0
        self.rate = rate
        self._n = 0

    def next_bytes(self, nbytes: int) -> bytes:
        count = nbytes // SAMPLE_BYTES
        w = 2.0 * math.pi * self.freq / self.rate
        start = self._n
        pcm = array("h", (round(self.peak * math.sin(w * (start + i))) for i in range(count)))
        self._n = (start + count) % self.rate if float(self.freq).is_integer() else start + count
        if sys.byteorder == "big":
            pcm.byteswap()
        return pcm.tobytes()
