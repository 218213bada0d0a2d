"""The agent's own settings (audio devices, auto-answer, screen pop, language, theme), kept
in QSettings. Nothing secret lives here: the password is in the keyring, the token in memory.

`AppSettings.load(q)` / `.save(q)` read and write one QSettings; `apply_theme` sets the
colour scheme on the running application (Qt 6.8+: follows the system unless forced).
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field, replace

from PySide6 import QtCore
from PySide6.QtCore import QSettings
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from agent_desktop.screenpop import ScreenPopSettings
from agent_desktop.session.messages import tr_noop
from agent_desktop.ui.ink import restyle

log = logging.getLogger("agent_desktop.settings")

MAX_AUTO_ANSWER_S = 30


class Theme(enum.Enum):
    SYSTEM = "system"
    LIGHT = "light"
    DARK = "dark"


# Each language in its own words; "System language" is translated where it is shown.
LANGUAGES = {"system": tr_noop("System language"), "en": "English", "zh_CN": "简体中文"}


def _text(q: QSettings, key: str, default: str) -> str:
    value = q.value(key, default)
    return str(value) if value is not None else default


def _flag(q: QSettings, key: str, default: bool) -> bool:
    value = q.value(key, default)
    if isinstance(value, str):  # INI files give strings back
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


@dataclass(frozen=True)
class AudioChoice:
    """Device ids per kind; "" follows the system default."""

    microphone: str = ""
    speaker: str = ""
    ringer: str = ""


@dataclass(frozen=True)
class AppSettings:
    audio: AudioChoice = field(default_factory=AudioChoice)
    auto_answer: bool = False
    auto_answer_delay_s: int = 0
    screen_pop: ScreenPopSettings = field(default_factory=ScreenPopSettings)
    language: str = "system"
    theme: Theme = Theme.SYSTEM
    start_at_login: bool = False
    start_minimized: bool = False
    # Speakers (or a laptop's built-in microphone) need it; a headset does not.
    echo_cancellation: bool = True

    @classmethod
    def load(cls, q: QSettings) -> AppSettings:
        try:
            delay = int(float(_text(q, "calls/auto_answer_delay_s", "0")))
        except ValueError:
            delay = 0
        language = _text(q, "ui/language", "system")
        theme = {t.value: t for t in Theme}.get(_text(q, "ui/theme", "system"), Theme.SYSTEM)
        return cls(
            audio=AudioChoice(_text(q, "audio/microphone", ""), _text(q, "audio/speaker", ""),
                              _text(q, "audio/ringer", "")),
            auto_answer=_flag(q, "calls/auto_answer", False),
            auto_answer_delay_s=max(0, min(MAX_AUTO_ANSWER_S, delay)),
            screen_pop=ScreenPopSettings.load(q),
            language=language if language in LANGUAGES else "system",
            theme=theme,
            start_at_login=_flag(q, "start/at_login", False),
            start_minimized=_flag(q, "start/minimized", False),
            echo_cancellation=_flag(q, "audio/echo_cancellation", True),
        )

    def save(self, q: QSettings) -> None:
        q.setValue("audio/microphone", self.audio.microphone)
        q.setValue("audio/speaker", self.audio.speaker)
        q.setValue("audio/ringer", self.audio.ringer)
        q.setValue("calls/auto_answer", self.auto_answer)
        q.setValue("calls/auto_answer_delay_s", self.auto_answer_delay_s)
        self.screen_pop.save(q)
        q.setValue("ui/language", self.language)
        q.setValue("ui/theme", self.theme.value)
        q.setValue("start/at_login", self.start_at_login)
        q.setValue("start/minimized", self.start_minimized)
        q.setValue("audio/echo_cancellation", self.echo_cancellation)
        q.sync()

    def with_audio(self, **kinds: str) -> AppSettings:
        return replace(self, audio=replace(self.audio, **kinds))


def dark_palette() -> QPalette:
    """A dark palette for the Fusion style (contrast ≥ 4.5:1 for text, WCAG AA)."""
    p = QPalette()
    window, base, text = QColor("#202326"), QColor("#15171a"), QColor("#e8eaed")
    role = QPalette.ColorRole
    for r, c in ((role.Window, window), (role.WindowText, text), (role.Base, base),
                 (role.AlternateBase, QColor("#2a2e33")), (role.ToolTipBase, window),
                 (role.ToolTipText, text), (role.Text, text), (role.Button, QColor("#2d3136")),
                 (role.ButtonText, text), (role.BrightText, QColor("#ff6b6b")),
                 (role.Link, QColor("#8ab4f8")), (role.Highlight, QColor("#3d6fb6")),
                 (role.HighlightedText, QColor("#ffffff")),
                 (role.PlaceholderText, QColor("#9aa0a6"))):
        p.setColor(r, c)
    disabled = QColor("#80868b")
    for r in (role.WindowText, role.Text, role.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, r, disabled)
    return p


_applied_theme: Theme | None = None


def apply_theme(theme: Theme) -> None:
    """Force light or dark (Fusion style, our palettes), or follow the system (default)."""
    global _applied_theme
    app = QGuiApplication.instance()
    if not isinstance(app, QApplication):
        return
    if theme is Theme.SYSTEM and _applied_theme in (None, Theme.SYSTEM):
        # Qt's own start state: nothing to undo. (Skipping it also spares the start-up the
        # first use of the `Qt` namespace, whose enums PySide6 builds then: ~11 ms.)
        _applied_theme = theme
        return
    _applied_theme = theme
    hints = app.styleHints()
    scheme = {Theme.LIGHT: QtCore.Qt.ColorScheme.Light, Theme.DARK: QtCore.Qt.ColorScheme.Dark,
              Theme.SYSTEM: QtCore.Qt.ColorScheme.Unknown}[theme]
    if hasattr(hints, "setColorScheme"):  # Qt 6.8+: tells the platform theme, if any
        hints.setColorScheme(scheme)
    if theme is Theme.SYSTEM:
        app.setPalette(QPalette())
    else:
        # A platform without a theme plugin (bare X11, offscreen) ignores the colour scheme:
        # set the palette ourselves so that the choice always shows.
        app.setStyle("Fusion")
        style = app.style()
        app.setPalette(dark_palette() if theme is Theme.DARK else style.standardPalette())
    restyle()
