"""The team admin's view against the real Asterisk: the queue panel from AMI queue events, and
listen / whisper / barge with real audio.

Phones (pjsua2 test phones, each its own process): `agents` registers the agent's device 8001,
`sup` the team admin's own phone 8009, `pstn` is the outside caller dialling queue 7001 (sales).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete
from sqlalchemy.orm import Session as DbSession

from callcenter_server.db.engine import make_engine
from callcenter_server.db.tables import QueueCall
from callcenter_server.provision import apply_document
from callcenter_server.security import FAST_PROFILE, Passwords
from tests.support.live import Terminal
from tests.support.pbx_server import PbxLab, copy_seeded_sqlite, eventually, run_lab
from tests.support.sipphone import SipPhone, phones

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

SUPERVISOR_PHONE = {"teams": [{
    "name": "demo",
    "devices": [{"number": "8009", "kind": "internal", "sip_password": "demo"}],
    "accounts": [{"username": "supervisor", "role": "team_admin", "device": "8009",
                  "display_name": "Demo supervisor"}],
    # A generous service level: the first caller below waits through a reconcile.
    "groups": [{"name": "sales", "queue": "sales", "extension": "7001", "service_level_s": 60}],
}]}

SETTLE = 1.0   # audio paths settle (jitter buffers, ChanSpy attaching) before we listen
LISTEN = 2.0   # seconds of audio judged
CALLER_HZ, SUPERVISOR_HZ = 440, 1000


class TeamLab:
    def __init__(self, lab: PbxLab, agents: SipPhone, sup: SipPhone, pstn: SipPhone) -> None:
        self.lab, self.agents, self.sup, self.pstn = lab, agents, sup, pstn
        self.registrar = f"127.0.0.1:{lab.box.sip_port}"

    def queues(self, admin: Terminal) -> dict[str, dict[str, Any]]:
        r = admin.get("/api/v1/teams/demo/queues")
        assert r.status_code == 200, r.text
        return {q["group"]: q for q in r.json()["queues"]}

    def hang_up_all(self) -> None:
        for phone in (self.pstn, self.agents, self.sup):
            phone.hangup()


@pytest.fixture
def team(sqlite_template: Path, tmp_path: Path) -> Iterator[TeamLab]:
    url = copy_seeded_sqlite(sqlite_template, tmp_path)
    engine = make_engine(url)
    with DbSession(engine) as db:
        apply_document(db, SUPERVISOR_PHONE, Passwords(FAST_PROFILE))
        db.commit()
    engine.dispose()
    for lab in run_lab(url, f"pytest-{os.getpid()}-team"):
        with phones("agents", "sup", "pstn") as (agents, sup, pstn):
            pstn.register("pstn", "pstn", f"127.0.0.1:{lab.box.sip_port}")
            t = TeamLab(lab, agents, sup, pstn)
            try:
                yield t
            finally:
                t.hang_up_all()


def agent_on_queue_call(team: TeamLab) -> tuple[Terminal, dict[str, Any], dict[str, Any]]:
    """Agent 1001 (8001) checked in to sales, answering a caller who dialled 7001."""
    team.agents.register("8001", "demo", team.registrar)
    agent = team.lab.server.login("1001")
    stream = agent.events()
    assert agent.post("/api/v1/me/checkin", {"groups": ["sales"]}).status_code == 200
    team.lab.wait_member("sales", 1)
    out = team.pstn.call("pstn", "7001")
    ring = team.agents.wait_event("incoming", 5, after=out["ts"], account="8001")
    team.agents.answer(ring["call"])
    team.pstn.wait_event("media_active", call=out["call"])
    team.agents.wait_event("media_active", call=ring["call"])
    stream.wait_for("call.answered")
    return agent, out, ring


def heard(phone: SipPhone, call: str, freq: int, start: float) -> dict[str, Any]:
    return phone.tone_check(call, freq, since_ts=start + SETTLE, until_ts=start + SETTLE + LISTEN)


def assert_hears(result: dict[str, Any], who: str) -> None:
    assert result["blocks"] >= 30, (who, result)
    # Most blocks, not all: the machine is shared, a late frame is no failure of the feature.
    assert result["present"] >= 0.8 * result["blocks"], (who, result)


def assert_silent(result: dict[str, Any], who: str) -> None:
    assert result["blocks"] >= 30, (who, result)
    assert result["present"] <= 0.05 * result["blocks"], (who, result)


def spy_call(team: TeamLab, admin: Terminal, mode: str) -> str:
    """Start listening/whispering/barging; the admin's phone answers by itself."""
    before = time.time()
    r = admin.post("/api/v1/teams/demo/agents/1001/spy", {"mode": mode})
    assert r.status_code == 202, r.text
    ring = team.sup.wait_event("incoming", 5, after=before, account="8009")
    call_info = SipPhone.header(ring, "Call-Info") or ""
    assert "answer-after=0" in call_info, ring.get("headers")
    team.sup.answer(ring["call"])
    team.sup.wait_event("media_active", call=ring["call"])
    return str(ring["call"])


