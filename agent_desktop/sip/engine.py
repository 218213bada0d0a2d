"""`SipEngine`: the pjsua2 Endpoint, owned by the Qt GUI thread.

Rules (see ../shared/design/pjsua2-qt.md): `threadCnt = 0`, `mainThreadOnly = True`, a
QTimer polls `libHandleEvents(0)` every 10 ms, so every SIP callback runs on the GUI thread.
Never call this object from another thread: send it a queued signal instead.

TLS: the Linux `pjsua2-python` wheel links OpenSSL 1.0.2k (end of life, no TLS 1.3). The
server certificate is verified by default (`EngineConfig.tls_verify_server`), chain and
name, against `tls_ca_file` or else the system's CA bundle (`system_ca_file()`: pjsip
itself would trust nothing). Measured against Asterisk 22 on loopback
(tests/sip/test_engine_tls.py, docs/asterisk.md): TLS 1.2, ECDHE-RSA-AES256-GCM-SHA384,
registered 50 ms after `add_account`; an untrusted certificate fails each REGISTER within
~30 ms as 503 "SSL certificate verification error (PJSIP_TLS_ECERTVERIF)"
(`Account.tls_certificate_rejected`, `tls_problem`), retried every `retry_interval_s`.
Every TLS connection is reported (`tls_sessions`, `tls_state_changed`).

SRTP (`EngineConfig.srtp`, SDES keys in the SDP; only secure over TLS, so with TLS the
account also requires TLS signalling for it): MANDATORY negotiated AES_CM_128_HMAC_SHA1_80
with Asterisk's `media_encryption = sdes`; against an endpoint without SRTP the call is
refused with 488 Not Acceptable Here.

`remove_account()` never waits on the GUI thread: the poll timer waits for the PBX's answers
(REGISTER in flight, then the un-REGISTER) and `account_removed` says when the account is
gone; the same device added again meanwhile registers after that.

Shutdown is staged, explicit and idempotent (`shutdown()`), never from `__del__`/`atexit`:
hang up all + bounded wait, unregister + bounded wait, `Account.shutdown()`, drop every
reference + `gc.collect()`, delete the native side of any Call something still holds (a kept
exception's frames: its destructor after libDestroy would abort), stop the poll timer,
`libDestroy(PJSUA_DESTROY_NO_NETWORK)`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import gc
import itertools
import logging
import os
import re
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import pjsua2 as pj
from PySide6.QtCore import QObject, QTimer, Signal, Slot

from agent_desktop.sip._guard import (
    SipError,
    describe,
    describe_status,
    expected_error_note,
    expecting_pjsip_error,
    guarded,
)
from agent_desktop.sip.account import Account, AccountSettings, Transport
from agent_desktop.sip.call import (
    CallDirection,
    CallSession,
    CallState,
    _op,
    destroy_stray_calls,
    parse_headers,
)

log = logging.getLogger("agent_desktop.sip")
pjlog = logging.getLogger("agent_desktop.sip.pjsip")


class MediaHook(Protocol):
    """Where a call's audio goes (the audio bridge implements this)."""

    def attach(self, call_key: str, audio_media: Any) -> None: ...

    def detach(self, call_key: str) -> None: ...


class NullAudio:
    """No audio device: the null device's (silent) capture port is sent to the call.

    Sending *something* matters: with no source at all, the far end never saw the end of the
    last RFC 4733 digit (measured with Asterisk 22: "#159" arrived as "#15").
    """

    def attach(self, call_key: str, audio_media: Any) -> None:
        try:
            pj.Endpoint.instance().audDevManager().getCaptureDevMedia().startTransmit(audio_media)
        except pj.Error as exc:
            log.warning("null audio attach %s: %s", call_key, describe(exc))

    def detach(self, call_key: str) -> None:
        pass


class Srtp(enum.Enum):
    DISABLED = pj.PJMEDIA_SRTP_DISABLED
    OPTIONAL = pj.PJMEDIA_SRTP_OPTIONAL
    MANDATORY = pj.PJMEDIA_SRTP_MANDATORY


