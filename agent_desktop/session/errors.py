"""Errors of the session layer, keyed by the server's stable problem `code`s.

Every failure a caller can see is an `ApiError` subclass chosen by *kind* (what the UI does about
it), carrying the server's `code` (what exactly happened). Codes come from
`callcenter_server/problems.py` CODES; the client adds its own for failures that never reached
the server (network) or where the server's answer made no sense (protocol). Messages for people
live in `messages.py`, never here: these strings are for logs and developers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Server codes by kind. Unknown codes fall back to the HTTP status (see `error_from_problem`).
AUTH_CODES = frozenset({
    "bad_credentials", "unauthenticated", "invalid_token",
    "session_ended", "session_expired", "session_revoked", "session_replaced",
})
#: The codes an ended token answers with: the session is over, a new login is needed.
SESSION_OVER_CODES = frozenset({
    "session_ended", "session_expired", "session_revoked", "session_replaced",
    "invalid_token", "unauthenticated",
})
FORBIDDEN_CODES = frozenset({"forbidden", "not_an_agent"})
NOT_FOUND_CODES = frozenset({
    "not_found", "team_not_found", "agent_not_found", "group_not_found", "device_not_found",
    "terminal_not_found",
})
CONFLICT_CODES = frozenset({
    "device_fixed", "device_not_selectable", "device_required", "device_in_use",
    "no_device_at_ip", "no_device", "checked_in", "static_member", "not_member",
    "not_in_wrapup",
})
INVALID_CODES = frozenset({
    "invalid_request", "malformed_json", "unsupported_media_type", "payload_too_large",
    "unknown_pause_reason", "method_not_allowed",
})
RATE_CODES = frozenset({"rate_limited"})
UNAVAILABLE_CODES = frozenset({"pbx_unavailable", "database_unavailable", "internal_error"})

# Client-side codes (never sent by the server).
NET_REFUSED = "connection_refused"
NET_DNS = "dns_failure"
NET_TIMEOUT = "timeout"
NET_TLS = "tls_error"
NET_OTHER = "connection_failed"
NET_BAD_URL = "invalid_url"
PROTO_NOT_JSON = "not_json"            # HTML or text where JSON was expected
PROTO_BAD_JSON = "invalid_json"        # claims JSON, does not parse
PROTO_BAD_SHAPE = "unexpected_shape"   # JSON, but not the documented body
PROTO_NOT_SERVER = "not_a_callcenter_server"  # a 4xx without a problem body: wrong URL
HTTP_SERVER_ERROR = "server_error"     # 5xx without a problem body (e.g. a proxy's page)
HTTP_UNAVAILABLE = "service_unavailable"
PHONE_REJECTED = "phone_rejected"        # the PBX refused this app's phone registration
PHONE_UNREACHABLE = "phone_unreachable"  # the PBX did not answer it
PHONE_UNTRUSTED = "phone_certificate_untrusted"  # the PBX's TLS certificate did not verify


#: `session.ended` reasons (event stream, heartbeat) → the error code the agent is shown.
END_REASON_CODES = {
    "logout": "session_ended",
    "timeout": "session_expired",
    "forced": "session_revoked",
    "replaced": "session_replaced",
}


class ApiError(Exception):
    """A failed API call. `code` is stable; `status` is None when no HTTP answer came."""

    def __init__(
        self,
        code: str,
        status: int | None = None,
        title: str = "",
        detail: str = "",
        retry_after: float | None = None,
        *,
        server: str = "",
    ) -> None:
        super().__init__(f"{code}: {detail or title or code}")
        self.code = code
        self.status = status
        self.title = title
        self.detail = detail
        self.retry_after = retry_after
        #: The server's base URL (no path, no credentials), for messages such as "can't reach …".
        self.server = server

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(code={self.code!r}, status={self.status!r}, "
                f"detail={self.detail!r}, retry_after={self.retry_after!r})")


class AuthenticationError(ApiError):
    """Wrong credentials, or the token is unknown or its session is over."""

    @property
    def session_over(self) -> bool:
        """True when a logged-in terminal lost its session (not a failed login)."""
        return self.code in SESSION_OVER_CODES


class ForbiddenError(ApiError):
    pass


class NotFoundError(ApiError):
    pass


class ConflictError(ApiError):
    """The request clashes with the agent's state (device rules, membership rules)."""


class InvalidRequestError(ApiError):
    """The server refused the body (422/400/413/415): a bug in this client or bad input."""


class RateLimitedError(ApiError):
    """Too many attempts; `retry_after` says how many seconds to wait."""


class ServiceUnavailableError(ApiError):
    """5xx or the PBX is down: the server is there but cannot serve now."""


class NetworkError(ApiError):
    """No HTTP answer at all: refused, DNS, timeout, TLS, bad URL."""


class ProtocolError(ApiError):
    """An answer that is not the documented API: HTML, broken JSON, a body of the wrong shape."""


_BY_CODE: list[tuple[frozenset[str], type[ApiError]]] = [
    (AUTH_CODES, AuthenticationError),
    (FORBIDDEN_CODES, ForbiddenError),
    (NOT_FOUND_CODES, NotFoundError),
    (CONFLICT_CODES, ConflictError),
    (INVALID_CODES, InvalidRequestError),
    (RATE_CODES, RateLimitedError),
    (UNAVAILABLE_CODES, ServiceUnavailableError),
]


def class_for(code: str, status: int | None) -> type[ApiError]:
    """The error class of a server code; a code this client does not know goes by status."""
    for codes, cls in _BY_CODE:
        if code in codes:
            return cls
    if status is None:
        return ApiError
    if status == 401:
        return AuthenticationError
    if status == 403:
        return ForbiddenError
    if status == 404:
        return NotFoundError
    if status == 409:
        return ConflictError
    if status == 429:
        return RateLimitedError
    if status >= 500:
        return ServiceUnavailableError
    if 400 <= status < 500:
        return InvalidRequestError
    return ApiError


def _opt_str(body: Mapping[str, Any], key: str) -> str:
    value = body.get(key)
    return value if isinstance(value, str) else ""


def parse_retry_after(value: object) -> float | None:
    """Seconds from a `retry_after` body field or a `Retry-After` header (seconds form)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if value >= 0 else None
    if isinstance(value, str):
        try:
            seconds = float(value.strip())
        except ValueError:
            return None  # the HTTP-date form: too rare from this server to be worth parsing
        return seconds if seconds >= 0 else None
    return None


def error_from_problem(
    status: int, body: object, *, retry_after_header: str | None = None, server: str = "",
) -> ApiError | None:
    """The error for an RFC 9457 body, or None when `body` is not a problem with a `code`."""
    if not isinstance(body, Mapping):
        return None
    code = body.get("code")
    if not isinstance(code, str) or not code:
        return None
    retry_after = parse_retry_after(body.get("retry_after"))
    if retry_after is None and retry_after_header is not None:
        retry_after = parse_retry_after(retry_after_header)
    cls = class_for(code, status)
    return cls(code, status, _opt_str(body, "title"), _opt_str(body, "detail"), retry_after,
               server=server)
