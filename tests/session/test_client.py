"""ApiClient against the real server (SQLite and PostgreSQL) and a scripted local server."""

from __future__ import annotations

import time
from datetime import date

import pytest

from agent_desktop.session import errors as e
from agent_desktop.session.client import ApiClient
from agent_desktop.session.messages import user_message
from tests.session.conftest import agent_client
from tests.session.support import (
    HEARTBEAT,
    LOGIN,
    FakeServer,
    Reply,
    json_reply,
    problem,
)
from tests.support.live import LiveServer
from tests.support.postgres import free_port


def test_login_heartbeat_me_sessions(server: LiveServer) -> None:
    client, login = agent_client(server)
    assert login.role == "agent"
    assert login.team == "demo"
    assert login.heartbeat_interval_s == 20
    assert login.session_timeout_s == 90
    assert login.agent is not None
    assert login.agent.device is not None
    assert login.agent.device.sip is not None
    assert login.agent.device.sip.username == "8001"
    assert [g.name for g in login.agent.groups] == ["sales", "support"]
    assert "rest" in [p.code for p in login.pause_reasons]
    hb = client.heartbeat()
    assert hb.heartbeat_interval_s == 20
    assert hb.state_version == login.agent.state_version
    me = client.me()
    assert me.agent is not None
    assert me.agent.number == "1001"
    assert me.terminal_id == "ws-1"
    sessions = client.sessions()
    assert [s.current for s in sessions] == [True]
    client.logout()
    assert not client.logged_in
    with pytest.raises(e.AuthenticationError) as err:
        client.me()
    assert err.value.code == "unauthenticated"  # the client no longer holds a token


def test_checkin_checkout_with_per_group_results(server: LiveServer) -> None:
    client, _ = agent_client(server)
    r = client.checkin(["sales", "nope"])
    assert r.by_group() == {"sales": "checked_in", "nope": "group_not_found"}
    assert client.checkin().by_group() == {"sales": "already_checked_in",
                                           "support": "checked_in"}
    assert client.checkout_group("sales").by_group() == {"sales": "checked_out"}
    with pytest.raises(e.NotFoundError) as nf:
        client.checkout_group("nope")
    assert nf.value.code == "group_not_found"
    assert nf.value.status == 404
    assert client.checkout().by_group()["support"] == "checked_out"
    dave, _ = agent_client(server, "1004", terminal="ws-4")
    assert dave.checkout().by_group()["support"] == "static_member"
    with pytest.raises(e.ConflictError) as cf:
        dave.checkout_group("support")
    assert cf.value.code == "static_member"
    assert "permanent member" in user_message(cf.value)


def test_pause_unpause_wrapup_and_device(server: LiveServer) -> None:
    client, _ = agent_client(server)
    assert client.pause("rest", "coffee").changed
    assert client.me().agent.availability.pause_note == "coffee"  # type: ignore[union-attr]
    with pytest.raises(e.InvalidRequestError) as bad:
        client.pause("nonsense")
    assert bad.value.code == "unknown_pause_reason"
    assert client.unpause().changed
    assert not client.end_wrapup().changed  # not in wrap-up: idempotent, nothing changed
    with pytest.raises(e.ConflictError) as fixed:
        client.change_device("8002")
    assert fixed.value.code == "device_fixed"
    carol, login = agent_client(server, "1003", terminal="ws-3", device="8003")
    assert login.agent is not None
    assert login.agent.device is not None
    assert login.agent.device.number == "8003"
    reply = carol.change_device("8002")
    assert reply.device is not None
    assert reply.device.number == "8002"
    with pytest.raises(e.ConflictError) as used:
        carol.change_device("8001")  # Alice's fixed device
    assert used.value.code == "device_in_use"


