"""A SIP engine over TLS in its own process (one pjsua2 Endpoint per process).

    python -m tests.sip.tls_runner --registrar 127.0.0.1:5061 --user 8101 --ca-file ca.crt
        [--no-verify] [--srtp MANDATORY] [--call 9001 --record out.wav --talk-s 1.5]
        [--failures 2]

Only a TLS transport; the server certificate is verified unless --no-verify. Prints JSON
lines on stdout: "started" (the CA bundle used), "tls" (each TLS connection state, see
`TlsSession`), "registration" (each change), "registered" (seconds from add_account),
then with --call: "call_state",
"media" (pjsua's call dump lines about SRTP, the stream's transport protocol, quality)
and "ended". Without --call it quits once registered, or after --failures FAILED
registrations. The last line is {"event": "exit", ...}.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
import time
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pjsua2 as pj
from PySide6.QtCore import QCoreApplication, QTimer

from agent_desktop.sip import (
    AccountSettings,
    CallSession,
    CallState,
    EngineConfig,
    RegistrationState,
    SipEngine,
    Srtp,
    TlsSession,
    Transport,
)

SAFETY_S = 20.0


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}, default=str), flush=True)


def media_facts(call: CallSession) -> dict[str, Any]:
    """What pjsua itself says about the call's audio stream (not what we configured)."""
    pj_call = call._pj
    assert pj_call is not None
    dump = str(pj_call.dump(True, ""))
    info = pj_call.getStreamInfo(call._med_idx)
    quality = call.quality()
    return {
        "srtp_lines": [line.strip() for line in dump.splitlines() if "SRTP" in line],
        "proto_savp": int(info.proto) == pj.PJMEDIA_TP_PROTO_RTP_SAVP,
        "proto": int(info.proto),
        "codec": str(info.codecName),
        "quality": dataclasses.asdict(quality) if quality else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--registrar", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", default="demo")
    parser.add_argument("--ca-file", default="")
    parser.add_argument("--no-verify", action="store_true")
    parser.add_argument("--srtp", choices=[s.name for s in Srtp], default="DISABLED")
    parser.add_argument("--call", default="")
    parser.add_argument("--record", default="")
    parser.add_argument("--talk-s", type=float, default=1.5)
    parser.add_argument("--failures", type=int, default=2)
    parser.add_argument(
        "--observe-s",
        type=float,
        default=0.0,
        help="quit this long after the first failure, not after --failures",
    )
    parser.add_argument("--certificate-retry-s", type=int, default=60)
    args = parser.parse_args()
    logging.basicConfig(stream=sys.stderr, level=logging.INFO)
    app = QCoreApplication(sys.argv[:1])
    engine = SipEngine(
        EngineConfig(
            bind_address="127.0.0.1",
            transports=(Transport.TLS,),
            tls_verify_server=not args.no_verify,
            tls_ca_file=args.ca_file,
            srtp=Srtp[args.srtp],
        )
    )
    failures: list[int] = []
    quitting: list[bool] = []

    def quit_soon(delay_ms: int = 0) -> None:
        if not quitting:
            quitting.append(True)
            QTimer.singleShot(delay_ms, app.quit)

    def safety_net() -> None:
        emit("timeout")
        app.quit()

    def on_tls(session: TlsSession) -> None:
        emit("tls", **dataclasses.asdict(session))

    QTimer.singleShot(int(SAFETY_S * 1000), safety_net)
    engine.tls_state_changed.connect(on_tls)
    engine.start()
    emit("started", ca_file=engine.tls_ca_file)
    t0 = time.monotonic()
    acc = engine.add_account(
        AccountSettings(
            args.user,
            args.password,
            args.registrar,
            transport=Transport.TLS,
            certificate_retry_s=args.certificate_retry_s,
        )
    )
    calls: list[CallSession] = []

    def on_reg(state: RegistrationState, code: int, reason: str) -> None:
        emit(
            "registration",
            state=state.name,
            code=code,
            reason=reason,
            status=acc.status,
            tls_certificate_rejected=acc.tls_certificate_rejected,
            tls_problem=acc.tls_problem,
            t=round(time.monotonic() - t0, 4),
        )
        if state is RegistrationState.REGISTERED and not calls:
            emit("registered", elapsed_s=round(time.monotonic() - t0, 4))
            if not args.call:
                if quitting:  # --observe-s had scheduled a later quit: registered ends it
                    QTimer.singleShot(100, app.quit)
                quit_soon()
                return
            call = acc.make_call(args.call)
            calls.append(call)
            call.media_active.connect(lambda: talk(call))
        elif state is RegistrationState.FAILED:
            failures.append(code)
            if args.observe_s > 0:
                if len(failures) == 1:
                    quit_soon(int(args.observe_s * 1000))
            elif len(failures) >= args.failures:
                quit_soon()

    def talk(call: CallSession) -> None:
        if getattr(call, "_talking", False):
            return
        call._talking = True  # type: ignore[attr-defined]
        if args.record:
            call.start_recording(args.record)

        def done() -> None:
            if call.state is not CallState.CONFIRMED:
                return
            emit("media", **media_facts(call))
            call.stop_recording()
            call.hangup()

        QTimer.singleShot(int(args.talk_s * 1000), done)

    def on_call(call: CallSession, state: CallState) -> None:
        emit("call_state", state=state.name, code=call.code, reason=call.reason)
        if state is CallState.DISCONNECTED:
            emit("ended", code=call.code, reason=call.reason)
            quit_soon(100)  # the recorder is finalised on the bridge's next tick

    acc.registration_changed.connect(on_reg)
    engine.call_state_changed.connect(on_call)
    app.exec()
    report = engine.shutdown()
    emit("exit", report=report, failures=failures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
