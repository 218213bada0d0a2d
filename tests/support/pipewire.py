"""A private PipeWire (with pipewire-pulse and WirePlumber) with the same virtual headsets as
tests.support.pulse.PulseServer: what Debian 12 and Ubuntu 22.10+ desktops run by default. The
app talks to it through libpulse exactly as to PulseAudio (Qt Multimedia's pulse backend).

Recipe: a private D-Bus session bus (WirePlumber exits without one), then `pipewire`,
`wireplumber` and `pipewire-pulse`, all with HOME and XDG_RUNTIME_DIR in a temporary folder; the
devices are then made through pipewire-pulse's own pactl modules (module-null-sink,
module-remap-source), as PulseServer's script makes them.

Debian packages: pipewire pipewire-pulse wireplumber dbus-daemon (plus PulseServer's:
pulseaudio-utils for pactl/pacat/parec, sox).

PipeWire 1.x (`PipeWireServer(prefix=pipewire1_prefix())`): the daemons run from the prefix
that scripts/pipewire1.sh unpacks (bookworm-backports), and `env` gives clients its
libpipewire: Qt Multimedia 6.11 then plays through its native PipeWire backend, as on the
desktops that run PipeWire 1.x (it does not use 0.3.65's, and talks to pipewire-pulse then).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from tests.support.pulse import PulseError, PulseServer, _end

PIPEWIRE1_DEFAULT_PREFIX = Path("/var/cache/agent-desktop/pipewire-1")
_LIB = "usr/lib/x86_64-linux-gnu"

PIPEWIRE_TOOLS = (
    "dbus-daemon", "pipewire", "pipewire-pulse", "wireplumber", "pactl", "pacat", "parec", "sox",
)  # fmt: skip


def missing_pipewire_tools(prefix: Path | None = None) -> list[str]:
    if prefix is None:
        return [t for t in PIPEWIRE_TOOLS if shutil.which(t) is None]
    ours = ("pipewire", "pipewire-pulse", "wireplumber")
    missing = [t for t in ours if not (prefix / "usr/bin" / t).exists()]
    return missing + [t for t in PIPEWIRE_TOOLS if t not in ours and shutil.which(t) is None]


def pipewire1_prefix() -> Path:
    """Where scripts/pipewire1.sh unpacked PipeWire 1.x (AGENT_DESKTOP_PIPEWIRE1 overrides)."""
    return Path(os.environ.get("AGENT_DESKTOP_PIPEWIRE1") or PIPEWIRE1_DEFAULT_PREFIX)


def prefix_env(prefix: Path) -> dict[str, str]:
    """What a daemon or client needs to run PipeWire from `prefix` instead of the system's:
    its libraries first, its modules, SPA plugins and configuration."""
    lib = prefix / _LIB
    search = [str(lib), *filter(None, os.environ.get("LD_LIBRARY_PATH", "").split(":"))]
    return {
        "LD_LIBRARY_PATH": ":".join(dict.fromkeys(search)),
        "SPA_PLUGIN_DIR": str(lib / "spa-0.2"),
        "SPA_DATA_DIR": str(prefix / "usr/share/spa-0.2"),
        "PIPEWIRE_MODULE_DIR": str(lib / "pipewire-0.3"),
        "PIPEWIRE_CONFIG_DIR": str(prefix / "usr/share/pipewire"),
        "WIREPLUMBER_MODULE_DIR": str(lib / "wireplumber-0.5"),
        "WIREPLUMBER_DATA_DIR": str(prefix / "usr/share/wireplumber"),
        # Without it WirePlumber 0.5 reads the system's 0.4 configuration and exits.
        "WIREPLUMBER_CONFIG_DIR": str(prefix / "usr/share/wireplumber"),
    }


class PipeWireServer(PulseServer):
    """PipeWire + pipewire-pulse + WirePlumber in `base` (a temporary folder when None); the
    system's, or those unpacked in `prefix` (see pipewire1_prefix)."""

    def __init__(self, base: Path | None = None, prefix: Path | None = None) -> None:
        super().__init__(base)
        self.prefix = prefix
        self.daemons: list[subprocess.Popen[bytes]] = []
        # Qt 6.11 uses its native backend with PipeWire 1.x, libpulse with the system's 0.3.
        self.qt_backend = "pulseaudio" if prefix is None else "pipewire"

    @property
    def env(self) -> dict[str, str]:
        base = {
            # The caller's own PipeWire/WirePlumber configuration and state stay out of it.
            "XDG_CONFIG_HOME": str(self.base / "config"),
            "XDG_STATE_HOME": str(self.base / "state"),
            "XDG_DATA_HOME": str(self.base / "data"),
            "PIPEWIRE_RUNTIME_DIR": str(self.runtime),
        }
        if self.prefix is not None:
            base.update(prefix_env(self.prefix))
        return {**super().env, **base}

    def client_env(self) -> dict[str, str]:
        ours = self.env
        return {
            k: v
            for k, v in super().client_env().items()
            if not k.startswith(("PIPEWIRE_", "WIREPLUMBER_")) or k in ours
        }

    def start(self, timeout: float = 15.0) -> PipeWireServer:
        missing = missing_pipewire_tools(self.prefix)
        if missing:
            how = ("apt-get install pipewire pipewire-pulse wireplumber dbus-daemon"
                   " pulseaudio-utils sox") if self.prefix is None else "scripts/pipewire1.sh"
            raise PulseError(f"missing tools {missing}: {how}")
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
        steps = [(bus_cmd, bus), ([self._daemon("pipewire")], self.runtime / "pipewire-0"),
                 ([self._daemon("wireplumber")], None),
                 ([self._daemon("pipewire-pulse")], None)]  # fmt: skip
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

    def force_quantum(self, samples: int) -> None:
        """Make every graph cycle take `samples` at 48 kHz (0: PipeWire chooses again): what
        `default.clock.min-quantum = 1024` does in any virtual machine (PipeWire's own
        pipewire.conf), and some Bluetooth sinks' larger quanta."""
        subprocess.run(
            [self._daemon("pw-metadata"), "-n", "settings", "0", "clock.force-quantum",
             str(samples)],
            env=self.env, capture_output=True, check=True, timeout=10,
        )  # fmt: skip

    def _daemon(self, name: str) -> str:
        return name if self.prefix is None else str(self.prefix / "usr/bin" / name)

    def version(self) -> str:
        """The daemon's version (`pipewire --version`: "Linked with libpipewire 1.4.2")."""
        out = subprocess.run([self._daemon("pipewire"), "--version"], env=self.client_env(),
                             capture_output=True, text=True, timeout=10)  # fmt: skip
        return out.stdout.strip().splitlines()[-1].rsplit(" ", 1)[-1] if out.stdout else ""

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
