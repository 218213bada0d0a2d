"""The sound server's latency variables (agent_desktop.audio_env)."""

from __future__ import annotations

import pytest

from agent_desktop import audio_env


@pytest.fixture
def on_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audio_env.sys, "platform", "linux")


@pytest.mark.usefixtures("on_linux")
def test_fills_in_the_latency_for_pulse_and_pipewire() -> None:
    environ: dict[str, str] = {"HOME": "/home/agent"}
    effective = audio_env.apply_low_latency_audio_env(environ)
    assert environ["PULSE_LATENCY_MSEC"] == "20"
    assert environ["PIPEWIRE_LATENCY"] == "320/16000"
    assert effective == {"PULSE_LATENCY_MSEC": "20", "PIPEWIRE_LATENCY": "320/16000"}
    assert environ["HOME"] == "/home/agent"


@pytest.mark.usefixtures("on_linux")
def test_an_administrators_value_wins() -> None:
    environ = {"PULSE_LATENCY_MSEC": "60"}
    effective = audio_env.apply_low_latency_audio_env(environ)
    assert environ["PULSE_LATENCY_MSEC"] == "60"
    assert effective["PULSE_LATENCY_MSEC"] == "60"
    assert environ["PIPEWIRE_LATENCY"] == "320/16000"


def test_other_systems_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audio_env.sys, "platform", "win32")
    environ: dict[str, str] = {}
    assert audio_env.apply_low_latency_audio_env(environ) == {}
    assert environ == {}


@pytest.mark.usefixtures("on_linux")
def test_the_qt_backend_is_told_by_its_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QT_AUDIO_BACKEND", raising=False)
    assert audio_env.qt_audio_backend(["python", "QAudioContext", "PWDevMon"]) == "pipewire"
    assert audio_env.qt_audio_backend(["python", "QPulseAudioEngi"]) == "pulseaudio"
    assert audio_env.qt_audio_backend(["python"]) == "unknown"  # Qt Multimedia not started yet
    monkeypatch.setenv("QT_AUDIO_BACKEND", "alsa")
    assert audio_env.qt_audio_backend(["python"]) == "alsa"
