"""Registration of the agent's internal device: one `Account` QObject per SIP account.

Re-registration after a PBX restart (measured against the sandbox Asterisk 22):
* Asterisk refuses expiries under its `minimum_expiration` (60 s) with 423, so a short
  expiry alone gives a refresh every ~55 s: far too slow.
* Asterisk keeps contacts in astdb, so after a restart it still *lists* the contact; nothing
  on our side notices the restart unless we talk to it.
* So the account refreshes its registration every `refresh_interval_s` (default 3 s) by
  asking for a 60 s expiry and setting `delayBeforeRefreshSec = expiry - refresh_interval`;
  a REGISTER that fails while the PBX is down is retried after `first_retry_interval_s`
  then `retry_interval_s`, without pjsua's random extra delay (`randomRetryIntervalSec=0`).
  A REGISTER still in flight when the PBX comes back is answered at its next UDP
  retransmission (≤ 4 s, T2).
"""

from __future__ import annotations

import enum
import logging
import time
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pjsua2 as pj
from PySide6.QtCore import QObject, Signal

from agent_desktop.sip._guard import SipError, describe, guarded

if TYPE_CHECKING:
    from agent_desktop.sip.call import CallSession
    from agent_desktop.sip.engine import SipEngine

log = logging.getLogger("agent_desktop.sip.account")


class Transport(enum.Enum):
    UDP = "udp"
    TCP = "tcp"
    TLS = "tls"


class RegistrationState(enum.Enum):
    UNREGISTERED = "unregistered"
    REGISTERING = "registering"
    REGISTERED = "registered"
    FAILED = "failed"
    UNREGISTERING = "unregistering"


@dataclass(frozen=True)
class AccountSettings:
    """The device credentials the call-center server hands out."""

    username: str
    password: str = field(repr=False)  # never logged
    registrar: str = ""  # "host:port"
    transport: Transport = Transport.UDP
    display_name: str = ""
    auth_username: str = ""  # defaults to username
    expiry_s: int = 60  # Asterisk's minimum_expiration
    refresh_interval_s: int = 3  # a REGISTER at least this often (PBX restart detection)
    first_retry_interval_s: int = 1
    retry_interval_s: int = 2

    def registrar_uri(self) -> str:
        return self._uri(self.registrar)

    def target_uri(self, target: str) -> str:
        """An extension ("8002") or user@host or a full URI, as a SIP URI for this account."""
        if target.startswith(("sip:", "sips:", "tel:", "<", '"')):
            return target
        if "@" not in target:
            target = f"{target}@{self.registrar}"
        return self._uri(target)

    def _uri(self, hostpart: str) -> str:
        if self.transport is Transport.UDP:
            return f"sip:{hostpart}"
        return f"sip:{hostpart};transport={self.transport.value}"


class _PjAccount(pj.Account):  # type: ignore[misc]
    """The pjsua2 side. Holds its QObject weakly (no reference cycles through SWIG)."""

    def __init__(self, owner: Account) -> None:
        super().__init__()
        self._owner = weakref.ref(owner)

    @guarded
    def onRegStarted(self, prm: Any) -> None:
        owner = self._owner()
        if owner is not None:
            owner._on_reg_started(bool(prm.renew))

    @guarded
    def onRegState(self, prm: Any) -> None:
        owner = self._owner()
        if owner is not None:
            owner._on_reg_state(int(prm.code), str(prm.reason), int(prm.expiration))

    @guarded
    def onIncomingCall(self, prm: Any) -> None:
        owner = self._owner()
        if owner is None:
            return
        owner._engine._on_incoming(owner, int(prm.callId), str(prm.rdata.wholeMsg))


