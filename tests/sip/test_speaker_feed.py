"""How the audio thread feeds the speaker, against a simulated sound server.

The server here takes what a PipeWire graph takes (5.3 ms at a time) from a Qt sink buffer
of one 20 ms frame, while the call delivers a frame every 20 ms: the conditions under which
pipewire-pulse ran Qt's buffer dry (the feed waited for the next frame when the sink was
full) and the bridge's ring stood at 9-17 ms all call long. A simulated clock drives it
(`time.monotonic` of the audio module), so no test sleeps.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QTimer
from PySide6.QtMultimedia import QtAudio

from agent_desktop.sip import audio
from agent_desktop.sip.audio import (
    SPEAKER_SLACK,
    SPEAKER_STANDING_MAX,
    AudioIO,
    BridgeCounters,
    SinkFillCap,
)
from agent_desktop.sip.pcm import (
    FRAME_BYTES,
    SAMPLE_BYTES,
    PcmRing,
    ToneGenerator,
    bytes_to_ms,
    ms_to_bytes,
    shorten,
)
from tests.support.sim_clock import SimClock

QT_BUFFER = FRAME_BYTES
# What PipeWire's 256-sample quantum at 48 kHz takes at 16 kHz: 85 1/3 samples, i.e.
# 172, 170, 170 bytes in turn (512 bytes per 16 ms, the call's own pace).
PULL_PATTERN = (172, 170, 170)


class FakeSinkDevice:
    """Qt's sink buffer (the QIODevice side); the server drains it with `pull`."""

    def __init__(self, size: int = QT_BUFFER) -> None:
        self.size = size
        self.queue = bytearray()
        self.played = bytearray()
        self.dry_pulls = 0

    def write(self, data: bytes) -> int:
        assert len(self.queue) + len(data) <= self.size, "wrote more than bytesFree()"
        self.queue += data
        return len(data)

    def pull(self, n: int) -> None:
        if len(self.queue) < n:
            self.dry_pulls += 1
        self.played += self.queue[:n]
        del self.queue[:n]


class FakeSink:
    def __init__(self, dev: FakeSinkDevice) -> None:
        self.dev = dev

    def bytesFree(self) -> int:
        return self.dev.size - len(self.dev.queue)

    def state(self) -> QtAudio.State:
        return QtAudio.State.ActiveState


def speaker_feed(
    qapp: Any, buffer: int = QT_BUFFER, capped: bool = False
) -> tuple[AudioIO, FakeSinkDevice, QTimer]:
    """The audio thread's speaker side on a fake sink of `buffer` bytes; `capped`: as on
    Qt's native PipeWire backend (the fill kept by SinkFillCap)."""
    ring = PcmRing(audio.SPEAKER_RING_BYTES)
    io = AudioIO(ring, PcmRing(audio.MIC_RING_BYTES), BridgeCounters())
    dev = FakeSinkDevice(buffer)
    io.sink = FakeSink(dev)  # type: ignore[assignment]
    io.sink_dev = dev
    io._sink_buffer = buffer
    io._fill_cap = SinkFillCap(buffer) if capped else None
    io.aec_enabled = False
    refill = QTimer(io)  # never started here: the test runs what it would run
    refill.setSingleShot(True)
    refill.setInterval(audio.REFILL_MS)
    io.refill = refill
    return io, dev, refill


def run_call(
    io: AudioIO,
    dev: FakeSinkDevice,
    refill: QTimer,
    clock: SimClock,
    seconds: float,
    quantum: int | None = None,
    before_pulls: list[tuple[float, int]] | None = None,
) -> list[int]:
    """A frame every 20 ms into the ring (waking the feed), a pull every 16/3 ms (or each
    `quantum` samples at 48 kHz, what PipeWire's graph takes), and the refill timer's run
    5 ms after it was started. Returns the ring's level after each feed (what the
    standing-latency window sees); `before_pulls` gets (time, bytes queued in all) before
    each pull."""
    tone = ToneGenerator(440.0, 0.3)
    start = clock.now
    frame_at, pull_at, refill_at = start, start, None
    pulls = 0
    period = 0.016 / 3 if quantum is None else quantum / 48_000
    owed = 0.0  # samples at 16 kHz the graph has taken in part
    end = clock.now + seconds
    levels = []
    while clock.now < end:
        due = min(t for t in (frame_at, pull_at, refill_at) if t is not None)
        clock.now = due
        if due == pull_at:
            if before_pulls is not None:
                before_pulls.append((due - start, len(dev.queue) + io.speaker_ring.available))
            if quantum is None:
                dev.pull(PULL_PATTERN[pulls % 3])
            else:
                owed += quantum / 3
                dev.pull(SAMPLE_BYTES * int(owed))
                owed -= int(owed)
            pulls += 1
            pull_at = start + pulls * period
            continue  # the server's pull wakes nobody
        if due == frame_at:
            io.speaker_ring.write(tone.next_bytes(FRAME_BYTES))
            io.counters.frames_in += 1
            frame_at = start + io.counters.frames_in * 0.020
        else:
            refill_at = None
            refill.stop()
        io._feed_speaker()
        levels.append(io.speaker_ring.available)
        if refill.isActive() and refill_at is None:
            refill_at = clock.now + audio.REFILL_MS / 1000
    return levels


