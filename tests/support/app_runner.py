"""The real app (build_seat) in a child process, driven without hands: log in, check in, make
a short call (so that the call history has a row), print one JSON line, then idle until it is
killed. The fault tests kill it with -9 and look at what the server and the disk kept.

    python -m tests.support.app_runner --server URL --registrar HOST:PORT --agent 1001
        --history FILE [--call 9001]     (password from AGENT_DESKTOP_PASSWORD)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

from agent_desktop.app import build_seat, parse_args
from agent_desktop.session.state import AgentState, Queues, Session, Sip
from agent_desktop.ui.login import LoginForm


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--registrar", required=True)
    ap.add_argument("--agent", required=True)
    ap.add_argument("--team", default="demo")
    ap.add_argument("--history", required=True)
    ap.add_argument("--call", default="9001", help="a number to call briefly ('' for none)")
    args = ap.parse_args(argv)
    app = QApplication(sys.argv[:1])
    scratch = tempfile.mkdtemp(prefix="app-runner-")
    seat = build_seat(parse_args(["--server", args.server, "--sip-registrar", args.registrar,
                                  "--history-file", args.history]),
                      quit_app=app.quit,
                      settings=QSettings(str(Path(scratch) / "s.ini"), QSettings.Format.IniFormat))
    report: dict[str, Any] = {}
    stage = {"now": "login"}

    def say(**fields: Any) -> None:
        report.update(fields)
        print(json.dumps(report), flush=True)

    def on_change(_old: AgentState, new: AgentState, _reason: str) -> None:
        if stage["now"] == "login" and new.session is Session.ACTIVE \
                and new.sip is Sip.REGISTERED:
            stage["now"] = "checkin"
            assert seat.window is not None
            seat.window.checkin_all.click()
        elif stage["now"] == "checkin" and new.queues is Queues.CHECKED_IN:
            stage["now"] = "call"
            if not args.call:
                say(ready=True, session_id=new.session_id)
                return
            seat.dial(args.call)
            QTimer.singleShot(1500, hang_up)

    def hang_up() -> None:
        assert seat.window is not None
        assert seat.history is not None
        call = seat.window.call_panel.call
        if call is None:
            say(error="the call did not start")
            return
        seat.history.changed.connect(ready)  # the call's history row is on disk
        call.hangup()

    def ready() -> None:
        if "ready" not in report:
            say(ready=True, session_id=seat.machine.state.session_id, terminal=seat._terminal)

    seat.machine.changed.connect(on_change)
    QTimer.singleShot(0, lambda: seat.login(LoginForm(
        server=args.server, team=args.team, agent=args.agent,
        password=os.environ["AGENT_DESKTOP_PASSWORD"])))
    return int(app.exec())


if __name__ == "__main__":
    sys.exit(main())
