"""Error kinds for every server code, messages in the agent's words, and no secret in any log."""

from __future__ import annotations

import logging

import pytest
from pytestqt.qtbot import QtBot

from agent_desktop.session import errors as e
from agent_desktop.session.client import ApiClient
from agent_desktop.session.credentials import CredentialStore
from agent_desktop.session.events import EventStream
from agent_desktop.session.heartbeat import Heartbeat
from agent_desktop.session.messages import user_message
from agent_desktop.session.state import AgentStateMachine
from callcenter_server.problems import CODES
from tests.session.test_credentials import MemoryKeyring
from tests.support.live import LiveServer

KIND_BY_STATUS = {401: e.AuthenticationError, 403: e.ForbiddenError, 404: e.NotFoundError,
                  409: e.ConflictError, 429: e.RateLimitedError, 503: e.ServiceUnavailableError,
                  500: e.ServiceUnavailableError}


@pytest.mark.parametrize("code", sorted(CODES))
def test_every_server_code_has_a_kind_and_a_message(code: str) -> None:
    status, title = CODES[code]
    err = e.error_from_problem(status, {"code": code, "title": title, "detail": title})
    assert err is not None
    expected = KIND_BY_STATUS.get(status, e.InvalidRequestError)
    assert isinstance(err, expected), (code, type(err))
    message = user_message(err)
    assert message
    assert "{" not in message


def test_messages_in_the_agents_words() -> None:
    assert user_message(e.AuthenticationError("bad_credentials", 401)) == \
        "Wrong team, agent number or password."
    assert user_message(e.AuthenticationError("session_expired", 401)) == \
        "You were logged out: no contact with the server for too long (timeout)."
    assert user_message(e.NetworkError(e.NET_REFUSED, server="https://cc:8443")).startswith(
        "Can't reach the call-center server at https://cc:8443")
    assert user_message(e.RateLimitedError("rate_limited", 429, retry_after=42)) == \
        "Too many failed attempts. Wait 42 seconds and try again."
    assert user_message(e.ApiError("brand_new_code", 418)) == \
        "Something went wrong (brand_new_code)."
    assert user_message(e.ConflictError("brand_new_409", 409)) == \
        "This is not possible right now."


SECRET_TEAM = {"teams": [{
    "name": "secret", "heartbeat_interval_s": 20, "session_timeout_s": 90,
    "devices": [{"number": "9201", "kind": "internal", "sip_password": "Sip-Zq81-Unique"}],
    "groups": [{"name": "q", "queue": "secret-q"}],
    "agents": [{"number": "3101", "password": "Pw-Xk42-Unique", "device_mode": "fixed",
                "device": "9201", "groups": ["q"]}],
}]}


def test_no_password_or_token_in_any_log(qtbot: QtBot, server: LiveServer,
                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # everything: ours, urllib3, requests
    server.provision(SECRET_TEAM)
    client = ApiClient(server.base_url)
    with pytest.raises(e.AuthenticationError):
        client.login("secret", "3101", "Wrong-Pw-Qy77-Unique", terminal_id="t1")
    login = client.login("secret", "3101", "Pw-Xk42-Unique", terminal_id="t1")
    store = CredentialStore(MemoryKeyring())
    store.save(server.base_url, "secret", "3101", "Pw-Xk42-Unique")
    machine = AgentStateMachine()
    machine.login_succeeded(login)
    hb = Heartbeat(client, interval_s=login.heartbeat_interval_s)
    hb.beat_ok.connect(machine.heartbeat_ok)
    with qtbot.waitSignal(hb.beat_ok, timeout=3000):
        hb.beat_now()
    stream = EventStream(client, last_event_id=login.last_event_id, session_id=login.session.id)
    stream.event_received.connect(machine.on_event)
    try:
        with qtbot.waitSignal(stream.connected, timeout=3000):
            stream.start()
        client.checkin()
        qtbot.waitUntil(lambda: bool(machine.state.checked_in), timeout=3000)
    finally:
        stream.stop()
    client.logout()
    logged = caplog.text + "\n".join(
        f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)
    assert "logged in as secret/3101" in logged  # the log did capture our records
    for secret in (login.token, "Pw-Xk42-Unique", "Wrong-Pw-Qy77-Unique", "Sip-Zq81-Unique"):
        assert secret not in logged
        assert secret not in repr(login) + repr(client) + repr(machine.state)
