"""The call-center rules, through the HTTP API, on SQLite and PostgreSQL.

Demo data (callcenter_server.provision.demo_document): agent 1001 fixed on 8001 in sales+support
(dynamic), 1002 self-adapting in sales, 1003 dynamic in support, 1004 fixed on 8004, static in
support and dynamic in sales. Team timeout 90 s, heartbeat 20 s.
"""

from __future__ import annotations

from typing import Any

from callcenter_server.model import Activity
from tests.support.live import LiveServer, Terminal


def groups_of(t: Terminal) -> dict[str, bool]:
    me = t.get("/api/v1/me").json()
    return {g["name"]: g["checked_in"] for g in me["agent"]["groups"]}


def board_agent(admin: Terminal, number: str) -> dict[str, Any]:
    board = admin.get("/api/v1/teams/demo/board").json()
    return next(a for a in board["agents"] if a["number"] == number)


def test_login_returns_session_device_groups_and_heartbeat_settings(server: LiveServer) -> None:
    t = server.login("1001")
    body = t.login
    assert body["role"] == "agent"
    assert body["heartbeat_interval_s"] == 20
    assert body["session_timeout_s"] == 90
    assert body["agent"]["device"]["number"] == "8001"
    assert body["agent"]["device"]["sip"] == {"username": "8001", "password": "demo"}
    assert {g["name"] for g in body["agent"]["groups"]} == {"sales", "support"}
    assert body["last_event_id"] >= 1
    assert [r["code"] for r in body["pause_reasons"]][:3] == ["training", "meeting", "leave"]
    sessions = t.get("/api/v1/sessions").json()
    assert [s["terminal_id"] for s in sessions] == ["ws-1"]
    assert sessions[0]["current"] is True


def test_wrong_password_unknown_agent_and_unknown_team_answer_alike(server: LiveServer) -> None:
    for kw in ({"password": "nope"}, {"team": "nope"}):
        r = server.login_raw("1001", **kw)
        assert r.status_code == 401
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == "bad_credentials"
    assert server.login_raw("9999").json()["code"] == "bad_credentials"


def test_logout_ends_only_this_terminal_and_token_says_why(server: LiveServer) -> None:
    t = server.login("1001")
    assert t.delete("/api/v1/sessions/current").status_code == 204
    r = t.get("/api/v1/me")
    assert r.status_code == 401
    assert r.json()["code"] == "session_ended"


def test_logout_of_last_terminal_checks_out_dynamic_groups(server: LiveServer) -> None:
    t = server.login("1001")
    assert t.post("/api/v1/me/checkin").status_code == 200
    admin = server.login("supervisor", terminal="sup")
    t.delete("/api/v1/sessions/current")
    groups = {g["name"]: g["checked_in"] for g in board_agent(admin, "1001")["groups"]}
    assert groups == {"sales": False, "support": False}


def test_two_terminals_closing_one_keeps_checkin(server: LiveServer) -> None:
    a = server.login("1001", terminal="desk")
    b = server.login("1001", terminal="laptop")
    a.post("/api/v1/me/checkin")
    assert len(b.get("/api/v1/sessions").json()) == 2
    a.delete("/api/v1/sessions/current")
    assert groups_of(b) == {"sales": True, "support": True}
    b.delete("/api/v1/sessions/current")
    admin = server.login("supervisor", terminal="sup")
    assert not board_agent(admin, "1001")["availability"]["checked_in"]


def test_same_terminal_logging_in_again_replaces_its_session(server: LiveServer) -> None:
    first = server.login("1001")
    first.post("/api/v1/me/checkin")
    second = server.login("1001")
    r = first.get("/api/v1/me")
    assert r.json()["code"] == "session_replaced"
    # A replacement is not a logout: the queues stay joined.
    assert groups_of(second) == {"sales": True, "support": True}


def test_heartbeat_extends_the_deadline(server: LiveServer) -> None:
    t = server.login("1001")
    server.expire(80)
    hb = t.post("/api/v1/sessions/current/heartbeat")
    assert hb.status_code == 200
    body = hb.json()
    assert body["heartbeat_interval_s"] == 20
    assert body["notices"] == []
    server.expire(80)  # 160 s after login, 80 s after the heartbeat: still alive
    assert t.get("/api/v1/me").status_code == 200


