"""HTTP routes of the agent API, `/api/v1`. Thin: parse, authenticate, call the rules."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from . import schemas as s
from .events import StoredEvent, Visible
from .model import SessionRole
from .problems import AUTH_CODES, ProblemError, responses
from .service import CallCenter, LoginRequest, Principal

log = logging.getLogger("callcenter.api")

router = APIRouter(prefix="/api/v1")
bearer = HTTPBearer(auto_error=False, description="The token from POST /api/v1/sessions")


def center(request: Request) -> CallCenter:
    cc: CallCenter = request.app.state.callcenter
    return cc


Center = Annotated[CallCenter, Depends(center)]


def principal(
    cc: Center,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    return cc.authenticate(creds.credentials if creds else None)


Me = Annotated[Principal, Depends(principal)]
AUTH = responses(*AUTH_CODES)
ADMIN_CODES = (*AUTH_CODES, "agent_not_found", "team_not_found")
ADMIN = responses(*ADMIN_CODES)


def client_ip(request: Request) -> str:
    # uvicorn's --forwarded-allow-ips decides whether a proxy's X-Forwarded-For is believed.
    return request.client.host if request.client else ""


# --------------------------------------------------------------------------- sessions


@router.post("/sessions", response_model=s.LoginReply, status_code=201, tags=["sessions"],
             responses=responses("bad_credentials", "rate_limited", "not_an_agent", "no_device",
                                 "device_fixed", "device_required", "device_in_use",
                                 "device_not_found", "no_device_at_ip", "checked_in"))
def login(body: s.LoginBody, request: Request, cc: Center) -> dict[str, Any]:
    """Log this terminal in. The reply's interval and timeout rule the heartbeat."""
    return cc.login(LoginRequest(
        team=body.team, agent=body.agent, password=body.password, terminal_id=body.terminal_id,
        client_version=body.client_version, device_number=body.device_number,
        user_agent=request.headers.get("user-agent", ""),
    ), client_ip(request))


@router.delete("/sessions/current", status_code=204, tags=["sessions"], responses=AUTH)
def logout(p: Me, cc: Center) -> Response:
    """Log this terminal out. The agent's last terminal also checks out of dynamic groups."""
    cc.logout(p)
    return Response(status_code=204)


@router.get("/sessions", response_model=list[s.SessionView], tags=["sessions"], responses=AUTH)
def list_sessions(p: Me, cc: Center) -> list[dict[str, Any]]:
    """The logged-in terminals of this agent (or admin)."""
    return cc.list_sessions(p)


@router.post("/sessions/current/heartbeat", response_model=s.HeartbeatReply, tags=["sessions"],
             responses=AUTH)
