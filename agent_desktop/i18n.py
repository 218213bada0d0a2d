"""The user's language: Qt translators for the app's texts and for Qt's own.

`install_translator(app, language)` takes `AppSettings.language` ("system" follows
QLocale.system(); "en" is the source language; "zh_CN" ...). It loads
resources/translations/agent_desktop_<lang>.qm (made by scripts/translations.sh) and, for a
language the app has, Qt's qtbase_<lang>.qm from PySide6's translations folder (standard
dialog buttons, context menus). Calling it again replaces the translators installed before:
windows built from then on use the new language, those already open keep theirs.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QLibraryInfo, QLocale, QTranslator

log = logging.getLogger("agent_desktop.i18n")

TRANSLATIONS_DIR = Path(__file__).resolve().parent.parent / "resources" / "translations"
APP_CATALOG = "agent_desktop"
SOURCE_LANGUAGE = "en"

_installed: list[QTranslator] = []


def locale_for(language: str) -> QLocale:
    """The locale whose translations `language` ("system", "en", "zh_CN") asks for."""
    return QLocale.system() if language == "system" else QLocale(language)


def install_translator(app: QCoreApplication, language: str,
                       directory: Path = TRANSLATIONS_DIR) -> str:
    """Install the translators for `language`; returns the language in use ("en" when the
    app has no translation for it)."""
    for old in _installed:
        app.removeTranslator(old)
        old.deleteLater()
    _installed.clear()
    locale = locale_for(language)
    if language == SOURCE_LANGUAGE:
        return SOURCE_LANGUAGE
    ours = QTranslator(app)
    # Qt tries the locale's UI languages in order (zh_Hans_CN, zh_CN, zh, ...).
    if not ours.load(locale, APP_CATALOG, "_", str(directory)):
        log.info("no translation for %s in %s: English", locale.name(), directory)
        ours.deleteLater()
        return SOURCE_LANGUAGE
    app.installTranslator(ours)
    _installed.append(ours)
    qt = QTranslator(app)
    if qt.load(locale, "qtbase", "_", QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)):
        app.installTranslator(qt)
        _installed.append(qt)
    else:
        log.info("no Qt translation for %s: standard buttons stay English", locale.name())
        qt.deleteLater()
    used = ours.language() or locale.name()
    log.info("language: %s", used)
    return used
