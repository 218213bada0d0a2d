"""The call-center rules: sessions, heartbeats, checkin/checkout, pause, wrap-up, devices.

Every change happens inside `_tx()`: one database transaction, the events it caused written in
the same transaction and handed to the event bus after commit, in commit order. The HTTP layer
and the PBX driver are the two callers; neither holds rules of its own.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, case, delete, func, select, text, update
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import sessionmaker

from .clock import Clock, iso
from .db.engine import is_sqlite
from .db.tables import (
    Account,
    Agent,
    CallRecord,
    Device,
    DeviceContact,
    Event,
    Group,
    GroupMember,
    PauseReason,
    QueueCall,
    Rate,
    Session,
    Team,
)
from .events import EventBus, StoredEvent
from .model import (
    END_REASON_CODES,
    Activity,
    DeviceKind,
    DeviceMode,
    EndReason,
    Membership,
    Role,
    SessionRole,
)
from .pbx import PbxPort
from .problems import ProblemError
from .provision import ProvisioningError, apply_document, bump_config_version, config_version
from .security import LoginLimiter, Passwords, new_token, token_hash

log = logging.getLogger("callcenter.rules")

ON_CALL = {Activity.RINGING.value, Activity.TALKING.value, Activity.HOLD.value}
#: A call a team admin can listen to, whisper into or barge in on.
LIVE_CALL = {Activity.TALKING.value, Activity.HOLD.value}
SPY_MODES = ("listen", "whisper", "barge")

#: PostgreSQL advisory lock held by every event-writing transaction of every instance: event
#: ids are then one sequence in commit order across instances (a listener that has id N has
#: every committed event below N). Plays the part the process lock plays on SQLite.
WRITER_LOCK_KEY = 0x63630001
#: NOTIFY channels between instances on one PostgreSQL (docs/deployment.md).
EVENTS_CHANNEL = "callcenter_events"
PBX_CHANNEL = "callcenter_pbx"
#: A NOTIFY payload must stay under 8000 bytes.
_MAX_NOTIFY = 7000


def _ended(s: Session) -> ProblemError:
    """The error an ended session's token gets: its own code per end reason, and the detail."""
    reason = EndReason(s.end_reason or EndReason.LOGOUT.value)
    return ProblemError(END_REASON_CODES[reason], s.end_detail or None,
                        extra={"reason": reason.value})


@dataclass(frozen=True)
class Principal:
    """Who is calling, from a live session token."""

    session_id: int
    role: SessionRole
    team_id: int | None
    agent_id: int | None
    account_id: int | None
    terminal_id: str
    name: str

    def can_manage(self, team_id: int) -> bool:
        if self.role is SessionRole.SYSTEM_ADMIN:
            return True
        return self.role is SessionRole.TEAM_ADMIN and self.team_id == team_id


@dataclass(frozen=True)
class DevicePbx:
    number: str
    kind: str
    extension: str | None
    sip_password: str
    label: str
    has_contact: bool = False


@dataclass(frozen=True)
class MemberPbx:
    queue: str
    membership: str
    checked_in: bool


@dataclass(frozen=True)
class AgentPbxState:
    """What the PBX must reflect for one agent."""

    agent_id: int
    number: str
    device: DevicePbx | None
    paused: bool
    pause_reason: str | None
    wrapup: bool
    memberships: tuple[MemberPbx, ...]


@dataclass(frozen=True)
class GroupPbx:
    name: str
    queue: str
    extension: str | None


@dataclass(frozen=True)
class PbxSnapshot:
    devices: tuple[DevicePbx, ...]
    groups: tuple[GroupPbx, ...]
    agents: tuple[AgentPbxState, ...]


@dataclass
class LoginRequest:
    team: str | None
    agent: str
    password: str
    terminal_id: str
    client_version: str = ""
    device_number: str | None = None
    user_agent: str = ""


@dataclass
class _Tx:
    db: DbSession
    now: float
    events: list[Event] = field(default_factory=list)
    changed_agents: set[int] = field(default_factory=set)
    #: Agents whose board row changed: a `board.agent_changed` event is emitted for each.
    board_agents: set[int] = field(default_factory=set)
    #: Groups whose queue panel row changed: a `queue.changed` event is emitted for each.
    queue_groups: set[int] = field(default_factory=set)
    #: The change is only real once the PBX has it: answer 503 if the PBX is away.
    needs_pbx: bool = False

    def emit(
        self, etype: str, team_id: int | None, agent: Agent | None, data: dict[str, Any]
    ) -> None:
        ev = Event(
            created_at=self.now,
            team_id=team_id,
            agent_id=agent.id if agent else None,
            type=etype,
            data=json.dumps({"at": iso(self.now), **data}),
        )
        self.db.add(ev)
        self.events.append(ev)

    def touch(self, agent: Agent) -> None:
        """The agent's state changed, and the PBX may have to follow."""
        self.touch_view(agent)
        self.changed_agents.add(agent.id)

    def touch_view(self, agent: Agent) -> None:
        """What /me and the board show of the agent changed (the PBX need not act)."""
        agent.state_version = (agent.state_version or 0) + 1
        self.board_agents.add(agent.id)


