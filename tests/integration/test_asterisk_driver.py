"""The server drives a real Asterisk 22: config, queue membership, pause, reconcile, outage.

Demo data: 1001 (id 1) fixed 8001, sales+support dynamic; 1004 (id 4) fixed 8004, static in
support, dynamic in sales.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.pbx_server import PbxLab, copy_seeded_sqlite, eventually, run_lab
from tests.support.sipphone import SipPhone

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture
def lab(sqlite_template: Path, tmp_path: Path) -> Iterator[PbxLab]:
    yield from run_lab(copy_seeded_sqlite(sqlite_template, tmp_path),
                       f"pytest-{os.getpid()}-drv")


def test_devices_groups_and_static_members_reach_asterisk(lab: PbxLab) -> None:
    endpoint = lab.box.rx("pjsip show endpoint 8001")
    assert "Endpoint:  8001" in endpoint
    assert "cc-phones" in endpoint
    assert "Endpoint:  8004" in lab.box.rx("pjsip show endpoint 8004")
    support = lab.queue("support")
    assert support.startswith("support has 0 calls")
    # The static member is there without anyone logging in.
    assert lab.member_line("support", 4) is not None
    assert lab.member_line("sales", 4) is None  # dynamic there, not checked in
    assert "Queue(sales" in lab.box.rx("dialplan show 7001@cc-inbound")
    assert "041139735857" in lab.box.rx("dialplan show 5000@cc-phones")
    assert "PJSIP/8001" in lab.box.rx("dialplan show agent1@cc-agents")


def test_checkin_checkout_and_pause_follow_in_asterisk(lab: PbxLab) -> None:
    t = lab.server.login("1001")
    t.post("/api/v1/me/checkin")
    lab.wait_member("sales", 1)
    lab.wait_member("support", 1)
    t.post("/api/v1/me/pause", {"reason": "lunch"})
    lab.wait_member("sales", 1, contains="paused:lunch")
    t.post("/api/v1/me/unpause")
    eventually(lambda: "paused" not in (lab.member_line("sales", 1) or "paused"), 5, "unpause")
    t.post("/api/v1/me/groups/sales/checkout")
    lab.wait_member("sales", 1, present=False)
    lab.wait_member("support", 1)
    t.delete("/api/v1/sessions/current")  # last terminal: leaves support too
    lab.wait_member("support", 1, present=False)


def test_static_member_can_only_be_paused(lab: PbxLab) -> None:
    t = lab.server.login("1004")
    t.post("/api/v1/me/pause", {"reason": "meeting"})
    lab.wait_member("support", 4, contains="paused:meeting")
    t.post("/api/v1/me/unpause")
    t.delete("/api/v1/sessions/current")
    lab.server.expire(91)
    eventually(lambda: "paused" not in (lab.member_line("support", 4) or "paused"), 5,
               "static member unpaused and present")


@pytest.mark.fault
def test_asterisk_restart_is_reconciled_without_the_client(lab: PbxLab) -> None:
    t = lab.server.login("1001")
    t.post("/api/v1/me/checkin", {"groups": ["sales"]})
    lab.wait_member("sales", 1)
    before = lab.pbx.reconciled
    lab.box.stop()
    lab.box.start()  # persistentmembers = no: Asterisk comes back empty
    eventually(lambda: lab.pbx.reconciled > before, 15, "reconcile after restart")
    lab.wait_member("sales", 1)
    assert lab.member_line("support", 4) is not None


def test_pbx_down_answers_503_and_applies_the_intent_when_back(lab: PbxLab) -> None:
    t = lab.server.login("1001")
    lab.box.stop()
    eventually(lambda: not lab.pbx.available, 5, "AMI to notice")
    r = t.post("/api/v1/me/checkin", {"groups": ["sales"]})
    assert r.status_code == 503
    assert r.json()["code"] == "pbx_unavailable"
    assert int(r.headers["Retry-After"]) >= 1
    # Saved all the same; a retry is a no-op, and heartbeats keep working meanwhile.
    again = t.post("/api/v1/me/checkin", {"groups": ["sales"]})
    assert again.json()["results"][0]["result"] == "already_checked_in"
    assert t.post("/api/v1/sessions/current/heartbeat").status_code == 200
    lab.box.start()
    lab.wait_member("sales", 1, timeout=15)


NEW_DEVICE = {"teams": [{"name": "demo", "devices": [
    {"number": "8009", "kind": "internal", "sip_password": "nine", "owner": "frontdesk"}]}]}


def test_devices_created_and_deleted_through_the_server_follow_in_asterisk(lab: PbxLab) -> None:
    sup = lab.server.login("supervisor", terminal="sup")
    r = sup.http.put("/api/v1/provisioning", json=NEW_DEVICE, headers=sup.auth)
    assert r.status_code == 200, r.text
    assert r.json()["applied"]["devices"] == 1
    eventually(lambda: "Endpoint:  8009" in lab.box.rx("pjsip show endpoint 8009"), 5,
               "8009 on Asterisk")
    with SipPhone("p8009") as phone:
        phone.register("8009", "nine", f"127.0.0.1:{lab.box.sip_port}")
    assert sup.delete("/api/v1/teams/demo/devices/8009").status_code == 204
    eventually(lambda: "Unable to find" in lab.box.rx("pjsip show endpoint 8009"), 5,
               "8009 gone from Asterisk")
    with SipPhone("p8009b") as phone:
        name = phone.add_account("8009", password="nine", registrar=f"127.0.0.1:{lab.box.sip_port}")
        refused = phone.wait_event("reg_state", account=name, code=lambda c: c >= 400)
        assert refused["active"] is False
    # In use: refused.
    assert sup.delete("/api/v1/teams/demo/devices/8001").json()["code"] == "device_in_use"


def test_provisioning_by_another_process_reaches_asterisk(lab: PbxLab) -> None:
    """The import command writes the database; the running server notices within seconds."""
    lab.server.provision(NEW_DEVICE)
    eventually(lambda: "Endpoint:  8009" in lab.box.rx("pjsip show endpoint 8009"), 6,
               "8009 on Asterisk")


def test_team_admin_provisions_only_its_own_team(lab: PbxLab) -> None:
    sup = lab.server.login("supervisor", terminal="sup")
    other = {"teams": [{"name": "elsewhere"}]}
    r = sup.http.put("/api/v1/provisioning", json=other, headers=sup.auth)
    assert r.json()["code"] == "forbidden"
    bad = {"teams": [{"name": "demo", "agents": [{"number": "1009", "password": "x",
                                                  "device_mode": "roaming"}]}]}
    r = sup.http.put("/api/v1/provisioning", json=bad, headers=sup.auth)
    assert r.status_code == 422
    assert "roaming" in r.json()["detail"]
    agent = lab.server.login("1001")
    assert agent.http.put("/api/v1/provisioning", json=NEW_DEVICE,
                          headers=agent.auth).status_code == 403
