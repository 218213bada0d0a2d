"""The call-center model's vocabulary.

The definitions here follow the product this project models (AsterCC). One public page of that
product swaps the meanings of "self-adapting" and "dynamic"; the definitions below are the ones
this project implements and documents.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """Kinds of account."""

    #: Manages every team.
    SYSTEM_ADMIN = "system_admin"
    #: Manages one team: its accounts, agents, devices and groups; watches and controls its agents.
    TEAM_ADMIN = "team_admin"
    #: The billing unit: owns agents and devices; call costs of its devices are billed to it.
    USER = "user"


class SessionRole(StrEnum):
    """What a logged-in terminal may do."""

    AGENT = "agent"
    TEAM_ADMIN = "team_admin"
    SYSTEM_ADMIN = "system_admin"


class DeviceKind(StrEnum):
    #: A SIP phone on the PBX with an extension and SIP credentials; internal devices call each
    #: other by extension.
    INTERNAL = "internal"
    #: A plain phone number outside the PBX. It can only receive calls. An internal extension
    #: (for example 5000) may stand for it: dialling the extension reaches the number.
    EXTERNAL = "external"


class DeviceMode(StrEnum):
    """How an agent gets its device."""

    #: A set number (internal or external) chosen by the administrator; the agent cannot change it.
    FIXED = "fixed"
    #: The server uses the phone that is registered from the agent's login IP address.
    SELF_ADAPTING = "self_adapting"
    #: The agent picks (and may switch) the number; the server refuses a number that another
    #: logged-in agent uses, and a switch while checked in to a dynamic group.
    DYNAMIC = "dynamic"


class Membership(StrEnum):
    #: Always in the queue; never checked out, automatically or by request. Can only be paused.
    STATIC = "static"
    #: Joins the queue on checkin and leaves it on checkout (or on logout of the last terminal).
    DYNAMIC = "dynamic"


class Activity(StrEnum):
    """Call activity of an agent, set by the system (from the PBX), apart from availability."""

    IDLE = "idle"
    RINGING = "ringing"
    TALKING = "talking"
    HOLD = "hold"


class EndReason(StrEnum):
    """Why a terminal's session ended. Each has its own error code for the ended token."""

    LOGOUT = "logout"
    TIMEOUT = "timeout"
    FORCED = "forced"
    REPLACED = "replaced"


END_REASON_CODES: dict[EndReason, str] = {
    EndReason.LOGOUT: "session_ended",
    EndReason.TIMEOUT: "session_expired",
    EndReason.FORCED: "session_revoked",
    EndReason.REPLACED: "session_replaced",
}

DEFAULT_PAUSE_REASONS: list[tuple[str, str]] = [
    ("training", "Training"),
    ("meeting", "Meeting"),
    ("leave", "Leave"),
    ("lunch", "Lunch"),
    ("rest", "Rest"),
    ("other", "Other"),
]
