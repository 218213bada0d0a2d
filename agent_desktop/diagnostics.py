"""Collect diagnostics: one zip that IT or support can read, with no password or token in it.

    python -m agent_desktop --collect-diagnostics PATH      # or the button in Settings

What goes in (every text passes through `logs.redact` on the way in, a third line of
defence after the app's own care and the log files' filter):

    README.txt            what this is, when, which app
    logs/agent-desktop.log[.1…]   the rotating log files
    sip-trace.log         the last PJSIP log lines (ring buffer)
    server-errors.log     the last failed server calls (ring buffer)
    audio-devices.json    Qt Multimedia's inputs and outputs, defaults
    network.json          interfaces and addresses; the server URL's and registrar's reachability
    versions.json         the --self-test report (versions, pjsua2, audio, keyring)
    settings.json         user settings, IT's settings and locks, the effective values

The parts that touch Qt's multimedia objects are taken on the GUI thread (`take_snapshot`,
fast); the rest (files, network probes, the keyring, the zip) runs on a worker
(`write_zip`, or `collect_from_gui` which does both and reports back to the dialog).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import logging
import socket
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from PySide6.QtCore import QObject, QSettings, QStandardPaths

from agent_desktop import __version__, logs
from agent_desktop.provisioning import Provisioning, effective_hotkeys
from agent_desktop.session.messages import tr
from agent_desktop.settings import AppSettings

log = logging.getLogger("agent_desktop.diagnostics")

PROBE_TIMEOUT_S = 3.0
_SECRET_KEY_WORDS = ("password", "passwd", "secret", "token", "apikey", "api_key")


@dataclass
class Snapshot:
    """What is read on the GUI thread before the worker writes the zip."""

    server_url: str
    registrar: str = ""
    audio: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    log_directory: Path | None = None
    taken_at: float = field(default_factory=time.time)


# --------------------------------------------------------------------------- parts


def audio_devices() -> dict[str, Any]:
    """Qt Multimedia's view of the audio devices (call on the GUI thread)."""
    try:
        from PySide6.QtMultimedia import QMediaDevices

        def info(dev: Any) -> dict[str, Any]:
            return {"id": bytes(dev.id().data()).decode("utf-8", "replace"),
                    "description": dev.description(), "default": dev.isDefault()}

        return {"inputs": [info(d) for d in QMediaDevices.audioInputs()],
                "outputs": [info(d) for d in QMediaDevices.audioOutputs()],
                "default_input": QMediaDevices.defaultAudioInput().description(),
                "default_output": QMediaDevices.defaultAudioOutput().description()}
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def _scrub(mapping: dict[str, Any]) -> dict[str, Any]:
    """Values of secret-looking keys removed, every string redacted."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if any(word in key.lower() for word in _SECRET_KEY_WORDS):
            out[key] = logs.REDACTED
        elif isinstance(value, dict):
            out[key] = _scrub(value)
        elif isinstance(value, str):
            out[key] = logs.redact(value)
        else:
            out[key] = value
    return out


def settings_report(user: QSettings | None, prov: Provisioning,
                    effective: AppSettings | None) -> dict[str, Any]:
    """User settings (QSettings), IT's (file/URL, locks, warnings) and the effective values."""
    report: dict[str, Any] = {"system": _plain(prov.describe())}
    if user is not None:
        report["user_file"] = user.fileName()
        report["user"] = {key: _plain(user.value(key)) for key in user.allKeys()}
        report["hotkeys"] = effective_hotkeys(user, prov)
    if effective is not None:
        report["effective"] = _plain(effective)
    report["locked"] = sorted(prov.locked)
    return _scrub(report)


def _probe_tcp(host: str, port: int, timeout: float) -> dict[str, Any]:
    started = time.monotonic()
    try:
        addresses = sorted({str(a[4][0]) for a in socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM)})
    except OSError as exc:
        return {"host": host, "port": port, "dns": f"failed: {exc}"}
    result: dict[str, Any] = {"host": host, "port": port, "addresses": addresses}
    try:
        with socket.create_connection((host, port), timeout=timeout):
            result["tcp"] = "connected"
    except OSError as exc:
        result["tcp"] = f"failed: {type(exc).__name__}: {exc}"
    result["ms"] = round((time.monotonic() - started) * 1000)
    return result


