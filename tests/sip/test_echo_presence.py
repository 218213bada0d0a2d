"""The canceller idles on a path without echo (a headset), offline and deterministic.

Far end: the speech-like signal of test_aec at -20 dBFS. Microphone: pink room noise, an
echo of the far end through test_aec's room (-6 dB unless said), and/or the agent's own
voice (the same generator, another seed, 3.3 s later: two such voices correlate by
chance far more than two real ones, which makes the double-talk cases harder, not easier)."""

from __future__ import annotations

import logging
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from agent_desktop.sip.aec import EchoCanceller
from agent_desktop.sip.echo_delay import (
    ECHO_PEAK,
    NO_ECHO_PEAK,
    NO_ECHO_WINDOWS,
    EchoDelayLock,
    EchoPresence,
)
from tests.sip.test_aec import FS, FULL_SCALE, _power_db, _room, _run, _s16, _speechlike

SECONDS = 30
N = SECONDS * FS


def _level(db: float) -> float:
    return FULL_SCALE * 10 ** (db / 20)


def _far() -> np.ndarray:
    return _speechlike(N, np.random.default_rng(7)) * _level(-20)


def _room_noise(db: float, n: int = N) -> np.ndarray:
    white = np.random.default_rng(1).standard_normal(n)
    spectrum = np.fft.rfft(white)
    freqs = np.fft.rfftfreq(n, 1 / FS)
    spectrum[1:] /= np.sqrt(freqs[1:] / 100)  # pink above 100 Hz, like a room's hum and air
    spectrum[0] = 0
    pink = np.fft.irfft(spectrum, n)
    return np.asarray(pink / np.sqrt(np.mean(pink**2)) * _level(db))


def _agent_voice(db: float) -> np.ndarray:
    return np.roll(_speechlike(N, np.random.default_rng(11)), int(3.3 * FS)) * _level(db)


def _echo(far: np.ndarray, coupling_db: float = -6.0, delay_ms: int = 120) -> np.ndarray:
    room = _room(np.random.default_rng(3), delay_ms) * 10 ** ((coupling_db + 6) / 20)
    return np.convolve(far, room)[:N]


def _window_peaks(far: np.ndarray, mic: np.ndarray) -> list[float]:
    lock = EchoDelayLock()
    peaks = []
    for i in range(0, N, 320):
        if lock.feed(mic[i : i + 320].tobytes(), far[i : i + 320].tobytes()):
            peaks.append(lock.window_peak)
    return peaks


def test_headset_the_canceller_idles_after_five_seconds_of_far_end_audio(
    caplog: pytest.LogCaptureFixture,
) -> None:
    far, mic = _s16(_far()), _s16(_room_noise(-60))
    assert max(_window_peaks(far, mic)) < NO_ECHO_PEAK  # the measurement the rule rests on
    ec = EchoCanceller()
    with caplog.at_level(logging.INFO, logger="agent_desktop.sip.aec"):
        out = _run(ec, far, mic)
    stats = ec.stats()
    assert stats.echo_free, stats
    assert stats.echo_free_entries == 1, stats
    # Idle from ~5 s of far-end audio (plus the lock's 0.3 s of history) to the end.
    assert 24 * 50 <= stats.echo_free_frames <= 25 * 50, stats
    idle = slice(7 * FS, N)
    assert np.array_equal(out[idle], mic[idle])  # passed through, untouched
    assert any("a headset; the canceller idles" in r.getMessage() for r in caplog.records)


def test_digital_silence_under_a_steady_tone_is_echo_free() -> None:
    """The bench's CPU call: the milliwatt tone from the far end, nothing on the microphone."""
    t = np.arange(N) / FS
    far = _s16(np.sqrt(2) * np.sin(2 * np.pi * 1000 * t) * _level(-20))
    ec = EchoCanceller()
    _run(ec, far, np.zeros(N, dtype=np.int16))
    assert ec.stats().echo_free


