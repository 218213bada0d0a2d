"""Fixtures of the session-layer tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from agent_desktop.session import worker
from agent_desktop.session.client import ApiClient
from agent_desktop.session.models import LoginResult
from tests.session.support import FakeServer, fake_server
from tests.support.live import LiveServer

# Headless runs (CI, ssh) have no display; the session layer needs only a Qt event loop.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def _drain_workers(qapp: object) -> Iterator[None]:
    """No worker of one test may still run (and call back) in the next."""
    yield
    assert worker.pool().waitForDone(5000), "a worker task did not finish"


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    with fake_server() as srv:
        yield srv


def agent_client(server: LiveServer, agent: str = "1001", *, terminal: str = "ws-1",
                 device: str | None = None, team: str = "demo",
                 password: str = "demo") -> tuple[ApiClient, LoginResult]:
    client = ApiClient(server.base_url, client_version="test/1")
    result = client.login(team, agent, password, terminal_id=terminal, device_number=device)
    return client, result
