"""SIP over TLS (server certificate verified) and SRTP against the sandbox Asterisk.

The sandbox instance here has a TLS transport and its own CA (`tls_pbx.ca_file`); its
TLS phones are 8101 (Asterisk requires SRTP, SDES keys) and 8102 (plain RTP only). Each
engine runs in its own `tests.sip.tls_runner` process: the session engine of the other
SIP tests already owns this process's pjsua2 Endpoint, and it has no TLS transport.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import time
import wave
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent_desktop.sip import system_ca_file
from pbx.sandbox import AsteriskSandbox, write_ca, write_server_cert
from tests.pbx_fixtures import discard, new_sandbox
from tests.sip.test_engine_calls import goertzel_share
from tests.support.sipphone import SipPhone

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]
REPO = Path(__file__).resolve().parents[2]
MILLIWATT_HZ = 1004
CERT_REFUSED = "SSL certificate verification error (PJSIP_TLS_ECERTVERIF)"


@pytest.fixture(scope="module")
def tls_pbx(asterisk: AsteriskSandbox) -> Iterator[AsteriskSandbox]:
    """An Asterisk of its own with SIP over TLS (`asterisk` for its skip and the root)."""
    box = new_sandbox(f"pytest-{os.getpid()}-tls", tls=True)
    box.start(example_devices=True, fresh=True)
    try:
        yield box
    finally:
        discard(box)


def run_engine(
    box: AsteriskSandbox,
    user: str,
    *args: str,
    host: str = "127.0.0.1",
    env: dict[str, str] | None = None,
) -> tuple[list[dict[str, Any]], float]:
    """Run one TLS engine process to its end; its events and how long it ran."""
    child_env = {k: v for k, v in os.environ.items() if k != "SSL_CERT_FILE"}
    child_env.update(QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(REPO), **(env or {}))
    cmd = [
        SipPhone.python(),
        "-m",
        "tests.sip.tls_runner",
        "--registrar",
        f"{host}:{box.tls_port}",
        "--user",
        user,
        *args,
    ]
    began = time.monotonic()
    proc = subprocess.run(
        cmd, cwd=REPO, env=child_env, capture_output=True, text=True, timeout=60, check=False
    )
    took = time.monotonic() - began
    out, err = proc.stdout, proc.stderr
    assert proc.returncode == 0, f"exit {proc.returncode}\n{err[-3000:]}"
    assert "Assertion" not in err, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert events, out
    assert events[-1]["event"] == "exit", out
    assert not [e for e in events if e["event"] == "timeout"], out
    return events, took


def of(events: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == name]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_registers_over_tls_with_the_sandbox_ca(tls_pbx: AsteriskSandbox, host: str) -> None:
    """Verification on, the sandbox CA given: 200 OK; the certificate matched the name
    (IP SAN 127.0.0.1 or DNS SAN localhost) and the handshake is TLS 1.2."""
    assert tls_pbx.ca_file is not None
    assert tls_pbx.ca_file.is_file()
    events, _ = run_engine(tls_pbx, "8101", "--ca-file", str(tls_pbx.ca_file), host=host)
    registered = of(events, "registered")
    assert registered, events
    reg = [e for e in of(events, "registration") if e["state"] == "REGISTERED"]
    assert reg[0]["code"] == 200
    assert reg[0]["tls_certificate_rejected"] is False
    tls = of(events, "tls")[0]
    assert tls["connected"] is True
    assert tls["verified"] is True, tls
    assert tls["problems"] == []
    assert tls["protocol"] == "TLSv1.2"  # OpenSSL 1.0.2k in the wheel: no TLS 1.3
    assert tls["cipher"], tls
    assert tls["server_subject"] == "127.0.0.1"
    print(f"TLS {host}: registered in {registered[0]['elapsed_s'] * 1000:.0f} ms, {tls}")
    assert registered[0]["elapsed_s"] < 5.0


def test_the_system_ca_bundle_is_used_when_no_ca_file_is_given(
    tls_pbx: AsteriskSandbox, tmp_path: Path
) -> None:
    """No `tls_ca_file`: the engine verifies against the system's bundle (pjsip alone would
    trust nothing). A bundle with the sandbox CA in it, as $SSL_CERT_FILE -> registered."""
    assert tls_pbx.ca_file is not None
    system = Path(system_ca_file())
    bundle = tmp_path / "bundle.pem"
    bundle.write_text(system.read_text() + "\n" + tls_pbx.ca_file.read_text())
    events, _ = run_engine(tls_pbx, "8101", env={"SSL_CERT_FILE": str(bundle)})
    assert of(events, "started")[0]["ca_file"] == str(bundle)
    assert of(events, "registered"), events
    assert of(events, "tls")[0]["verified"] is True


def test_without_verification_the_same_server_registers(tls_pbx: AsteriskSandbox) -> None:
    """The control for the next test: no CA, verification off -> registered, and the engine
    still says the certificate was not verified."""
    events, _ = run_engine(tls_pbx, "8101", "--no-verify")
    assert of(events, "registered"), events
    tls = of(events, "tls")[0]
    assert tls["connected"] is True
    assert tls["verified"] is False
    assert tls["problems"], tls


def refused_twice(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Never registered; both REGISTERs (the runner's --failures 2) failed as a rejected
    certificate, the first within the handshake (not after a timeout). The failures."""
    assert not of(events, "registered"), events
    failed = [e for e in of(events, "registration") if e["state"] == "FAILED"]
    assert len(failed) == 2, events
    for e in failed:
        assert e["code"] == 503, e
        assert e["reason"] == CERT_REFUSED
        assert e["tls_certificate_rejected"] is True
    assert failed[0]["t"] < 2.0
    return failed


