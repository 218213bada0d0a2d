"""The agent state machine: transitions, reasons kept for the UI, and the transition log."""

from __future__ import annotations

import logging

import pytest
from pytestqt.qtbot import QtBot

from agent_desktop.session import errors as e
from agent_desktop.session.models import parse_heartbeat, parse_login
from agent_desktop.session.state import (
    AgentState,
    AgentStateMachine,
    Availability,
    Call,
    Network,
    Queues,
    Session,
    Sip,
)
from tests.session.support import HEARTBEAT, LOGIN

ME = LOGIN["agent"]["number"]  # the events of the logged-in agent name it, as the server's do


@pytest.fixture
def machine(qapp: object) -> AgentStateMachine:
    m = AgentStateMachine()
    m.login_started()
    m.login_succeeded(parse_login(LOGIN))
    return m


def test_login_and_sip(machine: AgentStateMachine) -> None:
    s = machine.state
    assert s.session is Session.ACTIVE
    assert s.network is Network.REACHABLE
    assert s.queues is Queues.CHECKED_OUT
    machine.sip_registration("registered", "200 OK")
    assert machine.state.sip is Sip.REGISTERED
    machine.sip_registration("failed", "403 Forbidden")
    assert machine.state.sip.value == Sip.FAILED.value
    assert machine.state.sip_reason == "403 Forbidden"


def test_heartbeat_failure_keeps_the_call_and_the_session(machine: AgentStateMachine) -> None:
    machine.on_event("call.ringing", {"agent": ME, "caller_id": "555"}, 3)
    machine.on_event("call.answered", {"agent": ME}, 4)
    machine.heartbeat_failed(e.NetworkError(e.NET_REFUSED))
    s = machine.state
    assert s.network is Network.UNREACHABLE
    assert s.network_error == e.NET_REFUSED
    assert s.call is Call.TALKING
    assert s.session is Session.ACTIVE
    machine.heartbeat_ok(parse_heartbeat(HEARTBEAT))
    assert machine.state.network is Network.REACHABLE
    machine.on_event("call.ended", {"agent": ME, "answered": True}, 5)
    machine.on_event("agent.wrapup_started", {"agent": ME, "until": "later"}, 6)
    assert machine.state.availability is Availability.WRAPUP
    assert machine.state.call is Call.IDLE


def test_ended_session_keeps_the_reason_and_allows_relogin(machine: AgentStateMachine) -> None:
    machine.on_event("call.answered", {"agent": ME}, 3)
    machine.on_event("session.ended", {"session_id": 1, "reason": "forced", "by": "supervisor",
                                       "detail": "end of shift"}, 4)
    s = machine.state
    assert s.session is Session.ENDED
    assert s.ended is not None
    assert (s.ended.code, s.ended.detail, s.ended.by) == ("session_revoked", "end of shift",
                                                         "supervisor")
    assert s.can_relogin
    assert s.call is Call.TALKING  # the server never hangs up because a session ended
    machine.on_event("session.ended", {"session_id": 99, "reason": "timeout"}, 5)
    assert machine.state.ended == s.ended  # another terminal's end is not ours
    machine.session_ended("session_expired")
    assert machine.state.ended is not None
    assert machine.state.ended.code == "session_expired"


def test_supervisor_checkout_and_pause_keep_who_and_why(machine: AgentStateMachine) -> None:
    machine.on_event("agent.checked_in", {"agent": ME, "group": "sales", "reason": "checkin",
                                          "by": None}, 3)
    machine.on_event("agent.checked_in", {"agent": ME, "group": "support", "reason": "checkin"},
                     4)
    assert machine.state.checked_in == {"sales", "support"}
    machine.on_event("agent.checked_out", {"agent": ME, "group": "sales",
                                           "reason": "too many agents", "by": "supervisor"}, 5)
    s = machine.state
    assert s.queues is Queues.CHECKED_IN
    assert s.forced_checkout is not None
    assert (s.forced_checkout.by, s.forced_checkout.reason, s.forced_checkout.what) == (
        "supervisor", "too many agents", "sales")
    machine.on_event("agent.paused", {"agent": ME, "pause_reason": "meeting", "note": None,
                                      "by": "supervisor", "reason": "team meeting"}, 6)
    assert machine.state.availability is Availability.PAUSED
    assert machine.state.pause is not None
    assert (machine.state.pause.by, machine.state.pause.reason) == ("supervisor",
                                                                    "team meeting")
    machine.on_event("agent.unpaused", {"agent": ME, "by": None}, 7)
    assert machine.state.pause is None
    machine.on_event("agent.checkout_deferred", {"agent": ME, "reason": "logout"}, 8)
    assert machine.state.queues is Queues.CHECKOUT_PENDING


