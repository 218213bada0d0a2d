"""Holds the echo delay the canceller sees constant when the sound device glitches.

Why: when the speaker runs dry for a moment (the sound server starved of CPU, a USB or
Bluetooth hiccup), what was written after the gap plays later than before, so the echo in the
microphone moves behind the reference by the length of the gap. WebRTC AEC3 finds the new
delay, but its suppressor stays cautious long after. Measured offline with the looped test's
timeline (tests/sip/test_echo_delay.py; near-end tone in double talk, median of 0.5 s
windows): 0.3-1.8 dB lost at any steady delay from 5 to 200 ms, but 3.8 dB after a 5 ms step
4.5 s earlier and 4.5 dB after one 2.8 s earlier. The looped acceptance test failed in CI on
exactly such a step (21.3 -> 26.3 ms, tone -3.8 dB).

How: every 0.24 s of far-end activity, the lag of the microphone behind the reference (as the
canceller was given it) is measured by cross-correlation over the last 0.24 s against 0.3 s of
lag (three FFTs of 8640 points: 0.14 ms of CPU, ~12 µs a frame while the far end talks, against
~110 µs for AEC3). The first two agreeing measurements set the delay the canceller should see
("home"). Later, two agreeing measurements that jumped by 1 ms or more since the last agreed
one move the reference so that the canceller sees home again: a later echo delays the reference
(silence is inserted, 0.5-0.7 s after the speaker played its gap); an earlier echo takes back
such a delay, and below home, with nothing left to take back, the canceller sees the earlier
lag (the reference cannot be advanced beyond what was written; AEC3 re-converges on its own)
until the echo returns. Changes under 1 ms between agreed measurements are clock drift between
two devices: home follows them and the reference stays (AEC3's filter tracks drift; steps every
few seconds would upset it). With the lock the steps above cost 0.8 and 1.3 dB; acting later
helps less (4.1 dB when the move came after 1 s).

Limits: the measurement needs an echo with a dominant direct path (a sink monitor, a
laptop's or a speakerphone's own speaker); in a strongly reverberant path the peak wanders,
the two measurements disagree and the lock does nothing (AEC3 alone, as before).
"""

from __future__ import annotations

import logging
from collections import deque

from agent_desktop.sip.pcm import numpy_module

SAMPLE_RATE = 16_000
FRAME_SAMPLES = 320
WINDOW_FRAMES = 12  # one measurement per 0.24 s: the move comes ~0.5-0.7 s after a step
MAX_LAG_MS = 300  # AEC3 itself searches ~500 ms; device paths here are 15-200 ms
MAX_OFFSET_MS = 300  # total reference delay added by the lock
MIN_CORRELATION = 0.6  # normalised peak: below it (double talk, noise) no measurement
AGREE_SAMPLES = 12  # two measurements within 0.75 ms agree
# The peak must stand out: a steady tone (ringback, music on hold) correlates equally at every
# period, and a peak one period off would move the reference for nothing.
DISTINCT_RATIO = 1.15  # the peak over the highest one more than DISTINCT_SAMPLES away
DISTINCT_SAMPLES = 24  # 1.5 ms
MIN_STEP_SAMPLES = 16  # steps under 1 ms are left to the canceller's own filter
# Far-end windows quieter than this (mean square, about -50 dBFS) are not measured.
_MIN_FAR_POWER = (32768.0 * 10 ** (-50 / 20)) ** 2

_LOG = logging.getLogger(__name__)


def move_reference(queue: bytearray, samples: int) -> None:
    """Apply an adjustment of :class:`EchoDelayLock` to the reference bytes queued for the
    canceller (s16le): positive delays the reference (silence in front of the queue),
    negative takes back delay the lock added before (the queue holds it)."""
    if samples > 0:
        queue[0:0] = bytes(2 * samples)
    elif samples < 0:
        del queue[: -2 * samples]


