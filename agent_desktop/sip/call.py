"""One `CallSession` QObject per call, living on the GUI (SIP) thread.

Every call ends through `_terminate` only (called from the DISCONNECTED callback, or when
`makeCall` itself fails): it stops recording, detaches audio, hands the pjsua2 Call to the
engine for release on the next loop turn and emits `ended` once.
"""

from __future__ import annotations

import enum
import logging
import re
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pjsua2 as pj
from PySide6.QtCore import QObject, QTimer, Signal

from agent_desktop.sip._guard import SipError, describe, expecting_pjsip_error, guarded

if TYPE_CHECKING:
    from agent_desktop.sip.account import Account
    from agent_desktop.sip.engine import SipEngine

log = logging.getLogger("agent_desktop.sip.call")

# pjsip refuses a re-INVITE while another INVITE transaction of the dialog is in flight (ours,
# or one the PBX sent): PJ_EINVALIDOP. Hold and resume are then sent once it has completed.
PJ_EINVALIDOP = 70013
HOLD_RETRY_MS = 100
HOLD_RETRY_LIMIT = 50  # 5 s: far longer than a re-INVITE takes to be answered


class CallDirection(enum.Enum):
    INCOMING = "incoming"
    OUTGOING = "outgoing"


class CallState(enum.Enum):
    NEW = "new"
    CALLING = "calling"  # outgoing INVITE sent
    RINGING_IN = "ringing_in"  # incoming, offered to the agent
    EARLY = "early"  # outgoing, far end ringing (18x)
    CONNECTING = "connecting"
    CONFIRMED = "confirmed"
    DISCONNECTED = "disconnected"


_INV_STATES = {
    pj.PJSIP_INV_STATE_CALLING: CallState.CALLING,
    pj.PJSIP_INV_STATE_INCOMING: CallState.RINGING_IN,
    pj.PJSIP_INV_STATE_EARLY: CallState.EARLY,
    pj.PJSIP_INV_STATE_CONNECTING: CallState.CONNECTING,
    pj.PJSIP_INV_STATE_CONFIRMED: CallState.CONFIRMED,
}


@dataclass(frozen=True)
class CallerId:
    name: str
    number: str
    uri: str


@dataclass(frozen=True)
class CallQuality:
    jitter_ms: float
    loss_percent: float
    rtt_ms: float
    rx_packets: int
    lost_packets: int
    mos: float


# ------------------------------------------------------------------ parsing helpers

_NAME_ADDR = re.compile(r'^\s*(?:"(?P<q>[^"]*)"|(?P<t>[^<"]*?))\s*<(?P<uri>[^>]+)>')
_USER = re.compile(r"^(?:sips?|tel):(?P<user>[^@;>]+)")
_ANSWER_AFTER = re.compile(r"answer-after\s*=\s*(?P<s>\d+(?:\.\d+)?)", re.I)
_DELAY = re.compile(r";\s*delay\s*=\s*(?P<s>\d+(?:\.\d+)?)", re.I)


def parse_caller_id(remote_uri: str) -> CallerId:
    m = _NAME_ADDR.match(remote_uri)
    name, uri = "", remote_uri.strip()
    if m:
        name = (m.group("q") or m.group("t") or "").strip()
        uri = m.group("uri")
    u = _USER.match(uri)
    return CallerId(name=name, number=u.group("user") if u else "", uri=uri)


def parse_headers(message: str) -> dict[str, list[str]]:
    """Header fields of a SIP message (names lower-cased, folded lines joined)."""
    head = message.replace("\r\n", "\n").split("\n\n", 1)[0].split("\n")[1:]
    headers: dict[str, list[str]] = {}
    last: str | None = None
    for line in head:
        if line[:1] in (" ", "\t") and last is not None:
            headers[last][-1] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if not sep:
            continue
        last = name.strip().lower()
        headers.setdefault(last, []).append(value.strip())
    return headers


def auto_answer_delay(headers: dict[str, list[str]]) -> float | None:
    """Seconds after which the sender asks us to answer, from Call-Info / Alert-Info."""
    for value in headers.get("call-info", []) + headers.get("alert-info", []):
        m = _ANSWER_AFTER.search(value)
        if m:
            return float(m.group("s"))
        if "alert-autoanswer" in value.lower() or "auto answer" in value.lower():
            d = _DELAY.search(value)
            return float(d.group("s")) if d else 0.0
    return None