def test_heartbeat_timeout_ends_session_with_reason_and_checks_out(server: LiveServer) -> None:
    t = server.login("1001")
    t.post("/api/v1/me/checkin")
    admin = server.login("supervisor", terminal="sup")
    stream = admin.events()
    assert server.expire(89) == 0
    admin.post("/api/v1/sessions/current/heartbeat")
    assert server.expire(1) == 1
    out = stream.wait_for("agent.checked_out")
    assert out.data["reason"] == "timeout"
    ended = stream.wait_for("session.ended", match=lambda e: e.data.get("agent") == "1001")
    assert ended.data["reason"] == "timeout"
    r = t.post("/api/v1/sessions/current/heartbeat")
    assert r.status_code == 401
    assert r.json()["code"] == "session_expired"
    assert not board_agent(admin, "1001")["availability"]["checked_in"]


def test_timeout_of_one_terminal_keeps_checkin_while_other_heartbeats(server: LiveServer) -> None:
    a = server.login("1001", terminal="desk")
    b = server.login("1001", terminal="laptop")
    a.post("/api/v1/me/checkin")
    server.expire(60)
    b.post("/api/v1/sessions/current/heartbeat")
    server.expire(31)  # a is past its deadline, b is not
    assert a.get("/api/v1/me").json()["code"] == "session_expired"
    assert groups_of(b) == {"sales": True, "support": True}


def test_static_member_is_never_checked_out(server: LiveServer) -> None:
    t = server.login("1004")
    results = t.post("/api/v1/me/checkin").json()["results"]
    assert {r["group"]: r["result"] for r in results} == {
        "support": "static_member", "sales": "checked_in"}
    # Asked to leave: refused for the static group, per group and for all groups.
    single = t.post("/api/v1/me/groups/support/checkout")
    assert single.status_code == 409
    assert single.json()["code"] == "static_member"
    results = t.post("/api/v1/me/checkout").json()["results"]
    assert {r["group"]: r["result"] for r in results} == {
        "support": "static_member", "sales": "checked_out"}
    # By a team admin.
    admin = server.login("supervisor", terminal="sup")
    forced = admin.post("/api/v1/teams/demo/agents/1004/checkout", {"reason": "end of shift"})
    assert {r["group"]: r["result"] for r in forced.json()["results"]}["support"] == \
        "static_member"
    # By logout and by timeout.
    t.post("/api/v1/me/checkin")
    t.delete("/api/v1/sessions/current")
    support = {g["name"]: g for g in board_agent(admin, "1004")["groups"]}["support"]
    assert support["checked_in"] is True
    t2 = server.login("1004", terminal="other")
    assert t2.login["agent"]["availability"]["checked_in"] is True
    server.expire(91)
    admin = server.login("supervisor", terminal="sup")
    agent = board_agent(admin, "1004")
    assert {g["name"]: g["checked_in"] for g in agent["groups"]} == {
        "sales": False, "support": True}


def test_expiry_during_a_call_defers_checkout_until_hangup(server: LiveServer) -> None:
    t = server.login("1001")
    t.post("/api/v1/me/checkin")
    admin = server.login("supervisor", terminal="sup")
    stream = admin.events()
    server.center.call_activity("8001", Activity.RINGING, {"caller_id": "0123", "queue": "sales"})
    server.center.call_activity("8001", Activity.TALKING)
    server.expire(91, keep=(admin,))
    stream.wait_for("agent.checkout_deferred")
    agent = board_agent(admin, "1001")
    assert agent["availability"]["logged_in"] is False
    assert agent["availability"]["checked_in"] is True
    assert agent["availability"]["checkout_pending"] is True
    assert agent["activity"]["state"] == "talking"  # the call goes on
    server.center.call_activity("8001", Activity.IDLE, answered=True)
    out = stream.wait_for("agent.checked_out")
    assert out.data["reason"] == "timeout"
    agent = board_agent(admin, "1001")
    assert agent["availability"]["checked_in"] is False
    assert agent["availability"]["checkout_pending"] is False


def test_logging_back_in_during_the_call_cancels_the_deferred_checkout(
    server: LiveServer,
) -> None:
    t = server.login("1001")
    t.post("/api/v1/me/checkin")
    server.center.call_activity("8001", Activity.TALKING)
    server.expire(91)
    again = server.login("1001", terminal="ws-2")
    server.center.call_activity("8001", Activity.IDLE, answered=True)
    assert groups_of(again) == {"sales": True, "support": True}


