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

import pytest

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
