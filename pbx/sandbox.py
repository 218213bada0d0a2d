#!/usr/bin/env python3
"""A real Asterisk 22 for tests and the demo, in a Debian-testing root folder.

Asterisk is not packaged for the host's Debian 12, so it runs from a minimal
Debian "forky" root made by mmdebstrap and entered with chroot; the root shares
the host's network, so Asterisk listens on 127.0.0.1 directly.

The root is built once and reused: an existing root folder (fastest), else the
zstd cache tarball beside it, else a cold mmdebstrap build (which then writes
the tarball). A marker file is written last, so a half-built root is never
used. Every instance keeps all of its changing state in ROOT/lab/<name>/, so a
test instance and the demo instance can run side by side on different ports.

With a TLS port (`tls_port`, CLI `--tls-port`), Asterisk also listens for SIP over TLS
on 127.0.0.1: the instance gets a private CA and a server certificate for IP 127.0.0.1 and
DNS localhost (made with the host's `openssl` at the first start, kept in
ROOT/lab/<name>/tls/); clients verify the server against `ca_file` (tls/ca.crt). With
example devices it also gets the TLS test phones 8101 (SRTP required) and 8102 (plain RTP).

Standard library only (plus the `openssl` command for TLS). CLI:

    python pbx/sandbox.py build
    python pbx/sandbox.py start [--name demo] [--sip-port 5060] [--ami-port 5038]
                                [--rtp 10000-10999] [--tls-port 5061]
                                [--example-devices] [--fresh]
    python pbx/sandbox.py status [--name demo]
    python pbx/sandbox.py rx "pjsip show endpoints" [--name demo]
    python pbx/sandbox.py stop [--name demo]
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

DEFAULT_ROOT = Path("/var/cache/agent-desktop/asterisk-root")
ROOT_ENV = "AGENT_DESKTOP_PBX_ROOT"
SECRET_ENV = "AGENT_DESKTOP_AMI_SECRET"  # noqa: S105 (a variable name, not a secret)
TEMPLATES = Path(__file__).resolve().parent / "asterisk"
EXAMPLE_DEVICES = TEMPLATES / "examples" / "pjsip_devices.conf"
EXAMPLE_TLS_DEVICES = TEMPLATES / "examples" / "pjsip_tls_devices.conf"
TLS_TEMPLATE = TEMPLATES / "optional" / "pjsip_tls.conf"

# What the root is made of. Its hash goes into the marker: change any of it and
# an old root or tarball is no longer reused.
SUITE = "forky"  # testing; sid moves daily and is sometimes uninstallable
VARIANT = "minbase"
PACKAGES = ("asterisk", "asterisk-modules", "sip-tester")
# Fewer bytes and files make the tarball restore faster (it is bound by disk writes).
DPKG_OPTS = (
    "path-exclude=/usr/share/doc/*",
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/locale/*",
    "path-include=/usr/share/locale/locale.alias",
)
SPEC = {"suite": SUITE, "variant": VARIANT, "packages": PACKAGES, "dpkg": DPKG_OPTS}
SPEC_ID = hashlib.sha256(json.dumps(SPEC, sort_keys=True).encode()).hexdigest()[:16]
MARKER = ".agent-desktop-root.json"

# Host apt settings worth carrying into the root's apt (a snapshot mirror needs
# the date checks off; a proxy must be used from inside too).
HOST_APT_KEYS = (
    "Acquire::Check-Valid-Until",
    "Acquire::Check-Date",
    "Acquire::http::Proxy",
    "Acquire::https::Proxy",
)
APT_LOCK = ("-o", "DPkg::Lock::Timeout=600")
# Kept in the root's apt config, for anyone who later runs apt inside it.
ROOT_APT_OPTS = ('Acquire::Retries "3"', 'DPkg::Lock::Timeout "600"')
CHROOT_ENV = {
    "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "HOME": "/root",
    "DEBIAN_FRONTEND": "noninteractive",
}

DEMO_SIP_PORT = 5060
DEMO_AMI_PORT = 5038
DEMO_RTP = (10000, 10999)
DEFAULT_AMI_USER = "agentdesktop"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,40}$")

BOOT_TIMEOUT = 30.0
RX_TIMEOUT = 10.0
CERT_DAYS = 825  # the server certificate; the CA lasts ten years


class SandboxError(RuntimeError):
    """The sandbox could not be built, started or stopped."""


def log(message: str) -> None:
    print(f"[pbx-sandbox] {message}", file=sys.stderr, flush=True)


def default_root() -> Path:
    return Path(os.environ.get(ROOT_ENV) or DEFAULT_ROOT)


def tarball_for(root: Path) -> Path:
    return root.with_name(root.name + ".tar.zst")


def _run(
    cmd: Sequence[str],
    *,
    timeout: float | None = None,
    check: bool = True,
    capture: bool = False,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(
            list(cmd),
            stdin=subprocess.DEVNULL,
            text=True,
            timeout=timeout,
            env=env,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.PIPE if capture else None,
        )
    except subprocess.TimeoutExpired as exc:
        raise SandboxError(f"timed out after {timeout}s: {' '.join(cmd)}") from exc
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout or "").strip() if capture else ""
        raise SandboxError(f"exit {proc.returncode}: {' '.join(cmd)}\n{detail}".rstrip())
    return proc


# --------------------------------------------------------------------- host side


def _apt_has_candidate(package: str) -> bool:
    out = _run(["apt-cache", "policy", package], check=False, capture=True).stdout or ""
    match = re.search(r"Candidate:\s*(\S+)", out)
    return bool(match and match.group(1) != "(none)")


def ensure_host_tools(tools: dict[str, str]) -> None:
    """Install the Debian packages providing the missing `tools` (command -> package)."""
    missing = sorted({pkg for cmd, pkg in tools.items() if shutil.which(cmd) is None})
    if not missing:
        return
    if os.geteuid() != 0:
        raise SandboxError(f"need root to install {' '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    # With recommends: mmdebstrap uses gpg and arch-test from them.
    install = ["apt-get", *APT_LOCK, "install", "-y", *missing]
    # `apt-get update` only when the lists do not know a package, or are stale.
    updated = False
    if not all(_apt_has_candidate(p) for p in missing):
        log("apt-get update (host)")
        _run(["apt-get", *APT_LOCK, "update"], env=env, timeout=600)
        updated = True
    log(f"installing host tools: {' '.join(missing)}")
    if _run(install, env=env, check=False, timeout=900).returncode != 0:
        if updated:
            raise SandboxError(f"apt-get install {' '.join(missing)} failed")
        _run(["apt-get", *APT_LOCK, "update"], env=env, timeout=600)
        _run(install, env=env, timeout=900)


def _deb822_stanzas(text: str) -> Iterator[dict[str, str]]:
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = None
        for line in block.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if line[0] in " \t" and key:
                fields[key] += " " + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                fields[key] = value.strip()
        if fields:
            yield fields


def host_debian_mirror() -> str:
    """The Debian archive URI the host's apt uses (never hard-coded here)."""
    sources = Path("/etc/apt/sources.list.d")
    candidates: list[tuple[str, list[str]]] = []
    for path in sorted(sources.glob("*.sources")) if sources.is_dir() else []:
        for st in _deb822_stanzas(path.read_text(errors="replace")):
            if "deb" not in st.get("types", "").split() or st.get("enabled", "yes") == "no":
                continue
            for uri in st.get("uris", "").split():
                candidates.append((uri, st.get("suites", "").split()))
    lists = [Path("/etc/apt/sources.list"), *sorted(sources.glob("*.list"))]
    for path in lists:
        if not path.is_file():
            continue
        for line in path.read_text(errors="replace").splitlines():
            parts = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()
            if len(parts) >= 3 and parts[0] == "deb":
                candidates.append((parts[1], parts[2:3]))
    for uri, suites in candidates:
        base = uri.rstrip("/")
        if base.endswith("/debian") and any(not s.endswith("-security") for s in suites):
            return base
    raise SandboxError("no Debian archive found in the host's apt sources")