@pytest.mark.parametrize(
    ("coupling_db", "noise_db"),
    [(-6.0, -60.0), (-30.0, -55.0), (-40.0, -50.0)],
    ids=["loud-echo", "echo-30dB", "echo-below-noise"],
)
def test_an_echo_keeps_the_canceller_on(coupling_db: float, noise_db: float) -> None:
    """Even an echo 10 dB below the room noise (-40 dB coupling, -50 dBFS noise) is seen."""
    far = _far()
    mic = _s16(_echo(far, coupling_db) + _room_noise(noise_db))
    ec = EchoCanceller()
    _run(ec, _s16(far), mic)
    stats = ec.stats()
    assert not stats.echo_free, stats
    assert stats.echo_free_frames == 0, stats


def test_double_talk_over_an_echo_keeps_the_canceller_on() -> None:
    """30 s of the agent talking over an echo 15 dB under the far end: the agent's voice
    hides the echo from most windows, but never from 21 of them before it shows again."""
    far = _far()
    mic = _s16(_echo(far, -15.0) + _agent_voice(-20) + _room_noise(-55))
    ec = EchoCanceller()
    _run(ec, _s16(far), mic)
    stats = ec.stats()
    assert stats.echo_free_frames == 0, stats


def test_an_echo_that_appears_wakes_the_canceller_and_it_cancels_again() -> None:
    """Headset for 15 s, then the headset goes on the desk next to the microphone (an echo
    at -6 dB): the canceller is back within a second and cancels >= 20 dB 2 s later."""
    far = _far()
    echo = _echo(far)
    start = 15 * FS
    echo[:start] = 0
    mic = _s16(echo + _room_noise(-60))
    ec = EchoCanceller()
    out = _run(ec, _s16(far), mic)
    stats = ec.stats()
    assert stats.echo_free_entries == 1, stats
    assert not stats.echo_free, stats
    # Idle from ~5.3 s to the wake-up, which comes at most 3 windows after the echo.
    woke_after_s = stats.echo_free_frames / 50 + 5.3 - 15
    assert woke_after_s <= 1.0, stats
    later = slice(start + 3 * FS, N)
    erle = _power_db(mic[later]) - _power_db(out[later])
    assert erle >= 20.0, f"ERLE {erle:.1f} dB after the canceller woke"


def test_presence_rule_on_window_sequences() -> None:
    presence = EchoPresence()
    for _ in range(NO_ECHO_WINDOWS - 1):
        presence.window(0.05, 1000)
    presence.window(0.15, 1000)  # between the thresholds: neither counts nor restarts
    assert not presence.echo_free
    presence.window(0.05, None)
    assert presence.echo_free
    presence.window(0.5, 1000)  # one high window at some lag: no sign yet
    presence.window(0.5, 3000)  # a second at another lag: chance, not an echo
    assert presence.echo_free
    presence.window(ECHO_PEAK, 2000)
    presence.window(0.9, 2005)  # two at one lag: an echo
    assert not presence.echo_free
    assert presence.wakes == 1
    for _ in range(NO_ECHO_WINDOWS - 1):
        presence.window(0.0, None)
    presence.window(0.3, 500)  # maybe an echo, maybe chance: the count starts again
    for _ in range(NO_ECHO_WINDOWS - 1):
        presence.window(0.0, None)
    assert not presence.echo_free
    presence.window(0.0, None)
    assert presence.echo_free
    assert presence.idles == 2
    presence.reset()
    assert not presence.echo_free


def test_it_can_be_turned_off() -> None:
    far, mic = _s16(_far()), _s16(_room_noise(-60))
    ec = EchoCanceller(idle_without_echo=False)
    _run(ec, far, mic)
    assert not ec.stats().echo_free
    assert ec.stats().echo_free_frames == 0


