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
from collections.abc import Callable
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
        base = {
            # The caller's own PipeWire/WirePlumber configuration and state stay out of it.
            "XDG_CONFIG_HOME": str(self.base / "config"),
            "XDG_STATE_HOME": str(self.base / "state"),
            "XDG_DATA_HOME": str(self.base / "data"),
            "PIPEWIRE_RUNTIME_DIR": str(self.runtime),
        }
        return {**super().env, **base}

    def client_env(self) -> dict[str, str]:
        ours = self.env
        return {
            k: v
            for k, v in super().client_env().items()
            if not k.startswith(("PIPEWIRE_", "WIREPLUMBER_")) or k in ours
        }

    def start(self, timeout: float = 15.0) -> PipeWireServer:
        missing = missing_pipewire_tools()
        if missing:
            raise PulseError(
                f"missing tools {missing}: apt-get install pipewire pipewire-pulse wireplumber"
                " dbus-daemon pulseaudio-utils sox"
            )
        try:
            self._start(time.monotonic() + timeout)
        except BaseException:
            self.stop()  # no daemon outlives a failed start (they run in their own sessions)
            raise
        return self

    def _start(self, deadline: float) -> None:
        (self.runtime / "pulse").mkdir(parents=True, exist_ok=True)
        os.chmod(self.runtime, 0o700)
        bus = self.runtime / "bus"
        env = {**self.client_env(), "DBUS_SESSION_BUS_ADDRESS": f"unix:path={bus}"}
        bus_cmd = ["dbus-daemon", "--session", "--nofork", "--nopidfile",
                   f"--address=unix:path={bus}"]  # fmt: skip
        # Each one waits for what it connects to: the bus, then pipewire's socket.
        steps = [(bus_cmd, bus), (["pipewire"], self.runtime / "pipewire-0"),
                 (["wireplumber"], None), (["pipewire-pulse"], None)]  # fmt: skip
        with open(self.log_path, "ab") as log:
            for cmd, ready in steps:
                daemon = subprocess.Popen(
                    cmd,
                    stdout=log,
                    stderr=log,
                    stdin=subprocess.DEVNULL,
                    env=env,
                    start_new_session=True,
                )
                self.daemons.append(daemon)
                self._wait(_exists(ready), deadline)
        self.proc = self.daemons[-1]
        self._wait(lambda: self.socket.exists() and self._pactl_ok("info"), deadline)
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

    def _wait(self, done: Callable[[], bool], deadline: float) -> None:
        while not done():
            dead = [d for d in self.daemons if d.poll() is not None]
            if dead or time.monotonic() > deadline:
                what = f"{dead[0].args!r} exited" if dead else "not ready in time"
                raise PulseError(f"PipeWire: {what}: {self.log_tail()}")
            time.sleep(0.02)

    def _end_server(self) -> None:
        self.proc = None  # the last of the daemons, ended with them
        for daemon in reversed(self.daemons):
            _end(daemon, group=True)
        self.daemons.clear()


def _exists(path: Path | None) -> Callable[[], bool]:
    return lambda: path is None or path.exists()
