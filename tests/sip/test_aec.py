"""Echo canceller of the audio bridge, offline: the issue's echo acceptance on synthetic rooms.

Speaker looped into the microphone: echo = far end through a bulk delay (the bridge's buffers)
and a decaying random room response (80 ms) at -6 dB, plus noise at -70 dBFS. ERLE must reach
20 dB after 2 s of convergence; a near-end 440 Hz tone during double talk must keep its level
within 3 dB.
"""

from __future__ import annotations

import logging
import sys

import numpy as np
import pytest

from agent_desktop.sip.aec import FRAME_BYTES, FRAME_SAMPLES, SAMPLE_RATE, EchoCanceller

FS = SAMPLE_RATE
FULL_SCALE = 32768.0


def _speechlike(n: int, rng: np.random.Generator) -> np.ndarray:
    """Voiced harmonics with a gliding pitch and three formants, in syllables, plus fricatives."""
    t = np.arange(n) / FS
    f0 = 150 + 35 * np.sin(2 * np.pi * 0.7 * t) + 15 * np.sin(2 * np.pi * 0.23 * t + 1)
    phase = 2 * np.pi * np.cumsum(f0) / FS
    voiced = np.zeros(n)
    for k in range(1, 40):
        fk = k * f0
        amp = 0.05 + sum(
            np.exp(-0.5 * ((fk - fc) / bw) ** 2)
            for fc, bw in ((600, 120), (1400, 200), (2600, 300))
        )
        voiced += np.where(fk < 3800, amp, 0.0) / np.sqrt(k) * np.sin(k * phase)
    envelope = np.zeros(n)
    i = 0
    while i < n:
        length = int(rng.uniform(0.12, 0.3) * FS)
        syllable = np.sin(np.pi * np.linspace(0, 1, length)) ** 0.7 * rng.uniform(0.4, 1.0)
        envelope[i : i + length] = syllable[: n - i]
        i += length + int(rng.uniform(0.02, 0.15) * FS)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / FS)
    fricative = np.fft.irfft(spectrum * ((freqs > 2500) & (freqs < 7000)), n)
    fricative *= np.repeat(rng.random(n // 1600 + 1) > 0.7, 1600)[:n]
    signal = envelope * (voiced + 0.5 * fricative)
    return np.asarray(signal / np.sqrt(np.mean(signal**2)))


def _room(rng: np.random.Generator, delay_ms: int, rir_ms: int = 80) -> np.ndarray:
    """Bulk delay + a direct path and reflections decaying by 60 dB over rir_ms, total -6 dB."""
    taps = int(rir_ms * FS / 1000)
    t = np.arange(taps) / FS
    rir = rng.standard_normal(taps) * np.exp(-t / (rir_ms / 1000 / 6.9))
    rir[0] += 3.0
    rir *= 10 ** (-6 / 20) / np.sqrt(np.sum(rir**2))
    return np.concatenate([np.zeros(int(delay_ms * FS / 1000)), rir])


def _s16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def _scenario(
    far_kind: str, delay_ms: int, seconds: int = 10, near_tone_from_s: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Returns (far, microphone, near-end talk alone) as int16 arrays."""
    rng = np.random.default_rng(delay_ms)
    n = seconds * FS
    t = np.arange(n) / FS
    if far_kind == "speech":
        far = _speechlike(n, rng)
    else:
        far = np.sqrt(2) * np.sin(2 * np.pi * float(far_kind) * t)
    far = far * FULL_SCALE * 10 ** (-20 / 20)
    echo = np.convolve(far, _room(rng, delay_ms))[:n]
    noise = rng.standard_normal(n) * FULL_SCALE * 10 ** (-70 / 20)
    talk = np.zeros(n)
    if near_tone_from_s is not None:
        start = int(near_tone_from_s * FS)
        amplitude = np.sqrt(2) * FULL_SCALE * 10 ** (-26 / 20)
        talk[start:] = amplitude * np.sin(2 * np.pi * 440 * t[: n - start])
    return _s16(far), _s16(echo + noise + talk), _s16(talk + noise)


def _run(ec: EchoCanceller, far: np.ndarray, mic: np.ndarray) -> np.ndarray:
    out = bytearray()
    for i in range(0, len(mic), FRAME_SAMPLES):
        out += ec.process(
            mic[i : i + FRAME_SAMPLES].tobytes(), far[i : i + FRAME_SAMPLES].tobytes()
        )
    return np.frombuffer(bytes(out), dtype=np.int16)


def _power_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(x.astype(np.float64) ** 2) + 1e-9))


def _tone_db(x: np.ndarray, freq: float) -> float:
    """Level at one frequency (a windowed single-bin DFT, i.e. Goertzel)."""
    n = len(x)
    basis = np.exp(-2j * np.pi * freq * np.arange(n) / FS)
    return float(20 * np.log10(abs(np.dot(x * np.hanning(n), basis)) + 1e-9))


def _erle_after_convergence(out: np.ndarray, mic: np.ndarray) -> float:
    window = slice(2 * FS, 5 * FS)  # after 2 s of convergence, far end only
    return _power_db(mic[window]) - _power_db(out[window])


@pytest.fixture
def canceller() -> EchoCanceller:
    ec = EchoCanceller()
    assert ec.active, f"echo canceller backend missing: {ec.fallback_reason}"
    return ec


@pytest.mark.parametrize("delay_ms", [60, 150])
def test_erle_on_speech_after_two_seconds(canceller: EchoCanceller, delay_ms: int) -> None:
    far, mic, _ = _scenario("speech", delay_ms)
    out = _run(canceller, far, mic)
    assert _erle_after_convergence(out, mic) >= 20.0
    stats = canceller.stats()
    assert stats.frames == len(mic) // FRAME_SAMPLES
    assert stats.erle_db is not None
    assert stats.erle_db >= 15.0  # the running estimate, smoothed over the whole run


@pytest.mark.parametrize("freq", [300, 440])
def test_erle_on_a_plain_tone(canceller: EchoCanceller, freq: int) -> None:
    # AEC3 does not cancel steady pure tones above ~500 Hz (see the module docstring).
    far, mic, _ = _scenario(str(freq), 150)
    out = _run(canceller, far, mic)
    assert _erle_after_convergence(out, mic) >= 20.0


def test_near_end_tone_survives_double_talk(canceller: EchoCanceller) -> None:
    far, mic, talk = _scenario("speech", 150, near_tone_from_s=5.0)
    out = _run(canceller, far, mic)
    assert _erle_after_convergence(out, mic) >= 20.0
    window = slice(int(5.5 * FS), 10 * FS)
    change = _tone_db(out[window], 440) - _tone_db(talk[window], 440)
    assert abs(change) <= 3.0, f"near-end tone changed by {change:.1f} dB in double talk"


def test_long_speaker_path_is_covered_by_reference_delay() -> None:
    # 1 s is beyond AEC3's own delay search (~500 ms); the bridge states the fixed excess.
    far, mic, _ = _scenario("speech", 1000)
    ec = EchoCanceller(reference_delay_ms=850)
    assert _erle_after_convergence(_run(ec, far, mic), mic) >= 20.0


def test_reset_forgets_and_keeps_working(canceller: EchoCanceller) -> None:
    far, mic, _ = _scenario("speech", 60, seconds=5)
    _run(canceller, far, mic)
    canceller.reset()
    assert canceller.stats().frames == 0
    out = _run(canceller, far, mic)
    assert _erle_after_convergence(out, mic) >= 20.0


def test_cost_per_frame_is_small(canceller: EchoCanceller) -> None:
    far, mic, _ = _scenario("speech", 60, seconds=4)
    _run(canceller, far, mic)
    # 50 frames/s on 2 cores: measured ~0.12 ms; 2 ms would still be only 10% of one core.
    assert canceller.stats().mean_process_us < 2000


def test_silent_far_end_and_frame_size_checks(canceller: EchoCanceller) -> None:
    silence = bytes(FRAME_BYTES)
    assert len(canceller.process(silence, None)) == FRAME_BYTES
    assert len(canceller.process(silence, b"")) == FRAME_BYTES
    with pytest.raises(ValueError, match="near frame"):
        canceller.process(bytes(FRAME_BYTES - 2), silence)
    with pytest.raises(ValueError, match="far frame"):
        canceller.process(silence, bytes(10))


def test_passthrough_fallback_when_backend_is_missing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "pywebrtc_audio", None)  # import now raises ImportError
    with caplog.at_level(logging.WARNING, logger="agent_desktop.sip.aec"):
        ec = EchoCanceller()
    assert not ec.active
    assert ec.backend == "passthrough"
    assert "WITHOUT echo cancellation" in caplog.text
    assert "pywebrtc_audio" in caplog.text
    far, mic, _ = _scenario("speech", 60, seconds=1)
    near = mic[:FRAME_SAMPLES].tobytes()
    assert ec.process(near, far[:FRAME_SAMPLES].tobytes()) == near
    assert ec.stats().erle_db is None


def test_backend_failure_at_run_time_falls_back_without_raising(
    canceller: EchoCanceller,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(near: bytes, far: bytes) -> bytes:
        raise RuntimeError("boom")

    monkeypatch.setattr(canceller._backend, "process", broken)
    near = bytes(range(256)) * 2 + bytes(FRAME_BYTES - 512)
    far = bytes(range(64, 192)) * 5  # loud enough that the backend runs (not skipped)
    with caplog.at_level(logging.WARNING, logger="agent_desktop.sip.aec"):
        assert canceller.process(near, far) == near
        assert canceller.process(near, far) == near
    assert not canceller.active
    assert caplog.text.count("WITHOUT echo cancellation") == 1


def test_explicit_passthrough_is_logged_at_info(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="agent_desktop.sip.aec"):
        ec = EchoCanceller(backend="passthrough")
    assert not ec.active
    assert "pass-through" in caplog.text


def _with_pause(far: np.ndarray, mic: np.ndarray, talk: np.ndarray, a_s: float, b_s: float) -> None:
    """The far end falls silent from a_s to b_s (the microphone keeps its noise and talk)."""
    a, b = int(a_s * FS), int(b_s * FS)
    far[a:b] = 0
    mic[a:b] = talk[a:b]


@pytest.mark.parametrize("skip", [False, True])
def test_quiet_far_end_skips_the_backend_without_losing_the_echo_path(skip: bool) -> None:
    """Far end speaks 0-4 s, is silent 4-6 s, speaks again 6-10 s. With skip_quiet the
    backend is not run from 0.5 s into the pause (the microphone passes unchanged) and
    replays the last 300 ms when the far end returns; ERLE after the pause is unchanged."""
    far, mic, talk = _scenario("speech", 150)
    _with_pause(far, mic, talk, 4.0, 6.0)
    ec = EchoCanceller(skip_quiet=skip)
    out = _run(ec, far, mic)
    after = slice(int(6.5 * FS), 10 * FS)  # from 0.5 s after the far end came back
    erle_after = _power_db(mic[after]) - _power_db(out[after])
    quiet = slice(int(4.6 * FS), 6 * FS)
    stats = ec.stats()
    if skip:
        assert 60 <= stats.skipped_frames <= 80, stats  # ~1.5 s of 20 ms frames (+ gaps)
        assert stats.replayed_frames == 15, stats
        assert np.array_equal(out[quiet], mic[quiet])  # passed through unchanged
    else:
        assert stats.skipped_frames == 0
    assert erle_after >= 20.0, f"ERLE after the pause {erle_after:.1f} dB (skip={skip})"