def stop_spy(team: TeamLab, admin: Terminal, call: str) -> None:
    r = admin.delete("/api/v1/teams/demo/agents/1001/spy")
    assert r.status_code == 200, r.text
    assert r.json()["ended"] == 1
    team.sup.wait_event("call_state", call=call, state="DISCONNECTED")


def test_listen_whisper_and_barge_with_real_audio(team: TeamLab) -> None:
    team.sup.register("8009", "demo", team.registrar)
    admin = team.lab.server.login("supervisor", terminal="sup")
    eventually(lambda: admin.get("/api/v1/me").json()["admin_device"]["registered"], 5,
               "the server to see the supervisor's phone registered")
    agent, out, ring = agent_on_queue_call(team)
    caller, agent_call = out["call"], ring["call"]

    # Listen: the supervisor hears the caller; the agent does not hear the supervisor.
    team.pstn.send_tone(caller, CALLER_HZ)
    sup_call = spy_call(team, admin, "listen")
    team.sup.send_tone(sup_call, SUPERVISOR_HZ)
    start = time.time()
    time.sleep(SETTLE + LISTEN)
    listen = {"supervisor hears the caller": heard(team.sup, sup_call, CALLER_HZ, start),
              "agent hears the caller": heard(team.agents, agent_call, CALLER_HZ, start),
              "agent hears the supervisor": heard(team.agents, agent_call, SUPERVISOR_HZ, start),
              "caller hears the supervisor": heard(team.pstn, caller, SUPERVISOR_HZ, start)}
    print("listen:", {k: (v["present"], v["blocks"]) for k, v in listen.items()})
    assert_hears(listen["supervisor hears the caller"], "supervisor (listen)")
    assert_hears(listen["agent hears the caller"], "agent (listen)")
    assert_silent(listen["agent hears the supervisor"], "agent (listen)")
    assert_silent(listen["caller hears the supervisor"], "caller (listen)")
    stop_spy(team, admin, sup_call)

    # Whisper: the agent hears the supervisor, the caller does not (the caller is quiet now,
    # so the agent's ear has the supervisor's tone alone).
    team.pstn.stop_tone(caller)
    sup_call = spy_call(team, admin, "whisper")
    team.sup.send_tone(sup_call, SUPERVISOR_HZ)
    start = time.time()
    time.sleep(SETTLE + LISTEN)
    whisper = {"agent hears the supervisor": heard(team.agents, agent_call, SUPERVISOR_HZ, start),
               "caller hears the supervisor": heard(team.pstn, caller, SUPERVISOR_HZ, start)}
    print("whisper:", {k: (v["present"], v["blocks"]) for k, v in whisper.items()})
    assert_hears(whisper["agent hears the supervisor"], "agent (whisper)")
    assert_silent(whisper["caller hears the supervisor"], "caller (whisper)")
    stop_spy(team, admin, sup_call)

    # Barge: both hear the supervisor.
    sup_call = spy_call(team, admin, "barge")
    team.sup.send_tone(sup_call, SUPERVISOR_HZ)
    start = time.time()
    time.sleep(SETTLE + LISTEN)
    barge = {"agent hears the supervisor": heard(team.agents, agent_call, SUPERVISOR_HZ, start),
             "caller hears the supervisor": heard(team.pstn, caller, SUPERVISOR_HZ, start)}
    print("barge:", {k: (v["present"], v["blocks"]) for k, v in barge.items()})
    assert_hears(barge["agent hears the supervisor"], "agent (barge)")
    assert_hears(barge["caller hears the supervisor"], "caller (barge)")

    # The spy call ends with the agent's call (ChanSpy's E option).
    team.pstn.hangup(caller)
    team.sup.wait_event("call_state", call=sup_call, state="DISCONNECTED")
    # No call, no spying.
    eventually(lambda: agent.get("/api/v1/me").json()["agent"]["activity"]["state"] == "idle",
               5, "the agent idle again")
    r = admin.post("/api/v1/teams/demo/agents/1001/spy", {"mode": "listen"})
    assert (r.status_code, r.json()["code"]) == (409, "no_live_call")


