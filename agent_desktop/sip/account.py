"""Registration of the agent's internal device: one `Account` QObject per SIP account.

Re-registration after a PBX restart, cheaply (measured against the sandbox Asterisk 22,
which keeps contacts in astdb across a restart and lists them even though nothing on our
side has noticed the restart):

* **TCP (the default)**: Asterisk's restart drops our TCP connection; pjsua sees the
  transport DISCONNECTED at once and schedules a re-REGISTER after `first_retry_interval_s`
  (1 s), then every `retry_interval_s` (1 s) while connect() is refused. Only during an
  outage, each attempt is a SYN answered by RST. Measured: registered again 0.8 s (4 runs)
  after Asterisk was up. This matters: the TCP contact Asterisk kept is the dead
  connection, so without a re-REGISTER no call reaches the agent.
* **UDP (fallback, e.g. a PBX without TCP)**: nothing drops, so the account probes the
  registrar with a one-datagram out-of-dialog OPTIONS every `keepalive_s` (5 s; any
  response, even Asterisk's 401, proves the PBX answers: no digest check, no astdb write).
  A probe unanswered after `probe_timeout_s` (or an ICMP port-unreachable) marks an
  outage: a fresh probe then goes out every second (no retransmissions), and the first
  answer after the outage triggers a re-REGISTER. Measured: registered again 0.2-0.8 s
  after Asterisk was up. An outage shorter than the probe interval can slip between two
  probes: harmless with Asterisk over UDP (the contact kept in astdb is still our
  address), caught by the next refresh otherwise.
* The registration itself is refreshed shortly before `expiry_s` (300 s).

Signalling cost per agent per minute (steady state; Asterisk's own qualify OPTIONS every
`qualify_frequency` not counted, it is the same for every design):

* before: a REGISTER every 3 s = 20 REGISTER/min (each an auth check + astdb write on the
  PBX) + 4 NAT keep-alives/min: 333 REGISTER/s for 1,000 agents.
* TCP: 1 REGISTER per 295 s = 0.2/min (+ its 401 challenge) and pjsip's CRLF keep-alive
  every 90 s = 0.7 packets/min that Asterisk never parses as SIP: ~3.3 REGISTER/s for
  1,000 agents.
* UDP: 12 OPTIONS/min (401 answered, ~400 bytes each way) + 0.2 REGISTER/min + pjsua's
  4 CRLF NAT keep-alives/min: 200 cheap OPTIONS/s and 3.3 REGISTER/s for 1,000 agents.
"""

from __future__ import annotations

import enum
import logging
import os  # os.urandom, not secrets: that loads hashlib and OpenSSL (~4 MB) at start
import time
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pjsua2 as pj
from PySide6.QtCore import QByteArray, QObject, QTimer, Signal
from PySide6.QtNetwork import QAbstractSocket, QUdpSocket

from agent_desktop.sip._guard import SipError, describe, guarded

if TYPE_CHECKING:
    from agent_desktop.sip.call import CallSession
    from agent_desktop.sip.engine import SipEngine

log = logging.getLogger("agent_desktop.sip.account")