def test_a_full_sink_is_refilled_before_the_next_frame(qapp: Any, clock: SimClock) -> None:
    """The sink full when a frame arrives: what waits goes in 5 ms later, not 20 ms later
    with the next frame (by then the server had taken the whole 20 ms buffer: a gap)."""
    io, dev, refill = speaker_feed(qapp)
    io.speaker_ring.write(bytes(FRAME_BYTES))
    io._feed_speaker()
    assert len(dev.queue) == QT_BUFFER
    io.speaker_ring.write(bytes(FRAME_BYTES))  # the next frame, the sink still full
    io._feed_speaker()
    assert refill.isActive()
    run_call(io, dev, refill, clock, 5.0)
    assert dev.dry_pulls == 0


def test_standing_latency_below_the_trim_limit_is_played_away_without_a_gap(
    qapp: Any, clock: SimClock
) -> None:
    """25 ms standing in the ring (below the 30 ms at which it is cut at once) goes down
    to the slack within 2 s, by dropping single samples: the tone plays on without a gap or
    a step, and no frame is lost."""
    io, dev, refill = speaker_feed(qapp)
    dev.queue += bytes(QT_BUFFER)  # a sink that started late: its buffer full,
    io.speaker_ring.write(bytes(ms_to_bytes(25)))  # and 25 ms more waiting
    levels = run_call(io, dev, refill, clock, 4.0)
    per_window = len(levels) // 8
    lowest_first = min(levels[per_window : 2 * per_window])
    lowest_last = min(levels[-per_window:])
    assert SPEAKER_SLACK < lowest_first < SPEAKER_STANDING_MAX
    assert lowest_last <= SPEAKER_SLACK + ms_to_bytes(2), bytes_to_ms(lowest_last)
    assert io.counters.speaker_trimmed_bytes == 0
    assert io.speaker_ring.dropped == 0
    caught_up = io.counters.speaker_caught_up_bytes
    assert ms_to_bytes(15) < caught_up < ms_to_bytes(25)
    assert dev.dry_pulls == 0
    # The tone after the leading silence: no sample-to-sample step beyond a 440 Hz sine's
    # (a dropped chunk would leave one), and faster by at most 2 % meanwhile.
    played = np.frombuffer(bytes(dev.played), dtype="<i2").astype(np.int32)
    tone = played[np.flatnonzero(played)[0] :]
    steepest = 0.3 * 32767 * 2 * np.pi * 440 / 16000
    assert np.abs(np.diff(tone)).max() <= steepest * 1.03 + 2


@pytest.mark.parametrize("quantum", [256, 1024, 2048])
def test_a_pipewire_quantum_of_any_size_is_played_without_a_gap(
    qapp: Any, clock: SimClock, quantum: int
) -> None:
    """Qt's native PipeWire backend: the graph takes a whole quantum from Qt's buffer each
    cycle. A 20 ms buffer cannot hold 1024 or 2048 samples at 48 kHz (every pull short);
    the large buffer, capped at what the graph takes, plays every pull whole after the
    first second, and holds no more than that quantum and a frame besides."""
    io, dev, refill = speaker_feed(qapp)
    run_call(io, dev, refill, clock, 2.0, quantum=quantum)
    if quantum > 960:  # more than 20 ms at once
        assert dev.dry_pulls > 0.9 * 2.0 * 48_000 / quantum

    io, dev, refill = speaker_feed(qapp, audio.PIPEWIRE_SINK_BUFFER_BYTES, capped=True)
    queued: list[tuple[float, int]] = []
    run_call(io, dev, refill, clock, 6.0, quantum=quantum, before_pulls=queued)
    quantum_bytes = SAMPLE_BYTES * quantum // 3
    after_start = [n for t, n in queued if t >= 1.0]
    assert min(after_start) >= quantum_bytes  # no pull short after the first second
    most = quantum_bytes + FRAME_BYTES + audio.SINK_FILL_MARGIN_BYTES
    assert max(after_start) <= most, bytes_to_ms(max(after_start))
    assert io.counters.speaker_trimmed_bytes == 0


