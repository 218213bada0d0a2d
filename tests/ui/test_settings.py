"""Settings: the stored values, the dialog (devices, meter, test sounds), and the app using
them (devices pinned, screen pop, theme, auto-answer, ringer, saved off the GUI thread)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from agent_desktop.app import AgentApp
from agent_desktop.screenpop import PopWhen, ScreenPop, ScreenPopSettings
from agent_desktop.session.client import ApiClient
from agent_desktop.session.state import AgentStateMachine
from agent_desktop.settings import AppSettings, AudioChoice, Theme, apply_theme
from agent_desktop.sip import CallState
from agent_desktop.ui.login import LoginWindow
from agent_desktop.ui.settings_dialog import SettingsDialog
from tests.ui.fakes import FakeAudio, FakeCall, no_keyring


def ini(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


def test_settings_round_trip_and_bad_values(tmp_path: Path) -> None:
    s = AppSettings(AudioChoice("headset-mic", "headset", ""), True, 3,
                    ScreenPopSettings("https://crm/?n={caller_id}", PopWhen.ANSWER), "zh_CN",
                    Theme.DARK)
    s.save(ini(tmp_path))
    assert AppSettings.load(ini(tmp_path)) == s
    q = ini(tmp_path)
    q.setValue("calls/auto_answer_delay_s", "soon")
    q.setValue("ui/theme", "purple")
    q.setValue("ui/language", "xx")
    q.sync()
    back = AppSettings.load(ini(tmp_path))
    assert (back.auto_answer_delay_s, back.theme, back.language) == (0, Theme.SYSTEM, "system")
    assert "password" not in (tmp_path / "settings.ini").read_text().lower()


def test_dialog_lists_devices_meters_and_tests_sounds(qtbot: QtBot) -> None:
    audio = FakeAudio()
    start = AppSettings(audio=AudioChoice(speaker="headset"))
    dialog = SettingsDialog(start, audio)
    qtbot.addWidget(dialog)
    assert audio.meter  # the microphone is metered while the dialog is open
    spk = dialog.device_boxes["speaker"]
    assert [spk.itemText(i) for i in range(spk.count())] == [
        "System default", "Speaker", "Headset"]
    assert spk.currentData() == "headset"
    audio.level_changed.emit(-20.5)
    assert dialog.level_meter.value() == -20
    audio.level_changed.emit(-90.0)
    assert dialog.level_meter.value() == -60

    dialog.device_boxes["speaker"].setCurrentIndex(1)  # try the built-in speaker
    dialog.test_tone_button.click()
    assert audio.log[-2:] == ["pin speaker speaker", "tone 440"]
    dialog.test_ringer_button.click()
    assert audio.ringing
    dialog.test_ringer_button.click()
    assert not audio.ringing

    # A pinned device that is unplugged stays chosen, marked as such.
    audio.lists["speaker"] = [{"id": "speaker", "description": "Speaker"}]
    dialog.device_boxes["speaker"].setCurrentIndex(2)  # (headset, still listed here)
    audio.devices_changed.emit()
    assert spk.currentText() == "headset (not connected)"

    dialog.reject()  # cancelled: what was tried goes back to the saved choice
    assert not audio.meter
    assert audio.pinned["speaker"] == "headset"


def test_dialog_applies_what_was_chosen(qtbot: QtBot) -> None:
    dialog = SettingsDialog(AppSettings(), FakeAudio())
    qtbot.addWidget(dialog)
    dialog.device_boxes["microphone"].setCurrentIndex(2)
    dialog.auto_answer_box.setChecked(True)
    dialog.auto_answer_delay.setValue(2)
    dialog.pop_when.setCurrentIndex(dialog.pop_when.findData("ring"))
    dialog.pop_template.setText(" https://crm/?n={caller_id} ")
    dialog.theme_box.setCurrentIndex(dialog.theme_box.findData("dark"))
    with qtbot.waitSignal(dialog.applied, timeout=1000) as sig:
        dialog.accept()
    s = sig.args[0]
    assert s.audio == AudioChoice("headset-mic", "", "")
    assert (s.auto_answer, s.auto_answer_delay_s) == (True, 2)
    assert s.screen_pop == ScreenPopSettings("https://crm/?n={caller_id}", PopWhen.RING)
    assert s.theme is Theme.DARK


def test_dialog_without_audio_says_why(qtbot: QtBot) -> None:
    dialog = SettingsDialog(AppSettings(), None)
    qtbot.addWidget(dialog)
    assert "not available" in dialog.audio_note.text()
    assert not dialog.test_tone_button.isEnabled()


def test_dark_and_light_themes_change_the_palette(qapp: QApplication) -> None:
    try:
        apply_theme(Theme.DARK)
        assert qapp.palette().color(QPalette.ColorRole.Window).lightness() < 60
        apply_theme(Theme.LIGHT)
        assert qapp.palette().color(QPalette.ColorRole.Window).lightness() > 180
    finally:
        apply_theme(Theme.SYSTEM)


@pytest.fixture
def app(qtbot: QtBot, tmp_path: Path) -> AgentApp:
    login = LoginWindow()
    qtbot.addWidget(login)
    opened: list[str] = []
    seat = AgentApp(login_window=login, machine=AgentStateMachine(), store=no_keyring(),
                    client_factory=lambda url: ApiClient(url, client_version="ui/1"),
                    terminal="ui-settings", quit_app=lambda: None, bridge=FakeAudio(),
                    screen_pop=ScreenPop(ScreenPopSettings(), opener=opened.append),
                    settings_store=ini(tmp_path))
    return seat


def test_app_applies_and_saves_settings(qtbot: QtBot, app: AgentApp, tmp_path: Path) -> None:
    s = AppSettings(audio=AudioChoice(speaker="headset"), auto_answer=True,
                    screen_pop=ScreenPopSettings("https://crm/?n={caller_id}", PopWhen.RING))
    app.apply_settings(s)
    assert app.bridge.pinned["speaker"] == "headset"
    assert app.screen_pop is not None
    assert app.screen_pop.settings == s.screen_pop
    qtbot.waitUntil(lambda: AppSettings.load(ini(tmp_path)) == s, timeout=3000)
    app.finish()


def test_ringer_rings_and_auto_answer_answers(qtbot: QtBot, app: AgentApp,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from agent_desktop.ui.main_window import MainWindow

    machine = app.machine
    app.window = MainWindow(machine, ApiClient("http://127.0.0.1:9", client_version="ui/1"))
    qtbot.addWidget(app.window)
    call = FakeCall("5550123")
    app.on_incoming_call(call)
    assert app.bridge.is_ringing()  # rings on the ringer device
    call.answer()
    assert not app.bridge.is_ringing()

    app.settings = AppSettings(auto_answer=True, auto_answer_delay_s=0)
    second = FakeCall("5550124", key="call-2")
    app.on_incoming_call(second)
    assert not app.bridge.is_ringing()  # answered at once: no ring at all
    qtbot.waitUntil(lambda: second.state is CallState.CONFIRMED, timeout=2000)
    app.finish()
