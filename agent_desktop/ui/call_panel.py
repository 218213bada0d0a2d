"""The call panel: the current call and, during a warm transfer, the consultation call.

It drives the `CallSession`s it is given directly (the SIP engine lives on this thread):
answer / hang up / hold / mute / record, blind transfer, and warm transfer — consult (the
caller is put on hold and the target is called), then complete (REFER with Replaces, sent once
the hold is confirmed), cancel (the target is hung up, the caller resumed) or swap (talk to
the other one). Call quality (MOS, jitter, loss, RTT) is read every two seconds while talking.

Collaborators set by the composition root: `place_call(number)` makes a call for the consult
(None: warm transfer unavailable), `recordings_dir` where recordings go (None: no recording).
`ask_transfer_target()` asks the agent for a number; tests replace it.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMenu,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
)

from agent_desktop.session.messages import tr
from agent_desktop.sip import CallSession, CallState, SipError
from agent_desktop.ui.ink import ink

log = logging.getLogger("agent_desktop.ui.call")

QUALITY_INTERVAL_MS = 2000
GOOD_MOS, FAIR_MOS = 4.0, 3.6  # ITU-T G.107 user satisfaction bands: satisfied / some dissatisfied


def state_words(call: CallSession) -> str:
    words = {CallState.NEW: tr("starting"), CallState.CALLING: tr("calling…"),
             CallState.RINGING_IN: tr("ringing"), CallState.EARLY: tr("ringing at the far end"),
             CallState.CONNECTING: tr("connecting…"), CallState.CONFIRMED: tr("talking"),
             CallState.DISCONNECTED: tr("ended")}
    text = words.get(call.state, call.state.value)
    if call.held:
        text = tr("on hold")
    if call.muted:
        text += tr(" · muted")
    return text


def who(call: CallSession) -> str:
    cid = call.caller_id
    if cid.name and cid.number:
        return f"{cid.name} <{cid.number}>"
    return cid.name or cid.number or call.remote_uri or tr("unknown caller")


def recording_name(call: CallSession, now: float | None = None) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    number = re.sub(r"[^0-9A-Za-z+]+", "_", call.caller_id.number or "unknown")[:32]
    return f"{stamp}-{number}.wav"


class CallPanel(QGroupBox):
    """Signals: error(exception) for the status line."""

    error = Signal(object)

    def __init__(self) -> None:
        super().__init__(tr("Call"))
        self.call: CallSession | None = None
        self.consult: CallSession | None = None
        self.place_call: Callable[[str], CallSession | None] | None = None
        self.recordings_dir: Path | None = None
        self.ask_transfer_target: Callable[[str], str | None] = self._ask_transfer_target
        self._talk_started: float | None = None
        self._note = ""
        self._dtmf_sent = ""

        self.caller_label = QLabel(tr("No call"))
        self.caller_label.setAccessibleName(tr("Caller"))
        self.caller_label.setStyleSheet("font-size: 13pt; font-weight: 600;")
        self.caller_label.setTextFormat(Qt.TextFormat.PlainText)
        self.state_label = QLabel("")
        self.state_label.setAccessibleName(tr("Call state"))
        self.timer_label = QLabel("")
        self.timer_label.setAccessibleName(tr("Call time"))
        self.timer_label.setStyleSheet("font-size: 13pt; font-family: monospace;")
        self.consult_label = QLabel("")
        self.consult_label.setAccessibleName(tr("Consultation call"))
        self.consult_label.setStyleSheet("font-weight: 600;")
        self.quality_label = QLabel("")
        self.quality_label.setAccessibleName(tr("Call quality"))

        self.answer_button = QPushButton(tr("Answer"))
        self.hangup_button = QPushButton(tr("Hang up"))
        self.hold_button = QPushButton(tr("Hold"))
        self.mute_button = QPushButton(tr("Mute"))
        self.record_button = QPushButton(tr("Record"))
        self.transfer_button = QToolButton()
        self.transfer_button.setText(tr("Transfer"))
        self.transfer_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.transfer_menu = QMenu(self)
        self.blind_action = QAction(tr("Blind transfer…"), self)
        self.blind_action.setToolTip(tr("The caller is sent to another number; this call ends"))
        self.consult_action = QAction(tr("Consult first (warm transfer)…"), self)
        self.consult_action.setToolTip(tr("The caller waits on hold while you talk to the "
                                          "other number; then complete or cancel"))
        self.transfer_menu.addAction(self.blind_action)
        self.transfer_menu.addAction(self.consult_action)
        self.transfer_button.setMenu(self.transfer_menu)
        self.complete_button = QPushButton(tr("Complete transfer"))
        self.swap_button = QPushButton(tr("Swap"))
        self.cancel_consult_button = QPushButton(tr("Cancel consult"))
        self._buttons = (self.answer_button, self.hangup_button, self.hold_button,
                         self.mute_button, self.record_button)
        self._consult_buttons = (self.complete_button, self.swap_button,
                                 self.cancel_consult_button)
        for b in (*self._buttons, *self._consult_buttons):
            b.setAccessibleName(b.text())
        self.transfer_button.setAccessibleName(tr("Transfer"))
        for b in (self.hold_button, self.mute_button, self.record_button):
            b.setCheckable(True)

        self.answer_button.clicked.connect(lambda: self._do(lambda c: c.answer()))
        self.hangup_button.clicked.connect(self.hangup)
        self.hold_button.clicked.connect(self.toggle_hold)
        self.mute_button.clicked.connect(
            lambda: self._on_active(lambda c: c.set_muted(not c.muted)))
        self.record_button.clicked.connect(self.toggle_recording)
        self.blind_action.triggered.connect(self.transfer)
        self.consult_action.triggered.connect(self.start_consult)
        self.complete_button.clicked.connect(self.complete_transfer)
        self.swap_button.clicked.connect(self.swap)
        self.cancel_consult_button.clicked.connect(self.cancel_consult)

        self._tick = QTimer(self)
        self._tick.setInterval(1000)
        self._tick.timeout.connect(self._show_time)
        self._quality_timer = QTimer(self)
        self._quality_timer.setInterval(QUALITY_INTERVAL_MS)
        self._quality_timer.timeout.connect(self.show_quality)

        top = QHBoxLayout()
        top.addWidget(self.caller_label, 1)
        top.addWidget(self.timer_label)
        row1 = QHBoxLayout()
        for b in self._buttons:
            row1.addWidget(b)
        row1.addWidget(self.transfer_button)
        row2 = QHBoxLayout()
        row2.addWidget(self.consult_label, 1)
        for b in self._consult_buttons:
            row2.addWidget(b)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.state_label)
        lay.addLayout(row1)
        lay.addLayout(row2)
        lay.addWidget(self.quality_label)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self._refresh()

    # ----------------------------------------------------------------- calls

    def _watch(self, call: CallSession, on: bool) -> None:
        for sig in (call.state_changed, call.hold_changed, call.mute_changed, call.ended,
                    call.recording_changed):
            if on:
                sig.connect(self._refresh)
            else:
                with contextlib.suppress(RuntimeError, TypeError):
                    sig.disconnect(self._refresh)
        if on:
            call.transfer_status.connect(self._on_transfer)
        else:
            with contextlib.suppress(RuntimeError, TypeError):
                call.transfer_status.disconnect(self._on_transfer)

    def set_call(self, call: CallSession | None) -> None:
        if call is self.call:
            self._refresh()
            return
        if self.call is not None:
            self._watch(self.call, False)
        self.call = call
        self._talk_started = None
        self._note = ""
        self._dtmf_sent = ""
        self.quality_label.setText("")
        if call is not None:
            self._watch(call, True)
        self._refresh()

    def _set_consult(self, call: CallSession | None) -> None:
        if self.consult is not None:
            self._watch(self.consult, False)
        self.consult = call
        if call is not None:
            self._watch(call, True)
        self._refresh()

    @property
    def talking(self) -> bool:
        return self.call is not None and self.call.state is CallState.CONFIRMED

    @property
    def active(self) -> CallSession | None:
        """The call the agent is talking to: during a consult, the one not on hold."""
        if self.consult is not None and self.consult.state is not CallState.DISCONNECTED:
            if self.call is not None and self.call.held and not self.consult.held:
                return self.consult
            if self.call is None or self.call.state is CallState.DISCONNECTED:
                return self.consult
        return self.call

    def _do(self, action: Callable[[CallSession], Any],
            call: CallSession | None = None) -> bool:
        target = call or self.call
        if target is None:
            return False
        try:
            action(target)
        except SipError as exc:
            log.warning("call action failed: %s", exc)
            self.error.emit(exc)
            return False
        finally:
            self._refresh()
        return True

    def _on_active(self, action: Callable[[CallSession], Any]) -> None:
        self._do(action, self.active)

    def hangup(self) -> None:
        self._on_active(lambda c: c.hangup())

    def toggle_hold(self) -> None:
        self._on_active(lambda c: c.resume() if c.held else c.hold())

    def send_dtmf(self, digits: str) -> bool:
        """Send DTMF to the call being talked to; False when there is none."""
        active = self.active
        if active is None or active.state is not CallState.CONFIRMED:
            return False
        self._dtmf_sent = (self._dtmf_sent + digits)[-16:]
        self._do(lambda c: c.send_dtmf(digits), active)
        return True

    # ----------------------------------------------------------------- recording

    def toggle_recording(self) -> None:
        call = self.call
        if call is None or self.recordings_dir is None:
            return
        if call.recording_path:
            self._do(lambda c: c.stop_recording())
            return
        try:
            self.recordings_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self.error.emit(SipError(tr("cannot create {path}: {why}").format(
                path=self.recordings_dir, why=exc.strerror or exc)))
            self._refresh()
            return
        path = self.recordings_dir / recording_name(call)
        self._do(lambda c: c.start_recording(path))

    # ----------------------------------------------------------------- transfer

    def _ask_transfer_target(self, title: str) -> str | None:
        text, ok = QInputDialog.getText(self, title, tr("Number:"))
        return str(text) if ok else None

    def transfer(self) -> None:
        """Blind transfer: ask for the number, then REFER the call there."""
        if not self.talking or self.consult is not None:
            return
        target = (self.ask_transfer_target(tr("Blind transfer")) or "").strip()
        if not target or not self.talking:
            return
        self._note = tr("transferring to {n}…").format(n=target)
        self._do(lambda c: c.transfer(target))

    def start_consult(self) -> None:
        """Warm transfer, step 1: the caller waits on hold; the target is called."""
        if not self.talking or self.consult is not None or self.place_call is None:
            return
        target = (self.ask_transfer_target(tr("Consult before transferring")) or "").strip()
        if not target or not self.talking:
            return
        if not self._do(lambda c: c.hold()):
            return
        try:
            consult = self.place_call(target)
        except SipError as exc:
            self.error.emit(exc)
            consult = None
        if consult is None:
            self._do(lambda c: c.resume())
            return
        self._note = ""
        self._set_consult(consult)

    def complete_transfer(self) -> None:
        """Warm transfer, step 2: connect the caller to the consulted party and leave."""
        consult, call = self.consult, self.call
        if consult is None or call is None or consult.state is not CallState.CONFIRMED:
            return
        self._note = tr("completing the transfer…")
        self._do(lambda c: c.transfer_to_call(consult))

    def cancel_consult(self) -> None:
        consult = self.consult
        if consult is None:
            return
        consult.hangup()
        self._do(lambda c: c.resume())
        self._set_consult(None)

    def swap(self) -> None:
        consult, call = self.consult, self.call
        if consult is None or call is None:
            return
        if call.held:
            self._do(lambda c: c.hold(), consult)
            self._do(lambda c: c.resume(), call)
        else:
            self._do(lambda c: c.hold(), call)
            self._do(lambda c: c.resume(), consult)

    def _on_transfer(self, code: int, reason: str, final: bool) -> None:
        if final and 200 <= code < 300:
            self._note = tr("transferred")
        elif final:
            self._note = tr("transfer failed: {code} {reason}").format(code=code, reason=reason)
        else:
            self._note = tr("transfer: {code} {reason}").format(code=code, reason=reason)
        self._refresh()

    # ----------------------------------------------------------------- display

    def _show_time(self) -> None:
        if self._talk_started is None:
            self.timer_label.setText("")
            return
        s = int(time.monotonic() - self._talk_started)
        h, rest = divmod(s, 3600)
        m, s = divmod(rest, 60)
        self.timer_label.setText(f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}")

    def show_quality(self) -> None:
        active = self.active
        q = active.quality() if active is not None else None
        if q is None:
            self.quality_label.setText("")
            return
        if q.mos >= GOOD_MOS:
            word, colour = tr("good"), ink("ok")
        elif q.mos >= FAIR_MOS:
            word, colour = tr("fair"), ink("warn")
        else:
            word, colour = tr("poor"), ink("error")
        self.quality_label.setStyleSheet(f"color: {colour};")
        self.quality_label.setText(
            tr("Quality {word}: MOS {mos:.1f} · jitter {jitter:.0f} ms · loss {loss:.1f}% · "
               "RTT {rtt:.0f} ms").format(word=word, mos=q.mos, jitter=q.jitter_ms,
                                           loss=q.loss_percent, rtt=q.rtt_ms))

    @Slot()
    def _refresh(self, *_: object) -> None:
        consult = self.consult
        if consult is not None and consult.state is CallState.DISCONNECTED:
            self._watch(consult, False)
            self.consult = consult = None
            if self.call is not None and self.call.state is not CallState.DISCONNECTED:
                self._note = self._note or tr("consultation ended; the caller is on hold")
        c = self.call
        if c is not None and c.state is CallState.DISCONNECTED and consult is not None:
            # The caller left during the consult: the consulted call is the call now.
            self._watch(consult, False)
            self.consult = None
            self.set_call(consult)
            return
        talking = c is not None and c.state is CallState.CONFIRMED
        if not talking:
            self._tick.stop()
            self._quality_timer.stop()
        if c is None:
            self.caller_label.setText(tr("No call"))
            self.state_label.setText(tr("Calls to your queues ring here."))
            self.timer_label.setText("")
            self.consult_label.setText("")
            self.quality_label.setText("")
            for b in (*self._buttons, *self._consult_buttons):
                b.setEnabled(False)
            for b in self._consult_buttons:
                b.hide()
            self.transfer_button.setEnabled(False)
            return
        if talking:
            if self._talk_started is None:
                self._talk_started = time.monotonic()
            if not self._tick.isActive():
                self._tick.start()
            if not self._quality_timer.isActive():
                self._quality_timer.start()
        self._show_time()
        self.caller_label.setText(who(c))
        text = state_words(c)
        if c.recording_path:
            text += " · " + tr("● recording")
        if self._dtmf_sent and talking:
            text += " · " + tr("keys sent: {keys}").format(keys=self._dtmf_sent)
        if self._note:
            text += " · " + self._note
        self.state_label.setText(text)

        live = c.state is not CallState.DISCONNECTED
        active = self.active
        active_talking = active is not None and active.state is CallState.CONFIRMED
        self.answer_button.setEnabled(c.state is CallState.RINGING_IN)
        self.hangup_button.setEnabled(live or consult is not None)
        self.hold_button.setEnabled(active_talking)
        self.mute_button.setEnabled(active_talking)
        self.record_button.setEnabled(talking and self.recordings_dir is not None)
        self.record_button.setToolTip("" if self.recordings_dir is not None
                                      else tr("Recording is not set up on this computer"))
        self.transfer_button.setEnabled(talking and consult is None)
        self.consult_action.setEnabled(self.place_call is not None)
        held = active.held if active is not None else False
        self.hold_button.setChecked(held)
        self.hold_button.setText(tr("Resume") if held else tr("Hold"))
        muted = active.muted if active is not None else False
        self.mute_button.setChecked(muted)
        self.mute_button.setText(tr("Unmute") if muted else tr("Mute"))
        recording = bool(c.recording_path)
        self.record_button.setChecked(recording)
        self.record_button.setText(tr("Stop recording") if recording else tr("Record"))

        for b in self._consult_buttons:
            b.setVisible(consult is not None)
        if consult is None:
            self.consult_label.setText("")
            return
        self.consult_label.setStyleSheet(f"color: {ink('info')}; font-weight: 600;")
        self.consult_label.setText(tr("Consulting {who}: {state}").format(
            who=who(consult), state=state_words(consult)))
        self.complete_button.setEnabled(consult.state is CallState.CONFIRMED and talking)
        self.swap_button.setEnabled(consult.state is CallState.CONFIRMED and talking)
        self.cancel_consult_button.setEnabled(True)
