"""Re-registration after an Asterisk restart and after a (simulated) network change.

`python -m tests.sip.test_engine_recovery --netns-child` is the child process of
`test_watch_network_reacts_to_reachability` (run inside its own network namespace).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time

import pytest
from pytestqt.qtbot import QtBot

from agent_desktop.sip import Account, AccountSettings, RegistrationState, SipEngine, Transport
from pbx.sandbox import AsteriskSandbox
from tests.sip.conftest import PASSWORD, registrar

pytestmark = [pytest.mark.integration, pytest.mark.fault, pytest.mark.timeout(90)]


def remove_and_wait(qtbot: QtBot, engine: SipEngine, acc: Account) -> None:
    """Remove the account before its PBX goes away (not in a later test's time)."""
    with qtbot.waitSignal(engine.account_removed, timeout=4000):
        engine.remove_account(acc)


def in_thread(fn: object) -> threading.Thread:
    t = threading.Thread(target=fn, daemon=True)  # type: ignore[arg-type]
    t.start()
    return t


def restart_and_measure(
    qtbot: QtBot, acc: Account, box: AsteriskSandbox, down_s: float
) -> tuple[float, int]:
    """Restart Asterisk (down `down_s`) with the Qt loop running, as in the app; return the
    seconds from Asterisk being back up to our next 2xx to a REGISTER, and how many
    REGISTER 2xx we saw while it was up before the restart (steady-state refreshes)."""
    qtbot.waitUntil(lambda: acc.state is RegistrationState.REGISTERED, timeout=5000)
    seen: list[float] = []
    acc.registered.connect(seen.append)
    qtbot.wait(4000)  # steady state: no REGISTER expected (the old design sent one per 3 s)
    steady = len(seen)
    up: list[float] = []

    def restart() -> None:
        box.stop()
        time.sleep(down_s)
        box.start(example_devices=True)  # astdb kept: it still lists our contact
        up.append(time.time())

    worker = in_thread(restart)
    qtbot.waitUntil(lambda: bool(up), timeout=30000)
    worker.join()
    qtbot.waitUntil(
        lambda: acc.last_registered_at is not None and acc.last_registered_at > up[0],
        timeout=5000,
    )
    assert acc.last_registered_at is not None
    assert acc.state is RegistrationState.REGISTERED
    return acc.last_registered_at - up[0], steady


def test_tcp_reregistered_within_5s_of_asterisk_restart(
    qtbot: QtBot, sip_engine: SipEngine, own_pbx: AsteriskSandbox
) -> None:
    """The default transport: the dropped connection is noticed at once."""
    settings = AccountSettings("8001", PASSWORD, registrar(own_pbx))
    assert settings.transport is Transport.TCP
    assert settings.expiry_s >= 300
    acc = sip_engine.add_account(settings)
    try:
        delay, steady = restart_and_measure(qtbot, acc, own_pbx, down_s=1.0)
        print(f"TCP: re-registered {delay:.2f} s after Asterisk was back up")
        assert steady == 0
        assert delay < 5.0
    finally:
        remove_and_wait(qtbot, sip_engine, acc)


def test_udp_reregistered_within_5s_of_asterisk_restart(
    qtbot: QtBot, sip_engine: SipEngine, own_pbx: AsteriskSandbox
) -> None:
    """UDP: OPTIONS probes every `keepalive_s` notice an outage at least that long."""
    settings = AccountSettings("8001", PASSWORD, registrar(own_pbx), transport=Transport.UDP)
    acc = sip_engine.add_account(settings)
    try:
        delay, steady = restart_and_measure(
            qtbot, acc, own_pbx, down_s=settings.keepalive_s + settings.probe_timeout_s
        )
        print(f"UDP: re-registered {delay:.2f} s after Asterisk was back up")
        assert steady == 0
        assert delay < 5.0
        assert acc.pbx_reachable
    finally:
        remove_and_wait(qtbot, sip_engine, acc)


def network_change_and_measure(qtbot: QtBot, engine: SipEngine, acc: Account) -> float:
    qtbot.waitUntil(lambda: acc.state is RegistrationState.REGISTERED, timeout=5000)
    t0 = time.time()
    engine.handle_network_change()
    qtbot.waitUntil(
        lambda: acc.last_registered_at is not None and acc.last_registered_at > t0,
        timeout=5000,
    )
    assert acc.last_registered_at is not None
    qtbot.waitUntil(lambda: acc.state is RegistrationState.REGISTERED, timeout=5000)
    return acc.last_registered_at - t0


def test_udp_reregistered_after_network_change(
    qtbot: QtBot, sip_engine: SipEngine, agent: Account, asterisk: AsteriskSandbox
) -> None:
    assert agent.settings.transport is Transport.UDP
    delay = network_change_and_measure(qtbot, sip_engine, agent)
    print(f"UDP: re-registered {delay:.2f} s after handleIpChange")
    assert "8001/sip:8001@127.0.0.1" in asterisk.rx("pjsip show contacts")


def test_tcp_reregistered_after_network_change(
    qtbot: QtBot, sip_engine: SipEngine, own_pbx: AsteriskSandbox
) -> None:
    acc = sip_engine.add_account(AccountSettings("8001", PASSWORD, registrar(own_pbx)))
    try:
        assert acc.settings.transport is Transport.TCP
        delay = network_change_and_measure(qtbot, sip_engine, acc)
        print(f"TCP: re-registered {delay:.2f} s after handleIpChange")
        assert "transport=TCP" in own_pbx.rx("pjsip show contacts")
    finally:
        remove_and_wait(qtbot, sip_engine, acc)


# --------------------------------------------------------------------- watch_network()
def _can_unshare() -> bool:
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        return False
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, check=False)
    return probe.returncode == 0


