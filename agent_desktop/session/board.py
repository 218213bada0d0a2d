"""The team board as data: one row per agent, built from `GET /teams/{team}/board` and kept
current by applying the event stream's events one at a time (no refetch per change).

`TeamBoard.apply(type, data)` returns the number of the agent whose row changed (None when the
event changes no row); a `resync` (or an event about an agent the board does not know) means
"refetch the board". Times are the server's ISO strings, turned into epoch seconds once.
Pure Python (no Qt): the board model in agent_desktop/ui wraps it; benchmarks drive it.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .errors import ProtocolError
from .models import Agent, Board, SessionInfo, parse_agent

log = logging.getLogger("agent_desktop.session.board")


class Presence(enum.IntEnum):
    """Availability, in the order a supervisor sorts by (most urgent last)."""

    LOGGED_OUT = 0
    LOGGED_IN = 1  # logged in, in no queue
    READY = 2  # checked in, not paused
    WRAPUP = 3
    PAUSED = 4


class Activity(enum.IntEnum):
    IDLE = 0
    RINGING = 1
    TALKING = 2
    HOLD = 3


ACTIVITY_BY_NAME = {"idle": Activity.IDLE, "ringing": Activity.RINGING,
                    "talking": Activity.TALKING, "hold": Activity.HOLD}


def epoch(value: object) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass(slots=True)
class Terminal:
    session_id: int
    terminal_id: str
    ip: str
    client_version: str


@dataclass(slots=True)
class BoardRow:
    number: str
    name: str
    device_mode: str
    device: str = ""
    registered: bool | None = None  # None: the server did not say
    logged_in: bool = False
    groups: dict[str, bool] = field(default_factory=dict)  # name -> checked in
    static: set[str] = field(default_factory=set)
    paused: bool = False
    pause_reason: str = ""
    paused_by: str = ""
    paused_at: float | None = None
    wrapup: bool = False
    wrapup_at: float | None = None
    activity: Activity = Activity.IDLE
    activity_at: float | None = None
    caller: str = ""
    queue: str = ""
    terminals: list[Terminal] = field(default_factory=list)
    changed_at: float = 0.0  # when the last event touched the row (server time)
    version: int = 0  # the server's state_version of the row

    @property
    def checked_in(self) -> bool:
        return any(self.groups.values())

    @property
    def presence(self) -> Presence:
        if not self.logged_in:  # (a static member still gets calls: the groups say so)
            return Presence.LOGGED_OUT
        if self.paused:
            return Presence.PAUSED
        if self.wrapup:
            return Presence.WRAPUP
        return Presence.READY if self.checked_in else Presence.LOGGED_IN

    @property
    def since(self) -> float | None:
        """When the state a supervisor watches began (call, pause or wrap-up)."""
        if self.activity is not Activity.IDLE:
            return self.activity_at
        if self.paused:
            return self.paused_at
        if self.wrapup:
            return self.wrapup_at
        return None

    @classmethod
    def from_agent(cls, a: Agent) -> BoardRow:
        av, act = a.availability, a.activity
        call = act.call or {}
        return cls(
            number=a.number, name=a.name, device_mode=a.device_mode,
            device=a.device.number if a.device else "",
            registered=_registered(a),
            logged_in=av.logged_in,
            groups={g.name: g.checked_in or g.membership == "static" for g in a.groups},
            static={g.name for g in a.groups if g.membership == "static"},
            paused=av.paused, pause_reason=av.pause_reason or "", paused_by=av.paused_by or "",
            paused_at=epoch(av.paused_at), wrapup=av.wrapup, wrapup_at=None,
            activity=ACTIVITY_BY_NAME.get(act.state, Activity.IDLE),
            activity_at=epoch(act.since), caller=str(call.get("caller_id", "")),
            queue=str(call.get("queue", "")),
            terminals=[_terminal(s) for s in a.sessions], version=a.state_version,
        )


def _registered(a: Agent) -> bool | None:
    return a.device.registered if a.device is not None else None


def _terminal(s: SessionInfo) -> Terminal:
    return Terminal(s.id, s.terminal_id, s.ip, s.client_version)


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""


class TeamBoard:
    """Rows by agent number, in the board's order; `apply` keeps them current."""

    def __init__(self, board: Board | None = None) -> None:
        self.team = ""
        self.groups: tuple[str, ...] = ()
        self.rows: list[BoardRow] = []
        self.index: dict[str, int] = {}
        self.last_event_id = 0
        if board is not None:
            self.load(board)

    def load(self, board: Board) -> None:
        self.team = board.team
        self.groups = tuple(g.name for g in board.groups)
        self.rows = [BoardRow.from_agent(a) for a in board.agents]
        self.index = {r.number: i for i, r in enumerate(self.rows)}
        self.last_event_id = board.last_event_id

    def row(self, number: str) -> BoardRow | None:
        i = self.index.get(number)
        return self.rows[i] if i is not None else None

    def apply(self, etype: str, data: Mapping[str, Any], event_id: int = 0) -> str | None:
        """Apply one event; the changed agent's number, or None. Raises NeedsRefetch."""
        if event_id:
            self.last_event_id = max(self.last_event_id, event_id)
        if etype == "resync":
            raise NeedsRefetch("resync")
        number = _text(data, "agent")
        if not number:
            return None
        row = self.row(number)
        if row is None:
            raise NeedsRefetch(f"unknown agent {number}")
        if etype == "board.agent_changed":
            return self._replace(row, data)
        handler = _HANDLERS.get(etype)
        if handler is None:
            return None
        at = epoch(data.get("at")) or 0.0
        handler(row, data, at)
        row.changed_at = at
        return number

    def _replace(self, row: BoardRow, data: Mapping[str, Any]) -> str | None:
        """The server's whole new row: it wins over what the finer events built."""
        version = data.get("version")
        if isinstance(version, int) and version <= row.version:
            return None  # older than (or the same as) what we show
        try:
            fresh = BoardRow.from_agent(parse_agent(data.get("row")))
        except ProtocolError as exc:
            log.warning("board row of %s not understood: %s", row.number, exc)
            raise NeedsRefetch(str(exc)) from exc
        fresh.changed_at = epoch(data.get("at")) or row.changed_at
        self.rows[self.index[row.number]] = fresh
        return row.number

    def apply_many(self, events: Iterable[tuple[str, Mapping[str, Any], int]]) -> set[str]:
        changed: set[str] = set()
        for etype, data, event_id in events:
            number = self.apply(etype, data, event_id)
            if number is not None:
                changed.add(number)
        return changed


