"""Request and response bodies of the agent API (they make the served OpenAPI)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

# Text the API stores or looks up never holds U+0000 (PostgreSQL text cannot); a name or a reason
# holds a character that is not whitespace. The whitespace is exactly Python's `str.isspace`,
# spelled so that ECMA-262, Python and Rust regular expressions read these patterns alike.
_WS = r"\t\n\x0b\x0c\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NO_NUL = r"^[^\x00]*$"
NOT_BLANK = rf"^[^\x00]*[^\x00{_WS}][^\x00]*$"

# The limits hold for the value as sent, as the OpenAPI documents them; surrounding whitespace
# is stripped only after they were checked.
Name = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=NOT_BLANK),
                 AfterValidator(str.strip)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=NOT_BLANK),
                 AfterValidator(str.strip)]
Number = Annotated[str, StringConstraints(min_length=1, max_length=32,
                                          pattern=r"^[0-9A-Za-z*#+._-]+$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginBody(Strict):
    team: Name | None = Field(None, description="Team name; omit only for a system admin")
    agent: Name = Field(description="Agent number, or a team/system admin's user name")
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    terminal_id: Name = Field(description="Stable id of this installation (one per workstation)")
    client_version: Annotated[str, StringConstraints(max_length=64, pattern=NO_NUL)] = ""
    device_number: Number | None = Field(
        None,
        description="Dynamic device mode: the number to use (a fixed agent may repeat its own)",
    )


class SipCredentials(BaseModel):
    username: str
    password: str


class DeviceView(BaseModel):
    number: str
    kind: str = Field(description="internal | external")
    extension: str | None
    sip: SipCredentials | None = Field(None, description="Only for the agent's own internal device")


class GroupView(BaseModel):
    name: str
    queue: str
    membership: str = Field(description="static | dynamic")
    checked_in: bool
    checked_in_at: str | None


class Availability(BaseModel):
    logged_in: bool
    checked_in: bool
    paused: bool
    pause_reason: str | None
    pause_note: str | None
    paused_at: str | None
    paused_by: str | None = Field(description="Team admin who paused the agent, if not the agent")
    wrapup: bool
    wrapup_until: str | None
    checkout_pending: bool = Field(description="Logged out during a call; leaves queues at hang-up")


class ActivityView(BaseModel):
    state: str = Field(description="idle | ringing | talking | hold")
    since: str | None
    call: dict[str, str] | None


class SessionView(BaseModel):
    id: int
    terminal_id: str
    client_version: str
    ip: str
    role: str
    created_at: str
    last_heartbeat_at: str
    expires_at: str
    current: bool | None = None


class AgentView(BaseModel):
    number: str
    name: str
    device_mode: str = Field(description="fixed | self_adapting | dynamic")
    device: DeviceView | None
    groups: list[GroupView]
    availability: Availability
    activity: ActivityView
    sessions: list[SessionView]
    state_version: int


class PauseReasonView(BaseModel):
    code: str
    label: str


class LoginReply(BaseModel):
    token: str = Field(
        description="Bearer token; send as `Authorization: Bearer …`. Never store it.")
    token_type: str
    session: SessionView
    role: str = Field(description="agent | team_admin | system_admin")
    heartbeat_interval_s: int
    session_timeout_s: int
    team: str | None
    agent: AgentView | None
    pause_reasons: list[PauseReasonView]
    last_event_id: int


class Notice(BaseModel):
    code: str
    message: str


class HeartbeatReply(BaseModel):
    server_time: str
    expires_at: str
    heartbeat_interval_s: int
    state_version: int
    notices: list[Notice]


class MeReply(BaseModel):
    role: str
    name: str
    team: str | None
    terminal_id: str
    agent: AgentView | None
    pause_reasons: list[PauseReasonView]
    last_event_id: int


class GroupsBody(Strict):
    groups: list[Name] | None = Field(None, description="Group names; omit for all groups",
                                      max_length=100)


class GroupResult(BaseModel):
    group: str
    result: str = Field(description="checked_in | checked_out | already_checked_in | "
                        "already_checked_out | static_member | not_member | group_not_found")
    changed: bool


class CheckinReply(BaseModel):
    results: list[GroupResult]
    state_version: int


class PauseBody(Strict):
    reason: Name = Field(description="A code from the team's pause reasons")
    note: Text | None = None


class ChangedReply(BaseModel):
    changed: bool
    state_version: int


class DeviceBody(Strict):
    number: Number


class DeviceReply(BaseModel):
    device: DeviceView | None
    state_version: int


class TeamGroupView(BaseModel):
    name: str
    queue: str
    extension: str | None


class BoardReply(BaseModel):
    team: str
    heartbeat_interval_s: int
    session_timeout_s: int
    groups: list[TeamGroupView]
    agents: list[AgentView]
    last_event_id: int


class ForceBody(Strict):
    reason: Text = Field(description="Why; the agent sees it")


class ForceCheckoutBody(ForceBody):
    groups: list[Name] | None = Field(None, max_length=100)


class ForceLogoutBody(ForceBody):
    terminal_id: Name | None = Field(None, description="One terminal; omit for all")


class ForcePauseBody(ForceBody):
    pause_reason: Name = Field(description="A code from the team's pause reasons")


class ForceLogoutReply(BaseModel):
    ended: list[str]


class UserUsage(BaseModel):
    user: str | None = Field(description="The billed user account (null: device has no owner)")
    calls: int
    billable_seconds: int
    cost: str = Field(description="Decimal, in the rate table's currency")


class UsageReply(BaseModel):
    team: str
    from_: str = Field(alias="from")
    to: str
    users: list[UserUsage]

    model_config = ConfigDict(populate_by_name=True)


class ProvisionReply(BaseModel):
    applied: dict[str, int] = Field(description="How many of each kind were created or updated")