_OUTAGE_PROBE_MS = 1000  # a fresh probe this often while the PBX does not answer
# pjsip's status when the TLS server certificate failed verification (PJSIP_TLS_ECERTVERIF,
# PJSIP_ERRNO_START_PJSIP + 173). pjsua reports such a REGISTER as 503 with the status's
# text as the reason, "SSL certificate verification error (PJSIP_TLS_ECERTVERIF)", and
# (measured with 2.15.1) status 0 both in the callback and in regLastErr: the reason's
# symbol is what identifies it.
TLS_CERTIFICATE_REJECTED = 171173
_TLS_CERTIFICATE_SYMBOL = "PJSIP_TLS_ECERTVERIF"


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
    transport: Transport = Transport.TCP  # UDP if the engine has no TCP transport
    display_name: str = ""
    auth_username: str = ""  # defaults to username
    expiry_s: int = 300
    refresh_interval_s: int = 0  # a REGISTER at least this often; 0 = 5 s before expiry
    first_retry_interval_s: int = 1  # after the TCP connection dropped
    retry_interval_s: int = 1  # while the PBX does not answer (only during an outage)
    # After the PBX's TLS certificate was rejected: not a network problem, a retry every
    # second would only cost the PBX a TLS handshake a second per agent (1,000 handshakes/s
    # for 1,000 misconfigured seats). A certificate fixed on the PBX is picked up this late.
    certificate_retry_s: int = 60
    keepalive_s: int = 5  # UDP: OPTIONS probe of the registrar this often; 0 = off
    probe_timeout_s: float = 1.0  # UDP: a probe unanswered this long marks an outage

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
        self.status = 0  # pjsip's error of the last REGISTER (regLastErr; 0 = none)
        self.last_registered_at: float | None = None
        self._pj: _PjAccount | None = _PjAccount(self)
        self._unregistering = False
        # Waits for the removal of the previous account of its device (SipEngine.add_account),
        # so the PBX sees one binding at a time (one allowed contact, no remove_existing).
        self._deferred = False
        # This account's own Contact (`;line=`, as desk phones mark their lines): an
        # un-REGISTER of a removed predecessor that reaches the PBX late (pjsip retransmits it
        # for up to 32 s after the account is gone) then names another binding than ours.
        # The price: a PBX that allows one contact and does not replace it (remove_existing=no)
        # refuses our REGISTER while a predecessor's unanswered binding stands, until it
        # expires; with remove_existing=yes (the sandbox's, and common) ours replaces it.
        self._line = os.urandom(4).hex()
        self._srtp = (0, 0)  # the engine's SRTP use and secure signalling, for modify()
        self._certificate_backoff = False  # retrying at certificate_retry_s, not retry_interval_s
        # UDP keep-alive probing (see the module docstring)
        self.pbx_reachable = True
        self._probe_sock: QUdpSocket | None = None
        self._probe_call_id = os.urandom(12).hex()
        self._probe_seq = 0
        self._answered_seq = 0
        self._probe_timer = QTimer(self)
        self._probe_timer.timeout.connect(self._probe)

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
        if s.refresh_interval_s > 0:
            reg.delayBeforeRefreshSec = max(1, s.expiry_s - s.refresh_interval_s)
        else:
            reg.delayBeforeRefreshSec = min(5, max(1, s.expiry_s // 10))
        if self._certificate_backoff:
            reg.retryIntervalSec = reg.firstRetryIntervalSec = s.certificate_retry_s
        else:
            reg.retryIntervalSec = s.retry_interval_s
            reg.firstRetryIntervalSec = s.first_retry_interval_s
        reg.randomRetryIntervalSec = 0
        reg.dropCallsOnFail = False
        reg.unregWaitMsec = 1000
        acfg.sipConfig.contactUriParams = f";line={self._line}"
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
        acfg.natConfig.udpKaIntervalSec = 15  # UDP NAT binding (TCP: pjsip's CRLF keep-alive)
        return acfg

    def _create(self, srtp_use: int, srtp_secure_signaling: int) -> None:
        assert self._pj is not None
        self._srtp = (srtp_use, srtp_secure_signaling)
        self._pj.create(self._config(srtp_use, srtp_secure_signaling), True)

    # -- public API
    @property
    def is_registered(self) -> bool:
        return self.state is RegistrationState.REGISTERED

    @property
    def tls_certificate_rejected(self) -> bool:
        """The last REGISTER failed because the PBX's TLS certificate did not verify (wrong or
        missing CA, expired, another name). Not a network problem: retrying will not help
        until the certificate or the CA changes. `SipEngine.tls_sessions` says what was wrong.
        """
        return self.status == TLS_CERTIFICATE_REJECTED

    @property
    def tls_problem(self) -> str:
        """When the certificate was rejected: what was wrong with it, in OpenSSL's words
        (e.g. "The certificate is untrusted"); "" otherwise."""
        if not self.tls_certificate_rejected:
            return ""
        for session in reversed(self._engine.tls_sessions.values()):
            if not session.verified and session.problems:
                return "; ".join(session.problems)
        return ""

    def register(self) -> None:
        """Send a REGISTER now (also used to re-register on demand)."""
        if self._pj is None:
            raise SipError("account is shut down")
        if self._deferred:
            log.info("register %s: after its previous account is removed", self.settings.username)
            return
        self._unregistering = False
        if self.state is not RegistrationState.REGISTERED:
            self._set_state(RegistrationState.REGISTERING, self.code, self.reason)
        try:
            self._pj.setRegistration(True)
        except pj.Error as exc:
            log.warning("register %s: %s", self.settings.username, describe(exc))
        if self._probing() and not self._probe_timer.isActive():
            self._probe_timer.start(self.settings.keepalive_s * 1000)

    def unregister(self) -> None:
        if self._pj is None:
            return
        if self._unregistering and self.state is RegistrationState.UNREGISTERING:
            return  # its answer is awaited (pjsua no longer calls the account active)
        self._unregistering = True
        self._stop_probing()
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

    # -- UDP keep-alive probing (GUI thread)
    # The probe is our own datagram from a QUdpSocket, not `pj.Account.sendRequest`: a
    # pjsua request still in flight when its account is deleted aborts the process
    # (`pjsua_acc_get_user_data: Assertion ... valid`) when it completes, and a request to a
    # dead PBX stays in flight for 32 s (Timer F). A datagram needs no cleanup.
    def _probing(self) -> bool:
        return self.settings.transport is Transport.UDP and self.settings.keepalive_s > 0

    def _probe(self) -> None:
        if self._pj is None or self._unregistering:
            self._probe_timer.stop()
            return
        sock = self._probe_sock
        if sock is None:
            host, _, port = self.settings.registrar.rpartition(":")
            if not host or not port.isdigit():
                host, port = self.settings.registrar, "5060"
            sock = QUdpSocket(self)
            sock.readyRead.connect(self._on_probe_datagram)
            sock.errorOccurred.connect(self._on_probe_error)
            sock.connectToHost(host, int(port))
            self._probe_sock = sock
        if sock.state() != QAbstractSocket.SocketState.ConnectedState:
            sock.waitForConnected(0)
        self._probe_seq += 1
        seq = self._probe_seq
        sock.write(QByteArray(self._options_request(sock, seq)))
        QTimer.singleShot(
            int(self.settings.probe_timeout_s * 1000), self, lambda: self._probe_overdue(seq)
        )

    def _options_request(self, sock: QUdpSocket, seq: int) -> bytes:
        s = self.settings
        local = f"{sock.localAddress().toString() or '127.0.0.1'}:{sock.localPort()}"
        tag = os.urandom(8).hex()
        return (
            f"OPTIONS {s.registrar_uri()} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {local};rport;branch=z9hG4bK{tag}{seq}\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:{s.username}@{s.registrar}>;tag={tag}\r\n"
            f"To: <sip:{s.username}@{s.registrar}>\r\n"
            f"Call-ID: {self._probe_call_id}\r\n"
            f"CSeq: {seq} OPTIONS\r\n"
            f"User-Agent: {self._engine.config.user_agent}\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()

    def _probe_overdue(self, seq: int) -> None:
        if self._answered_seq < seq and self._pj is not None and not self._unregistering:
            self._mark_unreachable()

    def _mark_unreachable(self) -> None:
        if self.pbx_reachable:
            log.info("%s: no answer from %s", self.settings.username, self.settings.registrar)
            self.pbx_reachable = False
            self._probe_timer.start(_OUTAGE_PROBE_MS)

    def _on_probe_error(self, error: Any) -> None:
        # ECONNREFUSED from an ICMP port-unreachable: the PBX host is up, Asterisk is not.
        log.debug("probe %s: %s", self.settings.registrar, error)
        if self._pj is not None and not self._unregistering:
            self._mark_unreachable()

    def _on_probe_datagram(self) -> None:
        sock = self._probe_sock
        answered = False
        while sock is not None and sock.hasPendingDatagrams():
            data = bytes(sock.receiveDatagram().data().data())
            answered = answered or data.startswith(b"SIP/2.0 ")
        if not answered or self._pj is None or self._unregistering:
            return
        self._answered_seq = self._probe_seq
        if not self.pbx_reachable:
            log.info(
                "%s: %s answers again: re-registering",
                self.settings.username,
                self.settings.registrar,
            )
            self.pbx_reachable = True
            self._probe_timer.start(self.settings.keepalive_s * 1000)
            self.register()

    def _stop_probing(self) -> None:
        self._probe_timer.stop()
        sock, self._probe_sock = self._probe_sock, None
        if sock is not None:
            sock.abort()
            sock.deleteLater()

    # -- callbacks (GUI thread)
    def _on_reg_started(self, renew: bool) -> None:
        if renew and self.state is not RegistrationState.REGISTERED:
            self._set_state(RegistrationState.REGISTERING, self.code, self.reason)
        elif not renew:
            self._set_state(RegistrationState.UNREGISTERING, self.code, self.reason)

    def _on_reg_state(self, code: int, reason: str, expiration: int) -> None:
        active = False
        self.status = 0
        if self._pj is not None:
            try:
                info = self._pj.getInfo()
                active, self.status = bool(info.regIsActive), int(info.regLastErr)
            except pj.Error:
                active = False
        if not self.status and code >= 300 and _TLS_CERTIFICATE_SYMBOL in reason:
            self.status = TLS_CERTIFICATE_REJECTED
        if 200 <= code < 300 and active and expiration > 0 and not self._unregistering:
            self.last_registered_at = time.time()
            self._set_state(RegistrationState.REGISTERED, code, reason)
            self.registered.emit(self.last_registered_at)
        elif self._unregistering or (200 <= code < 300 and not active):
            self._set_state(RegistrationState.UNREGISTERED, code, reason)
        else:
            self._set_state(RegistrationState.FAILED, code, reason)
        if self.tls_certificate_rejected != self._certificate_backoff and not self._unregistering:
            # On the next loop turn, outside pjsua's callback.
            QTimer.singleShot(0, self, self._apply_retry_interval)

    def _apply_retry_interval(self) -> None:
        """Retry slowly while the PBX's certificate is rejected, at the usual pace again once
        a REGISTER fails otherwise or gets through (pjsua keeps the retry it already
        scheduled)."""
        backoff = self.tls_certificate_rejected
        if self._pj is None or self._unregistering or backoff == self._certificate_backoff:
            return
        self._certificate_backoff = backoff
        s = self.settings
        interval = s.certificate_retry_s if backoff else s.retry_interval_s
        try:
            self._pj.modify(self._config(*self._srtp))
        except pj.Error as exc:
            log.warning("%s: retry interval %d s: %s", s.username, interval, describe(exc))
            return
        log.info(
            "%s: %s: retrying registration every %d s",
            s.username,
            "the PBX's TLS certificate was rejected" if backoff else "no certificate problem now",
            interval,
        )

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

    def _unregister_in_flight(self) -> bool:
        """An un-REGISTER was sent and its answer has not come. (pjsua drops `regIsActive` as
        soon as it sends one: deleting the account then made pjsua send another, refused
        with PJSIP_EBUSY, logged as an error at every shutdown.)"""
        return self._pj is not None and (
            self.state is RegistrationState.UNREGISTERING or self._reg_active()
        )

    def _register_in_flight(self) -> bool:
        """A REGISTER was sent and its final answer has not come. Unregistering now would
        leave the binding the PBX is about to make (pjsua cannot send an un-REGISTER while
        the REGISTER's transaction runs: PJSIP_EBUSY), and the PBX would route calls to a
        device that is gone until the binding expires; the engine waits for the answer."""
        return (
            self._pj is not None
            and self.state is RegistrationState.REGISTERING
            and not self._reg_active()
        )

    def _shutdown(self) -> None:
        self._stop_probing()
        if self._pj is not None:
            try:
                self._pj.shutdown()
            except pj.Error as exc:
                log.warning("account shutdown: %s", describe(exc))

    def _release(self) -> None:
        self._stop_probing()
        self._pj = None
