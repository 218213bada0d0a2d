"""Request and response bodies of the agent API (they make the served OpenAPI)."""

from __future__ import annotations

from typing import Annotated, Literal

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


class ContactView(BaseModel):
    ip: str
    port: int
    updated_at: str | None


class DeviceView(BaseModel):
    number: str
    kind: str = Field(description="internal | external")
    extension: str | None
    registered: bool | None = Field(
        None, description="Internal devices: a phone is registered for it (null: external)")
    contact: ContactView | None = Field(None, description="Where it is registered from")
    sip: SipCredentials | None = Field(None, description="Only for the agent's own internal device")


class GroupView(BaseModel):
    name: str
    queue: str
    membership: str = Field(description="static | dynamic")
    checked_in: bool
    checked_in_at: str | None


class Availability(BaseModel):
    status: str = Field(description="logged_out | logged_in (checked out) | checked_in | "
                        "paused | wrapup: the board's one word, in that order of precedence "
                        "from the end")
    since: str | None = Field(description="Since when `status` holds (logged_out: the last "
                              "logout; null when never logged in)")
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
    caller_id: str | None = Field(None, description="The caller's number while on a call")
    call: dict[str, str] | None


class SessionView(BaseModel):
    id: int
    terminal_id: str
    client_version: str
    user_agent: str = Field("", description="The login request's User-Agent header")
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
    terminals: int = Field(0, description="How many terminals are logged in")
    sessions: list[SessionView]
    state_version: int = Field(description="Moves on every change of this agent's row; the "
                               "`board.agent_changed` event carries it as `version`")


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
    admin_device: DeviceView | None = Field(
        None, description="A team admin's own phone (with SIP credentials): listen, whisper "
        "and barge calls ring it")
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
    admin_device: DeviceView | None = None
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
    service_level_s: int = 20


class BoardReply(BaseModel):
    team: str
    heartbeat_interval_s: int
    session_timeout_s: int
    groups: list[TeamGroupView]
    agents: list[AgentView]
    server_time: str | None = None
    last_event_id: int = Field(description="Follow the event stream from here: events after it "
                               "bring every change (some may already be in this snapshot)")


class QueueCaller(BaseModel):
    caller_id: str
    caller_name: str
    joined_at: str | None


class QueueAgents(BaseModel):
    in_queue: int = Field(description="Members in the queue now (static, or checked in)")
    available: int = Field(description="Idle, not paused, not in wrap-up, with a device")
    paused: int = Field(description="Paused or in wrap-up (and idle)")
    busy: int = Field(description="Ringing, talking or on hold")
    no_device: int


class QueueToday(BaseModel):
    since: str | None = Field(description="Midnight UTC: the day the counts cover")
    answered: int
    abandoned: int
    answered_in_time: int = Field(description="Answered within service_level_s of joining")
    service_level: float | None = Field(
        description="answered_in_time / (answered + abandoned); null before the first call")


class QueueView(BaseModel):
    group: str
    queue: str
    extension: str | None
    service_level_s: int
    version: int = Field(description="Moves on every change of this row (`queue.changed`)")
    waiting: int
    oldest_joined_at: str | None = Field(description="When the longest-waiting caller joined")
    longest_wait_s: float = Field(description="At server_time; count on from oldest_joined_at")
    callers: list[QueueCaller]
    agents: QueueAgents
    today: QueueToday


class QueuesReply(BaseModel):
    team: str
    server_time: str | None
    queues: list[QueueView]
    last_event_id: int


class SpyBody(Strict):
    mode: Literal["listen", "whisper", "barge"] = Field(
        description="listen: hear both sides; whisper: also talk to the agent only; barge: "
        "talk to both")


class SpyReply(BaseModel):
    agent: str
    mode: str
    device: str = Field(description="The team admin's phone that is being called")
    call_id: str


class SpyStopReply(BaseModel):
    ended: int


class ConfigPauseReason(BaseModel):
    code: str
    label: str


class ConfigRate(BaseModel):
    prefix: str
    per_minute: str


class ConfigAccount(BaseModel):
    username: str
    role: str
    display_name: str
    device: str | None


class ConfigDevice(BaseModel):
    number: str
    kind: str
    extension: str | None
    owner: str | None
    description: str


class ConfigGroup(BaseModel):
    name: str
    queue: str
    extension: str | None
    service_level_s: int


class ConfigMembership(BaseModel):
    name: str
    membership: str


class ConfigAgent(BaseModel):
    number: str
    name: str
    owner: str | None
    device_mode: str
    device: str | None
    admin_account: str | None
    groups: list[ConfigMembership]


class TeamConfigReply(BaseModel):
    """The team in the shape of a provisioning document's team entry, without secrets."""

    name: str
    heartbeat_interval_s: int
    session_timeout_s: int
    wrapup_s: int
    pause_reasons: list[ConfigPauseReason]
    rates: list[ConfigRate]
    accounts: list[ConfigAccount]
    devices: list[ConfigDevice]
    groups: list[ConfigGroup]
    agents: list[ConfigAgent]


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