# Two real-sounding voices: espeak-ng (installed by scripts/bootstrap.sh), a man calling and
# a woman answering, 16 kHz. They correlate by chance less than the synthetic voices above,
# so a headset in double talk looks echo-free in more windows (a quarter to a third), and so
# does an echo hidden under the agent's voice: the case the count's restart is for.
CALLER_TEXT = (
    "Thank you for calling the service desk. My order number is four five seven two nine, "
    "and the parcel never arrived. I was told last week that it would be delivered on "
    "Monday, but nobody came, and the tracking page still says it is in transit. Could you "
    "please check what happened and when I can expect it? I would also like to know "
    "whether I can get a refund for the shipping costs, because I paid extra for the "
    "express delivery."
)
AGENT_TEXT = (
    "I am sorry to hear that. Let me look at your account. Could you confirm your postal "
    "code and the name on the order please? Thank you. I can see the parcel was held at the "
    "depot because of an address problem. I will send it again today with express delivery "
    "at no cost, and I will refund the shipping charge to your card within three working "
    "days. Is there anything else I can help you with today?"
)
VOICE_SECONDS = 45


def _espeak(tmp: Path, voice: list[str], text: str) -> np.ndarray:
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is missing: scripts/bootstrap.sh installs it")
    raw, wav = tmp / f"{voice[1]}-22k.wav", tmp / f"{voice[1]}.wav"
    subprocess.run(["espeak-ng", *voice, "-w", str(raw), f"{text} {text}"], check=True)
    subprocess.run(["sox", str(raw), "-r", str(FS), "-c", "1", "-b", "16", str(wav)],
                   check=True, capture_output=True)  # fmt: skip
    with wave.open(str(wav)) as w:
        x = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float64)
    x = x[: VOICE_SECONDS * FS]
    assert len(x) == VOICE_SECONDS * FS, "espeak-ng spoke for less than 45 s"
    talking = x[np.abs(x) > np.abs(x).max() * 0.003]
    return np.asarray(x / np.sqrt(np.mean(talking**2)))  # unit power while talking


@pytest.fixture(scope="module")
def voices(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, np.ndarray]:
    tmp = tmp_path_factory.mktemp("voices")
    caller = _espeak(tmp, ["-v", "en-us+m3", "-s", "165"], CALLER_TEXT)
    agent = _espeak(tmp, ["-v", "en-gb+f3", "-s", "150", "-p", "60"], AGENT_TEXT)
    return caller * _level(-20), agent * _level(-20)


def _turns(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Turn taking in 8 s: the caller talks 0-4.5 s, the agent 4-7.5 s (0.5 s overlaps)."""
    phase = (np.arange(n) / FS) % 8
    return phase < 4.5, (phase >= 4) & (phase < 7.5)


@pytest.mark.parametrize(
    ("coupling_db", "noise_db", "turns"),
    [(-30.0, -55.0, False), (-30.0, -55.0, True), (-40.0, -50.0, False)],
    ids=["echo-30dB-double-talk", "echo-30dB-turns", "echo-below-noise-double-talk"],
)
def test_voices_an_echo_under_double_talk_keeps_the_canceller_on(
    voices: tuple[np.ndarray, np.ndarray], coupling_db: float, noise_db: float, turns: bool
) -> None:
    """45 s of both talking all along (or taking turns) over an echo: never idle. With the
    count restarted only by a steady lag, the first case idled for 19 s of it."""
    caller, agent = voices
    n = len(caller)
    if turns:
        caller_on, agent_on = _turns(n)
        caller, agent = caller * caller_on, agent * agent_on
    room = _room(np.random.default_rng(3), 120) * 10 ** ((coupling_db + 6) / 20)
    noise = _room_noise(noise_db, n)
    mic = _s16(np.convolve(caller, room)[:n] + agent + noise)
    ec = EchoCanceller()
    _run(ec, _s16(caller), mic)
    assert ec.stats().echo_free_frames == 0, ec.stats()


def test_voices_a_headset_idles_in_the_callers_turns(
    voices: tuple[np.ndarray, np.ndarray],
) -> None:
    """Turn taking with a headset: idle from the second turn of the caller on."""
    caller, agent = voices
    n = len(caller)
    caller_on, agent_on = _turns(n)
    mic = _s16(agent * agent_on + _room_noise(-55, n))
    ec = EchoCanceller()
    _run(ec, _s16(caller * caller_on), mic)
    stats = ec.stats()
    assert stats.echo_free, stats
    assert stats.echo_free_frames >= 30 * 50, stats  # of 45 s
