"""How the audio thread bounds the delay in the microphone ring, against a simulated clock.

The microphone's blocks land in the ring whenever Qt delivers them (here 2 ms blocks), while
pjmedia's clock thread reads a 20 ms frame every 20 ms (`BridgePort.onFrameRequested`:
`read_frame`). What stays behind after the reads is delay on the agent's voice; before the
bound it was 4-22 ms from the start and grew by ~1 ms a second behind a microphone clock
faster than pjmedia's (measured in 40 s echo calls over PulseAudio: 20 -> 46 ms). A
simulated clock drives it (`time.monotonic` of the audio module), so no test sleeps.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from agent_desktop.sip import audio
from agent_desktop.sip.audio import (
    MIC_MAX_BYTES,
    MIC_SLACK,
    MIC_SLACK_START,
    MIC_SLACK_STEP,
    MIC_TRIM_TO,
    AudioIO,
    BridgeCounters,
)
from agent_desktop.sip.pcm import (
    CATCH_UP_SPEED,
    FRAME_BYTES,
    PcmRing,
    ToneGenerator,
    bytes_to_ms,
    ms_to_bytes,
)
from tests.support import sipphone
from tests.support.sim_clock import SimClock

BLOCK_MS = 2  # small, so that the delay left after a read can be set to 2 ms
BLOCK_BYTES = ms_to_bytes(BLOCK_MS)


def mic_side(qapp: Any) -> AudioIO:
    io = AudioIO(PcmRing(audio.SPEAKER_RING_BYTES), PcmRing(audio.MIC_RING_BYTES), BridgeCounters())
    io.aec_enabled = False
    io.counters.calls_attached = True
    return io


class Call:
    """Blocks from the microphone (`speed` > 1: its clock runs fast) and a frame read every
    20 ms, timed so that each read leaves `left_ms` behind; `late_blocks`: times (s) from
    which the blocks of the next 15 ms come all at once at its end (the audio thread or the
    sound server late: what made reads come short in real calls)."""

    def __init__(self, io: AudioIO, clock: SimClock, left_ms: float, speed: float = 1.0) -> None:
        self.io, self.clock = io, clock
        self.tone = ToneGenerator(440.0, 0.3)
        self.phase = (left_ms + 20 - BLOCK_MS + 0.5) / 1000
        self.speed = speed
        self.sent = bytearray()
        self.short_reads = 0
        self.left: list[tuple[float, int]] = []  # (time, bytes left after a read)

    def run(self, seconds: float, late_blocks: tuple[float, ...] = ()) -> None:
        io, clock = self.io, self.clock
        start = clock.now
        blocks = reads = 0
        block_at, read_at = start, start + self.phase
        held_until = 0.0
        late = sorted(late_blocks)
        while clock.now < start + seconds:
            deliver_at = max(block_at, held_until)
            clock.now = min(deliver_at, read_at)
            if clock.now == deliver_at:
                if late and block_at - start >= late[0]:
                    late.pop(0)
                    held_until = block_at + 0.015  # the audio thread 15 ms late
                    continue
                io._deliver_mic(self.tone.next_bytes(BLOCK_BYTES))
                blocks += 1
                block_at = start + blocks * BLOCK_MS / 1000 / self.speed
                continue
            reads += 1
            read_at = start + self.phase + reads * 0.020
            if self._read() is None:
                self.short_reads += 1

    def _read(self) -> bytes | None:
        ring = self.io.mic_ring
        data = ring.read_frame(FRAME_BYTES, MIC_MAX_BYTES, MIC_TRIM_TO)
        if data is not None:
            self.sent += data
            self.left.append((self.clock.now, ring.available))
        return data

    def lowest_left(self, since: float, until: float = float("inf")) -> int:
        return min(n for t, n in self.left if since <= t < until)


def test_standing_delay_is_played_away_to_the_slack(qapp: Any, clock: SimClock) -> None:
    """25 ms left after each read from the start (how the two clocks happened to start) go
    down to the slack as it shrinks from MIC_SLACK_START to MIC_SLACK, by dropping single
    samples: no short read, no cut, and the voice without a step."""
    io = mic_side(qapp)
    call = Call(io, clock, left_ms=25.0)
    start = clock.now
    call.run(30.0)
    assert bytes_to_ms(call.lowest_left(start, start + 0.5)) == pytest.approx(25.0, abs=1)
    assert call.lowest_left(start + 2.0, start + 3.0) <= MIC_SLACK_START + ms_to_bytes(2)
    lowest_last = call.lowest_left(clock.now - 1.0)
    assert MIC_SLACK - ms_to_bytes(1) <= lowest_last <= MIC_SLACK + ms_to_bytes(2), (
        bytes_to_ms(lowest_last)
    )
    assert call.short_reads == 0
    assert io.counters.mic_trimmed_bytes == 0
    assert io.mic_ring.dropped == 0
    assert io.counters.mic_caught_up_bytes == pytest.approx(ms_to_bytes(17), abs=ms_to_bytes(1))
    sent = np.frombuffer(bytes(call.sent), dtype="<i2").astype(np.int32)
    steepest = 0.3 * 32767 * 2 * np.pi * 440 * CATCH_UP_SPEED / 16000
    assert np.abs(np.diff(sent)).max() <= steepest * 1.03 + 2


def test_a_fast_microphone_clock_does_not_pile_up_delay(qapp: Any, clock: SimClock) -> None:
    """A microphone 0.2 % faster than pjmedia's clock brings 2 ms more every second: for a
    minute that would be 120 ms, cut at MIC_MAX_BYTES (100 ms) with a click. It stays at
    the slack, played away as it comes."""
    io = mic_side(qapp)
    call = Call(io, clock, left_ms=bytes_to_ms(MIC_SLACK), speed=1.002)
    start = clock.now
    call.run(60.0)
    assert call.lowest_left(start + 50.0) <= MIC_SLACK + ms_to_bytes(2)
    assert max(n for _, n in call.left) < MIC_SLACK_START + ms_to_bytes(5)
    assert call.short_reads == 0
    assert io.counters.mic_trimmed_bytes == 0
    assert io.mic_ring.dropped == 0
    assert io.counters.mic_caught_up_bytes == pytest.approx(ms_to_bytes(120), rel=0.1)


def test_late_blocks_raise_the_slack_which_then_decays(qapp: Any, clock: SimClock) -> None:
    """The microphone's blocks 15 ms late once: at the slack's floor (8 ms) a read comes
    short (one 20 ms gap), and the slack grows by MIC_SLACK_STEP, so that the same delay
    later finds enough; it shrinks back while blocks come on time."""
    io = mic_side(qapp)
    call = Call(io, clock, left_ms=bytes_to_ms(MIC_SLACK))
    call.run(30.0)
    assert io._mic_standing.slack == MIC_SLACK
    call.run(3.0, late_blocks=(1.995,))  # 11.5 ms before a read
    assert call.short_reads == 1
    assert io.counters.mic_slack_raises == 1
    call.run(3.0)
    raised = io._mic_standing.slack
    assert MIC_SLACK + MIC_SLACK_STEP - ms_to_bytes(3) <= raised <= MIC_SLACK + MIC_SLACK_STEP
    call.run(3.0, late_blocks=(0.995,))
    assert call.short_reads == 1  # the same delay, now absorbed
    assert io.counters.mic_trimmed_bytes == 0
    call.run(60.0)
    assert io._mic_standing.slack == MIC_SLACK
    assert call.lowest_left(clock.now - 5.0) <= MIC_SLACK + ms_to_bytes(2)


def test_the_test_phone_hears_a_tone_played_away_as_the_tone() -> None:
    """The test phone's tone check accepts a tone 2 % high, as the bridge sends it while it
    plays the microphone ring's delay away (1000 Hz then fits a 1000 Hz sine over 50 ms
    badly)."""
    assert sipphone.CATCH_UP_SPEED == CATCH_UP_SPEED
