"""Keyboard shortcuts for the main actions, working from any of the app's windows.

Defaults below; IT may set others (provisioning `hotkeys`), an agent in the settings where
not locked. These are application shortcuts: they work while the app has the keyboard focus.
System-wide ("global") capture is not offered: Wayland does not let applications grab keys,
X11 would need a key grab through Xlib and Windows RegisterHotKey — see docs/desktop.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QWidget

from agent_desktop.session.messages import tr

log = logging.getLogger("agent_desktop.ui.shortcuts")

DEFAULT_HOTKEYS: dict[str, str] = {
    "answer": "Ctrl+Shift+A",
    "hangup": "Ctrl+Shift+E",
    "hold": "Ctrl+Shift+H",
    "mute": "Ctrl+Shift+M",
    "ready_pause": "Ctrl+Shift+P",
    "checkin_all": "Ctrl+Shift+I",
    "checkout_all": "Ctrl+Shift+O",
    "dial": "Ctrl+L",
}


def action_names() -> dict[str, str]:
    return {"answer": tr("Answer"), "hangup": tr("Hang up"), "hold": tr("Hold / resume"),
            "mute": tr("Mute / unmute"), "ready_pause": tr("Ready / pause"),
            "checkin_all": tr("Check in to all"), "checkout_all": tr("Check out of all"),
            "dial": tr("Number to call")}


def install(window: QWidget, actions: Mapping[str, Callable[[], object]],
            keys: Mapping[str, str] | None = None) -> dict[str, QShortcut]:
    """One application-wide shortcut per action; unknown or empty keys are skipped."""
    chosen = {**DEFAULT_HOTKEYS, **(keys or {})}
    made: dict[str, QShortcut] = {}
    for name, fn in actions.items():
        seq = QKeySequence(chosen.get(name, ""))
        if seq.isEmpty():
            continue
        sc = QShortcut(seq, window)
        sc.setContext(Qt.ShortcutContext.ApplicationShortcut)
        sc.activated.connect(fn)
        made[name] = sc
    return made
