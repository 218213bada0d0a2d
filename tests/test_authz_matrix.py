"""Who may call what: every endpoint of the API against every kind of caller.

Callers: no token, a garbage token, an expired token, a revoked token, an agent, the team
admin of the team, a team admin of another team, the system admin. Endpoints come from the
router itself, so a new endpoint fails this test until it is classified below.

"Allowed" means the answer is neither 401 nor 403 (it may still be 404/409/422 for the
request's content); "refused" means 401 (no valid session) or 403 (not for this caller).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from callcenter_server.api import router
from tests.support.live import LiveServer, Terminal

PUBLIC, SESSION, AGENT, TEAM, PROVISION = "public", "session", "agent", "team", "provision"
CALLERS = ("none", "garbage", "expired", "revoked", "agent", "team_admin", "other_admin",
           "system_admin")

# What each kind of endpoint allows.
ALLOWED: dict[str, set[str]] = {
    PUBLIC: set(CALLERS),
    SESSION: {"agent", "team_admin", "other_admin", "system_admin"},
    AGENT: {"agent"},
    TEAM: {"team_admin", "system_admin"},
    PROVISION: {"team_admin", "system_admin"},  # the document names team demo
}


def kind_of(method: str, path: str) -> str:
    if path == "/api/v1/sessions" and method == "POST":
        return PUBLIC
    if path.startswith("/api/v1/sessions") or path == "/api/v1/events":
        return SESSION
    if path == "/api/v1/me" and method == "GET":
        return SESSION  # who am I: any login (an admin gets its name and team, no seat)
    if path.startswith("/api/v1/me"):
        return AGENT
    if path.startswith("/api/v1/teams/"):
        return TEAM
    if path == "/api/v1/provisioning":
        return PROVISION
    raise AssertionError(f"unclassified endpoint {method} {path}: add it to the matrix")


BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/v1/sessions"): {"team": "demo", "agent": "1002"},  # incomplete: 422
    ("POST", "/api/v1/me/checkin"): {},
    ("POST", "/api/v1/me/checkout"): {},
    ("POST", "/api/v1/me/pause"): {"reason": "rest"},
    ("PUT", "/api/v1/me/device"): {"number": "8003"},
    ("POST", "/api/v1/teams/{team}/agents/{agent}/spy"): {"mode": "listen"},
    ("POST", "/api/v1/teams/{team}/agents/{agent}/checkout"): {"reason": "matrix"},
    ("POST", "/api/v1/teams/{team}/agents/{agent}/logout"): {"reason": "matrix",
                                                             "terminal_id": "no-such-desk"},
    ("POST", "/api/v1/teams/{team}/agents/{agent}/pause"): {"reason": "matrix",
                                                            "pause_reason": "rest"},
    ("POST", "/api/v1/teams/{team}/agents/{agent}/unpause"): {"reason": "matrix"},
    ("PUT", "/api/v1/provisioning"): {"teams": [{"name": "demo", "pause_reasons": [
        {"code": "rest", "label": "Rest"}, {"code": "lunch", "label": "Lunch"}]}]},
}
PARAMS = {"/api/v1/teams/{team}/usage": {"from": "2026-01-01", "to": "2026-01-31"}}
# The one call that ends the caller's own session: made last.
LAST = ("DELETE", "/api/v1/sessions/current")


def endpoints() -> list[tuple[str, str]]:
    found = sorted((m, r.path) for r in router.routes for m in r.methods  # type: ignore[attr-defined]
                   if m not in ("HEAD", "OPTIONS"))
    return sorted(found, key=lambda e: e == LAST)


def call(http: httpx.Client, method: str, path: str, headers: dict[str, str]) -> int:
    url = path.format(team="demo", agent="1001", group="sales", number="9999")
    if path == "/api/v1/events":
        with http.stream("GET", url, headers=headers, timeout=5) as r:
            return r.status_code
    r = http.request(method, url, headers=headers, json=BODIES.get((method, path)),
                     params=PARAMS.get(path), timeout=10)
    return r.status_code


def test_every_endpoint_for_every_caller(server: LiveServer) -> None:
    server.provision({"teams": [{"name": "other", "accounts": [
        {"username": "boss", "password": "demo", "role": "team_admin"}]}]})
    http = server.http
    agent = server.login("1001", terminal="matrix-agent")
    admin = server.login("supervisor", terminal="matrix-admin")
    other = server.login("boss", team="other", terminal="matrix-other")
    system = server.login("admin", team=None, terminal="matrix-system")
    expired = server.login("1003", terminal="matrix-expired", device="8003")
    revoked = server.login("1004", terminal="matrix-revoked")
    assert admin.post("/api/v1/teams/demo/agents/1004/logout",
                      {"reason": "matrix"}).status_code == 200
    server.expire(200, keep=(agent, admin, other, system))  # 1003 stops heartbeating

    tokens: dict[str, dict[str, str]] = {
        "none": {}, "garbage": {"Authorization": "Bearer not-a-token"},
        "expired": expired.auth, "revoked": revoked.auth, "agent": agent.auth,
        "team_admin": admin.auth, "other_admin": other.auth, "system_admin": system.auth,
    }
    wrong: list[str] = []
    seen = 0
    for method, path in endpoints():
        kind = kind_of(method, path)
        for caller in CALLERS:
            status = call(http, method, path, tokens[caller])
            seen += 1
            allowed = status not in (401, 403)
            if status >= 500:
                wrong.append(f"{method} {path} as {caller}: {status}")
            elif allowed != (caller in ALLOWED[kind]):
                wrong.append(f"{method} {path} as {caller}: {status} "
                             f"(expected {'allowed' if not allowed else 'refused'})")
            elif not allowed and caller in ("none", "garbage", "expired", "revoked") \
                    and status != 401:
                wrong.append(f"{method} {path} as {caller}: {status} (expected 401)")
    print(f"{seen} calls, {len(endpoints())} endpoints x {len(CALLERS)} callers")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("caller", ["agent", "team_admin"])
def test_a_refused_answer_is_problem_json(server: LiveServer, caller: str) -> None:
    t: Terminal = server.login("1001" if caller == "agent" else "supervisor",
                               terminal=f"matrix-{caller}")
    path = "/api/v1/teams/demo/board" if caller == "agent" else "/api/v1/me/checkin"
    r = t.post(path, {}) if caller == "team_admin" else t.get(path)
    assert r.status_code == 403
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] in ("forbidden", "not_an_agent")
