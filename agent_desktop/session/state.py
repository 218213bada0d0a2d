"""The agent state machine: one object holding the whole chain
network → SIP → session → queues → pause/wrap-up (and call activity), as one immutable snapshot.

Every change goes through `transition(new, reason)`, which logs it (logger
"agent_desktop.session.state") and emits `changed(old, new, reason)`. The input methods below
only compute the next snapshot; they never touch the network (the heartbeat, event stream and
engine feed them on the GUI thread).

Rules from issue 5: a failing heartbeat marks the server unreachable and keeps the call; an
ended session keeps its reason for the UI and allows re-login; a supervisor's checkout or pause
keeps who and why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from enum import Enum
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from . import errors as e
from .errors import END_REASON_CODES

if TYPE_CHECKING:  # the parsers load with the HTTP client, after the login window is up
    from .models import Agent, HeartbeatReply, LoginResult, Me

log = logging.getLogger("agent_desktop.session.state")


class Network(Enum):
    UNKNOWN = "unknown"
    REACHABLE = "reachable"
    UNREACHABLE = "unreachable"  # "server unreachable, retrying"


class Sip(Enum):
    UNREGISTERED = "unregistered"
    REGISTERING = "registering"
    REGISTERED = "registered"
    FAILED = "failed"


class Session(Enum):
    LOGGED_OUT = "logged_out"
    LOGGING_IN = "logging_in"
    ACTIVE = "active"
    ENDED = "ended"  # expired / revoked / replaced: `ended` says why; re-login possible


class Queues(Enum):
    CHECKED_OUT = "checked_out"
    CHECKED_IN = "checked_in"
    CHECKOUT_PENDING = "checkout_pending"  # logged out during a call; leaves at hang-up


class Availability(Enum):
    READY = "ready"
    PAUSED = "paused"
    WRAPUP = "wrapup"


class Call(Enum):
    IDLE = "idle"
    RINGING = "ringing"
    TALKING = "talking"
    HOLD = "hold"


@dataclass(frozen=True)
class SessionEnd:
    code: str              # session_expired, session_revoked, session_replaced, session_ended
    detail: str = ""       # the admin's reason for a forced logout
    by: str | None = None


@dataclass(frozen=True)
class ByWhom:
    """Who made a change the agent did not make, and why (None `by`: the agent or the system)."""

    by: str | None
    reason: str
    what: str = ""         # pause reason code or group name


@dataclass(frozen=True)
class AgentState:
    network: Network = Network.UNKNOWN
    sip: Sip = Sip.UNREGISTERED
    session: Session = Session.LOGGED_OUT
    queues: Queues = Queues.CHECKED_OUT
    availability: Availability = Availability.READY
    call: Call = Call.IDLE
    checked_in: frozenset[str] = frozenset()
    session_id: int | None = None
    ended: SessionEnd | None = None
    pause: ByWhom | None = None
    forced_checkout: ByWhom | None = None
    sip_reason: str = ""
    network_error: str = ""

    @property
    def can_relogin(self) -> bool:
        return self.session in (Session.ENDED, Session.LOGGED_OUT)

    @property
    def on_call(self) -> bool:
        return self.call is not Call.IDLE

    def summary(self) -> str:
        return (f"net={self.network.value} sip={self.sip.value} session={self.session.value} "
                f"queues={self.queues.value}{sorted(self.checked_in)} "
                f"avail={self.availability.value} call={self.call.value}")


_CALL_EVENTS = {"call.ringing": Call.RINGING, "call.answered": Call.TALKING,
                "call.hold": Call.HOLD, "call.resumed": Call.TALKING, "call.ended": Call.IDLE}
_SIP_STATES = {s.value: s for s in Sip}


def _text(data: dict[str, Any], key: str) -> str:
    v = data.get(key)
    return v if isinstance(v, str) else ""


def _by(data: dict[str, Any]) -> str | None:
    v = data.get("by")
    return v if isinstance(v, str) and v else None


class AgentStateMachine(QObject):
    changed = Signal(object, object, str)  # old AgentState, new AgentState, reason

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._state = AgentState()
        # This login's agent number ("" without a seat). A team admin's event stream carries
        # the whole team's agent.* and call.* events: only this agent's change this state.
        self._agent_number = ""

    @property
    def state(self) -> AgentState:
        return self._state

    def transition(self, new: AgentState, reason: str) -> None:
        """The one place the state changes."""
        old = self._state
        if new == old:
            log.debug("no change (%s)", reason)
            return
        self._state = new
        log.info("%s -> %s: %s", old.summary(), new.summary(), reason)
        self.changed.emit(old, new, reason)

    # ----------------------------------------------------------------- session inputs

    def login_started(self) -> None:
        self.transition(replace(self._state, session=Session.LOGGING_IN), "login started")

    def login_failed(self, error: BaseException) -> None:
        s = self._state
        network = Network.UNREACHABLE if isinstance(error, e.NetworkError) else s.network
        code = getattr(error, "code", type(error).__name__)
        self.transition(replace(s, session=Session.LOGGED_OUT, network=network,
                                network_error=code if network is Network.UNREACHABLE else ""),
                        f"login failed: {code}")

    def login_succeeded(self, result: LoginResult) -> None:
        self._agent_number = result.agent.number if result.agent is not None else ""
        base = replace(self._state, network=Network.REACHABLE, network_error="",
                       session=Session.ACTIVE, session_id=result.session.id, ended=None,
                       forced_checkout=None)
        if result.agent is None:
            # No seat (a team admin's team view): nothing of an earlier login's agent stays.
            default = AgentState()
            base = replace(base, queues=default.queues, availability=default.availability,
                           call=default.call, checked_in=default.checked_in, pause=None)
        self.transition(self._with_agent(base, result.agent), f"logged in as {result.role}")

    def is_own_event(self, etype: str, data: dict[str, Any]) -> bool:
        """Whether an agent.* or call.* event is about this login's agent (other events are
        not about an agent: False)."""
        return (etype.startswith(("agent.", "call.")) and bool(self._agent_number)
                and data.get("agent") == self._agent_number)

    def me_refreshed(self, me: Me) -> None:
        self.transition(self._with_agent(self._state, me.agent), "state refetched (/me)")

    def heartbeat_ok(self, reply: HeartbeatReply) -> None:
        del reply
        self.transition(replace(self._state, network=Network.REACHABLE, network_error=""),
                        "heartbeat ok")

    def heartbeat_failed(self, error: BaseException) -> None:
        # The session is still ours until the server says otherwise (its timeout is 90 s), and
        # the call runs over SIP/RTP: only the server chip changes.
        code = getattr(error, "code", type(error).__name__)
        self.transition(replace(self._state, network=Network.UNREACHABLE, network_error=code),
                        f"server unreachable, retrying ({code})")

    def session_ended(self, code: str, detail: str = "", by: str | None = None) -> None:
        s = self._state
        # The call, if any, goes on (the server never hangs up because a session ended).
        self.transition(replace(s, session=Session.ENDED, ended=SessionEnd(code, detail, by)),
                        f"session ended: {code}" + (f" ({detail})" if detail else ""))

    def logged_out(self) -> None:
        self.transition(replace(self._state, session=Session.LOGGED_OUT, ended=None,
                                session_id=None), "logged out by the agent")

    # ----------------------------------------------------------------- SIP input

    def sip_registration(self, state: str, reason: str) -> None:
        """Called by the engine wiring: state is unregistered|registering|registered|failed."""
        sip = _SIP_STATES.get(state, Sip.FAILED)
        self.transition(replace(self._state, sip=sip, sip_reason=reason),
                        f"SIP {state}: {reason}")

    # ----------------------------------------------------------------- stream events

    def on_event(self, etype: str, data: dict[str, Any], event_id: int) -> None:
        s = self._state
        if etype.startswith(("agent.", "call.")) and not self.is_own_event(etype, data):
            log.debug("event %s is about agent %s, not this login's", etype, data.get("agent"))
        elif etype in _CALL_EVENTS:
            self.transition(replace(s, call=_CALL_EVENTS[etype]), f"{etype} (event {event_id})")
        elif etype in ("agent.checked_in", "agent.checked_out"):
            group = _text(data, "group")
            groups = set(s.checked_in)
            forced = s.forced_checkout
            if etype == "agent.checked_in":
                groups.add(group)
                forced = None
            else:
                groups.discard(group)
                by, why = _by(data), _text(data, "reason")
                if by is not None or why in ("timeout", "forced"):
                    forced = ByWhom(by, why, group)
            queues = Queues.CHECKED_IN if groups else Queues.CHECKED_OUT
            self.transition(replace(s, checked_in=frozenset(groups), queues=queues,
                                    forced_checkout=forced),
                            f"{etype} {group} by {_by(data) or 'agent'}: {_text(data, 'reason')}")
        elif etype == "agent.checkout_deferred":
            self.transition(replace(s, queues=Queues.CHECKOUT_PENDING),
                            f"checkout deferred until the call ends: {_text(data, 'reason')}")
        elif etype == "agent.paused":
            pause = ByWhom(_by(data), _text(data, "reason") or _text(data, "note"),
                           _text(data, "pause_reason"))
            self.transition(replace(s, availability=Availability.PAUSED, pause=pause),
                            f"paused ({pause.what}) by {pause.by or 'agent'}: {pause.reason}")
        elif etype == "agent.unpaused":
            avail = Availability.WRAPUP if s.availability is Availability.WRAPUP \
                else Availability.READY
            self.transition(replace(s, availability=avail, pause=None),
                            f"unpaused by {_by(data) or 'agent'}")
        elif etype == "agent.wrapup_started":
            self.transition(replace(s, availability=Availability.WRAPUP),
                            f"wrap-up until {_text(data, 'until')}")
        elif etype == "agent.wrapup_ended":
            avail = Availability.PAUSED if s.pause is not None else Availability.READY
            self.transition(replace(s, availability=avail),
                            f"wrap-up ended ({_text(data, 'reason')})")
        elif etype == "session.ended" and data.get("session_id") == s.session_id:
            reason = _text(data, "reason")
            self.session_ended(END_REASON_CODES.get(reason, "session_ended"),
                               _text(data, "detail"), _by(data))
        else:
            log.debug("event %s does not change the agent state", etype)

    # ----------------------------------------------------------------- helpers

    @staticmethod
    def _with_agent(s: AgentState, agent: Agent | None) -> AgentState:
        if agent is None:
            return s
        a = agent.availability
        groups = frozenset(g.name for g in agent.groups if g.checked_in)
        queues = (Queues.CHECKOUT_PENDING if a.checkout_pending else
                  Queues.CHECKED_IN if groups else Queues.CHECKED_OUT)
        avail = (Availability.WRAPUP if a.wrapup else
                 Availability.PAUSED if a.paused else Availability.READY)
        pause = ByWhom(a.paused_by, a.pause_note or "", a.pause_reason or "") if a.paused \
            else None
        call = {c.value: c for c in Call}.get(agent.activity.state, s.call)
        return replace(s, checked_in=groups, queues=queues, availability=avail, pause=pause,
                       call=call)