def test_spy_needs_the_admins_phone_registered(team: TeamLab) -> None:
    admin = team.lab.server.login("supervisor", terminal="sup")
    agent_on_queue_call(team)
    r = admin.post("/api/v1/teams/demo/agents/1001/spy", {"mode": "listen"})
    assert (r.status_code, r.json()["code"]) == (409, "no_admin_device")
    team.sup.register("8009", "demo", team.registrar)
    eventually(lambda: admin.get("/api/v1/me").json()["admin_device"]["registered"], 5,
               "the server to see the supervisor's phone registered")
    spy_call(team, admin, "listen")


def test_queue_panel_follows_callers_waiting_answered_and_abandoned(team: TeamLab) -> None:
    admin = team.lab.server.login("supervisor", terminal="sup")
    stream = admin.events()
    # Nobody in sales yet: the caller waits.
    first = team.pstn.call("pstn", "7001")
    waiting = stream.wait_for("queue.changed", match=lambda e: e.data["row"]["waiting"] == 1)
    assert waiting.data["group"] == "sales"
    assert waiting.data["row"]["callers"][0]["caller_id"] == "pstn"
    sales = team.queues(admin)["sales"]
    assert sales["waiting"] == 1
    assert sales["oldest_joined_at"] is not None
    assert sales["agents"]["available"] == 0

    # After a reconnect the server asks Asterisk who waits (QueueStatus): a caller the
    # database lost (as if it joined while AMI was down) is back.
    engine = make_engine(team.lab.server.settings.db_url)
    with DbSession(engine) as db:
        db.execute(delete(QueueCall))
        db.commit()
    engine.dispose()
    assert team.queues(admin)["sales"]["waiting"] == 0
    pbx = team.lab.pbx
    connects, reconciled = pbx.ami.connects, pbx.reconciled
    writer, loop = pbx.ami._writer, pbx._loop
    assert writer is not None
    assert loop is not None
    loop.call_soon_threadsafe(writer.close)  # the AMI connection drops; the driver reconnects
    eventually(lambda: pbx.ami.connects > connects and pbx.reconciled > reconciled, 20,
               "an AMI reconnect and its reconcile")
    sales = team.queues(admin)["sales"]
    assert sales["waiting"] == 1
    assert sales["callers"][0]["caller_id"] == "pstn"

    # An agent checks in and answers: answered today, nobody waiting.
    team.agents.register("8001", "demo", team.registrar)
    agent = team.lab.server.login("1001")
    agent.post("/api/v1/me/checkin", {"groups": ["sales"]})
    ring = team.agents.wait_event("incoming", 10, after=first["ts"], account="8001")
    team.agents.answer(ring["call"])
    team.pstn.wait_event("media_active", call=first["call"])
    answered = stream.wait_for("queue.changed",
                               match=lambda e: e.data["row"]["today"]["answered"] == 1)
    assert answered.data["row"]["waiting"] == 0
    busy = eventually(lambda: team.queues(admin)["sales"]["agents"]["busy"] == 1, 5,
                      "the agent busy in the panel")
    assert busy
    team.pstn.hangup(first["call"])
    team.agents.wait_event("call_state", call=ring["call"], state="DISCONNECTED")

    # A caller who hangs up while the agent's phone rings has abandoned. (The test clock does
    # not move: the agent ends the wrap-up the call started.)
    eventually(lambda: agent.get("/api/v1/me").json()["agent"]["availability"]["wrapup"], 5,
               "the wrap-up after the answered call")
    assert agent.post("/api/v1/me/wrapup/end").json()["changed"] is True
    second = team.pstn.call("pstn", "7001")
    team.agents.wait_event("incoming", 10, after=second["ts"], account="8001")
    team.pstn.hangup(second["call"])
    stream.wait_for("queue.changed", match=lambda e: e.data["row"]["today"]["abandoned"] == 1)
    today = team.queues(admin)["sales"]["today"]
    assert (today["answered"], today["abandoned"]) == (1, 1)
    assert today["answered_in_time"] == 1  # answered within 60 s of joining
    assert today["service_level"] == 0.5
