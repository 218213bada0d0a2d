"""The HTTP client of the agent API (`/api/v1`, docs/api.md). Blocking: call it off the GUI thread.

One `requests.Session` per server keeps connections alive between heartbeats. urllib3's Retry
absorbs short hiccups (429/502/503/504, connection setup) with a capped Retry-After, so a worker
never sleeps more than a few seconds; a longer wait is the caller's (and the agent's) business.
Login is never retried automatically: a 429 there is shown to the agent with its wait.

The bearer token lives in this object only (docs/api.md: clients keep it in memory); it is kept
out of `repr`, never logged, and only ever sent in the Authorization header.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any, Self, TypeVar
from urllib.parse import quote, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3 import exceptions as urllib3_exc
from urllib3.exceptions import MaxRetryError
from urllib3.util.retry import Retry

from . import errors as e
from . import models as m

log = logging.getLogger("agent_desktop.session.client")

T = TypeVar("T")
API = "/api/v1"
DEFAULT_TIMEOUT: tuple[float, float] = (3.05, 10.0)
#: Longest sleep urllib3 may take on one Retry-After; longer waits are not retried here.
RETRY_AFTER_CAP_S = 3.0


class CappedRetry(Retry):
    """Retry that honours Retry-After only up to `RETRY_AFTER_CAP_S`.

    A server asking for a longer wait gets its answer passed through (the caller sees a
    RateLimitedError / ServiceUnavailableError with `retry_after`) instead of a worker thread
    sleeping for it or hammering the server early.
    """

    def increment(self, method: str | None = None, url: str | None = None,
                  response: Any = None, error: Exception | None = None,
                  _pool: Any = None, _stacktrace: Any = None) -> Self:
        if response is not None and self.respect_retry_after_header:
            wait = self.get_retry_after(response)
            if wait is not None and wait > RETRY_AFTER_CAP_S:
                # With raise_on_status=False urllib3 hands back this response unretried.
                raise MaxRetryError(_pool, url or "", None)
        return super().increment(method, url, response, error, _pool, _stacktrace)


def _retry() -> Retry:
    return CappedRetry(
        total=3, connect=2, read=0, status=2, other=0,
        status_forcelist=(429, 502, 503, 504),
        # Every call here is idempotent by contract (checkin/pause/heartbeat are); POST /sessions
        # is mounted on an adapter without retries.
        allowed_methods=frozenset({"GET", "POST", "PUT", "DELETE"}),
        backoff_factor=0.3, backoff_max=RETRY_AFTER_CAP_S,
        raise_on_status=False, respect_retry_after_header=True,
    )


def _no_retry() -> Retry:
    return Retry(total=0, connect=0, read=0, status=0, other=0, redirect=0,
                 raise_on_status=False)


def normalise_base_url(url: str) -> str:
    """`host:8080` or `https://host/` → scheme://host[:port] without a trailing slash."""
    url = url.strip()
    if url and "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise e.NetworkError(e.NET_BAD_URL, detail="not an http(s) URL", server=url)
    if parts.username or parts.password:
        # Credentials in a URL end up in logs and messages; refuse rather than leak them.
        raise e.NetworkError(e.NET_BAD_URL, detail="credentials in the URL",
                             server=f"{parts.scheme}://{parts.hostname}")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def _classify_network(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.exceptions.SSLError):
        return e.NET_TLS
    if isinstance(exc, requests.exceptions.Timeout):
        return e.NET_TIMEOUT
    if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema
                  | requests.exceptions.InvalidSchema):
        return e.NET_BAD_URL
    # requests wraps urllib3 wraps socket; walk the chain for the real cause.
    chain: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and all(cause is not c for c in chain):
        chain.append(cause)
        nxt = getattr(cause, "reason", None)
        cause = nxt if isinstance(nxt, BaseException) else (cause.__cause__ or cause.__context__)
    text = " ".join(str(c) for c in chain)

    def has(kind: type[BaseException] | tuple[type[BaseException], ...]) -> bool:
        return any(isinstance(c, kind) for c in chain)

    # Most specific first: urllib3's NewConnectionError is also a ConnectTimeoutError.
    if has(socket.gaierror) or "NameResolutionError" in text:
        return e.NET_DNS
    if has(ConnectionRefusedError) or "Connection refused" in text:
        return e.NET_REFUSED
    if has((ssl.SSLError, urllib3_exc.SSLError)):
        return e.NET_TLS
    if has((TimeoutError, urllib3_exc.TimeoutError)):
        return e.NET_TIMEOUT  # a read timeout arrives wrapped in a ConnectionError
    return e.NET_OTHER


