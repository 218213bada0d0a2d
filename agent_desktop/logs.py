"""Log files for operations: rotating files in the platform's log folder, every record
redacted, and in-memory rings of the recent SIP trace and server errors for diagnostics.

    setup_logging(level)     # stderr + <log_dir()>/agent-desktop.log (5 files of 2 MB), redacted

The app already keeps secrets out of its log calls; `RedactingFilter` is the second line of
defence. It rewrites every record that reaches a handler (the message with its arguments
merged, and any traceback) and removes:

* SIP `Authorization:` / `Proxy-Authorization:` header lines (whole line, PJSIP traces);
* digest `response="…"` values wherever they appear;
* HTTP `Bearer …` tokens;
* values of keys named like password / token / secret / api_key (`password=…`,
  `"sip_password": "…"`, `'token': '…'`), in text, query strings or JSON;
* values the app registered with `remember_secret()` (the login password, the bearer token,
  the SIP password) wherever they appear, when at least `MIN_SECRET_LEN` characters long.

`SIP_TRACE` keeps the last `SIP_TRACE_LINES` PJSIP lines and `SERVER_ERRORS` the last
`SERVER_ERROR_COUNT` failed API calls (redacted, like the files); `diagnostics.py` bundles
them.
"""

from __future__ import annotations

import collections
import logging
import os
import re
import sys
import threading
from pathlib import Path

log = logging.getLogger("agent_desktop.logs")

LOG_FILE = "agent-desktop.log"
MAX_BYTES = 2 * 1024 * 1024
BACKUP_COUNT = 4  # 5 files of 2 MB at most
SIP_TRACE_LINES = 2000
SERVER_ERROR_COUNT = 50
MIN_SECRET_LEN = 6  # shorter remembered values would blank out ordinary words
REDACTED = "<redacted>"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: Overrides the log folder (tests, or an IT department that collects logs centrally).
LOG_DIR_ENV = "AGENT_DESKTOP_LOG_DIR"
PJSIP_LOGGER = "agent_desktop.sip.pjsip"
SESSION_LOGGER = "agent_desktop.session"

# --------------------------------------------------------------------------- redaction

_SIP_AUTH_LINE = re.compile(r"^([ \t]*(?:Proxy-)?Authorization[ \t]*:).*$", re.I | re.M)
_DIGEST_RESPONSE = re.compile(r"(\bresponse[ \t]*=[ \t]*)(\"[^\"]*\"|[^\s,]+)", re.I)
_BEARER = re.compile(r"(\bBearer[ \t]+)[A-Za-z0-9._~+/=-]+", re.I)
_KEY_VALUE = re.compile(
    r"""(?P<key>\\?["']?[\w-]*(?:password|passwd|passphrase|secret|token|api[_-]?key|access[_-]?key)[\w-]*\\?["']?"""
    r"""[ \t]*[:=][ \t]*)"""
    r"""(?P<value>\\?"(?:[^"\\]|\\.)*?\\?"|'(?:[^'\\]|\\.)*'|[^\s,;&}\]\)]+)""",
    re.I)

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def remember_secret(*values: str | None) -> None:
    """Redact these values wherever they appear from now on (short ones: by key only)."""
    with _secrets_lock:
        for value in values:
            if value and len(value) >= MIN_SECRET_LEN:
                _secrets.add(value)


def _key_value(m: re.Match[str]) -> str:
    value = m.group("value")
    if value.startswith(("\\\"", "\"", "'")):
        quote = value[:2] if value.startswith("\\") else value[0]
        return f"{m.group('key')}{quote}{REDACTED}{quote}"
    if value == REDACTED or value.startswith("<redacted"):
        return m.group(0)
    return f"{m.group('key')}{REDACTED}"


