"""Create or update teams, accounts, devices, groups and agents from a YAML/JSON document.

The document (see docs/provisioning.md and `demo_document()`):

    system_admins: [{username, password}]
    teams:
      - name: demo
        heartbeat_interval_s: 20
        session_timeout_s: 90
        wrapup_s: 0
        pause_reasons: [{code, label}]          # default: the product's list
        rates:    [{prefix, per_minute}]        # call prices; longest prefix wins
        accounts: [{username, password, role: team_admin|user, display_name,
                    device}]                    # device: a team admin's own internal device
        devices:  [{number, kind: internal|external, owner, extension, sip_password}]
        groups:   [{name, queue, extension, service_level_s}]
        agents:   [{number, name, password, owner, device_mode, device, admin_account,
                    groups: [{name, membership: static|dynamic}]}]

Entities are matched by their natural key (team name, user name, device number, group name,
agent number) and updated in place, so the same file can be applied again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession

from .db.tables import (
    Account,
    Agent,
    Device,
    Group,
    GroupMember,
    Meta,
    PauseReason,
    Rate,
    Team,
)
from .model import DEFAULT_PAUSE_REASONS, DeviceKind, DeviceMode, Membership, Role
from .security import Passwords


class ProvisioningError(ValueError):
    """The document is wrong; the message says where."""


#: Device numbers and extensions end up in the PBX's config and dial plan.
DIALABLE = re.compile(r"^[0-9A-Za-z+*._-]+$")
#: Queue names too (an Asterisk config section name).
QUEUE_NAME = re.compile(r"^[0-9A-Za-z._-]+$")


def _text(item: Mapping[str, Any], key: str, where: str, max_len: int = 64, *,
          default: str | None = None, pattern: re.Pattern[str] | None = None) -> str:
    """A short text field: a string or a number, no control characters, within the limit.
    Required unless a default is given."""
    value = item.get(key)
    if value is None or value == "":
        if default is None:
            raise ProvisioningError(f"{where}: '{key}' is required")
        return default
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ProvisioningError(f"{where}: '{key}' must be text")
    text = str(value)
    if len(text) > max_len:
        raise ProvisioningError(f"{where}: '{key}' is longer than {max_len} characters")
    if any(ord(ch) < 32 for ch in text):
        raise ProvisioningError(f"{where}: '{key}' contains control characters")
    if pattern is not None and text and not pattern.match(text):
        raise ProvisioningError(f"{where}: '{key}' may only hold {pattern.pattern[2:-3]}")
    return text


def _entries(parent: Mapping[str, Any], key: str, where: str) -> list[tuple[int, Any]]:
    """The list under `key` (absent: empty), each entry a mapping."""
    value = parent.get(key) or []
    place = f"{where}.{key}" if where else key
    if not isinstance(value, list):
        raise ProvisioningError(f"{place} must be a list")
    for i, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise ProvisioningError(f"{place}[{i}] must be a mapping")
    return list(enumerate(value))


def _int(item: Mapping[str, Any], key: str, default: int, where: str) -> int:
    value = item.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ProvisioningError(f"{where}: '{key}' must be a whole number")
    try:
        number = int(value)
    except ValueError:
        raise ProvisioningError(f"{where}: '{key}' must be a whole number") from None
    if not 0 <= number <= 86_400:
        raise ProvisioningError(f"{where}: '{key}' must be between 0 and 86400")
    return number


def _enum(value: Any, enum: type[Any], where: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(e.value for e in enum)
        raise ProvisioningError(f"{where}: '{value}' is not one of {allowed}") from None


def apply_document(db: DbSession, doc: Mapping[str, Any], passwords: Passwords) -> dict[str, int]:
    """Apply the document in the caller's transaction; returns counts of what it touched."""
    if not isinstance(doc, Mapping):
        raise ProvisioningError("the document must be a mapping with 'teams' and/or "
                                "'system_admins'")
    counts = {"teams": 0, "accounts": 0, "devices": 0, "groups": 0, "agents": 0}
    for i, item in _entries(doc, "system_admins", ""):
        where = f"system_admins[{i}]"
        username = _text(item, "username", where)
        acc = db.scalar(select(Account).where(Account.team_id.is_(None),
                                              Account.username == username))
        if acc is None:
            acc = Account(team_id=None, username=username, role=Role.SYSTEM_ADMIN.value,
                          password_hash="")
            db.add(acc)
        acc.password_hash = passwords.hash(_text(item, "password", where, 256))
        acc.display_name = _text(item, "display_name", where, 128, default=username)
        counts["accounts"] += 1
    for t_index, t in _entries(doc, "teams", ""):
        _apply_team(db, t, f"teams[{t_index}]", passwords, counts)
    bump_config_version(db)
    db.flush()
    return counts