def test_team_admin_board_force_actions_and_usage(server: LiveServer) -> None:
    alice, _ = agent_client(server)
    alice.checkin()
    sup, login = agent_client(server, "supervisor", terminal="sup")
    assert login.role == "team_admin"
    assert login.agent is None
    board = sup.board("demo")
    assert {a.number for a in board.agents} == {"1001", "1002", "1003", "1004"}
    assert all(a.device is None or a.device.sip is None for a in board.agents)
    assert sup.force_pause("demo", "1001", "meeting now", "meeting").changed
    assert alice.me().agent.availability.paused_by == "supervisor"  # type: ignore[union-attr]
    assert sup.force_unpause("demo", "1001", "go on").changed
    out = sup.force_checkout("demo", "1001", "too many agents", groups=["sales"])
    assert out.by_group() == {"sales": "checked_out"}
    usage = sup.usage("demo", date(2024, 1, 1), date(2030, 1, 1))
    assert usage.team == "demo"
    assert usage.users == ()
    with pytest.raises(e.ForbiddenError):
        sup.board("other-team")
    with pytest.raises(e.ForbiddenError):
        alice.board("demo")
    assert sup.force_logout("demo", "1001", "bye").ended == ("ws-1",)
    with pytest.raises(e.AuthenticationError) as ended:
        alice.me()
    assert ended.value.code == "session_revoked"
    assert ended.value.session_over
    assert ended.value.detail == "bye"
    assert user_message(ended.value) == "A team admin logged you out: “bye”."


def test_wrong_password_and_rate_limit(server: LiveServer) -> None:
    client = ApiClient(server.base_url)
    with pytest.raises(e.AuthenticationError) as bad:
        client.login("demo", "1001", "wrong", terminal_id="ws-1")
    assert bad.value.code == "bad_credentials"
    assert not bad.value.session_over
    assert user_message(bad.value) == "Wrong team, agent number or password."
    for _ in range(4):
        with pytest.raises(e.AuthenticationError):
            client.login("demo", "1001", "wrong", terminal_id="ws-1")
    started = time.monotonic()
    with pytest.raises(e.RateLimitedError) as limited:
        client.login("demo", "1001", "demo", terminal_id="ws-1")
    # Not retried: the answer comes at once, and the wait is for the UI to show.
    assert time.monotonic() - started < 2
    assert limited.value.code == "rate_limited"
    assert limited.value.retry_after
    assert 1 <= limited.value.retry_after <= 61
    assert "Wait" in user_message(limited.value)
    assert "seconds" in user_message(limited.value)


def test_server_down_bad_url_and_unknown_host() -> None:
    base = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(e.NetworkError) as down:
        ApiClient(base).login("demo", "1001", "demo", terminal_id="ws-1")
    assert down.value.code == e.NET_REFUSED
    assert down.value.status is None
    assert user_message(down.value).startswith(f"Can't reach the call-center server at {base}")
    with pytest.raises(e.NetworkError) as bad:
        ApiClient("ftp://example.org")
    assert bad.value.code == e.NET_BAD_URL
    with pytest.raises(e.NetworkError) as creds:
        ApiClient("http://user:pw@example.org")
    assert "pw" not in str(creds.value) + creds.value.server
    with pytest.raises(e.NetworkError) as dns:
        ApiClient("http://no-such-host.invalid", timeout=(2, 2)).login(
            "demo", "1001", "demo", terminal_id="ws-1")
    assert dns.value.code in (e.NET_DNS, e.NET_OTHER, e.NET_TIMEOUT)


def test_html_malformed_json_and_wrong_shape_are_protocol_errors(fake: FakeServer) -> None:
    client = ApiClient(fake.base_url)
    fake.routes["/api/v1/sessions"] = Reply(200, b"<html><body>Portal</body></html>",
                                            "text/html")
    with pytest.raises(e.ProtocolError) as html:
        client.login("demo", "1001", "pw", terminal_id="ws-1")
    assert html.value.code == e.PROTO_NOT_JSON
    assert fake.base_url in user_message(html.value)
    fake.routes["/api/v1/sessions"] = Reply(201, b'{"token": "abc", ', "application/json")
    with pytest.raises(e.ProtocolError) as broken:
        client.login("demo", "1001", "pw", terminal_id="ws-1")
    assert broken.value.code == e.PROTO_BAD_JSON
    fake.routes["/api/v1/sessions"] = json_reply({**LOGIN, "heartbeat_interval_s": "20"}, 201)
    with pytest.raises(e.ProtocolError) as shape:
        client.login("demo", "1001", "pw", terminal_id="ws-1")
    assert shape.value.code == e.PROTO_BAD_SHAPE
    assert "heartbeat_interval_s" in shape.value.detail
    assert not client.logged_in
    fake.routes["/api/v1/sessions"] = json_reply({**LOGIN, "future_field": [1, 2]}, 201)
    assert client.login("demo", "1001", "pw", terminal_id="ws-1").token == "tok-123"
    # A 404 page from something that is not this API: the URL is wrong.
    with pytest.raises(e.ProtocolError) as wrong:
        client.board("demo")
    assert wrong.value.code == e.PROTO_NOT_SERVER
    assert "does not look like a call-center server" in user_message(wrong.value)