class CallCenter:
    def __init__(
        self,
        engine: Engine,
        *,
        read_engine: Engine | None = None,
        clock: Clock,
        bus: EventBus,
        passwords: Passwords,
        limiter: LoginLimiter,
        pbx: PbxPort,
    ) -> None:
        self.engine = engine
        self.read_engine = read_engine or engine
        self._sessions: sessionmaker[DbSession] = sessionmaker(engine, expire_on_commit=False)
        self._read_sessions: sessionmaker[DbSession] = sessionmaker(self.read_engine,
                                                                   expire_on_commit=False)
        self.clock = clock
        self.bus = bus
        self.passwords = passwords
        self.limiter = limiter
        self.pbx = pbx
        #: PostgreSQL: other server instances may share the database (docs/deployment.md).
        self.shared = not is_sqlite(engine)
        #: Names this instance in the NOTIFY payloads it sends (it ignores its own).
        self.instance_id = secrets.token_hex(4)
        # One writer at a time in this process: SQLite has one writer anyway, and it keeps event
        # ids published in the order they were committed. On PostgreSQL the writer advisory
        # lock does that across instances; this lock only queues the threads of this one.
        self._write_lock = threading.Lock()
        # Publishing to the bus in id order: the request threads and the cluster listener.
        self._publish_lock = threading.Lock()
        # A heartbeat emits no events, so it needs no ordering; on SQLite the process lock is
        # still the cheaper queue for its single UPDATE (SQLite's busy handler sleeps).
        self._heartbeat_lock: AbstractContextManager[Any] = (
            self._write_lock if is_sqlite(engine) else nullcontext())

    # ----------------------------------------------------------------- plumbing

    def dispose(self) -> None:
        self.engine.dispose()
        self.read_engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[_Tx]:
        with self._write_lock, self._sessions() as db:
            if self.shared:
                # First statement: everything this transaction reads is newer than the
                # previous writer's commit, on whichever instance it ran.
                db.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": WRITER_LOCK_KEY})
            tx = _Tx(db=db, now=self.clock.now())
            try:
                yield tx
                self._emit_views(tx)
                db.flush()
                stored = [
                    StoredEvent(e.id, e.created_at, e.team_id, e.agent_id, e.type,
                                json.loads(e.data))
                    for e in tx.events
                ]
                if self.shared:
                    self._notify_in_tx(db, stored, tx.changed_agents)
                db.commit()
            except BaseException:
                db.rollback()
                raise
            self._publish(stored)
        for agent_id in sorted(tx.changed_agents):
            try:
                self.pbx.agent_changed(agent_id)
            except Exception:
                log.exception("PBX driver failed on agent %s", agent_id)
        if tx.needs_pbx and tx.changed_agents and not self.pbx.available:
            # Saved, and applied by the reconcile when the PBX is back; the client hears why
            # the phone may not ring yet. Retrying is safe: the operations are idempotent.
            raise ProblemError(
                "pbx_unavailable",
                "Saved. The phone system is unreachable; it will follow when it is back.",
                retry_after=self.pbx.retry_after_s or 5)

    def _notify_in_tx(self, db: DbSession, stored: list[StoredEvent],
                      changed_agents: set[int]) -> None:
        """Tell the other instances at commit (a NOTIFY is delivered only if the transaction
        commits, in commit order): the new event ids, and the agents the PBX must follow."""
        if stored:
            ids = ",".join(str(e.id) for e in stored)
            if len(ids) > _MAX_NOTIFY:
                ids = f"{stored[0].id}..{stored[-1].id}"
            db.execute(text("SELECT pg_notify(:c, :p)"), {"c": EVENTS_CHANNEL, "p": ids})
        if changed_agents:
            agents = ",".join(str(a) for a in sorted(changed_agents))
            if len(agents) > _MAX_NOTIFY:
                agents = "*"  # too many to list: the PBX owner reconciles everyone
            db.execute(text("SELECT pg_notify(:c, :p)"), {
                "c": PBX_CHANNEL, "p": f"agents {self.instance_id} {agents}"})

    def notify(self, channel: str, payload: str) -> None:
        """NOTIFY the other instances (PostgreSQL only; cluster.py listens)."""
        with self.engine.begin() as conn:
            conn.execute(text("SELECT pg_notify(:c, :p)"), {"c": channel, "p": payload})

    def _publish(self, stored: list[StoredEvent]) -> None:
        """Hand committed events to this process's bus, in id order.

        Shared database: events other instances committed below ours may not have reached
        the bus yet (their NOTIFY is still on its way); they are committed (the writer lock
        orders commits by id), so they are loaded first."""
        if not self.shared:
            self.bus.publish(stored)
            return
        if not stored:
            return
        with self._publish_lock:
            newest = self.bus.newest_id
            missing: list[StoredEvent] = []
            if stored[0].id > newest + 1:
                missing = self._events_between(newest, stored[0].id)
            self.bus.publish(missing + stored)

    def catch_up(self, upto: int | None = None) -> int:
        """Publish the committed events this bus has not seen (other instances' events, after
        their NOTIFY or a reconnect of the listener); how many. `upto`: the newest id known
        to exist (nothing is read when the bus already has it)."""
        with self._publish_lock:
            newest = self.bus.newest_id
            if upto is not None and upto <= newest:
                return 0
            events = self._events_between(newest, None)
            self.bus.publish(events)
            return len(events)

    def _events_between(self, after: int, before: int | None) -> list[StoredEvent]:
        """Committed events with after < id < before, oldest first (at most the bus window:
        a client further behind resyncs anyway)."""
        with self._read() as db:
            q = select(Event).where(Event.id > after)
            if before is not None:
                q = q.where(Event.id < before)
            rows = db.scalars(q.order_by(Event.id.desc()).limit(self.bus.capacity)).all()
            return [StoredEvent(e.id, e.created_at, e.team_id, e.agent_id, e.type,
                                json.loads(e.data)) for e in reversed(rows)]

    @contextmanager
    def _read(self) -> Iterator[DbSession]:
        with self._read_sessions() as db:
            yield db

    def load_recent_events(self) -> None:
        with self._read() as db:
            rows = db.scalars(
                select(Event).order_by(Event.id.desc()).limit(self.bus.capacity)
            ).all()
            self.bus.preload(
                StoredEvent(e.id, e.created_at, e.team_id, e.agent_id, e.type, json.loads(e.data))
                for e in rows
            )

    # ----------------------------------------------------------------- authentication

    def authenticate(self, token: str | None) -> Principal:
        if not token:
            raise ProblemError("unauthenticated")
        with self._read() as db:
            s = db.scalar(select(Session).where(Session.token_hash == token_hash(token)))
            if s is None:
                raise ProblemError("invalid_token")
            if s.ended_at is not None:
                raise _ended(s)
            name = ""
            if s.account_id is not None:
                acc = db.get(Account, s.account_id)
                name = acc.username if acc else ""
            if not name and s.agent_id is not None:
                ag = db.get(Agent, s.agent_id)
                name = ag.number if ag else ""
            return Principal(
                session_id=s.id,
                role=SessionRole(s.role),
                team_id=s.team_id,
                agent_id=s.agent_id,
                account_id=s.account_id,
                terminal_id=s.terminal_id,
                name=name,
            )

    def authenticate_session(self, session_id: int) -> None:
        """Raise the session's end code if it is no longer live."""
        with self._read() as db:
            s = db.get(Session, session_id)
            if s is None:
                raise ProblemError("invalid_token")
            if s.ended_at is not None:
                raise _ended(s)

    # ----------------------------------------------------------------- login / logout

    def login(self, req: LoginRequest, ip: str) -> dict[str, Any]:
        now = self.clock.now()
        limiter_key = f"{req.team or ''}/{req.agent}"
        wait = self.limiter.retry_after(limiter_key, ip, now)
        if wait is not None:
            raise ProblemError("rate_limited", retry_after=wait)

        # Password check outside the write lock: argon2 is slow on purpose.
        with self._read() as db:
            team, agent, account = self._find_login(db, req)
            stored_hash = (
                account.password_hash if account is not None else
                agent.password_hash if agent is not None else None
            )
        if not self.passwords.verify(stored_hash, req.password):
            self.limiter.failed(limiter_key, ip, now)
            raise ProblemError("bad_credentials")
        self.limiter.succeeded(limiter_key)

        with self._tx() as tx:
            db = tx.db
            team = db.get(Team, team.id) if team is not None else None
            agent = db.get(Agent, agent.id) if agent is not None else None
            account = db.get(Account, account.id) if account is not None else None
            if account is not None and account.role == Role.SYSTEM_ADMIN:
                role = SessionRole.SYSTEM_ADMIN
            elif account is not None and account.role == Role.TEAM_ADMIN:
                role = SessionRole.TEAM_ADMIN
            elif agent is not None:
                role = SessionRole.AGENT
            else:
                # Users (billing accounts) have no seat in the desktop.
                raise ProblemError("not_an_agent")

            # The same terminal logging in again replaces its old session.
            for old in self._live_sessions(db, agent_id=agent.id if agent else None,
                                           account_id=None if agent else
                                           (account.id if account else None),
                                           terminal_id=req.terminal_id):
                self._end_session(tx, old, EndReason.REPLACED, by=None,
                                  detail="logged in again from the same terminal",
                                  apply_last_terminal_rule=False)

            if agent is not None:
                device = self._resolve_login_device(tx, agent, req.device_number, ip)
                if agent.current_device_id != device.id:
                    agent.current_device_id = device.id
                    tx.emit("agent.device_changed", agent.team_id, agent,
                            {"agent": agent.number, "device": device.number})
                agent.pending_checkout_reason = None
                tx.touch(agent)

            timeout = team.session_timeout_s if team is not None else 90
            interval = team.heartbeat_interval_s if team is not None else 20
            token = new_token()
            session = Session(
                token_hash=token_hash(token),
                role=role.value,
                team_id=team.id if team else None,
                agent_id=agent.id if agent else None,
                account_id=account.id if account else None,
                terminal_id=req.terminal_id,
                client_version=req.client_version,
                user_agent=req.user_agent.replace("\x00", "")[:256],
                login_ip=ip,
                created_at=tx.now,
                last_heartbeat_at=tx.now,
                timeout_s=timeout,
                expires_at=tx.now + timeout,
            )
            db.add(session)
            db.flush()
            tx.emit("session.started", session.team_id, agent, {
                "session_id": session.id, "terminal_id": req.terminal_id, "ip": ip,
                "client_version": req.client_version, "role": role.value,
                **({"agent": agent.number} if agent else {}),
            })
            log.info("login team=%s agent=%s role=%s terminal=%s ip=%s",
                     req.team, req.agent, role.value, req.terminal_id, ip)
            result: dict[str, Any] = {
                "token": token,
                "token_type": "Bearer",
                "session": self._session_view(session),
                "role": role.value,
                "heartbeat_interval_s": interval,
                "session_timeout_s": timeout,
                "team": team.name if team else None,
                "agent": self._agent_snapshot(db, agent, with_secrets=True) if agent else None,
                "pause_reasons": self._pause_reasons(db, team.id) if team else [],
                "admin_device": self._admin_device_view(db, account, agent)
                if role is SessionRole.TEAM_ADMIN else None,
            }
        result["last_event_id"] = self.bus.newest_id
        return result

    def _find_login(
        self, db: DbSession, req: LoginRequest
    ) -> tuple[Team | None, Agent | None, Account | None]:
        if req.team is None:
            acc = db.scalar(select(Account).where(
                Account.team_id.is_(None), Account.username == req.agent,
                Account.role == Role.SYSTEM_ADMIN.value))
            return None, None, acc
        team = db.scalar(select(Team).where(Team.name == req.team))
        if team is None:
            return None, None, None
        agent = db.scalar(select(Agent).where(Agent.team_id == team.id,
                                              Agent.number == req.agent))
        if agent is not None:
            # An agent seat of a team admin: log in with the admin's role and password.
            acc = db.get(Account, agent.admin_account_id) if agent.admin_account_id else None
            return team, agent, acc
        acc = db.scalar(select(Account).where(Account.team_id == team.id,
                                              Account.username == req.agent))
        if acc is not None:
            seat = db.scalar(select(Agent).where(Agent.admin_account_id == acc.id))
            return team, seat, acc
        return team, None, None

    def _resolve_login_device(
        self, tx: _Tx, agent: Agent, number: str | None, ip: str
    ) -> Device:
        db = tx.db
        mode = DeviceMode(agent.device_mode)
        if mode is DeviceMode.FIXED:
            device = db.get(Device, agent.fixed_device_id) if agent.fixed_device_id else None
            if device is None:
                raise ProblemError("no_device", "No device is set for this agent; ask a team admin")
            if number and number not in (device.number, device.extension):
                raise ProblemError("device_fixed", f"This agent always uses {device.number}")
            return device
        if mode is DeviceMode.SELF_ADAPTING:
            if agent.current_device_id is not None and self._has_live_session(db, agent.id):
                current = db.get(Device, agent.current_device_id)
                if current is not None:
                    return current
            rows = db.execute(
                select(Device).join(DeviceContact, DeviceContact.device_id == Device.id)
                .where(DeviceContact.ip == ip, Device.team_id == agent.team_id,
                       Device.kind == DeviceKind.INTERNAL.value)
                .order_by(DeviceContact.updated_at.desc())
            ).scalars().all()
            if not rows:
                raise ProblemError(
                    "no_device_at_ip",
                    f"No phone of this team is registered from {ip}; start the phone first",
                    extra={"ip": ip})
            for device in rows:
                if self._device_user(db, device, agent) is None:
                    return device
            raise ProblemError("device_in_use",
                               "The phone at this address is used by another agent")
        # Dynamic.
        if not number:
            if agent.current_device_id is not None and self._has_live_session(db, agent.id):
                current = db.get(Device, agent.current_device_id)
                if current is not None:
                    return current
            raise ProblemError("device_required")
        device = self._device_by_number(db, agent.team_id, number)
        if agent.current_device_id not in (None, device.id) and self._has_live_session(
            db, agent.id
        ):
            self._require_checked_out_of_dynamic(agent)
        self._require_free(db, device, agent)
        return device

    def _device_by_number(self, db: DbSession, team_id: int, number: str) -> Device:
        device = db.scalar(select(Device).where(
            Device.team_id == team_id,
            (Device.number == number) | (Device.extension == number)))
        if device is None:
            raise ProblemError("device_not_found", f"No device {number} in this team")
        return device

    def _device_user(self, db: DbSession, device: Device, me: Agent) -> Agent | None:
        """Another agent using the device now, or owning it as a fixed device."""
        return db.scalar(select(Agent).where(
            Agent.id != me.id,
            (Agent.current_device_id == device.id) | (
                (Agent.fixed_device_id == device.id)
                & (Agent.device_mode == DeviceMode.FIXED.value))))

    def _require_free(self, db: DbSession, device: Device, me: Agent) -> None:
        other = self._device_user(db, device, me)
        if other is not None:
            raise ProblemError("device_in_use", f"Device {device.number} is used by agent "
                               f"{other.number}", extra={"agent": other.number})

    def _require_checked_out_of_dynamic(self, agent: Agent) -> None:
        if any(m.checked_in and m.membership == Membership.DYNAMIC.value
               for m in agent.memberships):
            raise ProblemError("checked_in")

    def logout(self, p: Principal) -> None:
        with self._tx() as tx:
            s = tx.db.get(Session, p.session_id)
            if s is not None and s.ended_at is None:
                self._end_session(tx, s, EndReason.LOGOUT, by=None, detail=None)

    def _live_sessions(
        self, db: DbSession, *, agent_id: int | None = None, account_id: int | None = None,
        terminal_id: str | None = None,
    ) -> Sequence[Session]:
        q = select(Session).where(Session.ended_at.is_(None))
        if agent_id is not None:
            q = q.where(Session.agent_id == agent_id)
        elif account_id is not None:
            q = q.where(Session.account_id == account_id, Session.agent_id.is_(None))
        else:
            return []
        if terminal_id is not None:
            q = q.where(Session.terminal_id == terminal_id)
        return db.scalars(q.order_by(Session.id)).all()

    def _has_live_session(self, db: DbSession, agent_id: int) -> bool:
        return bool(self._live_sessions(db, agent_id=agent_id))

    def _end_session(
        self, tx: _Tx, s: Session, reason: EndReason, *, by: str | None, detail: str | None,
        apply_last_terminal_rule: bool = True,
    ) -> None:
        """The one way a session ends. The last terminal leaving checks out dynamic groups.

        The consequences are emitted before `session.ended`, so the ending terminal's own
        stream (which closes on that event) still sees them.
        """
        s.ended_at = tx.now
        s.end_reason = reason.value
        s.end_detail = detail
        agent = tx.db.get(Agent, s.agent_id) if s.agent_id is not None else None
        if agent is not None:
            tx.touch_view(agent)  # its terminals changed
        if agent is not None and apply_last_terminal_rule:
            tx.db.flush()
            if not self._has_live_session(tx.db, agent.id):
                self._last_terminal_left(tx, agent, reason, by)
        tx.emit("session.ended", s.team_id, agent, {
            "session_id": s.id, "terminal_id": s.terminal_id, "reason": reason.value,
            "by": by, "detail": detail, **({"agent": agent.number} if agent else {}),
        })
        log.info("session %s ended: %s%s", s.id, reason.value, f" by {by}" if by else "")

    def _last_terminal_left(self, tx: _Tx, agent: Agent, reason: EndReason, by: str | None) -> None:
        tx.touch(agent)
        if agent.activity in ON_CALL:
            # Never hang up; leave the queues when the call ends.
            if any(m.checked_in and m.membership == Membership.DYNAMIC.value
                   for m in agent.memberships):
                agent.pending_checkout_reason = reason.value
                tx.emit("agent.checkout_deferred", agent.team_id, agent,
                        {"agent": agent.number, "reason": reason.value})
            return
        self._checkout_dynamic(tx, agent, reason=reason.value, by=by)
        self._release_device(tx, agent)

    def _release_device(self, tx: _Tx, agent: Agent) -> None:
        if agent.device_mode != DeviceMode.FIXED.value and agent.current_device_id is not None:
            agent.current_device_id = None
            tx.emit("agent.device_changed", agent.team_id, agent,
                    {"agent": agent.number, "device": None})

    def _checkout_dynamic(self, tx: _Tx, agent: Agent, *, reason: str, by: str | None) -> None:
        agent.pending_checkout_reason = None
        for m in agent.memberships:
            if m.checked_in and m.membership == Membership.DYNAMIC.value:
                self._set_checked_in(tx, agent, m, False, reason=reason, by=by)

    def _set_checked_in(
        self, tx: _Tx, agent: Agent, m: GroupMember, checked_in: bool, *, reason: str,
        by: str | None,
    ) -> None:
        m.checked_in = checked_in
        m.checked_in_at = tx.now if checked_in else None
        tx.touch(agent)
        tx.emit("agent.checked_in" if checked_in else "agent.checked_out", agent.team_id, agent,
                {"agent": agent.number, "group": m.group.name, "queue": m.group.queue,
                 "reason": reason, "by": by})

    # ----------------------------------------------------------------- heartbeat and expiry

    def heartbeat(self, token: str | None) -> dict[str, Any]:
        """Authenticate and move the deadline in one conditional UPDATE (the hot path)."""
        if not token:
            raise ProblemError("unauthenticated")
        now = self.clock.now()
        # Core statements on one connection: this runs for every agent every few seconds.
        with self._heartbeat_lock, self.engine.begin() as conn:
            row = conn.execute(
                update(Session)
                .where(Session.token_hash == token_hash(token), Session.ended_at.is_(None))
                .values(last_heartbeat_at=now, expires_at=now + Session.timeout_s)
                .returning(Session.agent_id, Session.team_id, Session.expires_at)
            ).first()
            if row is not None:
                agent_id, team_id, expires_at = row
                interval = conn.scalar(
                    select(Team.heartbeat_interval_s).where(Team.id == team_id))
                state = conn.execute(
                    select(Agent.state_version, Agent.pending_checkout_reason)
                    .where(Agent.id == agent_id)).first() if agent_id is not None else None
        if row is None:
            self.authenticate(token)  # raises the reason it is not live
            raise ProblemError("invalid_token")
        notices: list[dict[str, str]] = []
        if state is not None and state[1]:
            notices.append({"code": "checkout_pending",
                            "message": "You will be checked out when the call ends"})
        return {
            "server_time": iso(now),
            "expires_at": iso(expires_at),
            "heartbeat_interval_s": interval or 20,
            "state_version": state[0] if state is not None else 0,
            "notices": notices,
        }

    def expire_due(self) -> int:
        """End every session whose heartbeat deadline has passed, and finish due wrap-ups."""
        now = self.clock.now()
        with self._read() as db:
            due = db.scalars(select(Session.id).where(
                Session.ended_at.is_(None), Session.expires_at <= now)).all()
            wrap_due = db.scalars(select(Agent.id).where(
                Agent.wrapup.is_(True), Agent.wrapup_until.is_not(None),
                Agent.wrapup_until <= now)).all()
        if not due and not wrap_due:
            return 0
        with self._tx() as tx:
            for sid in due:
                # Claimed with a conditional UPDATE: a heartbeat that got in first wins.
                claimed = tx.db.execute(
                    update(Session)
                    .where(Session.id == sid, Session.ended_at.is_(None),
                           Session.expires_at <= tx.now)
                    .values(ended_at=tx.now)
                    .returning(Session.id)
                ).first()
                s = tx.db.get(Session, sid, populate_existing=True) if claimed else None
                if s is not None:
                    self._end_session(tx, s, EndReason.TIMEOUT, by=None,
                                      detail="no heartbeat before the deadline")
            for aid in wrap_due:
                agent = tx.db.get(Agent, aid)
                if agent is not None and agent.wrapup:
                    self._end_wrapup(tx, agent, reason="timeout", by=None)
        return len(due)

    def prune_events(self) -> None:
        """Keep the durable event log about twice the size of the resume window."""
        with self._write_lock, self._sessions() as db:
            newest = db.scalar(select(func.max(Event.id))) or 0
            db.execute(delete(Event).where(Event.id <= newest - 2 * self.bus.capacity))
            db.commit()

    # ----------------------------------------------------------------- snapshots

    def _session_view(self, s: Session) -> dict[str, Any]:
        return {
            "id": s.id, "terminal_id": s.terminal_id, "client_version": s.client_version,
            "user_agent": s.user_agent or "",
            "ip": s.login_ip, "role": s.role, "created_at": iso(s.created_at),
            "last_heartbeat_at": iso(s.last_heartbeat_at), "expires_at": iso(s.expires_at),
        }

    def _device_view(self, db: DbSession, d: Device | None, *,
                     with_secrets: bool) -> dict[str, Any] | None:
        if d is None:
            return None
        view: dict[str, Any] = {"number": d.number, "kind": d.kind, "extension": d.extension,
                                "registered": None, "contact": None}
        if d.kind == DeviceKind.INTERNAL.value:
            contact = db.get(DeviceContact, d.id)
            view["registered"] = contact is not None
            if contact is not None:
                view["contact"] = {"ip": contact.ip, "port": contact.port,
                                   "updated_at": iso(contact.updated_at)}
            if with_secrets:
                view["sip"] = {"username": d.number, "password": d.sip_password or ""}
        return view

    def _admin_device_view(self, db: DbSession, account: Account | None,
                           seat: Agent | None) -> dict[str, Any] | None:
        """A team admin's own phone, with its SIP credentials (the app registers it)."""
        device = self._admin_device(db, account, seat)
        return self._device_view(db, device, with_secrets=True)

    def _admin_device(self, db: DbSession, account: Account | None,
                      seat: Agent | None) -> Device | None:
        """The team admin's own device: the one provisioned on the account, else the device
        of the admin's agent seat."""
        if account is not None and account.device_id is not None:
            device = db.get(Device, account.device_id)
            if device is not None:
                return device
        if seat is not None and seat.current_device_id is not None:
            return db.get(Device, seat.current_device_id)
        return None

    def _pause_reasons(self, db: DbSession, team_id: int) -> list[dict[str, str]]:
        rows = db.scalars(select(PauseReason).where(PauseReason.team_id == team_id)
                          .order_by(PauseReason.position, PauseReason.id)).all()
        return [{"code": r.code, "label": r.label} for r in rows]

    def _last_logout(self, db: DbSession, agent_id: int) -> float | None:
        return db.scalar(select(func.max(Session.ended_at)).where(Session.agent_id == agent_id))

    def _agent_snapshot(
        self, db: DbSession, agent: Agent, *, with_secrets: bool = False,
        sessions: Sequence[Session] | None = None, last_logout: float | None = None,
    ) -> dict[str, Any]:
        device = db.get(Device, agent.current_device_id) if agent.current_device_id else None
        if sessions is None:
            sessions = self._live_sessions(db, agent_id=agent.id)
            last_logout = None if sessions else self._last_logout(db, agent.id)
        groups = [{
            "name": m.group.name, "queue": m.group.queue, "membership": m.membership,
            "checked_in": m.checked_in, "checked_in_at": iso(m.checked_in_at),
        } for m in agent.memberships]
        checked_in = any(g["checked_in"] for g in groups)
        # One word for the board's availability column, and since when it holds.
        status: str
        since: float | None
        if not sessions:
            status, since = "logged_out", last_logout
        elif agent.wrapup:
            status, since = "wrapup", agent.wrapup_at
        elif agent.paused:
            status, since = "paused", agent.paused_at
        elif checked_in:
            times = [m.checked_in_at for m in agent.memberships
                     if m.checked_in and m.checked_in_at is not None]
            status = "checked_in"
            since = min(times) if times else min(s.created_at for s in sessions)
        else:
            status, since = "logged_in", min(s.created_at for s in sessions)
        call = agent.call_info or None
        return {
            "number": agent.number,
            "name": agent.name,
            "device_mode": agent.device_mode,
            "device": self._device_view(db, device, with_secrets=with_secrets),
            "groups": groups,
            "availability": {
                "status": status,
                "since": iso(since),
                "logged_in": bool(sessions),
                "checked_in": checked_in,
                "paused": agent.paused,
                "pause_reason": agent.pause_reason,
                "pause_note": agent.pause_note,
                "paused_at": iso(agent.paused_at),
                "paused_by": agent.paused_by,
                "wrapup": agent.wrapup,
                "wrapup_until": iso(agent.wrapup_until),
                "checkout_pending": agent.pending_checkout_reason is not None,
            },
            "activity": {
                "state": agent.activity,
                "since": iso(agent.activity_at),
                "caller_id": (call or {}).get("caller_id") or None,
                "call": call,
            },
            "terminals": len(sessions),
            "sessions": [self._session_view(s) for s in sessions],
            "state_version": agent.state_version,
        }

    def _emit_views(self, tx: _Tx) -> None:
        """At the end of a change: one `board.agent_changed` per agent whose board row changed
        (the whole row, so a client just replaces it) and one `queue.changed` per queue panel
        row that may have changed. Team admins see them; agents do not (agent id not set)."""
        if not tx.board_agents and not tx.queue_groups:
            return
        tx.db.flush()
        with tx.db.no_autoflush:  # the rows only read; the version bumps go out with the commit
            self._emit_rows(tx)

    def _emit_rows(self, tx: _Tx) -> None:
        groups = set(tx.queue_groups)
        for agent_id in sorted(tx.board_agents):
            agent = tx.db.get(Agent, agent_id)
            if agent is None:
                continue
            row = self._agent_snapshot(tx.db, agent)
            tx.emit("board.agent_changed", agent.team_id, None,
                    {"agent": agent.number, "version": agent.state_version, "row": row})
            if agent_id in tx.changed_agents:  # not for a registration or a second terminal
                groups.update(m.group_id for m in agent.memberships)
        for group_id in sorted(groups):
            group = tx.db.get(Group, group_id)
            if group is None:
                continue
            group.stats_version = (group.stats_version or 0) + 1
            tx.emit("queue.changed", group.team_id, None,
                    {"group": group.name, "version": group.stats_version,
                     "row": self._queue_row(tx.db, group, tx.now)})

    def _agent_of(self, db: DbSession, p: Principal) -> Agent:
        if p.agent_id is None:
            raise ProblemError("not_an_agent")
        agent = db.get(Agent, p.agent_id)
        if agent is None:
            raise ProblemError("agent_not_found")
        return agent

    def me(self, p: Principal) -> dict[str, Any]:
        with self._read() as db:
            team = db.get(Team, p.team_id) if p.team_id else None
            agent = db.get(Agent, p.agent_id) if p.agent_id else None
            return {
                "role": p.role.value,
                "name": p.name,
                "team": team.name if team else None,
                "terminal_id": p.terminal_id,
                "agent": self._agent_snapshot(db, agent, with_secrets=True) if agent else None,
                "pause_reasons": self._pause_reasons(db, team.id) if team else [],
                "admin_device": self._admin_device_view(
                    db, db.get(Account, p.account_id) if p.account_id else None, agent)
                if p.role is SessionRole.TEAM_ADMIN else None,
                "last_event_id": self.bus.newest_id,
            }

    def list_sessions(self, p: Principal) -> list[dict[str, Any]]:
        with self._read() as db:
            rows = self._live_sessions(db, agent_id=p.agent_id, account_id=p.account_id)
            return [self._session_view(s) | {"current": s.id == p.session_id} for s in rows]

    # ----------------------------------------------------------------- checkin / checkout

    def _select_memberships(
        self, db: DbSession, agent: Agent, groups: list[str] | None
    ) -> list[tuple[str, GroupMember | None, str | None]]:
        """(group name, membership or None, error result or None) per requested group."""
        if groups is None:
            return [(m.group.name, m, None) for m in agent.memberships]
        out: list[tuple[str, GroupMember | None, str | None]] = []
        by_name = {m.group.name: m for m in agent.memberships}
        for name in dict.fromkeys(groups):
            if name in by_name:
                out.append((name, by_name[name], None))
            elif db.scalar(select(Group.id).where(Group.team_id == agent.team_id,
                                                  Group.name == name)) is None:
                out.append((name, None, "group_not_found"))
            else:
                out.append((name, None, "not_member"))
        return out

    def set_checkin(
        self, p: Principal, groups: list[str] | None, checked_in: bool, *, single: bool = False,
        target: tuple[int, str] | None = None, reason: str | None = None,
    ) -> dict[str, Any]:
        """Check the agent in or out of groups (None: all). Idempotent; per-group results.

        `target` = (team id, agent number) when a team admin acts on an agent.
        """
        with self._tx() as tx:
            agent = self._target_agent(tx.db, p, target)
            tx.needs_pbx = True
            if checked_in and agent.current_device_id is None:
                raise ProblemError("no_device", "Log in with a device before checking in")
            by = p.name if target else None
            why = reason or ("checkin" if checked_in else "checkout")
            results: list[dict[str, Any]] = []
            for name, m, error in self._select_memberships(tx.db, agent, groups):
                if error is None and m is not None:
                    if m.membership == Membership.STATIC.value:
                        error = "static_member"
                    elif m.checked_in == checked_in:
                        results.append({"group": name, "result":
                                        "already_checked_in" if checked_in
                                        else "already_checked_out", "changed": False})
                        continue
                    else:
                        self._set_checked_in(tx, agent, m, checked_in, reason=why, by=by)
                        if not checked_in:
                            agent.pending_checkout_reason = None
                        results.append({"group": name, "result":
                                        "checked_in" if checked_in else "checked_out",
                                        "changed": True})
                        continue
                if single:
                    raise ProblemError(error or "invalid_request", extra={"group": name})
                results.append({"group": name, "result": error, "changed": False})
            return {"results": results, "state_version": agent.state_version}

    def _target_agent(
        self, db: DbSession, p: Principal, target: tuple[int, str] | None
    ) -> Agent:
        if target is None:
            return self._agent_of(db, p)
        team_id, number = target
        if not p.can_manage(team_id):
            raise ProblemError("forbidden")
        agent = db.scalar(select(Agent).where(Agent.team_id == team_id, Agent.number == number))
        if agent is None:
            raise ProblemError("agent_not_found")
        return agent

    # ----------------------------------------------------------------- pause / wrap-up

    def set_pause(
        self, p: Principal, paused: bool, pause_reason: str | None = None, note: str | None = None,
        *, target: tuple[int, str] | None = None, reason: str | None = None,
    ) -> dict[str, Any]:
        with self._tx() as tx:
            agent = self._target_agent(tx.db, p, target)
            tx.needs_pbx = True
            by = p.name if target else None
            if paused:
                codes = {r["code"] for r in self._pause_reasons(tx.db, agent.team_id)}
                if pause_reason not in codes:
                    raise ProblemError("unknown_pause_reason", extra={"allowed": sorted(codes)})
                changed = not (agent.paused and agent.pause_reason == pause_reason
                               and agent.pause_note == note)
                if changed:
                    agent.paused, agent.pause_reason, agent.pause_note = True, pause_reason, note
                    agent.paused_at, agent.paused_by = tx.now, by
                    tx.touch(agent)
                    tx.emit("agent.paused", agent.team_id, agent, {
                        "agent": agent.number, "pause_reason": pause_reason, "note": note,
                        "by": by, "reason": reason})
            else:
                changed = agent.paused
                if changed:
                    agent.paused, agent.pause_reason, agent.pause_note = False, None, None
                    agent.paused_at, agent.paused_by = None, None
                    tx.touch(agent)
                    tx.emit("agent.unpaused", agent.team_id, agent,
                            {"agent": agent.number, "by": by, "reason": reason})
            return {"changed": changed, "state_version": agent.state_version}

    def end_wrapup(self, p: Principal) -> dict[str, Any]:
        with self._tx() as tx:
            agent = self._agent_of(tx.db, p)
            changed = agent.wrapup
            if changed:
                self._end_wrapup(tx, agent, reason="agent", by=None)
            return {"changed": changed, "state_version": agent.state_version}

    def _end_wrapup(self, tx: _Tx, agent: Agent, *, reason: str, by: str | None) -> None:
        agent.wrapup, agent.wrapup_until, agent.wrapup_at = False, None, None
        tx.touch(agent)
        tx.emit("agent.wrapup_ended", agent.team_id, agent,
                {"agent": agent.number, "reason": reason, "by": by})

    # ----------------------------------------------------------------- devices

    def change_device(self, p: Principal, number: str) -> dict[str, Any]:
        with self._tx() as tx:
            agent = self._agent_of(tx.db, p)
            if agent.device_mode == DeviceMode.FIXED.value:
                raise ProblemError("device_fixed")
            if agent.device_mode == DeviceMode.SELF_ADAPTING.value:
                raise ProblemError("device_not_selectable",
                                   "The phone registered from this computer is used")
            device = self._device_by_number(tx.db, agent.team_id, number)
            if device.id != agent.current_device_id:
                self._require_checked_out_of_dynamic(agent)
                self._require_free(tx.db, device, agent)
                agent.current_device_id = device.id
                tx.touch(agent)
                tx.emit("agent.device_changed", agent.team_id, agent,
                        {"agent": agent.number, "device": device.number})
            return {"device": self._device_view(tx.db, device, with_secrets=True),
                    "state_version": agent.state_version}

    # ----------------------------------------------------------------- team admin

    def team_id(self, p: Principal, team_name: str) -> int:
        with self._read() as db:
            tid = db.scalar(select(Team.id).where(Team.name == team_name))
        if tid is None or not p.can_manage(tid):
            # Same answer for "no such team" and "not yours": team names are not disclosed.
            raise ProblemError("forbidden" if p.role is not SessionRole.SYSTEM_ADMIN
                               else "team_not_found")
        return tid

    def board(self, p: Principal, team_name: str) -> dict[str, Any]:
        tid = self.team_id(p, team_name)
        # Read before the snapshot: an event after this id may already be in the snapshot
        # (replaying a whole row is harmless), but none before it is missing from it.
        last_event_id = self.bus.newest_id
        with self._read() as db:
            team = db.get(Team, tid)
            assert team is not None
            agents = db.scalars(select(Agent).where(Agent.team_id == tid)
                                .order_by(Agent.number)).all()
            live = db.scalars(select(Session).where(
                Session.team_id == tid, Session.ended_at.is_(None),
                Session.agent_id.is_not(None)).order_by(Session.id)).all()
            by_agent: dict[int, list[Session]] = {}
            for s in live:
                by_agent.setdefault(s.agent_id or 0, []).append(s)
            last_logout: dict[int, float] = dict(db.execute(  # type: ignore[arg-type]
                select(Session.agent_id, func.max(Session.ended_at))
                .where(Session.team_id == tid, Session.agent_id.is_not(None))
                .group_by(Session.agent_id)).all())
            groups = db.scalars(select(Group).where(Group.team_id == tid)
                                .order_by(Group.name)).all()
            return {
                "team": team.name,
                "heartbeat_interval_s": team.heartbeat_interval_s,
                "session_timeout_s": team.session_timeout_s,
                "groups": [{"name": g.name, "queue": g.queue, "extension": g.extension,
                            "service_level_s": g.service_level_s}
                           for g in groups],
                "agents": [self._agent_snapshot(db, a, sessions=by_agent.get(a.id, []),
                                                last_logout=last_logout.get(a.id))
                           for a in agents],
                "server_time": iso(self.clock.now()),
                "last_event_id": last_event_id,
            }

    # ----------------------------------------------------------------- queue panel

    def _day_start(self, now: float) -> float:
        """Midnight (UTC) of the day `now` is in: "today" of the queue counters."""
        day = datetime.fromtimestamp(now, UTC).date()
        return datetime.combine(day, time.min, UTC).timestamp()

    def _queue_row(self, db: DbSession, group: Group, now: float) -> dict[str, Any]:
        waiting = db.scalars(select(QueueCall).where(
            QueueCall.group_id == group.id, QueueCall.left_at.is_(None))
            .order_by(QueueCall.joined_at, QueueCall.id)).all()
        day = self._day_start(now)
        is_answered = QueueCall.outcome == "answered"
        answered, abandoned, in_time = db.execute(select(
            func.count(case((is_answered, 1))),
            func.count(case((QueueCall.outcome == "abandoned", 1))),
            func.count(case((is_answered & (QueueCall.wait_s <= group.service_level_s), 1))),
        ).where(QueueCall.group_id == group.id, QueueCall.left_at.is_not(None),
                QueueCall.left_at >= day)).one()
        offered = answered + abandoned
        members = db.execute(
            select(Agent.activity, Agent.paused, Agent.wrapup, Agent.current_device_id,
                   Agent.fixed_device_id, Agent.device_mode)
            .join(GroupMember, GroupMember.agent_id == Agent.id)
            .where(GroupMember.group_id == group.id, GroupMember.checked_in.is_(True))).all()
        counts = {"in_queue": 0, "available": 0, "paused": 0, "busy": 0, "no_device": 0}
        for activity, paused, wrapup, current, fixed, mode in members:
            counts["in_queue"] += 1
            if activity != Activity.IDLE.value:
                counts["busy"] += 1
            elif paused or wrapup:
                counts["paused"] += 1
            elif current is None and (fixed is None or mode != DeviceMode.FIXED.value):
                counts["no_device"] += 1
            else:
                counts["available"] += 1
        oldest = waiting[0].joined_at if waiting else None
        return {
            "group": group.name,
            "queue": group.queue,
            "extension": group.extension,
            "service_level_s": group.service_level_s,
            "version": group.stats_version,
            "waiting": len(waiting),
            "oldest_joined_at": iso(oldest),
            "longest_wait_s": round(max(0.0, now - oldest), 1) if oldest is not None else 0.0,
            "callers": [{"caller_id": c.caller_id, "caller_name": c.caller_name,
                         "joined_at": iso(c.joined_at)} for c in waiting],
            "agents": counts,
            "today": {
                "since": iso(day),
                "answered": answered,
                "abandoned": abandoned,
                "answered_in_time": in_time,
                "service_level": round(in_time / offered, 4) if offered else None,
            },
        }

    def queues(self, p: Principal, team_name: str) -> dict[str, Any]:
        tid = self.team_id(p, team_name)
        last_event_id = self.bus.newest_id
        now = self.clock.now()
        with self._read() as db:
            groups = db.scalars(select(Group).where(Group.team_id == tid)
                                .order_by(Group.name)).all()
            return {"team": team_name, "server_time": iso(now),
                    "queues": [self._queue_row(db, g, now) for g in groups],
                    "last_event_id": last_event_id}

    def queue_caller(
        self, queue: str, uniqueid: str, what: str, *, caller_id: str = "",
        caller_name: str = "", wait_s: float | None = None,
    ) -> None:
        """The PBX reports a caller in a queue: `joined`, `left`, `answered` or `abandoned`.

        Idempotent per caller (the unique id), in any order: several server instances may
        hear the same events, and Asterisk reports the leave before the agent connect.
        `wait_s` is how long the caller had waited (joined: already waiting that long).
        """
        if not uniqueid:
            return
        with self._tx() as tx:
            group = tx.db.scalar(select(Group).where(Group.queue == queue))
            if group is None:
                return
            call = tx.db.scalar(select(QueueCall).where(QueueCall.uniqueid == uniqueid[:64]))
            if call is None:
                call = QueueCall(uniqueid=uniqueid[:64], group_id=group.id,
                                 caller_id=caller_id[:64], caller_name=caller_name[:128],
                                 joined_at=tx.now - (wait_s or 0.0))
                tx.db.add(call)
            elif what == "joined":
                return
            if what != "joined" and call.left_at is None:
                call.left_at = tx.now
            if what == "answered" and call.outcome != "answered":
                call.outcome = "answered"
                call.wait_s = wait_s if wait_s is not None else tx.now - call.joined_at
            elif what == "abandoned" and call.outcome is None:
                call.outcome = "abandoned"
            tx.queue_groups.add(group.id)

    def queue_waiting(self, entries: Sequence[tuple[str, str, str, str, float]],
                      asked_at: float | None = None) -> None:
        """What the PBX says is waiting now (queue, unique id, caller id, name, wait seconds),
        after a (re)connect: callers missed meanwhile are added, those gone are closed.

        `asked_at`: when the PBX was asked; a caller who joined after that (its join event
        overtook this answer) is not closed."""
        with self._tx() as tx:
            groups = {g.queue: g for g in tx.db.scalars(select(Group)).all()}
            seen: set[str] = set()
            for queue, uniqueid, caller_id, caller_name, wait_s in entries:
                group = groups.get(queue)
                if group is None or not uniqueid:
                    continue
                seen.add(uniqueid[:64])
                call = tx.db.scalar(select(QueueCall).where(
                    QueueCall.uniqueid == uniqueid[:64]))
                if call is None:
                    tx.db.add(QueueCall(uniqueid=uniqueid[:64], group_id=group.id,
                                        caller_id=caller_id[:64], caller_name=caller_name[:128],
                                        joined_at=tx.now - wait_s))
                    tx.queue_groups.add(group.id)
            for call in tx.db.scalars(select(QueueCall).where(QueueCall.left_at.is_(None))):
                if call.uniqueid not in seen and (asked_at is None
                                                  or call.joined_at <= asked_at):
                    call.left_at = tx.now  # left while we were not listening: outcome unknown
                    tx.queue_groups.add(call.group_id)

    # ----------------------------------------------------------------- listen / whisper / barge

    def spy(self, p: Principal, team_name: str, number: str, mode: str) -> dict[str, Any]:
        """Ring the team admin's own phone with a call that listens to the agent's call
        (listen), lets the admin talk to the agent alone (whisper) or to both (barge)."""
        if mode not in SPY_MODES:
            raise ProblemError("invalid_request", f"mode must be one of {', '.join(SPY_MODES)}")
        tid = self.team_id(p, team_name)
        with self._read() as db:
            agent = self._target_agent(db, p, (tid, number))
            if agent.activity not in LIVE_CALL:
                raise ProblemError("no_live_call")
            device_id = self._effective_device_id(agent)
            device = db.get(Device, device_id) if device_id is not None else None
            if device is None or device.kind != DeviceKind.INTERNAL.value:
                raise ProblemError("no_live_call", "The agent's call is not on an internal "
                                   "phone of this PBX")
            account = db.get(Account, p.account_id) if p.account_id else None
            seat = db.get(Agent, p.agent_id) if p.agent_id else None
            mine = self._admin_device(db, account, seat)
            if mine is None or mine.kind != DeviceKind.INTERNAL.value:
                raise ProblemError("no_admin_device")
            if db.get(DeviceContact, mine.id) is None:
                raise ProblemError("no_admin_device",
                                   f"Your phone {mine.number} is not registered")
            if mine.id == device.id:
                raise ProblemError("no_admin_device", "Your phone is the agent's phone")
            agent_id, agent_number, target, admin_number = (
                agent.id, agent.number, device.number, mine.number)
        call_id = self.pbx.spy(agent_id=agent_id, agent_device=target, admin_device=admin_number,
                               mode=mode, label=agent_number)
        log.info("%s %s agent %s (device %s) from %s", p.name, mode, agent_number, target,
                 admin_number)
        return {"agent": agent_number, "mode": mode, "device": admin_number, "call_id": call_id}

    def stop_spy(self, p: Principal, team_name: str, number: str) -> int:
        """Hang up this admin's listen/whisper/barge calls on the agent; how many ended."""
        tid = self.team_id(p, team_name)
        with self._read() as db:
            agent = self._target_agent(db, p, (tid, number))
            account = db.get(Account, p.account_id) if p.account_id else None
            seat = db.get(Agent, p.agent_id) if p.agent_id else None
            mine = self._admin_device(db, account, seat)
            if mine is None:
                raise ProblemError("no_admin_device")
            agent_id, admin_number = agent.id, mine.number
        return self.pbx.stop_spy(agent_id=agent_id, admin_device=admin_number)

    # ----------------------------------------------------------------- team configuration

    def team_config(self, p: Principal, team_name: str) -> dict[str, Any]:
        """The team as a provisioning document (docs/provisioning.md) without secrets: what
        PUT /provisioning would apply, so an app can show it and send back an edited copy."""
        tid = self.team_id(p, team_name)
        with self._read() as db:
            team = db.get(Team, tid)
            assert team is not None
            accounts = db.scalars(select(Account).where(Account.team_id == tid)
                                  .order_by(Account.username)).all()
            devices = db.scalars(select(Device).where(Device.team_id == tid)
                                 .order_by(Device.number)).all()
            number_of = {d.id: d.number for d in devices}
            user_of = {a.id: a.username for a in accounts}
            groups = db.scalars(select(Group).where(Group.team_id == tid)
                                .order_by(Group.name)).all()
            agents = db.scalars(select(Agent).where(Agent.team_id == tid)
                                .order_by(Agent.number)).all()
            rates = db.scalars(select(Rate).where(Rate.team_id == tid)
                               .order_by(Rate.prefix)).all()
            return {
                "name": team.name,
                "heartbeat_interval_s": team.heartbeat_interval_s,
                "session_timeout_s": team.session_timeout_s,
                "wrapup_s": team.wrapup_s,
                "pause_reasons": self._pause_reasons(db, tid),
                "rates": [{"prefix": r.prefix, "per_minute": str(r.per_minute)} for r in rates],
                "accounts": [{"username": a.username, "role": a.role,
                              "display_name": a.display_name,
                              "device": number_of.get(a.device_id) if a.device_id else None}
                             for a in accounts],
                "devices": [{"number": d.number, "kind": d.kind, "extension": d.extension,
                             "owner": user_of.get(d.owner_id) if d.owner_id else None,
                             "description": d.description} for d in devices],
                "groups": [{"name": g.name, "queue": g.queue, "extension": g.extension,
                            "service_level_s": g.service_level_s} for g in groups],
                "agents": [{
                    "number": a.number, "name": a.name,
                    "owner": user_of.get(a.owner_id) if a.owner_id else None,
                    "device_mode": a.device_mode,
                    "device": number_of.get(a.fixed_device_id) if a.fixed_device_id else None,
                    "admin_account": user_of.get(a.admin_account_id)
                    if a.admin_account_id else None,
                    "groups": [{"name": m.group.name, "membership": m.membership}
                               for m in a.memberships],
                } for a in agents],
            }

    def force_logout(
        self, p: Principal, team_id: int, number: str, reason: str, terminal_id: str | None
    ) -> dict[str, Any]:
        with self._tx() as tx:
            agent = self._target_agent(tx.db, p, (team_id, number))
            live = self._live_sessions(tx.db, agent_id=agent.id, terminal_id=terminal_id)
            if terminal_id is not None and not live:
                raise ProblemError("terminal_not_found")
            for s in live:
                self._end_session(tx, s, EndReason.FORCED, by=p.name, detail=reason)
            return {"ended": [s.terminal_id for s in live]}

    # ----------------------------------------------------------------- PBX inputs

    def device_contact(self, number: str, ip: str | None, port: int = 0) -> None:
        """The PBX saw a device register from ip:port (ip None: the contact went away)."""
        with self._tx() as tx:
            device = tx.db.scalar(select(Device).where(Device.number == number))
            if device is None:
                return
            row = tx.db.get(DeviceContact, device.id)
            if ip is None:
                if row is None:
                    return
                tx.db.delete(row)
            elif row is None:
                tx.db.add(DeviceContact(device_id=device.id, ip=ip, port=port,
                                        updated_at=tx.now))
            else:
                changed = (row.ip, row.port) != (ip, port)
                row.ip, row.port, row.updated_at = ip, port, tx.now
                if not changed:
                    return
            # The registration shows on the board row of whoever uses the device.
            for agent in tx.db.scalars(select(Agent).where(
                    (Agent.current_device_id == device.id) | (
                        Agent.current_device_id.is_(None)
                        & (Agent.fixed_device_id == device.id)
                        & (Agent.device_mode == DeviceMode.FIXED.value)))).all():
                tx.touch_view(agent)

    def _effective_device_id(self, agent: Agent) -> int | None:
        """The device that rings for the agent: the current one, else a fixed agent's own
        (a static member is rung even when logged out)."""
        if agent.current_device_id is not None:
            return agent.current_device_id
        return agent.fixed_device_id if agent.device_mode == DeviceMode.FIXED.value else None

    def agent_on_device(self, device_number: str) -> int | None:
        with self._read() as db:
            device_id = db.scalar(select(Device.id).where(Device.number == device_number))
            if device_id is None:
                return None
            return db.scalar(select(Agent.id).where(
                (Agent.current_device_id == device_id) | (
                    Agent.current_device_id.is_(None)
                    & (Agent.fixed_device_id == device_id)
                    & (Agent.device_mode == DeviceMode.FIXED.value))
            ).order_by(Agent.current_device_id.is_(None)).limit(1))

    def call_activity(
        self, device_number: str, activity: Activity, call: dict[str, str] | None = None,
        *, answered: bool = False,
    ) -> None:
        """The PBX reports what the agent on a device is doing."""
        agent_id = self.agent_on_device(device_number)
        if agent_id is not None:
            self.agent_activity(agent_id, activity, call, answered=answered)

    def agent_activity(
        self, agent_id: int, activity: Activity, call: dict[str, str] | None = None,
        *, answered: bool = False,
    ) -> None:
        """The PBX reports what an agent is doing (ringing, talking, hold, idle).

        `answered` on the transition to IDLE says whether the call was taken (wrap-up follows).
        """
        with self._tx() as tx:
            agent = tx.db.get(Agent, agent_id)
            if agent is None or agent.activity == activity.value:
                return
            device_id = self._effective_device_id(agent)
            device = tx.db.get(Device, device_id) if device_id is not None else None
            before = agent.activity
            agent.activity, agent.activity_at = activity.value, tx.now
            if activity is not Activity.IDLE:
                agent.call_info = call or agent.call_info
            tx.touch(agent)
            data = {"agent": agent.number, "device": device.number if device else None,
                    **(agent.call_info or {})}
            if activity is Activity.IDLE:
                # Checked first: a call can end while on hold (that is no `call.resumed`).
                agent.call_info = None
                tx.emit("call.ended", agent.team_id, agent, data | {"answered": answered})
                self._after_call(tx, agent, answered)
            elif activity is Activity.RINGING:
                tx.emit("call.ringing", agent.team_id, agent, data)
            elif activity is Activity.TALKING and before == Activity.RINGING.value:
                tx.emit("call.answered", agent.team_id, agent, data)
            elif activity is Activity.HOLD or before == Activity.HOLD.value:
                tx.emit("call.hold" if activity is Activity.HOLD else "call.resumed",
                        agent.team_id, agent, data)
            elif activity is Activity.TALKING:
                tx.emit("call.answered", agent.team_id, agent, data)

    # ----------------------------------------------------------------- provisioning

    def provision(self, p: Principal, doc: dict[str, Any]) -> dict[str, int]:
        """Apply a provisioning document (docs/provisioning.md) as this admin.

        A team admin may only touch its own team; system admins anything."""
        if p.role is SessionRole.AGENT:
            raise ProblemError("forbidden")
        if p.role is SessionRole.TEAM_ADMIN:
            with self._read() as db:
                own = db.scalar(select(Team.name).where(Team.id == p.team_id))
            teams = doc.get("teams") or []
            if doc.get("system_admins") or any(
                    not isinstance(t, dict) or t.get("name") != own for t in teams):
                raise ProblemError("forbidden", "A team admin provisions only its own team")
        with self._tx() as tx:
            try:
                counts = apply_document(tx.db, doc, self.passwords)
            except ProvisioningError as exc:
                raise ProblemError("invalid_request", str(exc)) from None
            names = [t["name"] for t in doc.get("teams") or [] if isinstance(t, dict)]
            for team in tx.db.scalars(select(Team).where(Team.name.in_(names))).all():
                self._config_changed(tx, team.id, p.name)
        self.pbx.config_changed()
        return counts

    def _config_changed(self, tx: _Tx, team_id: int, by: str) -> None:
        """Agents, devices, groups or settings of a team changed: its admins refetch the
        board, the queues and the configuration."""
        tx.emit("team.config_changed", team_id, None,
                {"team": tx.db.scalar(select(Team.name).where(Team.id == team_id)), "by": by})

    def delete_device(self, p: Principal, team_name: str, number: str) -> None:
        tid = self.team_id(p, team_name)
        with self._tx() as tx:
            device = tx.db.scalar(select(Device).where(Device.team_id == tid,
                                                       Device.number == number))
            if device is None:
                raise ProblemError("device_not_found")
            user = tx.db.scalar(select(Agent).where(
                (Agent.current_device_id == device.id) | (Agent.fixed_device_id == device.id)))
            if user is not None:
                raise ProblemError("device_in_use", f"Agent {user.number} uses {number}",
                                   extra={"agent": user.number})
            admin = tx.db.scalar(select(Account).where(Account.device_id == device.id))
            if admin is not None:
                raise ProblemError("device_in_use", f"Team admin {admin.username} uses {number}",
                                   extra={"account": admin.username})
            tx.db.delete(device)
            bump_config_version(tx.db)
            self._config_changed(tx, tid, p.name)
        self.pbx.config_changed()

    def config_version(self) -> int:
        with self._read() as db:
            return config_version(db)

    # ----------------------------------------------------------------- the PBX's view

    def _device_pbx(self, d: Device, with_contact: set[int]) -> DevicePbx:
        return DevicePbx(d.number, d.kind, d.extension, d.sip_password or "",
                         d.description or d.number, d.id in with_contact)

    def _agent_pbx(self, db: DbSession, a: Agent, devices: dict[int, DevicePbx]) -> AgentPbxState:
        device_id = self._effective_device_id(a)
        return AgentPbxState(
            agent_id=a.id, number=a.number,
            device=devices.get(device_id) if device_id is not None else None,
            paused=a.paused, pause_reason=a.pause_reason, wrapup=a.wrapup,
            memberships=tuple(MemberPbx(m.group.queue, m.membership, m.checked_in)
                              for m in a.memberships))

    def _devices_pbx(self, db: DbSession) -> dict[int, DevicePbx]:
        with_contact = set(db.scalars(select(DeviceContact.device_id)).all())
        return {d.id: self._device_pbx(d, with_contact)
                for d in db.scalars(select(Device).order_by(Device.number)).all()}

    def pbx_snapshot(self) -> PbxSnapshot:
        """Everything the PBX config and a full reconcile need."""
        with self._read() as db:
            devices = self._devices_pbx(db)
            groups = db.scalars(select(Group).order_by(Group.queue)).all()
            agents = db.scalars(select(Agent).order_by(Agent.id)).all()
            return PbxSnapshot(
                devices=tuple(devices.values()),
                groups=tuple(GroupPbx(g.name, g.queue, g.extension) for g in groups),
                agents=tuple(self._agent_pbx(db, a, devices) for a in agents))

    def agent_pbx_states(self, agent_ids: Sequence[int]) -> list[AgentPbxState]:
        with self._read() as db:
            devices = self._devices_pbx(db)
            agents = db.scalars(select(Agent).where(Agent.id.in_(agent_ids))).all()
            return [self._agent_pbx(db, a, devices) for a in agents]

    # ----------------------------------------------------------------- billing

    def record_cdr(self, cdr: dict[str, str]) -> bool:
        """Turn a PBX call record into a billed call, if someone pays for it.

        The dial plan marks billable legs with `billto=<device number>` in the CDR's user
        field: the caller's device for outside calls, the external device for an extension
        that stands for an outside number. Its owner pays.
        """
        match = re.search(r"billto=([^;,\s]+)", cdr.get("UserField", ""))
        uniqueid = cdr.get("UniqueID", "")
        if match is None or not uniqueid:
            return False
        with self._tx() as tx:
            if tx.db.scalar(select(CallRecord.id).where(CallRecord.uniqueid == uniqueid)):
                return False
            device = tx.db.scalar(select(Device).where(Device.number == match.group(1)))
            if device is None:
                log.warning("CDR %s bills unknown device %s", uniqueid, match.group(1))
                return False
            destination = (device.number if device.kind == DeviceKind.EXTERNAL.value
                           else cdr.get("Destination", ""))
            billable = int(cdr.get("BillableSeconds") or 0)
            rates = tx.db.scalars(select(Rate).where(Rate.team_id == device.team_id)).all()
            rate = max((r for r in rates if destination.startswith(r.prefix)),
                       key=lambda r: len(r.prefix), default=None)
            minutes = -(-billable // 60)  # started minutes
            cost = (rate.per_minute * minutes) if rate is not None else Decimal(0)
            tx.db.add(CallRecord(
                uniqueid=uniqueid, team_id=device.team_id, billed_user_id=device.owner_id,
                device_id=device.id, source=cdr.get("Source", ""), destination=destination,
                started_at=_cdr_time(cdr.get("StartTime")) or tx.now,
                answered_at=_cdr_time(cdr.get("AnswerTime")),
                ended_at=_cdr_time(cdr.get("EndTime")) or tx.now,
                billable_s=billable, disposition=cdr.get("Disposition", ""), cost=cost))
            log.info("billed call %s to %s: %s s, %s", uniqueid, device.owner_id, billable, cost)
            return True

    def usage(self, p: Principal, team_name: str, start: float, end: float) -> dict[str, Any]:
        """Calls and cost per billed user of a team between two times."""
        tid = self.team_id(p, team_name)
        with self._read() as db:
            rows = db.execute(
                select(CallRecord.billed_user_id, func.count(), func.sum(CallRecord.billable_s),
                       func.sum(CallRecord.cost))
                .where(CallRecord.team_id == tid, CallRecord.started_at >= start,
                       CallRecord.started_at < end)
                .group_by(CallRecord.billed_user_id)).all()
            names = dict(db.execute(select(Account.id, Account.username)
                                    .where(Account.team_id == tid)).all())
            users = [{"user": names.get(uid) if uid is not None else None,
                      "calls": int(calls), "billable_seconds": int(secs or 0),
                      "cost": str(Decimal(cost or 0).quantize(Decimal("0.0001")))}
                     for uid, calls, secs, cost in rows]
        users.sort(key=lambda u: (u["user"] is None, u["user"] or ""))
        return {"team": team_name, "from": iso(start), "to": iso(end), "users": users}

    def _after_call(self, tx: _Tx, agent: Agent, answered: bool) -> None:
        if agent.pending_checkout_reason is not None:
            if not self._has_live_session(tx.db, agent.id):
                self._checkout_dynamic(tx, agent, reason=agent.pending_checkout_reason, by=None)
                self._release_device(tx, agent)
                return
            agent.pending_checkout_reason = None
        team = tx.db.get(Team, agent.team_id)
        if answered and team is not None and team.wrapup_s > 0:
            agent.wrapup, agent.wrapup_until = True, tx.now + team.wrapup_s
            agent.wrapup_at = tx.now
            tx.emit("agent.wrapup_started", agent.team_id, agent,
                    {"agent": agent.number, "until": iso(agent.wrapup_until)})


def _cdr_time(text: str | None) -> float | None:
    """Asterisk CDR times are local 'YYYY-MM-DD HH:MM:SS' (empty when not answered)."""
    if not text:
        return None
    try:
        return datetime.strptime(text[:19], "%Y-%m-%d %H:%M:%S").astimezone().timestamp()
    except ValueError:
        return None