@pytest.mark.parametrize("ca", ["none", "another_ca"])
def test_verification_refuses_an_untrusted_server_with_a_clear_reason(
    tls_pbx: AsteriskSandbox, ca: str, tmp_path: Path
) -> None:
    """Verification on, the sandbox CA not given (none: the system's CA bundle; or another CA):
    every REGISTER fails at once, 503 with pjsip's certificate reason, the account says the
    certificate was rejected and why; the engine keeps running and retries (no hang, no
    crash); the runner stops after two failures."""
    args: list[str] = []
    if ca == "another_ca":
        other, _ = write_ca(tmp_path / "other", "not the PBX's CA")
        args = ["--ca-file", str(other)]
    events, took = run_engine(tls_pbx, "8101", *args, "--failures", "2")
    if ca == "none":
        assert of(events, "started")[0]["ca_file"], "no system CA bundle found"
    failed = refused_twice(events)
    for e in failed:
        assert e["tls_problem"] == "The certificate is untrusted", e
    tls = of(events, "tls")
    assert tls, events
    assert all(not t["connected"] and not t["verified"] for t in tls), tls
    assert tls[0]["error"] == CERT_REFUSED
    assert events[-1]["failures"] == [503, 503]
    assert took < 30


def test_a_rejected_certificate_is_retried_once_a_minute_not_every_second(
    tls_pbx: AsteriskSandbox,
) -> None:
    """A rejected certificate is not a network problem: after it, the account retries at
    `certificate_retry_s` (60 s), not at the 1 s that brings it back after a PBX restart.
    Watched for 5 s: the first REGISTER and the retry pjsua had already scheduled, no more
    (at 1 s there would be 6 by then, each a TLS handshake for the PBX)."""
    events, _ = run_engine(tls_pbx, "8101", "--observe-s", "5")
    assert events[-1]["failures"] == [503, 503], events
    failed = [e for e in of(events, "registration") if e["state"] == "FAILED"]
    assert failed[1]["t"] < 2.0, failed