def estimate_mos(rtt_ms: float, jitter_ms: float, loss_percent: float) -> float:
    """E-model (ITU-T G.107, simplified) for G.711 with packet-loss concealment.

    One-way delay = RTT/2 + a jitter buffer of 2 x jitter + 20 ms packetisation (+10 ms
    codec/processing); Ie = 0, Bpl = 25.1 (G.113 for G.711 with PLC), random loss.
    """
    d = rtt_ms / 2 + 2 * jitter_ms + 30.0
    i_d = 0.024 * d + (0.11 * (d - 177.3) if d > 177.3 else 0.0)
    ppl = max(0.0, min(100.0, loss_percent))
    ie_eff = 95.0 * ppl / (ppl + 25.1)
    r = 93.2 - i_d - ie_eff
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    return round(1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6, 2)


# ------------------------------------------------------------------ pjsua2 side


LIVE_CALLS: weakref.WeakSet[Any] = weakref.WeakSet()  # every pjsua2 Call object still alive


def destroy_stray_calls() -> int:
    """Delete the native side of every pjsua2 Call object that is still referenced.

    For the engine's shutdown, after every call ended and before `libDestroy`: a Call whose
    destructor runs after `libDestroy` aborts the process (pjsua asserts in
    `pjsua_call_set_user_data`). What keeps one is a kept exception: its traceback holds the
    frames of the pjsua2 callback it was raised in. The Python objects stay, unusable.
    """
    stray = list(LIVE_CALLS)
    for obj in stray:
        if obj.thisown:
            pj.Call.__swig_destroy__(obj)  # disowns the proxy: it will not delete again
        LIVE_CALLS.discard(obj)
    return len(stray)


def _op(code: int = 0) -> Any:
    prm = pj.CallOpParam(True)
    if code:
        prm.statusCode = code
    return prm


class _PjCall(pj.Call):  # type: ignore[misc]
    """The pjsua2 Call. Refers to its session weakly: no cycles for the GC to break."""

    def __init__(self, session: CallSession, acc: Any, call_id: int) -> None:
        super().__init__(acc, call_id)
        self._session = weakref.ref(session)
        LIVE_CALLS.add(self)

    def _s(self) -> CallSession | None:
        return self._session()

    @guarded
    def onCallState(self, prm: Any) -> None:
        s = self._s()
        if s is not None:
            s._on_state()

    @guarded
    def onCallMediaState(self, prm: Any) -> None:
        s = self._s()
        if s is not None:
            s._on_media()

    @guarded
    def onDtmfDigit(self, prm: Any) -> None:
        s = self._s()
        if s is not None:
            method = "info" if prm.method == pj.PJSUA_DTMF_METHOD_SIP_INFO else "rfc4733"
            s.dtmf_received.emit(str(prm.digit), method)

    @guarded
    def onCallTransferStatus(self, prm: Any) -> None:
        s = self._s()
        if s is not None:
            prm.cont = True
            s._on_transfer_status(int(prm.statusCode), str(prm.reason), bool(prm.finalNotify))

    @guarded
    def onCallTransferRequest(self, prm: Any) -> None:
        """The far end REFERs us: accept, and keep the new Call referenced."""
        s = self._s()
        if s is None:
            prm.statusCode = 603
            return
        new = s._engine._transfer_target(s, str(prm.dstUri))
        if new is None:
            prm.statusCode = 603
            return
        prm.newCall = new._pj

    @guarded
    def onCallReplaced(self, prm: Any) -> None:
        s = self._s()
        if s is not None:
            new = s._engine._adopt_call(s.account, int(prm.newCallId), CallDirection.INCOMING)
            prm.newCall = new._pj


# ------------------------------------------------------------------ the session