_TLS_PROTOCOLS = (
    (pj.PJ_SSL_SOCK_PROTO_TLS1_3, "TLSv1.3"),
    (pj.PJ_SSL_SOCK_PROTO_TLS1_2, "TLSv1.2"),
    (pj.PJ_SSL_SOCK_PROTO_TLS1_1, "TLSv1.1"),
    (pj.PJ_SSL_SOCK_PROTO_TLS1, "TLSv1"),
    (pj.PJ_SSL_SOCK_PROTO_SSL3, "SSLv3"),
)


@dataclass(frozen=True)
class TlsSession:
    """One TLS connection of the SIP transport, as pjsip reported it (`SipEngine.tls_sessions`).

    `verified` is pjsip's own verification result of the server certificate (chain to the
    CA, validity, name); `problems` says what was wrong with it, in OpenSSL's words.
    """

    remote: str  # "127.0.0.1:5061"
    connected: bool
    protocol: str  # "TLSv1.2" ("" before the handshake completed)
    cipher: str  # "ECDHE-RSA-AES256-GCM-SHA384"
    verified: bool
    problems: tuple[str, ...] = ()
    server_subject: str = ""
    error: str = ""  # pjsip's reason the connection ended or failed, if it did


def _tls_protocol(mask: int) -> str:
    return next((name for bit, name in _TLS_PROTOCOLS if mask & bit), "")


class _PjEndpoint(pj.Endpoint):  # type: ignore[misc]
    """The Endpoint, for its transport callback (TLS handshake results)."""

    def __init__(self, engine: SipEngine) -> None:
        super().__init__()
        self._engine = weakref.ref(engine)

    @guarded
    def onTransportState(self, prm: Any) -> None:
        engine = self._engine()
        info = prm.tlsInfo
        if engine is None or info.isEmpty():
            return
        verified = int(info.verifyStatus) == pj.PJ_SSL_CERT_ESUCCESS
        engine._on_tls_state(
            TlsSession(
                remote=str(info.remoteAddr),
                connected=prm.state == pj.PJSIP_TP_STATE_CONNECTED,
                protocol=_tls_protocol(int(info.protocol)),
                cipher=str(info.cipherName),
                verified=verified,
                problems=() if verified else tuple(str(m) for m in info.verifyMsgs),
                server_subject=str(info.remoteCertInfo.subjectCn),
                error=describe_status(int(prm.lastError)) if prm.lastError else "",
            )
        )


_SYSTEM_CA_FILES = (
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu, Arch
    "/etc/pki/tls/certs/ca-bundle.crt",  # Fedora, RHEL
    "/etc/ssl/ca-bundle.pem",  # openSUSE
    "/etc/ssl/cert.pem",  # Alpine
)


def system_ca_file() -> str:
    """The CA bundle a TLS server is verified against when `EngineConfig.tls_ca_file` is "".

    pjsip loads no default CA locations by itself (measured with the Linux wheel: with no CA
    file every server fails verification, $SSL_CERT_FILE is not read, and its OpenSSL's
    compiled-in folder is RHEL's /etc/pki/tls), so the engine hands it one: $SSL_CERT_FILE,
    Python's OpenSSL default, the usual distribution bundles, else certifi's (Windows).
    """
    import ssl  # here: OpenSSL's libraries (~4 MB) only for a TLS transport

    paths = ssl.get_default_verify_paths()
    env = os.environ.get(paths.openssl_cafile_env or "SSL_CERT_FILE")
    for candidate in (env, paths.cafile, paths.openssl_cafile, *_SYSTEM_CA_FILES):
        if candidate and os.path.isfile(candidate):
            return candidate
    try:
        import certifi
    except ImportError:
        return ""
    return str(certifi.where())


@dataclass(eq=False)
class _Retirement:
    """An account on its way out (`SipEngine.remove_account`), advanced by the poll timer."""

    account: Account
    deadline: float  # for the current wait: the REGISTER's answer, then the un-REGISTER's
    unregistering: bool = False
    successors: list[Account] = dataclasses.field(default_factory=list)  # same device, waiting


class EngineState(enum.Enum):
    NEW = "new"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"