class Account(QObject):
    """One registered device. Create with `SipEngine.add_account`."""

    registration_changed = Signal(object, int, str)  # RegistrationState, SIP code, reason
    registered = Signal(float)  # every 2xx to a REGISTER (time.time()), refreshes included

    def __init__(self, engine: SipEngine, settings: AccountSettings) -> None:
        super().__init__(engine)
        self._engine = engine
        self.settings = settings
        self.state = RegistrationState.UNREGISTERED
        self.code = 0
        self.reason = ""
        self.last_registered_at: float | None = None
        self._pj: _PjAccount | None = _PjAccount(self)
        self._unregistering = False

    def __repr__(self) -> str:
        return f"<Account {self.settings.username}@{self.settings.registrar} {self.state.name}>"

    # -- setup
    def _config(self, srtp_use: int, srtp_secure_signaling: int) -> Any:
        s = self.settings
        acfg = pj.AccountConfig()
        host = s.registrar
        uri = f"sip:{s.username}@{host}"
        acfg.idUri = f'"{s.display_name}" <{uri}>' if s.display_name else uri
        reg = acfg.regConfig
        reg.registrarUri = s.registrar_uri()
        reg.registerOnAdd = False
        reg.timeoutSec = s.expiry_s
        reg.delayBeforeRefreshSec = max(1, s.expiry_s - s.refresh_interval_s)
        reg.retryIntervalSec = s.retry_interval_s
        reg.firstRetryIntervalSec = s.first_retry_interval_s
        reg.randomRetryIntervalSec = 0
        reg.dropCallsOnFail = False
        reg.unregWaitMsec = 1000
        acfg.sipConfig.authCreds.append(
            pj.AuthCredInfo("digest", "*", s.auth_username or s.username, 0, s.password)
        )
        if s.transport is not Transport.UDP:
            # Route everything over the registrar's transport (TCP/TLS loses the NAT issues).
            acfg.sipConfig.proxies.append(s.registrar_uri() + ";lr")
        acfg.mediaConfig.srtpUse = srtp_use
        acfg.mediaConfig.srtpSecureSignaling = srtp_secure_signaling
        bound = self._engine.config.bind_address
        if bound:
            acfg.mediaConfig.transportConfig.boundAddress = bound
        acfg.natConfig.udpKaIntervalSec = 15
        return acfg

    def _create(self, srtp_use: int, srtp_secure_signaling: int) -> None:
        assert self._pj is not None
        self._pj.create(self._config(srtp_use, srtp_secure_signaling), True)

    # -- public API
    @property
    def is_registered(self) -> bool:
        return self.state is RegistrationState.REGISTERED

    def register(self) -> None:
        """Send a REGISTER now (also used to re-register on demand)."""
        if self._pj is None:
            raise SipError("account is shut down")
        self._unregistering = False
        if self.state is not RegistrationState.REGISTERED:
            self._set_state(RegistrationState.REGISTERING, self.code, self.reason)
        try:
            self._pj.setRegistration(True)
        except pj.Error as exc:
            log.warning("register %s: %s", self.settings.username, describe(exc))

    def unregister(self) -> None:
        if self._pj is None:
            return
        self._unregistering = True
        active = self._reg_active()
        if not active:
            self._set_state(RegistrationState.UNREGISTERED, self.code, self.reason)
            return
        self._set_state(RegistrationState.UNREGISTERING, self.code, self.reason)
        try:
            self._pj.setRegistration(False)
        except pj.Error as exc:
            log.warning("unregister %s: %s", self.settings.username, describe(exc))
            self._set_state(RegistrationState.UNREGISTERED, self.code, self.reason)

    def make_call(self, target: str, headers: dict[str, str] | None = None) -> CallSession:
        return self._engine.make_call(self, target, headers)

    # -- callbacks (GUI thread)
    def _on_reg_started(self, renew: bool) -> None:
        if renew and self.state is not RegistrationState.REGISTERED:
            self._set_state(RegistrationState.REGISTERING, self.code, self.reason)
        elif not renew:
            self._set_state(RegistrationState.UNREGISTERING, self.code, self.reason)

    def _on_reg_state(self, code: int, reason: str, expiration: int) -> None:
        active = False
        if self._pj is not None:
            try:
                active = bool(self._pj.getInfo().regIsActive)
            except pj.Error:
                active = False
        if 200 <= code < 300 and active and expiration > 0 and not self._unregistering:
            self.last_registered_at = time.time()
            self._set_state(RegistrationState.REGISTERED, code, reason)
            self.registered.emit(self.last_registered_at)
        elif self._unregistering or (200 <= code < 300 and not active):
            self._set_state(RegistrationState.UNREGISTERED, code, reason)
        else:
            self._set_state(RegistrationState.FAILED, code, reason)

    def _set_state(self, state: RegistrationState, code: int, reason: str) -> None:
        changed = (state, code, reason) != (self.state, self.code, self.reason)
        self.state, self.code, self.reason = state, code, reason
        if changed:
            log.info("%s: %s (%s %s)", self.settings.username, state.name, code, reason)
            self.registration_changed.emit(state, code, reason)
            self._engine.registration_changed.emit(self, state)

    # -- staged shutdown (engine only)
    def _reg_active(self) -> bool:
        if self._pj is None:
            return False
        try:
            return bool(self._pj.getInfo().regIsActive)
        except pj.Error:
            return False

    def _shutdown(self) -> None:
        if self._pj is not None:
            try:
                self._pj.shutdown()
            except pj.Error as exc:
                log.warning("account shutdown: %s", describe(exc))

    def _release(self) -> None:
        self._pj = None