def test_a_certificate_fixed_on_the_pbx_is_picked_up_at_the_next_slow_retry(
    asterisk: AsteriskSandbox, tmp_path: Path
) -> None:
    """The way back from the certificate back-off: the PBX first presents a certificate from
    another CA (refused, twice: the first REGISTER and the retry pjsua had scheduled), then
    gets its right certificate back (Asterisk restarted between two retries, so no REGISTER
    meets it down). The account registers at the next retry, `certificate_retry_s` (6 s
    here) after the second refusal, without any other failure."""
    box = new_sandbox(f"pytest-{os.getpid()}-tlsfix", tls=True)
    box.start(example_devices=True, fresh=True)
    proc: subprocess.Popen[str] | None = None
    try:
        assert box.ca_file is not None
        right_ca, right_key = box.tls_dir / "ca.crt", box.tls_dir / "ca.key"
        other_ca, other_key = write_ca(tmp_path / "other", "not the PBX's CA")
        write_server_cert(box.tls_dir, other_ca, other_key)
        box.stop()
        box.start(example_devices=True)
        child_env = {k: v for k, v in os.environ.items() if k != "SSL_CERT_FILE"}
        child_env.update(QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(REPO))
        cmd = [SipPhone.python(), "-m", "tests.sip.tls_runner",
               "--registrar", f"127.0.0.1:{box.tls_port}", "--user", "8102",
               "--ca-file", str(box.ca_file), "--certificate-retry-s", "6",
               "--observe-s", "15"]  # fmt: skip
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=child_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        events: list[dict[str, Any]] = []
        fixed_at = None
        for line in proc.stdout:
            if not line.startswith("{"):
                continue
            events.append(json.loads(line))
            failed = [e for e in of(events, "registration") if e["state"] == "FAILED"]
            if len(failed) == 2 and fixed_at is None:
                write_server_cert(box.tls_dir, right_ca, right_key)
                box.stop()
                box.start(example_devices=True)
                fixed_at = failed[1]["t"]
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err[-3000:]
        assert fixed_at is not None, events
        failed = [e for e in of(events, "registration") if e["state"] == "FAILED"]
        assert [e["reason"] for e in failed] == [CERT_REFUSED, CERT_REFUSED], failed
        assert all(e["tls_certificate_rejected"] for e in failed), failed
        registered = [e for e in of(events, "registration") if e["state"] == "REGISTERED"]
        assert registered, events
        waited = registered[0]["t"] - fixed_at
        print(f"registered {waited:.2f} s after the second refusal (back-off 6 s)")
        assert 4.5 <= waited <= 8.5, (waited, events)  # the 6 s back-off, then 200 OK
        assert registered[0]["tls_certificate_rejected"] is False
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.communicate()
        discard(box)


def loopback_alias() -> str | None:
    """A host name of this machine that resolves to 127.0.0.1 but is not in the sandbox
    certificate (IP 127.0.0.1, DNS localhost): /etc/hosts' aliases or the host name."""
    import socket

    names: list[str] = [socket.gethostname()]
    with contextlib.suppress(OSError):
        for line in Path("/etc/hosts").read_text().splitlines():
            fields = line.split("#", 1)[0].split()
            if fields and fields[0] == "127.0.0.1":
                names += fields[1:]
    for name in names:
        if name in ("localhost", "127.0.0.1") or not name:
            continue
        with contextlib.suppress(OSError):
            if socket.gethostbyname(name) == "127.0.0.1":
                return name
    return None


def test_a_certificate_for_another_name_is_refused(tls_pbx: AsteriskSandbox) -> None:
    """The PBX reached by a name its certificate does not carry (the right CA, a valid chain):
    refused like an untrusted CA, 503 at once, and the problem names the mismatch."""
    alias = loopback_alias()
    if alias is None:
        pytest.skip("no name other than localhost resolves to 127.0.0.1 here")
    assert tls_pbx.ca_file is not None
    events, took = run_engine(
        tls_pbx, "8101", "--ca-file", str(tls_pbx.ca_file), "--failures", "2", host=alias
    )
    problem = refused_twice(events)[0]["tls_problem"]
    print(f"TLS to {alias!r}: {problem}")
    assert "name" in problem.lower() or "identity" in problem.lower(), problem
    assert took < 30


