"""Settings: audio devices (with a microphone level meter, a speaker test tone and a ringer
test), auto-answer, screen pop, language and theme.

The dialog edits a copy of `AppSettings` and emits `applied(AppSettings)` on Apply/OK; the
composition root applies and saves it. `audio` is the audio bridge (or None without SIP): the
dialog lists its devices, switches its level meter on while open, and plays its test sounds.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from agent_desktop.screenpop import FIELDS, PopWhen, ScreenPopSettings
from agent_desktop.session.messages import tr
from agent_desktop.settings import LANGUAGES, MAX_AUTO_ANSWER_S, AppSettings, AudioChoice, Theme
from agent_desktop.ui.ink import ink

log = logging.getLogger("agent_desktop.ui.settings")

KINDS = ("microphone", "speaker", "ringer")
METER_FLOOR_DB = -60


def pin_device(audio: Any, kind: str, device_id: str | None) -> None:
    """Pin a device ("" or None: follow the default), only if that changes anything: a
    re-pin re-opens the streams, which a call in progress would hear."""
    wanted = device_id or None
    if audio.pinned.get(kind, None) != wanted:
        audio.set_device(kind, wanted)


class SettingsDialog(QDialog):
    applied = Signal(object)  # AppSettings
    diagnostics_requested = Signal()

    def __init__(self, settings: AppSettings, audio: Any = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(tr("Settings"))
        self.setObjectName("SettingsDialog")
        self._audio = audio
        self._settings = settings
        self.tabs = QTabWidget()
        self.tabs.addTab(self._audio_tab(), tr("Audio"))
        self.tabs.addTab(self._calls_tab(), tr("Calls"))
        self.tabs.addTab(self._looks_tab(), tr("General"))
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Apply
            | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        apply_button = self.buttons.button(QDialogButtonBox.StandardButton.Apply)
        apply_button.clicked.connect(self.apply)
        self._locked: dict[QWidget, str] = {}  # widget → tooltip (provisioned by IT)
        self.diagnostics_button = QPushButton(tr("Collect diagnostics"))
        self.diagnostics_button.setAccessibleName(tr("Collect diagnostics"))
        self.diagnostics_button.setToolTip(tr("Save logs, SIP trace, audio devices and network "
                                              "state (no passwords) in a zip for support"))
        self.diagnostics_button.clicked.connect(self.diagnostics_requested.emit)
        self.diagnostics_label = QLabel()
        self.diagnostics_label.setWordWrap(True)
        self.diagnostics_label.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse)
        support = QHBoxLayout()
        support.addWidget(self.diagnostics_button)
        support.addWidget(self.diagnostics_label, 1)
        lay = QVBoxLayout(self)
        lay.addWidget(self.tabs)
        lay.addLayout(support)
        lay.addWidget(self.buttons)
        self.setMinimumWidth(520)
        self.load(settings)
        if audio is not None:
            audio.devices_changed.connect(self._fill_devices)
            audio.level_changed.connect(self.show_level)
            audio.set_meter_enabled(True)

    # ----------------------------------------------------------------- tabs

    def _audio_tab(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.device_boxes: dict[str, QComboBox] = {}
        labels = {"microphone": tr("&Microphone:"), "speaker": tr("&Speaker:"),
                  "ringer": tr("&Ringer:")}
        for kind in KINDS:
            box = QComboBox()
            box.setAccessibleName(labels[kind].replace("&", "").rstrip(":"))
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            self.device_boxes[kind] = box
        self.level_meter = QProgressBar()
        self.level_meter.setRange(METER_FLOOR_DB, 0)
        self.level_meter.setValue(METER_FLOOR_DB)
        self.level_meter.setTextVisible(False)
        self.level_meter.setMaximumHeight(10)
        self.level_meter.setAccessibleName(tr("Microphone level"))
        self.level_meter.setAccessibleDescription(tr("Speak: the bar moves when the "
                                                     "microphone hears you"))
        self.test_tone_button = QPushButton(tr("Play test tone"))
        self.test_tone_button.setAccessibleName(tr("Play test tone"))
        self.test_tone_button.clicked.connect(self.play_test_tone)
        self.test_ringer_button = QPushButton(tr("Test ringer"))
        self.test_ringer_button.setAccessibleName(tr("Test ringer"))
        self.test_ringer_button.setCheckable(True)
        self.test_ringer_button.toggled.connect(self.test_ringer)
        self.audio_note = QLabel()
        self.audio_note.setWordWrap(True)
        self.audio_note.setStyleSheet(f"color: {ink('muted')};")

        mic = QVBoxLayout()
        mic.addWidget(self.device_boxes["microphone"])
        mic.addWidget(self.level_meter)
        spk = QHBoxLayout()
        spk.addWidget(self.device_boxes["speaker"], 1)
        spk.addWidget(self.test_tone_button)
        ring = QHBoxLayout()
        ring.addWidget(self.device_boxes["ringer"], 1)
        ring.addWidget(self.test_ringer_button)
        for kind, row in (("microphone", mic), ("speaker", spk), ("ringer", ring)):
            label = QLabel(labels[kind])
            label.setBuddy(self.device_boxes[kind])
            form.addRow(label, row)
        self.aec_box = QCheckBox(tr("Cancel the echo of the speaker (not needed with a "
                                    "headset)"))
        self.aec_box.setAccessibleName(tr("Echo cancellation"))
        form.addRow(self.aec_box)
        form.addRow(self.audio_note)
        return page

    def _calls_tab(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.auto_answer_box = QCheckBox(tr("Answer calls automatically"))
        self.auto_answer_box.setAccessibleName(tr("Auto-answer"))
        self.auto_answer_delay = QSpinBox()
        self.auto_answer_delay.setRange(0, MAX_AUTO_ANSWER_S)
        self.auto_answer_delay.setSuffix(tr(" s"))
        self.auto_answer_delay.setAccessibleName(tr("Auto-answer delay in seconds"))
        self.auto_answer_box.toggled.connect(self.auto_answer_delay.setEnabled)
        self.auto_answer_box.toggled.connect(lambda _on: self._apply_locks())
        delay_row = QHBoxLayout()
        delay_row.addWidget(QLabel(tr("after")))
        delay_row.addWidget(self.auto_answer_delay)
        delay_row.addStretch(1)
        form.addRow(self.auto_answer_box, delay_row)
        self.pop_when = QComboBox()
        self.pop_when.setAccessibleName(tr("Open the screen pop"))
        for when, text in ((PopWhen.OFF, tr("Never")), (PopWhen.RING, tr("When a call rings")),
                           (PopWhen.ANSWER, tr("When I answer"))):
            self.pop_when.addItem(text, when.value)
        self.pop_template = QLineEdit()
        self.pop_template.setAccessibleName(tr("Screen-pop address"))
        self.pop_template.setPlaceholderText("https://crm.example/search?phone={caller_id}")
        pop_help = QLabel(tr("Placeholders: {names}").format(
            names=", ".join("{" + f + "}" for f in FIELDS)))
        pop_help.setStyleSheet(f"color: {ink('muted')};")
        pop_help.setWordWrap(True)
        form.addRow(tr("Screen &pop:"), self.pop_when)
        form.addRow(tr("&Address:"), self.pop_template)
        form.addRow(pop_help)
        return page

    def _looks_tab(self) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.language_box = QComboBox()
        self.language_box.setAccessibleName(tr("Language"))
        for code, name in LANGUAGES.items():
            self.language_box.addItem(tr(name) if code == "system" else name, code)
        self.theme_box = QComboBox()
        self.theme_box.setAccessibleName(tr("Theme"))
        for theme, text in ((Theme.SYSTEM, tr("Follow the system")), (Theme.LIGHT, tr("Light")),
                            (Theme.DARK, tr("Dark"))):
            self.theme_box.addItem(text, theme.value)
        form.addRow(tr("&Language:"), self.language_box)
        form.addRow(tr("&Theme:"), self.theme_box)
        self.start_at_login_box = QCheckBox(tr("Start when I log in to this computer"))
        self.start_at_login_box.setAccessibleName(tr("Start at login"))
        self.start_minimized_box = QCheckBox(tr("Start in the tray"))
        self.start_minimized_box.setAccessibleName(tr("Start minimized"))
        form.addRow(tr("Start:"), self.start_at_login_box)
        form.addRow("", self.start_minimized_box)
        note = QLabel(tr("A new language shows after the app is restarted."))
        note.setStyleSheet(f"color: {ink('muted')};")
        form.addRow(note)
        return page

    # ----------------------------------------------------------------- values

    @Slot()
    def _fill_devices(self) -> None:
        chosen = {kind: self.device_boxes[kind].currentData() for kind in KINDS}
        if not any(v is not None for v in chosen.values()):
            chosen = dict(zip(KINDS, (self._settings.audio.microphone,
                                      self._settings.audio.speaker,
                                      self._settings.audio.ringer), strict=True))
        for kind in KINDS:
            box = self.device_boxes[kind]
            box.blockSignals(True)
            box.clear()
            box.addItem(tr("System default"), "")
            devices = self._audio.devices(kind) if self._audio is not None else []
            for dev in devices:
                box.addItem(dev["description"], dev["id"])
            wanted = chosen[kind] or ""
            index = box.findData(wanted)
            if index < 0:  # pinned but not plugged in: keep the choice, say so
                box.addItem(tr("{id} (not connected)").format(id=wanted), wanted)
                index = box.count() - 1
            box.setCurrentIndex(index)
            box.blockSignals(False)
        if self._audio is None:
            self.audio_note.setText(tr("Audio is not available: the SIP engine did not start."))
        else:
            self.audio_note.setText("")
        for w in (self.test_tone_button, self.test_ringer_button,
                  *self.device_boxes.values()):
            w.setEnabled(self._audio is not None)
        self._apply_locks()

    def load(self, s: AppSettings) -> None:
        self._settings = s
        self._fill_devices()
        self.auto_answer_box.setChecked(s.auto_answer)
        self.auto_answer_delay.setValue(s.auto_answer_delay_s)
        self.auto_answer_delay.setEnabled(s.auto_answer)
        self.pop_when.setCurrentIndex(max(0, self.pop_when.findData(s.screen_pop.when.value)))
        self.pop_template.setText(s.screen_pop.template)
        self.language_box.setCurrentIndex(max(0, self.language_box.findData(s.language)))
        self.theme_box.setCurrentIndex(max(0, self.theme_box.findData(s.theme.value)))
        self.start_at_login_box.setChecked(s.start_at_login)
        self.aec_box.setChecked(s.echo_cancellation)
        self.start_minimized_box.setChecked(s.start_minimized)
        self._apply_locks()

    def value(self) -> AppSettings:
        audio = AudioChoice(*(str(self.device_boxes[k].currentData() or "") for k in KINDS))
        return replace(
            self._settings,
            audio=audio,
            auto_answer=self.auto_answer_box.isChecked(),
            auto_answer_delay_s=self.auto_answer_delay.value(),
            screen_pop=ScreenPopSettings(self.pop_template.text().strip(),
                                         PopWhen(self.pop_when.currentData())),
            language=str(self.language_box.currentData()),
            theme=Theme(self.theme_box.currentData()),
            start_at_login=self.start_at_login_box.isChecked(),
            start_minimized=self.start_minimized_box.isChecked(),
            echo_cancellation=self.aec_box.isChecked(),
        )

    # ----------------------------------------------------------------- locks (IT)

    def lockable(self) -> dict[str, QWidget]:
        """Setting name (as in provisioning) → its control."""
        return {"audio.microphone": self.device_boxes["microphone"],
                "audio.speaker": self.device_boxes["speaker"],
                "audio.ringer": self.device_boxes["ringer"],
                "audio.echo_cancellation": self.aec_box,
                "auto_answer": self.auto_answer_box,
                "auto_answer_delay_s": self.auto_answer_delay,
                "screen_pop.when": self.pop_when, "screen_pop.template": self.pop_template,
                "language": self.language_box, "theme": self.theme_box,
                "start_at_login": self.start_at_login_box,
                "start_minimized": self.start_minimized_box}

    def lock(self, names: Iterable[str], tooltip: str) -> None:
        """Disable the controls of these settings (set by IT), with `tooltip` on each."""
        controls = self.lockable()
        self._locked = {controls[n]: tooltip for n in names if n in controls}
        self._apply_locks()

    def is_locked(self, widget: QWidget) -> bool:
        return widget in self._locked

    def _apply_locks(self) -> None:
        for widget, tip in getattr(self, "_locked", {}).items():
            widget.setEnabled(False)
            widget.setToolTip(tip)
            widget.setAccessibleDescription(tip)

    def show_diagnostics_result(self, text: str, busy: bool = False) -> None:
        self.diagnostics_label.setText(text)
        self.diagnostics_button.setEnabled(not busy)

    # ----------------------------------------------------------------- actions

    @Slot(float)
    def show_level(self, dbfs: float) -> None:
        self.level_meter.setValue(int(max(METER_FLOOR_DB, min(0.0, dbfs))))

    def play_test_tone(self) -> None:
        if self._audio is None:
            return
        pin_device(self._audio, "speaker", self.device_boxes["speaker"].currentData())
        self._audio.start_test_tone(440.0, 0.3, 2.0)

    def test_ringer(self, on: bool) -> None:
        if self._audio is None:
            return
        if on:
            pin_device(self._audio, "ringer", self.device_boxes["ringer"].currentData())
            self._audio.start_ringing()
            self.test_ringer_button.setText(tr("Stop ringer"))
        else:
            self._audio.stop_ringing()
            self.test_ringer_button.setText(tr("Test ringer"))

    def apply(self) -> None:
        self._settings = self.value()
        self.applied.emit(self._settings)

    def accept(self) -> None:
        self.apply()
        self._close_audio()
        super().accept()

    def reject(self) -> None:
        self._close_audio()
        super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:
        self._close_audio()
        super().closeEvent(event)

    def _close_audio(self) -> None:
        audio, self._audio = self._audio, None
        if audio is None:
            return
        audio.set_meter_enabled(False)
        audio.stop_ringing()
        for sig, slot in ((audio.devices_changed, self._fill_devices),
                          (audio.level_changed, self.show_level)):
            try:
                sig.disconnect(slot)
            except (RuntimeError, TypeError):
                log.debug("already disconnected")
        # Devices tried but not applied go back to the saved ones.
        s = self._settings.audio
        for kind, dev in zip(KINDS, (s.microphone, s.speaker, s.ringer), strict=True):
            pin_device(audio, kind, dev)

