"""A private PipeWire (with pipewire-pulse and WirePlumber) with the same virtual headsets as
tests.support.pulse.PulseServer: what Debian 12 and Ubuntu 22.10+ desktops run by default. The
app talks to it through libpulse exactly as to PulseAudio (Qt Multimedia's pulse backend).

Recipe: a private D-Bus session bus (WirePlumber exits without one), then `pipewire`,
`wireplumber` and `pipewire-pulse`, all with HOME and XDG_RUNTIME_DIR in a temporary folder; the
devices are then made through pipewire-pulse's own pactl modules (module-null-sink,
module-remap-source), as PulseServer's script makes them.

Debian packages: pipewire pipewire-pulse wireplumber dbus-daemon (plus PulseServer's:
pulseaudio-utils for pactl/pacat/parec, sox).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from tests.support.pulse import PulseError, PulseServer, _end

PIPEWIRE_TOOLS = (
    "dbus-daemon", "pipewire", "pipewire-pulse", "wireplumber", "pactl", "pacat", "parec", "sox",
)  # fmt: skip


def missing_pipewire_tools() -> list[str]:
    return [t for t in PIPEWIRE_TOOLS if shutil.which(t) is None]


class PipeWireServer(PulseServer):
    """PipeWire + pipewire-pulse + WirePlumber in `base` (a temporary folder when None)."""

    def __init__(self, base: Path | None = None) -> None:
        super().__init__(base)
        self.daemons: list[subprocess.Popen[bytes]] = []

    @property
    def env(self) -> dict[str, str]:
        return {**super().env, "PIPEWIRE_RUNTIME_DIR": str(self.runtime)}

    def start(self, timeout: float = 15.0) -> PipeWireServer:
        missing = missing_pipewire_tools()
        if missing:
            raise PulseError(
                f"missing tools {missing}: apt-get install pipewire pipewire-pulse wireplumber"
                " dbus-daemon pulseaudio-utils sox"
            )
        (self.runtime / "pulse").mkdir(parents=True, exist_ok=True)
        os.chmod(self.runtime, 0o700)
        bus = self.runtime / "bus"
        env = {**self.client_env(), "DBUS_SESSION_BUS_ADDRESS": f"unix:path={bus}"}
        with open(self.log_path, "ab") as log:
            bus_cmd = ["dbus-daemon", "--session", "--nofork", "--nopidfile",
                       f"--address=unix:path={bus}"]  # fmt: skip
            self.daemons.append(
                subprocess.Popen(
                    bus_cmd,
                    stdout=log,
                    stderr=log,
                    stdin=subprocess.DEVNULL,
                    env=env,
                    start_new_session=True,
                )
            )
            while not bus.exists() and self.daemons[0].poll() is None:
                time.sleep(0.02)
            for cmd in (["pipewire"], ["wireplumber"], ["pipewire-pulse"]):
                self.daemons.append(
                    subprocess.Popen(
                        cmd,
                        stdout=log,
                        stderr=log,
                        stdin=subprocess.DEVNULL,
                        env=env,
                        start_new_session=True,
                    )
                )
                time.sleep(0.2)  # pipewire's socket first; the others connect to it
        self.proc = self.daemons[-1]
        deadline = time.monotonic() + timeout
        while not (self.socket.exists() and self._pactl_ok("info")):
            dead = [d for d in self.daemons if d.poll() is not None]
            if dead or time.monotonic() > deadline:
                tail = self.log_tail()  # before stop() removes the folder
                self.stop()
                what = f"{dead[0].args!r} exited" if dead else f"not ready after {timeout}s"
                raise PulseError(f"PipeWire: {what}: {tail}")
            time.sleep(0.05)
        self.add_sink("speaker", "Speaker", keep_alive=False)
        self.add_sink("micfeed", "MicFeed", keep_alive=False)
        self.modules.pop("speaker")  # part of the base set, as in PulseServer's script
        self.modules.pop("micfeed")
        self.load_module(
            "module-remap-source",
            "source_name=mic",
            "master=micfeed.monitor",
            "source_properties=device.description=Microphone",
        )
        self.set_default_sink("speaker")
        self.set_default_source("mic")
        self.keep_alive("speaker")
        self.keep_alive("micfeed")
        return self

    def stop(self) -> None:
        for client in [*self.feeders, *self.keepalive.values()]:
            _end(client)
        self.feeders.clear()
        self.keepalive.clear()
        self.proc = None
        for daemon in reversed(self.daemons):
            _end(daemon)
        self.daemons.clear()
        super().stop()  # the temporary folder
