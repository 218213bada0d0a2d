"""A private PulseAudio daemon with virtual headsets, for audio tests (root, no D-Bus, no X).

Recipe (see shared design note audio.md): a user-mode `pulseaudio -n -F script` with HOME,
XDG_RUNTIME_DIR and PULSE_SERVER in a temporary folder; null sinks "speaker" and "headset"
(the second one is for hot-plug tests); a null sink "micfeed" whose monitor is remapped into
the source "mic" (the virtual microphone), fed by `sox ... | pacat --latency-msec=100`.
A null sink without any client runs 2 s blocks, so a keep-alive `parec` stays connected to
every sink's monitor. What an app played is recorded with `parec -d <sink>.monitor`.

Debian packages: pulseaudio pulseaudio-utils sox.

Use `PulseServer` as a context manager, or the fixtures `pulse` (session: the daemon, with
PULSE_SERVER etc. set in os.environ for the test process) from this module:
`from tests.support.pulse import pulse_fixture  # noqa: F401`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from agent_desktop.audio_env import low_latency_audio_env

RATE = 16000
# Every pacat/parec of the tests: the format, and stay on the device named. PipeWire moves a
# stream opened on the default device along with the default (measured with 1.4 and 0.3.65:
# a speaker recording then records the new default sink).
PACAT_ARGS = ["--raw", f"--rate={RATE}", "--channels=1", "--format=s16le",
              "--property=node.dont-move=true"]  # fmt: skip
REQUIRED_TOOLS = ("pulseaudio", "pactl", "pacat", "parec", "sox")
QT_QUIET = "qt.multimedia.symbolsresolver=false"


class PulseError(RuntimeError):
    pass


def missing_tools() -> list[str]:
    return [t for t in REQUIRED_TOOLS if shutil.which(t) is None]


def tool_env(env: Mapping[str, str]) -> dict[str, str]:
    """`env` without the app's sound-server latency variables (agent_desktop.audio_env), for
    pacat and parec: they ask for their own latencies, which the variables would override."""
    app_vars = low_latency_audio_env()
    return {k: v for k, v in env.items() if k not in app_vars}


def name_this_thread(name: str) -> None:
    """Give the calling thread an OS name (Linux, best effort), so that per-thread CPU
    figures (/proc/self/task/*/comm) can tell test-harness threads from the app's."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None)
        libc.prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME


HARNESS_THREADS = ("recorder", "feeder")  # OS names of the tests' own threads


class Recorder:
    """`parec` of a sink's monitor into memory (16 kHz mono s16le), with arrival times."""

    def __init__(self, env: dict[str, str], device: str, latency_ms: int = 20) -> None:
        self.device = device
        self.started = time.time()
        self.proc = subprocess.Popen(
            ["parec", "-d", device, f"--latency-msec={latency_ms}", *PACAT_ARGS],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=tool_env(env),
        )
        self._lock = threading.Lock()
        self._data = bytearray()
        self.first_byte_ts: float | None = None
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        name_this_thread("recorder")
        while True:
            chunk = self.proc.stdout.read1(4096)
            if not chunk:
                return
            with self._lock:
                if self.first_byte_ts is None:
                    self.first_byte_ts = time.time()
                self._data += chunk

    def data(self) -> bytes:
        with self._lock:
            return bytes(self._data)

    def stop(self) -> bytes:
        if self.proc.poll() is None:
            self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(3)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        self._thread.join(3)
        return self.data()


class PulseServer:
    """A private PulseAudio daemon in `base` (a temporary folder when None)."""

    #: The backend Qt Multimedia plays through with this server (agent_desktop.audio_env).
    qt_backend = "pulseaudio"

    def __init__(self, base: Path | None = None) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if base is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="agent-desktop-pulse-")
            base = Path(self._tmp.name)
        self.base = base
        self.runtime = base / "run"
        self.socket = self.runtime / "pulse" / "native"
        self.proc: subprocess.Popen[bytes] | None = None
        self.feeders: list[subprocess.Popen[bytes]] = []
        self.keepalive: dict[str, subprocess.Popen[bytes]] = {}
        self.modules: dict[str, int] = {}  # sink name -> module index (null sinks we loaded)
        self.log_path = base / "pulseaudio.log"

    # -- environment
    @property
    def env(self) -> dict[str, str]:
        """Variables a client process needs (merge into os.environ or a child's env)."""
        return {
            "HOME": str(self.base),
            "XDG_RUNTIME_DIR": str(self.runtime),
            "PULSE_SERVER": f"unix:{self.socket}",
            "PULSE_RUNTIME_PATH": str(self.runtime / "pulse"),
            "QT_LOGGING_RULES": QT_QUIET,
        }

    def client_env(self) -> dict[str, str]:
        return tool_env({**os.environ, **self.env})

    # -- lifecycle
    def start(self, timeout: float = 10.0) -> PulseServer:
        missing = missing_tools()
        if missing:
            raise PulseError(
                f"missing tools {missing}: apt-get install pulseaudio pulseaudio-utils sox"
            )
        (self.runtime / "pulse").mkdir(parents=True, exist_ok=True)
        os.chmod(self.runtime, 0o700)
        script = self.base / "default.pa"
        script.write_text(
            "load-module module-native-protocol-unix auth-anonymous=1\n"
            "load-module module-null-sink sink_name=speaker"
            " sink_properties=device.description=Speaker\n"
            "load-module module-null-sink sink_name=micfeed"
            " sink_properties=device.description=MicFeed\n"
            "load-module module-remap-source source_name=mic master=micfeed.monitor"
            " source_properties=device.description=Microphone\n"
            "set-default-sink speaker\n"
            "set-default-source mic\n"
        )
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    "pulseaudio",
                    "-n",
                    "-F",
                    str(script),
                    "--exit-idle-time=-1",
                    "--daemonize=no",
                    "--disallow-exit",
                    "--log-target=stderr",
                ],
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                env=self.client_env(),
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise PulseError(f"pulseaudio exited {self.proc.returncode}: {self.log_tail()}")
            if self.socket.exists() and self._pactl_ok("info"):
                break
            if time.monotonic() > deadline:
                self.stop()
                raise PulseError(f"pulseaudio not ready after {timeout}s: {self.log_tail()}")
            time.sleep(0.05)
        self.keep_alive("speaker")
        self.keep_alive("micfeed")
        return self

    def stop(self) -> None:
        for proc in [*self.feeders, *self.keepalive.values()]:
            _end(proc)
        self.feeders.clear()
        self.keepalive.clear()
        self._end_server()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def _end_server(self) -> None:
        """After its clients: the sound server itself."""
        if self.proc is not None:
            _end(self.proc)
            self.proc = None

    def __enter__(self) -> PulseServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # -- pactl
    def pactl(self, *args: str, timeout: float = 10.0) -> str:
        out = subprocess.run(
            ["pactl", *args],
            env=self.client_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if out.returncode != 0:
            raise PulseError(f"pactl {' '.join(args)}: {out.stderr.strip()}")
        return out.stdout

    def _pactl_ok(self, *args: str) -> bool:
        try:
            self.pactl(*args, timeout=3)
        except (PulseError, subprocess.TimeoutExpired):
            return False
        return True

    def load_module(self, name: str, *args: str) -> int:
        return int(self.pactl("load-module", name, *args).strip())

    def unload_module(self, index: int) -> None:
        self.pactl("unload-module", str(index))

    def add_sink(
        self, name: str, description: str | None = None, *, keep_alive: bool = True
    ) -> int:
        """Plug a virtual headset (null sink) in; returns the module index."""
        idx = self.load_module(
            "module-null-sink",
            f"sink_name={name}",
            f"sink_properties=device.description={description or name.title()}",
        )
        self.modules[name] = idx
        if keep_alive:
            self.keep_alive(name)
        return idx

    def remove_sink(self, name: str) -> None:
        """Unplug: unload the null sink's module (its keep-alive client ends with it)."""
        proc = self.keepalive.pop(name, None)
        if name in self.modules:
            self.unload_module(self.modules.pop(name))
        else:
            for line in self.pactl("list", "short", "modules").splitlines():
                parts = line.split("\t")
                if len(parts) > 2 and f"sink_name={name}" in parts[2].split():
                    self.unload_module(int(parts[0]))
        if proc is not None:
            _end(proc)

    def set_default_sink(self, name: str) -> None:
        self.pactl("set-default-sink", name)

    def set_default_source(self, name: str) -> None:
        self.pactl("set-default-source", name)

    def sinks(self) -> list[str]:
        return [ln.split("\t")[1] for ln in self.pactl("list", "short", "sinks").splitlines() if ln]

    def sink_inputs(self) -> list[dict[str, str]]:
        """Playback streams: [{index, sink (index), client, ...}] from `pactl list short`."""
        rows = []
        for ln in self.pactl("list", "short", "sink-inputs").splitlines():
            parts = ln.split("\t")
            if len(parts) >= 3:
                rows.append({"index": parts[0], "sink": parts[1], "client": parts[2]})
        return rows

    def sink_index(self, name: str) -> str | None:
        for ln in self.pactl("list", "short", "sinks").splitlines():
            parts = ln.split("\t")
            if len(parts) > 1 and parts[1] == name:
                return parts[0]
        return None

    # -- clients
    def keep_alive(self, sink: str, timeout: float = 10.0) -> None:
        """One client on the sink's monitor, so the null sink does not run 2 s blocks.

        Returns once a moment of silence has been played through the sink after that
        client connected: a null sink hears of a shorter latency only at the end of the
        block it sleeps in, so the first stream played on a fresh sink stalled up to 2 s
        (a pacat of 1 s took 3.0 s, the next ones 1.07 s), and a test's first call lost up
        to 2 s of the far end's voice, judged as gaps by the tone tests."""
        if sink in self.keepalive and self.keepalive[sink].poll() is None:
            return
        proc = subprocess.Popen(
            ["parec", "-d", f"{sink}.monitor", "--latency-msec=20", *PACAT_ARGS],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=self.client_env(),
        )
        self.keepalive[sink] = proc
        deadline = time.monotonic() + timeout
        while not self._recording_from(f"{sink}.monitor"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise PulseError(f"parec on {sink}.monitor did not connect: {self.log_tail()}")
            time.sleep(0.02)
        subprocess.run(
            ["pacat", "-p", "-d", sink, *PACAT_ARGS],
            input=bytes(RATE * 2 // 10),  # 100 ms
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=self.client_env(),
            timeout=max(1.0, deadline - time.monotonic()),
            check=False,
        )

    def _recording_from(self, source: str) -> bool:
        """Does any client record from this source?"""
        sources = self.pactl("list", "short", "sources").splitlines()
        index = next((ln.split("\t")[0] for ln in sources if ln.split("\t")[1:2] == [source]), None)
        return index is not None and any(
            ln.split("\t")[1:2] == [index]
            for ln in self.pactl("list", "short", "source-outputs").splitlines()
        )

    def feed_tone(
        self, freq: float, amplitude: float = 0.3, sink: str = "micfeed"
    ) -> subprocess.Popen[bytes]:
        """An endless sine into the microphone's feed sink (sox | pacat, 100 ms latency)."""
        sox = subprocess.Popen(
            ["sox", "-q", "-n", "-t", "raw", "-r", str(RATE), "-e", "signed", "-b", "16",
             "-c", "1", "-", "synth", "sine", str(freq), "vol", str(amplitude)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=self.client_env(),
        )  # fmt: skip
        pacat = subprocess.Popen(
            ["pacat", "-p", "-d", sink, "--latency-msec=100", *PACAT_ARGS],
            stdin=sox.stdout,
            stderr=subprocess.DEVNULL,
            env=self.client_env(),
        )
        assert sox.stdout is not None
        sox.stdout.close()  # pacat owns the pipe now
        self.feeders += [sox, pacat]
        return pacat

    def stop_feeds(self) -> None:
        for proc in self.feeders:
            _end(proc)
        self.feeders.clear()

    def record(self, sink: str = "speaker") -> Recorder:
        return Recorder(self.client_env(), f"{sink}.monitor")


def _end(proc: subprocess.Popen[bytes], *, group: bool = False) -> None:
    """SIGTERM, then SIGKILL after 3 s; `group`: to the process's whole group (a daemon
    started with start_new_session, and what it started)."""

    def send(sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)

    if proc.poll() is None:
        send(signal.SIGTERM)
        try:
            proc.wait(3)
        except subprocess.TimeoutExpired:
            send(signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="session", name="pulse")
def pulse_fixture() -> Iterator[PulseServer]:
    """A private PulseAudio daemon; PULSE_SERVER etc. are set in os.environ meanwhile."""
    missing = missing_tools()
    if missing:
        pytest.skip(f"PulseAudio test tools missing: {missing}")
    with in_environ(PulseServer().start()) as server:
        yield server


@contextlib.contextmanager
def in_environ(server: PulseServer) -> Iterator[PulseServer]:
    """A started server's variables (PULSE_SERVER...) in os.environ until the block ends; then
    the earlier values are back and the server is stopped."""
    saved = {k: os.environ.get(k) for k in server.env}
    os.environ.update(server.env)
    try:
        yield server
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        server.stop()
