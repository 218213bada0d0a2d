"""A live server in a thread, and small HTTP helpers the API tests share."""

from __future__ import annotations

import contextlib
import json
import queue
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import uvicorn
from sqlalchemy.orm import Session as DbSession

from callcenter_server.app import Settings, build_center, create_app
from callcenter_server.clock import Clock, ManualClock
from callcenter_server.pbx import PbxPort
from callcenter_server.provision import apply_document
from callcenter_server.security import FAST_PROFILE, Passwords
from callcenter_server.service import CallCenter
from tests.support.postgres import free_port


@dataclass
class Sse:
    id: int | None
    type: str
    data: dict[str, Any]


class EventReader:
    """Reads a server-sent event stream on a thread; tests wait for matching events."""

    def __init__(self, client: httpx.Client, headers: dict[str, str]) -> None:
        self.events: queue.Queue[Sse | None] = queue.Queue()
        self.comments: list[str] = []
        self.seen: list[Sse] = []
        self._client = client
        self._headers = headers
        self._stop = threading.Event()
        self.status: int | None = None
        self.connected = threading.Event()
        self.closed = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self.connected.wait(5), "event stream did not connect"

    def _run(self) -> None:
        try:
            with self._client.stream("GET", "/api/v1/events", headers=self._headers,
                                     timeout=httpx.Timeout(10, read=None)) as r:
                self.status = r.status_code
                self.connected.set()
                ev: dict[str, Any] = {}
                for line in r.iter_lines():
                    if self._stop.is_set():
                        return
                    if line.startswith(":"):
                        self.comments.append(line)
                    elif line == "":
                        if "event" in ev:
                            self.events.put(Sse(int(ev["id"]) if "id" in ev else None,
                                                ev["event"], json.loads(ev.get("data", "{}"))))
                        ev = {}
                    elif ":" in line:
                        k, _, v = line.partition(":")
                        ev[k] = v.lstrip()
        except httpx.HTTPError:
            pass
        finally:
            self.connected.set()
            self.closed.set()
            self.events.put(None)

    def wait_for(self, etype: str, timeout: float = 5.0,
                 match: Callable[[Sse], bool] | None = None) -> Sse:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {etype} event; saw {[e.type for e in self.seen]}")
            try:
                ev = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if ev is None:
                raise AssertionError(f"stream closed before {etype}; saw "
                                     f"{[e.type for e in self.seen]}")
            self.seen.append(ev)
            if ev.type == etype and (match is None or match(ev)):
                return ev

    def close(self) -> None:
        self._stop.set()


@dataclass
class Terminal:
    """One logged-in terminal of an agent or admin."""

    http: httpx.Client
    login: dict[str, Any]
    readers: list[EventReader] = field(default_factory=list)

    @property
    def token(self) -> str:
        return str(self.login["token"])

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.get(path, headers=self.auth, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        if body is None:
            return self.http.post(path, headers=self.auth, **kw)
        return self.http.post(path, headers=self.auth, json=body, **kw)

    def put(self, path: str, body: Any) -> httpx.Response:
        return self.http.put(path, headers=self.auth, json=body)

    def delete(self, path: str) -> httpx.Response:
        return self.http.delete(path, headers=self.auth)

    def events(self, last_event_id: int | None = None) -> EventReader:
        headers = dict(self.auth)
        headers["Last-Event-ID"] = str(
            self.login.get("last_event_id", 0) if last_event_id is None else last_event_id)
        reader = EventReader(self.http, headers)
        self.readers.append(reader)
        return reader


@dataclass
class LiveServer:
    base_url: str
    clock: Any
    center: CallCenter
    settings: Settings
    http: httpx.Client

    def provision(self, doc: dict[str, Any]) -> None:
        """Add teams, agents, … to the running server's database."""
        with DbSession(self.center.engine) as db:
            apply_document(db, doc, Passwords(FAST_PROFILE))
            db.commit()

    def login_raw(self, agent: str, *, team: str | None = "demo", password: str = "demo",
                  terminal: str = "ws-1", device: str | None = None,
                  headers: dict[str, str] | None = None) -> httpx.Response:
        body: dict[str, Any] = {"team": team, "agent": agent, "password": password,
                                "terminal_id": terminal, "client_version": "test/1"}
        if device is not None:
            body["device_number"] = device
        return self.http.post("/api/v1/sessions", json=body, headers=headers)

    def login(self, agent: str, **kw: Any) -> Terminal:
        r = self.login_raw(agent, **kw)
        assert r.status_code == 201, r.text
        return Terminal(self.http, r.json())

    def expire(self, seconds: float, keep: tuple[Terminal, ...] = ()) -> int:
        """Move the clock and run the reaper; `keep` terminals heartbeat every 60 s meanwhile."""
        ended = 0
        while seconds > 0:
            step = min(seconds, 60.0) if keep else seconds
            for t in keep:
                assert t.post("/api/v1/sessions/current/heartbeat").status_code == 200
            self.clock.advance(step)
            seconds -= step
            ended += self.center.expire_due()
        return ended


@contextlib.contextmanager
def start_live_server(settings: Settings, clock: Clock | None = None,
                      pbx: Callable[[CallCenter], PbxPort] | None = None,
                      tls: tuple[str, str, str] | None = None) -> Iterator[LiveServer]:
    """The server on a loopback port; `tls` = (certificate, key, CA file): HTTPS."""
    clock = clock or ManualClock()
    center = build_center(settings, clock=clock)
    if pbx is not None:
        center.pbx = pbx(center)
    app = create_app(settings, center=center)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            timeout_graceful_shutdown=1, lifespan="on",
                            ssl_certfile=tls[0] if tls else None,
                            ssl_keyfile=tls[1] if tls else None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    base = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=tls[2]) if tls else True
    with httpx.Client(base_url=base, timeout=10, verify=verify) as http:
        try:
            yield LiveServer(base, clock, center, replace(settings), http)
        finally:
            center.bus.close()  # open event streams end now, not after the grace period
            server.should_exit = True
            thread.join(10)
            center.dispose()
