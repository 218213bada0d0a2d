"""run_in_worker: the work runs off the GUI thread, the callbacks on it."""

from __future__ import annotations

import threading
from collections.abc import Callable

from PySide6.QtCore import QObject
from pytestqt.qtbot import QtBot

from agent_desktop.session import worker
from agent_desktop.session.worker import run_in_worker


def test_success_is_delivered_on_the_gui_thread(qtbot: QtBot) -> None:
    gui = threading.get_ident()
    ran_on: list[int] = []
    got: list[tuple[int, int]] = []

    def work() -> int:
        ran_on.append(threading.get_ident())
        return 42

    run_in_worker(work, on_success=lambda v: got.append((v, threading.get_ident())),
                  on_failure=lambda exc: None)
    qtbot.waitUntil(lambda: bool(got), timeout=2000)
    assert ran_on[0] != gui
    assert got == [(42, gui)]


def test_failure_is_delivered_on_the_gui_thread(qtbot: QtBot) -> None:
    gui = threading.get_ident()
    failed: list[tuple[BaseException, int]] = []

    def work() -> None:
        raise ValueError("boom")

    run_in_worker(work, on_success=lambda v: None,
                  on_failure=lambda exc: failed.append((exc, threading.get_ident())))
    qtbot.waitUntil(lambda: bool(failed), timeout=2000)
    assert isinstance(failed[0][0], ValueError)
    assert failed[0][1] == gui


def test_many_tasks_each_deliver_exactly_once(qtbot: QtBot) -> None:
    got: list[int] = []

    def double(i: int) -> Callable[[], int]:
        return lambda: i * 2

    for i in range(50):
        run_in_worker(double(i), on_success=got.append, on_failure=lambda exc: None)
    qtbot.waitUntil(lambda: len(got) == 50, timeout=5000)
    assert sorted(got) == [i * 2 for i in range(50)]


def test_no_callback_after_the_parent_is_destroyed(qtbot: QtBot) -> None:
    gate = threading.Event()
    called: list[object] = []
    parent = QObject()
    run_in_worker(lambda: gate.wait(5), on_success=called.append, on_failure=called.append,
                  parent=parent)
    parent.deleteLater()
    qtbot.waitUntil(lambda: not _valid(parent), timeout=2000)
    gate.set()
    assert worker.pool().waitForDone(2000)
    qtbot.waitUntil(lambda: worker._get_bridge().pending() == 0, timeout=2000)
    assert called == []


def _valid(obj: QObject) -> bool:
    from shiboken6 import isValid

    return bool(isValid(obj))