def test_ringing_event_carries_caller_and_queue_for_screen_pop(server: LiveServer) -> None:
    t = server.login("1001")
    stream = t.events()
    server.center.call_activity("8001", Activity.RINGING,
                                {"caller_id": "+4930123456", "caller_name": "Jo", "queue": "sales"})
    ringing = stream.wait_for("call.ringing")
    assert ringing.data["caller_id"] == "+4930123456"
    assert ringing.data["queue"] == "sales"


def test_wrapup_after_an_answered_call_ends_by_agent_or_by_time(server: LiveServer) -> None:
    t = server.login("1001")
    server.center.call_activity("8001", Activity.TALKING)
    server.center.call_activity("8001", Activity.IDLE, answered=True)
    assert t.get("/api/v1/me").json()["agent"]["availability"]["wrapup"] is True
    assert t.post("/api/v1/me/wrapup/end").json()["changed"] is True
    assert t.post("/api/v1/me/wrapup/end").json()["changed"] is False
    server.center.call_activity("8001", Activity.TALKING)
    server.center.call_activity("8001", Activity.IDLE, answered=True)
    server.expire(11)  # demo wrap-up: 10 s
    assert t.get("/api/v1/me").json()["agent"]["availability"]["wrapup"] is False


def test_checkin_is_idempotent_with_per_group_results(server: LiveServer) -> None:
    t = server.login("1001")
    first = t.post("/api/v1/me/checkin", {"groups": ["sales"]}).json()["results"]
    assert first == [{"group": "sales", "result": "checked_in", "changed": True}]
    again = t.post("/api/v1/me/checkin", {"groups": ["sales", "nope", "sales"]}).json()
    assert again["results"] == [
        {"group": "sales", "result": "already_checked_in", "changed": False},
        {"group": "nope", "result": "group_not_found", "changed": False},
    ]
    r = t.post("/api/v1/me/groups/sales/checkin")
    assert r.json()["results"][0]["result"] == "already_checked_in"
    assert t.post("/api/v1/me/groups/nope/checkin").json()["code"] == "group_not_found"
    # 1003 is not in sales.
    other = server.login("1003", device="8003")
    assert other.post("/api/v1/me/groups/sales/checkin").json()["code"] == "not_member"


def test_pause_uses_the_team_reasons(server: LiveServer) -> None:
    t = server.login("1001")
    r = t.post("/api/v1/me/pause", {"reason": "coffee"})
    assert r.status_code == 422
    assert r.json()["code"] == "unknown_pause_reason"
    assert t.post("/api/v1/me/pause", {"reason": "lunch"}).json()["changed"] is True
    assert t.post("/api/v1/me/pause", {"reason": "lunch"}).json()["changed"] is False
    avail = t.get("/api/v1/me").json()["agent"]["availability"]
    assert (avail["paused"], avail["pause_reason"], avail["paused_by"]) == (True, "lunch", None)
    assert t.post("/api/v1/me/unpause").json()["changed"] is True


def test_state_version_moves_so_heartbeat_tells_client_to_refetch(server: LiveServer) -> None:
    t = server.login("1001")
    v1 = t.post("/api/v1/sessions/current/heartbeat").json()["state_version"]
    admin = server.login("supervisor", terminal="sup")
    admin.post("/api/v1/teams/demo/agents/1001/pause", {"reason": "meeting now",
                                                        "pause_reason": "meeting"})
    v2 = t.post("/api/v1/sessions/current/heartbeat").json()["state_version"]
    assert v2 > v1


# ------------------------------------------------------------------------- device modes


def test_fixed_device_cannot_be_changed(server: LiveServer) -> None:
    r = server.login_raw("1001", device="8002")
    assert r.status_code == 409
    assert r.json()["code"] == "device_fixed"
    t = server.login("1001", device="8001")
    assert t.put("/api/v1/me/device", {"number": "8002"}).json()["code"] == "device_fixed"


def test_self_adapting_uses_the_phone_registered_from_the_login_ip(server: LiveServer) -> None:
    r = server.login_raw("1002")
    assert r.status_code == 409
    assert r.json()["code"] == "no_device_at_ip"
    server.center.device_contact("8002", "10.1.2.3", 5062)
    assert server.login_raw("1002").json()["code"] == "no_device_at_ip"  # not this computer
    server.center.device_contact("8002", "127.0.0.1", 5062)
    t = server.login("1002")
    assert t.login["agent"]["device"]["number"] == "8002"
    assert t.put("/api/v1/me/device", {"number": "8003"}).json()["code"] == \
        "device_not_selectable"


