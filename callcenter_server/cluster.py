"""Several server instances on one PostgreSQL: event fan-out and the one PBX (AMI) owner.

Each instance keeps one dedicated autocommit connection, served by a background thread
(`ClusterLink`):

- `LISTEN callcenter_events`: another instance committed events (the payload carries their
  ids). The listener loads the events it does not have by id and publishes them to the local
  bus in id order (`CallCenter.catch_up`); its own events are already there and are skipped.
- It holds, or tries every `poll_s` to take, the session-level advisory lock
  `AMI_OWNER_LOCK_KEY`. The holder is the one instance that connects to AMI: the PBX's inputs
  (contacts, call activity, queue callers, CDRs) come in only there. When the holder dies
  PostgreSQL ends its session and frees the lock, and a standby takes it within `poll_s`.
- `LISTEN callcenter_pbx`: what the owner must do for the others: reconcile agents changed on
  another instance (sent inside the changing transaction), rewrite the config, run a listen /
  whisper / barge call (answered on `callcenter_pbx_reply`).

SQLite has no such thing: one instance, as before.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from .db.engine import normalise_url
from .pbx import PbxPort
from .problems import CODES, ProblemError
from .service import EVENTS_CHANNEL, PBX_CHANNEL, CallCenter

log = logging.getLogger("callcenter.cluster")

AMI_OWNER_LOCK_KEY = 0x63630002
REPLY_CHANNEL = "callcenter_pbx_reply"
#: `meta` row: 1 while the owner's AMI connection is up.
PBX_CONNECTED_KEY = "pbx_connected"


def conninfo(url: str) -> str:
    """A libpq URI for psycopg from the server's database URL."""
    parsed = make_url(normalise_url(url)).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)