def _probe_http(base_url: str, timeout: float) -> dict[str, Any]:
    """An unauthenticated GET of /api/v1/me: a call-center server answers 401 with a
    problem body (no credentials are sent)."""
    import requests

    url = base_url.rstrip("/") + "/api/v1/me"
    started = time.monotonic()
    try:
        r = requests.get(url, timeout=timeout, allow_redirects=False,
                         headers={"Accept": "application/json"})
    except requests.RequestException as exc:
        return {"url": url, "error": f"{type(exc).__name__}: {exc}"}
    ctype = r.headers.get("Content-Type", "")
    r.close()
    return {"url": url, "status": r.status_code, "content_type": ctype,
            "answers_like_the_api": r.status_code == 401 and "json" in ctype,
            "ms": round((time.monotonic() - started) * 1000)}


def network_report(server_url: str, registrar: str,
                   timeout: float = PROBE_TIMEOUT_S) -> dict[str, Any]:
    from PySide6.QtNetwork import QNetworkInterface

    flag = QNetworkInterface.InterfaceFlag
    interfaces = []
    for iface in QNetworkInterface.allInterfaces():
        flags = iface.flags()
        interfaces.append({
            "name": iface.name(), "label": iface.humanReadableName(),
            "type": getattr(iface.type(), "name", str(iface.type())),
            "up": bool(flags & flag.IsUp), "running": bool(flags & flag.IsRunning),
            "loopback": bool(flags & flag.IsLoopBack),
            "addresses": [f"{e.ip().toString()}/{e.prefixLength()}"
                          for e in iface.addressEntries()],
        })
    report: dict[str, Any] = {"hostname": socket.gethostname(), "interfaces": interfaces}
    parts = urlsplit(server_url)
    if parts.hostname:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        report["server"] = {"url": server_url, **_probe_tcp(parts.hostname, port, timeout),
                            "http": _probe_http(server_url, timeout)}
    if registrar:
        host, _, port_text = registrar.rpartition(":") if ":" in registrar else (
            registrar, "", "5060")
        port_number = int(port_text) if port_text.isdigit() else 5060
        report["sip_registrar"] = {"registrar": registrar,
                                   **_probe_tcp(host or registrar, port_number, timeout)}
    return report


def versions_report() -> dict[str, Any]:
    try:
        from agent_desktop.app import self_test

        report, _ok = self_test()
        return report
    except Exception as exc:
        return {"app": __version__, "error": f"{type(exc).__name__}: {exc}"}


# --------------------------------------------------------------------------- the zip


def default_zip_path() -> Path:
    """On the desktop (else in Documents, else home): agent-desktop-diagnostics-<time>.zip."""
    name = time.strftime("agent-desktop-diagnostics-%Y%m%d-%H%M%S.zip")
    for location in (QStandardPaths.StandardLocation.DesktopLocation,
                     QStandardPaths.StandardLocation.DocumentsLocation):
        folder = QStandardPaths.writableLocation(location)
        if folder and Path(folder).is_dir():
            return Path(folder) / name
    return Path.home() / name


def take_snapshot(server_url: str, registrar: str = "", *, user: QSettings | None = None,
                  provisioning: Provisioning | None = None,
                  effective: AppSettings | None = None,
                  log_directory: Path | None = None) -> Snapshot:
    """The GUI-thread part: audio devices and settings (both fast)."""
    return Snapshot(server_url=server_url, registrar=registrar, audio=audio_devices(),
                    settings=settings_report(user, provisioning or Provisioning(), effective),
                    log_directory=log_directory)


def _json(data: Any) -> str:
    return logs.redact(json.dumps(_plain(data), indent=2, ensure_ascii=False)) + "\n"