CONFIG_VERSION = "config_version"


def bump_config_version(db: DbSession) -> None:
    """Tell every server process that devices, groups or agents changed (the PBX follows)."""
    row = db.get(Meta, CONFIG_VERSION)
    if row is None:
        db.add(Meta(key=CONFIG_VERSION, value=1))
    else:
        row.value += 1


def config_version(db: DbSession) -> int:
    row = db.get(Meta, CONFIG_VERSION)
    return row.value if row is not None else 0


def _apply_team(db: DbSession, t: Mapping[str, Any], where: str, passwords: Passwords,
                counts: dict[str, int]) -> None:
    name = _text(t, "name", where)
    team = db.scalar(select(Team).where(Team.name == name))
    if team is None:
        team = Team(name=name)
        db.add(team)
    team.heartbeat_interval_s = _int(t, "heartbeat_interval_s", team.heartbeat_interval_s or 20,
                                     where)
    team.session_timeout_s = _int(t, "session_timeout_s", team.session_timeout_s or 90, where)
    team.wrapup_s = _int(t, "wrapup_s", team.wrapup_s or 0, where)
    if team.heartbeat_interval_s < 1 or team.session_timeout_s <= team.heartbeat_interval_s:
        raise ProvisioningError(f"{where}: session_timeout_s must exceed heartbeat_interval_s "
                                "(and the interval must be at least 1 s)")
    db.flush()
    counts["teams"] += 1

    if "pause_reasons" in t:
        reasons = [(_text(r, "code", f"{where}.pause_reasons[{i}]", 32),
                    _text(r, "label", f"{where}.pause_reasons[{i}]", default=str(r.get("code"))))
                   for i, r in _entries(t, "pause_reasons", where)]
    elif db.scalar(select(PauseReason.id).where(PauseReason.team_id == team.id)) is None:
        reasons = list(DEFAULT_PAUSE_REASONS)
    else:
        reasons = None
    if reasons is not None:
        if len({code for code, _ in reasons}) != len(reasons):
            raise ProvisioningError(f"{where}.pause_reasons: codes must be unique")
        for old_reason in db.scalars(select(PauseReason).where(PauseReason.team_id == team.id)):
            db.delete(old_reason)
        db.flush()
        for pos, (code, label) in enumerate(reasons):
            db.add(PauseReason(team_id=team.id, code=code, label=label, position=pos))

    if "rates" in t:
        rates = []
        for i, r in _entries(t, "rates", where):
            w = f"{where}.rates[{i}]"
            try:
                price = Decimal(_text(r, "per_minute", w, 20))
            except InvalidOperation:
                raise ProvisioningError(f"{w}: per_minute must be a number") from None
            if not price.is_finite() or not 0 <= price < 10**8:
                raise ProvisioningError(f"{w}: per_minute must be between 0 and 100000000")
            rates.append((_text(r, "prefix", w, 32, default=""), price))
        if len({prefix for prefix, _ in rates}) != len(rates):
            raise ProvisioningError(f"{where}.rates: prefixes must be unique")
        for old_rate in db.scalars(select(Rate).where(Rate.team_id == team.id)):
            db.delete(old_rate)
        db.flush()
        for prefix, price in rates:
            db.add(Rate(team_id=team.id, prefix=prefix, per_minute=price))

    accounts: dict[str, Account] = {
        a.username: a for a in db.scalars(select(Account).where(Account.team_id == team.id))
    }
    for i, a in _entries(t, "accounts", where):
        w = f"{where}.accounts[{i}]"
        username = _text(a, "username", w)
        role = _enum(a.get("role", "user"), Role, w)
        if role is Role.SYSTEM_ADMIN:
            raise ProvisioningError(f"{w}: system admins belong under 'system_admins'")
        acc = accounts.get(username)
        if acc is None:
            acc = Account(team_id=team.id, username=username, password_hash="")
            db.add(acc)
            accounts[username] = acc
        acc.role = role.value
        acc.display_name = _text(a, "display_name", w, 128, default=username)
        if "password" in a:
            acc.password_hash = passwords.hash(_text(a, "password", w, 256))
        elif not acc.password_hash:
            raise ProvisioningError(f"{w}: 'password' is required for a new account")
        counts["accounts"] += 1
    db.flush()

    def owner_id(item: Mapping[str, Any], w: str) -> int | None:
        owner = item.get("owner")
        if owner is None:
            return None
        acc = accounts.get(_text(item, "owner", w))
        if acc is None or acc.role != Role.USER.value:
            raise ProvisioningError(f"{w}: owner '{owner}' is not a user account of team {name}")
        return acc.id

    for i, d in _entries(t, "devices", where):
        w = f"{where}.devices[{i}]"
        number = _text(d, "number", w, 32, pattern=DIALABLE)
        kind = _enum(d.get("kind", "internal"), DeviceKind, w)
        dev = db.scalar(select(Device).where(Device.number == number))
        if dev is not None and dev.team_id != team.id:
            raise ProvisioningError(f"{w}: number {number} belongs to another team")
        if dev is None:
            dev = Device(team_id=team.id, number=number)
            db.add(dev)
        dev.kind = kind.value
        dev.owner_id = owner_id(d, w)
        dev.description = _text(d, "description", w, 128, default="")
        if kind is DeviceKind.INTERNAL:
            if d.get("extension"):
                raise ProvisioningError(f"{w}: only external devices have an extension; an "
                                        "internal device's number is its extension")
            dev.extension = None
            if "sip_password" in d:
                dev.sip_password = _text(d, "sip_password", w, 128)
            elif not dev.sip_password:
                raise ProvisioningError(f"{w}: 'sip_password' is required for an internal device")
        else:
            dev.extension = _text(d, "extension", w, 32, default="", pattern=DIALABLE) or None
            dev.sip_password = None
        counts["devices"] += 1
    db.flush()

    for i, a in _entries(t, "accounts", where):
        # A team admin's own phone: listen/whisper/barge calls ring it.
        if "device" not in a:
            continue
        w = f"{where}.accounts[{i}]"
        acc = accounts[_text(a, "username", w)]
        dnum = a.get("device")
        if dnum is None or dnum == "":
            acc.device_id = None
            continue
        if acc.role != Role.TEAM_ADMIN.value:
            raise ProvisioningError(f"{w}: only a team admin has a device")
        number = _text(a, "device", w, 32)
        dev = db.scalar(select(Device).where(Device.team_id == team.id, Device.number == number))
        if dev is None or dev.kind != DeviceKind.INTERNAL.value:
            raise ProvisioningError(f"{w}: device {number} is not an internal device of team "
                                    f"{team.name}")
        acc.device_id = dev.id

    groups: dict[str, Group] = {
        g.name: g for g in db.scalars(select(Group).where(Group.team_id == team.id))
    }
    for i, g in _entries(t, "groups", where):
        w = f"{where}.groups[{i}]"
        gname = _text(g, "name", w)
        grp = groups.get(gname)
        if grp is None:
            grp = Group(team_id=team.id, name=gname)
            db.add(grp)
            groups[gname] = grp
        grp.queue = _text(g, "queue", w, default=f"{team.name}-{gname}", pattern=QUEUE_NAME)
        grp.extension = _text(g, "extension", w, 32, default="", pattern=DIALABLE) or None
        grp.service_level_s = _int(g, "service_level_s", grp.service_level_s or 20, w)
        if grp.service_level_s < 1:
            raise ProvisioningError(f"{w}: 'service_level_s' must be at least 1")
        counts["groups"] += 1
    db.flush()

    for i, a in _entries(t, "agents", where):
        _apply_agent(db, team, a, f"{where}.agents[{i}]", passwords, accounts, groups,
                     owner_id(a, f"{where}.agents[{i}]"))
        counts["agents"] += 1


