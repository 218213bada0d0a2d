"""Start at login, per user: the desktop's own convention on each platform.

Linux: an XDG autostart entry, ~/.config/autostart/agent-desktop.desktop (it also declares the
app as handler of tel: and sip: links). Windows: the per-user "Run" key in the registry.
The command is this program as it was started (the frozen executable, or this Python with
`-m agent_desktop`), with --minimized when the agent wants to start in the tray.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

APP_ID = "agent-desktop"
RUN_KEY = r"HKEY_CURRENT_USER\Software\Microsoft\Windows\CurrentVersion\Run"


def command(minimized: bool) -> list[str]:
    if getattr(sys, "frozen", False):
        argv = [sys.executable]
    else:
        argv = [sys.executable, "-m", "agent_desktop"]
    return [*argv, "--minimized"] if minimized else argv


def desktop_entry(minimized: bool) -> str:
    exec_line = " ".join(shlex.quote(a) for a in command(minimized))
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        "Name=Agent Desktop\n"
        "Comment=Call-center agent desktop and softphone\n"
        f"Exec={exec_line} %u\n"
        "Icon=agent-desktop\n"
        "Terminal=false\n"
        "Categories=Network;Telephony;\n"
        "MimeType=x-scheme-handler/tel;x-scheme-handler/sip;x-scheme-handler/callto;\n"
        "X-GNOME-Autostart-enabled=true\n"
    )


def autostart_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "autostart" / f"{APP_ID}.desktop"


def is_enabled() -> bool:
    if sys.platform == "win32":
        from PySide6.QtCore import QSettings

        return bool(QSettings(RUN_KEY, QSettings.Format.NativeFormat).value("AgentDesktop"))
    return autostart_file().exists()


def set_enabled(enabled: bool, minimized: bool = True) -> None:
    """Turn start-at-login on or off (a disk or registry write: call it off the GUI thread)."""
    if sys.platform == "win32":
        from PySide6.QtCore import QSettings

        run = QSettings(RUN_KEY, QSettings.Format.NativeFormat)
        if enabled:
            run.setValue("AgentDesktop", " ".join(f'"{a}"' for a in command(minimized)))
        else:
            run.remove("AgentDesktop")
        run.sync()
        return
    path = autostart_file()
    if enabled:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(desktop_entry(minimized))
        tmp.replace(path)
    else:
        path.unlink(missing_ok=True)
