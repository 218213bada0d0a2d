"""What the widget test folders share: no worker task may outlive its test, and the
offscreen platform's notes about window-manager calls it cannot do are not failures.

A folder's conftest.py imports `drain_workers` and `offscreen_notes` from here, then says
`_drain_workers = drain_workers` and `pytest_collection_modifyitems = offscreen_notes(__file__)`.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from agent_desktop.session import worker

OFFSCREEN_NOTES = ("This plugin does not support propagateSizeHints",
                   "This plugin does not support raise",
                   "This plugin does not support setParent")


@pytest.fixture(autouse=True)
def drain_workers(qapp: object) -> Iterator[None]:
    yield
    assert worker.pool().waitForDone(10000), "a worker task did not finish"
    # A test's windows, calls and seats may be left in reference cycles (a window's signal
    # connected to its app, the app holding the window). Collected later, they would be
    # destroyed on whichever thread the collection runs: the in-process server's thread
    # once, where a Qt object's destructor crashed the run (SIGSEGV in "Garbage-collecting").
    # Collected here, they die on the GUI thread.
    gc.collect()


def offscreen_notes(conftest: str) -> Callable[[list[pytest.Item]], None]:
    """A collection hook marking the tests of the conftest's folder."""
    folder = str(Path(conftest).resolve().parent) + os.sep

    def hook(items: list[pytest.Item]) -> None:
        for item in items:
            if str(Path(str(item.fspath)).resolve()).startswith(folder):
                item.add_marker(pytest.mark.qt_log_ignore(*OFFSCREEN_NOTES))

    return hook