def _apply_agent(db: DbSession, team: Team, a: Mapping[str, Any], w: str, passwords: Passwords,
                 accounts: dict[str, Account], groups: dict[str, Group],
                 owner: int | None) -> None:
    number = _text(a, "number", w, 32)
    agent = db.scalar(select(Agent).where(Agent.team_id == team.id, Agent.number == number))
    if agent is None:
        agent = Agent(team_id=team.id, number=number, password_hash="")
        db.add(agent)
    agent.name = _text(a, "name", w, 128, default=number)
    agent.owner_id = owner
    if "password" in a:
        agent.password_hash = passwords.hash(_text(a, "password", w, 256))
    elif not agent.password_hash:
        raise ProvisioningError(f"{w}: 'password' is required for a new agent")
    mode = _enum(a.get("device_mode", "fixed"), DeviceMode, w)
    agent.device_mode = mode.value
    agent.fixed_device_id = None
    if mode is DeviceMode.FIXED:
        dnum = _text(a, "device", w, 32)
        dev = db.scalar(select(Device).where(Device.team_id == team.id,
                                             (Device.number == dnum) | (Device.extension == dnum)))
        if dev is None:
            raise ProvisioningError(f"{w}: device {dnum} is not a device of team {team.name}")
        agent.fixed_device_id = dev.id
    elif a.get("device"):
        raise ProvisioningError(f"{w}: only a fixed agent has a set device")
    admin = a.get("admin_account")
    agent.admin_account_id = None
    if admin is not None:
        acc = accounts.get(_text(a, "admin_account", w))
        if acc is None or acc.role != Role.TEAM_ADMIN.value:
            raise ProvisioningError(f"{w}: '{admin}' is not a team admin of team {team.name}")
        agent.admin_account_id = acc.id
    db.flush()
    wanted: dict[int, Membership] = {}
    raw_groups = a.get("groups") or []
    if not isinstance(raw_groups, list):
        raise ProvisioningError(f"{w}.groups must be a list")
    for j, m in enumerate(raw_groups):
        mw = f"{w}.groups[{j}]"
        item = {"name": m} if isinstance(m, str) else m
        if not isinstance(item, Mapping):
            raise ProvisioningError(f"{mw} must be a group name or a mapping")
        grp = groups.get(_text(item, "name", mw))
        if grp is None:
            raise ProvisioningError(f"{mw}: no group '{item['name']}' in team {team.name}")
        wanted[grp.id] = _enum(item.get("membership", "dynamic"), Membership, mw)
    for m in list(agent.memberships):
        if m.group_id not in wanted:
            agent.memberships.remove(m)
    have = {m.group_id: m for m in agent.memberships}
    for gid, membership in wanted.items():
        gm = have.get(gid)
        if gm is None:
            gm = GroupMember(group_id=gid, agent_id=agent.id, checked_in=False)
            agent.memberships.append(gm)
        gm.membership = membership.value
        if membership is Membership.STATIC:
            gm.checked_in = True  # static members are always in the queue


