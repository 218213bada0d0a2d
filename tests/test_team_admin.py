"""The team admin's view (issue 6) through the HTTP API, on SQLite and PostgreSQL: the live board
and its events, the queue panel, listen/whisper/barge requests and the team's configuration.

PBX inputs (registrations, call activity, queue callers) are fed through the same service
methods the Asterisk driver calls; tests/integration/test_team_admin_calls.py drives them from
a real Asterisk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from callcenter_server.app import build_center
from callcenter_server.model import Activity
from callcenter_server.pbx import NoPbx
from tests.support.live import EventReader, LiveServer, Sse, Terminal

SUPERVISOR_PHONE = {"teams": [{
    "name": "demo",
    "devices": [{"number": "8009", "kind": "internal", "sip_password": "demo"}],
    "accounts": [{"username": "supervisor", "role": "team_admin", "device": "8009",
                  "display_name": "Demo supervisor"}],
}]}

OTHER_TEAM = {"teams": [{
    "name": "other",
    "accounts": [{"username": "boss", "password": "pw", "role": "team_admin"}],
    "devices": [{"number": "9201", "kind": "internal", "sip_password": "x"}],
    "groups": [{"name": "q", "queue": "other-q"}],
    "agents": [{"number": "2001", "password": "pw", "device_mode": "fixed", "device": "9201",
                "groups": ["q"]}],
}]}


def row(admin: Terminal, number: str) -> dict[str, Any]:
    board = admin.get("/api/v1/teams/demo/board")
    assert board.status_code == 200, board.text
    return next(a for a in board.json()["agents"] if a["number"] == number)


def queue(admin: Terminal, group: str) -> dict[str, Any]:
    r = admin.get("/api/v1/teams/demo/queues")
    assert r.status_code == 200, r.text
    return next(q for q in r.json()["queues"] if q["group"] == group)


def without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


def board_events(stream: EventReader, agent: str, until: str) -> list[Sse]:
    """Board events of `agent` up to the one whose row has availability status `until`."""
    out = []
    while True:
        ev = stream.wait_for("board.agent_changed", match=lambda e: e.data["agent"] == agent)
        out.append(ev)
        if ev.data["row"]["availability"]["status"] == until:
            return out


# ----------------------------------------------------------------- the board


def test_board_row_has_status_since_registration_terminals_and_client(server: LiveServer) -> None:
    admin = server.login("supervisor", terminal="sup")
    r = row(admin, "1001")
    assert r["availability"]["status"] == "logged_out"
    assert r["availability"]["since"] is None  # never logged in
    assert r["terminals"] == 0

    ua = {"User-Agent": "AgentDesktop/1.4.2 (Windows 11)"}
    r1 = server.login_raw("1001", terminal="desk", headers=ua)
    assert r1.status_code == 201
    desk = Terminal(server.http, r1.json())
    server.clock.advance(5)
    server.login("1001", terminal="laptop")
    r = row(admin, "1001")
    assert r["availability"]["status"] == "logged_in"
    assert r["availability"]["since"] == desk.login["session"]["created_at"]
    assert r["terminals"] == 2
    by_terminal = {s["terminal_id"]: s for s in r["sessions"]}
    assert by_terminal["desk"]["user_agent"] == "AgentDesktop/1.4.2 (Windows 11)"
    assert by_terminal["desk"]["client_version"] == "test/1"
    assert by_terminal["desk"]["ip"] == "127.0.0.1"
    assert r["device"]["number"] == "8001"
    assert r["device"]["registered"] is False
    assert r["device"]["contact"] is None
    assert "sip" not in r["device"] or r["device"]["sip"] is None  # no secrets on the board

    server.center.device_contact("8001", "10.1.2.3", 5062)
    r = row(admin, "1001")
    assert r["device"]["registered"] is True
    assert r["device"]["contact"]["ip"] == "10.1.2.3"
    assert r["device"]["contact"]["port"] == 5062

    server.clock.advance(5)
    desk.post("/api/v1/me/checkin", {"groups": ["sales"]})
    r = row(admin, "1001")
    assert r["availability"]["status"] == "checked_in"
    assert {g["name"]: (g["membership"], g["checked_in"]) for g in r["groups"]} == {
        "sales": ("dynamic", True), "support": ("dynamic", False)}
    checked_in_at = r["availability"]["since"]

    server.clock.advance(5)
    desk.post("/api/v1/me/pause", {"reason": "lunch"})
    r = row(admin, "1001")
    assert r["availability"]["status"] == "paused"
    assert r["availability"]["pause_reason"] == "lunch"
    assert r["availability"]["since"] == r["availability"]["paused_at"] != checked_in_at
    desk.post("/api/v1/me/unpause")
    assert row(admin, "1001")["availability"]["since"] == checked_in_at

    server.center.call_activity("8001", Activity.RINGING,
                                {"caller_id": "0301234", "queue": "sales"})
    server.clock.advance(2)
    server.center.call_activity("8001", Activity.TALKING)
    r = row(admin, "1001")
    assert r["activity"]["state"] == "talking"
    assert r["activity"]["caller_id"] == "0301234"
    server.center.call_activity("8001", Activity.HOLD)
    assert row(admin, "1001")["activity"]["state"] == "hold"
    server.clock.advance(3)
    server.center.call_activity("8001", Activity.IDLE, answered=True)
    r = row(admin, "1001")
    assert r["activity"] == {"state": "idle", "since": r["activity"]["since"], "caller_id": None,
                             "call": None}
    assert r["availability"]["status"] == "wrapup"  # the demo team has 10 s of wrap-up
    assert r["availability"]["since"] == r["activity"]["since"]

    for t in (desk, server.login("1001", terminal="laptop")):
        t.delete("/api/v1/sessions/current")
    r = row(admin, "1001")
    assert r["availability"]["status"] == "logged_out"
    assert r["availability"]["since"] is not None
    assert r["terminals"] == 0


def test_every_board_change_is_an_event_with_the_whole_row(server: LiveServer) -> None:
    admin = server.login("supervisor", terminal="sup")
    stream = admin.events()
    agent = server.login("1001", terminal="desk")
    agent_stream = agent.events()
    laptop = server.login("1001", terminal="laptop")
    agent.post("/api/v1/me/checkin")
    agent.post("/api/v1/me/pause", {"reason": "rest"})
    server.center.device_contact("8001", "10.9.9.9", 5060)
    server.center.call_activity("8001", Activity.RINGING, {"caller_id": "555", "queue": "sales"})
    laptop.delete("/api/v1/sessions/current")  # not the last terminal: only the row changes

    events = board_events(stream, "1001", "logged_in")  # the first login
    events += board_events(stream, "1001", "checked_in")
    events += board_events(stream, "1001", "paused")

    def next_row(what: str, check: Any) -> dict[str, Any]:
        ev = stream.wait_for("board.agent_changed", match=lambda e: e.data["agent"] == "1001")
        events.append(ev)
        assert check(ev.data["row"]), (what, ev.data["row"])
        return dict(ev.data["row"])

    next_row("registered", lambda r: r["device"]["registered"] is True)
    next_row("ringing", lambda r: r["activity"]["state"] == "ringing")
    last = next_row("laptop gone", lambda r: r["terminals"] == 1)
    versions = [e.data["version"] for e in events]
    assert versions == sorted(set(versions)), versions  # strictly increasing
    assert all(e.data["version"] == e.data["row"]["state_version"] for e in events)
    # The last event's row is the board's row: a client that applies the events has the board.
    # (The served row also spells out fields that are null, such as `sip`.)
    assert without_nulls(last) == without_nulls(row(admin, "1001"))
    # Agents do not get the board events (the team admins do).
    agent.post("/api/v1/me/unpause")
    agent_stream.wait_for("agent.unpaused")
    assert not [e for e in agent_stream.seen if e.type.startswith(("board.", "queue."))]


def test_board_events_belong_to_their_team(server: LiveServer) -> None:
    server.provision(OTHER_TEAM)
    admin = server.login("supervisor", terminal="sup")
    stream = admin.events()
    server.login("2001", team="other", password="pw")
    server.login("1003", device="8003")
    ev = stream.wait_for("board.agent_changed")
    assert ev.data["agent"] == "1003"
    boss = server.login("boss", team="other", password="pw", terminal="boss")
    assert boss.get("/api/v1/teams/demo/board").json()["code"] == "forbidden"
    assert [a["number"] for a in boss.get("/api/v1/teams/other/board").json()["agents"]] == [
        "2001"]


# ----------------------------------------------------------------- the queue panel


def test_queue_panel_counts_waiting_answered_abandoned_and_service_level(
        server: LiveServer) -> None:
    cc = server.center
    admin = server.login("supervisor", terminal="sup")
    stream = admin.events()
    q = queue(admin, "sales")
    assert (q["waiting"], q["longest_wait_s"], q["oldest_joined_at"]) == (0, 0.0, None)
    assert q["today"]["service_level"] is None
    assert q["service_level_s"] == 20

    cc.queue_caller("sales", "call-1", "joined", caller_id="0301", caller_name="Ann")
    server.clock.advance(10)
    cc.queue_caller("sales", "call-2", "joined", caller_id="0302")
    server.clock.advance(5)
    q = queue(admin, "sales")
    assert q["waiting"] == 2
    assert q["longest_wait_s"] == 15.0
    assert [c["caller_id"] for c in q["callers"]] == ["0301", "0302"]
    assert queue(admin, "support")["waiting"] == 0

    # Asterisk reports the leave before the agent connect; the same event twice counts once.
    cc.queue_caller("sales", "call-1", "left")
    cc.queue_caller("sales", "call-1", "answered", wait_s=15)
    cc.queue_caller("sales", "call-1", "answered", wait_s=15)
    server.clock.advance(30)
    cc.queue_caller("sales", "call-2", "abandoned", wait_s=35)
    cc.queue_caller("sales", "call-2", "left")
    cc.queue_caller("sales", "call-3", "joined", caller_id="0303")
    server.clock.advance(25)
    cc.queue_caller("sales", "call-3", "answered", wait_s=25)  # late: outside 20 s
    cc.queue_caller("sales", "call-3", "left")
    cc.queue_caller("sales", "call-4", "joined")
    cc.queue_caller("sales", "call-4", "left")  # left otherwise (timeout): no outcome
    cc.queue_caller("nosuchqueue", "call-5", "joined")
    q = queue(admin, "sales")
    assert q["waiting"] == 0
    assert q["today"]["answered"] == 2
    assert q["today"]["abandoned"] == 1
    assert q["today"]["answered_in_time"] == 1
    assert q["today"]["service_level"] == pytest.approx(1 / 3, abs=1e-4)

    changes = []
    while len(changes) < 2 or changes[-1].data["row"]["today"]["answered"] < 2:
        changes.append(stream.wait_for("queue.changed",
                                       match=lambda e: e.data["group"] == "sales"))
    versions = [e.data["version"] for e in changes]
    assert versions == sorted(set(versions)), versions
    assert changes[0].data["row"]["waiting"] == 1

    # Tomorrow (UTC) starts from zero.
    server.clock.advance(24 * 3600)
    today = queue(admin, "sales")["today"]
    assert (today["answered"], today["abandoned"], today["service_level"]) == (0, 0, None)


def test_queue_panel_agent_counts(server: LiveServer) -> None:
    admin = server.login("supervisor", terminal="sup")
    alice = server.login("1001")
    alice.post("/api/v1/me/checkin")
    carol = server.login("1003", device="8003")
    carol.post("/api/v1/me/checkin")
    dave = server.login("1004")  # static in support, dynamic (not checked in) in sales
    counts = queue(admin, "support")["agents"]
    assert counts == {"in_queue": 3, "available": 3, "paused": 0, "busy": 0, "no_device": 0}
    carol.post("/api/v1/me/pause", {"reason": "rest"})
    server.center.call_activity("8004", Activity.TALKING)
    counts = queue(admin, "support")["agents"]
    assert counts == {"in_queue": 3, "available": 1, "paused": 1, "busy": 1, "no_device": 0}
    assert queue(admin, "sales")["agents"]["in_queue"] == 1  # only alice
    dave.delete("/api/v1/sessions/current")
    assert queue(admin, "support")["agents"]["in_queue"] == 3  # static stays in the queue


def test_reconnect_reconciles_the_waiting_callers(server: LiveServer) -> None:
    cc = server.center
    admin = server.login("supervisor", terminal="sup")
    cc.queue_caller("sales", "gone", "joined")
    cc.queue_caller("sales", "stays", "joined", caller_id="0301")
    server.clock.advance(10)
    # After a reconnect the PBX's QueueStatus says who is waiting now.
    cc.queue_waiting([("sales", "stays", "0301", "", 10.0),
                      ("support", "missed", "0302", "Bob", 4.0),
                      ("nosuchqueue", "x", "", "", 1.0)])
    sales, support = queue(admin, "sales"), queue(admin, "support")
    assert [c["caller_id"] for c in sales["callers"]] == ["0301"]
    assert sales["longest_wait_s"] == 10.0
    assert support["waiting"] == 1
    assert support["longest_wait_s"] == 4.0
    assert support["callers"][0]["caller_name"] == "Bob"
    assert sales["today"]["abandoned"] == 0  # the one that went unheard has no outcome

    # A caller whose join event overtook the PBX's answer is not closed by it.
    asked_at = server.clock.now()
    server.clock.advance(1)
    cc.queue_caller("sales", "late", "joined", caller_id="0309")
    cc.queue_waiting([("sales", "stays", "0301", "", 11.0)], asked_at)
    assert [c["caller_id"] for c in queue(admin, "sales")["callers"]] == ["0301", "0309"]


def test_two_server_instances_count_the_same_calls_once(server: LiveServer) -> None:
    second = build_center(server.settings, clock=server.clock)
    try:
        for cc in (server.center, second):  # both hear the same AMI events
            cc.queue_caller("support", "c1", "joined", caller_id="0301")
            cc.queue_caller("support", "c1", "left")
            cc.queue_caller("support", "c1", "answered", wait_s=3)
            cc.queue_caller("support", "c2", "joined")
            cc.queue_caller("support", "c2", "abandoned", wait_s=40)
        admin = server.login("supervisor", terminal="sup")
        today = queue(admin, "support")["today"]
        assert (today["answered"], today["abandoned"], today["answered_in_time"]) == (1, 1, 1)
    finally:
        second.dispose()


def test_service_level_threshold_is_per_group(server: LiveServer) -> None:
    admin = server.login("supervisor", terminal="sup")
    r = admin.put("/api/v1/provisioning", {"teams": [{
        "name": "demo", "groups": [{"name": "sales", "queue": "sales", "extension": "7001",
                                    "service_level_s": 30}]}]})
    assert r.status_code == 200, r.text
    server.center.queue_caller("sales", "c1", "joined")
    server.center.queue_caller("sales", "c1", "answered", wait_s=25)
    q = queue(admin, "sales")
    assert q["service_level_s"] == 30
    assert q["today"]["service_level"] == 1.0
    bad = admin.put("/api/v1/provisioning", {"teams": [{
        "name": "demo", "groups": [{"name": "sales", "service_level_s": 0}]}]})
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_request"


# ----------------------------------------------------------------- listen / whisper / barge


@dataclass
class RecordingPbx(NoPbx):
    calls: list[dict[str, Any]] = field(default_factory=list)
    stops: list[dict[str, Any]] = field(default_factory=list)

    def spy(self, *, agent_id: int, agent_device: str, admin_device: str, mode: str,
            label: str) -> str:
        self.calls.append({"agent_device": agent_device, "admin_device": admin_device,
                           "mode": mode, "label": label})
        return f"spy-{len(self.calls)}"

    def stop_spy(self, *, agent_id: int, admin_device: str) -> int:
        self.stops.append({"agent_id": agent_id, "admin_device": admin_device})
        return 1


def test_spy_rings_the_admins_registered_phone(server: LiveServer) -> None:
    pbx = RecordingPbx()
    server.center.pbx = pbx
    server.provision(SUPERVISOR_PHONE)
    admin = server.login("supervisor", terminal="sup")
    assert admin.login["admin_device"]["number"] == "8009"
    assert admin.login["admin_device"]["sip"] == {"username": "8009", "password": "demo"}
    server.login("1001")
    url = "/api/v1/teams/demo/agents/1001/spy"

    r = admin.post(url, {"mode": "listen"})
    assert (r.status_code, r.json()["code"]) == (409, "no_live_call")
    server.center.call_activity("8001", Activity.RINGING, {"caller_id": "555"})
    assert admin.post(url, {"mode": "listen"}).json()["code"] == "no_live_call"
    server.center.call_activity("8001", Activity.TALKING)
    r = admin.post(url, {"mode": "listen"})
    assert (r.status_code, r.json()["code"]) == (409, "no_admin_device")
    assert "not registered" in r.json()["detail"]

    server.center.device_contact("8009", "127.0.0.1", 5070)
    for mode in ("listen", "whisper", "barge"):
        r = admin.post(url, {"mode": mode})
        assert r.status_code == 202, r.text
        assert r.json()["mode"] == mode
        assert r.json()["device"] == "8009"
    assert [c["mode"] for c in pbx.calls] == ["listen", "whisper", "barge"]
    assert {(c["agent_device"], c["admin_device"], c["label"]) for c in pbx.calls} == {
        ("8001", "8009", "1001")}
    r = admin.delete(url)
    assert (r.status_code, r.json()) == (200, {"ended": 1})
    server.center.call_activity("8001", Activity.HOLD)
    assert admin.post(url, {"mode": "whisper"}).status_code == 202  # on hold is a live call

    bad = admin.post(url, {"mode": "shout"})
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_request")


def test_spy_is_refused_for_other_teams_agents_and_admins_without_a_phone(
        server: LiveServer) -> None:
    server.center.pbx = RecordingPbx()
    server.provision(OTHER_TEAM)
    admin = server.login("supervisor", terminal="sup")
    server.login("2001", team="other", password="pw")
    server.center.call_activity("9201", Activity.TALKING)
    server.login("1001")
    server.center.call_activity("8001", Activity.TALKING)

    other = admin.post("/api/v1/teams/other/agents/2001/spy", {"mode": "listen"})
    missing = admin.post("/api/v1/teams/nope/agents/2001/spy", {"mode": "listen"})
    assert other.status_code == missing.status_code == 403
    assert other.json() == missing.json()
    assert admin.delete("/api/v1/teams/other/agents/2001/spy").json() == missing.json()
    r = admin.post("/api/v1/teams/demo/agents/9999/spy", {"mode": "listen"})
    assert (r.status_code, r.json()["code"]) == (404, "agent_not_found")
    # The demo supervisor has no phone of its own.
    r = admin.post("/api/v1/teams/demo/agents/1001/spy", {"mode": "listen"})
    assert (r.status_code, r.json()["code"]) == (409, "no_admin_device")
    agent = server.login("1004")
    r = agent.post("/api/v1/teams/demo/agents/1001/spy", {"mode": "listen"})
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")


def test_spy_without_a_phone_system_is_503(server: LiveServer) -> None:
    server.provision(SUPERVISOR_PHONE)
    server.center.device_contact("8009", "127.0.0.1", 5070)
    admin = server.login("supervisor", terminal="sup")
    server.login("1001")
    server.center.call_activity("8001", Activity.TALKING)
    r = admin.post("/api/v1/teams/demo/agents/1001/spy", {"mode": "listen"})
    assert (r.status_code, r.json()["code"]) == (503, "pbx_unavailable")
    assert r.headers["retry-after"]


def test_an_admins_device_must_be_an_internal_device_of_the_team(server: LiveServer) -> None:
    admin = server.login("supervisor", terminal="sup")
    for number in ("041139735857", "9999"):
        r = admin.put("/api/v1/provisioning", {"teams": [{"name": "demo", "accounts": [
            {"username": "supervisor", "role": "team_admin", "device": number}]}]})
        assert r.status_code == 422, r.text
    r = admin.put("/api/v1/provisioning", {"teams": [{"name": "demo", "accounts": [
        {"username": "frontdesk", "role": "user", "device": "8002"}]}]})
    assert r.status_code == 422
    server.provision(SUPERVISOR_PHONE)
    r = admin.delete("/api/v1/teams/demo/devices/8009")
    assert (r.status_code, r.json()["code"]) == (409, "device_in_use")


# ----------------------------------------------------------------- the team's configuration


def test_team_config_reads_what_provisioning_wrote_without_secrets(server: LiveServer) -> None:
    server.provision(SUPERVISOR_PHONE)
    admin = server.login("supervisor", terminal="sup")
    r = admin.get("/api/v1/teams/demo/config")
    assert r.status_code == 200, r.text
    cfg = r.json()
    assert (cfg["name"], cfg["heartbeat_interval_s"], cfg["session_timeout_s"],
            cfg["wrapup_s"]) == ("demo", 20, 90, 10)
    assert [p["code"] for p in cfg["pause_reasons"]][:2] == ["training", "meeting"]
    assert cfg["rates"] == [{"prefix": "0", "per_minute": "0.0200"},
                            {"prefix": "00", "per_minute": "0.2500"}]
    accounts = {a["username"]: a for a in cfg["accounts"]}
    assert accounts["supervisor"] == {"username": "supervisor", "role": "team_admin",
                                      "display_name": "Demo supervisor", "device": "8009"}
    devices = {d["number"]: d for d in cfg["devices"]}
    assert devices["041139735857"]["extension"] == "5000"
    assert devices["8001"]["owner"] == "frontdesk"
    assert "password" not in r.text
    assert {g["name"]: g["service_level_s"] for g in cfg["groups"]} == {"sales": 20,
                                                                         "support": 20}
    agents = {a["number"]: a for a in cfg["agents"]}
    assert sorted(agents["1004"]["groups"], key=lambda g: g["name"]) == [
        {"name": "sales", "membership": "dynamic"}, {"name": "support", "membership": "static"}]
    assert agents["1001"]["device"] == "8001"
    assert agents["1003"]["device_mode"] == "dynamic"

    # What GET gives, PUT takes back unchanged (secrets left out keep the stored ones).
    edited = dict(cfg)
    edited["wrapup_s"] = 15
    r = admin.put("/api/v1/provisioning", {"teams": [edited]})
    assert r.status_code == 200, r.text
    again = admin.get("/api/v1/teams/demo/config").json()
    assert again == {**cfg, "wrapup_s": 15}
    assert server.login("1001", terminal="after").login["agent"]["device"]["sip"] == {
        "username": "8001", "password": "demo"}


def test_team_config_is_for_the_teams_admins(server: LiveServer) -> None:
    server.provision(OTHER_TEAM)
    admin = server.login("supervisor", terminal="sup")
    assert admin.get("/api/v1/teams/other/config").json()["code"] == "forbidden"
    assert admin.get("/api/v1/teams/nope/config").json()["code"] == "forbidden"
    assert server.login("1001").get("/api/v1/teams/demo/config").status_code == 403
    root = server.login("admin", team=None, terminal="root")
    assert root.get("/api/v1/teams/other/config").json()["agents"][0]["number"] == "2001"
    assert root.get("/api/v1/teams/nope/config").json()["code"] == "team_not_found"


def test_configuration_changes_tell_the_admins_to_refetch(server: LiveServer) -> None:
    admin = server.login("supervisor", terminal="sup")
    stream = admin.events()
    r = admin.put("/api/v1/provisioning", {"teams": [{"name": "demo", "wrapup_s": 5}]})
    assert r.status_code == 200, r.text
    ev = stream.wait_for("team.config_changed")
    assert (ev.data["team"], ev.data["by"]) == ("demo", "supervisor")
    server.provision(SUPERVISOR_PHONE)
    admin.put("/api/v1/provisioning", {"teams": [{"name": "demo", "accounts": [
        {"username": "supervisor", "role": "team_admin", "device": None}]}]})
    stream.wait_for("team.config_changed")
    assert admin.delete("/api/v1/teams/demo/devices/8009").status_code == 204
    stream.wait_for("team.config_changed")


def test_a_call_that_ends_on_hold_is_ended_with_wrapup(server: LiveServer) -> None:
    t = server.login("1001")
    stream = t.events()
    server.center.call_activity("8001", Activity.RINGING, {"caller_id": "555"})
    server.center.call_activity("8001", Activity.TALKING)
    server.center.call_activity("8001", Activity.HOLD)
    server.center.call_activity("8001", Activity.IDLE, answered=True)
    stream.wait_for("call.hold")
    ended = stream.wait_for("call.ended")
    assert ended.data["answered"] is True
    stream.wait_for("agent.wrapup_started")
    assert "call.resumed" not in [e.type for e in stream.seen]