@pytest.mark.skipif(not _can_unshare(), reason="needs root and `unshare -n` (a private netns)")
def test_watch_network_reacts_to_reachability() -> None:
    """A real reachability change: in a private network namespace the child adds and
    removes the default route; QNetworkInformation (glib backend) reports it and
    `watch_network()` must call `handle_network_change` when the network is back."""
    proc = subprocess.run(
        ["unshare", "-n", sys.executable, "-m", "tests.sip.test_engine_recovery", "--netns-child"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if not result["watching"]:
        pytest.skip("no QNetworkInformation backend in this environment")
    print(result)
    # Online twice (route added, removed, added again): two network changes, none on loss.
    assert result["changes_after_up1"] == 1
    assert result["changes_after_down"] == 1
    assert result["changes_after_up2"] == 2
    assert result["shutdown"].get("total_s") is not None


def _netns_child() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QCoreApplication

    from agent_desktop.sip import EngineConfig

    def sh(cmd: str) -> None:
        subprocess.run(cmd, shell=True, check=True, capture_output=True)

    def spin(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.005)

    sh("ip link set lo up && ip addr add 10.99.0.2/32 dev lo")
    app = QCoreApplication(sys.argv[:1])
    engine = SipEngine(EngineConfig(bind_address="127.0.0.1", transports=(Transport.UDP,)))
    engine.start()
    changes: list[float] = []
    engine.network_changed.connect(lambda: changes.append(time.monotonic()))
    result: dict[str, object] = {"watching": engine.watch_network()}
    spin(0.5)
    sh("ip route add default dev lo")  # -> Online
    spin(2.0)
    result["changes_after_up1"] = len(changes)
    sh("ip route del default")  # -> Disconnected
    spin(2.0)
    result["changes_after_down"] = len(changes)
    sh("ip route add default dev lo")  # -> Online again
    spin(2.0)
    result["changes_after_up2"] = len(changes)
    result["shutdown"] = engine.shutdown()
    print(json.dumps(result, default=str), flush=True)
    return 0


if __name__ == "__main__" and "--netns-child" in sys.argv:
    sys.exit(_netns_child())
