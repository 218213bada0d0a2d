"""Database schema (SQLAlchemy 2). Migrations in callcenter_server/migrations mirror this file.

Times are stored as float seconds since the epoch: portable between SQLite and PostgreSQL and
cheap to compare.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Team(Base):
    __tablename__ = "teams"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    heartbeat_interval_s: Mapped[int] = mapped_column(Integer, default=20)
    session_timeout_s: Mapped[int] = mapped_column(Integer, default=90)
    #: Seconds of wrap-up after each call (0: none).
    wrapup_s: Mapped[int] = mapped_column(Integer, default=0)


class Account(Base):
    """A system admin (no team), a team admin, or a user (billing unit)."""

    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("team_id", "username", name="uq_accounts_team_username"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    username: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(128), default="")
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(256))
    #: A team admin's own internal device (listen/whisper/barge calls ring it). A plain id, not
    #: a foreign key: devices reference accounts (owner) already, and a cycle of foreign keys
    #: complicates deletes; a device in this role cannot be deleted (`device_in_use`).
    device_id: Mapped[int | None] = mapped_column(Integer)


class Device(Base):
    __tablename__ = "devices"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16))
    #: Internal: the extension (also the SIP user name). External: the outside phone number.
    number: Mapped[str] = mapped_column(String(32), unique=True)
    #: External only: an internal extension that stands for the number (dialling it reaches it).
    extension: Mapped[str | None] = mapped_column(String(32), unique=True)
    #: Internal only: the SIP digest password handed to the agent's softphone at login.
    sip_password: Mapped[str | None] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(String(128), default="")


class DeviceContact(Base):
    """Where an internal device is registered from, as the PBX reports it."""

    __tablename__ = "device_contacts"
    device_id: Mapped[int] = mapped_column(
        ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True
    )
    ip: Mapped[str] = mapped_column(String(64), index=True)
    port: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[float] = mapped_column(Float)


class Group(Base):
    """An agent group: a queue on the PBX."""

    __tablename__ = "groups"
    __table_args__ = (UniqueConstraint("team_id", "name", name="uq_groups_team_name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    queue: Mapped[str] = mapped_column(String(64), unique=True)
    #: Extension callers dial to reach the queue (optional).
    extension: Mapped[str | None] = mapped_column(String(32), unique=True)
    #: Service level: a call answered within this many seconds of joining counts as in time.
    service_level_s: Mapped[int] = mapped_column(Integer, default=20)
    #: Moves on every change of the group's queue panel row (`queue.changed` carries it).
    stats_version: Mapped[int] = mapped_column(Integer, default=0)


class Agent(Base):
    __tablename__ = "agents"
    __table_args__ = (UniqueConstraint("team_id", "number", name="uq_agents_team_number"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    number: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(128), default="")
    password_hash: Mapped[str] = mapped_column(String(256))
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    #: A team admin may also sit as this agent: logging in to either gives the admin role here.
    admin_account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), unique=True
    )
    device_mode: Mapped[str] = mapped_column(String(16))
    #: Fixed mode: the set device.
    fixed_device_id: Mapped[int | None] = mapped_column(
        ForeignKey("devices.id", ondelete="SET NULL")
    )
    #: The device in use while the agent is logged in (any mode).
    current_device_id: Mapped[int | None] = mapped_column(
        ForeignKey("devices.id", ondelete="SET NULL"), index=True
    )
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    pause_reason: Mapped[str | None] = mapped_column(String(64))
    pause_note: Mapped[str | None] = mapped_column(String(256))
    paused_at: Mapped[float | None] = mapped_column(Float)
    paused_by: Mapped[str | None] = mapped_column(String(64))
    wrapup: Mapped[bool] = mapped_column(Boolean, default=False)
    wrapup_until: Mapped[float | None] = mapped_column(Float)
    wrapup_at: Mapped[float | None] = mapped_column(Float)
    activity: Mapped[str] = mapped_column(String(16), default="idle")
    activity_at: Mapped[float | None] = mapped_column(Float)
    call_info: Mapped[dict[str, str] | None] = mapped_column(JSON)
    #: A checkout owed from the end of the last session during a call; applied when it ends.
    pending_checkout_reason: Mapped[str | None] = mapped_column(String(64))
    #: Moves on every change of what /me shows, so a heartbeat tells the client to refetch.
    state_version: Mapped[int] = mapped_column(Integer, default=0)

    memberships: Mapped[list[GroupMember]] = relationship(
        back_populates="agent", cascade="all, delete-orphan", order_by="GroupMember.group_id"
    )


class GroupMember(Base):
    __tablename__ = "group_members"
    __table_args__ = (
        UniqueConstraint("group_id", "agent_id", name="uq_group_members_group_agent"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    membership: Mapped[str] = mapped_column(String(16))
    #: Static members are always in the queue, so this stays true for them.
    checked_in: Mapped[bool] = mapped_column(Boolean, default=False)
    checked_in_at: Mapped[float | None] = mapped_column(Float)
    penalty: Mapped[int] = mapped_column(Integer, default=0)

    agent: Mapped[Agent] = relationship(back_populates="memberships")
    group: Mapped[Group] = relationship()


class PauseReason(Base):
    __tablename__ = "pause_reasons"
    __table_args__ = (UniqueConstraint("team_id", "code", name="uq_pause_reasons_team_code"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer, default=0)


class Session(Base):
    """One logged-in terminal. Ended rows stay so an old token gets the reason it ended."""

    __tablename__ = "sessions"
    __table_args__ = (
        Index("ix_sessions_live_expiry", "ended_at", "expires_at"),
        Index("ix_sessions_agent_live", "agent_id", "ended_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    terminal_id: Mapped[str] = mapped_column(String(128))
    client_version: Mapped[str] = mapped_column(String(64), default="")
    #: The login request's User-Agent header (cut to 256 characters).
    user_agent: Mapped[str] = mapped_column(String(256), default="")
    login_ip: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[float] = mapped_column(Float)
    last_heartbeat_at: Mapped[float] = mapped_column(Float)
    #: The team's timeout when the session began: a heartbeat is then one UPDATE.
    timeout_s: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[float] = mapped_column(Float)
    ended_at: Mapped[float | None] = mapped_column(Float)
    end_reason: Mapped[str | None] = mapped_column(String(16))
    end_detail: Mapped[str | None] = mapped_column(String(256))


class Event(Base):
    """The event stream's durable log (bounded: old rows are pruned)."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[float] = mapped_column(Float)
    team_id: Mapped[int | None] = mapped_column(Integer, index=True)
    agent_id: Mapped[int | None] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(48))
    data: Mapped[str] = mapped_column(Text)


