"""Python's cyclic collector runs on the GUI thread only (agent_desktop.gui_gc)."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest
from pytestqt.qtbot import QtBot

from agent_desktop.gui_gc import GuiThreadCollector


@pytest.fixture
def collector(qapp: object) -> Iterator[GuiThreadCollector]:
    was_enabled = gc.isenabled()
    c = GuiThreadCollector(interval_ms=20)
    yield c
    c.stop()
    c.deleteLater()
    if not was_enabled:
        gc.disable()


class Cycle:
    """Half of a reference cycle that notes the thread it was finalised on."""

    died_on: list[int] = []

    def __init__(self) -> None:
        self.other = self

    def __del__(self) -> None:
        Cycle.died_on.append(threading.get_ident())


def test_cycles_made_on_a_worker_are_freed_on_the_gui_thread(
        qtbot: QtBot, collector: GuiThreadCollector) -> None:
    assert not gc.isenabled()
    Cycle.died_on.clear()

    kept: list[object] = []

    def worker() -> None:
        Cycle()  # garbage at once, but only the cyclic collector can free it
        kept.append([[i] for i in range(50_000)])  # far past every threshold

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert Cycle.died_on == []  # not collected on the worker
    qtbot.waitUntil(lambda: Cycle.died_on != [], timeout=3000)
    assert Cycle.died_on == [threading.get_ident()]
    assert sum(collector.collections) >= 1
    kept.clear()


def test_stop_gives_collection_back(collector: GuiThreadCollector) -> None:
    collector.stop()
    assert gc.isenabled()
