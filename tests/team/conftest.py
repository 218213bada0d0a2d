"""Fixtures of the team-view tests: offscreen Qt, no worker task outliving its test."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from agent_desktop.session import worker


@pytest.fixture(autouse=True)
def _drain_workers(qapp: object) -> Iterator[None]:
    yield
    assert worker.pool().waitForDone(10000), "a worker task did not finish"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The offscreen platform plugin cannot do these window-manager things; it says so.
    for item in items:
        if "tests/team/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.qt_log_ignore(
                "This plugin does not support propagateSizeHints",
                "This plugin does not support raise",
                "This plugin does not support setParent"))