def test_every_transition_is_logged_and_signalled(qtbot: QtBot, machine: AgentStateMachine,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="agent_desktop.session.state")
    with qtbot.waitSignal(machine.changed, timeout=1000) as sig:
        machine.heartbeat_failed(e.NetworkError(e.NET_TIMEOUT))
    old, new, reason = sig.args
    assert isinstance(old, AgentState)
    assert new.network is Network.UNREACHABLE
    assert reason == "server unreachable, retrying (timeout)"
    with qtbot.assertNotEmitted(machine.changed):
        machine.heartbeat_failed(e.NetworkError(e.NET_TIMEOUT))  # no change, no signal
        machine.on_event("something.new", {}, 9)  # unknown: ignored
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any("net=reachable" in m and "net=unreachable" in m
               and m.endswith("server unreachable, retrying (timeout)") for m in infos)


def test_a_team_admins_stream_changes_only_their_own_agents_state(
        machine: AgentStateMachine) -> None:
    """A team admin's event stream carries the whole team's agent and call events."""
    other = {"agent": "1002"}
    machine.on_event("call.ringing", other | {"caller_id": "555"}, 3)
    machine.on_event("agent.wrapup_started", other | {"until": "later"}, 4)
    machine.on_event("agent.checked_in", other | {"group": "sales", "reason": "checkin"}, 5)
    machine.on_event("agent.checkout_deferred", {"reason": "logout"}, 6)  # no agent: not ours
    s = machine.state
    assert (s.call, s.availability, s.queues) == (Call.IDLE, Availability.READY,
                                                  Queues.CHECKED_OUT)
    machine.on_event("call.ringing", {"agent": ME, "caller_id": "555"}, 7)
    assert machine.state.call is Call.RINGING


def test_a_login_without_a_seat_keeps_nothing_of_the_last_agent(
        machine: AgentStateMachine) -> None:
    """The same app logs in next as a team admin without a seat (team view alone): the last
    agent's wrap-up, queues and call are not this login's, nor are that agent's events."""
    for event_id, group in ((3, "sales"), (4, "support")):
        machine.on_event("agent.checked_in", {"agent": ME, "group": group, "reason": "checkin"},
                         event_id)
    machine.on_event("agent.checked_out", {"agent": ME, "group": "sales", "reason": "busy",
                                           "by": "supervisor"}, 5)
    machine.on_event("agent.wrapup_started", {"agent": ME, "until": "later"}, 6)
    machine.on_event("call.ringing", {"agent": ME, "caller_id": "555"}, 7)
    assert machine.state.checked_in == {"support"}
    assert machine.state.forced_checkout is not None
    machine.session_ended("session_expired")
    admin = dict(LOGIN, agent=None, role="team_admin", team="demo")
    machine.login_succeeded(parse_login(admin))
    s = machine.state
    assert s.session is Session.ACTIVE
    assert (s.queues, s.checked_in, s.availability, s.call) == (
        Queues.CHECKED_OUT, frozenset(), Availability.READY, Call.IDLE)
    assert s.forced_checkout is None
    machine.on_event("agent.wrapup_ended", {"agent": ME, "reason": "timeout"}, 8)
    machine.on_event("call.answered", {"agent": ME}, 9)
    assert machine.state == s