def test_srtp_call_over_tls_has_media_and_is_encrypted(
    tls_pbx: AsteriskSandbox, tmp_path: Path
) -> None:
    """8101 (Asterisk: media_encryption=sdes) calls 9001 (milliwatt) with SRTP MANDATORY:
    answered; pjsua says SRTP is active on an RTP/SAVP stream; the decrypted audio is the
    1004 Hz milliwatt tone; and Asterisk's own SIP trace shows it answered RTP/SAVP with an
    SDES key of the same crypto suite."""
    log = tls_pbx.log_dir / "messages.log"
    offset = log.stat().st_size if log.exists() else 0
    wav_path = tmp_path / "srtp.wav"
    tls_pbx.rx("pjsip set logger on")
    try:
        events, _ = run_engine(
            tls_pbx,
            "8101",
            "--ca-file",
            str(tls_pbx.ca_file),
            "--srtp",
            "MANDATORY",
            "--call",
            "9001",
            "--record",
            str(wav_path),
            "--talk-s",
            "2",
        )
    finally:
        tls_pbx.rx("pjsip set logger off")
    states = [e["state"] for e in of(events, "call_state")]
    assert "CONFIRMED" in states, events
    media = of(events, "media")
    assert media, events
    facts = media[0]
    suites = [line for line in facts["srtp_lines"] if line.startswith("SRTP status: Active")]
    assert suites, facts
    suite = suites[0].rsplit(" ", 1)[-1]
    assert re.fullmatch(r"(AES|AEAD)_\w+", suite), suite  # measured: AES_CM_128_HMAC_SHA1_80
    assert facts["proto_savp"] is True, facts
    assert facts["codec"] == "PCMU"
    quality = facts["quality"]
    assert quality["rx_packets"] > 50, quality
    assert quality["loss_percent"] == 0.0, quality
    assert of(events, "ended")[0]["code"] == 200

    with wave.open(str(wav_path)) as wav:
        rate, frames = wav.getframerate(), wav.readframes(wav.getnframes())
    samples = array("h", frames)
    assert len(samples) >= rate, len(samples)
    # Asterisk's Milliwatt() is 1004 Hz (a 1-second window at 1000 Hz sees ~0)
    assert goertzel_share(samples[-rate:], rate, MILLIWATT_HZ) > 0.95

    answers = asterisk_sdp_answers(log, offset)
    assert answers, "no SDP sent over TLS in Asterisk's pjsip trace"
    for sdp in answers:
        m_audio = re.search(r"^m=audio \d+ (\S+)", sdp, re.M)
        assert m_audio, sdp
        assert m_audio.group(1) == "RTP/SAVP", sdp
        assert re.search(rf"^a=crypto:\d+ {suite} inline:", sdp, re.M), sdp
    print(f"SRTP: {suite}, {quality}, Asterisk answered {len(answers)} SDP(s) with RTP/SAVP")


def asterisk_sdp_answers(log: Path, offset: int) -> list[str]:
    """SDP bodies Asterisk sent over TLS (res_pjsip_logger's trace in messages.log)."""
    with open(log, "rb") as fh:
        fh.seek(offset)
        text = fh.read().decode(errors="replace")
    found = []
    for block in re.split(r"^\[\d{4}-\d\d-\d\d [^]]+\] ", text, flags=re.M):
        sent = block.startswith("VERBOSE") and "<--- Transmitting SIP" in block
        if sent and " to TLS:" in block and "\nm=audio " in block:
            found.append(block)
    return found


@pytest.mark.parametrize(
    ("user", "srtp"),
    [("8102", "MANDATORY"), ("8101", "DISABLED")],
    ids=["srtp-only-to-plain-endpoint", "plain-to-srtp-endpoint"],
)
def test_srtp_mismatch_is_refused_cleanly(tls_pbx: AsteriskSandbox, user: str, srtp: str) -> None:
    """SRTP MANDATORY to an endpoint without SRTP (and plain RTP to the SRTP-only one): the
    call is refused with 488 Not Acceptable Here, never answered; the engine shuts down
    cleanly (the runner's exit checks: exit 0, no assertion, no traceback)."""
    events, _ = run_engine(
        tls_pbx, user, "--ca-file", str(tls_pbx.ca_file), "--srtp", srtp, "--call", "9001"
    )
    assert of(events, "registered"), events
    states = [e["state"] for e in of(events, "call_state")]
    assert "CONFIRMED" not in states, events
    assert not of(events, "media")
    ended = of(events, "ended")
    assert ended, events
    assert ended[0]["code"] == 488, events
    assert ended[0]["reason"] == "Not Acceptable Here"
    assert events[-1]["report"]["calls_ended"] is True
