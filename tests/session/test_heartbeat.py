"""Heartbeat against the real server: ok, session expiry, state_version refetch, retries."""

from __future__ import annotations

import pytest
from pytestqt.qtbot import QtBot

from agent_desktop.session import errors as e
from agent_desktop.session.client import ApiClient
from agent_desktop.session.heartbeat import Heartbeat
from agent_desktop.session.models import HeartbeatReply
from tests.session.conftest import agent_client
from tests.session.support import HEARTBEAT, LOGIN, FakeServer, json_reply, problem
from tests.support.live import LiveServer
from tests.support.postgres import free_port


def test_beat_ok_then_session_expired(qtbot: QtBot, server: LiveServer) -> None:
    client, login = agent_client(server)
    assert login.agent is not None
    hb = Heartbeat(client, interval_s=login.heartbeat_interval_s,
                   state_version=login.agent.state_version)
    hb.start()
    assert hb.timer.isActive()
    assert hb.timer.interval() == 20_000  # the server's interval, not a constant
    with qtbot.waitSignal(hb.beat_ok, timeout=3000) as ok:
        hb.beat_now()
    reply = ok.args[0]
    assert isinstance(reply, HeartbeatReply)
    assert reply.heartbeat_interval_s == 20
    server.expire(91)
    with qtbot.waitSignal(hb.session_ended, timeout=3000) as ended:
        hb.beat_now()
    assert ended.args[0] == "session_expired"
    assert not hb.running
    assert not hb.timer.isActive()


def test_state_version_change_asks_for_a_refetch(qtbot: QtBot, server: LiveServer) -> None:
    client, login = agent_client(server)
    assert login.agent is not None
    hb = Heartbeat(client, interval_s=20, state_version=login.agent.state_version)
    with qtbot.assertNotEmitted(hb.refetch_needed), qtbot.waitSignal(hb.beat_ok, timeout=3000):
        hb.beat_now()
    sup, _ = agent_client(server, "supervisor", terminal="sup")
    sup.force_pause("demo", "1001", "team meeting", "meeting")
    with qtbot.waitSignal(hb.refetch_needed, timeout=3000) as moved:
        hb.beat_now()
    assert moved.args[0] > login.agent.state_version


def test_the_timer_drives_the_beats(qtbot: QtBot, server: LiveServer) -> None:
    client, login = agent_client(server)
    hb = Heartbeat(client, interval_s=login.heartbeat_interval_s)
    hb.start()
    with qtbot.waitSignal(hb.beat_ok, timeout=3000):
        hb.timer.timeout.emit()  # what the QTimer does after 20 s
    assert hb.timer.isActive()  # re-armed for the next beat


def test_network_failures_keep_retrying(qtbot: QtBot, fake: FakeServer) -> None:
    client = ApiClient(fake.base_url)
    fake.routes["/api/v1/sessions"] = json_reply(LOGIN, 201)
    client.login("demo", "1001", "pw", terminal_id="ws-1")
    hb = Heartbeat(client, interval_s=20, retry_after_failure_s=5)
    hb.start()
    fake.routes["/api/v1/sessions/current/heartbeat"] = problem("pbx_unavailable", 503,
                                                                retry_after=30)
    with qtbot.waitSignal(hb.beat_failed, timeout=3000) as failed:
        hb.beat_now()
    assert isinstance(failed.args[0], e.ServiceUnavailableError)
    assert hb.running
    assert hb.timer.isActive()
    assert hb.timer.interval() == 20_000  # Retry-After 30 s, capped by the interval
    fake.routes["/api/v1/sessions/current/heartbeat"] = json_reply(HEARTBEAT)
    with qtbot.waitSignal(hb.beat_ok, timeout=3000):
        hb.timer.timeout.emit()
    assert hb.failures == 0


@pytest.mark.usefixtures("qapp")
def test_server_down_is_beat_failed_not_session_ended(qtbot: QtBot) -> None:
    client = ApiClient(f"http://127.0.0.1:{free_port()}")
    client._token = "x"  # as if logged in before the server went away
    hb = Heartbeat(client, interval_s=20, retry_after_failure_s=5)
    hb.start()
    with qtbot.assertNotEmitted(hb.session_ended), \
            qtbot.waitSignal(hb.beat_failed, timeout=5000) as failed:
        hb.beat_now()
    assert isinstance(failed.args[0], e.NetworkError)
    assert hb.timer.interval() == 5000  # retries sooner than the interval
    with qtbot.waitSignal(hb.beat_failed, timeout=5000):
        hb.timer.timeout.emit()
    assert hb.failures == 2
    assert hb.running