class ApiClient:
    """Every agent and team-admin call of docs/api.md. Thread-safe enough for one caller at a
    time per method; the session layer runs it on worker threads."""

    def __init__(
        self,
        base_url: str,
        *,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        verify: bool | str = True,
        client_version: str = "agent-desktop",
    ) -> None:
        self.base_url = normalise_base_url(base_url)
        self.timeout = timeout
        self.verify = verify
        self.client_version = client_version
        self.http = session or requests.Session()
        # Longest prefix wins in requests: login gets no retries, everything else does.
        self.http.mount(self.base_url + "/", HTTPAdapter(max_retries=_retry()))
        self.http.mount(self.base_url + API + "/sessions", HTTPAdapter(max_retries=_no_retry()))
        self.http.mount(self.base_url + API + "/sessions/current",
                        HTTPAdapter(max_retries=_retry()))
        self._token: str | None = None

    def __repr__(self) -> str:
        return f"ApiClient({self.base_url!r}, logged_in={self._token is not None})"

    # ----------------------------------------------------------------- plumbing

    @property
    def logged_in(self) -> bool:
        return self._token is not None

    def forget_token(self) -> None:
        self._token = None

    def auth_headers(self) -> dict[str, str]:
        """Headers for a call made outside this client (the event stream)."""
        if self._token is None:
            raise e.AuthenticationError("unauthenticated", 401, detail="not logged in",
                                        server=self.base_url)
        return {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}

    def send(self, method: str, path: str, *, body: Any = None,
             params: Mapping[str, str] | None = None, auth: bool = True,
             stream: bool = False, headers: Mapping[str, str] | None = None,
             timeout: tuple[float, float | None] | None = None) -> requests.Response:
        """One HTTP call; returns a 2xx response or raises the matching ApiError."""
        hdrs: dict[str, str] = {"Accept": "application/json"}
        if auth:
            hdrs.update(self.auth_headers())
        hdrs.update(headers or {})
        url = self.base_url + API + path
        try:
            r = self.http.request(
                method, url, json=body, params=params, headers=hdrs, stream=stream,
                timeout=timeout or self.timeout, verify=self.verify, allow_redirects=False,
            )
        except requests.RequestException as exc:
            code = _classify_network(exc)
            # The exception text holds URLs only (no headers), so it is safe for the debug log.
            log.info("%s %s failed: %s", method, path, code)
            log.debug("network error detail", exc_info=exc)
            raise e.NetworkError(code, detail=type(exc).__name__,
                                 server=self.base_url) from None
        log.debug("%s %s -> %s", method, path, r.status_code)
        if 200 <= r.status_code < 300:
            return r
        try:
            err = self._error(r)
            # One line per failed call: the diagnostics keep the last ones (logs.SERVER_ERRORS).
            log.info("%s %s failed: HTTP %s %s", method, path, r.status_code, err.code)
            raise err
        finally:
            r.close()

    def _error(self, r: requests.Response) -> e.ApiError:
        try:
            body: object = r.json()
        except ValueError:
            body = None
        err = e.error_from_problem(r.status_code, body,
                                   retry_after_header=r.headers.get("Retry-After"),
                                   server=self.base_url)
        if err is not None:
            return err
        retry_after = e.parse_retry_after(r.headers.get("Retry-After"))
        status = r.status_code
        # No problem body: something other than this API answered (proxy, wrong URL).
        if status == 429:
            return e.RateLimitedError("rate_limited", status, detail=r.reason or "",
                                      retry_after=retry_after, server=self.base_url)
        if status in (502, 503, 504):
            return e.ServiceUnavailableError(e.HTTP_UNAVAILABLE, status, detail=r.reason or "",
                                             retry_after=retry_after, server=self.base_url)
        if status >= 500:
            return e.ServiceUnavailableError(e.HTTP_SERVER_ERROR, status, detail=r.reason or "",
                                             retry_after=retry_after, server=self.base_url)
        return e.ProtocolError(e.PROTO_NOT_SERVER, status,
                               detail=f"HTTP {status} without a problem body",
                               server=self.base_url)

    def _json(self, r: requests.Response) -> object:
        ctype = r.headers.get("Content-Type", "").split(";")[0].strip().lower()
        raw = r.content
        if ctype and "json" not in ctype:
            raise e.ProtocolError(e.PROTO_NOT_JSON, r.status_code,
                                  detail=f"got {ctype or 'no content type'}",
                                  server=self.base_url)
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):
            raise e.ProtocolError(e.PROTO_BAD_JSON, r.status_code, detail="body is not JSON",
                                  server=self.base_url) from None

    def _call(self, parse: Callable[[object, str], T], method: str, path: str,
              body: Any = None, *, params: Mapping[str, str] | None = None,
              auth: bool = True) -> T:
        r = self.send(method, path, body=body, params=params, auth=auth)
        try:
            data = self._json(r)
        finally:
            r.close()
        try:
            return parse(data, path)
        except e.ProtocolError as exc:
            exc.server = self.base_url
            exc.status = r.status_code
            raise

    @staticmethod
    def _seg(name: str) -> str:
        return quote(name, safe="")

    # ----------------------------------------------------------------- sessions

    def login(self, team: str | None, agent: str, password: str, *, terminal_id: str,
              device_number: str | None = None) -> m.LoginResult:
        body: dict[str, Any] = {"team": team, "agent": agent, "password": password,
                                "terminal_id": terminal_id,
                                "client_version": self.client_version}
        if device_number:
            body["device_number"] = device_number
        result = self._call(m.parse_login, "POST", "/sessions", body, auth=False)
        self._token = result.token
        log.info("logged in as %s/%s (terminal %s, role %s)", team, agent, terminal_id,
                 result.role)
        return result

    def logout(self) -> None:
        """End this terminal's session; the token is forgotten even if the call fails."""
        try:
            self.send("DELETE", "/sessions/current").close()
        finally:
            self._token = None

    def heartbeat(self) -> m.HeartbeatReply:
        return self._call(m.parse_heartbeat, "POST", "/sessions/current/heartbeat")

    def sessions(self) -> tuple[m.SessionInfo, ...]:
        return self._call(m.parse_sessions, "GET", "/sessions")

    # ----------------------------------------------------------------- the agent

    def me(self) -> m.Me:
        return self._call(m.parse_me, "GET", "/me")

    def checkin(self, groups: list[str] | None = None) -> m.CheckinReply:
        """Check in to `groups`, or all groups when None; per-group results."""
        body = None if groups is None else {"groups": groups}
        return self._call(m.parse_checkin, "POST", "/me/checkin", body)

    def checkout(self, groups: list[str] | None = None) -> m.CheckinReply:
        body = None if groups is None else {"groups": groups}
        return self._call(m.parse_checkin, "POST", "/me/checkout", body)

    def checkin_group(self, group: str) -> m.CheckinReply:
        return self._call(m.parse_checkin, "POST", f"/me/groups/{self._seg(group)}/checkin")

    def checkout_group(self, group: str) -> m.CheckinReply:
        return self._call(m.parse_checkin, "POST", f"/me/groups/{self._seg(group)}/checkout")

    def pause(self, reason: str, note: str | None = None) -> m.ChangedReply:
        body: dict[str, Any] = {"reason": reason}
        if note:
            body["note"] = note
        return self._call(m.parse_changed, "POST", "/me/pause", body)

    def unpause(self) -> m.ChangedReply:
        return self._call(m.parse_changed, "POST", "/me/unpause")

    def end_wrapup(self) -> m.ChangedReply:
        return self._call(m.parse_changed, "POST", "/me/wrapup/end")

    def change_device(self, number: str) -> m.DeviceReply:
        return self._call(m.parse_device_reply, "PUT", "/me/device", {"number": number})

    # ----------------------------------------------------------------- team admin

    def _agent_path(self, team: str, agent: str, action: str) -> str:
        return f"/teams/{self._seg(team)}/agents/{self._seg(agent)}/{action}"

    def board(self, team: str) -> m.Board:
        return self._call(m.parse_board, "GET", f"/teams/{self._seg(team)}/board")

    def force_checkout(self, team: str, agent: str, reason: str,
                       groups: list[str] | None = None) -> m.CheckinReply:
        body: dict[str, Any] = {"reason": reason}
        if groups is not None:
            body["groups"] = groups
        return self._call(m.parse_checkin, "POST", self._agent_path(team, agent, "checkout"),
                          body)

    def force_logout(self, team: str, agent: str, reason: str,
                     terminal_id: str | None = None) -> m.ForceLogoutReply:
        body: dict[str, Any] = {"reason": reason}
        if terminal_id is not None:
            body["terminal_id"] = terminal_id
        return self._call(m.parse_force_logout, "POST", self._agent_path(team, agent, "logout"),
                          body)

    def force_pause(self, team: str, agent: str, reason: str,
                    pause_reason: str) -> m.ChangedReply:
        return self._call(m.parse_changed, "POST", self._agent_path(team, agent, "pause"),
                          {"reason": reason, "pause_reason": pause_reason})

    def force_unpause(self, team: str, agent: str, reason: str) -> m.ChangedReply:
        return self._call(m.parse_changed, "POST", self._agent_path(team, agent, "unpause"),
                          {"reason": reason})

    def team_config(self, team: str) -> dict[str, Any]:
        """The team as a provisioning document's team entry (no secrets), to edit and PUT."""
        return self._call(m.parse_object, "GET", f"/teams/{self._seg(team)}/config")

    def queues(self, team: str) -> m.Queues:
        return self._call(m.parse_queues, "GET", f"/teams/{self._seg(team)}/queues")

    def spy(self, team: str, agent: str, mode: str) -> m.SpyReply:
        """Listen / whisper / barge: the server calls this admin's own phone."""
        return self._call(m.parse_spy, "POST", self._agent_path(team, agent, "spy"),
                          {"mode": mode})

    def stop_spy(self, team: str, agent: str) -> None:
        self.send("DELETE", self._agent_path(team, agent, "spy")).close()

    def usage(self, team: str, first: date, last: date) -> m.Usage:
        return self._call(m.parse_usage, "GET", f"/teams/{self._seg(team)}/usage",
                          params={"from": first.isoformat(), "to": last.isoformat()})

    def provision(self, document: Mapping[str, Any]) -> m.ProvisionReply:
        return self._call(m.parse_provision, "PUT", "/provisioning", dict(document))

    def delete_device(self, team: str, number: str) -> None:
        self.send("DELETE", f"/teams/{self._seg(team)}/devices/{self._seg(number)}").close()

    def close(self) -> None:
        self.http.close()