@dataclass(frozen=True)
class EngineConfig:
    transports: tuple[Transport, ...] = (Transport.UDP, Transport.TCP)
    bind_address: str = ""  # "" = all interfaces
    port: int = 0  # 0 = any free port (UDP and TCP get their own)
    tls_verify_server: bool = True
    tls_ca_file: str = ""
    srtp: Srtp = Srtp.DISABLED
    user_agent: str = "agent-desktop"
    log_level: int = 4  # pjsip 1..6 (5 logs whole SIP messages, credentials redacted)
    poll_interval_ms: int = 10
    max_lines: int = 2  # a further incoming call gets 486 Busy Here
    honour_auto_answer: bool = True
    prefer_g711: bool = True
    hangup_wait_s: float = 3.0
    unregister_wait_s: float = 2.0
    # For the answer to a REGISTER still in flight before unregistering (a removed account's
    # binding, or the shutdown, waits this long for a PBX that does not answer; a reachable
    # one answers in milliseconds, 3 ms measured here).
    register_answer_wait_s: float = 0.5


_SECRET = re.compile(r"^((?:Proxy-)?Authorization:).*$", re.I | re.M)
_LOG_LEVELS = {0: logging.CRITICAL, 1: logging.ERROR, 2: logging.WARNING, 3: logging.INFO}
_KEEP: list[Any] = []  # LogWriters live as long as the process (pjlib may log late)
# Deleting an account whose un-REGISTER went unanswered: pjsua_acc_del un-REGISTERs once more
# and pjsip refuses that (PJSIP_EBUSY, logged as an error) while the first is retransmitted.
def _expecting_busy() -> contextlib.AbstractContextManager[None]:
    return expecting_pjsip_error("PJSIP_EBUSY", "its un-REGISTER is still unanswered")


class _LogWriter(pj.LogWriter):  # type: ignore[misc]
    """PJSIP logs into Python logging (any thread; logging is thread-safe)."""

    @guarded
    def write(self, entry: Any) -> None:
        msg = _SECRET.sub(r"\1 <redacted>", str(entry.msg).rstrip())
        level = _LOG_LEVELS.get(int(entry.level), logging.DEBUG)
        why = expected_error_note(msg)
        if why is not None:
            level = logging.INFO
            msg += f" (expected: {why})"
        pjlog.log(level, "%s", msg)


