"""Re-registration after an Asterisk restart and after a (simulated) network change."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import pytest
from pytestqt.qtbot import QtBot

from agent_desktop.sip import Account, AccountSettings, RegistrationState, SipEngine
from pbx.sandbox import AsteriskSandbox
from tests.pbx_fixtures import discard, new_sandbox
from tests.sip.conftest import PASSWORD, registrar

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


@pytest.fixture
def own_pbx(asterisk: AsteriskSandbox) -> Iterator[AsteriskSandbox]:
    """A second Asterisk we may restart without disturbing the session one."""
    box = new_sandbox(f"pytest-{os.getpid()}-restart")
    box.start(example_devices=True, fresh=True)
    try:
        yield box
    finally:
        discard(box)


def in_thread(fn: object) -> threading.Thread:
    t = threading.Thread(target=fn, daemon=True)  # type: ignore[arg-type]
    t.start()
    return t


def test_reregistered_within_5s_of_asterisk_restart(
    qtbot: QtBot, sip_engine: SipEngine, own_pbx: AsteriskSandbox
) -> None:
    acc = sip_engine.add_account(AccountSettings("8001", PASSWORD, registrar(own_pbx)))
    try:
        qtbot.waitUntil(lambda: acc.state is RegistrationState.REGISTERED, timeout=5000)
        up: list[float] = []

        # The Qt loop (our SIP stack) keeps running while Asterisk restarts, as in the app.
        def restart() -> None:
            own_pbx.stop()
            time.sleep(1.0)  # Asterisk down for a second
            own_pbx.start(example_devices=True)  # astdb kept: it still lists our contact
            up.append(time.time())

        worker = in_thread(restart)
        qtbot.waitUntil(lambda: bool(up), timeout=30000)
        worker.join()
        qtbot.waitUntil(
            lambda: acc.last_registered_at is not None and acc.last_registered_at > up[0],
            timeout=5000,
        )
        assert acc.last_registered_at is not None
        delay = acc.last_registered_at - up[0]
        print(f"re-registered {delay:.2f} s after Asterisk was back up")
        assert delay < 5.0
        assert acc.state is RegistrationState.REGISTERED
    finally:
        sip_engine.remove_account(acc)


def test_reregistered_after_network_change(
    qtbot: QtBot, sip_engine: SipEngine, agent: Account, asterisk: AsteriskSandbox
) -> None:
    t0 = time.time()
    sip_engine.handle_network_change()
    qtbot.waitUntil(
        lambda: agent.last_registered_at is not None and agent.last_registered_at > t0,
        timeout=5000,
    )
    assert agent.last_registered_at is not None
    print(f"re-registered {agent.last_registered_at - t0:.2f} s after handleIpChange")
    qtbot.waitUntil(lambda: agent.state is RegistrationState.REGISTERED, timeout=5000)
    assert "8001/sip:8001@127.0.0.1" in asterisk.rx("pjsip show contacts")