def write_zip(snap: Snapshot, path: Path, *, timeout: float = PROBE_TIMEOUT_S) -> Path:
    """Write the zip (any thread: files, network probes, keyring). Returns its path."""
    path = Path(path)
    if path.is_dir():
        path = path / default_zip_path().name
    path.parent.mkdir(parents=True, exist_ok=True)
    files = logs.log_files(snap.log_directory)
    for handler in logging.getLogger().handlers:
        handler.flush()
    when = time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(snap.taken_at))
    tmp = path.with_name(path.name + ".part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("README.txt", (
            f"Agent Desktop {__version__} diagnostics, collected {when}.\n"
            "Passwords, tokens and SIP digest responses are removed.\n\n"
            "logs/               the app's log files (newest: agent-desktop.log)\n"
            "sip-trace.log       the last PJSIP log lines\n"
            "server-errors.log   the last failed server calls\n"
            "audio-devices.json  audio inputs and outputs\n"
            "network.json        interfaces, addresses, server and registrar reachability\n"
            "versions.json       versions and the self-test report\n"
            "settings.json       user settings, IT's settings and locks, effective values\n"))
        for f in files:
            try:
                text = f.read_text("utf-8", errors="replace")
            except OSError as exc:
                text = f"(could not be read: {exc})\n"
            z.writestr(f"logs/{f.name}", logs.redact(text))
        z.writestr("sip-trace.log", logs.redact("\n".join(logs.SIP_TRACE.snapshot())) + "\n")
        z.writestr("server-errors.log",
                   logs.redact("\n".join(logs.SERVER_ERRORS.snapshot())) + "\n")
        z.writestr("audio-devices.json", _json(snap.audio))
        z.writestr("network.json", _json(network_report(snap.server_url, snap.registrar,
                                                        timeout)))
        z.writestr("versions.json", _json(versions_report()))
        z.writestr("settings.json", _json(snap.settings))
    tmp.replace(path)
    log.info("diagnostics saved to %s", path)
    return path


def collect_from_gui(dialog: Any, snap: Snapshot, path: Path | None = None, *,
                     parent: QObject | None = None,
                     on_done: Callable[[Path], None] | None = None) -> None:
    """The button: say it is collecting, write the zip on a worker, then say where it is."""
    from shiboken6 import isValid

    from agent_desktop.session.worker import run_in_worker

    target = path or default_zip_path()
    if dialog is not None:
        dialog.show_diagnostics_result(tr("Collecting diagnostics…"), busy=True)

    def alive() -> bool:
        return dialog is not None and isValid(dialog)

    def done(saved: Path) -> None:
        if alive():
            dialog.show_diagnostics_result(
                tr("Diagnostics saved to {path}").format(path=saved))
        if on_done is not None:
            on_done(saved)

    def failed(exc: BaseException) -> None:
        log.warning("diagnostics failed: %s", exc)
        if alive():
            dialog.show_diagnostics_result(
                tr("Diagnostics could not be saved: {why}").format(why=exc))

    run_in_worker(lambda: write_zip(snap, target), on_success=done, on_failure=failed,
                  parent=parent if parent is not None else dialog)


def collect_cli(path: str, server_url: str | None, registrar: str | None) -> int:
    """--collect-diagnostics PATH: no window; prints where the zip is."""
    from PySide6.QtCore import QCoreApplication

    from agent_desktop import provisioning as p

    _app = QCoreApplication.instance() or QCoreApplication(["agent-desktop"])
    prov = p.load_system()
    user = QSettings("agent-desktop", "agent-desktop")
    server = p.resolve(server_url, "server_url", prov, "http://127.0.0.1:8080")
    reg = p.resolve(registrar, "sip.registrar", prov, "")
    if not reg:
        host = urlsplit(server).hostname or "127.0.0.1"
        reg = f"{host}:5060"
    snap = take_snapshot(server, reg, user=user, provisioning=prov,
                         effective=p.effective_settings(user, prov))
    saved = write_zip(snap, Path(path))
    print(saved)
    return 0
