"""The PyInstaller bundle (build_installer.spec) works outside the development environment.

Builds dist/agent-desktop/ once per content hash (spec, sources, resources, the installed
distributions' versions) into var/build-cache/ (a clean CI checkout builds it once; later
local runs reuse it), then runs the frozen executable with a clean environment (`env -i`:
PATH, HOME, QT_QPA_PLATFORM=offscreen and a private PulseAudio only):

- `--self-test` passes, with the pjsua2 bindings and their own OpenSSL loaded;
- `--smoke-login` logs agent 1001 in to the real server (a process) driving the real Asterisk,
  registers its phone there and logs out again;
- the bundle holds what docs/build.md says: licences, trimmed plugins and translations.

Skipped only when PyInstaller is not installed (it is in the `dev` extra).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.pbx_fixtures import discard
from tests.support.pbx_server import eventually, start_box
from tests.support.pulse import PulseServer, pulse_fixture  # noqa: F401
from tests.support.server_proc import ServerProcess

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("AGENT_DESKTOP_BUILD_CACHE", REPO / "var" / "build-cache"))
APP = "agent-desktop"
# What the bundle is made of (besides the installed distributions).
INPUTS = ["build_installer.spec", "pyproject.toml", "LICENSE", "scripts/bundle_licenses.py",
          "agent_desktop", "resources", "packaging"]
BUILD_TIMEOUT_S = 300
RUN_TIMEOUT_S = 60
PASSWORD = "frozen-Secret-9q2Lm"  # unique, so that the output check can look for it


def content_hash() -> str:
    h = hashlib.sha256()
    for entry in INPUTS:
        path = REPO / entry
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            if "__pycache__" in f.parts:
                continue
            h.update(str(f.relative_to(REPO)).encode() + b"\0" + f.read_bytes() + b"\0")
    versions = sorted(f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions())
    h.update("\n".join([sys.version, *versions]).encode())
    return h.hexdigest()[:16]


def build_bundle() -> Path:
    """dist/agent-desktop for the current content, built at most once (concurrent test runs
    wait for each other on a lock)."""
    key = content_hash()
    CACHE.mkdir(parents=True, exist_ok=True)
    bundle = CACHE / key / APP
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (bundle / APP).is_file():
            return bundle
        for old in CACHE.iterdir():  # keep one build: a bundle is ~170 MB
            if old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
        work = CACHE / f"{key}.tmp"
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
             "--workpath", str(work / "build"), "--distpath", str(work / "dist"),
             str(REPO / "build_installer.spec")],
            cwd=REPO, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
        (CACHE / key).mkdir()
        (work / "dist" / APP).rename(bundle)
        shutil.rmtree(work, ignore_errors=True)
        print(f"built {bundle} in {time.monotonic() - started:.1f} s")
    return bundle


@pytest.fixture(scope="module")
def bundle() -> Path:
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        pytest.skip("PyInstaller is not installed (pip install -e '.[dev]')")
    return build_bundle()


def clean_env(home: Path, pulse: PulseServer, **extra: str) -> dict[str, str]:
    """What `env -i` plus these leaves: no PYTHONPATH, no virtualenv, no display."""
    home.mkdir(parents=True, exist_ok=True)
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "QT_QPA_PLATFORM": "offscreen",
            **pulse.env, **extra}


def run_frozen(bundle: Path, env: dict[str, str], *args: str,
               timeout: float = RUN_TIMEOUT_S) -> tuple[int, dict[str, Any], str]:
    proc = subprocess.run(["env", "-i", *(f"{k}={v}" for k, v in env.items()),
                           str(bundle / APP), *args],
                          cwd=env["HOME"], capture_output=True, text=True, timeout=timeout,
                          check=False)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"no JSON on stdout (exit {proc.returncode}):\n{proc.stdout}\n"
                    f"{proc.stderr[-5000:]}")
    return proc.returncode, report, proc.stderr


def test_bundle_contents(bundle: Path) -> None:
    internal = bundle / "_internal"
    index = (internal / "licenses" / "INDEX.txt").read_text()
    for name in ("agent-desktop/", "python/", "PySide6-Essentials-", "PySide6-Addons-",
                 "pjsua2-python-", "shiboken6-", "requests-", "keyring-", "debian/"):
        assert name in index, index
    assert (internal / "licenses" / "agent-desktop" / "LICENSE").is_file()
    pjsua2_libs = internal / "pjsua2_python.libs"
    assert any(p.name.startswith("libcrypto-") for p in pjsua2_libs.iterdir())
    qt = internal / "PySide6" / "Qt"
    languages = {p.stem.split("_", 1)[1] for p in (qt / "translations").glob("*.qm")}
    assert languages == {"en", "zh_CN"}
    platforms = {p.name for p in (qt / "plugins" / "platforms").iterdir()}
    assert {"libqxcb.so", "libqoffscreen.so", "libqwayland.so"} <= platforms
    assert not (qt / "plugins" / "multimedia").exists()  # audio needs no media backend
    assert not list(internal.rglob("libQt6Quick*")), "Qt Quick came back"
    assert not [p for p in internal.rglob("*") if p.is_symlink() and not p.exists()]
    assert (internal / "resources" / "agent-desktop.png").is_file()


def test_frozen_self_test(bundle: Path, pulse: PulseServer, tmp_path: Path) -> None:
    rc, report, stderr = run_frozen(bundle, clean_env(tmp_path / "home", pulse), "--self-test")
    assert rc == 0, (report, stderr[-3000:])
    assert report["ok"] is True, report
    assert report["pjsua2"]["ok"] is True
    # pjsua2's own OpenSSL (SHA-256 digest auth), from pjsua2_python.libs/ in the bundle.
    assert any("1.0.2" in name for name in report["pjsua2"]["openssl"]), report["pjsua2"]
    assert report["audio"]["ok"] is True
    assert "Speaker" in report["audio"]["outputs"], report["audio"]
    assert "Microphone" in report["audio"]["inputs"], report["audio"]


@pytest.fixture(scope="module")
def lab(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory,
        bundle: Path) -> Iterator[ServerProcess]:
    del bundle  # build before starting Asterisk and the server: they wait less
    box = start_box(f"pytest-{os.getpid()}-frozen")
    server = ServerProcess(box, tmp_path_factory.mktemp("server"))
    server.seed(sqlite_template)
    try:
        server.start()
        # The server writes the PJSIP endpoints; wait for its first reconcile to load them.
        eventually(lambda: "8001" in box.rx("pjsip show endpoints"), 15, "endpoint 8001")
        admin = server.login("supervisor", terminal="setup")
        r = httpx.put(f"{server.base_url}/api/v1/provisioning", headers=admin, timeout=10,
                      json={"teams": [{"name": "demo", "agents": [
                          {"number": "1001", "name": "Alice (fixed 8001)", "password": PASSWORD,
                           "owner": "frontdesk", "device_mode": "fixed", "device": "8001",
                           "groups": [{"name": "sales"}, {"name": "support"}]}]}]})
        assert r.status_code == 200, r.text
        yield server
    finally:
        server.stop()
        print("server log tail:\n" + server.log_tail())
        with contextlib.suppress(Exception):
            discard(box)


def test_frozen_smoke_login(bundle: Path, pulse: PulseServer, lab: ServerProcess,
                            tmp_path: Path) -> None:
    env = clean_env(tmp_path / "home", pulse, AGENT_DESKTOP_PASSWORD=PASSWORD)
    registrar = f"127.0.0.1:{lab.box.sip_port}"
    rc, report, stderr = run_frozen(
        bundle, env, "--smoke-login", "--server", lab.base_url, "--team", "demo",
        "--agent", "1001", "--sip-registrar", registrar, "--smoke-timeout", "40",
        "--log-level", "DEBUG")
    assert rc == 0, (report, stderr[-5000:])
    assert report["ok"] is True
    assert report["session"] == "active"
    assert report["sip"] == "registered"
    assert report["sip_reason"] == "200 OK"
    assert report["logged_out"] is True
    assert "registration success" in stderr  # PJSIP's log, through the app's logging
    assert PASSWORD not in json.dumps(report) + stderr


def test_frozen_smoke_login_reports_a_refused_login(bundle: Path, pulse: PulseServer,
                                                    lab: ServerProcess, tmp_path: Path) -> None:
    env = clean_env(tmp_path / "home", pulse, AGENT_DESKTOP_PASSWORD="wrong-password")
    rc, report, stderr = run_frozen(
        bundle, env, "--smoke-login", "--server", lab.base_url, "--team", "demo",
        "--agent", "1001", "--sip-registrar", f"127.0.0.1:{lab.box.sip_port}")
    assert rc == 1, (report, stderr[-3000:])
    assert report["ok"] is False
    assert report["error"].startswith("login failed"), report
    assert report["session"] == "logged_out"