def test_server_errors_rate_limits_and_retries(fake: FakeServer) -> None:
    client = ApiClient(fake.base_url)
    fake.routes["/api/v1/sessions"] = json_reply(LOGIN, 201)
    client.login("demo", "1001", "pw", terminal_id="ws-1")
    hb = "/api/v1/sessions/current/heartbeat"

    fake.routes[hb] = Reply(500, b"<h1>Internal Server Error</h1>", "text/html")
    with pytest.raises(e.ServiceUnavailableError) as crash:
        client.heartbeat()
    assert crash.value.code == e.HTTP_SERVER_ERROR
    assert crash.value.status == 500
    assert fake.count(hb) == 1  # 500 is not in the retry list

    fake.routes[hb] = problem("internal_error", 500)
    with pytest.raises(e.ServiceUnavailableError):
        client.heartbeat()

    # 503 with a short Retry-After: urllib3 retries (twice), then the error surfaces.
    before = fake.count(hb)
    fake.routes[hb] = problem("pbx_unavailable", 503, retry_after=0)
    with pytest.raises(e.ServiceUnavailableError) as pbx:
        client.heartbeat()
    assert pbx.value.code == "pbx_unavailable"
    assert fake.count(hb) - before == 3

    # 429 asking for 30 s: longer than the cap, so no retry and no sleep; the wait is reported.
    before = fake.count(hb)
    fake.routes[hb] = Reply(429, b"slow down", "text/plain", {"Retry-After": "30"})
    started = time.monotonic()
    with pytest.raises(e.RateLimitedError) as limited:
        client.heartbeat()
    assert time.monotonic() - started < 2
    assert limited.value.retry_after == 30
    assert fake.count(hb) - before == 1

    fake.routes[hb] = json_reply(HEARTBEAT)
    assert client.heartbeat().state_version == 1

    # Login is never retried, whatever the status.
    fake.routes["/api/v1/sessions"] = problem("rate_limited", 429, retry_after=0)
    before = fake.count("/api/v1/sessions")
    with pytest.raises(e.RateLimitedError):
        client.login("demo", "1001", "pw", terminal_id="ws-1")
    assert fake.count("/api/v1/sessions") - before == 1


def test_timeout_is_a_network_error(fake: FakeServer) -> None:
    import threading

    release = threading.Event()

    def hang(handler: object) -> None:
        release.wait(5)

    fake.streams["/api/v1/me"] = hang  # never answers
    client = ApiClient(fake.base_url, timeout=(1.0, 0.3))
    fake.routes["/api/v1/sessions"] = json_reply(LOGIN, 201)
    client.login("demo", "1001", "pw", terminal_id="ws-1")
    try:
        with pytest.raises(e.NetworkError) as slow:
            client.me()
    finally:
        release.set()
    assert slow.value.code == e.NET_TIMEOUT
    assert "does not answer" in user_message(slow.value)


def test_token_never_in_repr(fake: FakeServer) -> None:
    client = ApiClient(fake.base_url)
    fake.routes["/api/v1/sessions"] = json_reply(LOGIN, 201)
    login = client.login("demo", "1001", "pw", terminal_id="ws-1")
    text = repr(client) + repr(login) + str(login)
    assert "tok-123" not in text
    assert "sip-secret" not in text
    assert login.token == "tok-123"
