"""Local call history: recorded, searched, persistent, and never touched on the GUI thread."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from agent_desktop import history as h
from agent_desktop.history import CallTracker, HistoryEntry, HistoryStore
from agent_desktop.sip import CallState
from agent_desktop.ui.history import HistoryView
from tests.ui.fakes import FakeCall

ENTRIES = [
    HistoryEntry("incoming", "+4930123456", "Ada Lovelace", "sales", 1_700_000_000.0, 75.0, True),
    HistoryEntry("incoming", "5550199", "", "support", 1_700_000_100.0, 0.0, False),
    HistoryEntry("outgoing", "2002", "Grace Hopper", "", 1_700_000_200.0, 12.5, True),
]


def add_all(qtbot: QtBot, store: HistoryStore, entries: list[HistoryEntry]) -> None:
    saved: list[HistoryEntry] = []
    for entry in entries:
        store.add(entry, on_done=saved.append)
    qtbot.waitUntil(lambda: len(saved) == len(entries), timeout=5000)
    assert all(s.id is not None for s in saved)


def search(qtbot: QtBot, store: HistoryStore, text: str) -> list[HistoryEntry]:
    out: list[list[HistoryEntry]] = []
    store.search(text, out.append)
    qtbot.waitUntil(lambda: bool(out), timeout=5000)
    return out[0]


@pytest.fixture
def db_threads(monkeypatch: pytest.MonkeyPatch) -> list[threading.Thread]:
    """Every thread that opens the history database."""
    seen: list[threading.Thread] = []
    real = sqlite3.connect

    def spy(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        seen.append(threading.current_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(h.sqlite3, "connect", spy)
    return seen


def test_records_searches_and_persists(qtbot: QtBot, tmp_path: Path,
                                       db_threads: list[threading.Thread]) -> None:
    path = tmp_path / "sub" / "history.sqlite3"
    store = HistoryStore(path)
    add_all(qtbot, store, ENTRIES)
    assert [e.number for e in search(qtbot, store, "")] == ["2002", "5550199", "+4930123456"]
    assert [e.number for e in search(qtbot, store, "ada")] == ["+4930123456"]  # name, any case
    assert [e.number for e in search(qtbot, store, "0199")] == ["5550199"]  # number substring
    assert search(qtbot, store, "%") == []  # LIKE wildcards are literal
    # A new store on the same file (the next start of the app) sees the same calls.
    again = HistoryStore(path)
    rows = search(qtbot, again, "grace")
    assert len(rows) == 1
    assert rows[0].direction == "outgoing"
    assert rows[0].duration_s == 12.5
    assert rows[0].answered
    missed = search(qtbot, again, "5550199")[0]
    assert (missed.queue, missed.answered, missed.duration_s) == ("support", False, 0.0)
    # Every database connection was opened on a worker, none on the GUI thread.
    assert db_threads
    assert all(t is not threading.main_thread() for t in db_threads)


def test_the_store_refuses_to_work_on_the_gui_thread(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h.sqlite3")
    with pytest.raises(RuntimeError, match="GUI thread"):
        store._search_sync("")
    with pytest.raises(RuntimeError, match="GUI thread"):
        store._add_sync(ENTRIES[0])
    assert not (tmp_path / "h.sqlite3").exists()


def test_tracker_records_a_call_at_its_end(qtbot: QtBot) -> None:
    now = [1000.0]
    call = FakeCall("5550123", "Ada")
    tracker = CallTracker(call, "incoming", queue="sales", clock=lambda: now[0])
    now[0] = 1004.0
    call.answer()
    now[0] = 1065.5
    with qtbot.waitSignal(tracker.finished, timeout=1000) as sig:
        call.hangup()
    entry = sig.args[0]
    assert entry == HistoryEntry("incoming", "5550123", "Ada", "sales", 1000.0, 61.5, True)
    missed = FakeCall("5550999", key="call-2")
    t2 = CallTracker(missed, "incoming", clock=lambda: now[0])
    with qtbot.waitSignal(t2.finished, timeout=1000) as sig2:
        missed.set_state(CallState.DISCONNECTED)
    assert sig2.args[0].answered is False
    assert sig2.args[0].duration_s == 0.0


def test_history_view_searches_and_calls_back(qtbot: QtBot, tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h.sqlite3")
    view = HistoryView(store)
    qtbot.addWidget(view)
    view.show()
    with qtbot.waitSignal(view.loaded, timeout=5000):
        add_all(qtbot, store, ENTRIES[:1])
    qtbot.waitUntil(lambda: view.numbers() == ["+4930123456"], timeout=5000)
    add_all(qtbot, store, ENTRIES[1:])  # `changed` reloads the list
    qtbot.waitUntil(lambda: len(view.numbers()) == 3, timeout=5000)
    qtbot.keyClicks(view.search_edit, "hopper")
    # A search may answer for a prefix first ("h", "ho" …) on a slow machine: wait for the
    # answer to the whole word.
    qtbot.waitUntil(lambda: view.numbers() == ["2002"], timeout=5000)
    item = view.list.topLevelItem(0)
    assert item is not None
    assert item.text(1) == "↗ out"
    assert item.text(5) == "00:12"
    with qtbot.waitSignal(view.call_back, timeout=1000) as sig:
        view.list.itemDoubleClicked.emit(item, 0)
    assert sig.args == ["2002"]
    view.list.setCurrentItem(item)
    view.list.setFocus()
    with qtbot.waitSignal(view.call_back, timeout=1000) as sig:
        qtbot.keyClick(view.list, Qt.Key.Key_Return)  # type: ignore[no-untyped-call]
    assert sig.args == ["2002"]
    view.search_edit.setText("nobody")
    qtbot.waitUntil(lambda: view.empty_label.text() == "No calls match “nobody”.",
                    timeout=5000)
    assert view.numbers() == []
