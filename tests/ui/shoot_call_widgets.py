"""Screenshots of the incoming-call window and the main window with call history.

    xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python -m tests.ui.shoot_call_widgets

The main window is logged in to a real (seeded, in-process) server as agent 1004; the calls
are fakes (no Asterisk needed), so is the audio device list of the settings dialog. Writes
docs/screenshots/incoming.png, history.png, in_call.png (warm transfer, call quality),
settings.png, and main_dark.png / settings_dark.png (the dark theme).
"""

from __future__ import annotations

import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from PySide6.QtWidgets import QApplication

from agent_desktop.history import HistoryEntry, HistoryStore
from agent_desktop.session.client import ApiClient
from agent_desktop.session.state import AgentStateMachine
from agent_desktop.session.worker import pool
from agent_desktop.settings import AppSettings, AudioChoice, Theme, apply_theme
from agent_desktop.sip import CallQuality, CallState
from agent_desktop.ui.incoming import IncomingCallWindow, RingInfo
from agent_desktop.ui.main_window import MainWindow
from agent_desktop.ui.settings_dialog import SettingsDialog
from tests.conftest import TEST_SETTINGS, _seed
from tests.support.live import start_live_server
from tests.support.shots import save
from tests.ui.fakes import FakeAudio, FakeCall


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

        talking.call_quality = CallQuality(jitter_ms=2.4, loss_percent=0.0, rtt_ms=18.0,
                                           rx_packets=4150, lost_packets=0, mos=4.4)
        consult = FakeCall("2002", "Grace Hopper", key="call-4", state=CallState.CONFIRMED)
        consult.call_quality = CallQuality(jitter_ms=1.1, loss_percent=0.0, rtt_ms=2.0,
                                           rx_packets=300, lost_packets=0, mos=4.5)
        panel = window.call_panel
        panel.place_call = lambda number: consult  # type: ignore[assignment,return-value]
        panel.recordings_dir = tmp / "recordings"
        panel.ask_transfer_target = lambda title: "2002"
        window.set_call(talking)  # type: ignore[arg-type]
        panel.record_button.click()
        panel.consult_action.trigger()
        panel.show_quality()
        save(window, "in_call.png")

        audio = FakeAudio()
        audio.lists["speaker"].append({"id": "usb", "description": "Jabra Evolve2 40 (USB)"})
        dialog = SettingsDialog(AppSettings(audio=AudioChoice(speaker="usb"), auto_answer=True,
                                            auto_answer_delay_s=2), audio, parent=window)
        dialog.show()
        audio.level_changed.emit(-18.0)
        save(dialog, "settings.png")
        apply_theme(Theme.DARK)
        save(dialog, "settings_dark.png")
        dialog.reject()
        save(window, "main_dark.png")
        apply_theme(Theme.SYSTEM)
        client.close()
        pool().waitForDone(5000)
    del app
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