class NeedsRefetch(Exception):
    """The board can no longer be kept current from events: fetch it again."""


def _session_started(row: BoardRow, d: Mapping[str, Any], at: float) -> None:
    sid = d.get("session_id")
    if isinstance(sid, int) and not any(t.session_id == sid for t in row.terminals):
        row.terminals.append(Terminal(sid, _text(d, "terminal_id"), _text(d, "ip"),
                                      _text(d, "client_version")))
    row.logged_in = True


def _session_ended(row: BoardRow, d: Mapping[str, Any], at: float) -> None:
    sid = d.get("session_id")
    row.terminals = [t for t in row.terminals if t.session_id != sid]
    row.logged_in = bool(row.terminals)


def _membership(checked_in: bool) -> Any:
    def apply(row: BoardRow, d: Mapping[str, Any], at: float) -> None:
        group = _text(d, "group")
        if group:
            row.groups[group] = checked_in or group in row.static
    return apply


def _paused(row: BoardRow, d: Mapping[str, Any], at: float) -> None:
    row.paused = True
    row.pause_reason = _text(d, "pause_reason")
    row.paused_by = _text(d, "by")
    row.paused_at = at


def _unpaused(row: BoardRow, d: Mapping[str, Any], at: float) -> None:
    row.paused, row.pause_reason, row.paused_by, row.paused_at = False, "", "", None


def _wrapup(on: bool) -> Any:
    def apply(row: BoardRow, d: Mapping[str, Any], at: float) -> None:
        row.wrapup = on
        row.wrapup_at = at if on else None
    return apply


def _device(row: BoardRow, d: Mapping[str, Any], at: float) -> None:
    device = d.get("device")
    if isinstance(device, Mapping):
        row.device = _text(device, "number")
    else:
        row.device = device if isinstance(device, str) else ""
    row.registered = None


def _registration(row: BoardRow, d: Mapping[str, Any], at: float) -> None:
    value = d.get("registered")
    row.registered = value if isinstance(value, bool) else None


def _activity(state: Activity) -> Any:
    def apply(row: BoardRow, d: Mapping[str, Any], at: float) -> None:
        if state is Activity.IDLE:
            row.caller, row.queue = "", ""
        else:
            row.caller = _text(d, "caller_id") or row.caller
            row.queue = _text(d, "queue") or row.queue
        if state is not row.activity:
            row.activity_at = at if state is not Activity.IDLE else None
        row.activity = state
    return apply


_HANDLERS: dict[str, Any] = {
    "session.started": _session_started,
    "session.ended": _session_ended,
    "agent.checked_in": _membership(True),
    "agent.checked_out": _membership(False),
    "agent.paused": _paused,
    "agent.unpaused": _unpaused,
    "agent.wrapup_started": _wrapup(True),
    "agent.wrapup_ended": _wrapup(False),
    "agent.device_changed": _device,
    "device.registration": _registration,
    "call.ringing": _activity(Activity.RINGING),
    "call.answered": _activity(Activity.TALKING),
    "call.resumed": _activity(Activity.TALKING),
    "call.hold": _activity(Activity.HOLD),
    "call.ended": _activity(Activity.IDLE),
}
