"""Billing rules on the server side: who pays for a PBX call record, and the usage report.

The PBX input (a CDR as Asterisk's cdr_manager sends it) is fed directly here; the integration
tests prove the same with real calls through Asterisk.
"""

from __future__ import annotations

from datetime import UTC, datetime

from tests.support.live import LiveServer


def cdr(uniqueid: str, userfield: str, destination: str, billsec: int,
        start: str = "2026-11-27 10:00:00") -> dict[str, str]:
    return {"Event": "Cdr", "UniqueID": uniqueid, "UserField": userfield, "Source": "8001",
            "Destination": destination, "StartTime": start, "AnswerTime": start,
            "EndTime": start, "BillableSeconds": str(billsec), "Disposition": "ANSWERED"}


def usage(server: LiveServer, first: str = "2026-11-01", last: str = "2026-11-30") -> dict:
    sup = server.login("supervisor", terminal="sup")
    r = sup.get(f"/api/v1/teams/demo/usage?from={first}&to={last}")
    assert r.status_code == 200, r.text
    return {u["user"]: u for u in r.json()["users"]}


def test_outside_call_is_billed_to_the_owner_of_the_calling_device(server: LiveServer) -> None:
    # Demo rates: "0" 0.02/min, "00" 0.25/min; 8001 belongs to frontdesk.
    assert server.center.record_cdr(cdr("c1", "billto=8001", "0301234567", 61))
    assert server.center.record_cdr(cdr("c2", "billto=8001", "0044123", 30))
    by_user = usage(server)
    assert by_user["frontdesk"] == {"user": "frontdesk", "calls": 2, "billable_seconds": 91,
                                    "cost": "0.2900"}  # 2 min x 0.02 + 1 min x 0.25


def test_extension_for_an_outside_number_bills_the_external_device_owner(
    server: LiveServer,
) -> None:
    # 5000 stands for 041139735857 (owner: backoffice); the dial plan marks billto=<number>.
    assert server.center.record_cdr(cdr("c3", "billto=041139735857", "5000", 120))
    assert usage(server)["backoffice"]["cost"] == "0.0400"


def test_unbilled_and_repeated_records_are_ignored(server: LiveServer) -> None:
    assert not server.center.record_cdr(cdr("c4", "", "8002", 50))  # internal call
    assert server.center.record_cdr(cdr("c5", "billto=8001", "0301", 10))
    assert not server.center.record_cdr(cdr("c5", "billto=8001", "0301", 10))  # CDR resent
    assert not server.center.record_cdr(cdr("c6", "billto=9999", "0301", 10))  # unknown device
    assert usage(server)["frontdesk"]["calls"] == 1


def test_usage_range_and_permissions(server: LiveServer) -> None:
    server.center.record_cdr(cdr("c7", "billto=8001", "0301", 60, start="2026-10-31 23:00:00"))
    day = datetime.fromtimestamp(
        datetime.strptime("2026-10-31 23:00:00", "%Y-%m-%d %H:%M:%S").astimezone().timestamp(),
        UTC).date().isoformat()
    assert usage(server, day, day)["frontdesk"]["calls"] == 1
    assert usage(server, "2025-01-01", "2025-01-31") == {}
    sup = server.login("supervisor", terminal="sup2")
    bad = sup.get("/api/v1/teams/demo/usage?from=2026-11-30&to=2026-11-01")
    assert bad.json()["code"] == "invalid_request"
    agent = server.login("1001")
    assert agent.get("/api/v1/teams/demo/usage?from=2026-11-01&to=2026-11-02").status_code == 403
