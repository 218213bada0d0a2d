"""Every bad request gets a problem+json answer with a stable code, and changes nothing."""

from __future__ import annotations

import pytest

from tests.support.live import LiveServer

PROBLEM = "application/problem+json"


def assert_problem(r: object, status: int, code: str) -> None:
    import httpx

    assert isinstance(r, httpx.Response)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    body = r.json()
    assert body["code"] == code
    assert body["status"] == status
    assert body["type"].endswith(code)
    assert body["title"]


def test_malformed_json(server: LiveServer) -> None:
    r = server.http.post("/api/v1/sessions", content=b'{"team": "demo",',
                         headers={"content-type": "application/json"})
    assert_problem(r, 400, "malformed_json")


def test_wrong_content_type(server: LiveServer) -> None:
    r = server.http.post("/api/v1/sessions", content=b"team=demo&agent=1001",
                         headers={"content-type": "application/x-www-form-urlencoded"})
    assert_problem(r, 415, "unsupported_media_type")


def test_oversized_body(server: LiveServer) -> None:
    r = server.http.post("/api/v1/sessions", content=b"[" + b"1," * 40_000 + b"1]",
                         headers={"content-type": "application/json"})
    assert_problem(r, 413, "payload_too_large")


@pytest.mark.parametrize("body", [
    {},
    {"team": "demo", "agent": "1001", "password": "demo"},  # no terminal id
    {"team": "demo", "agent": "1001", "password": "demo", "terminal_id": "x", "extra": 1},
    {"team": "demo", "agent": "", "password": "demo", "terminal_id": "x"},
    {"team": "demo", "agent": "1001", "password": "demo", "terminal_id": "x" * 500},
    {"team": 5, "agent": ["1001"], "password": None, "terminal_id": "x"},
    [],
])
def test_invalid_login_bodies(server: LiveServer, body: object) -> None:
    r = server.http.post("/api/v1/sessions", json=body)
    assert_problem(r, 422, "invalid_request")
    assert r.json()["errors"]


def test_unknown_path_and_method(server: LiveServer) -> None:
    assert_problem(server.http.get("/api/v1/nope"), 404, "not_found")
    assert_problem(server.http.put("/api/v1/sessions", json={}), 405, "method_not_allowed")


def test_unicode_and_injection_text_is_just_text(server: LiveServer) -> None:
    for name in ("Ωmega' OR 1=1 --", "坐席\u0000x", '{"$ne": null}', "😀" * 20):
        r = server.login_raw(name)
        assert r.status_code in (401, 422), r.text
    t = server.login("1001")
    r = t.post("/api/v1/me/pause", {"reason": "other", "note": "午饭 '; DROP TABLE agents; --"})
    assert r.status_code == 200
    assert t.get("/api/v1/me").json()["agent"]["availability"]["pause_note"] == \
        "午饭 '; DROP TABLE agents; --"


def test_failed_request_changes_nothing(server: LiveServer) -> None:
    t = server.login("1003", device="8003")
    t.post("/api/v1/me/checkin")
    before = t.get("/api/v1/me").json()["agent"]
    r = t.put("/api/v1/me/device", {"number": "8001"})  # refused: checked in
    assert r.status_code == 409
    after = t.get("/api/v1/me").json()["agent"]
    assert after["device"] == before["device"]
    assert after["state_version"] == before["state_version"]
