"""The one thread boundary of the session layer.

`run_in_worker(fn, on_success=..., on_failure=..., parent=...)` runs `fn` on a worker thread of a
dedicated QThreadPool and calls exactly one of the callbacks on the GUI thread (like Anki's
QueryOp). The hand-over is a queued signal to a @Slot of one long-lived QObject that lives on the
GUI thread; no lambda or Python callable is ever connected across threads (PySide6 ≥ 6.8 has
segfault reports for that), and no QObject is created or destroyed on a worker.

A dedicated pool, not the global one: the global pool has as many threads as CPUs, so on a
one-CPU machine a slow request would queue the heartbeat behind it.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from PySide6 import QtCore
from PySide6.QtCore import QCoreApplication, QObject, QRunnable, QThreadPool, Signal, Slot
from shiboken6 import isValid

log = logging.getLogger("agent_desktop.session.worker")

T = TypeVar("T")
MAX_THREADS = 4


class _Bridge(QObject):
    """Lives on the GUI thread; workers emit `done`, the slot runs the callbacks here."""

    done = Signal(int, bool, object)

    def __init__(self) -> None:
        super().__init__()
        self._pending: dict[int, tuple[Callable[[Any], None], Callable[[BaseException], None],
                                       QObject | None]] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.done.connect(self._deliver, QtCore.Qt.ConnectionType.QueuedConnection)

    def register(self, on_success: Callable[[Any], None],
                 on_failure: Callable[[BaseException], None], parent: QObject | None) -> int:
        with self._lock:
            task_id = next(self._ids)
            self._pending[task_id] = (on_success, on_failure, parent)
        return task_id

    @Slot(int, bool, object)
    def _deliver(self, task_id: int, ok: bool, payload: object) -> None:
        with self._lock:
            entry = self._pending.pop(task_id, None)
        if entry is None:
            return
        on_success, on_failure, parent = entry
        if parent is not None and not isValid(parent):
            # The window that asked is gone; its callbacks would touch deleted widgets.
            log.debug("task %d finished after its parent was destroyed; dropped", task_id)
            return
        if ok:
            on_success(payload)
        else:
            assert isinstance(payload, BaseException)
            on_failure(payload)

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)


class _Task(QRunnable):
    def __init__(self, task_id: int, fn: Callable[[], object], bridge: _Bridge) -> None:
        super().__init__()
        self._id = task_id
        self._fn = fn
        self._bridge = bridge

    def run(self) -> None:
        try:
            result = self._fn()
        except Exception as exc:  # every failure goes to on_failure; none may kill the pool
            self._bridge.done.emit(self._id, False, exc)
        else:
            self._bridge.done.emit(self._id, True, result)


_bridge: _Bridge | None = None
_pool: QThreadPool | None = None


def _get_bridge() -> _Bridge:
    global _bridge
    if _bridge is None or not isValid(_bridge):
        app = QCoreApplication.instance()
        if app is None:
            raise RuntimeError("run_in_worker needs a QCoreApplication")
        bridge = _Bridge()
        if bridge.thread() is not app.thread():
            bridge.moveToThread(app.thread())
        _bridge = bridge
    return _bridge


def pool() -> QThreadPool:
    """The session layer's thread pool (tests wait on it with waitForDone)."""
    global _pool
    if _pool is None:
        _pool = QThreadPool()
        _pool.setMaxThreadCount(MAX_THREADS)
    return _pool


def run_in_worker(
    fn: Callable[[], T],
    *,
    on_success: Callable[[T], None],
    on_failure: Callable[[BaseException], None],
    parent: QObject | None = None,
) -> None:
    """Run `fn()` on a worker; then `on_success(result)` or `on_failure(exc)` on the GUI thread.

    When `parent` is destroyed first, neither callback runs.
    """
    bridge = _get_bridge()
    task_id = bridge.register(on_success, on_failure, parent)
    pool().start(_Task(task_id, fn, bridge))