def _host_apt_options() -> list[str]:
    opts = []
    for key in HOST_APT_KEYS:
        out = _run(["apt-config", "dump", key], check=False, capture=True).stdout or ""
        for line in out.splitlines():
            if line.startswith(f"{key} ") and line.split(" ", 1)[1].strip('"; ') != "":
                opts.append(line.rstrip())
    return opts


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve()) + "/"
    found = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            point = line.split()[4].replace("\\040", " ")
            if point.startswith(prefix) or point == prefix[:-1]:
                found.append(point)
    return sorted(found, key=len, reverse=True)


def remove_tree(path: Path) -> None:
    """Delete a (possibly half-built) root without following leftover mounts."""
    if not path.exists() and not path.is_symlink():
        return
    for point in _mounts_under(path):
        _run(["umount", "-l", point], check=False)
    _run(["rm", "-rf", "--one-file-system", str(path)])


def read_marker(root: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((root / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def root_is_ready(root: Path) -> bool:
    marker = read_marker(root)
    return bool(marker and marker.get("spec") == SPEC_ID)


@contextlib.contextmanager
def _build_lock(root: Path) -> Iterator[None]:
    lock_path = root.with_name(root.name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _finish_root(tmp: Path, how: str) -> None:
    """Make a fresh root safe to use, then write the marker (the last step)."""
    policy = tmp / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\n# Never start services inside this root.\nexit 101\n")
    policy.chmod(0o755)
    (tmp / "lab").mkdir(exist_ok=True)
    version = chroot_output(tmp, ["dpkg-query", "-W", "asterisk"]).strip()
    marker = {
        "spec": SPEC_ID,
        **SPEC,
        "asterisk": version,
        "made": how,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    (tmp / MARKER).write_text(json.dumps(marker, indent=1) + "\n")


def _cold_build(tmp: Path) -> None:
    ensure_host_tools({"mmdebstrap": "mmdebstrap", "zstd": "zstd"})
    mirror = host_debian_mirror()
    cmd = [
        "mmdebstrap",
        f"--variant={VARIANT}",
        f"--include={','.join(PACKAGES)}",
        *(f"--dpkgopt={opt}" for opt in DPKG_OPTS),
        *(f"--aptopt={opt}" for opt in [*_host_apt_options(), *ROOT_APT_OPTS]),
        SUITE,
        str(tmp),
        f"deb {mirror} {SUITE} main",
    ]
    log(f"cold build: {' '.join(cmd)}")
    _run(cmd, timeout=900)


def _spec_file(tarball: Path) -> Path:
    return tarball.with_name(tarball.name + ".spec")


def _tarball_matches(tarball: Path) -> bool:
    """Only a tarball of this spec is worth extracting (the marker inside is checked too)."""
    try:
        return tarball.is_file() and _spec_file(tarball).read_text().strip() == SPEC_ID
    except OSError:
        return False


def _restore_tarball(tarball: Path, tmp: Path) -> bool:
    ensure_host_tools({"zstd": "zstd"})
    tmp.mkdir(parents=True)
    # Extraction is bound by the kernel's writes, not by zstd: two tar processes, each
    # writing about half of the files, finish sooner on a 2-core machine.
    tar = ["tar", "--numeric-owner", "-I", "zstd", "-xf", str(tarball), "-C", str(tmp)]
    halves = [[*tar, "--wildcards", "./usr/lib/*"], [*tar, "--exclude=./usr/lib/*"]]
    procs = [subprocess.Popen(cmd, stdin=subprocess.DEVNULL) for cmd in halves]
    codes = []
    for proc in procs:
        try:
            codes.append(proc.wait(timeout=600))
        except subprocess.TimeoutExpired:
            proc.kill()
            codes.append(proc.wait())
    if any(codes) or not root_is_ready(tmp):
        log(f"cache tarball {tarball} unusable; ignoring it")
        remove_tree(tmp)
        return False
    return True


def write_tarball(root: Path, tarball: Path) -> None:
    ensure_host_tools({"zstd": "zstd"})
    part = tarball.with_name(tarball.name + ".part")
    part.unlink(missing_ok=True)
    _run(
        [
            "tar",
            "--numeric-owner",
            "--exclude=./lab/*",
            "-I",
            "zstd -T0 -3",
            "-cf",
            str(part),
            "-C",
            str(root),
            ".",
        ],
        timeout=600,
    )
    _spec_file(tarball).unlink(missing_ok=True)
    part.replace(tarball)
    _spec_file(tarball).write_text(SPEC_ID + "\n")


def ensure_root(root: Path | None = None, *, tarball: Path | None = None) -> str:
    """Make sure a ready root exists; return how ("existing", "tarball", "cold")."""
    root = (root or default_root()).absolute()
    tarball = tarball or tarball_for(root)
    if root_is_ready(root):
        return "existing"
    if os.geteuid() != 0:
        raise SandboxError("building the PBX root needs root (mmdebstrap, chroot)")
    with _build_lock(root):
        if root_is_ready(root):  # another process built it while we waited
            return "existing"
        if root.exists():
            running = [
                p.parent.parent.name
                for p in root.glob("lab/*/run/sandbox.pid")
                if AsteriskSandbox(p.parent.parent.name, root=root).is_running()
            ]
            if running:
                raise SandboxError(
                    f"{root} must be rebuilt, but instances run in it: "
                    f"{', '.join(running)}; stop them first"
                )
            log(f"{root} is incomplete or from another spec; rebuilding it")
            remove_tree(root)
        tmp = root.with_name(root.name + ".building")
        remove_tree(tmp)
        how = "cold"
        if _tarball_matches(tarball) and _restore_tarball(tarball, tmp):
            how = "tarball"
        else:
            _cold_build(tmp)
            _finish_root(tmp, "cold")
            log(f"writing cache tarball {tarball}")
            write_tarball(tmp, tarball)
        tmp.rename(root)
        return how


def chroot_output(root: Path, cmd: Sequence[str], timeout: float = 60) -> str:
    return _run(["chroot", str(root), *cmd], capture=True, timeout=timeout, env=CHROOT_ENV).stdout


def module_dir(root: Path) -> str:
    """Asterisk's module folder inside the root (multiarch: /usr/lib/<triplet>/...)."""
    multiarch = sorted(root.glob("usr/lib/*/asterisk/modules"))
    for found in [*multiarch, root / "usr/lib/asterisk/modules"]:
        if found.is_dir():
            return "/" + str(found.relative_to(root))
    raise SandboxError(f"no Asterisk module folder in {root}")


def template_modules() -> list[str]:
    text = (TEMPLATES / "modules.conf").read_text()
    return re.findall(r"^\s*load\s*=>\s*(\S+)", text, flags=re.MULTILINE)


# ---------------------------------------------------------------------------- TLS


def _openssl(*args: str) -> None:
    ensure_host_tools({"openssl": "openssl"})
    _run(["openssl", *args], capture=True, timeout=60)


def write_ca(folder: Path, common_name: str) -> tuple[Path, Path]:
    """A new self-signed CA (RSA 2048, SHA-256) in `folder`: (ca.crt, ca.key)."""
    folder.mkdir(parents=True, exist_ok=True)
    crt, key = folder / "ca.crt", folder / "ca.key"
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-sha256", "-nodes", "-days", "3650",
        "-keyout", str(key), "-out", str(crt), "-subj", f"/O=agent-desktop/CN={common_name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    key.chmod(0o600)
    return crt, key


def write_server_cert(folder: Path, ca_crt: Path, ca_key: Path) -> tuple[Path, Path]:
    """A server certificate for IP 127.0.0.1 and DNS localhost, signed by the CA."""
    crt, key, csr = folder / "server.crt", folder / "server.key", folder / "server.csr"
    ext = folder / "server.ext"
    ext.write_text(
        "basicConstraints = critical, CA:FALSE\n"
        "keyUsage = critical, digitalSignature, keyEncipherment\n"
        "extendedKeyUsage = serverAuth\n"
        "subjectAltName = IP:127.0.0.1, DNS:localhost\n"
    )
    _openssl(
        "req", "-new", "-newkey", "rsa:2048", "-sha256", "-nodes",
        "-keyout", str(key), "-out", str(csr), "-subj", "/O=agent-desktop/CN=127.0.0.1",
    )  # fmt: skip
    key.chmod(0o600)
    _openssl(
        "x509", "-req", "-sha256", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key),
        "-set_serial", str(int.from_bytes(secrets.token_bytes(15), "big")),
        "-days", str(CERT_DAYS), "-extfile", str(ext), "-out", str(crt),
    )  # fmt: skip
    csr.unlink()
    ext.unlink()
    return crt, key


def _cert_valid(crt: Path, seconds: int = 86400) -> bool:
    if not crt.is_file():
        return False
    proc = _run(
        ["openssl", "x509", "-checkend", str(seconds), "-noout", "-in", str(crt)],
        check=False,
        capture=True,
    )
    return proc.returncode == 0


def ensure_tls_files(folder: Path, name: str) -> None:
    """The instance's CA and server certificate; kept while valid, so a restart keeps the
    CA that clients already trust."""
    ensure_host_tools({"openssl": "openssl"})
    ca_crt, ca_key = folder / "ca.crt", folder / "ca.key"
    if not (_cert_valid(ca_crt) and ca_key.is_file()):
        ca_crt, ca_key = write_ca(folder, f"agent-desktop sandbox CA ({name})")
        (folder / "server.crt").unlink(missing_ok=True)
    if not (_cert_valid(folder / "server.crt") and (folder / "server.key").is_file()):
        write_server_cert(folder, ca_crt, ca_key)


# ---------------------------------------------------------------------- instances


def _pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


class AsteriskSandbox:
    """One Asterisk instance inside the shared root, with its own ports and state.

    Ports, the AMI user and the secret not given are taken from the instance's
    saved settings (instance/sandbox.json), else the demo defaults; the secret
    defaults to $AGENT_DESKTOP_AMI_SECRET, else a random one kept per instance.
    """

    def __init__(
        self,
        name: str = "demo",
        *,
        root: Path | str | None = None,
        sip_port: int | None = None,
        ami_port: int | None = None,
        rtp_start: int | None = None,
        rtp_end: int | None = None,
        ami_user: str | None = None,
        ami_secret: str | None = None,
        tls_port: int | None = None,
    ) -> None:
        if not NAME_RE.match(name):
            raise SandboxError(f"bad instance name {name!r}")
        self.name = name
        self.root = Path(root).absolute() if root else default_root().absolute()
        saved = self._load_settings()
        self._sip_port = int(sip_port or saved.get("sip_port") or DEMO_SIP_PORT)
        self._ami_port = int(ami_port or saved.get("ami_port") or DEMO_AMI_PORT)
        self.rtp_start = int(rtp_start or saved.get("rtp_start") or DEMO_RTP[0])
        self.rtp_end = int(rtp_end or saved.get("rtp_end") or DEMO_RTP[1])
        # 0 or None: no TLS transport (saved like the other ports; pass 0 to turn it off)
        self._tls_port = int(saved.get("tls_port") or 0) if tls_port is None else tls_port
        self._ami_user = str(ami_user or saved.get("ami_user") or DEFAULT_AMI_USER)
        self._ami_secret = str(
            ami_secret
            or os.environ.get(SECRET_ENV)
            or saved.get("ami_secret")
            or secrets.token_hex(12)
        )
        self._proc: subprocess.Popen[bytes] | None = None
        self.last_start_seconds: float | None = None
        self.last_stop_seconds: float | None = None
        self.boot_problems: list[str] = []

    # -- properties
    @property
    def sip_port(self) -> int:
        return self._sip_port

    @property
    def ami_port(self) -> int:
        return self._ami_port

    @property
    def tls_port(self) -> int | None:
        """The SIP-over-TLS port on 127.0.0.1, or None when this instance has no TLS."""
        return self._tls_port or None

    @property
    def tls_dir(self) -> Path:
        """Host folder of the instance's CA and server certificate (and their keys)."""
        return self.instance_dir / "tls"

    @property
    def ca_file(self) -> Path | None:
        """The CA certificate (PEM) a client verifies the TLS server against; None without TLS."""
        return self.tls_dir / "ca.crt" if self.tls_port else None

    @property
    def ami_user(self) -> str:
        return self._ami_user

    @property
    def ami_secret(self) -> str:
        return self._ami_secret

    @property
    def chroot_instance_dir(self) -> str:
        """The instance folder as Asterisk (inside the chroot) sees it."""
        return f"/lab/{self.name}"

    @property
    def instance_dir(self) -> Path:
        """The instance folder on the host: ROOT/lab/<name>."""
        return self.root / "lab" / self.name

    @property
    def etc_dir(self) -> Path:
        return self.instance_dir / "etc"

    @property
    def generated_dir(self) -> Path:
        """Host folder for the server's generated config (`#tryinclude generated/...`)."""
        return self.etc_dir / "generated"

    @property
    def log_dir(self) -> Path:
        return self.instance_dir / "log"

    @property
    def console_log(self) -> Path:
        return self.log_dir / "console.log"

    @property
    def pid_file(self) -> Path:
        return self.instance_dir / "run" / "sandbox.pid"

    @property
    def settings_file(self) -> Path:
        return self.instance_dir / "sandbox.json"

    @property
    def _conf_in_chroot(self) -> str:
        return f"{self.chroot_instance_dir}/etc/asterisk.conf"

    @property
    def _remote(self) -> list[str]:
        """The command line of a remote console to this instance (`-rx` follows)."""
        return ["chroot", str(self.root), "/usr/sbin/asterisk", "-C", self._conf_in_chroot]

    def _load_settings(self) -> dict[str, Any]:
        try:
            data = json.loads((self.root / "lab" / self.name / "sandbox.json").read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def settings(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "root": str(self.root),
            "instance_dir": str(self.instance_dir),
            "generated_dir": str(self.generated_dir),
            "sip_port": self.sip_port,
            "ami_port": self.ami_port,
            "rtp_start": self.rtp_start,
            "rtp_end": self.rtp_end,
            "tls_port": self.tls_port,
            "ca_file": str(self.ca_file) if self.ca_file else None,
            "ami_user": self.ami_user,
            "ami_secret": self.ami_secret,
        }

    # -- process state
    @property
    def pid(self) -> int | None:
        """PID of this instance's Asterisk if it is running (checked, not just read)."""
        if self._proc is not None and self._proc.poll() is None:
            return self._proc.pid
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if self._is_ours(pid) else None

    def _is_ours(self, pid: int) -> bool:
        """Guard against PID reuse: same root and the same -C argument."""
        if not _pid_alive(pid):
            return False
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            proc_root = os.readlink(f"/proc/{pid}/root")
        except OSError:
            return False
        return self._conf_in_chroot.encode() in cmdline and Path(proc_root) == self.root.resolve()

    def is_running(self) -> bool:
        return self.pid is not None

    # -- config
    def render_config(self, *, example_devices: bool = False) -> None:
        """Write the project's templates into instance/etc (generated/ is left alone)."""
        values = {
            "@INSTANCE@": self.chroot_instance_dir,
            "@MODDIR@": module_dir(self.root),
            "@SIP_PORT@": str(self.sip_port),
            "@AMI_PORT@": str(self.ami_port),
            "@AMI_USER@": self.ami_user,
            "@AMI_SECRET@": self.ami_secret,
            "@RTP_START@": str(self.rtp_start),
            "@RTP_END@": str(self.rtp_end),
        }
        for sub in ("etc", "etc/generated", "run", "log", "lib", "spool", "cache"):
            (self.instance_dir / sub).mkdir(parents=True, exist_ok=True)
        for template in sorted(TEMPLATES.glob("*.conf")):
            text = template.read_text()
            for key, value in values.items():
                text = text.replace(key, value)
            leftover = re.search(r"@[A-Z][A-Z_]+@", text)
            if leftover:
                raise SandboxError(f"{template.name}: unknown placeholder {leftover.group(0)}")
            target = self.etc_dir / template.name
            target.write_text(text)
            if template.name == "manager.conf":
                target.chmod(0o600)
        if example_devices:
            shutil.copyfile(EXAMPLE_DEVICES, self.generated_dir / "pjsip_devices.conf")
        tls_conf = self.etc_dir / "pjsip_tls.conf"
        tls_devices = self.generated_dir / "pjsip_tls_devices.conf"
        tls_conf.unlink(missing_ok=True)
        tls_devices.unlink(missing_ok=True)
        if self.tls_port:
            ensure_tls_files(self.tls_dir, self.name)
            text = TLS_TEMPLATE.read_text()
            text = text.replace("@TLS_PORT@", str(self.tls_port))
            text = text.replace("@TLS_DIR@", f"{self.chroot_instance_dir}/tls")
            tls_conf.write_text(text)
            if example_devices:
                shutil.copyfile(EXAMPLE_TLS_DEVICES, tls_devices)
        self.settings_file.write_text(json.dumps(self.settings(), indent=1) + "\n")
        self.settings_file.chmod(0o600)

    # -- lifecycle
    def start(
        self, *, example_devices: bool = False, fresh: bool = False, timeout: float = BOOT_TIMEOUT
    ) -> float:
        """Build/restore the root if needed, start Asterisk, wait until fully booted.

        Returns the seconds from launching Asterisk to fully booted.
        `fresh` wipes the instance folder first (config, astdb, logs, generated/).
        """
        ensure_root(self.root)
        if self.is_running():
            raise SandboxError(f"instance {self.name} is already running (pid {self.pid})")
        if fresh:
            remove_tree(self.instance_dir)
        self.render_config(example_devices=example_devices)
        ctl = self.instance_dir / "run" / "asterisk.ctl"
        ctl.unlink(missing_ok=True)
        log_offset = self.console_log.stat().st_size if self.console_log.exists() else 0
        began = time.monotonic()
        with open(self.console_log, "ab") as out:
            self._proc = subprocess.Popen(
                ["chroot", str(self.root), "/usr/sbin/asterisk", "-f", "-C", self._conf_in_chroot],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=CHROOT_ENV,
                start_new_session=True,  # survives the CLI, ignores its Ctrl-C
            )
        self.pid_file.write_text(f"{self._proc.pid}\n")
        deadline = began + timeout
        try:
            while not ctl.exists():
                if self._proc.poll() is not None:
                    raise SandboxError(
                        f"Asterisk exited with {self._proc.returncode}; "
                        f"see {self.console_log}\n{self._log_tail()}"
                    )
                if time.monotonic() > deadline:
                    raise SandboxError(
                        f"no control socket after {timeout}s; see {self.console_log}"
                    )
                time.sleep(0.01)
            self.rx("core waitfullybooted", timeout=max(1.0, deadline - time.monotonic()))
        except BaseException:
            self.stop()
            raise
        self.last_start_seconds = time.monotonic() - began
        self.boot_problems = self._problems_since(log_offset)
        for line in self.boot_problems:
            log(f"{self.name}: {line}")
        return self.last_start_seconds

    def _problems_since(self, offset: int) -> list[str]:
        """ERROR/WARNING lines Asterisk logged during this boot (e.g. a module that failed)."""
        with open(self.console_log, "rb") as fh:
            fh.seek(offset)
            text = fh.read().decode(errors="replace")
        return [line for line in text.splitlines() if "ERROR[" in line or "WARNING[" in line]

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.console_log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def rx(self, command: str, *, timeout: float = RX_TIMEOUT) -> str:
        """Run one Asterisk CLI command (`asterisk -rx`) and return its output."""
        proc = _run(
            [*self._remote, "-rx", command],
            capture=True,
            check=False,
            timeout=timeout,
            env=CHROOT_ENV,
        )
        if proc.returncode != 0:
            raise SandboxError(
                f"asterisk -rx {command!r} failed ({proc.returncode}): "
                f"{(proc.stderr or proc.stdout).strip()}"
            )
        return proc.stdout

    def stop(self, *, timeout: float = 5.0) -> float:
        """Stop this instance (idempotent); returns the seconds it took."""
        began = time.monotonic()
        pid = self.pid
        if pid is not None:
            # The `-rx` client lingers ~0.9 s after the server has gone (it tries to
            # reconnect): wait for the server to exit, not for the client.
            client = subprocess.Popen(
                [*self._remote, "-rx", "core stop now"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=CHROOT_ENV,
            )
            try:
                for sig in (None, signal.SIGTERM, signal.SIGKILL):
                    if sig is not None:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, sig)
                    if self._wait_gone(pid, timeout if sig is not signal.SIGKILL else 5.0):
                        break
                else:
                    raise SandboxError(f"Asterisk pid {pid} did not exit")
            finally:
                if client.poll() is None:
                    client.kill()
                client.wait()
        self._proc = None
        self.pid_file.unlink(missing_ok=True)
        (self.instance_dir / "run" / "asterisk.ctl").unlink(missing_ok=True)
        self.last_stop_seconds = time.monotonic() - began
        return self.last_stop_seconds

    def _wait_gone(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.pid == pid:
                if self._proc.poll() is not None:
                    return True
            elif not _pid_alive(pid):
                return True
            time.sleep(0.02)
        return False

    def rss_kib(self) -> int | None:
        pid = self.pid
        if pid is None:
            return None
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return None

    def __enter__(self) -> AsteriskSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------- CLI


def _rtp_range(text: str) -> tuple[int, int]:
    lo, _, hi = text.partition("-")
    return int(lo), int(hi)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pbx/sandbox.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("build", help="build or restore the root; print the Asterisk package")
    for cmd in ("start", "stop", "status", "rx"):
        p = sub.add_parser(cmd)
        p.add_argument("--name", default="demo", help="instance name (default demo)")
        if cmd == "rx":
            p.add_argument("command", help='an Asterisk CLI command, e.g. "core show uptime"')
        if cmd == "start":
            p.add_argument("--sip-port", type=int)
            p.add_argument("--ami-port", type=int)
            p.add_argument("--rtp", type=_rtp_range, help="e.g. 10000-10999")
            p.add_argument(
                "--tls-port", type=int, help="also SIP over TLS on this port (0: no TLS)"
            )
            p.add_argument(
                "--example-devices",
                action="store_true",
                help="copy the example phones 8001/8002 into generated/",
            )
            p.add_argument("--fresh", action="store_true", help="wipe the instance folder first")
    args = parser.parse_args(argv)
    root = default_root().absolute()
    try:
        if args.cmd == "build":
            began = time.monotonic()
            how = ensure_root(root)
            log(f"root ready ({how}) in {time.monotonic() - began:.1f}s: {root}")
            if not _tarball_matches(tarball_for(root)):
                log(f"writing cache tarball {tarball_for(root)}")
                write_tarball(root, tarball_for(root))
            print(chroot_output(root, ["dpkg-query", "-W", "asterisk"]), end="")
            return 0
        rtp = getattr(args, "rtp", None) or (None, None)
        box = AsteriskSandbox(
            args.name,
            root=root,
            sip_port=getattr(args, "sip_port", None),
            ami_port=getattr(args, "ami_port", None),
            rtp_start=rtp[0],
            rtp_end=rtp[1],
            tls_port=getattr(args, "tls_port", None),
        )
        if args.cmd == "start":
            began = time.monotonic()
            how = ensure_root(root)
            boot = box.start(example_devices=args.example_devices, fresh=args.fresh)
            log(
                f"root {how}; Asterisk booted in {boot:.2f}s "
                f"(total {time.monotonic() - began:.2f}s), pid {box.pid}"
            )
            print(json.dumps({**box.settings(), "pid": box.pid}, indent=1))
        elif args.cmd == "stop":
            was = box.pid
            took = box.stop()
            log(f"stopped pid {was} in {took:.2f}s" if was else "not running")
        elif args.cmd == "status":
            print(
                json.dumps(
                    {
                        **box.settings(),
                        "running": box.is_running(),
                        "pid": box.pid,
                        "rss_kib": box.rss_kib(),
                        "root_ready": root_is_ready(root),
                    },
                    indent=1,
                )
            )
            return 0 if box.is_running() else 3
        elif args.cmd == "rx":
            print(box.rx(args.command), end="")
    except SandboxError as exc:
        log(f"error: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
