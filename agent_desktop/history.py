"""Local call history: one SQLite file under the user's data directory.

`HistoryStore` is used from the GUI thread, but every database touch runs on a worker through
`run_in_worker` (its results come back on the GUI thread). The synchronous `_…_sync` methods
refuse to run on the GUI thread, so a slip shows up as an error, not as a stall.

A connection is opened per operation: sqlite3 connections belong to the thread that opened
them, and the worker pool has several threads. Writes are serialised by a lock.

`CallTracker` follows one call (any QObject with `state`, `state_changed`, `ended`,
`caller_id`) and produces its `HistoryEntry` when it ends.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal

from agent_desktop.session.worker import run_in_worker

log = logging.getLogger("agent_desktop.history")

INCOMING, OUTGOING = "incoming", "outgoing"
SEARCH_LIMIT = 200

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    direction TEXT NOT NULL CHECK (direction IN ('incoming', 'outgoing')),
    number TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    queue TEXT NOT NULL DEFAULT '',
    started_at REAL NOT NULL,
    duration_s REAL NOT NULL DEFAULT 0,
    answered INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS calls_started ON calls (started_at DESC);
"""


def default_path() -> Path:
    from platformdirs import user_data_path

    return user_data_path("agent-desktop", appauthor=False) / "history.sqlite3"


@dataclass(frozen=True)
class HistoryEntry:
    direction: str  # INCOMING | OUTGOING
    number: str
    name: str
    queue: str
    started_at: float  # epoch seconds
    duration_s: float  # talk time; 0 when not answered
    answered: bool
    id: int | None = None


class HistoryStore(QObject):
    """The call history. `add` / `search` return at once; callbacks run on the GUI thread."""

    changed = Signal()  # after a successful add

    def __init__(self, path: Path | str | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.path = Path(path) if path is not None else default_path()
        self._lock = threading.Lock()
        self._ready = False

    # ----------------------------------------------------------------- GUI-thread API

    def add(self, entry: HistoryEntry,
            on_done: Callable[[HistoryEntry], None] | None = None,
            on_error: Callable[[BaseException], None] | None = None) -> None:
        def done(saved: HistoryEntry) -> None:
            self.changed.emit()
            if on_done is not None:
                on_done(saved)

        run_in_worker(lambda: self._add_sync(entry), on_success=done,
                      on_failure=on_error or self._log_failure, parent=self)

    def search(self, text: str, on_result: Callable[[list[HistoryEntry]], None],
               on_error: Callable[[BaseException], None] | None = None,
               limit: int = SEARCH_LIMIT, asker: QObject | None = None) -> None:
        """Entries whose number or name contains `text` (case-insensitive), newest first.

        When `asker` (the widget that shows the answer) is gone by then, no callback runs.
        """
        run_in_worker(lambda: self._search_sync(text, limit), on_success=on_result,
                      on_failure=on_error or self._log_failure, parent=asker or self)

    @staticmethod
    def _log_failure(exc: BaseException) -> None:
        log.warning("call history: %s: %s", type(exc).__name__, exc)

    # ----------------------------------------------------------------- worker side

    @staticmethod
    def _check_thread() -> None:
        app = QCoreApplication.instance()
        if app is not None and QThread.currentThread() is app.thread():
            raise RuntimeError("call history database work on the GUI thread")

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self._check_thread()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=5.0)
        try:
            if not self._ready:
                with self._lock:
                    conn.executescript(_SCHEMA)
                    self._ready = True
            yield conn
        finally:
            conn.close()

    def _add_sync(self, entry: HistoryEntry) -> HistoryEntry:
        with self._connect() as conn, self._lock, conn:
            cur = conn.execute(
                "INSERT INTO calls (direction, number, name, queue, started_at, duration_s,"
                " answered) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (entry.direction, entry.number, entry.name, entry.queue, entry.started_at,
                 entry.duration_s, int(entry.answered)))
            row_id = cur.lastrowid
        return HistoryEntry(entry.direction, entry.number, entry.name, entry.queue,
                            entry.started_at, entry.duration_s, entry.answered, row_id)

    def _search_sync(self, text: str, limit: int = SEARCH_LIMIT) -> list[HistoryEntry]:
        pattern = "%" + text.strip().replace("\\", "\\\\").replace("%", "\\%")\
            .replace("_", "\\_") + "%"
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT id, direction, number, name, queue, started_at, duration_s, answered"
                " FROM calls WHERE number LIKE ? ESCAPE '\\' OR name LIKE ? ESCAPE '\\'"
                " ORDER BY started_at DESC, id DESC LIMIT ?",
                (pattern, pattern, limit)).fetchall()
        return [HistoryEntry(direction=d, number=n, name=nm, queue=q, started_at=s,
                             duration_s=dur, answered=bool(a), id=i)
                for i, d, n, nm, q, s, dur, a in rows]


class CallTracker(QObject):
    """Follows one call and emits `finished(HistoryEntry)` once, when it ends.

    `call` is a CallSession (or anything with the same `state`, `state_changed`, `ended`,
    `caller_id` and `remote_uri`); name and queue may be filled in later (the server's
    `call.ringing` event can arrive after the INVITE).
    """

    finished = Signal(object)  # HistoryEntry

    def __init__(self, call: Any, direction: str, *, number: str = "", name: str = "",
                 queue: str = "", clock: Callable[[], float] = time.time,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.call = call
        self.direction = direction
        self.number = number
        self.name = name
        self.queue = queue
        self._clock = clock
        self.started_at = clock()
        self.answered_at: float | None = None
        self._done = False
        call.state_changed.connect(self._on_state)
        call.ended.connect(self._on_ended)
        self._on_state(call.state)

    def _on_state(self, state: Any) -> None:
        if getattr(state, "value", state) == "confirmed" and self.answered_at is None:
            self.answered_at = self._clock()

    def _on_ended(self, *_: object) -> None:
        if self._done:
            return
        self._done = True
        cid = self.call.caller_id
        number = self.number or cid.number or self.call.remote_uri
        name = self.name or cid.name
        duration = 0.0 if self.answered_at is None else max(0.0,
                                                            self._clock() - self.answered_at)
        self.finished.emit(HistoryEntry(self.direction, number, name, self.queue,
                                        self.started_at, round(duration, 1),
                                        self.answered_at is not None))
