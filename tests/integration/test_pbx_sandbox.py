"""The PBX sandbox boots a real Asterisk 22 that the server can drive over AMI."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pbx.sandbox import AsteriskSandbox, module_dir, template_modules
from tests.pbx_fixtures import discard, free_sip_port, new_sandbox

# The first run on a new machine builds the root (mmdebstrap): allow for it.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[2]


class TinyAmi:
    """Just enough AMI to prove the port works: a Manager message is `Key: value` lines
    ended by an empty line; the server greets with one banner line first."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buffer = b""
        self.banner = self._read_until(b"\r\n").decode().strip()

    def _read_until(self, end: bytes) -> bytes:
        while end not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("AMI closed the connection")
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(end)
        return head

    def action(self, name: str, **fields: str) -> dict[str, str]:
        action_id = f"t{time.monotonic_ns()}"
        lines = [f"Action: {name}", f"ActionID: {action_id}"]
        lines += [f"{key}: {value}" for key, value in fields.items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        while True:  # skip events until our response
            message = dict(
                line.split(": ", 1)
                for line in self._read_until(b"\r\n\r\n").decode().split("\r\n")
                if ": " in line
            )
            if message.get("ActionID") == action_id:
                return message

    def close(self) -> None:
        self.sock.close()


def test_asterisk_boots_fully_without_errors(asterisk: AsteriskSandbox) -> None:
    assert "fully booted" in asterisk.rx("core waitfullybooted")
    assert asterisk.rx("core show version").startswith("Asterisk 22.")
    assert asterisk.boot_problems == []


def test_every_listed_module_exists_and_runs(asterisk: AsteriskSandbox) -> None:
    listed = template_modules()
    assert "res_manager_devicestate.so" in listed
    folder = asterisk.root / module_dir(asterisk.root).lstrip("/")
    assert [m for m in listed if not (folder / m).is_file()] == []
    loaded = asterisk.rx("module show")
    assert [m for m in listed if m not in loaded] == []


def test_ami_login_and_core_settings(asterisk: AsteriskSandbox) -> None:
    ami = TinyAmi(asterisk.ami_port)
    try:
        assert ami.banner.startswith("Asterisk Call Manager/")
        login = ami.action("Login", Username=asterisk.ami_user, Secret=asterisk.ami_secret)
        assert login["Response"] == "Success", login
        settings = ami.action("CoreSettings")
        assert settings["Response"] == "Success"
        assert settings["AsteriskVersion"].startswith("22")
    finally:
        ami.close()


def test_ami_refuses_a_wrong_secret(asterisk: AsteriskSandbox) -> None:
    ami = TinyAmi(asterisk.ami_port)
    try:
        login = ami.action("Login", Username=asterisk.ami_user, Secret="wrong")
        assert login["Response"] == "Error"
    finally:
        ami.close()


def test_example_devices_are_endpoints(asterisk: AsteriskSandbox) -> None:
    endpoints = asterisk.rx("pjsip show endpoints")
    assert "Endpoint:  8001/8001" in endpoints
    assert "Endpoint:  8002/8002" in endpoints
    transports = asterisk.rx("pjsip show transports")
    assert f"udp      0      0  127.0.0.1:{asterisk.sip_port}" in transports
    assert f"tcp      0      0  127.0.0.1:{asterisk.sip_port}" in transports


def test_example_device_registers_with_digest(asterisk: AsteriskSandbox) -> None:
    """SIPp from the root registers as 8001/demo (401 challenge, then 200)."""
    register = """\
      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:8001@[remote_ip]>;tag=[pid]reg[call_number]
      To: <sip:8001@[remote_ip]>
      Call-ID: [call_id]
      CSeq: {cseq} REGISTER
      Contact: <sip:8001@[local_ip]:[local_port]>
      {auth}Max-Forwards: 70
      Expires: 60
      Content-Length: 0
"""
    first = register.format(cseq=1, auth="")
    second = register.format(cseq=2, auth="[authentication username=8001 password=demo]\n      ")
    scenario = f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="register">
  <send retrans="500"><![CDATA[
{first}
  ]]></send>
  <recv response="401" auth="true"/>
  <send retrans="500"><![CDATA[
{second}
  ]]></send>
  <recv response="200"/>
</scenario>
"""
    (asterisk.instance_dir / "register.xml").write_text(scenario)
    local_port = free_sip_port()
    sipp = subprocess.run(
        [
            "chroot",
            str(asterisk.root),
            "sipp",
            f"127.0.0.1:{asterisk.sip_port}",
            "-sf",
            f"{asterisk.chroot_instance_dir}/register.xml",
            "-m",
            "1",
            "-nostdin",
            "-i",
            "127.0.0.1",
            "-p",
            str(local_port),
            "-timeout",
            "15s",
            "-timeout_error",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert sipp.returncode == 0, sipp.stdout[-2000:] + sipp.stderr[-2000:]
    contacts = asterisk.rx("pjsip show contacts")
    assert f"8001/sip:8001@127.0.0.1:{local_port}" in contacts


def test_simulated_pstn_trunk_is_configured(asterisk: AsteriskSandbox) -> None:
    """Outside numbers are dialled to the `pstn` endpoint (a test phone registers as it)."""
    endpoint = asterisk.rx("pjsip show endpoint pstn")
    assert "Endpoint:  pstn" in endpoint
    assert "context                            : pstn" in endpoint


def test_generated_config_is_included(asterisk: AsteriskSandbox) -> None:
    """The server writes into generated/ and reloads: queues and dialplan pick it up."""
    generated = asterisk.generated_dir
    (generated / "queues.conf").write_text("[billing]\nstrategy = ringall\n")
    (generated / "extensions_probe.conf").write_text("[probe]\nexten => 7099,1,Queue(billing)\n")
    try:
        asterisk.rx("queue reload all")
        asterisk.rx("dialplan reload")
        assert asterisk.rx("queue show billing").startswith("billing has 0 calls")
        assert "Queue(billing)" in asterisk.rx("dialplan show 7099@probe")
    finally:
        (generated / "queues.conf").unlink()
        (generated / "extensions_probe.conf").unlink()


def _asterisk_pids_for(box: AsteriskSandbox) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"/usr/sbin/asterisk\0-f" in cmdline and box.chroot_instance_dir.encode() in cmdline:
            found.append(int(entry.name))
    return found


def test_second_instance_runs_beside_and_stops_clean(asterisk: AsteriskSandbox) -> None:
    other = new_sandbox(f"pytest-{os.getpid()}-b")
    try:
        other.start(fresh=True)
        pid = other.pid
        assert pid is not None
        assert other.sip_port != asterisk.sip_port
        assert "8001" not in other.rx("pjsip show endpoints")  # no example phones
        assert asterisk.is_running()
        took = other.stop()
        assert took < 10
        assert not Path(f"/proc/{pid}").exists()
        assert _asterisk_pids_for(other) == []
        assert other.stop() < 1  # idempotent
        assert asterisk.is_running()
    finally:
        discard(other)


def test_cli_start_then_cli_stop(asterisk: AsteriskSandbox) -> None:
    """`stop` from a new process finds the Asterisk that `start` left running (pid file)."""
    box = new_sandbox(f"pytest-{os.getpid()}-cli")
    script = [sys.executable, str(REPO / "pbx" / "sandbox.py")]
    try:
        started = subprocess.run(
            [
                *script,
                "start",
                "--name",
                box.name,
                "--fresh",
                "--sip-port",
                str(box.sip_port),
                "--ami-port",
                str(box.ami_port),
                "--rtp",
                f"{box.rtp_start}-{box.rtp_end}",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert started.returncode == 0, started.stderr
        pid = AsteriskSandbox(box.name).pid
        assert pid is not None
        status = subprocess.run(
            [*script, "status", "--name", box.name], check=False, capture_output=True, timeout=30
        )
        assert status.returncode == 0
        stopped = subprocess.run(
            [*script, "stop", "--name", box.name],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert stopped.returncode == 0, stopped.stderr
        assert _asterisk_pids_for(box) == []
        status = subprocess.run(
            [*script, "status", "--name", box.name], check=False, capture_output=True, timeout=30
        )
        assert status.returncode == 3  # not running
    finally:
        discard(AsteriskSandbox(box.name))
