"""Typed, immutable views of the API's JSON bodies, parsed tolerantly.

Unknown fields are ignored (docs/api.md: clients must ignore them); a missing or mistyped
required field raises `ProtocolError` naming the path, so a wrong server or a broken proxy
gives one clear error instead of a KeyError deep in the UI. Secrets (token, SIP password) are
kept out of `repr` so a logged object never leaks them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from .errors import PROTO_BAD_SHAPE, ProtocolError

T = TypeVar("T")


class _Obj:
    """A JSON object being read, with its path for error messages."""

    __slots__ = ("_d", "_path")

    def __init__(self, value: object, path: str) -> None:
        if not isinstance(value, Mapping):
            raise _bad(path, "an object", value)
        self._d: Mapping[Any, Any] = value
        self._path = path

    def _get(self, key: str, required: bool) -> object:
        if key not in self._d:
            if required:
                raise ProtocolError(PROTO_BAD_SHAPE, detail=f"{self._path}.{key} is missing")
            return None
        return self._d[key]

    def text(self, key: str) -> str:
        v = self._get(key, True)
        if not isinstance(v, str):
            raise _bad(f"{self._path}.{key}", "a string", v)
        return v

    def opt_text(self, key: str, default: str | None = None) -> str | None:
        v = self._get(key, False)
        if v is None:
            return default
        if not isinstance(v, str):
            raise _bad(f"{self._path}.{key}", "a string or null", v)
        return v

    def integer(self, key: str, default: int | None = None) -> int:
        v = self._get(key, default is None)
        if v is None and default is not None:
            return default
        if not isinstance(v, int) or isinstance(v, bool):
            raise _bad(f"{self._path}.{key}", "an integer", v)
        return v

    def boolean(self, key: str, default: bool | None = None) -> bool:
        v = self._get(key, default is None)
        if v is None and default is not None:
            return default
        if not isinstance(v, bool):
            raise _bad(f"{self._path}.{key}", "true or false", v)
        return v

    def number(self, key: str, default: float | None = None) -> float | None:
        v = self._get(key, False)
        if v is None:
            return default
        if not isinstance(v, int | float) or isinstance(v, bool):
            raise _bad(f"{self._path}.{key}", "a number", v)
        return float(v)

    def opt_boolean(self, key: str) -> bool | None:
        v = self._get(key, False)
        if v is None or isinstance(v, bool):
            return v
        raise _bad(f"{self._path}.{key}", "true, false or null", v)

    def obj(self, key: str, parse: Callable[[object, str], T]) -> T:
        return parse(self._get(key, True), f"{self._path}.{key}")

    def opt_obj(self, key: str, parse: Callable[[object, str], T]) -> T | None:
        v = self._get(key, False)
        return None if v is None else parse(v, f"{self._path}.{key}")

    def items(self, key: str, parse: Callable[[object, str], T], *,
             required: bool = True) -> tuple[T, ...]:
        v = self._get(key, required)
        if v is None and not required:
            return ()
        if not isinstance(v, list):
            raise _bad(f"{self._path}.{key}", "a list", v)
        return tuple(parse(item, f"{self._path}.{key}[{i}]") for i, item in enumerate(v))

    def str_map(self, key: str) -> Mapping[str, str] | None:
        v = self._get(key, False)
        if v is None:
            return None
        if not isinstance(v, Mapping):
            raise _bad(f"{self._path}.{key}", "an object", v)
        # Call info is free-form; keep only plain text values rather than fail on extras.
        return {str(k): val for k, val in v.items() if isinstance(val, str)}


def _bad(path: str, expected: str, value: object) -> ProtocolError:
    return ProtocolError(PROTO_BAD_SHAPE,
                         detail=f"{path} should be {expected}, not {type(value).__name__}")


# --------------------------------------------------------------------------- bodies


@dataclass(frozen=True)
class SipCredentials:
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class Device:
    number: str
    kind: str
    extension: str | None
    sip: SipCredentials | None
    registered: bool | None = None  # internal devices: a phone is registered for it


@dataclass(frozen=True)
class Group:
    name: str
    queue: str
    membership: str
    checked_in: bool
    checked_in_at: str | None


@dataclass(frozen=True)
class Availability:
    logged_in: bool
    checked_in: bool
    paused: bool
    pause_reason: str | None
    pause_note: str | None
    paused_at: str | None
    paused_by: str | None
    wrapup: bool
    wrapup_until: str | None
    checkout_pending: bool


@dataclass(frozen=True)
class Activity:
    state: str
    since: str | None
    call: Mapping[str, str] | None


@dataclass(frozen=True)
class SessionInfo:
    id: int
    terminal_id: str
    client_version: str
    ip: str
    role: str
    created_at: str
    last_heartbeat_at: str
    expires_at: str
    current: bool | None


@dataclass(frozen=True)
class Agent:
    number: str
    name: str
    device_mode: str
    device: Device | None
    groups: tuple[Group, ...]
    availability: Availability
    activity: Activity
    sessions: tuple[SessionInfo, ...]
    state_version: int


@dataclass(frozen=True)
class PauseReason:
    code: str
    label: str


@dataclass(frozen=True)
class LoginResult:
    token: str = field(repr=False)
    session: SessionInfo
    role: str
    heartbeat_interval_s: int
    session_timeout_s: int
    team: str | None
    agent: Agent | None
    pause_reasons: tuple[PauseReason, ...]
    last_event_id: int
    admin_device: Device | None = None  # a team admin's own phone (listen/whisper/barge)


@dataclass(frozen=True)
class Notice:
    code: str
    message: str


@dataclass(frozen=True)
class HeartbeatReply:
    server_time: str
    expires_at: str
    heartbeat_interval_s: int
    state_version: int
    notices: tuple[Notice, ...]


@dataclass(frozen=True)
class Me:
    role: str
    name: str
    team: str | None
    terminal_id: str
    agent: Agent | None
    pause_reasons: tuple[PauseReason, ...]
    last_event_id: int


@dataclass(frozen=True)
class GroupResult:
    group: str
    result: str
    changed: bool


@dataclass(frozen=True)
class CheckinReply:
    results: tuple[GroupResult, ...]
    state_version: int

    def by_group(self) -> dict[str, str]:
        return {r.group: r.result for r in self.results}


@dataclass(frozen=True)
class ChangedReply:
    changed: bool
    state_version: int


@dataclass(frozen=True)
class DeviceReply:
    device: Device | None
    state_version: int


@dataclass(frozen=True)
class TeamGroup:
    name: str
    queue: str
    extension: str | None


@dataclass(frozen=True)
class Board:
    team: str
    heartbeat_interval_s: int
    session_timeout_s: int
    groups: tuple[TeamGroup, ...]
    agents: tuple[Agent, ...]
    last_event_id: int


@dataclass(frozen=True)
class ForceLogoutReply:
    ended: tuple[str, ...]


@dataclass(frozen=True)
class UserUsage:
    user: str | None
    calls: int
    billable_seconds: int
    cost: Decimal


@dataclass(frozen=True)
class Usage:
    team: str
    first: str
    last: str
    users: tuple[UserUsage, ...]


@dataclass(frozen=True)
class ProvisionReply:
    applied: Mapping[str, int]


# --------------------------------------------------------------------------- parsers
# Each takes the decoded JSON value and a path; each raises only ProtocolError.


def parse_sip(v: object, path: str = "sip") -> SipCredentials:
    o = _Obj(v, path)
    return SipCredentials(o.text("username"), o.text("password"))


def parse_device(v: object, path: str = "device") -> Device:
    o = _Obj(v, path)
    return Device(o.text("number"), o.text("kind"), o.opt_text("extension"),
                  o.opt_obj("sip", parse_sip), o.opt_boolean("registered"))


def parse_group(v: object, path: str = "group") -> Group:
    o = _Obj(v, path)
    return Group(o.text("name"), o.text("queue"), o.text("membership"), o.boolean("checked_in"),
                 o.opt_text("checked_in_at"))


def parse_availability(v: object, path: str = "availability") -> Availability:
    o = _Obj(v, path)
    return Availability(
        logged_in=o.boolean("logged_in", False), checked_in=o.boolean("checked_in"),
        paused=o.boolean("paused"), pause_reason=o.opt_text("pause_reason"),
        pause_note=o.opt_text("pause_note"), paused_at=o.opt_text("paused_at"),
        paused_by=o.opt_text("paused_by"), wrapup=o.boolean("wrapup", False),
        wrapup_until=o.opt_text("wrapup_until"),
        checkout_pending=o.boolean("checkout_pending", False),
    )


def parse_activity(v: object, path: str = "activity") -> Activity:
    o = _Obj(v, path)
    return Activity(o.text("state"), o.opt_text("since"), o.str_map("call"))


def parse_session_info(v: object, path: str = "session") -> SessionInfo:
    o = _Obj(v, path)
    return SessionInfo(
        id=o.integer("id"), terminal_id=o.text("terminal_id"),
        client_version=o.opt_text("client_version", "") or "", ip=o.opt_text("ip", "") or "",
        role=o.text("role"), created_at=o.opt_text("created_at", "") or "",
        last_heartbeat_at=o.opt_text("last_heartbeat_at", "") or "",
        expires_at=o.opt_text("expires_at", "") or "", current=o.opt_boolean("current"),
    )


def parse_agent(v: object, path: str = "agent") -> Agent:
    o = _Obj(v, path)
    return Agent(
        number=o.text("number"), name=o.opt_text("name", "") or "",
        device_mode=o.text("device_mode"), device=o.opt_obj("device", parse_device),
        groups=o.items("groups", parse_group), availability=o.obj("availability",
                                                                 parse_availability),
        activity=o.obj("activity", parse_activity),
        sessions=o.items("sessions", parse_session_info, required=False),
        state_version=o.integer("state_version"),
    )


def parse_pause_reason(v: object, path: str = "pause_reason") -> PauseReason:
    o = _Obj(v, path)
    code = o.text("code")
    return PauseReason(code, o.opt_text("label", code) or code)


def parse_login(v: object, path: str = "login") -> LoginResult:
    o = _Obj(v, path)
    return LoginResult(
        token=o.text("token"), session=o.obj("session", parse_session_info), role=o.text("role"),
        heartbeat_interval_s=o.integer("heartbeat_interval_s"),
        session_timeout_s=o.integer("session_timeout_s"), team=o.opt_text("team"),
        agent=o.opt_obj("agent", parse_agent),
        pause_reasons=o.items("pause_reasons", parse_pause_reason, required=False),
        last_event_id=o.integer("last_event_id"),
        admin_device=o.opt_obj("admin_device", parse_device),
    )


def parse_notice(v: object, path: str = "notice") -> Notice:
    o = _Obj(v, path)
    return Notice(o.text("code"), o.opt_text("message", "") or "")


def parse_heartbeat(v: object, path: str = "heartbeat") -> HeartbeatReply:
    o = _Obj(v, path)
    return HeartbeatReply(
        server_time=o.opt_text("server_time", "") or "", expires_at=o.text("expires_at"),
        heartbeat_interval_s=o.integer("heartbeat_interval_s"),
        state_version=o.integer("state_version"),
        notices=o.items("notices", parse_notice, required=False),
    )


def parse_me(v: object, path: str = "me") -> Me:
    o = _Obj(v, path)
    return Me(
        role=o.text("role"), name=o.opt_text("name", "") or "", team=o.opt_text("team"),
        terminal_id=o.opt_text("terminal_id", "") or "", agent=o.opt_obj("agent", parse_agent),
        pause_reasons=o.items("pause_reasons", parse_pause_reason, required=False),
        last_event_id=o.integer("last_event_id"),
    )


def parse_sessions(v: object, path: str = "sessions") -> tuple[SessionInfo, ...]:
    if not isinstance(v, list):
        raise _bad(path, "a list", v)
    return tuple(parse_session_info(item, f"{path}[{i}]") for i, item in enumerate(v))


def parse_group_result(v: object, path: str = "result") -> GroupResult:
    o = _Obj(v, path)
    return GroupResult(o.text("group"), o.text("result"), o.boolean("changed", False))


def parse_checkin(v: object, path: str = "checkin") -> CheckinReply:
    o = _Obj(v, path)
    return CheckinReply(o.items("results", parse_group_result), o.integer("state_version"))


def parse_changed(v: object, path: str = "reply") -> ChangedReply:
    o = _Obj(v, path)
    return ChangedReply(o.boolean("changed"), o.integer("state_version"))


def parse_device_reply(v: object, path: str = "reply") -> DeviceReply:
    o = _Obj(v, path)
    return DeviceReply(o.opt_obj("device", parse_device), o.integer("state_version"))


def parse_team_group(v: object, path: str = "group") -> TeamGroup:
    o = _Obj(v, path)
    return TeamGroup(o.text("name"), o.text("queue"), o.opt_text("extension"))


def parse_board(v: object, path: str = "board") -> Board:
    o = _Obj(v, path)
    return Board(
        team=o.text("team"), heartbeat_interval_s=o.integer("heartbeat_interval_s"),
        session_timeout_s=o.integer("session_timeout_s"),
        groups=o.items("groups", parse_team_group),
        agents=o.items("agents", parse_agent), last_event_id=o.integer("last_event_id"),
    )


def _parse_str(v: object, path: str) -> str:
    if not isinstance(v, str):
        raise _bad(path, "a string", v)
    return v


def parse_force_logout(v: object, path: str = "reply") -> ForceLogoutReply:
    return ForceLogoutReply(_Obj(v, path).items("ended", _parse_str))


def parse_user_usage(v: object, path: str = "user") -> UserUsage:
    o = _Obj(v, path)
    raw_cost = o.text("cost")
    try:
        cost = Decimal(raw_cost)
    except (InvalidOperation, ValueError):
        raise ProtocolError(PROTO_BAD_SHAPE, detail=f"{path}.cost is not a number") from None
    if not cost.is_finite():
        raise ProtocolError(PROTO_BAD_SHAPE, detail=f"{path}.cost is not a finite number")
    return UserUsage(o.opt_text("user"), o.integer("calls"), o.integer("billable_seconds"), cost)


def parse_usage(v: object, path: str = "usage") -> Usage:
    o = _Obj(v, path)
    return Usage(o.text("team"), o.text("from"), o.text("to"), o.items("users", parse_user_usage))


def parse_provision(v: object, path: str = "reply") -> ProvisionReply:
    o = _Obj(v, path)
    raw = o.obj("applied", lambda x, p: _Obj(x, p))
    applied: dict[str, int] = {}
    for key in list(raw._d):
        applied[str(key)] = raw.integer(str(key))
    return ProvisionReply(applied)


#: Every body parser, for the property test (and nothing else).
PARSERS: tuple[Callable[[object, str], object], ...] = (
    parse_login, parse_heartbeat, parse_me, parse_sessions, parse_checkin, parse_changed,
    parse_device_reply, parse_board, parse_force_logout, parse_usage, parse_provision,
    parse_agent, parse_device, parse_group, parse_availability, parse_activity,
)


@dataclass(frozen=True)
class QueueRow:
    """One group of the queue panel (GET /teams/{team}/queues, `queue.changed`)."""

    group: str
    extension: str | None
    service_level_s: int
    version: int
    waiting: int
    oldest_joined_at: str | None
    longest_wait_s: float
    in_queue: int
    available: int
    paused: int
    busy: int
    answered: int
    abandoned: int
    service_level: float | None


@dataclass(frozen=True)
class Queues:
    team: str
    server_time: str | None
    queues: tuple[QueueRow, ...]
    last_event_id: int


@dataclass(frozen=True)
class SpyReply:
    agent: str
    mode: str
    device: str
    call_id: str


def parse_queue_row(v: object, path: str = "queue") -> QueueRow:
    o = _Obj(v, path)
    agents = _Obj(o.obj("agents", lambda x, _p: x), f"{path}.agents")
    today = _Obj(o.obj("today", lambda x, _p: x), f"{path}.today")
    return QueueRow(
        group=o.text("group"), extension=o.opt_text("extension"),
        service_level_s=o.integer("service_level_s", 20), version=o.integer("version", 0),
        waiting=o.integer("waiting"), oldest_joined_at=o.opt_text("oldest_joined_at"),
        longest_wait_s=o.number("longest_wait_s", 0.0) or 0.0,
        in_queue=agents.integer("in_queue", 0), available=agents.integer("available", 0),
        paused=agents.integer("paused", 0), busy=agents.integer("busy", 0),
        answered=today.integer("answered", 0), abandoned=today.integer("abandoned", 0),
        service_level=today.number("service_level"),
    )


def parse_queues(v: object, path: str = "queues") -> Queues:
    o = _Obj(v, path)
    return Queues(o.text("team"), o.opt_text("server_time"), o.items("queues", parse_queue_row),
                  o.integer("last_event_id", 0))


def parse_object(v: object, path: str = "body") -> dict[str, Any]:
    if not isinstance(v, Mapping):
        raise _bad(path, "an object", v)
    return dict(v)


def parse_spy(v: object, path: str = "spy") -> SpyReply:
    o = _Obj(v, path)
    return SpyReply(o.text("agent"), o.text("mode"), o.text("device"), o.text("call_id"))
