"""Helpers of the session-layer tests: a scriptable local HTTP server and sample bodies."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(body: Any, status: int = 200, **headers: str) -> Reply:
    ctype = "application/problem+json" if status >= 400 else "application/json"
    return Reply(status, json.dumps(body).encode(), ctype, dict(headers))


def problem(code: str, status: int, detail: str = "", **extra: Any) -> Reply:
    body = {"type": f"urn:callcenter:problem:{code}", "title": code, "status": status,
            "detail": detail or code, "code": code, **extra}
    headers = {}
    if "retry_after" in extra:
        headers["Retry-After"] = str(extra["retry_after"])
    return json_reply(body, status, **headers)


Handler = Callable[[BaseHTTPRequestHandler], bool]


class FakeServer:
    """Answers each path with the Reply set in `routes`; counts requests per path.

    `streams` maps a path to a callable that writes an event stream by hand (then returns when
    the test says so), for the SSE tests.
    """

    def __init__(self) -> None:
        self.routes: dict[str, Reply] = {}
        self.streams: dict[str, Callable[[BaseHTTPRequestHandler], None]] = {}
        self.hits: dict[str, int] = {}
        self.request_headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        fake = self

        class _H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                path = self.path.split("?")[0]
                with fake._lock:
                    fake.hits[path] = fake.hits.get(path, 0) + 1
                    fake.request_headers.append(dict(self.headers))
                if path in fake.streams:
                    fake.streams[path](self)
                    self.close_connection = True
                    return
                reply = fake.routes.get(path, Reply(404, b"<html>nope</html>", "text/html"))
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_POST = do_PUT = do_DELETE = _any

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _H)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def count(self, path: str) -> int:
        with self._lock:
            return self.hits.get(path, 0)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@contextmanager
def fake_server() -> Iterator[FakeServer]:
    srv = FakeServer()
    try:
        yield srv
    finally:
        srv.close()


class GatedSession(requests.Session):
    """A requests.Session that can hold the next event-stream connection until released."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.gate.set()
        self.waiting = threading.Event()
        self.event_headers: list[dict[str, str]] = []

    def request(self, method: str | bytes, url: str | bytes,
                *args: Any, **kwargs: Any) -> requests.Response:
        if isinstance(url, str) and url.endswith("/events"):
            self.event_headers.append(dict(kwargs.get("headers") or {}))
            if not self.gate.is_set():
                self.waiting.set()
                self.gate.wait(10)
        return super().request(method, url, *args, **kwargs)


SESSION = {"id": 1, "terminal_id": "ws-1", "client_version": "t", "ip": "127.0.0.1",
           "role": "agent", "created_at": "2027-01-15T08:00:00.000Z",
           "last_heartbeat_at": "2027-01-15T08:00:00.000Z",
           "expires_at": "2027-01-15T08:01:30.000Z", "current": None}
AGENT: dict[str, Any] = {
    "number": "1001", "name": "Alice", "device_mode": "fixed",
    "device": {"number": "8001", "kind": "internal", "extension": None,
               "sip": {"username": "8001", "password": "sip-secret"}},
    "groups": [{"name": "sales", "queue": "sales", "membership": "dynamic",
                "checked_in": False, "checked_in_at": None}],
    "availability": {"logged_in": True, "checked_in": False, "paused": False,
                     "pause_reason": None, "pause_note": None, "paused_at": None,
                     "paused_by": None, "wrapup": False, "wrapup_until": None,
                     "checkout_pending": False},
    "activity": {"state": "idle", "since": None, "call": None},
    "sessions": [SESSION], "state_version": 1,
}
PAUSE_REASONS = [{"code": "rest", "label": "Rest"}]
LOGIN = {"token": "tok-123", "token_type": "Bearer", "session": SESSION, "role": "agent",
         "heartbeat_interval_s": 20, "session_timeout_s": 90, "team": "demo", "agent": AGENT,
         "pause_reasons": PAUSE_REASONS, "last_event_id": 2}
HEARTBEAT = {"server_time": "2027-01-15T08:00:00.000Z", "expires_at": "2027-01-15T08:01:30.000Z",
             "heartbeat_interval_s": 20, "state_version": 1, "notices": []}
ME = {"role": "agent", "name": "1001", "team": "demo", "terminal_id": "ws-1", "agent": AGENT,
      "pause_reasons": PAUSE_REASONS, "last_event_id": 2}
CHECKIN = {"results": [{"group": "sales", "result": "checked_in", "changed": True}],
           "state_version": 3}
BOARD = {"team": "demo", "heartbeat_interval_s": 20, "session_timeout_s": 90,
         "groups": [{"name": "sales", "queue": "sales", "extension": "7001"}],
         "agents": [AGENT], "last_event_id": 5}
USAGE = {"team": "demo", "from": "2024-01-01T00:00:00.000Z", "to": "2024-01-02T00:00:00.000Z",
         "users": [{"user": "frontdesk", "calls": 2, "billable_seconds": 61, "cost": "0.04"}]}

#: A valid sample per parser name, for the mutation property test.
SAMPLES: dict[str, Any] = {
    "parse_login": LOGIN, "parse_heartbeat": HEARTBEAT, "parse_me": ME,
    "parse_sessions": [SESSION], "parse_checkin": CHECKIN,
    "parse_changed": {"changed": True, "state_version": 2},
    "parse_device_reply": {"device": AGENT["device"], "state_version": 2},
    "parse_board": BOARD, "parse_force_logout": {"ended": ["ws-1"]}, "parse_usage": USAGE,
    "parse_provision": {"applied": {"agents": 1}}, "parse_agent": AGENT,
    "parse_device": AGENT["device"], "parse_group": AGENT["groups"][0],
    "parse_availability": AGENT["availability"], "parse_activity": AGENT["activity"],
}
