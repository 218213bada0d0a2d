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
