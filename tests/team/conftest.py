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