class CallSession(QObject):
    """One call. Created by the engine (incoming) or `Account.make_call` (outgoing)."""

    state_changed = Signal(object)  # CallState
    media_active = Signal()
    hold_changed = Signal(bool)  # True once the hold re-INVITE completed
    mute_changed = Signal(bool)
    dtmf_received = Signal(str, str)  # digit, "rfc4733" | "info"
    transfer_status = Signal(int, str, bool)  # SIP code of the NOTIFY sipfrag, reason, final
    recording_changed = Signal(str)  # path, "" when stopped (file finalised)
    ended = Signal(int, str)  # last SIP code, reason

    def __init__(
        self,
        engine: SipEngine,
        account: Account,
        key: str,
        direction: CallDirection,
        pj_call_id: int = pj.PJSUA_INVALID_ID,
    ) -> None:
        super().__init__()  # no Qt parent: it lives as long as someone references it
        self._engine = engine
        self.account = account
        self.key = key
        self.direction = direction
        self.state = CallState.NEW
        self.code = 0
        self.reason = ""
        self.remote_uri = ""
        self.caller_id = CallerId("", "", "")
        self.headers: dict[str, list[str]] = {}
        self.auto_answer_after: float | None = None
        self.held = False  # as confirmed by the media (pjsua's LOCAL_HOLD), not as asked
        self.muted = False
        self._hold_wanted = False
        self._hold_sent = False  # what the last re-INVITE we sent asked for
        self._hold_retries = 0
        self._audio: Any = None
        self._audio_slot = -1
        self._med_idx = -1
        self._recorder: Any = None
        self.recording_path = ""
        self._after_hold: list[Any] = []  # callables run once the hold is confirmed
        assert account._pj is not None
        self._pj: _PjCall | None = _PjCall(self, account._pj, pj_call_id)

    def __repr__(self) -> str:
        return f"<CallSession {self.key} {self.direction.name} {self.state.name}>"

    @property
    def is_active(self) -> bool:
        return self.state not in (CallState.NEW, CallState.DISCONNECTED)

    # -- commands
    def _call(self) -> _PjCall:
        if self._pj is None or self.state is CallState.DISCONNECTED:
            raise SipError(f"call {self.key} has ended")
        return self._pj

    def _run(self, what: str, fn: Any, *args: Any) -> None:
        try:
            fn(*args)
            return
        except pj.Error as exc:
            message = f"{what} {self.key}: {describe(exc)}"
        # Raised outside the except block and without `fn`: a SipError someone keeps should
        # not keep the pjsua2 Call alive (see `destroy_stray_calls`).
        del fn, args
        raise SipError(message)

    def answer(self, code: int = 200) -> None:
        self._run("answer", self._call().answer, _op(code))

    def reject(self, code: int = 486) -> None:
        """Decline an incoming call: 486 Busy Here or 603 Decline."""
        self._run("reject", self._call().hangup, _op(code))

    def hangup(self) -> None:
        if self._pj is None or self.state is CallState.DISCONNECTED:
            return
        try:
            self._pj.hangup(_op())
        except pj.Error as exc:
            log.warning("hangup %s: %s", self.key, describe(exc))

    def hold(self) -> None:
        """Send the hold re-INVITE; `hold_changed(True)` follows once it has completed.

        Asked while a re-INVITE is in flight (a resume of ours, or one from the PBX), it is
        sent once that one has completed; asking twice sends it once."""
        self._call()
        self._hold_wanted = True
        self._hold_retries = 0
        self._send_hold_change()

    def resume(self) -> None:
        """Take the call off hold (`hold_changed(False)` once confirmed); as `hold`, it waits
        for a re-INVITE in flight, and a resume asked before the hold completed follows it."""
        self._call()
        self._hold_wanted = False
        self._hold_retries = 0
        self._send_hold_change()

    def _send_hold_change(self) -> None:
        """Send the re-INVITE that brings `held` to what was asked, unless it is on its way.

        Raises SipError when pjsua refuses it for any reason but a re-INVITE in flight, or
        when that one has not completed within HOLD_RETRY_LIMIT tries."""
        if self._pj is None or self.state is CallState.DISCONNECTED:
            return
        if self._hold_wanted == self.held:
            return  # nothing to change, or asked back before the last change completed:
            # `_on_media` sends the change back once that one has been confirmed
        prm = _op()
        if self._hold_wanted:
            what, send = "hold", self._pj.setHold
        else:
            what, send = "resume", self._pj.reinvite
            prm.opt.flag = pj.PJSUA_CALL_UNHOLD
        try:
            with expecting_pjsip_error("PJ_EINVALIDOP", "a re-INVITE is in flight"):
                send(prm)
        except pj.Error as exc:
            if exc.status != PJ_EINVALIDOP or self._hold_retries >= HOLD_RETRY_LIMIT:
                message = f"{what} {self.key}: {describe(exc)}"
            else:
                if self._hold_retries == 0:
                    log.info("%s: %s waits for the re-INVITE in flight", self.key, what)
                self._hold_retries += 1
                QTimer.singleShot(HOLD_RETRY_MS, self, self._retry_hold_change)
                return
        else:
            self._hold_sent = self._hold_wanted
            self._hold_retries = 0
            return
        del send  # see `_run`: no pjsua2 Call in a kept traceback
        raise SipError(message)

    def _retry_hold_change(self) -> None:
        try:
            self._send_hold_change()
        except SipError as exc:
            log.warning("%s", exc)

    def set_muted(self, muted: bool) -> None:
        """Stop (or restart) transmitting audio to the call."""
        self.muted = muted
        self._apply_mute()
        self.mute_changed.emit(muted)

    def _apply_mute(self) -> None:
        # pjsua2's names are from the conference bridge's side: adjustRxLevel scales what
        # the bridge transmits to this port, i.e. what goes out to the call (pjsua's
        # conf_adjust_tx_level). adjustTxLevel would silence the far end for the agent
        # instead (measured by audio: tests/sip/test_audio_bridge.py, mute scenario).
        if self._audio is not None:
            try:
                self._audio.adjustRxLevel(0.0 if self.muted else 1.0)
            except pj.Error as exc:
                log.warning("mute %s: %s", self.key, describe(exc))

    def send_dtmf(self, digits: str, method: str = "auto") -> str:
        """RFC 4733 (falls back to SIP INFO if the stream refuses); returns the method used."""
        call = self._call()
        if method in ("auto", "rfc4733"):
            prm = pj.CallSendDtmfParam()
            prm.digits = digits
            prm.method = pj.PJSUA_DTMF_METHOD_RFC2833
            try:
                call.sendDtmf(prm)
                return "rfc4733"
            except pj.Error as exc:
                if method == "rfc4733":
                    raise SipError(f"dtmf {self.key}: {describe(exc)}") from exc
                log.info("RFC 4733 DTMF refused (%s); using SIP INFO", describe(exc))
        prm = pj.CallSendDtmfParam()
        prm.digits = digits
        prm.method = pj.PJSUA_DTMF_METHOD_SIP_INFO
        self._run("dtmf", call.sendDtmf, prm)
        return "info"

    def transfer(self, target: str) -> None:
        """Blind transfer (REFER); progress arrives as `transfer_status`."""
        uri = self.account.settings.target_uri(target)
        self._run("transfer", self._call().xfer, uri, _op())

    def transfer_to_call(self, consult: CallSession) -> None:
        """Attended transfer: REFER with Replaces, sent once this call's hold is confirmed."""
        self._call()
        consult._call()

        def refer() -> None:
            if self._pj is None or consult._pj is None:
                log.warning("attended transfer %s: a leg ended first", self.key)
                return
            try:
                self._pj.xferReplaces(consult._pj, _op())
            except pj.Error as exc:
                log.warning("attended transfer %s: %s", self.key, describe(exc))
                self.transfer_status.emit(500, describe(exc), True)

        if self.held:
            refer()
        else:
            self._after_hold.append(refer)
            self.hold()

    def start_recording(self, path: str | Path) -> None:
        """Record the far end's audio to a WAV file (finalised by `stop_recording`)."""
        if self._audio is None:
            raise SipError(f"call {self.key} has no active audio")
        self.stop_recording()
        rec = pj.AudioMediaRecorder()
        self._run("recorder", rec.createRecorder, str(path))
        self._run("record", self._audio.startTransmit, rec)
        self._recorder = rec
        self.recording_path = str(path)
        self.recording_changed.emit(self.recording_path)

    def stop_recording(self) -> None:
        rec, self._recorder = self._recorder, None
        if rec is None:
            return
        if self._audio is not None:
            try:
                self._audio.stopTransmit(rec)
            except pj.Error as exc:
                log.debug("stop recording: %s", describe(exc))
        del rec  # deleting the recorder is what finalises the WAV file
        self.recording_path = ""
        self.recording_changed.emit("")

    def quality(self) -> CallQuality | None:
        """Jitter, loss, RTT and an E-model MOS from the audio stream's RTCP stats."""
        if self._pj is None or self._med_idx < 0:
            return None
        try:
            st = self._pj.getStreamStat(self._med_idx).rtcp
        except pj.Error:
            return None
        rx = st.rxStat
        received, lost = int(rx.pkt), int(rx.loss)
        loss = 100.0 * lost / (received + lost) if received + lost else 0.0
        jitter = float(rx.jitterUsec.mean) / 1000.0
        rtt = float(st.rttUsec.mean) / 1000.0 if st.rttUsec.n else 0.0
        return CallQuality(
            jitter_ms=round(jitter, 2),
            loss_percent=round(loss, 2),
            rtt_ms=round(rtt, 2),
            rx_packets=received,
            lost_packets=lost,
            mos=estimate_mos(rtt, jitter, loss),
        )

    # -- callbacks
    def _setup_incoming(self) -> None:
        assert self._pj is not None
        ci = self._pj.getInfo()
        self.remote_uri = str(ci.remoteUri)
        self.caller_id = parse_caller_id(self.remote_uri)
        self.auto_answer_after = auto_answer_delay(self.headers)
        self.state = CallState.RINGING_IN

    def _on_state(self) -> None:
        if self._pj is None:
            return
        ci = self._pj.getInfo()
        self.code, self.reason = int(ci.lastStatusCode), str(ci.lastReason)
        if not self.remote_uri:
            self.remote_uri = str(ci.remoteUri)
            self.caller_id = parse_caller_id(self.remote_uri)
        if ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self._terminate(self.code, self.reason)
            return
        state = _INV_STATES.get(ci.state, self.state)
        if self.direction is CallDirection.INCOMING and state is CallState.EARLY:
            state = CallState.RINGING_IN
        self._set_state(state)

    def _set_state(self, state: CallState) -> None:
        if state is not self.state:
            self.state = state
            log.info("%s: %s (%s %s)", self.key, state.name, self.code, self.reason)
            self.state_changed.emit(state)
            self._engine.call_state_changed.emit(self, state)

    def _on_media(self) -> None:
        if self._pj is None:
            return
        ci = self._pj.getInfo()
        for mi in ci.media:
            if mi.type != pj.PJMEDIA_TYPE_AUDIO:
                continue
            self._med_idx = int(mi.index)
            if mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                slot = int(mi.audioConfSlot)
                if slot != self._audio_slot or self._audio is None:
                    if self._audio is not None:
                        self._engine.media_hook.detach(self.key)
                    self._audio = self._pj.getAudioMedia(int(mi.index))
                    self._audio_slot = slot
                    self._apply_mute()
                    self._engine.media_hook.attach(self.key, self._audio)
                self._set_held(False)
                self.media_active.emit()
            elif mi.status == pj.PJSUA_CALL_MEDIA_LOCAL_HOLD or (
                mi.status == pj.PJSUA_CALL_MEDIA_NONE and self._hold_sent
            ):
                self._set_held(True)
            break
        if self._hold_wanted != self.held and self._hold_wanted != self._hold_sent:
            # Asked back while the last re-INVITE was in flight (hold, then resume at
            # once): send the change once this callback's transaction has completed. (Not
            # when what we sent was refused: that would repeat it forever.)
            self._hold_retries = 0
            QTimer.singleShot(0, self, self._retry_hold_change)

    def _set_held(self, held: bool) -> None:
        if held == self.held:
            return
        self.held = held
        self.hold_changed.emit(held)
        if held:
            pending, self._after_hold = self._after_hold, []
            for fn in pending:
                fn()

    def _on_transfer_status(self, code: int, reason: str, final: bool) -> None:
        log.info("%s transfer: %s %s%s", self.key, code, reason, " (final)" if final else "")
        self.transfer_status.emit(code, reason, final)
        if final and 200 <= code < 300:
            self.hangup()  # the far end is now connected elsewhere

    def _terminate(self, code: int, reason: str) -> None:
        """The single end of every call."""
        if self.state is CallState.DISCONNECTED:
            return
        self.code, self.reason = code, reason
        self._after_hold.clear()
        try:
            self.stop_recording()
        finally:
            if self._audio is not None:
                try:
                    self._engine.media_hook.detach(self.key)
                except Exception:
                    log.exception("media hook detach %s", self.key)
            self._audio = None
            pj_call, self._pj = self._pj, None
            self._engine._release_call(self, pj_call)
            self._set_state(CallState.DISCONNECTED)
            self.ended.emit(code, reason)
