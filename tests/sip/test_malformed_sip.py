"""Malformed SIP from a raw socket to the app's SIP port: the engine survives, stays
registered, and still makes a real call afterwards."""

from __future__ import annotations

import os
import random
import socket
import threading

from pytestqt.qtbot import QtBot

from agent_desktop.sip import (
    Account,
    CallSession,
    CallState,
    RegistrationState,
    SipEngine,
    Transport,
)


def junk_messages() -> list[bytes]:
    rnd = random.Random(4)
    via = "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK{n}\r\n"
    invite = ("INVITE sip:8001@127.0.0.1 SIP/2.0\r\n" + via.format(n=1) +
              "From: <sip:evil@x>;tag=1\r\nTo: <sip:8001@x>\r\nCall-ID: junk-{n}\r\n"
              "CSeq: 1 INVITE\r\nContact: <sip:evil@127.0.0.1:9>\r\n")
    return [
        b"",
        b"\x00" * 64,
        bytes(rnd.randrange(256) for _ in range(1400)),
        b"INVITE\r\n\r\n",
        b"SIP/2.0 200 OK\r\n\r\n",  # a response to nothing
        (invite.format(n=2) + "Content-Length: 999999\r\n\r\nv=0").encode(),
        (invite.format(n=3) + "Content-Length: -5\r\n\r\n").encode(),
        (invite.format(n=4) + "Content-Type: application/sdp\r\nContent-Length: 20\r\n\r\n"
         "v=0\r\no=\xff\xfe broken\r\n").encode("latin-1"),
        (invite.format(n=5) + "X-Long: " + "A" * 60000 + "\r\nContent-Length: 0\r\n\r\n"
         ).encode(),
        ("OPTIONS sip:8001@127.0.0.1 SIP/2.0\r\n" + via.format(n=6) * 300 +
         "Content-Length: 0\r\n\r\n").encode(),
        "REGISTER sip:☃ SIP/2.0\r\nVia: ☃\r\n\r\n".encode(),
        os.urandom(32000),
    ]


def test_junk_on_udp_and_tcp_leaves_the_engine_working(
        qtbot: QtBot, sip_engine: SipEngine, agent: Account) -> None:
    messages = junk_messages()
    udp_port = sip_engine.transport_ports[Transport.UDP]
    tcp_port = sip_engine.transport_ports[Transport.TCP]
    sent: list[str] = []

    def attack() -> None:  # a thread: the engine is polled by this (the Qt) thread meanwhile
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            for msg in messages:
                for chunk in (msg[i:i + 60000] for i in range(0, max(1, len(msg)), 60000)):
                    udp.sendto(chunk, ("127.0.0.1", udp_port))
        for msg in messages:
            with socket.create_connection(("127.0.0.1", tcp_port), timeout=10) as tcp:
                tcp.sendall(msg + b"\r\n\r\n")
        sent.append("done")

    thread = threading.Thread(target=attack, daemon=True)
    thread.start()
    qtbot.waitUntil(lambda: bool(sent) or not thread.is_alive(), timeout=30_000)
    assert sent == ["done"]
    # The engine reads all of it on its poll timer (running inside the waits below); then it
    # must still be registered and take a real call.
    qtbot.waitUntil(lambda: agent.state is RegistrationState.REGISTERED, timeout=3000)

    # Well-formed INVITEs among the junk are calls like any other (ringing from a dead
    # address, possibly still arriving): refuse them. Then the engine must still work: an
    # outgoing call through Asterisk to the 1 kHz test line is answered and carries audio.
    def refuse_junk(session: CallSession) -> None:
        session.reject(486)

    sip_engine.incoming_call.connect(refuse_junk)
    try:
        for junk_call in sip_engine.calls:
            junk_call.hangup()
        call = agent.make_call("9001")
        qtbot.waitUntil(lambda: call.state is CallState.CONFIRMED, timeout=10_000)
        with qtbot.waitSignal(call.ended, timeout=10_000):
            call.hangup()
    finally:
        sip_engine.incoming_call.disconnect(refuse_junk)