class EchoDelayLock:
    """Measures the echo lag and says how much to move the reference to keep it constant.

    Feed it every (near, reference) frame pair exactly as given to the canceller; call
    :meth:`take_adjustment` after each frame: a positive number of samples means "delay
    the reference by this much more" (insert silence in front of what is queued), negative
    means "take back this much of the delay added before". Not thread-safe (the canceller's
    lock serialises it)."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger or _LOG
        self._max_lag = MAX_LAG_MS * SAMPLE_RATE // 1000
        self._max_offset = MAX_OFFSET_MS * SAMPLE_RATE // 1000
        history = WINDOW_FRAMES + (self._max_lag + FRAME_SAMPLES - 1) // FRAME_SAMPLES
        self._near: deque[bytes] = deque(maxlen=WINDOW_FRAMES)
        self._ref: deque[bytes] = deque(maxlen=history)
        self._history_frames = history
        # Lags 0..max_lag of a window against window + max_lag of reference: this length
        # cannot wrap around (and 8640 = 2^6*3^3*5 is a fast size for numpy's FFT).
        self._nfft = WINDOW_FRAMES * FRAME_SAMPLES + self._max_lag
        self.reset()

    def reset(self) -> None:
        """Forget everything (new call, new device): the next stable lag is locked."""
        self._near.clear()
        self._ref.clear()
        self._since = 0
        self._pending: int | None = None
        self._home: int | None = None  # the true lag the canceller should see (first locked)
        self._last: int | None = None  # the true lag at the last agreed measurement
        self.locked_lag: int | None = None  # the lag the canceller sees
        self.offset = 0  # samples of delay the lock has added to the reference
        self._adjust = 0
        self.adjustments = 0
        self.measurements = 0  # windows with far-end audio
        self.ambiguous = 0  # of which the peak did not stand out
        self.window_peak = 0.0
        self.window_lag: int | None = None
        self._distinct = False

    def feed(self, near: bytes, ref: bytes) -> bool:
        """True when this frame completed a window with far-end audio: `window_peak` and
        `window_lag` then describe it."""
        self._near.append(near)
        self._ref.append(ref)
        self._since += 1
        if self._since < WINDOW_FRAMES or len(self._ref) != self._history_frames:
            return False
        self._since = 0
        measured = self._measure()
        lag = self.window_lag
        if measured and self._distinct and lag is not None:  # distinct: over MIN_CORRELATION
            self._on_measured(lag)
        else:
            self._pending = None  # agreement needs two measurements in a row
        return measured

    def take_adjustment(self) -> int:
        adjust, self._adjust = self._adjust, 0
        return adjust

    @property
    def locked_lag_ms(self) -> float | None:
        return None if self.locked_lag is None else self.locked_lag * 1000 / SAMPLE_RATE

    # -- internals

    def _measure(self) -> bool:
        """Correlates the last window's microphone with the reference before it; False when
        the far end was quiet. Sets `window_peak` (the normalised correlation at its highest,
        0.0 for a silent microphone), `window_lag` (samples of the microphone behind the
        reference there; None for a silent microphone) and `_distinct` (the peak stands out)."""
        np = numpy_module()  # imported off the GUI thread (preload_backend), kept there

        near = np.frombuffer(b"".join(self._near), dtype=np.int16).astype(np.float64)
        ref_all = np.frombuffer(b"".join(self._ref), dtype=np.int16).astype(np.float64)
        w = len(near)
        ref = ref_all[len(ref_all) - w - self._max_lag :]  # max_lag before the window + window
        near_energy = float(np.dot(near, near))
        if float(np.dot(ref[self._max_lag :], ref[self._max_lag :])) < _MIN_FAR_POWER * w:
            return False
        self.window_peak, self.window_lag, self._distinct = 0.0, None, False
        if near_energy <= 0.0:
            return True  # digital silence: no echo in it
        self.measurements += 1
        spec = np.fft.rfft(ref, self._nfft) * np.conj(np.fft.rfft(near, self._nfft))
        corr = np.fft.irfft(spec, self._nfft)[: self._max_lag + 1]  # corr[k]: ref[k:k+w]·near
        magnitude = np.abs(corr)
        k = int(np.argmax(magnitude))
        seg = ref[k : k + w]
        energies = near_energy * float(np.dot(seg, seg))
        self.window_peak = float(magnitude[k] / np.sqrt(energies + 1e-9))
        self.window_lag = self._max_lag - k
        if self.window_peak < MIN_CORRELATION:
            return True
        magnitude[max(0, k - DISTINCT_SAMPLES) : k + DISTINCT_SAMPLES + 1] = 0.0
        self._distinct = abs(corr[k]) >= DISTINCT_RATIO * float(magnitude.max())
        if not self._distinct:
            self.ambiguous += 1  # periodic far end
        return True

    def _on_measured(self, seen: int) -> None:
        """`seen`: the lag measured on the reference as the canceller gets it."""
        pending, self._pending = self._pending, seen
        if pending is None or abs(pending - seen) > AGREE_SAMPLES:
            return  # wait for a second, agreeing measurement
        true_lag = seen + self.offset  # of the microphone behind what was really written
        if self._home is None or self._last is None:
            self._home = self._last = true_lag
            self.locked_lag = seen
            self._log.info("AEC: echo delay %.1f ms", self.locked_lag_ms or 0.0)
            return
        change, self._last = true_lag - self._last, true_lag
        if abs(change) < MIN_STEP_SAMPLES:
            # Slow drift (two device clocks): the canceller's filter follows it; moving the
            # reference a step at a time would upset it every few seconds instead.
            self._home += change
            self.locked_lag = seen
            return
        # A jump: hold the view at home where the reference can be moved that far.
        before = self.offset
        self.offset = min(self._max_offset, max(0, true_lag - self._home))
        moved = self.offset - before
        self.locked_lag = true_lag - self.offset
        self._pending = None
        if not moved:  # earlier than home, and no delay of ours to give back
            self._log.info(
                "AEC: echo delay moved by %+.1f ms to %.1f ms (reference unchanged)",
                change * 1000 / SAMPLE_RATE,
                self.locked_lag_ms or 0.0,
            )
            return
        self._adjust += moved
        self.adjustments += 1
        self._near.clear()
        self._ref.clear()  # the history straddles the move: measure afresh
        self._log.info(
            "AEC: echo delay moved by %+.1f ms (a gap in the speaker or microphone stream); "
            "reference moved %+.1f ms, the canceller sees %.1f ms",
            change * 1000 / SAMPLE_RATE,
            moved * 1000 / SAMPLE_RATE,
            self.locked_lag_ms or 0.0,
        )


# Echo presence. A headset's microphone hears nothing of its earpiece, and the agents' usual
# set-up is a headset: the canceller then has no echo to remove, and running it cost 2.5 %
# of a core in the bench's call. Measured with the lock's windows (offline, 30 s each; see
# tests/sip/test_echo_presence.py): without an echo the correlation peak stayed under 0.09
# while only the far end talked (room noise at the microphone; 0.0 for digital silence);
# with an echo 30 dB under the far end it stayed above 0.2 at a steady lag, and an echo
# 10 dB below the room noise still showed 0.03-0.37, most windows over 0.1. Double talk
# hides an echo from some windows (the near-end voice adds to the microphone's energy, not
# to the correlation: with two espeak-ng voices over an echo 30 dB under the far end, a
# quarter of the windows fell under 0.1) while two voices also correlate by chance (up to
# 0.55-0.7 at wandering lags). So only windows under NO_ECHO_PEAK count as evidence of no
# echo, any window over ECHO_PEAK starts that count again (in double talk a quarter or more
# of the windows are; a count that only a steady lag restarted let 45 s of double talk over
# that echo idle the canceller for 19 s), and two consecutive windows over ECHO_PEAK at one
# lag are an echo.
NO_ECHO_PEAK = 0.1
ECHO_PEAK = 0.2
NO_ECHO_WINDOWS = 21  # ~5 s of far-end audio (0.24 s windows) without sign of an echo


class EchoPresence:
    """Says whether the microphone hears the far end at all, from the lock's windows.

    `echo_free` turns True after NO_ECHO_WINDOWS windows with far-end audio whose peak was
    under NO_ECHO_PEAK, counted since the last window over ECHO_PEAK; it turns False again
    at the next sign of an echo: two consecutive windows over ECHO_PEAK within AGREE_SAMPLES
    of each other. Starts False: a call's first seconds are always cancelled."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger or _LOG
        self.reset()

    def reset(self) -> None:
        self.echo_free = False
        self._clear_windows = 0
        self._last_lag: int | None = None
        self.idles = 0  # times it turned echo-free
        self.wakes = 0  # times an echo came back after that

    def window(self, peak: float, lag: int | None) -> None:
        """One window of the lock with far-end audio: its correlation peak and lag."""
        if peak < NO_ECHO_PEAK:
            self._last_lag = None
            self._clear_windows += 1
            if not self.echo_free and self._clear_windows >= NO_ECHO_WINDOWS:
                self.echo_free = True
                self.idles += 1
                self._log.info(
                    "AEC: no echo of the far end in %d windows (%.1f s of far-end audio): "
                    "a headset; the canceller idles until an echo shows",
                    self._clear_windows,
                    self._clear_windows * WINDOW_FRAMES * FRAME_SAMPLES / SAMPLE_RATE,
                )
            return
        if peak < ECHO_PEAK or lag is None:
            self._last_lag = None
            return
        self._clear_windows = 0  # maybe an echo, maybe chance: count afresh
        last, self._last_lag = self._last_lag, lag
        if last is None or abs(lag - last) > AGREE_SAMPLES:
            return
        if self.echo_free:
            self.echo_free = False
            self.wakes += 1
            self._log.info(
                "AEC: an echo of the far end again (correlation %.2f at %.1f ms): cancelling",
                peak,
                lag * 1000 / SAMPLE_RATE,
            )
