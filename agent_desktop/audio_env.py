"""The sound server's buffering for this process: set before any audio stream opens.

Qt Multimedia 6.11 sizes its PulseAudio streams from the device's native period, not from
`QAudioSink.setBufferSize()`: measured (bench/audio_bridge.py, PulseAudio 16 null sinks), the
speaker path then added ~73 ms to a call's audio and the microphone came in 64 ms fragments.
libpulse's own `PULSE_LATENCY_MSEC` sets every stream of the process (target length and
fragment size, latency adjustment on): at 20 ms the speaker path adds ~39 ms (the bridge
refills the sink, see `agent_desktop.sip.audio.REFILL_MS`). PipeWire's client library reads
`PIPEWIRE_LATENCY` the same way (not measured here: this machine runs PulseAudio).

An administrator's value in the environment wins; the app only fills in what is missing.
Set it in the composition root before any thread starts (setenv is not thread-safe).
"""

from __future__ import annotations

import sys
from collections.abc import MutableMapping

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
