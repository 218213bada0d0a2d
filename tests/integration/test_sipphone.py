"""The pjsua2 test phone (tests/support/sipphone.py) against the sandbox Asterisk.

Two phone processes register as the example devices 8001/8002 (digest auth), ring each
other through the `agents` context (`_8XXX` → Dial(PJSIP/${EXTEN})), exchange tones that
are checked in 50 ms blocks, send DTMF, hang up and quit cleanly.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator

import pytest

from pbx.sandbox import AsteriskSandbox
from tests.support.sipphone import SipPhone, SipPhoneError, phones

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

PASSWORD = "demo"  # the example devices' password (pbx/asterisk/examples)
SETTLE = 0.5  # seconds after the tone starts before blocks count
TONE_SECONDS = 3.0


def registrar(asterisk: AsteriskSandbox) -> str:
    return f"127.0.0.1:{asterisk.sip_port}"


def assert_clean_exit(phone: SipPhone) -> None:
    code = phone.close()
    tail = phone.stderr_tail(60)
    assert code == 0, f"{phone.name} exited {code}\n{tail}"
    assert phone.quit_reply is not None
    stages = phone.quit_reply["stages"]
    assert stages["calls_ended"] is True
    assert stages["unregistered"] is True
    assert "Assertion" not in tail
    assert "Traceback" not in phone.log_path.read_text(errors="replace")


def assert_tone(phone: SipPhone, call: str, freq: float, start: float, seconds: float) -> None:
    """Every 50 ms block from start+SETTLE for `seconds` carries `freq`."""
    result = phone.tone_check(
        call, freq, since_ts=start + SETTLE, until_ts=start + SETTLE + seconds
    )
    expected = int(seconds * 20)
    seen = str(result)  # whole, with where the tone was missing (absent_at)
    assert result["blocks"] >= expected - 2, seen
    assert result["present"] == result["blocks"], seen
    assert result["gaps"] == 0, seen
    assert result["longest_gap_ms"] == 0, seen


def wait_until(deadline: float) -> None:
    time.sleep(max(0.0, deadline - time.time()))


@pytest.fixture
def two_phones(asterisk: AsteriskSandbox) -> Iterator[tuple[SipPhone, SipPhone]]:
    with phones("p8001", "p8002") as (a, b):
        a.register("8001", PASSWORD, registrar(asterisk))
        b.register("8002", PASSWORD, registrar(asterisk))
        yield a, b


def test_two_phones_ring_talk_dtmf_and_quit(
    two_phones: tuple[SipPhone, SipPhone], asterisk: AsteriskSandbox
) -> None:
    a, b = two_phones
    contacts = asterisk.rx("pjsip show contacts")
    assert f"8001/sip:8001@127.0.0.1:{a.sip_port}" in contacts
    assert f"8002/sip:8002@127.0.0.1:{b.sip_port}" in contacts

    # Ring latency: 8001 dials 8002 a few times, cancels once 8002 is offered the call.
    latencies = []
    for _ in range(3):
        out = a.call("8001", "8002")
        ring = b.wait_event("incoming", after=out["ts"])
        latencies.append(ring["ts"] - out["ts"])
        a.hangup(out["call"])
        b.wait_event("call_state", call=ring["call"], state="DISCONNECTED")
        a.wait_event("call_state", call=out["call"], state="DISCONNECTED")
    ring_ms = statistics.median(latencies) * 1000
    print(
        f"ring latency 8001 call -> 8002 incoming: median {ring_ms:.1f} ms "
        f"({', '.join(f'{x * 1000:.1f}' for x in latencies)})"
    )
    assert ring_ms < 500

    out = a.call("8001", "8002")
    ring = b.wait_event("incoming", after=out["ts"])
    assert ring["account"] == "8002"
    assert ring["caller_id"] == {"name": "Demo 8001", "number": "8001"}
    assert SipPhone.header(ring, "call-id") == ring["sip_call_id"]
    ca, cb = out["call"], ring["call"]
    b.answer(cb, 180)
    a.wait_event("call_state", call=ca, state="EARLY")
    b.answer(cb)
    a.wait_event("call_state", call=ca, state="CONFIRMED")
    b.wait_event("call_state", call=cb, state="CONFIRMED")
    a.wait_event("media_active", call=ca)
    b.wait_event("media_active", call=cb)

    a.send_tone(ca, 440)
    b.send_tone(cb, 1000)
    start = time.time()
    wait_until(start + SETTLE + TONE_SECONDS + 0.1)
    assert_tone(b, cb, 440, start, TONE_SECONDS)  # 8001's tone reached 8002
    assert_tone(a, ca, 1000, start, TONE_SECONDS)  # and 8002's reached 8001
    # Each side hears the other, not itself.
    heard_own = b.tone_check(cb, 1000, since_ts=start + SETTLE)
    assert heard_own["present"] == 0, heard_own
    recent = a.stats(ca, freqs=[440, 1000], last=3)[ca]["recent"]
    assert {block["dominant"] for block in recent} == {1000.0}

    a.dtmf(ca, "19*#")
    digits = b.wait_events("dtmf_received", 4, call=cb)
    assert [d["digit"] for d in digits] == ["1", "9", "*", "#"]

    a.hangup(ca)
    a.wait_event("call_state", call=ca, state="DISCONNECTED")
    b.wait_event("call_state", call=cb, state="DISCONNECTED")
    assert_clean_exit(a)
    assert_clean_exit(b)


def test_two_accounts_in_one_phone_call_each_other(asterisk: AsteriskSandbox) -> None:
    """An agent phone (8002, registered) and a caller (8001, digest on INVITE only)
    share one process and one Endpoint."""
    with SipPhone("both") as phone:
        phone.add_account("8001", password=PASSWORD, registrar=registrar(asterisk), register=False)
        phone.register("8002", PASSWORD, registrar(asterisk))
        assert not phone.events("reg_state", account="8001")

        out = phone.call("8001", "8002")
        ring = phone.wait_event("incoming", account="8002", after=out["ts"])
        ca, cb = out["call"], ring["call"]
        assert ca != cb
        phone.answer(cb)
        for call in (ca, cb):
            phone.wait_event("call_state", call=call, state="CONFIRMED")
            phone.wait_event("media_active", call=call)
        phone.send_tone(ca, 440)
        phone.send_tone(cb, 1000)
        start = time.time()
        wait_until(start + SETTLE + 2.0 + 0.1)
        assert_tone(phone, cb, 440, start, 2.0)
        assert_tone(phone, ca, 1000, start, 2.0)

        phone.dtmf(cb, "5")
        assert phone.wait_event("dtmf_received", call=ca)["digit"] == "5"
        phone.hangup(cb)  # the callee ends it this time
        phone.wait_event("call_state", call=ca, state="DISCONNECTED")
        phone.wait_event("call_state", call=cb, state="DISCONNECTED")
        # Statistics outlive the call.
        assert phone.tone_check(cb, 440, since_ts=start + SETTLE)["present"] >= 40
    assert_clean_exit(phone)


def test_direct_call_carries_extra_headers() -> None:
    """Phone to phone without a PBX: extra INVITE headers reach the callee's event."""
    with phones("alice", "bob") as (a, b):
        a.add_account("alice")
        b.add_account("bob", auto_ring=True)
        out = a.call(
            "alice",
            f"sip:bob@127.0.0.1:{b.sip_port}",
            headers={"Alert-Info": "<urn:alert:service:call-waiting>", "X-Queue": "sales"},
        )
        ring = b.wait_event("incoming")
        assert SipPhone.header(ring, "alert-info") == "<urn:alert:service:call-waiting>"
        assert SipPhone.header(ring, "X-Queue") == "sales"
        assert ring["caller_id"]["number"] == "alice"
        a.wait_event("call_state", call=out["call"], state="EARLY", code=180)
        b.hangup(ring["call"], code=486)
        ended = a.wait_event("call_state", call=out["call"], state="DISCONNECTED")
        assert ended["code"] == 486
    assert a.returncode == 0
    assert b.returncode == 0


def test_errors_are_replies_and_a_dead_phone_is_reported() -> None:
    with SipPhone("errors") as phone:
        with pytest.raises(SipPhoneError, match="unknown command"):
            phone.request("dance")
        with pytest.raises(SipPhoneError, match="no account"):
            phone.call("nobody", "8002")
        with pytest.raises(SipPhoneError, match="no live call"):
            phone.answer("c99")
        assert phone.proc is not None
        phone.proc.kill()
        with pytest.raises(SipPhoneError, match="died"):
            phone.wait_event("never", timeout=5)
    assert phone.returncode is not None
    assert phone.returncode < 0