#: The README says so: every demo account and device uses it.
DEMO_PASSWORD = "demo"  # noqa: S105


def demo_document(password: str = DEMO_PASSWORD) -> dict[str, Any]:
    """The demo call center of the README (every password: `demo`)."""
    return {
        "system_admins": [{"username": "admin", "password": password}],
        "teams": [{
            "name": "demo",
            "heartbeat_interval_s": 20,
            "session_timeout_s": 90,
            "wrapup_s": 10,
            "rates": [{"prefix": "0", "per_minute": "0.02"},
                      {"prefix": "00", "per_minute": "0.25"}],
            "accounts": [
                {"username": "supervisor", "password": password, "role": "team_admin",
                 "display_name": "Demo supervisor"},
                {"username": "frontdesk", "password": password, "role": "user",
                 "display_name": "Front desk (billing)"},
                {"username": "backoffice", "password": password, "role": "user",
                 "display_name": "Back office (billing)"},
            ],
            "devices": [
                {"number": "8001", "kind": "internal", "owner": "frontdesk",
                 "sip_password": password},
                {"number": "8002", "kind": "internal", "owner": "frontdesk",
                 "sip_password": password},
                {"number": "8003", "kind": "internal", "owner": "backoffice",
                 "sip_password": password},
                {"number": "8004", "kind": "internal", "owner": "backoffice",
                 "sip_password": password},
                {"number": "041139735857", "kind": "external", "extension": "5000",
                 "owner": "backoffice", "description": "Field agent's mobile"},
            ],
            "groups": [
                {"name": "sales", "queue": "sales", "extension": "7001"},
                {"name": "support", "queue": "support", "extension": "7002"},
            ],
            "agents": [
                {"number": "1001", "name": "Alice (fixed 8001)", "password": password,
                 "owner": "frontdesk", "device_mode": "fixed", "device": "8001",
                 "groups": [{"name": "sales"}, {"name": "support"}]},
                {"number": "1002", "name": "Bob (self-adapting)", "password": password,
                 "owner": "frontdesk", "device_mode": "self_adapting",
                 "groups": [{"name": "sales"}]},
                {"number": "1003", "name": "Carol (dynamic)", "password": password,
                 "owner": "backoffice", "device_mode": "dynamic",
                 "groups": [{"name": "support"}]},
                {"number": "1004", "name": "Dave (static, fixed 8004)", "password": password,
                 "owner": "backoffice", "device_mode": "fixed", "device": "8004",
                 "groups": [{"name": "support", "membership": "static"},
                            {"name": "sales", "membership": "dynamic"}]},
            ],
        }],
    }
