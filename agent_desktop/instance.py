"""One app per user session: a second launch hands its request to the running one and exits.

The running app listens on a local socket (QLocalServer; a Unix socket in the runtime folder,
a named pipe on Windows) named after the user. A second launch connects, sends one JSON line
(`{"dial": "8002"}`, `{"answer": true}`, `{"hangup": true}` or `{"show": true}`) and quits.
`tel:` and `sip:` links (the desktop opens them with the app) become a `dial` request.

The running side never blocks: it reads on readyRead and answers with one line.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

log = logging.getLogger("agent_desktop.instance")

CONNECT_MS = 500
REPLY_MS = 2000
_DIALABLE = re.compile(r"[^0-9A-Za-z+*#]")


def socket_name() -> str:
    """Per user; AGENT_DESKTOP_INSTANCE names another (tests, or two profiles side by side)."""
    override = os.environ.get("AGENT_DESKTOP_INSTANCE")
    if override:
        return re.sub(r"[^A-Za-z0-9_.-]", "_", override)
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no user name (a container without passwd entry)
        user = "user"
    return "agent-desktop-" + re.sub(r"[^A-Za-z0-9_.-]", "_", user)


def number_from_link(link: str) -> str | None:
    """The number in a tel: or sip: link ("tel:+49 30 123", "sip:8002@pbx;user=phone");
    None when it is no such link or holds nothing dialable."""
    parts = urlsplit(link.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("tel", "sip", "sips", "callto"):
        return None
    rest = unquote(link.strip()[len(parts.scheme) + 1:]).lstrip("/")
    rest = rest.split(";", 1)[0].split("?", 1)[0]
    if scheme != "tel":
        rest = rest.split("@", 1)[0]
    number = _DIALABLE.sub("", rest)
    return number or None


def request_from_args(dial: str | None, answer: bool, hangup: bool,
                      links: list[str]) -> dict[str, Any] | None:
    """What a launch asks of the running app (None: nothing, just show it)."""
    if dial:
        return {"dial": number_from_link(dial) or _DIALABLE.sub("", dial)}
    if answer:
        return {"answer": True}
    if hangup:
        return {"hangup": True}
    for link in links:
        number = number_from_link(link)
        if number:
            return {"dial": number}
    return None


def send_to_running(request: dict[str, Any] | None, name: str | None = None) -> bool:
    """Hand `request` (or "show") to a running app; False when none is running."""
    sock = QLocalSocket()
    sock.connectToServer(name or socket_name())
    if not sock.waitForConnected(CONNECT_MS):
        return False
    sock.write((json.dumps(request or {"show": True}) + "\n").encode())
    sock.flush()
    ok = sock.waitForReadyRead(REPLY_MS)
    reply = bytes(sock.readAll().data()).decode(errors="replace").strip() if ok else ""
    log.info("handed %s to the running app: %s", request or "show", reply or "no reply")
    sock.disconnectFromServer()
    return True


class SingleInstance(QObject):
    """The running app's side. Signals: request(dict) for each valid request."""

    request = Signal(dict)

    def __init__(self, name: str | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name or socket_name()
        self.server = QLocalServer(self)
        self.server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self.server.newConnection.connect(self._accept)
        self.handler: Callable[[dict[str, Any]], str] | None = None

    def claim(self) -> bool:
        """Listen; False if another running app answers on the name."""
        probe = QLocalSocket()
        probe.connectToServer(self.name)
        if probe.waitForConnected(CONNECT_MS):
            probe.disconnectFromServer()
            return False
        QLocalServer.removeServer(self.name)  # a stale socket of an app that died
        if not self.server.listen(self.name):
            log.warning("single instance: cannot listen on %s: %s", self.name,
                        self.server.errorString())
            return False
        return True

    def close(self) -> None:
        self.server.close()

    def _accept(self) -> None:
        while self.server.hasPendingConnections():
            conn = self.server.nextPendingConnection()
            buf = bytearray()

            def read(conn: QLocalSocket = conn, buf: bytearray = buf) -> None:
                buf.extend(bytes(conn.readAll().data()))
                if b"\n" not in buf and len(buf) < 4096:
                    return
                line = bytes(buf).split(b"\n", 1)[0]
                reply = self._handle(line)
                conn.write((reply + "\n").encode())
                conn.flush()
                conn.disconnectFromServer()

            conn.readyRead.connect(read)
            conn.disconnected.connect(conn.deleteLater)

    def _handle(self, line: bytes) -> str:
        try:
            req = json.loads(line.decode())
        except (UnicodeDecodeError, json.JSONDecodeError):
            return "error: not a request"
        if not isinstance(req, dict) or not req.keys() <= {"dial", "answer", "hangup", "show"}:
            return "error: unknown request"
        if "dial" in req and not (isinstance(req["dial"], str) and req["dial"]):
            return "error: no number"
        self.request.emit(req)
        return "ok"