def test_the_fill_cap_follows_what_the_server_takes() -> None:
    """The cap is the most the server took between two looks in this or the last window,
    plus the margin (the start value until a window has ended)."""
    cap = SinkFillCap(ceiling=6400, margin=160, start=1440, window_s=1.0, floor=0)
    assert cap.room(0, 0.0) == 1600  # nothing measured yet: the start value and the margin
    cap.looked(800)
    assert cap.room(700, 0.5) == 900  # took 100; the start value still holds
    assert not cap.measured
    cap.looked(800)
    assert cap.room(500, 1.0) == 0  # window over: it took at most 300, so 460 from now
    assert (cap.target, cap.measured) == (460, True)
    cap.looked(500)
    assert cap.room(0, 1.5) == 660  # took 500 (the ring waited for a frame)
    cap.looked(200)
    assert cap.room(200, 2.1) == 460  # a new window: the last one's 500 holds
    cap.looked(200)
    assert cap.room(150, 3.2) == 60  # that window took 50 at most: 210 now
    cap.looked(150)
    assert cap.room(7000, 3.3) == 0
    assert SinkFillCap(ceiling=1000).room(0, 0.0) == 1000  # never above the buffer
    floored = SinkFillCap(ceiling=6400, margin=160, start=100, floor=640)
    assert floored.room(0, 0.0) == 640  # nor below the floor


@pytest.mark.parametrize("drop", [0, 1, 3])
def test_shorten_keeps_both_ends_and_drops_samples(drop: int) -> None:
    data = ToneGenerator(440.0, 0.5).next_bytes(PULL_PATTERN[0])
    out = shorten(data, drop)
    assert len(out) == len(data) - drop * SAMPLE_BYTES
    assert out[:SAMPLE_BYTES] == data[:SAMPLE_BYTES]
    assert out[-SAMPLE_BYTES:] == data[-SAMPLE_BYTES:]


class RecordingCanceller:
    """Stands in for EchoCanceller: passes the microphone through (the pairs are in aec_tap)."""

    def process(self, near: bytes, far: bytes | None) -> bytes:
        return near

    def reset(self) -> None:
        pass


def test_the_reference_leads_even_an_echo_without_delay(qapp: Any, clock: SimClock) -> None:
    """A speaker->microphone loop with no delay at all (through PipeWire 1.x the looped echo
    lagged its reference by 1 sample, and AEC3 cancelled nothing): after a reset, the
    canceller's reference leaves out the first AEC_REFERENCE_LEAD_BYTES of what was played,
    so each echo lags its reference by that much."""
    io, dev, _refill = speaker_feed(qapp)
    io.aec = RecordingCanceller()  # type: ignore[assignment]
    io.source_dev = object()  # type: ignore[assignment]  # a microphone is open
    io.counters.calls_attached = 1
    io.aec_tap = []
    io.set_aec(True)
    rng = np.random.default_rng(5)
    for _ in range(20):
        io.speaker_ring.write(rng.integers(-8000, 8000, FRAME_BYTES // 2, "<i2").tobytes())
        io._feed_speaker()
        start = len(dev.played)
        dev.pull(FRAME_BYTES)
        clock.now += 0.020
        io._deliver_mic(io._cancel_echo(bytes(dev.played[start:])))  # the echo, at once
    near = b"".join(n for n, _ in io.aec_tap)
    ref = b"".join(r for _, r in io.aec_tap)
    lead = audio.AEC_REFERENCE_LEAD_BYTES
    assert lead >= ms_to_bytes(5)
    assert len(near) >= ms_to_bytes(300)
    assert near[lead:] == ref[: len(near) - lead]