def test_dynamic_device_is_refused_while_another_agent_uses_it(server: LiveServer) -> None:
    assert server.login_raw("1003").json()["code"] == "device_required"
    assert server.login_raw("1003", device="8001").json()["code"] == "device_in_use"  # 1001's
    carol = server.login("1003", device="8003")
    assert carol.login["agent"]["device"]["number"] == "8003"
    # The external number's extension stands for it.
    assert carol.put("/api/v1/me/device", {"number": "5000"}).json()["device"]["number"] == \
        "041139735857"
    carol.post("/api/v1/me/checkin")
    r = carol.put("/api/v1/me/device", {"number": "8003"})
    assert r.status_code == 409
    assert r.json()["code"] == "checked_in"
    carol.post("/api/v1/me/checkout")
    assert carol.put("/api/v1/me/device", {"number": "8002"}).status_code == 200
    # 1002 (self-adapting) now cannot take 8002 from this address.
    server.center.device_contact("8002", "127.0.0.1", 5062)
    assert server.login_raw("1002").json()["code"] == "device_in_use"
    # After Carol logs out, the number is free again.
    carol.delete("/api/v1/sessions/current")
    assert server.login("1002").login["agent"]["device"]["number"] == "8002"


def test_unknown_dynamic_number_is_refused(server: LiveServer) -> None:
    r = server.login_raw("1003", device="99999")
    assert r.status_code == 404
    assert r.json()["code"] == "device_not_found"


# ------------------------------------------------------------------------- team admin


def test_team_admin_force_actions_carry_who_and_why_to_the_agent(server: LiveServer) -> None:
    agent = server.login("1001")
    agent.post("/api/v1/me/checkin")
    stream = agent.events()
    admin = server.login("supervisor", terminal="sup")
    admin.post("/api/v1/teams/demo/agents/1001/pause",
               {"reason": "team meeting", "pause_reason": "meeting"})
    paused = stream.wait_for("agent.paused")
    assert (paused.data["by"], paused.data["reason"]) == ("supervisor", "team meeting")
    assert agent.get("/api/v1/me").json()["agent"]["availability"]["paused_by"] == "supervisor"
    admin.post("/api/v1/teams/demo/agents/1001/unpause", {"reason": "meeting over"})
    assert stream.wait_for("agent.unpaused").data["reason"] == "meeting over"
    admin.post("/api/v1/teams/demo/agents/1001/checkout",
               {"reason": "too many calls dropped", "groups": ["sales"]})
    out = stream.wait_for("agent.checked_out")
    assert (out.data["group"], out.data["by"], out.data["reason"]) == \
        ("sales", "supervisor", "too many calls dropped")
    r = admin.post("/api/v1/teams/demo/agents/1001/logout", {"reason": "shift over"})
    assert r.json() == {"ended": ["ws-1"]}
    ended = stream.wait_for("session.ended")
    assert (ended.data["reason"], ended.data["by"], ended.data["detail"]) == \
        ("forced", "supervisor", "shift over")
    gone = agent.get("/api/v1/me").json()
    assert (gone["code"], gone["detail"]) == ("session_revoked", "shift over")


def test_force_logout_of_one_terminal(server: LiveServer) -> None:
    server.login("1001", terminal="desk")
    b = server.login("1001", terminal="laptop")
    admin = server.login("supervisor", terminal="sup")
    r = admin.post("/api/v1/teams/demo/agents/1001/logout",
                   {"reason": "stale", "terminal_id": "desk"})
    assert r.json() == {"ended": ["desk"]}
    assert b.get("/api/v1/me").status_code == 200
    missing = admin.post("/api/v1/teams/demo/agents/1001/logout",
                         {"reason": "x", "terminal_id": "nowhere"})
    assert missing.json()["code"] == "terminal_not_found"


def test_board_shows_every_agent_with_terminals(server: LiveServer) -> None:
    server.login("1001")
    admin = server.login("supervisor", terminal="sup")
    board = admin.get("/api/v1/teams/demo/board").json()
    assert [a["number"] for a in board["agents"]] == ["1001", "1002", "1003", "1004"]
    alice = board["agents"][0]
    assert alice["sessions"][0]["ip"] == "127.0.0.1"
    assert alice["device"]["number"] == "8001"
    assert alice["device"]["sip"] is None  # the board never shows SIP secrets
