"""Screenshots of the incoming-call window and the main window with call history.

    xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python -m tests.ui.shoot_call_widgets

The main window is logged in to a real (seeded, in-process) server as agent 1004; the calls
are fakes (no Asterisk needed). Writes docs/screenshots/incoming.png and history.png.
"""

from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication, QWidget

from agent_desktop.history import HistoryEntry, HistoryStore
from agent_desktop.session.client import ApiClient
from agent_desktop.session.state import AgentStateMachine
from agent_desktop.session.worker import pool
from agent_desktop.sip import CallState
from agent_desktop.ui.incoming import IncomingCallWindow, RingInfo
from agent_desktop.ui.main_window import MainWindow
from tests.conftest import TEST_SETTINGS, _seed
from tests.support.live import start_live_server
from tests.ui.fakes import FakeCall

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def settle(ms: int = 400) -> None:
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def save(widget: QWidget, name: str) -> None:
    settle()
    widget.grab().save(str(OUT / name))
    print("wrote", OUT / name)


def main() -> int:
    app = QApplication(sys.argv[:1])
    tmp = Path(tempfile.mkdtemp())
    db = tmp / "server.sqlite3"
    _seed(f"sqlite:///{db}")
    now = time.time()
    entries = [
        HistoryEntry("incoming", "+4930123456", "Ada Lovelace", "sales", now - 600, 312.0, True),
        HistoryEntry("incoming", "5550199", "", "support", now - 1500, 0.0, False),
        HistoryEntry("outgoing", "2002", "Grace Hopper", "", now - 3600, 47.0, True),
        HistoryEntry("incoming", "+441632960961", "Alan Turing", "support", now - 90000,
                     1260.0, True),
    ]
    with start_live_server(replace(TEST_SETTINGS, db_url=f"sqlite:///{db}")) as server:
        client = ApiClient(server.base_url, client_version="shots/1")
        result = client.login("demo", "1004", "demo", terminal_id="shots")
        machine = AgentStateMachine()
        machine.login_succeeded(result)
        window = MainWindow(machine, client)
        window.apply_me(client.me())
        machine.sip_registration("registered", "200 OK")
        store = HistoryStore(tmp / "history.sqlite3")
        for entry in entries:
            store.add(entry)
        pool().waitForDone(5000)
        window.set_history(store)
        window.show()
        window.show_info("Logged in.")

        ringing = FakeCall("+4930123456", "Ada Lovelace", key="call-2")
        ring = IncomingCallWindow(ringing, RingInfo("+4930123456", "Ada Lovelace", "sales"))
        ring.present()
        save(ring, "incoming.png")
        ring.close()

        talking = FakeCall("+4930123456", "Ada Lovelace", key="call-3",
                           state=CallState.CONFIRMED)
        window.set_call(talking)  # type: ignore[arg-type]
        window.call_panel._talk_started = time.monotonic() - 83
        window.dialpad.press("4")
        pool().waitForDone(5000)
        save(window, "history.png")
        client.close()
        pool().waitForDone(5000)
    del app
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
