"""A real Asterisk for the tests: the project's PBX sandbox (pbx/sandbox.py) on free ports.

The fixture is named `asterisk`; its function is `asterisk_fixture`, so a test module can
import it (`from tests.pbx_fixtures import asterisk_fixture  # noqa: F401`) without ruff's
F811 on every test parameter named `asterisk`. Or list this module in the root conftest.py:
`pytest_plugins = ["tests.pbx_fixtures"]`.

The first run on a machine builds the root (about 20-60 s, needs the Debian mirror); later
runs reuse it (start well under a second). Set AGENT_DESKTOP_PBX_KEEP=1 to keep the
instance folder (config, console.log, messages.log) after the session for debugging.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
from collections.abc import Iterator

import pytest

from pbx.sandbox import AsteriskSandbox, SandboxError, default_root, remove_tree

KEEP_ENV = "AGENT_DESKTOP_PBX_KEEP"
_used_rtp_bases: set[int] = set()


def free_sip_port() -> int:
    """A loopback port free for both UDP and TCP (pjsip binds both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free UDP+TCP port on loopback")


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_rtp_range(size: int = 400) -> tuple[int, int]:
    """A block below Linux's ephemeral range (32768+), distinct among running instances."""
    bases = [b for b in range(20000, 32000 - size + 1, size) if b not in _used_rtp_bases]
    base = random.choice(bases)
    _used_rtp_bases.add(base)
    return base, base + size - 1


def new_sandbox(name: str, *, tls: bool = False) -> AsteriskSandbox:
    """An instance on free ports (not started), its own folder ROOT/lab/<name>.

    `tls`: also SIP over TLS on a free port, with the instance's own CA (`box.ca_file`).
    """
    rtp_start, rtp_end = free_rtp_range()
    sip_port = free_sip_port()
    ami_port = free_tcp_port()
    return AsteriskSandbox(
        name,
        sip_port=sip_port,
        ami_port=ami_port,
        rtp_start=rtp_start,
        rtp_end=rtp_end,
        tls_port=_free_port_besides({sip_port, ami_port}) if tls else 0,
    )


def _free_port_besides(used: set[int]) -> int:
    while True:
        port = free_tcp_port()
        if port not in used:
            return port


def discard(box: AsteriskSandbox) -> None:
    """Stop an instance and delete its folder (kept if AGENT_DESKTOP_PBX_KEEP is set)."""
    box.stop()
    _used_rtp_bases.discard(box.rtp_start)
    if not os.environ.get(KEEP_ENV):
        remove_tree(box.instance_dir)


def _remove_stale_test_instances() -> None:
    """Folders of earlier test sessions that died before their teardown."""
    lab = default_root() / "lab"
    for folder in sorted(lab.glob("pytest-*")) if lab.is_dir() else []:
        pid = folder.name.split("-")[1]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            stale = AsteriskSandbox(folder.name)
            stale.stop()
            remove_tree(folder)


@pytest.fixture(scope="session", name="asterisk")
def asterisk_fixture() -> Iterator[AsteriskSandbox]:
    """A started Asterisk with the example phones 8001/8002 (password `demo`)."""
    if os.geteuid() != 0 or shutil.which("chroot") is None:
        pytest.skip("the PBX sandbox needs root (chroot, mmdebstrap)")
    _remove_stale_test_instances()
    box = new_sandbox(f"pytest-{os.getpid()}")
    try:
        box.start(example_devices=True, fresh=True)
    except SandboxError as exc:
        pytest.fail(f"PBX sandbox did not start: {exc}")
    try:
        yield box
    finally:
        discard(box)