class ClusterPbx:
    """The PbxPort of an instance on a shared PostgreSQL.

    While this instance holds the AMI owner lock it drives the PBX through `inner` (made by
    `factory`, a fresh driver per ownership); otherwise it is on standby: agent changes reach
    the owner by the changing transaction's NOTIFY, config changes and listen/whisper/barge
    calls are forwarded to it."""

    def __init__(self, center: CallCenter, factory: Callable[[], PbxPort], *,
                 forward_timeout_s: float = 25.0, retry_after_s: int = 5) -> None:
        self.center = center
        self.factory = factory
        self.inner: PbxPort | None = None
        #: Some instance holds the owner lock, and whether its AMI is up (as it last wrote
        #: to the `meta` table); known on standby, checked every poll.
        self.owner_present = False
        self.owner_connected = False
        self.forward_timeout_s = forward_timeout_s
        self._retry_after_s = retry_after_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._replies: dict[str, tuple[threading.Event, list[dict[str, Any]]]] = {}
        self._replies_lock = threading.Lock()
        #: monotonic time this instance last became the owner (tests measure takeovers).
        self.owner_since: float | None = None
        self._closed = False

    # ----------------------------------------------------------------- PbxPort

    @property
    def standby(self) -> bool:
        return self.inner is None

    @property
    def available(self) -> bool:
        inner = self.inner
        if inner is not None:
            return inner.available
        return self.owner_present and self.owner_connected

    @property
    def retry_after_s(self) -> int:
        inner = self.inner
        return inner.retry_after_s if inner is not None else self._retry_after_s

    def agent_changed(self, agent_id: int) -> None:
        inner = self.inner
        if inner is not None:
            inner.agent_changed(agent_id)
        # Standby: the transaction's NOTIFY (CallCenter._notify_in_tx) reaches the owner.

    def config_changed(self) -> None:
        inner = self.inner
        if inner is not None:
            inner.config_changed()
        else:
            self.center.notify(PBX_CHANNEL, f"config {self.center.instance_id}")

    def spy(self, *, agent_id: int, agent_device: str, admin_device: str, mode: str,
            label: str) -> str:
        args: dict[str, Any] = {"agent_id": agent_id, "agent_device": agent_device,
                                "admin_device": admin_device, "mode": mode, "label": label}
        inner = self.inner
        if inner is not None:
            return inner.spy(**args)
        return str(self._forward("spy", args))

    def stop_spy(self, *, agent_id: int, admin_device: str) -> int:
        inner = self.inner
        if inner is not None:
            return inner.stop_spy(agent_id=agent_id, admin_device=admin_device)
        return int(self._forward("stop_spy", {"agent_id": agent_id,
                                              "admin_device": admin_device}))

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()

    async def stop(self) -> None:
        self._closed = True  # no new driver from here on, even if the lock comes now
        inner, self.inner = self.inner, None
        if inner is not None:
            await inner.stop()

    # ----------------------------------------------------------------- forwarding

    def _unavailable(self, detail: str | None = None) -> ProblemError:
        return ProblemError("pbx_unavailable", detail, retry_after=self.retry_after_s)

    def _forward(self, op: str, args: dict[str, Any]) -> Any:
        """Run a PBX call on the owner instance and wait for its answer."""
        if not self.owner_present:
            raise self._unavailable("No server instance drives the phone system now")
        call_id = secrets.token_hex(8)
        done, box = threading.Event(), []  # type: ignore[var-annotated]
        with self._replies_lock:
            self._replies[call_id] = (done, box)
        try:
            self.center.notify(PBX_CHANNEL, f"call {self.center.instance_id} " + json.dumps(
                {"id": call_id, "op": op, "args": args}))
            if not done.wait(self.forward_timeout_s):
                raise self._unavailable("The server instance driving the phone system did "
                                        "not answer")
        finally:
            with self._replies_lock:
                self._replies.pop(call_id, None)
        reply: dict[str, Any] = box[0]
        if reply.get("ok"):
            return reply.get("result")
        code = reply.get("code")
        retry = reply.get("retry_after")
        raise ProblemError(code if isinstance(code, str) and code in CODES else
                           "pbx_unavailable", reply.get("detail") or None,
                           retry_after=retry if isinstance(retry, int) else None)

    def on_reply(self, payload: str) -> None:
        """An answer to a forwarded call (link thread)."""
        try:
            reply = json.loads(payload)
            call_id = reply["id"]
        except (ValueError, KeyError, TypeError):
            return
        with self._replies_lock:
            waiter = self._replies.get(call_id)
        if waiter is not None:
            waiter[1].append(reply)
            waiter[0].set()

    def on_request(self, payload: str) -> None:
        """A request for the PBX owner (link thread); ignored on standby."""
        inner = self.inner
        kind, _, rest = payload.partition(" ")
        sender, _, body = rest.partition(" ")
        if inner is None:
            return
        if kind == "agents" and sender != self.center.instance_id:
            if body == "*":
                inner.config_changed()
                return
            for part in body.split(","):
                if part.isdigit():
                    inner.agent_changed(int(part))
        elif kind == "config" and sender != self.center.instance_id:
            inner.config_changed()
        elif kind == "call":
            # Not on the link thread: the call waits for Asterisk.
            threading.Thread(target=self._run_call, args=(inner, body), daemon=True,
                             name="pbx-call").start()

    def _run_call(self, inner: PbxPort, body: str) -> None:
        try:
            req = json.loads(body)
            call_id, op, args = str(req["id"]), req["op"], dict(req["args"])
        except (ValueError, KeyError, TypeError):
            log.warning("bad forwarded PBX call: %.200s", body)
            return
        reply: dict[str, Any] = {"id": call_id}
        try:
            if op == "spy":
                reply.update(ok=True, result=inner.spy(**args))
            elif op == "stop_spy":
                reply.update(ok=True, result=inner.stop_spy(**args))
            else:
                reply.update(ok=False, code="invalid_request", detail=f"unknown call {op}")
        except ProblemError as exc:
            reply.update(ok=False, code=exc.code, detail=exc.detail, retry_after=exc.retry_after)
        except Exception:
            log.exception("forwarded PBX call %s failed", op)
            reply.update(ok=False, code="pbx_unavailable")
        try:
            self.center.notify(REPLY_CHANNEL, json.dumps(reply))
        except Exception:
            log.exception("could not answer forwarded PBX call %s", op)

    # ----------------------------------------------------------------- ownership (link thread)

    def become_owner(self) -> None:
        loop = self._loop
        if loop is None or loop.is_closed() or self._closed:
            raise RuntimeError("the PBX port is not running")
        inner = self.factory()
        asyncio.run_coroutine_threadsafe(inner.start(), loop).result(30)
        self.inner = inner
        self.owner_since = time.monotonic()

    def give_up(self) -> None:
        inner, self.inner = self.inner, None
        loop = self._loop
        if inner is None or loop is None or loop.is_closed():
            return
        try:
            asyncio.run_coroutine_threadsafe(inner.stop(), loop).result(15)
        except Exception:
            log.exception("stopping the PBX driver failed")