def redact(text: str) -> str:
    """`text` without the secrets this module knows how to find."""
    if not text:
        return text
    text = _SIP_AUTH_LINE.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _DIGEST_RESPONSE.sub(lambda m: f'{m.group(1)}"{REDACTED}"', text)
    text = _BEARER.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    text = _KEY_VALUE.sub(_key_value, text)
    with _secrets_lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites each record so that no handler after it sees a secret (never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep what there is
            message = f"{record.msg!s} {record.args!r}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        record.exc_info = None  # the redacted text above is what gets written
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


# --------------------------------------------------------------------------- rings


class RingHandler(logging.Handler):
    """Keeps the last `capacity` formatted records in memory, redacted. Unlike the filter it
    leaves the record alone (a handler's own check of what the app logs stays honest)."""

    def __init__(self, capacity: int, fmt: str = FORMAT) -> None:
        super().__init__(logging.DEBUG)
        self.lines: collections.deque[str] = collections.deque(maxlen=capacity)
        self.setFormatter(logging.Formatter(fmt))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(redact(self.format(record)))
        except Exception:
            self.handleError(record)

    def snapshot(self) -> list[str]:
        with self.lock or threading.Lock():
            return list(self.lines)

    def clear(self) -> None:
        with self.lock or threading.Lock():
            self.lines.clear()


class _ServerErrors(RingHandler):
    """The session layer's failed calls: its records at INFO and above that name a failure."""

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING or "fail" in record.getMessage().lower():
            super().emit(record)


SIP_TRACE = RingHandler(SIP_TRACE_LINES, "%(asctime)s %(message)s")
SERVER_ERRORS = _ServerErrors(SERVER_ERROR_COUNT)


def install_rings() -> None:
    """Attach the SIP-trace and server-error rings (idempotent). The PJSIP logger lets
    DEBUG through so that the ring sees whole SIP messages whatever the file level is."""
    pj = logging.getLogger(PJSIP_LOGGER)
    if SIP_TRACE not in pj.handlers:
        pj.addHandler(SIP_TRACE)
    if pj.level == logging.NOTSET:
        pj.setLevel(logging.DEBUG)  # the other handlers keep their own level
    session = logging.getLogger(SESSION_LOGGER)
    if SERVER_ERRORS not in session.handlers:
        session.addHandler(SERVER_ERRORS)
    if session.level == logging.NOTSET or session.level > logging.INFO:
        session.setLevel(logging.INFO)


# --------------------------------------------------------------------------- files


def log_dir() -> Path:
    """Where the log files go: $AGENT_DESKTOP_LOG_DIR, else on Linux
    $XDG_STATE_HOME/agent-desktop/logs (~/.local/state/...), else the platform's app-local
    data folder + /logs (Windows: %LOCALAPPDATA%\\agent-desktop\\logs)."""
    forced = os.environ.get(LOG_DIR_ENV)
    if forced:
        return Path(forced)
    if sys.platform.startswith("linux"):
        state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        return Path(state) / "agent-desktop" / "logs"
    from PySide6.QtCore import QCoreApplication, QStandardPaths

    if QCoreApplication.applicationName():
        base = QStandardPaths.writableLocation(
            QStandardPaths.StandardLocation.AppLocalDataLocation)
    else:
        base = str(Path(QStandardPaths.writableLocation(
            QStandardPaths.StandardLocation.GenericDataLocation)) / "agent-desktop")
    return Path(base) / "logs"


def log_files(directory: Path | None = None) -> list[Path]:
    """The current log file and its rotated copies, newest first."""
    d = directory or log_dir()
    return sorted((p for p in d.glob(LOG_FILE + "*") if p.is_file()),
                  key=lambda p: (p.name != LOG_FILE, p.name))


class RotatingLogFile(logging.FileHandler):
    """The log file, rotated by size as `logging.handlers.RotatingFileHandler` does (name,
    name.1 … name.N, newest first). Our own because importing `logging.handlers` also
    loads socket, pickle, queue and select: ~5 ms and ~1 MB before the login window."""

    def __init__(self, filename: Path, max_bytes: int, backup_count: int) -> None:
        super().__init__(filename, encoding="utf-8", delay=True)
        self.maxBytes = max_bytes
        self.backupCount = backup_count

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if self._must_roll(record):
                self._roll()
        except Exception:
            self.handleError(record)
            return
        super().emit(record)

    def _must_roll(self, record: logging.LogRecord) -> bool:
        if self.maxBytes <= 0:
            return False
        if self.stream is None:
            self.stream = self._open()
        if not os.path.isfile(self.baseFilename):  # e.g. a pipe or a device: never
            return False
        pending = len(self.format(record)) + len(self.terminator)
        return bool(self.stream.tell() + pending >= self.maxBytes)

    def _roll(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None  # reopened by the next emit
        base = self.baseFilename
        for i in range(self.backupCount - 1, 0, -1):
            if os.path.exists(f"{base}.{i}"):
                os.replace(f"{base}.{i}", f"{base}.{i + 1}")
        if self.backupCount > 0 and os.path.exists(base):
            os.replace(base, f"{base}.1")


def file_handler(directory: Path | None = None, level: int = logging.DEBUG
                 ) -> RotatingLogFile:
    d = directory or log_dir()
    d.mkdir(parents=True, exist_ok=True)
    handler = RotatingLogFile(d / LOG_FILE, MAX_BYTES, BACKUP_COUNT)
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(RedactingFilter())
    return handler


def setup_logging(level: int = logging.INFO, *, directory: Path | None = None,
                  to_stderr: bool = True) -> Path | None:
    """stderr + the rotating log file (both redacted) + the rings. Returns the log file, or
    None when its folder cannot be written (then stderr only, and a warning says why)."""
    root = logging.getLogger()
    root.setLevel(level)
    if to_stderr and not any(getattr(h, "_agent_desktop", False) for h in root.handlers):
        err = logging.StreamHandler(sys.stderr)
        err.setLevel(level)
        err.setFormatter(logging.Formatter(FORMAT))
        err.addFilter(RedactingFilter())
        err._agent_desktop = True  # type: ignore[attr-defined]
        root.addHandler(err)
    install_rings()
    try:
        handler = file_handler(directory, level)
    except OSError as exc:
        log.warning("log files are off: cannot use %s (%s)", directory or log_dir(), exc)
        return None
    for old in [h for h in root.handlers if isinstance(h, RotatingLogFile)
                and getattr(h, "_agent_desktop", False)]:
        root.removeHandler(old)
        old.close()
    handler._agent_desktop = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    return Path(handler.baseFilename)