def heartbeat(
    cc: Center, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> dict[str, Any]:
    """Keep this terminal's session alive; refetch /me when `state_version` moved."""
    # Authenticates inside the one UPDATE: the hot path of a call center's day.
    return cc.heartbeat(creds.credentials if creds else None)


# --------------------------------------------------------------------------- the agent


@router.get("/me", response_model=s.MeReply, tags=["agent"], responses=AUTH)
def me(p: Me, cc: Center) -> dict[str, Any]:
    return cc.me(p)


AGENT = responses(*AUTH_CODES, "not_an_agent", "no_device")


@router.post("/me/checkin", response_model=s.CheckinReply, tags=["agent"], responses=AGENT)
def checkin(p: Me, cc: Center, body: s.GroupsBody | None = None) -> dict[str, Any]:
    """Join the given groups' queues (all groups when none are given)."""
    return cc.set_checkin(p, body.groups if body else None, True)


@router.post("/me/checkout", response_model=s.CheckinReply, tags=["agent"], responses=AGENT)
def checkout(p: Me, cc: Center, body: s.GroupsBody | None = None) -> dict[str, Any]:
    """Leave the given groups' queues (all when none are given); static groups are reported."""
    return cc.set_checkin(p, body.groups if body else None, False)


ONE_GROUP = responses(*AUTH_CODES, "not_an_agent", "no_device", "group_not_found",
                      "not_member", "static_member")


@router.post("/me/groups/{group}/checkin", response_model=s.CheckinReply, tags=["agent"],
             responses=ONE_GROUP)
def checkin_group(group: s.Name, p: Me, cc: Center) -> dict[str, Any]:
    return cc.set_checkin(p, [group], True, single=True)


@router.post("/me/groups/{group}/checkout", response_model=s.CheckinReply, tags=["agent"],
             responses=ONE_GROUP)
def checkout_group(group: s.Name, p: Me, cc: Center) -> dict[str, Any]:
    """Leave one group; a static membership is refused with `static_member`."""
    return cc.set_checkin(p, [group], False, single=True)


@router.post("/me/pause", response_model=s.ChangedReply, tags=["agent"],
             responses=responses(*AUTH_CODES, "not_an_agent", "unknown_pause_reason"))
def pause(body: s.PauseBody, p: Me, cc: Center) -> dict[str, Any]:
    return cc.set_pause(p, True, body.reason, body.note)


@router.post("/me/unpause", response_model=s.ChangedReply, tags=["agent"],
             responses=responses(*AUTH_CODES, "not_an_agent"))
def unpause(p: Me, cc: Center) -> dict[str, Any]:
    return cc.set_pause(p, False)


@router.post("/me/wrapup/end", response_model=s.ChangedReply, tags=["agent"],
             responses=responses(*AUTH_CODES, "not_an_agent"))
def end_wrapup(p: Me, cc: Center) -> dict[str, Any]:
    return cc.end_wrapup(p)


@router.put("/me/device", response_model=s.DeviceReply, tags=["agent"],
            responses=responses(*AUTH_CODES, "not_an_agent", "device_fixed",
                                "device_not_selectable", "device_not_found", "device_in_use",
                                "checked_in"))
def change_device(body: s.DeviceBody, p: Me, cc: Center) -> dict[str, Any]:
    """Dynamic mode only, while checked out of dynamic groups."""
    return cc.change_device(p, body.number)


# --------------------------------------------------------------------------- team admin


@router.get("/teams/{team}/board", response_model=s.BoardReply, tags=["team admin"],
            responses=ADMIN)
def board(team: s.Name, p: Me, cc: Center) -> dict[str, Any]:
    """Every agent of the team: availability, activity, device, terminals, groups."""
    return cc.board(p, team)


@router.get("/teams/{team}/queues", response_model=s.QueuesReply, tags=["team admin"],
            responses=ADMIN)
def queues(team: s.Name, p: Me, cc: Center) -> dict[str, Any]:
    """Per group: callers waiting, longest wait, agents available/paused/busy, calls answered
    and abandoned today and the service level."""
    return cc.queues(p, team)


@router.get("/teams/{team}/config", response_model=s.TeamConfigReply, tags=["team admin"],
            responses=ADMIN)
def team_config(team: s.Name, p: Me, cc: Center) -> dict[str, Any]:
    """The team's configuration in the provisioning document's shape, without secrets
    (change it with PUT /provisioning)."""
    return cc.team_config(p, team)


@router.post("/teams/{team}/agents/{agent}/spy", response_model=s.SpyReply, status_code=202,
             tags=["team admin"],
             responses=responses(*ADMIN_CODES, "no_live_call", "no_admin_device",
                                 "pbx_unavailable"))
def spy(team: s.Name, agent: s.Name, body: s.SpyBody, p: Me, cc: Center) -> dict[str, Any]:
    """Listen to, whisper into or barge in on the agent's call: the server calls the team
    admin's own registered phone (which answers by itself on `Call-Info: answer-after=0`)."""
    return cc.spy(p, team, agent, body.mode)


@router.delete("/teams/{team}/agents/{agent}/spy", response_model=s.SpyStopReply,
               tags=["team admin"],
               responses=responses(*ADMIN_CODES, "no_admin_device", "pbx_unavailable"))
def stop_spy(team: s.Name, agent: s.Name, p: Me, cc: Center) -> dict[str, Any]:
    """Hang up this admin's listen/whisper/barge calls on the agent."""
    return {"ended": cc.stop_spy(p, team, agent)}


@router.post("/teams/{team}/agents/{agent}/checkout", response_model=s.CheckinReply,
             tags=["team admin"], responses=ADMIN)
def force_checkout(team: s.Name, agent: s.Name, body: s.ForceCheckoutBody, p: Me,
                   cc: Center) -> dict[str, Any]:
    """Check an agent out (static memberships are skipped and reported)."""
    return cc.set_checkin(p, body.groups, False, target=(cc.team_id(p, team), agent),
                          reason=body.reason)


@router.post("/teams/{team}/agents/{agent}/logout", response_model=s.ForceLogoutReply,
             tags=["team admin"], responses=responses(*ADMIN_CODES, "terminal_not_found"))
def force_logout(team: s.Name, agent: s.Name, body: s.ForceLogoutBody, p: Me,
                 cc: Center) -> dict[str, Any]:
    return cc.force_logout(p, cc.team_id(p, team), agent, body.reason, body.terminal_id)


@router.post("/teams/{team}/agents/{agent}/pause", response_model=s.ChangedReply,
             tags=["team admin"], responses=responses(*ADMIN_CODES, "unknown_pause_reason"))
def force_pause(team: s.Name, agent: s.Name, body: s.ForcePauseBody, p: Me,
                cc: Center) -> dict[str, Any]:
    return cc.set_pause(p, True, body.pause_reason, None, target=(cc.team_id(p, team), agent),
                        reason=body.reason)


@router.post("/teams/{team}/agents/{agent}/unpause", response_model=s.ChangedReply,
             tags=["team admin"], responses=ADMIN)
def force_unpause(team: s.Name, agent: s.Name, body: s.ForceBody, p: Me,
                  cc: Center) -> dict[str, Any]:
    return cc.set_pause(p, False, target=(cc.team_id(p, team), agent), reason=body.reason)


@router.get("/teams/{team}/usage", response_model=s.UsageReply, response_model_by_alias=True,
            tags=["team admin"], responses=ADMIN)
def usage(
    team: s.Name, p: Me, cc: Center,
    first: Annotated[date, Query(alias="from", description="First day (UTC), inclusive")],
    last: Annotated[date, Query(alias="to", description="Last day (UTC), inclusive")],
) -> dict[str, Any]:
    """Billed calls per user of the team: count, billable seconds and cost."""
    if last < first:
        raise ProblemError("invalid_request", "'to' is before 'from'")
    start = datetime.combine(first, time.min, UTC).timestamp()
    end = datetime.combine(last + timedelta(days=1), time.min, UTC).timestamp()
    return cc.usage(p, team, start, end)


@router.put("/provisioning", response_model=s.ProvisionReply, tags=["team admin"],
            responses=responses(*AUTH_CODES))
def provision(body: dict[str, Any], p: Me, cc: Center) -> dict[str, Any]:
    """Create or update teams, accounts, devices, groups and agents (docs/provisioning.md).

    The PBX follows at once. A team admin may only send its own team."""
    return {"applied": cc.provision(p, body)}


@router.delete("/teams/{team}/devices/{number}", status_code=204, tags=["team admin"],
               responses=responses(*ADMIN_CODES, "device_not_found", "device_in_use"))
def delete_device(team: s.Name, number: s.Number, p: Me, cc: Center) -> Response:
    """Remove a device (refused while an agent uses it or has it as fixed device)."""
    cc.delete_device(p, team, number)
    return Response(status_code=204)


# --------------------------------------------------------------------------- events


def visibility(p: Principal) -> Visible:
    if p.role is SessionRole.SYSTEM_ADMIN:
        return lambda e: True
    if p.role is SessionRole.TEAM_ADMIN:
        own = p.agent_id
        return lambda e: e.team_id == p.team_id or (own is not None and e.agent_id == own)
    return lambda e: e.agent_id is not None and e.agent_id == p.agent_id


def _ends_me(e: StoredEvent, p: Principal) -> bool:
    return e.type == "session.ended" and e.data.get("session_id") == p.session_id


@router.get(
    "/events", tags=["events"], response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
                     "description": "Server-sent events"}, **AUTH},
)
async def events(
    request: Request, p: Me, cc: Center,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
) -> StreamingResponse:
    """Server-sent events for this login: its agent's events, or the team's for a team admin.

    Resume with `Last-Event-ID`; without it the stream starts from now (use the login's
    `last_event_id` to miss nothing). `resync` means events were missed: refetch /me.
    Ignore unknown event types. Keep-alive comments come every few seconds.
    """
    keepalive = float(request.app.state.settings.keepalive_s)
    try:
        cursor = int(last_event_id) if last_event_id else cc.bus.newest_id
    except ValueError:
        cursor = -1  # nonsense resumes nowhere: resync

    visible = visibility(p)

    async def stream() -> AsyncIterator[str]:
        nonlocal cursor
        closing = False
        caught_up = False
        yield "retry: 2000\n\n"
        while not cc.bus.closed:
            batch = cc.bus.after(cursor)
            if batch is None and cc.shared and not caught_up and cursor > cc.bus.newest_id:
                # An id from another instance (its login or board): committed, maybe not
                # here yet. Load it instead of resyncing.
                caught_up = True
                await anyio.to_thread.run_sync(cc.catch_up)
                continue
            if batch is None:
                cursor = cc.bus.newest_id
                yield f"id: {cursor}\nevent: resync\ndata: {{}}\n\n"
                continue
            for ev in batch:
                cursor = ev.id
                if visible(ev):
                    yield ev.sse()
                    if _ends_me(ev, p):
                        return
            if batch:
                continue
            if closing:
                return
            if not await cc.bus.wait(keepalive):
                if await request.is_disconnected():
                    return
                try:
                    await anyio.to_thread.run_sync(cc.authenticate_session, p.session_id)
                except ProblemError:
                    # The session ended. Its events are published just after the commit this
                    # check saw: deliver them (the stream then ends on `session.ended`) if they
                    # come within a second, and close either way.
                    closing = True
                    await cc.bus.wait(1.0)
                    continue
                yield ": keep-alive\n\n"

    async def guarded() -> AsyncIterator[str]:
        try:
            async for chunk in stream():
                yield chunk
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("event stream failed")

    return StreamingResponse(guarded(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