class ClusterLink:
    """The instance's dedicated PostgreSQL connection and its thread (see the module doc)."""

    def __init__(self, center: CallCenter, db_url: str, *, poll_s: float = 1.0,
                 catch_up_every_s: float = 5.0) -> None:
        self.center = center
        self.conninfo = conninfo(db_url)
        self.pbx = center.pbx if isinstance(center.pbx, ClusterPbx) else None
        self.poll_s = poll_s
        self.catch_up_every_s = catch_up_every_s
        self.owner = False
        self._published_connected: bool | None = None
        self.listening = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True, name="cluster-link")
        self._thread.start()

    def stop(self) -> None:
        """Blocks up to poll_s + a little: call it off the event loop."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        backoff = 0.2
        while not self._stop.is_set():
            try:
                with psycopg.connect(
                    self.conninfo, autocommit=True, connect_timeout=5,
                    application_name=f"callcenter {self.center.instance_id}",
                    # A dead peer must end the session soon: the lock goes with it.
                    keepalives=1, keepalives_idle=5, keepalives_interval=1, keepalives_count=3,
                    tcp_user_timeout=8000,  # also when a query is on its way
                ) as conn:
                    for setting in ("tcp_keepalives_idle = 5", "tcp_keepalives_interval = 1",
                                    "tcp_keepalives_count = 3"):
                        conn.execute(f"SET {setting}")
                    for channel in (EVENTS_CHANNEL, PBX_CHANNEL, REPLY_CHANNEL):
                        conn.execute(f"LISTEN {channel}")
                    self.listening.set()
                    backoff = 0.2
                    self.center.catch_up()  # what was committed while nobody listened here
                    self._serve(conn)
            except (psycopg.Error, OSError) as exc:
                if not self._stop.is_set():
                    log.warning("cluster link to PostgreSQL: %s", exc)
            except Exception:
                log.exception("cluster link failed")
            finally:
                self.listening.clear()
                if self.owner:
                    # The lock went with the connection: another instance may drive the PBX
                    # now. (At shutdown the app stops the driver itself.)
                    self.owner = False
                    if not self._stop.is_set() and self.pbx is not None:
                        log.warning("lost the PBX owner lock; on standby")
                        self.pbx.give_up()
            self._stop.wait(backoff)
            backoff = min(5.0, backoff * 2)

    def _serve(self, conn: psycopg.Connection[Any]) -> None:
        last_catch_up = time.monotonic()
        while not self._stop.is_set():
            if self.pbx is not None:
                self._elect(conn)
            for n in conn.notifies(timeout=self.poll_s):
                self._handle(n.channel, n.payload)
                if self._stop.is_set():
                    return
            if time.monotonic() - last_catch_up > self.catch_up_every_s:
                self.center.catch_up()
                last_catch_up = time.monotonic()
            conn.execute("SELECT 1")  # a dead connection (and so a lost lock) shows here

    def _elect(self, conn: psycopg.Connection[Any]) -> None:
        assert self.pbx is not None
        if self.owner:
            inner = self.pbx.inner
            connected = inner is not None and inner.available
            if connected != self._published_connected:
                # The standbys answer 503 pbx_unavailable while the owner's AMI is down.
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key)"
                    " DO UPDATE SET value = EXCLUDED.value", (PBX_CONNECTED_KEY, int(connected)))
                self._published_connected = connected
            return
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (AMI_OWNER_LOCK_KEY,)).fetchone()
        if row is not None and row[0]:
            self.owner = True
            self._published_connected = None
            self.pbx.owner_present = True
            log.info("instance %s drives the PBX now", self.center.instance_id)
            try:
                self.pbx.become_owner()
            except Exception:
                log.exception("could not start the PBX driver; leaving it to another instance")
                self.owner = False
                conn.execute("SELECT pg_advisory_unlock(%s)", (AMI_OWNER_LOCK_KEY,))
            return
        # A bigint advisory key shows as classid (high half), objid (low half), objsubid 1.
        row = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            " AND classid = 0 AND objid = %s AND objsubid = 1)",
            (AMI_OWNER_LOCK_KEY,)).fetchone()
        self.pbx.owner_present = bool(row and row[0])
        row = conn.execute("SELECT value FROM meta WHERE key = %s",
                           (PBX_CONNECTED_KEY,)).fetchone()
        self.pbx.owner_connected = bool(row and row[0])

    def _handle(self, channel: str, payload: str) -> None:
        try:
            if channel == EVENTS_CHANNEL:
                last = payload.replace("..", ",").rsplit(",", 1)[-1]
                self.center.catch_up(int(last) if last.isdigit() else None)
            elif channel == PBX_CHANNEL and self.pbx is not None:
                self.pbx.on_request(payload)
            elif channel == REPLY_CHANNEL and self.pbx is not None:
                self.pbx.on_reply(payload)
        except Exception:
            log.exception("handling %s %.200s failed", channel, payload)
