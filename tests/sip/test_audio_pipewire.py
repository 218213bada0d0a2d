"""The audio bridge's acceptance scenarios again, on PipeWire 1.x through Qt's native PipeWire
backend: what Debian 13, Ubuntu 24.04 and Fedora desktops run. Qt Multimedia 6.11 plays
through that backend whenever it finds libpipewire 1.x and a PipeWire server (0.3.65, Debian
12's, it does not use: it reaches pipewire-pulse through libpulse then, as PulseAudio).

The same test functions as tests/sip/test_audio_bridge.py, with `pulse` a private PipeWire
1.4 (scripts/pipewire1.sh; the daemons and the app's libpipewire from its prefix). Each
scenario's child process must really have used the native backend (`_run` checks what its
threads say against `PipeWireServer.qt_backend`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pbx.sandbox import AsteriskSandbox
from tests.sip import test_audio_bridge as on_pulseaudio
from tests.support.pipewire import PipeWireServer, missing_pipewire_tools, pipewire1_prefix
from tests.support.pulse import in_environ

pytestmark = on_pulseaudio.pytestmark


@pytest.fixture(scope="module", name="pulse")
def pipewire1_fixture() -> Iterator[PipeWireServer]:
    """PipeWire 1.x with the virtual headsets; its variables in os.environ meanwhile."""
    prefix = pipewire1_prefix()
    missing = missing_pipewire_tools(prefix)
    if missing:
        why = f"PipeWire 1.x missing {missing} in {prefix}: run scripts/pipewire1.sh"
        if os.environ.get("CI"):
            pytest.fail(why)  # CI installs it (scripts/bootstrap.sh): a skip would hide that
        pytest.skip(why)
    with in_environ(PipeWireServer(prefix=prefix).start()) as server:
        assert server.version().startswith("1."), server.version()
        yield server


tone_run = on_pulseaudio.tone_run
test_far_end_tone_comes_out_of_the_speaker_without_gaps = (
    on_pulseaudio.test_far_end_tone_comes_out_of_the_speaker_without_gaps
)
test_microphone_tone_reaches_the_far_end = on_pulseaudio.test_microphone_tone_reaches_the_far_end
test_speaker_unplugged_mid_call_falls_back_and_returns = (
    on_pulseaudio.test_speaker_unplugged_mid_call_falls_back_and_returns
)
test_microphone_unplugged_mid_call_falls_back_and_returns = (
    on_pulseaudio.test_microphone_unplugged_mid_call_falls_back_and_returns
)
test_follow_the_default_moves_audio_mid_call = (
    on_pulseaudio.test_follow_the_default_moves_audio_mid_call
)
test_pinned_devices_keep_the_call_when_the_defaults_change = (
    on_pulseaudio.test_pinned_devices_keep_the_call_when_the_defaults_change
)
test_ringer_on_its_own_device_and_unplugged = (
    on_pulseaudio.test_ringer_on_its_own_device_and_unplugged
)
test_level_meter_follows_the_microphone = on_pulseaudio.test_level_meter_follows_the_microphone
test_echo_is_cancelled_with_the_speaker_looped_into_the_microphone = (
    on_pulseaudio.test_echo_is_cancelled_with_the_speaker_looped_into_the_microphone
)
test_muting_the_call_silences_what_the_far_end_receives = (
    on_pulseaudio.test_muting_the_call_silences_what_the_far_end_receives
)


QUANTUM_CALL_SECONDS = 15.0


@pytest.mark.parametrize(("scenario", "quantum"), [("tone", 1024), ("tone", 2048), ("echo", 2048)])
def test_large_graph_quanta_play_without_gaps(
    asterisk: AsteriskSandbox, pulse: PipeWireServer, tmp_path: Path, scenario: str, quantum: int
) -> None:
    """Through Qt's native backend, PipeWire takes a whole graph quantum from Qt's sink
    buffer each cycle, and puts one into its source buffer. 1024 samples at 48 kHz (21.3 ms)
    is PipeWire's minimum in any virtual machine (a VDI seat); 2048 is what some Bluetooth
    sinks run at. With the 20 ms sink buffer the bridge used to ask for, the speaker lost
    46 % and 55 % of its 20 ms blocks; with the 40 ms source buffer, the far end got a silent
    frame from the microphone every ~0.35 s at 2048 ("echo": the microphone's tone, echoed
    by the PBX, is what the speaker must play)."""
    pulse.force_quantum(quantum)
    try:
        result = on_pulseaudio._run(asterisk, pulse, tmp_path, scenario, QUANTUM_CALL_SECONDS)
    finally:
        pulse.force_quantum(0)
    on_pulseaudio.assert_tone_without_gaps(result, QUANTUM_CALL_SECONDS)
