"""Fixtures for the SIP engine tests: one engine per test process (one pjsua2 Endpoint).

The engine lives for the whole pytest session on the Qt GUI thread and registers as the
example device 8001; the far end is a `tests.support.sipphone` child process as 8002.
Scenarios that must end the process (staged shutdown) run in `tests.sip.runner` children.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QCoreApplication
from pytestqt.qtbot import QtBot

from agent_desktop.sip import (
    Account,
    AccountSettings,
    EngineConfig,
    RegistrationState,
    SipEngine,
    Transport,
    audio,
)
from pbx.sandbox import AsteriskSandbox
from tests.pbx_fixtures import discard, new_sandbox
from tests.support.sim_clock import SimClock
from tests.support.sipphone import SipPhone

PASSWORD = "demo"


def registrar(box: AsteriskSandbox) -> str:
    return f"127.0.0.1:{box.sip_port}"


def spin_until(pred: Callable[[], bool], timeout: float) -> bool:
    """Run the Qt loop (and so the SIP poll timer) until `pred` holds (for session fixtures)."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            return False
        QCoreApplication.processEvents()
        time.sleep(0.005)
    return True


def wait_phone(
    qtbot: QtBot, phone: SipPhone, name: str, timeout: float = 5.0, after: float = 0.0, **match: Any
) -> dict[str, Any]:
    """Wait for a far-end event while the Qt loop (our SIP stack) keeps running."""
    found: list[dict[str, Any]] = []

    def check() -> bool:
        found[:] = [e for e in phone.events(name, **match) if float(e["ts"]) >= after]
        return bool(found)

    qtbot.waitUntil(check, timeout=int(timeout * 1000))
    return found[0]


@pytest.fixture(scope="session")
def sip_engine(qapp: Any) -> Iterator[SipEngine]:
    engine = SipEngine(
        EngineConfig(bind_address="127.0.0.1", transports=(Transport.UDP, Transport.TCP))
    )
    engine.start()
    yield engine
    engine.shutdown()


@pytest.fixture(scope="session")
def agent(sip_engine: SipEngine, asterisk: AsteriskSandbox) -> Account:
    # UDP, not the default TCP: some tests' far end (a UDP-only test phone) calls the engine
    # directly, bypassing Asterisk, and must reach the Contact we answer with. (The call
    # tests also pass over TCP, except that direct call.)
    acc = sip_engine.add_account(
        AccountSettings("8001", PASSWORD, registrar(asterisk), transport=Transport.UDP)
    )
    assert spin_until(lambda: acc.state is RegistrationState.REGISTERED, 5), acc
    return acc


@pytest.fixture
def far(asterisk: AsteriskSandbox, agent: Account, qtbot: QtBot) -> Iterator[SipPhone]:
    """The far end: a test phone registered as 8002. Engine calls are cleaned up after."""
    phone = SipPhone("far8002").start()
    try:
        phone.register("8002", PASSWORD, registrar(asterisk))
        yield phone
    finally:
        engine = agent._engine
        for call in engine.calls:
            call.hangup()
        spin_until(lambda: not engine.calls, 5)
        phone.close()
        spin_until(lambda: not engine.calls, 2)


@pytest.fixture
def own_pbx(asterisk: AsteriskSandbox) -> Iterator[AsteriskSandbox]:
    """A second Asterisk we may restart without disturbing the session one."""
    box = new_sandbox(f"pytest-{os.getpid()}-restart")
    box.start(example_devices=True, fresh=True)
    try:
        yield box
    finally:
        discard(box)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> SimClock:
    """The audio module's `time`, moved by the test (tests/support/sim_clock.py)."""
    sim = SimClock()
    monkeypatch.setattr(audio, "time", sim)
    return sim
