"""Passwords, tokens, rate limiting and who may see and do what."""

from __future__ import annotations

from sqlalchemy import select, text

from callcenter_server.db.tables import Agent, Session
from tests.support.live import LiveServer

OTHER_TEAM = {"teams": [{
    "name": "north",
    "accounts": [{"username": "boss", "password": "pw", "role": "team_admin"},
                 {"username": "payer", "password": "pw", "role": "user"}],
    "devices": [{"number": "9001", "kind": "internal", "sip_password": "x", "owner": "payer"}],
    "groups": [{"name": "north-sales", "queue": "north-sales"}],
    "agents": [{"number": "2001", "password": "pw", "device_mode": "fixed", "device": "9001",
                "groups": ["north-sales"]}],
}]}


def test_passwords_are_argon2id_and_tokens_are_stored_hashed(server: LiveServer) -> None:
    t = server.login("1001")
    with server.center.engine.connect() as c:
        hashes = c.execute(select(Agent.password_hash)).scalars().all()
        assert all(h.startswith("$argon2id$") for h in hashes)
        stored = c.execute(select(Session.token_hash)).scalars().all()
        assert t.token not in stored
        assert len(stored[0]) == 64
        for table in ("sessions", "events"):
            rows = c.execute(text(f"SELECT * FROM {table}")).all()
            assert t.token not in repr(rows)


def test_token_in_the_url_is_not_accepted(server: LiveServer) -> None:
    t = server.login("1001")
    for path in (f"/api/v1/me?token={t.token}", f"/api/v1/me?access_token={t.token}"):
        r = server.http.get(path)
        assert r.status_code == 401
        assert r.json()["code"] == "unauthenticated"
    assert server.http.get("/api/v1/me", headers={"Authorization": "Bearer nope"}).json()[
        "code"] == "invalid_token"


def test_login_rate_limit_answers_429_with_retry_after(server: LiveServer) -> None:
    for _ in range(5):
        assert server.login_raw("1001", password="wrong").status_code == 401
    r = server.login_raw("1001")  # even the right password waits
    assert r.status_code == 429
    assert r.json()["code"] == "rate_limited"
    assert 1 <= int(r.headers["Retry-After"]) <= 61
    # Another agent from the same address is not locked out by 1001's typos.
    assert server.login_raw("1004").status_code == 201
    server.clock.advance(61)
    assert server.login_raw("1001").status_code == 201


def test_agents_cannot_use_team_admin_endpoints(server: LiveServer) -> None:
    t = server.login("1001")
    assert t.get("/api/v1/teams/demo/board").json()["code"] == "forbidden"
    r = t.post("/api/v1/teams/demo/agents/1003/logout", {"reason": "x"})
    assert r.status_code == 403


def test_team_admin_cannot_read_or_act_outside_the_team(server: LiveServer) -> None:
    server.provision(OTHER_TEAM)
    boss = server.login("boss", team="north", password="pw", terminal="b")
    assert boss.get("/api/v1/teams/north/board").status_code == 200
    assert boss.get("/api/v1/teams/demo/board").json()["code"] == "forbidden"
    for action, body in (("logout", {"reason": "x"}), ("checkout", {"reason": "x"}),
                         ("pause", {"reason": "x", "pause_reason": "lunch"}),
                         ("unpause", {"reason": "x"})):
        r = boss.post(f"/api/v1/teams/demo/agents/1001/{action}", body)
        assert r.status_code == 403, action
    # Unknown teams look the same as other teams' (names are not disclosed).
    assert boss.get("/api/v1/teams/nope/board").json()["code"] == "forbidden"
    # And its stream carries nothing of team demo.
    stream = boss.events()
    server.login("1001")
    server.login("2001", team="north", password="pw", terminal="n")
    started = stream.wait_for("session.started")
    assert started.data["agent"] == "2001"


def test_system_admin_sees_every_team(server: LiveServer) -> None:
    server.provision(OTHER_TEAM)
    admin = server.login("admin", team=None, terminal="root")
    assert admin.login["role"] == "system_admin"
    assert admin.get("/api/v1/teams/demo/board").status_code == 200
    assert admin.get("/api/v1/teams/north/board").status_code == 200
    assert admin.get("/api/v1/teams/nope/board").json()["code"] == "team_not_found"


def test_billing_users_have_no_desktop_seat(server: LiveServer) -> None:
    r = server.login_raw("frontdesk")
    assert r.status_code == 403
    assert r.json()["code"] == "not_an_agent"


def test_team_admin_without_a_seat_has_no_agent_endpoints(server: LiveServer) -> None:
    sup = server.login("supervisor", terminal="sup")
    assert sup.login["role"] == "team_admin"
    assert sup.login["agent"] is None
    assert sup.post("/api/v1/me/checkin").json()["code"] == "not_an_agent"
    assert sup.post("/api/v1/sessions/current/heartbeat").status_code == 200
