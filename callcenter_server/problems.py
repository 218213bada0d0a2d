"""RFC 9457 problem details with a stable machine `code`.

Codes are part of the public API: clients map them to their own messages. Add, never rename.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

log = logging.getLogger("callcenter.api")

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:callcenter:problem:"

#: Every code the server can answer with, and its HTTP status and title.
CODES: dict[str, tuple[int, str]] = {
    "invalid_request": (422, "The request is not valid"),
    "malformed_json": (400, "The request body is not valid JSON"),
    "unsupported_media_type": (415, "Send application/json"),
    "payload_too_large": (413, "The request body is too large"),
    "not_found": (404, "No such resource"),
    "method_not_allowed": (405, "Method not allowed"),
    "unauthenticated": (401, "A bearer token is required"),
    "invalid_token": (401, "The token is not valid"),
    "session_ended": (401, "This terminal logged out"),
    "session_expired": (401, "The session timed out (no heartbeat)"),
    "session_revoked": (401, "A team admin logged this terminal out"),
    "session_replaced": (401, "A new login from the same terminal replaced this session"),
    "bad_credentials": (401, "Wrong team, agent or password"),
    "forbidden": (403, "Not allowed for this account"),
    "not_an_agent": (403, "This login has no agent seat"),
    "team_not_found": (404, "No such team"),
    "agent_not_found": (404, "No such agent"),
    "group_not_found": (404, "No such agent group"),
    "device_not_found": (404, "No such device"),
    "terminal_not_found": (404, "No such terminal for this agent"),
    "device_fixed": (409, "This agent's device is fixed and cannot be changed"),
    "device_not_selectable": (409, "This agent's device is not chosen by the agent"),
    "device_required": (409, "Give the number of the device to use"),
    "device_in_use": (409, "Another agent uses this device"),
    "no_device_at_ip": (409, "No phone is registered from this computer's address"),
    "no_device": (409, "The agent has no device"),
    "checked_in": (409, "Check out of the dynamic groups first"),
    "static_member": (409, "Static members cannot be checked out"),
    "not_member": (409, "The agent is not a member of this group"),
    "unknown_pause_reason": (422, "Not one of the team's pause reasons"),
    "not_in_wrapup": (409, "The agent is not in wrap-up"),
    "no_live_call": (409, "The agent is not on a call"),
    "no_admin_device": (409, "You have no registered phone of your own for this"),
    "rate_limited": (429, "Too many attempts; wait and try again"),
    "pbx_unavailable": (503, "The phone system is unreachable"),
    "database_unavailable": (503, "The database is unreachable; try again in a moment"),
    "internal_error": (500, "Internal server error"),
}


class ProblemError(Exception):
    def __init__(
        self,
        code: str,
        detail: str | None = None,
        *,
        retry_after: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        status, title = CODES[code]
        super().__init__(f"{code}: {detail or title}")
        self.code = code
        self.status = status
        self.title = title
        self.detail = detail or title
        self.retry_after = retry_after
        self.extra = extra or {}


class Problem(BaseModel):
    """RFC 9457 problem details; `code` is the stable machine-readable identifier."""

    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    detail: str
    code: str


def problem_response(
    code: str,
    detail: str | None = None,
    *,
    retry_after: int | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    status, title = CODES[code]
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + code,
        "title": title,
        "status": status,
        "detail": detail or title,
        "code": code,
    }
    body.update(extra or {})
    headers = dict(headers or {})
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
        body["retry_after"] = retry_after
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def responses(*codes: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` documenting the problem statuses a route can answer."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in (*codes, "invalid_request", "malformed_json", "unsupported_media_type",
                 "payload_too_large", "internal_error"):
        status, _ = CODES[code]
        entry = out.setdefault(
            status,
            {"model": Problem, "description": "", "content": {PROBLEM_MEDIA_TYPE: {}}},
        )
        entry["description"] = ", ".join(filter(None, [entry["description"], code]))
    return out


AUTH_CODES = ("unauthenticated", "invalid_token", "session_expired", "forbidden")


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> str:
    """The `Allow` header of a 405: every method some route answers on the request's path.

    Starlette's own header lists only the first route that matched the path, but each method of
    a path is its own route here.
    """
    routes = request.app.router.routes
    allowed = [
        method for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL
               for route in routes)
    ]
    return ", ".join(allowed)


def install(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(_req: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(
            exc.code, exc.detail, retry_after=exc.retry_after, extra=exc.extra
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_req: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))}
            for e in exc.errors()
        ]
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            return problem_response("malformed_json", extra={"errors": errors})
        return problem_response(
            "invalid_request", "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors),
            extra={"errors": errors},
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(req: Request, exc: StarletteHTTPException) -> JSONResponse:
        by_status = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large",
                     415: "unsupported_media_type", 400: "malformed_json"}
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # RFC 9110 §15.5.6: a 405 must say which methods the resource supports.
            headers["Allow"] = allowed_methods(req) or headers.get("Allow", "")
        return problem_response(by_status.get(exc.status_code, "invalid_request"),
                                headers=headers)

    @app.exception_handler(sa_exc.OperationalError)
    @app.exception_handler(sa_exc.InterfaceError)
    async def _database(_req: Request, exc: Exception) -> JSONResponse:
        # The database went away (restart, network): a clean 503 the client retries, not 500.
        log.warning("database unavailable: %s", type(exc.__cause__ or exc).__name__)
        return problem_response("database_unavailable", retry_after=2)

    @app.exception_handler(Exception)
    async def _crash(_req: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return problem_response("internal_error")