class SipEngine(QObject):
    """The softphone engine. Create on the GUI thread, `start()`, `add_account()`."""

    started = Signal()
    registration_changed = Signal(object, object)  # Account, RegistrationState
    incoming_call = Signal(object)  # CallSession (RINGING_IN; 180 already sent)
    call_state_changed = Signal(object, object)  # CallSession, CallState
    network_changed = Signal()
    tls_state_changed = Signal(object)  # TlsSession: a TLS connection up, refused or down
    shutdown_finished = Signal(dict)  # the shutdown report
    account_removed = Signal(object)  # Account: unregistered (or given up on) and deleted

    def __init__(
        self,
        config: EngineConfig | None = None,
        media_hook: MediaHook | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.config = config or EngineConfig()
        self.media_hook: MediaHook = media_hook or NullAudio()
        self.state = EngineState.NEW
        self.accounts: list[Account] = []
        self._retiring: list[_Retirement] = []  # removed accounts on their way out
        self._calls: dict[str, CallSession] = {}  # strong refs until DISCONNECTED
        self._dying: list[Any] = []  # pjsua2 Calls ended this turn: released next turn
        self._keys = itertools.count(1)
        self._ep: Any = None
        self._timer = QTimer(self)
        self._timer.setInterval(self.config.poll_interval_ms)
        self._timer.timeout.connect(self._poll)
        self._in_poll = False
        self._advancing = False  # in _advance_retirements (its slots must not nest a pass)
        self._shutdown_deferred = False
        self.transport_ports: dict[Transport, int] = {}
        self.shutdown_report: dict[str, Any] = {}
        self._netinfo: Any = None
        self._dead_ep: Any = None
        self.tls_sessions: dict[str, TlsSession] = {}  # by remote address, the latest state
        self.tls_ca_file = ""  # the CA bundle the TLS transport verifies servers against

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self.state is not EngineState.NEW:
            raise SipError(f"engine is {self.state.value}")
        c = self.config
        ep = _PjEndpoint(self)
        ep.libCreate()
        self._ep = ep
        try:
            cfg = pj.EpConfig()
            cfg.uaConfig.threadCnt = 0
            cfg.uaConfig.mainThreadOnly = True
            cfg.uaConfig.userAgent = c.user_agent
            cfg.uaConfig.maxCalls = 32
            writer = _LogWriter()
            _KEEP.append(writer)
            cfg.logConfig.writer = writer
            cfg.logConfig.level = c.log_level
            cfg.logConfig.consoleLevel = c.log_level
            cfg.logConfig.decor = pj.PJ_LOG_HAS_SENDER | pj.PJ_LOG_HAS_INDENT
            cfg.medConfig.noVad = True
            cfg.medConfig.ecTailLen = 0  # the null device never runs pjsua's canceller
            ep.libInit(cfg)
            ep.audDevManager().setNullDev()
            if c.prefer_g711:
                for codec in ep.codecEnum2():
                    prio = {"PCMU/8000/1": 255, "PCMA/8000/1": 254}.get(codec.codecId)
                    if prio is not None:
                        ep.codecSetPriority(codec.codecId, prio)
            for transport in c.transports:
                self.transport_ports[transport] = self._create_transport(transport)
            ep.libStart()
        except pj.Error as exc:
            self._destroy_lib()
            self.state = EngineState.STOPPED
            raise SipError(f"SIP engine start: {describe(exc)}") from exc
        self.state = EngineState.RUNNING
        self._timer.start()
        log.info("SIP engine started: %s", {t.value: p for t, p in self.transport_ports.items()})
        self.started.emit()

    def _create_transport(self, transport: Transport) -> int:
        c = self.config
        tcfg = pj.TransportConfig()
        tcfg.port = c.port
        if c.bind_address:
            tcfg.boundAddress = c.bind_address
        kind = {
            Transport.UDP: pj.PJSIP_TRANSPORT_UDP,
            Transport.TCP: pj.PJSIP_TRANSPORT_TCP,
            Transport.TLS: pj.PJSIP_TRANSPORT_TLS,
        }[transport]
        if transport is Transport.TLS:
            tcfg.tlsConfig.verifyServer = c.tls_verify_server
            self.tls_ca_file = c.tls_ca_file or system_ca_file()
            if self.tls_ca_file:
                tcfg.tlsConfig.CaListFile = self.tls_ca_file
            log.info(
                "TLS: server certificates %s against %s",
                "verified" if c.tls_verify_server else "NOT verified",
                self.tls_ca_file or "nothing (no CA bundle found)",
            )
        tid = self._ep.transportCreate(kind, tcfg)
        name = str(self._ep.transportGetInfo(tid).localName)
        return int(name.rsplit(":", 1)[1])

    def add_account(self, settings: AccountSettings, *, register: bool = True) -> Account:
        if self.state is not EngineState.RUNNING:
            raise SipError(f"engine is {self.state.value}")
        if (
            settings.transport is Transport.TCP
            and Transport.TCP not in self.transport_ports
            and Transport.UDP in self.transport_ports
        ):
            log.info("no TCP transport: account %s falls back to UDP", settings.username)
            settings = dataclasses.replace(settings, transport=Transport.UDP)
        if settings.transport not in self.transport_ports:
            raise SipError(f"no {settings.transport.value} transport")
        acc = Account(self, settings)
        srtp = self.config.srtp
        secure = 1 if settings.transport is Transport.TLS and srtp is not Srtp.DISABLED else 0
        try:
            acc._create(srtp.value, secure)
        except pj.Error as exc:
            acc._release()
            raise SipError(f"account {settings.username}: {describe(exc)}") from exc
        self.accounts.append(acc)
        if register:
            previous = self._retiring_device(settings)
            if previous is None:
                acc.register()
            else:
                # One binding at a time: a PBX that allows one contact per device and does
                # not replace it (remove_existing=no) refuses ours while the old one stands.
                # (The two Contacts differ by their `line`, so the old un-REGISTER, however
                # late, cannot remove ours.)
                log.info("account %s registers once its previous one is removed",
                         settings.username)  # fmt: skip
                acc._deferred = True  # also when someone calls register() meanwhile
                previous.successors.append(acc)
        return acc

    def _retiring_device(self, settings: AccountSettings) -> _Retirement | None:
        for retiring in self._retiring:
            old = retiring.account.settings
            if (old.username, old.registrar) == (settings.username, settings.registrar):
                return retiring
        return None

    def remove_account(self, account: Account) -> None:
        """Unregister and shut an account down, without waiting on this (the GUI) thread.

        The account leaves `accounts` at once; the poll timer then waits for the answer to
        a REGISTER still in flight (at most `register_answer_wait_s`, see
        `Account._register_in_flight`), sends the un-REGISTER, waits for its answer (at most
        `unregister_wait_s`: pjsua would else send a second one, refused with PJSIP_EBUSY)
        and only then deletes the pjsua account; `account_removed` says when. A new account
        for the same device registers only after that (`add_account`). Called from a
        pjsua2 callback, the work starts at the next poll."""
        if account not in self.accounts or self.state is not EngineState.RUNNING:
            return  # a shutdown under way unregisters it itself
        self.accounts.remove(account)
        account._deferred = False
        for retiring in self._retiring:  # not registered yet: it never will be
            if account in retiring.successors:
                retiring.successors.remove(account)
        deadline = time.monotonic() + self.config.register_answer_wait_s
        self._retiring.append(_Retirement(account, deadline))
        log.info("removing account %s", account.settings.username)
        if not self._in_poll and not self._advancing:
            self._advance_retirements()

    def _advance_retirements(self) -> None:
        # Its signals' slots may call back (remove_account, shutdown): they wait for the
        # next poll instead of running a nested pass.
        self._advancing = True
        try:
            self._advance_retirements_once()
        finally:
            self._advancing = False

    def _advance_retirements_once(self) -> None:
        now = time.monotonic()
        for retiring in list(self._retiring):
            account = retiring.account
            if not retiring.unregistering:
                if account._register_in_flight() and now < retiring.deadline:
                    continue
                account.unregister()
                retiring.unregistering = True
                retiring.deadline = now + self.config.unregister_wait_s
            if account._unregister_in_flight() and now < retiring.deadline:
                continue
            self._retiring.remove(retiring)
            answered = not account._unregister_in_flight()
            with contextlib.nullcontext() if answered else _expecting_busy():
                account._shutdown()
            account._release()
            log.info(
                "account %s removed%s", account.settings.username,
                "" if answered else " (the PBX did not answer its un-REGISTER)",
            )  # fmt: skip
            for successor in retiring.successors:
                if successor in self.accounts:
                    successor._deferred = False
                    try:
                        successor.register()
                    except SipError as exc:
                        log.warning("account %s: %s", successor.settings.username, exc)
            self.account_removed.emit(account)

    @property
    def calls(self) -> list[CallSession]:
        return list(self._calls.values())

    def make_call(
        self, account: Account, target: str, headers: dict[str, str] | None = None
    ) -> CallSession:
        if self.state is not EngineState.RUNNING:
            raise SipError(f"engine is {self.state.value}")
        uri = account.settings.target_uri(target)
        session = self._new_session(account, CallDirection.OUTGOING)
        session.remote_uri = uri
        prm = _op()
        for name, value in (headers or {}).items():
            hdr = pj.SipHeader()
            hdr.hName, hdr.hValue = name, value
            prm.txOption.headers.append(hdr)
        assert session._pj is not None
        try:
            session._pj.makeCall(uri, prm)
        except pj.Error as exc:
            session._terminate(500, describe(exc))
            raise SipError(f"call {uri}: {describe(exc)}") from exc
        session._set_state(CallState.CALLING)
        return session

    # ------------------------------------------------------------------ conveniences
    def consult(self, original: CallSession, target: str) -> CallSession:
        """Attended transfer, step 1: hold the customer, call the consultation target."""
        original.hold()
        return self.make_call(original.account, target)

    def cancel_consult(self, original: CallSession, consult: CallSession) -> None:
        consult.hangup()
        original.resume()

    def swap(self, active: CallSession, held: CallSession) -> None:
        """Put `active` on hold and, once that is confirmed, resume `held`."""

        def resume_other() -> None:
            try:
                held.resume()
            except SipError as exc:
                log.warning("swap: %s", exc)

        if active.held:
            resume_other()
        else:
            active._after_hold.append(resume_other)
            active.hold()

    # ------------------------------------------------------------------ network
    def watch_network(self) -> bool:
        """Call `handle_network_change` whenever QNetworkInformation reports the network
        back online. False if no backend is available (then call it yourself, e.g. on
        resume from sleep)."""
        from PySide6.QtNetwork import QNetworkInformation

        if not QNetworkInformation.loadDefaultBackend():
            log.info("no QNetworkInformation backend: network changes are not watched")
            return False
        info = QNetworkInformation.instance()
        if info is None:
            return False
        self._netinfo = info
        info.reachabilityChanged.connect(self._on_reachability)
        return True

    @Slot(object)
    def _on_reachability(self, reachability: Any) -> None:
        from PySide6.QtNetwork import QNetworkInformation

        if reachability == QNetworkInformation.Reachability.Online:
            QTimer.singleShot(0, self.handle_network_change)

    @Slot()
    def handle_network_change(self) -> None:
        """The network came back (or changed): recreate transports and re-register."""
        if self.state is not EngineState.RUNNING:
            return
        if self._in_poll:
            QTimer.singleShot(0, self.handle_network_change)
            return
        try:
            self._ep.handleIpChange(pj.IpChangeParam())
        except pj.Error as exc:
            log.warning("handleIpChange: %s", describe(exc))
            for acc in self.accounts:
                acc.register()
        self.network_changed.emit()

    def _on_tls_state(self, session: TlsSession) -> None:
        self.tls_sessions.pop(session.remote, None)  # the latest state goes last
        self.tls_sessions[session.remote] = session
        if session.connected:
            log.info(
                "TLS to %s: %s %s, server certificate %s%s",
                session.remote,
                session.protocol,
                session.cipher,
                session.server_subject or "?",
                "" if session.verified else " (NOT verified)",
            )
        elif not session.verified and session.problems:
            log.warning(
                "TLS to %s refused: the server certificate is not trusted: %s",
                session.remote,
                "; ".join(session.problems),
            )
        self.tls_state_changed.emit(session)

    # ------------------------------------------------------------------ polling
    @Slot()
    def _poll(self) -> None:
        self._dying.clear()  # Calls that ended during the previous turn
        self._in_poll = True
        try:
            self._ep.libHandleEvents(0)
        except Exception as exc:
            log.error("libHandleEvents: %s", describe(exc))
        finally:
            self._in_poll = False
        if self._retiring:
            self._advance_retirements()

    def _spin(self, done: Callable[[], bool], seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while not done():
            if time.monotonic() > deadline:
                return False
            self._dying.clear()
            self._in_poll = True
            try:
                self._ep.libHandleEvents(10)
            finally:
                self._in_poll = False
        return True

    def live_call_objects(self) -> int:
        """pjsua2 Call objects alive in this process (0 when every call was released)."""
        from agent_desktop.sip.call import LIVE_CALLS

        return len(LIVE_CALLS)

    # ------------------------------------------------------------------ calls (internal)
    def _new_session(
        self, account: Account, direction: CallDirection, pj_id: int = pj.PJSUA_INVALID_ID
    ) -> CallSession:
        key = f"call-{next(self._keys)}"
        session = CallSession(self, account, key, direction, pj_id)
        self._calls[key] = session
        return session

    def _on_incoming(self, account: Account, call_id: int, message: str) -> None:
        session = self._new_session(account, CallDirection.INCOMING, call_id)
        session.headers = parse_headers(message)
        session._setup_incoming()
        busy = sum(1 for c in self._calls.values() if c.is_active) > self.config.max_lines
        removed = account not in self.accounts  # being removed: not this seat's phone any more
        if self.state is not EngineState.RUNNING or busy or removed:
            code = 486 if busy else 480 if removed else 503
            log.info("incoming %s refused with %s", session.caller_id.number, code)
            session.reject(code)
            return
        session.answer(180)
        log.info(
            "incoming %s from %s <%s>",
            session.key,
            session.caller_id.name,
            session.caller_id.number,
        )
        self.incoming_call.emit(session)
        self.call_state_changed.emit(session, session.state)
        after = session.auto_answer_after
        if after is not None and self.config.honour_auto_answer:
            QTimer.singleShot(int(after * 1000), session, lambda: self._auto_answer(session))

    def _auto_answer(self, session: CallSession) -> None:
        if session.state is CallState.RINGING_IN:
            try:
                session.answer()
            except SipError as exc:
                log.warning("auto-answer: %s", exc)

    def _adopt_call(self, account: Account, pj_id: int, direction: CallDirection) -> CallSession:
        return self._new_session(account, direction, pj_id)

    def _transfer_target(self, transferee: CallSession, dst_uri: str) -> CallSession | None:
        if self.state is not EngineState.RUNNING:
            return None
        session = self._new_session(transferee.account, CallDirection.OUTGOING)
        session.remote_uri = dst_uri
        return session

    def _release_call(self, session: CallSession, pj_call: Any) -> None:
        self._calls.pop(session.key, None)
        if pj_call is not None:
            self._dying.append(pj_call)  # released at the start of the next loop turn

    # ------------------------------------------------------------------ shutdown
    @Slot()
    def shutdown(self) -> dict[str, Any]:
        """Staged shutdown on the owning thread. Idempotent; safe in any state.

        Called from inside a pjsua2 callback (e.g. a slot of `call_state_changed`), it is
        deferred to the next event-loop turn and returns {"deferred": True}.
        """
        if self.state is EngineState.NEW:
            self.state = EngineState.STOPPED
            self.shutdown_report = {"started": False}
            self.shutdown_finished.emit(self.shutdown_report)
            return self.shutdown_report
        if self.state is not EngineState.RUNNING:
            return self.shutdown_report
        if self._in_poll or self._advancing:
            if not self._shutdown_deferred:
                self._shutdown_deferred = True
                QTimer.singleShot(0, self, self.shutdown)
            return {"deferred": True}
        self.state = EngineState.STOPPING
        report: dict[str, Any] = {}
        t0 = time.monotonic()
        # 1. no new calls; hang up everything; bounded wait for DISCONNECTED
        if self._calls:
            try:
                self._ep.hangupAllCalls()
            except pj.Error as exc:
                log.warning("hangupAllCalls: %s", describe(exc))
        report["calls_ended"] = self._spin(lambda: not self._calls, self.config.hangup_wait_s)
        report["hangup_s"] = round(time.monotonic() - t0, 3)
        # 2. unregister (bounded wait), then Account.shutdown(); accounts being removed too
        t1 = time.monotonic()
        self.accounts.extend(r.account for r in self._retiring)
        self._retiring.clear()
        # A REGISTER still in flight is answered first (see Account._register_in_flight).
        report["registers_answered"] = self._spin(
            lambda: not any(a._register_in_flight() for a in self.accounts),
            self.config.register_answer_wait_s,
        )
        for acc in self.accounts:
            acc.unregister()
        report["unregistered"] = self._spin(
            lambda: not any(a._unregister_in_flight() for a in self.accounts),
            self.config.unregister_wait_s,
        )
        with contextlib.nullcontext() if report["unregistered"] else _expecting_busy():
            for acc in self.accounts:
                acc._shutdown()
        report["unregister_s"] = round(time.monotonic() - t1, 3)
        # 3. drop every Call/Account/recorder reference, collect
        t2 = time.monotonic()
        self._drop_all()
        gc.collect()
        end = time.monotonic() + 0.1  # port removal from the bridge is asynchronous
        while time.monotonic() < end:
            self._ep.libHandleEvents(10)
        self._dying.clear()
        gc.collect()
        stray = destroy_stray_calls()
        if stray:
            log.warning("%d pjsua2 Call object(s) still referenced at shutdown: deleted", stray)
        report["stray_calls"] = stray
        report["release_s"] = round(time.monotonic() - t2, 3)
        # 4. stop polling
        self._timer.stop()
        # 5. destroy without waiting for the network
        t3 = time.monotonic()
        self._destroy_lib()
        report["destroy_s"] = round(time.monotonic() - t3, 3)
        report["total_s"] = round(time.monotonic() - t0, 3)
        self.state = EngineState.STOPPED
        self.shutdown_report = report
        log.info("SIP engine shut down: %s", report)
        self.shutdown_finished.emit(report)
        return report

    def _drop_all(self) -> None:
        for session in list(self._calls.values()):
            session._terminate(0, "engine shutdown")
        self._calls.clear()
        for acc in (*self.accounts, *(r.account for r in self._retiring)):
            acc._release()
        self._retiring.clear()

    def _destroy_lib(self) -> None:
        ep, self._ep = self._ep, None
        if ep is None:
            return
        try:
            ep.libDestroy(pj.PJSUA_DESTROY_NO_NETWORK)
        except pj.Error as exc:
            log.warning("libDestroy: %s", describe(exc))
        self._dead_ep = ep  # the Endpoint object outlives libDestroy (its destructor knows)
