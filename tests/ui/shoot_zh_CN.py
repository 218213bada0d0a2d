"""Screenshots of the Simplified Chinese UI: the login window and the main window.

    xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python -m tests.ui.shoot_zh_CN

Chinese glyphs need a CJK font (fonts-wqy-microhei, in scripts/bootstrap.sh). The main window
is logged in to a real (seeded, in-process) server as agent 1001, checked in to sales, with a
call in progress (a fake call: no Asterisk needed) and the local call history. Writes
docs/screenshots/login_zh_CN.png and main_zh_CN.png.
"""

from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from PySide6.QtWidgets import QApplication

from agent_desktop.history import HistoryEntry, HistoryStore
from agent_desktop.i18n import install_translator
from agent_desktop.session import errors as e
from agent_desktop.session.client import ApiClient
from agent_desktop.session.credentials import NOT_REMEMBERED
from agent_desktop.session.messages import tr
from agent_desktop.session.state import AgentStateMachine
from agent_desktop.session.worker import pool
from agent_desktop.sip import CallState
from agent_desktop.ui.login import LoginWindow
from agent_desktop.ui.main_window import MainWindow
from tests.conftest import TEST_SETTINGS, _seed
from tests.support.live import start_live_server
from tests.support.shots import save
from tests.ui.fakes import FakeCall


def main() -> int:
    app = QApplication(sys.argv[:1])
    assert install_translator(app, "zh_CN") == "zh_CN"
    tmp = Path(tempfile.mkdtemp())
    db = tmp / "server.sqlite3"
    _seed(f"sqlite:///{db}")
    now = time.time()
    entries = [
        HistoryEntry("incoming", "13812345678", "张伟", "sales", now - 600, 312.0, True),
        HistoryEntry("incoming", "02155501990", "", "support", now - 1500, 0.0, False),
        HistoryEntry("outgoing", "8002", "李娜", "", now - 3600, 47.0, True),
        HistoryEntry("incoming", "041139735857", "王芳", "support", now - 90000, 1260.0, True),
    ]
    with start_live_server(replace(TEST_SETTINGS, db_url=f"sqlite:///{db}")) as server:
        login = LoginWindow()
        login.prefill(server=server.base_url, team="demo", agent="1001", password="demo",
                      remember=True)
        login.set_remember_notice(tr(NOT_REMEMBERED))
        login.show()
        login.show_error(e.AuthenticationError("bad_credentials", 401))
        save(login, "login_zh_CN.png")
        login.hide()

        client = ApiClient(server.base_url, client_version="shots/1")
        result = client.login("demo", "1001", "demo", terminal_id="shots")
        client.checkin_group("sales")
        machine = AgentStateMachine()
        machine.login_succeeded(result)
        window = MainWindow(machine, client)
        me = client.me()
        machine.me_refreshed(me)
        window.apply_me(me)
        machine.sip_registration("registered", "200 OK")
        store = HistoryStore(tmp / "history.sqlite3")
        for entry in entries:
            store.add(entry)
        pool().waitForDone(5000)
        window.set_history(store)
        window.show()
        window.show_info(tr("Logged in."))
        talking = FakeCall("13812345678", "张伟", key="call-1", state=CallState.CONFIRMED)
        window.set_call(talking)  # type: ignore[arg-type]
        window.call_panel._talk_started = time.monotonic() - 83
        window.call_panel._show_time()
        pool().waitForDone(5000)
        save(window, "main_zh_CN.png")
        client.logout()
        client.close()
        pool().waitForDone(5000)
    del app
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
