"""The sound server's buffering for this process: set before any audio stream opens.

Qt Multimedia 6.11 sizes its PulseAudio streams from the device's native period, not from
`QAudioSink.setBufferSize()`: measured (bench/audio_bridge.py, PulseAudio 16 null sinks), the
speaker path then added ~73 ms to a call's audio and the microphone came in 64 ms fragments.
libpulse's own `PULSE_LATENCY_MSEC` sets every stream of the process (target length and
fragment size, latency adjustment on): at 20 ms the speaker path adds ~39 ms (the bridge
refills the sink, see `agent_desktop.sip.audio.REFILL_MS`). PipeWire's client library reads
`PIPEWIRE_LATENCY` the same way for Qt's native PipeWire backend (measured with PipeWire 1.4: the
speaker path adds ~51 ms with 80, 160 or 320 samples at 16 kHz alike).

Which backend Qt Multimedia plays through is not in its API, but in its threads: Qt 6.11 uses its
native PipeWire backend when it finds libpipewire 1.x and a PipeWire server (threads
`QAudioContext`, `PWDevMon`), else libpulse (`QPulseAudioEngi`), which also reaches PipeWire
through pipewire-pulse (PipeWire 0.3.x, Debian 12). `PULSE_LATENCY_MSEC` acts on the latter,
`PIPEWIRE_LATENCY` on the former.

An administrator's value in the environment wins; the app only fills in what is missing.
Set it in the composition root before any thread starts (setenv is not thread-safe).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, MutableMapping

AUDIO_LATENCY_MS = 20
_RATE = 16_000  # the bridge's rate (agent_desktop.sip.pcm.RATE; this module stays light)


def low_latency_audio_env() -> dict[str, str]:
    """The variables the app would set, with their values (Linux sound servers only)."""
    if not sys.platform.startswith("linux"):
        return {}
    return {
        "PULSE_LATENCY_MSEC": str(AUDIO_LATENCY_MS),
        "PIPEWIRE_LATENCY": f"{_RATE * AUDIO_LATENCY_MS // 1000}/{_RATE}",
    }


def apply_low_latency_audio_env(environ: MutableMapping[str, str]) -> dict[str, str]:
    """Fill in the latency variables the environment does not already set; returns what is
    in effect afterwards (the administrator's values where they were set)."""
    effective = {}
    for key, value in low_latency_audio_env().items():
        effective[key] = environ.setdefault(key, value)
    return effective


# Threads Qt Multimedia 6.11 starts once it lists devices or opens a stream.
_BACKEND_THREADS = (("pipewire", ("QAudioContext", "PWDevMon")), ("pulseaudio", ("QPulseAudio",)))


def qt_audio_backend(thread_names: Iterable[str] | None = None) -> str:
    """The sound backend Qt Multimedia runs on in this process: "pipewire", "pulseaudio",
    "wasapi" or "coreaudio"; on Linux told by Qt's own threads (`thread_names`: this process's,
    read from /proc, when None), so call it after Qt listed the devices or opened a stream.
    Before that (or for another backend): QT_AUDIO_BACKEND if set, else "unknown"."""
    if sys.platform == "win32":
        return "wasapi"
    if sys.platform == "darwin":
        return "coreaudio"
    names = list(thread_names) if thread_names is not None else _thread_names()
    for backend, prefixes in _BACKEND_THREADS:
        if any(name.startswith(prefixes) for name in names):
            return backend
    return os.environ.get("QT_AUDIO_BACKEND") or "unknown"


def _thread_names() -> list[str]:
    names = []
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return []
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/comm", encoding="utf-8") as fh:
                names.append(fh.read().strip())
        except OSError:
            continue  # the thread ended meanwhile
    return names
