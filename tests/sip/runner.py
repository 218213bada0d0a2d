"""A SIP engine in its own process, for scenarios that end the process (staged shutdown).

    python -m tests.sip.runner --registrar 127.0.0.1:5060 --scenario connected

Prints JSON lines on stdout: {"event": ...}; the last one is {"event": "exit", "report": ...}.
The parent asserts on the exit code (0) and on stderr (no assertion, no traceback).
Scenarios: registering, ringing_out (8002 does not answer), ringing_in (waits for a call
from the parent's phone), connected (9000 echo), twice (shutdown() twice), in_callback
(shutdown from a call_state_changed slot), removing (shutdown while a removed account's
un-REGISTER is in flight), never_started, kept_error (a SipError of a call is kept past the
shutdown, as a stored traceback would) and kept_call (its pjsua2 Call object itself is kept).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QCoreApplication, QTimer

from agent_desktop.sip import (
    AccountSettings,
    CallState,
    EngineConfig,
    RegistrationState,
    SipEngine,
    SipError,
    Transport,
)


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}, default=str), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--registrar", required=True)
    parser.add_argument("--scenario", required=True)
    args = parser.parse_args()
    logging.basicConfig(stream=sys.stderr, level=logging.INFO)
    app = QCoreApplication(sys.argv[:1])
    engine = SipEngine(EngineConfig(bind_address="127.0.0.1", transports=(Transport.UDP,)))
    reports: list[dict[str, Any]] = []
    kept: list[Any] = []  # outlives the engine, as a stored exception or traceback would

    def quit_now() -> None:
        reports.append(engine.shutdown())
        if args.scenario == "twice":
            reports.append(engine.shutdown())
        app.quit()

    QTimer.singleShot(15000, quit_now)  # safety net
    if args.scenario == "never_started":
        QTimer.singleShot(0, quit_now)
        app.exec()
        emit("exit", reports=reports)
        return 0

    engine.start()
    acc = engine.add_account(AccountSettings("8001", "demo", args.registrar))
    if args.scenario == "registering":
        QTimer.singleShot(0, quit_now)  # REGISTER still in flight

    def on_reg(state: RegistrationState, code: int, reason: str) -> None:
        if state is not RegistrationState.REGISTERED:
            return
        emit("registered")
        if args.scenario == "removing":
            QTimer.singleShot(0, lambda: (engine.remove_account(acc), quit_now()))
        elif args.scenario == "ringing_out":
            acc.make_call("8002")
        elif args.scenario in ("connected", "twice", "in_callback", "kept_error", "kept_call"):
            acc.make_call("9000")

    def on_call(call: Any, state: CallState) -> None:
        emit("call_state", call=call.key, state=state.name)
        if args.scenario == "ringing_out" and state is CallState.EARLY:
            QTimer.singleShot(200, quit_now)
        if args.scenario == "ringing_in" and state is CallState.RINGING_IN:
            QTimer.singleShot(200, quit_now)
        if args.scenario == "twice" and state is CallState.CONFIRMED:
            QTimer.singleShot(300, quit_now)
        if args.scenario == "connected" and state is CallState.CONFIRMED:
            QTimer.singleShot(300, quit_now)
        if args.scenario == "kept_error" and state is CallState.CONFIRMED:
            try:
                call.answer()  # an outgoing call: pjsua refuses
            except SipError as exc:
                kept.append(exc)
            QTimer.singleShot(300, quit_now)
        if args.scenario == "kept_call" and state is CallState.CONFIRMED:
            kept.append(call._pj)
            QTimer.singleShot(300, quit_now)
        if args.scenario == "in_callback" and state is CallState.CONFIRMED:
            reports.append(engine.shutdown())  # inside a pjsua2 callback: deferred
            engine.shutdown_finished.connect(app.quit)

    acc.registration_changed.connect(on_reg)
    engine.call_state_changed.connect(on_call)
    app.exec()
    if engine.shutdown_report == {}:
        reports.append(engine.shutdown())
    emit("exit", reports=reports, final=engine.shutdown_report, kept=len(kept))
    return 0


if __name__ == "__main__":
    sys.exit(main())
