"""Screen pop: open a configurable URL (a CRM search, a ticket form) for a ringing call.

The template names values in braces: {caller_id}, {caller_name}, {queue}, {call_id},
{agent}. Each value is percent-encoded (every reserved character, so a value can never
add a query parameter or change the path); unknown names stay as they are written. Only
http and https URLs are opened.

`ScreenPop.ringing(...)` / `.answered(...)` are called by the composition root; the setting
`when` (ring / answer / off) decides which one opens the URL, once per call.
"""

from __future__ import annotations

import enum
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from PySide6.QtCore import QSettings, QUrl
from PySide6.QtGui import QDesktopServices

log = logging.getLogger("agent_desktop.screenpop")

FIELDS = ("caller_id", "caller_name", "queue", "call_id", "agent")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_REMEMBER = 64  # call keys remembered to pop once per call


class PopWhen(enum.Enum):
    RING = "ring"
    ANSWER = "answer"
    OFF = "off"


@dataclass(frozen=True)
class ScreenPopSettings:
    template: str = ""
    when: PopWhen = PopWhen.OFF

    @property
    def enabled(self) -> bool:
        return self.when is not PopWhen.OFF and bool(self.template.strip())

    @classmethod
    def load(cls, settings: QSettings) -> ScreenPopSettings:
        template = str(settings.value("screen_pop/template", "") or "")
        raw = str(settings.value("screen_pop/when", PopWhen.OFF.value) or "")
        when = {w.value: w for w in PopWhen}.get(raw, PopWhen.OFF)
        return cls(template, when)

    def save(self, settings: QSettings) -> None:
        settings.setValue("screen_pop/template", self.template)
        settings.setValue("screen_pop/when", self.when.value)


def build_url(template: str, values: Mapping[str, str]) -> str:
    """The template with each known {name} replaced by its percent-encoded value."""

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in FIELDS:
            return m.group(0)
        return quote(str(values.get(name, "") or ""), safe="")

    return _PLACEHOLDER.sub(sub, template.strip())


def _default_opener(url: str) -> bool:
    return bool(QDesktopServices.openUrl(QUrl(url, QUrl.ParsingMode.StrictMode)))


class ScreenPop:
    """Opens the template's URL at ring or at answer, at most once per call."""

    def __init__(self, settings: ScreenPopSettings,
                 opener: Callable[[str], bool] | None = None) -> None:
        self.settings = settings
        self._open = opener or _default_opener
        self._popped: list[str] = []

    def ringing(self, key: str, values: Mapping[str, str]) -> str | None:
        return self._maybe(PopWhen.RING, key, values)

    def answered(self, key: str, values: Mapping[str, str]) -> str | None:
        return self._maybe(PopWhen.ANSWER, key, values)

    def _maybe(self, moment: PopWhen, key: str, values: Mapping[str, str]) -> str | None:
        """Open the URL if the setting says `moment`; returns the URL opened (or None)."""
        s = self.settings
        if not s.enabled or s.when is not moment or key in self._popped:
            return None
        url = build_url(s.template, values)
        if urlsplit(url).scheme.lower() not in ("http", "https"):
            log.warning("screen pop: %r is not an http(s) URL; not opened", url)
            return None
        self._popped = [*self._popped[-(_REMEMBER - 1):], key]
        if not self._open(url):
            log.warning("screen pop: the desktop could not open %s", url)
        else:
            log.info("screen pop (%s): %s", moment.value, url)
        return url