class Rate(Base):
    """Per-minute price of calls to numbers starting with `prefix` (longest prefix wins)."""

    __tablename__ = "rates"
    __table_args__ = (UniqueConstraint("team_id", "prefix", name="uq_rates_team_prefix"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    prefix: Mapped[str] = mapped_column(String(32))
    per_minute: Mapped[Decimal] = mapped_column(Numeric(12, 4))


class CallRecord(Base):
    """A billed call (from the PBX's CDR): who pays, what it cost."""

    __tablename__ = "call_records"
    __table_args__ = (Index("ix_call_records_team_start", "team_id", "started_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uniqueid: Mapped[str] = mapped_column(String(64), unique=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    billed_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="SET NULL"), index=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(String(64))
    destination: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[float] = mapped_column(Float)
    answered_at: Mapped[float | None] = mapped_column(Float)
    ended_at: Mapped[float] = mapped_column(Float)
    billable_s: Mapped[int] = mapped_column(Integer)
    disposition: Mapped[str] = mapped_column(String(32))
    cost: Mapped[Decimal] = mapped_column(Numeric(12, 4))


class QueueCall(Base):
    """One caller's stay in a queue, from the PBX's queue events (QueueCallerJoin/Leave/Abandon,
    AgentConnect). Waiting while `left_at` is null; `outcome` answered or abandoned (null: left
    otherwise, e.g. the queue timed out). Keyed by the caller channel's unique id, so every
    server instance that hears the same event writes the same row."""

    __tablename__ = "queue_calls"
    __table_args__ = (Index("ix_queue_calls_group_left", "group_id", "left_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uniqueid: Mapped[str] = mapped_column(String(64), unique=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    caller_id: Mapped[str] = mapped_column(String(64), default="")
    caller_name: Mapped[str] = mapped_column(String(128), default="")
    joined_at: Mapped[float] = mapped_column(Float)
    left_at: Mapped[float | None] = mapped_column(Float)
    outcome: Mapped[str | None] = mapped_column(String(16))
    #: Seconds from joining to being answered (answered calls only).
    wait_s: Mapped[float | None] = mapped_column(Float)


class Meta(Base):
    """Small server-wide counters, e.g. `config_version`, bumped by every provisioning change
    so each server process (and its PBX driver) notices changes made elsewhere."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class LoginFailure(Base):
    """A failed login, counted by the login rate limiter on PostgreSQL, so that every server
    instance on the database counts the same failures. `key` is `a:<team>/<agent>` or
    `i:<client address>`; rows older than the window are deleted."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_key_at", "key", "at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200))
    at: Mapped[float] = mapped_column(Float, index=True)
