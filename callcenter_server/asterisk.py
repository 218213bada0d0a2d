"""The Asterisk driver: the server's database is the truth, Asterisk follows it over AMI.

Design (docs/asterisk.md has the operator's view):

- **Config**: internal devices, the agents' dial targets, queue extensions, extensions that
  stand for outside numbers and the queues with their static members are written as include
  files into the PBX's `generated/` folder and reloaded. The site's own config supplies the
  templates (`cc-phone`, `cc-phone-aor`, `cc-phone-auth`) and the transport.
- **Queue members**: one per agent, `Local/agent<ID>@cc-agents` with state interface
  `hint:agent<ID>@cc-agents`. The hint and the Local extension follow the agent's current
  device, so a device change (or an external number) never needs leaving and re-joining queues.
- **Reconcile**: on every AMI (re)connect, at start and after every change of an agent, the
  members Asterisk has are compared with what the database says (checked-in dynamic groups,
  static groups, paused or in wrap-up) and QueueAdd/QueueRemove/QueuePause close the gap. An
  Asterisk that restarted, with or without persisted members, is put right without any client.
- **Events**: ContactStatus → where a device is registered from (self-adapting devices);
  AgentCalled/AgentConnect/AgentComplete/AgentRingNoAnswer and DeviceStateChange → agent
  activity and `call.*` events; QueueCallerJoin/Leave/Abandon and AgentConnect → the callers
  waiting in each queue and the day's answered/abandoned counts (QueueStatus's entries put
  them right after a reconnect); Cdr → billing records.
- **Listen / whisper / barge**: an Originate to the team admin's phone (with a Call-Info
  answer-after=0 header so it answers by itself) into `[cc-spy]`, which runs ChanSpy on the
  agent's channel.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import re
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from .ami import AmiClient, AmiError, AmiUnavailable, Message
from .model import Activity, DeviceKind, Membership
from .problems import ProblemError
from .service import AgentPbxState, CallCenter, PbxSnapshot

log = logging.getLogger("callcenter.asterisk")

AGENT_CONTEXT = "cc-agents"
SPY_CONTEXT = "cc-spy"
#: ChanSpy options per mode (q: no beep, u: the target is a full channel name, E: end when the
#: agent's channel hangs up; w: whisper to the agent, B: barge in on both).
SPY_OPTIONS = {"listen": "quE", "whisper": "quEw", "barge": "quEB"}
SPY_ID_PREFIX = "ccspy-"


def spy_channel_id(agent_id: int, admin_device: str) -> str:
    """Unique id prefix of the spy calls one admin device makes on one agent."""
    return f"{SPY_ID_PREFIX}a{agent_id}-d{admin_device}-"


def member_interface(agent_id: int) -> str:
    return f"Local/agent{agent_id}@{AGENT_CONTEXT}"


def state_interface(agent_id: int) -> str:
    return f"hint:agent{agent_id}@{AGENT_CONTEXT}"


_AGENT_IFACE = re.compile(r"^Local/agent(\d+)@" + AGENT_CONTEXT)
_SIP_URI_HOST = re.compile(r"^sips?:[^@]*@\[?([0-9A-Fa-f.:]+?)\]?(?::(\d+))?(?:[;>]|$)")


def agent_id_of(interface: str) -> int | None:
    m = _AGENT_IFACE.match(interface or "")
    return int(m.group(1)) if m else None


def contact_host(uri: str) -> tuple[str, int] | None:
    m = _SIP_URI_HOST.match(uri or "")
    if not m:
        return None
    return m.group(1), int(m.group(2) or 5060)


def _safe(value: str) -> str:
    """Values written into Asterisk config: no newlines, commas or semicolons."""
    return re.sub(r"[\r\n,;\[\]\"]", "", value)


@dataclass
class PbxOptions:
    host: str = "127.0.0.1"
    port: int = 5038
    username: str = "callcenter"
    secret: str = ""
    #: The PBX's generated/ folder; None when another tool writes the config.
    config_dir: Path | None = None
    #: How an outside number is dialled; {number} is replaced.
    pstn_dial: str = "PJSIP/{number}@pstn"
    #: Seconds a queue rings an agent before trying again.
    ring_timeout_s: int = 15
    retry_after_s: int = 5
    #: How often the database's config version is checked for provisioning done elsewhere.
    config_poll_s: float = 2.0


@dataclass
class _ActiveCall:
    queue: str | None = None
    caller_id: str = ""
    caller_name: str = ""
    uniqueid: str = ""
    answered: bool = False


def known(value: str) -> str:
    """Asterisk says "<unknown>" for a missing caller number or name: that is no value."""
    return "" if value == "<unknown>" else value


class AsteriskPbx:
    """PbxPort for a real Asterisk. Runs on the server's event loop."""

    def __init__(self, center: CallCenter, options: PbxOptions) -> None:
        self.center = center
        self.options = options
        self.ami = AmiClient(options.host, options.port, options.username, options.secret,
                             on_event=self._on_event, on_connect=self._on_connect)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._dirty: set[int] = set()
        # AOR -> its contacts' URIs -> (host, port), from the last sync and the events since:
        # one of two bindings removed must not read as the device gone (the app registers each
        # account under its own Contact, `;line=`). Event handlers may not send AMI actions
        # (the reader awaits them: an action's answer would never be read).
        self._contact_uris: dict[str, dict[str, tuple[str, int]]] = {}
        self._dirty_all = False
        self._dirty_lock = threading.Lock()
        self._wake: asyncio.Event | None = None
        self._calls: dict[int, _ActiveCall] = {}
        self._loaded_once = False
        self._config_version = -1
        self.reconciled = 0  # completed full reconciliations (tests wait on it)
        self._reconciled_event: asyncio.Event | None = None

    # ----------------------------------------------------------------- PbxPort

    @property
    def available(self) -> bool:
        return self.ami.connected

    @property
    def retry_after_s(self) -> int:
        return self.options.retry_after_s

    def agent_changed(self, agent_id: int) -> None:
        """Called from request threads after commit: queue the agent for reconciliation."""
        with self._dirty_lock:
            self._dirty.add(agent_id)
        self._poke()

    def config_changed(self) -> None:
        """Devices, groups or agents were provisioned: rewrite config and reconcile all."""
        with self._dirty_lock:
            self._dirty_all = True
        self._poke()

    def _poke(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            loop.call_soon_threadsafe(wake.set)

    # ----------------------------------------------------------------- life

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._reconciled_event = asyncio.Event()
        if self.options.config_dir is not None:
            await self._write_config(reload=False)
        self._tasks = [asyncio.create_task(self.ami.run()),
                       asyncio.create_task(self._reconciler())]

    async def stop(self) -> None:
        await self.ami.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _on_connect(self) -> None:
        with self._dirty_lock:
            self._dirty_all = True
        if self._wake is not None:
            self._wake.set()

    async def _reconciler(self) -> None:
        assert self._wake is not None
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.options.config_poll_s)
            except TimeoutError:
                # Provisioning by another process (the import command, another server
                # instance) bumps the config version in the database.
                version = await anyio.to_thread.run_sync(self.center.config_version)
                if version == self._config_version:
                    continue
                with self._dirty_lock:
                    self._dirty_all = True
            self._wake.clear()
            if not self.ami.connected:
                continue  # on_connect marks everything dirty again
            with self._dirty_lock:
                everything, self._dirty_all = self._dirty_all, False
                agents, self._dirty = self._dirty, set()
            try:
                if everything:
                    await self._reconcile_all()
                elif agents:
                    await self._reconcile_agents(agents)
            except (AmiUnavailable, AmiError) as exc:
                log.warning("reconcile interrupted (%s); will redo on reconnect", exc)
                with self._dirty_lock:
                    self._dirty_all = True
            except Exception:
                log.exception("reconcile failed")
                with self._dirty_lock:
                    self._dirty_all = True
                await asyncio.sleep(1)
                self._wake.set()

    # ----------------------------------------------------------------- config files

    def render_config(self, snap: PbxSnapshot) -> dict[str, str]:
        o = self.options
        devices = ["; Generated by callcenter_server: internal devices. Do not edit.\n"]
        for d in snap.devices:
            if d.kind != DeviceKind.INTERNAL.value:
                continue
            n = _safe(d.number)
            devices.append(
                f"[{n}](cc-phone)\nauth = {n}\naors = {n}\ncallerid = \"{_safe(d.label)}\" <{n}>\n"
                f"[{n}](cc-phone-aor)\n"
                f"[{n}](cc-phone-auth)\nusername = {n}\npassword = {_safe(d.sip_password)}\n")
        ext = ["; Generated by callcenter_server: dial plan. Do not edit.\n",
               "[cc-phones]\n; What internal devices may dial.\ninclude => cc-inbound\n"
               "include => cc-site\n"]
        for d in snap.devices:
            n = _safe(d.number)
            if d.kind == DeviceKind.INTERNAL.value:
                ext.append(f"exten => {n},1,Dial(PJSIP/{n},30)\n same => n,Hangup()\n")
            elif d.extension:
                # The extension stands for the outside number: its owner pays.
                dial = o.pstn_dial.format(number=n)
                ext.append(f"exten => {_safe(d.extension)},1,Set(CDR(userfield)=billto={n})\n"
                           f" same => n,Dial({dial},60)\n same => n,Hangup()\n")
        # Any other number of 4+ digits leaves through the PSTN trunk, billed to the caller.
        ext.append("exten => _[0+]XXX.,1,Set(CDR(userfield)=billto=${CHANNEL(endpoint)})\n"
                   f" same => n,Dial({o.pstn_dial.format(number='${EXTEN}')},60)\n"
                   " same => n,Hangup()\n")
        ext.append("\n[pstn]\n; Calls from the PSTN trunk.\ninclude => cc-inbound\n")
        ext.append("\n[cc-inbound]\n; Queue extensions (from internal phones and the PSTN).\n")
        for g in snap.groups:
            if g.extension:
                ext.append(f"exten => {_safe(g.extension)},1,Queue({_safe(g.queue)},r)\n"
                           " same => n,Hangup()\n")
        ext.append(f"\n[{SPY_CONTEXT}]\n; Listen / whisper / barge: the server originates a call "
                   "to a team admin's phone into here;\n; CC_SPY_TARGET is the agent's channel.\n")
        for mode, options in SPY_OPTIONS.items():
            ext.append(f"exten => {mode},1,ChanSpy(${{CC_SPY_TARGET}},{options})\n"
                       " same => n,Hangup()\n")
        ext.append(f"\n[{AGENT_CONTEXT}]\n; One Local extension per agent: rings its device.\n")
        for a in snap.agents:
            name = f"agent{a.agent_id}"
            dev = a.device
            if dev is None:
                ext.append(f"exten => {name},1,Congestion()\n")
            elif dev.kind == DeviceKind.INTERNAL.value:
                n = _safe(dev.number)
                ext.append(f"exten => {name},hint,PJSIP/{n}\n"
                           f"exten => {name},1,Dial(PJSIP/{n},{o.ring_timeout_s})\n")
            else:
                n = _safe(dev.number)
                ext.append(f"exten => {name},1,Set(CDR(userfield)=billto={n})\n"
                           f" same => n,Dial({o.pstn_dial.format(number=n)},{o.ring_timeout_s})\n")
        queues = ["; Generated by callcenter_server: queues and static members. Do not edit.\n"]
        for g in snap.groups:
            queues.append(f"[{_safe(g.queue)}]\nstrategy = ringall\ntimeout = {o.ring_timeout_s}\n"
                          "retry = 1\nwrapuptime = 0\nringinuse = no\n")
            for a in snap.agents:
                for m in a.memberships:
                    if m.queue == g.queue and m.membership == Membership.STATIC.value:
                        queues.append(f"member => {member_interface(a.agent_id)},0,"
                                      f"{_safe(a.number)},{state_interface(a.agent_id)}\n")
        return {
            "pjsip_devices.conf": "".join(devices),
            "extensions_callcenter.conf": "".join(ext),
            "queues.conf": "".join(queues),
        }

    async def _write_config(self, *, reload: bool) -> None:
        """Write the generated files that differ from what is on disk; reload those.

        Compared with the disk: an Asterisk that restarted already read the current files, and
        a needless res_pjsip reload right after its boot leaves restored contacts unqualified.
        Only on this process's first connection is everything reloaded, since what that
        Asterisk read before is unknown."""
        if self.options.config_dir is None:
            return
        snap = await anyio.to_thread.run_sync(self.center.pbx_snapshot)
        files = self.render_config(snap)
        changed = await anyio.to_thread.run_sync(_write_files, self.options.config_dir, files)
        if reload and self.ami.connected:
            if not self._loaded_once:
                changed = list(files)
            if changed:
                await self._reload(changed)
            self._loaded_once = True

    async def _reload(self, changed: Iterable[str]) -> None:
        changed = set(changed)
        if "pjsip_devices.conf" in changed:
            await self.ami.command("module reload res_pjsip.so")
        if "extensions_callcenter.conf" in changed:
            await self.ami.command("dialplan reload")
        if "queues.conf" in changed:
            await self.ami.command("queue reload all")

    # ----------------------------------------------------------------- reconcile

    async def _reconcile_all(self) -> None:
        self._config_version = await anyio.to_thread.run_sync(self.center.config_version)
        if self.options.config_dir is not None:
            await self._write_config(reload=True)
        snap = await anyio.to_thread.run_sync(self.center.pbx_snapshot)
        asked_at = self.center.clock.now()
        have, entries = await self._status()
        await anyio.to_thread.run_sync(self.center.queue_waiting, entries, asked_at)
        for a in snap.agents:
            await self._apply(a, have.get(a.agent_id, {}))
        known = {a.agent_id for a in snap.agents}
        for agent_id, queues in have.items():
            if agent_id not in known:
                for queue, member in queues.items():
                    if member.get("Membership") == "dynamic":
                        await self._queue_remove(queue, agent_id)
        await self._sync_contacts(snap)
        self.reconciled += 1
        if self._reconciled_event is not None:
            self._reconciled_event.set()
        log.info("reconciled %d agents with Asterisk", len(snap.agents))

    async def wait_reconciled(self, after: int, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """For tests and start-up: until `reconciled` exceeds `after`."""
        async def until() -> None:
            while self.reconciled <= after:
                assert self._reconciled_event is not None
                self._reconciled_event.clear()
                await self._reconciled_event.wait()
        await asyncio.wait_for(until(), timeout)

    async def _reconcile_agents(self, agent_ids: set[int]) -> None:
        if self.options.config_dir is not None:
            await self._write_config(reload=True)
        states = await anyio.to_thread.run_sync(self.center.agent_pbx_states, sorted(agent_ids))
        for state in states:
            have = await self._members(member_interface(state.agent_id))
            await self._apply(state, have.get(state.agent_id, {}))

    async def _members(self, member: str | None = None) -> dict[int, dict[str, Message]]:
        """What Asterisk has: agent id → queue → QueueMember event."""
        return (await self._status(member))[0]

    async def _status(
        self, member: str | None = None,
    ) -> tuple[dict[int, dict[str, Message]], list[tuple[str, str, str, str, float]]]:
        """QueueStatus: the members (agent id → queue → QueueMember event) and the callers
        waiting (queue, unique id, caller id, caller name, seconds waited)."""
        fields = {"Member": member} if member else {}
        out: dict[int, dict[str, Message]] = {}
        entries: list[tuple[str, str, str, str, float]] = []
        for ev in await self.ami.action_list("QueueStatus", **fields):
            if ev.get("Event") == "QueueEntry":
                entries.append((ev.get("Queue", ""), ev.get("Uniqueid", ""),
                                _caller(ev.get("CallerIDNum")), _caller(ev.get("CallerIDName")),
                                _seconds(ev.get("Wait"))))
            if ev.get("Event") != "QueueMember":
                continue
            agent_id = agent_id_of(ev.get("Location", ""))
            if agent_id is not None:
                out.setdefault(agent_id, {})[ev.get("Queue", "")] = ev
        return out, entries

    async def _apply(self, a: AgentPbxState, have: dict[str, Message]) -> None:
        paused = a.paused or a.wrapup
        reason = "wrapup" if a.wrapup and not a.paused else (a.pause_reason or "")
        wanted: dict[str, bool] = {}  # queue → dynamic?
        for m in a.memberships:
            if m.membership == Membership.STATIC.value:
                wanted[m.queue] = False
            elif m.checked_in:
                wanted[m.queue] = True
        for queue, member in have.items():
            if queue not in wanted and member.get("Membership") == "dynamic":
                await self._queue_remove(queue, a.agent_id)
        for queue, dynamic in wanted.items():
            current = have.get(queue)
            if current is None:
                if not dynamic:
                    continue  # static members come from queues.conf (a reload adds them)
                await self.ami.action(
                    "QueueAdd", Queue=queue, Interface=member_interface(a.agent_id),
                    MemberName=a.number, StateInterface=state_interface(a.agent_id),
                    Paused="true" if paused else "false", Reason=reason)
                log.info("queue %s: added agent %s%s", queue, a.number,
                         " (paused)" if paused else "")
            elif (current.get("Paused") == "1") != paused:
                await self.ami.action("QueuePause", Queue=queue,
                                      Interface=member_interface(a.agent_id),
                                      Paused="true" if paused else "false", Reason=reason)
                log.info("queue %s: agent %s %s", queue, a.number,
                         "paused" if paused else "unpaused")

    async def _queue_remove(self, queue: str, agent_id: int) -> None:
        try:
            await self.ami.action("QueueRemove", Queue=queue, Interface=member_interface(agent_id))
            log.info("queue %s: removed agent id %s", queue, agent_id)
        except AmiError as exc:
            log.warning("queue %s: remove agent id %s: %s", queue, agent_id, exc)

    async def _contacts(self) -> list[tuple[str, str, tuple[str, int]]]:
        """Every registered contact as (AOR, URI, (host, port))."""
        try:
            contacts = await self.ami.action_list("PJSIPShowContacts")
        except AmiError as exc:
            if "No Contacts found" not in str(exc):
                raise
            contacts = []  # Asterisk answers an empty list with an error
        found = []
        for ev in contacts:
            if ev.get("Event") != "ContactList":
                continue
            uri = ev.get("Uri", "")
            host = contact_host(uri)
            aor = ev.get("ObjectName", "").split(";@")[0]
            if host is not None and aor:
                found.append((aor, uri, host))
        return found

    async def _sync_contacts(self, snap: PbxSnapshot) -> None:
        seen: set[str] = set()
        uris: dict[str, dict[str, tuple[str, int]]] = {}
        for aor, uri, host in await self._contacts():
            seen.add(aor)
            uris.setdefault(aor, {})[uri] = host
            await anyio.to_thread.run_sync(self.center.device_contact, aor, host[0], host[1])
        self._contact_uris = uris
        for d in snap.devices:
            if d.kind == DeviceKind.INTERNAL.value and d.number not in seen and d.has_contact:
                await anyio.to_thread.run_sync(self.center.device_contact, d.number, None)
        # Contacts that Asterisk restored from astdb at boot are never qualified again
        # ("NonQual", endpoint Unavailable: queues skip the agent) until something qualifies
        # them. Qualify every registered device now; a live phone answers at once.
        for aor in sorted(seen):
            await self.ami.command(f"pjsip qualify {aor}")

    # ----------------------------------------------------------------- events

    async def _on_event(self, ev: Message) -> None:
        name = ev.get("Event", "")
        handler = getattr(self, f"_ev_{name}", None)
        if handler is not None:
            await handler(ev)

    async def _ev_ContactStatus(self, ev: Message) -> None:
        aor, status, uri = ev.get("AOR", ""), ev.get("ContactStatus", ""), ev.get("URI", "")
        known = self._contact_uris.setdefault(aor, {})
        if status == "Removed":
            # One of its contacts went; another may stand (a phone registered again under a
            # new Contact: Asterisk adds the new binding, then removes the old).
            known.pop(uri, None)
            if known:
                ip, port = next(reversed(known.values()))
                await anyio.to_thread.run_sync(self.center.device_contact, aor, ip, port)
            else:
                await anyio.to_thread.run_sync(self.center.device_contact, aor, None)
            return
        host = contact_host(uri)
        if host is not None and aor:
            known[uri] = host
            await anyio.to_thread.run_sync(self.center.device_contact, aor, host[0], host[1])

    async def _activity(self, agent_id: int, activity: Activity, *,
                        answered: bool = False) -> None:
        call = self._calls.get(agent_id)
        info = None
        if call is not None:
            info = {"caller_id": call.caller_id, "caller_name": call.caller_name,
                    "queue": call.queue or "", "call_id": call.uniqueid}
        await anyio.to_thread.run_sync(
            lambda: self.center.agent_activity(agent_id, activity, info, answered=answered))

    async def _ev_AgentCalled(self, ev: Message) -> None:
        agent_id = agent_id_of(ev.get("Interface", ""))
        if agent_id is None:
            return
        self._calls[agent_id] = _ActiveCall(
            queue=ev.get("Queue"), caller_id=known(ev.get("CallerIDNum", "")),
            caller_name=known(ev.get("CallerIDName", "")), uniqueid=ev.get("Uniqueid", ""))
        await self._activity(agent_id, Activity.RINGING)

    async def _queue_caller(self, ev: Message, what: str, wait: str | None = None) -> None:
        queue, uniqueid = ev.get("Queue", ""), ev.get("Uniqueid", "")
        await anyio.to_thread.run_sync(lambda: self.center.queue_caller(
            queue, uniqueid, what, caller_id=_caller(ev.get("CallerIDNum")),
            caller_name=_caller(ev.get("CallerIDName")),
            wait_s=_seconds(wait) if wait is not None else None))

    async def _ev_QueueCallerJoin(self, ev: Message) -> None:
        await self._queue_caller(ev, "joined")

    async def _ev_QueueCallerLeave(self, ev: Message) -> None:
        await self._queue_caller(ev, "left")

    async def _ev_QueueCallerAbandon(self, ev: Message) -> None:
        await self._queue_caller(ev, "abandoned", ev.get("HoldTime", "0"))

    async def _ev_AgentConnect(self, ev: Message) -> None:
        await self._queue_caller(ev, "answered", ev.get("HoldTime", "0"))
        agent_id = agent_id_of(ev.get("Interface", ""))
        if agent_id is None:
            return
        call = self._calls.setdefault(agent_id, _ActiveCall(queue=ev.get("Queue")))
        call.answered = True
        await self._activity(agent_id, Activity.TALKING)

    async def _ev_AgentComplete(self, ev: Message) -> None:
        agent_id = agent_id_of(ev.get("Interface", ""))
        if agent_id is not None:
            await self._activity(agent_id, Activity.IDLE, answered=True)
            self._calls.pop(agent_id, None)

    async def _ev_AgentRingNoAnswer(self, ev: Message) -> None:
        agent_id = agent_id_of(ev.get("Interface", ""))
        if agent_id is not None and not self._calls.get(agent_id, _ActiveCall()).answered:
            await self._activity(agent_id, Activity.IDLE)
            self._calls.pop(agent_id, None)

    async def _ev_AgentDump(self, ev: Message) -> None:
        await self._ev_AgentRingNoAnswer(ev)

    async def _ev_DeviceStateChange(self, ev: Message) -> None:
        device = ev.get("Device", "")
        if not device.startswith("PJSIP/"):
            return
        state = ev.get("State", "")
        activity = {"RINGING": Activity.RINGING, "RINGINUSE": Activity.TALKING,
                    "INUSE": Activity.TALKING, "BUSY": Activity.TALKING,
                    "ONHOLD": Activity.HOLD, "NOT_INUSE": Activity.IDLE,
                    "UNAVAILABLE": Activity.IDLE}.get(state)
        if activity is None:
            return
        number = device.removeprefix("PJSIP/")
        agent_id = await anyio.to_thread.run_sync(self.center.agent_on_device, number)
        if agent_id is None:
            return
        call = self._calls.get(agent_id)
        if activity is Activity.TALKING and call is not None:
            call.answered = True
        answered = call.answered if call is not None else activity is Activity.IDLE
        await self._activity(agent_id, activity, answered=answered)
        if activity is Activity.IDLE:
            self._calls.pop(agent_id, None)

    async def _ev_Cdr(self, ev: Message) -> None:
        await anyio.to_thread.run_sync(self.center.record_cdr, dict(ev))

    # ----------------------------------------------------------------- listen / whisper / barge

    def _run(self, coro: Any, timeout: float) -> Any:
        """Run a coroutine on the driver's loop from a request thread."""
        loop = self._loop
        if loop is None or loop.is_closed() or not self.ami.connected:
            coro.close()
            raise ProblemError("pbx_unavailable", retry_after=self.options.retry_after_s)
        future = asyncio.run_coroutine_threadsafe(coro, loop)
        try:
            return future.result(timeout)
        except (AmiUnavailable, concurrent.futures.TimeoutError):
            future.cancel()
            raise ProblemError("pbx_unavailable",
                               retry_after=self.options.retry_after_s) from None
        except AmiError as exc:
            raise ProblemError("pbx_unavailable", f"The phone system refused: {exc}",
                               retry_after=self.options.retry_after_s) from None

    def spy(self, *, agent_id: int, agent_device: str, admin_device: str, mode: str,
            label: str) -> str:
        result: str = self._run(self._spy(agent_id, agent_device, admin_device, mode, label),
                                self.ami.action_timeout_s * 2)
        return result

    def stop_spy(self, *, agent_id: int, admin_device: str) -> int:
        result: int = self._run(self._stop_spy(agent_id, admin_device),
                                self.ami.action_timeout_s * 2)
        return result

    async def _channels(self) -> list[Message]:
        try:
            return [ev for ev in await self.ami.action_list("CoreShowChannels")
                    if ev.get("Event") == "CoreShowChannel"]
        except AmiError:
            return []

    async def _spy(self, agent_id: int, agent_device: str, admin_device: str, mode: str,
                   label: str) -> str:
        prefix = f"PJSIP/{agent_device}-"
        candidates = [c for c in await self._channels()
                      if c.get("Channel", "").startswith(prefix)
                      and not c.get("Uniqueid", "").startswith(SPY_ID_PREFIX)
                      and c.get("ChannelStateDesc") == "Up"]
        # The agent's leg of the call: bridged with the caller.
        candidates.sort(key=lambda c: not c.get("BridgeId"))
        if not candidates:
            raise ProblemError("no_live_call", "The phone system has no call on the agent's "
                               "phone")
        target = candidates[0]["Channel"]
        call_id = spy_channel_id(agent_id, admin_device) + secrets.token_hex(4)
        await self.ami.action(
            "Originate", Channel=f"PJSIP/{_safe(admin_device)}", Context=SPY_CONTEXT,
            Exten=mode, Priority="1", Async="true", Timeout="30000", ChannelId=call_id,
            CallerID=f'"{mode.capitalize()} {_safe(label)}" <{_safe(label)}>',
            Variable=[f"CC_SPY_TARGET={target}",
                      # Phones answer by themselves (Snom, Yealink, Polycom, Grandstream, the
                      # desktop app): the admin does not pick up a ringing phone.
                      f"PJSIP_HEADER(add,Call-Info)=<sip:{_safe(agent_device)}>;answer-after=0"])
        log.info("spy %s on %s (agent id %s) from %s: %s", mode, target, agent_id, admin_device,
                 call_id)
        return call_id

    async def _stop_spy(self, agent_id: int, admin_device: str) -> int:
        prefix = spy_channel_id(agent_id, admin_device)
        ended = 0
        for c in await self._channels():
            if c.get("Uniqueid", "").startswith(prefix):
                try:
                    await self.ami.action("Hangup", Channel=c.get("Channel", ""))
                    ended += 1
                except AmiError as exc:
                    log.info("spy hangup %s: %s", c.get("Channel"), exc)
        return ended


def _caller(value: str | None) -> str:
    """Caller ID text from AMI; Asterisk writes `<unknown>` for none."""
    return "" if not value or value == "<unknown>" else value


def _seconds(value: str | None) -> float:
    try:
        return max(0.0, float(value or 0))
    except ValueError:
        return 0.0


def _write_files(folder: Path, files: dict[str, str]) -> list[str]:
    """Replace the files whose text changed (atomically); returns their names."""
    folder.mkdir(parents=True, exist_ok=True)
    changed = []
    for name, text in files.items():
        target = folder / name
        try:
            if target.read_text(encoding="utf-8") == text:
                continue
        except FileNotFoundError:
            pass
        tmp = folder / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(target)
        changed.append(name)
    return changed
