"""Provisioning by IT: a system-wide settings file (and an optional URL) that sets defaults
and can lock settings so that agents cannot change them (docs/provisioning-desktop.md).

    Linux:   /etc/agent-desktop/settings.json   (or $AGENT_DESKTOP_SYSTEM_SETTINGS)
    Windows: %ProgramData%\\AgentDesktop\\settings.json
    macOS:   /Library/Application Support/AgentDesktop/settings.json

`load_system()` reads the file and, when it names a `provisioning_url`, the copy of that
document cached by the last successful fetch (a local read: fine on the GUI thread).
`refresh()` fetches the URL (blocking, short timeout: run it on a worker), caches it in the
user's config folder and returns the merged result; when the fetch fails the cache is used.
The URL's document has the same format and goes on top of the file; locks add up.

Precedence for each setting: a locked value from IT > the user's own value (QSettings) >
IT's default > the built-in default. A bad file or a bad value is logged as a warning that
names the file and the problem, and ignored (the rest of the file still applies).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from PySide6.QtCore import QSettings, QStandardPaths

from agent_desktop.screenpop import PopWhen
from agent_desktop.session.messages import tr
from agent_desktop.settings import LANGUAGES, MAX_AUTO_ANSWER_S, AppSettings, Theme

log = logging.getLogger("agent_desktop.provisioning")

SYSTEM_ENV = "AGENT_DESKTOP_SYSTEM_SETTINGS"
CACHE_FILE = "provisioning-cache.json"
FETCH_TIMEOUT_S = 3.0
MAX_DOCUMENT_BYTES = 256 * 1024


def locked_tooltip() -> str:
    return tr("Set by your IT department")


class Invalid(ValueError):
    """A provisioned value that is not acceptable (the message says why)."""


# --------------------------------------------------------------------------- validators


def _string(value: object, max_len: int = 512) -> str:
    if not isinstance(value, str):
        raise Invalid(f"expected a string, got {type(value).__name__}")
    if len(value) > max_len:
        raise Invalid(f"longer than {max_len} characters")
    return value.strip()


def _http_url(value: object) -> str:
    text = _string(value, 2048)
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid(f"{text!r} is not an http(s) URL")
    if parts.username or parts.password:
        raise Invalid("a URL must not carry credentials")
    return text.rstrip("/")


def _non_empty(value: object) -> str:
    text = _string(value, 128)
    if not text:
        raise Invalid("must not be empty")
    return text


def _choice(*allowed: str) -> Callable[[object], str]:
    def check(value: object) -> str:
        text = _string(value, 64).lower()
        if text not in allowed:
            raise Invalid(f"{value!r} is not one of {', '.join(allowed)}")
        return text
    return check


def _language(value: object) -> str:
    text = _string(value, 16)
    if text not in LANGUAGES:
        raise Invalid(f"{text!r} is not one of {', '.join(LANGUAGES)}")
    return text


def _registrar(value: object) -> str:
    text = _non_empty(value)
    host, _, port = text.rpartition(":") if ":" in text else (text, "", "")
    if not host or any(c.isspace() for c in text) or "/" in text or (
            port and not (port.isdigit() and 0 < int(port) < 65536)):
        raise Invalid(f"{text!r} is not host or host:port")
    return text


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise Invalid(f"expected true or false, got {value!r}")
    return value


def _delay(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(f"expected a whole number of seconds, got {value!r}")
    if not 0 <= value <= MAX_AUTO_ANSWER_S:
        raise Invalid(f"must be between 0 and {MAX_AUTO_ANSWER_S}")
    return value


def _template(value: object) -> str:
    text = _string(value, 2048)
    if text and not text.lower().startswith(("http://", "https://")):
        raise Invalid("a screen-pop template must start with http:// or https://")
    return text


def _hotkeys(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        raise Invalid(f"expected an object of action: key sequence, got "
                      f"{type(value).__name__}")
    keys: dict[str, str] = {}
    bad: list[str] = []
    for action, seq in value.items():
        if isinstance(seq, str) and seq.strip() and len(seq) <= 64:
            keys[str(action)] = seq.strip()
        else:
            bad.append(str(action))
    if bad:
        raise Invalid(f"bad key sequence for {', '.join(sorted(bad))}", keys)
    return keys


#: name → (validator, QSettings key of the user's own value or None when users have none).
SETTINGS: dict[str, tuple[Callable[[object], Any], str | None]] = {
    "server_url": (_http_url, None),
    "team": (_non_empty, None),
    "sip.transport": (_choice("udp", "tcp", "tls"), None),
    "sip.srtp": (_choice("off", "optional", "mandatory"), None),
    "sip.registrar": (_registrar, None),
    "audio.microphone": (lambda v: _string(v, 512), "audio/microphone"),
    "audio.speaker": (lambda v: _string(v, 512), "audio/speaker"),
    "audio.ringer": (lambda v: _string(v, 512), "audio/ringer"),
    "audio.echo_cancellation": (_bool, "audio/echo_cancellation"),
    "auto_answer": (_bool, "calls/auto_answer"),
    "auto_answer_delay_s": (_delay, "calls/auto_answer_delay_s"),
    "hotkeys": (_hotkeys, "hotkeys"),
    "screen_pop.template": (_template, "screen_pop/template"),
    "screen_pop.when": (_choice(*(w.value for w in PopWhen)), "screen_pop/when"),
    "theme": (_choice(*(t.value for t in Theme)), "ui/theme"),
    "language": (_language, "ui/language"),
    "start_at_login": (_bool, "start/at_login"),
    "start_minimized": (_bool, "start/minimized"),
}
GROUPS = ("sip", "audio", "screen_pop")
#: Locking these needs a value too (an empty, read-only server field would be a dead end).
NEED_VALUE = ("server_url", "team")


# --------------------------------------------------------------------------- the result


@dataclass(frozen=True)
class Provisioning:
    """IT's validated values (by setting name), the locked names, where they came from."""

    values: Mapping[str, Any] = field(default_factory=dict)
    locked: frozenset[str] = frozenset()
    sources: tuple[str, ...] = ()
    provisioning_url: str = ""
    warnings: tuple[str, ...] = ()

    def is_locked(self, name: str) -> bool:
        return name in self.locked

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)

    @property
    def server_url(self) -> str | None:
        return self.values.get("server_url")

    @property
    def team(self) -> str | None:
        return self.values.get("team")

    @property
    def sip_transport(self) -> str | None:
        return self.values.get("sip.transport")

    @property
    def sip_srtp(self) -> str:
        """off / optional / mandatory (default off)."""
        return str(self.values.get("sip.srtp", "off"))

    @property
    def sip_registrar(self) -> str | None:
        return self.values.get("sip.registrar")

    @property
    def hotkeys(self) -> dict[str, str]:
        return dict(self.values.get("hotkeys", {}))

    def merged(self, top: Provisioning) -> Provisioning:
        """`top` over this one: its values win, locks add up."""
        hotkeys = {**self.hotkeys, **top.hotkeys}
        values = {**self.values, **top.values}
        if hotkeys:
            values["hotkeys"] = hotkeys
        return Provisioning(values, self.locked | top.locked, self.sources + top.sources,
                            self.provisioning_url, self.warnings + top.warnings)

    def describe(self) -> dict[str, Any]:
        """For diagnostics (IT's values hold no secrets, but pass them through `redact`)."""
        return {"sources": list(self.sources), "provisioning_url": self.provisioning_url,
                "values": dict(self.values), "locked": sorted(self.locked),
                "warnings": list(self.warnings)}


def parse_document(data: object, source: str) -> Provisioning:
    """Validate one document; every problem becomes a warning naming `source`."""
    warnings: list[str] = []

    def warn(problem: str) -> None:
        text = f"provisioning {source}: {problem}; ignored"
        log.warning("%s", text)
        warnings.append(text)

    if not isinstance(data, dict):
        warn(f"expected a JSON object at the top, got {type(data).__name__}")
        return Provisioning(sources=(source,), warnings=tuple(warnings))
    flat: dict[str, object] = {}
    for key, value in data.items():
        if key in ("locked", "provisioning_url", "version", "comment", "_comment"):
            continue
        if key in GROUPS:
            if not isinstance(value, dict):
                warn(f"{key!r} must be an object, got {type(value).__name__}")
                continue
            for sub, subvalue in value.items():
                flat[f"{key}.{sub}"] = subvalue
        else:
            flat[str(key)] = value
    values: dict[str, Any] = {}
    for name, value in flat.items():
        spec = SETTINGS.get(name)
        if spec is None:
            warn(f"unknown setting {name!r}")
            continue
        try:
            values[name] = spec[0](value)
        except Invalid as exc:
            warn(f"{name}: {exc.args[0]}")
            if len(exc.args) > 1 and exc.args[1]:  # the good part of a partly bad value
                values[name] = exc.args[1]
    locked: set[str] = set()
    raw_locked = data.get("locked", [])
    if not isinstance(raw_locked, list):
        warn(f"'locked' must be a list of setting names, got {type(raw_locked).__name__}")
        raw_locked = []
    for item in raw_locked:
        if not isinstance(item, str):
            warn(f"locked: {item!r} is not a setting name")
        elif item in GROUPS:
            locked.update(n for n in SETTINGS if n.startswith(item + "."))
        elif item in SETTINGS:
            locked.add(item)
        else:
            warn(f"locked: unknown setting {item!r}")
    url = ""
    if "provisioning_url" in data:
        try:
            url = _http_url(data["provisioning_url"])
        except Invalid as exc:
            warn(f"provisioning_url: {exc}")
    return Provisioning(values, frozenset(locked), (source,), url, tuple(warnings))


def _finish(p: Provisioning) -> Provisioning:
    """Drop locks that need a value and have none (with a warning)."""
    dead = [n for n in NEED_VALUE if n in p.locked and not p.values.get(n)]
    texts = tuple(f"provisioning {', '.join(p.sources)}: {n} is locked but not set; not locked"
                  for n in dead)
    for text in texts:
        log.warning("%s", text)
    if not dead:
        return p
    return replace(p, locked=p.locked - set(dead), warnings=p.warnings + texts)


# --------------------------------------------------------------------------- files


def system_settings_path() -> Path:
    forced = os.environ.get(SYSTEM_ENV)
    if forced:
        return Path(forced)
    if sys.platform == "win32":
        base = os.environ.get("PROGRAMDATA") or r"C:\ProgramData"
        return Path(base) / "AgentDesktop" / "settings.json"
    if sys.platform == "darwin":
        return Path("/Library/Application Support/AgentDesktop/settings.json")
    return Path("/etc/agent-desktop/settings.json")


def user_config_dir() -> Path:
    """The user's config folder for this app (where the QSettings file lives on Linux)."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericConfigLocation)
    return Path(base or Path.home() / ".config") / "agent-desktop"


def _parse_text(raw: bytes, source: str) -> Provisioning:
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        text = f"provisioning {source}: not valid JSON ({exc}); ignored"
        log.warning("%s", text)
        return Provisioning(sources=(source,), warnings=(text,))
    return parse_document(data, source)


def load_file(path: Path) -> Provisioning:
    """One settings file; a missing file is no provisioning, a bad one a warning."""
    try:
        if not path.exists():
            log.debug("no system settings at %s", path)
            return Provisioning()
        if not path.is_file():
            raise OSError("not a file")
        if path.stat().st_size > MAX_DOCUMENT_BYTES:
            raise OSError(f"larger than {MAX_DOCUMENT_BYTES} bytes")
        raw = path.read_bytes()
    except OSError as exc:
        text = f"provisioning {path}: cannot be read ({exc}); ignored"
        log.warning("%s", text)
        return Provisioning(sources=(str(path),), warnings=(text,))
    return _parse_text(raw, str(path))


def _cached(url: str, cache_dir: Path) -> Provisioning | None:
    path = cache_dir / CACHE_FILE
    try:
        cache = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("provisioning cache %s: unreadable (%s); ignored", path, exc)
        return None
    if not isinstance(cache, dict) or cache.get("url") != url:
        return None
    doc = parse_document(cache.get("document"), f"{url} (cached in {path})")
    return replace(doc, provisioning_url="")


def load_system(path: Path | None = None, cache_dir: Path | None = None) -> Provisioning:
    """The system file, with the cached copy of its URL's document on top (no network)."""
    base = load_file(path or system_settings_path())
    if base.provisioning_url:
        cached = _cached(base.provisioning_url, cache_dir or user_config_dir())
        if cached is not None:
            base = base.merged(cached)
    return _finish(base)


def fetch(url: str, timeout: float = FETCH_TIMEOUT_S) -> object:
    """GET the provisioning document (JSON). Raises on any failure."""
    import requests

    r = requests.get(url, timeout=timeout, headers={"Accept": "application/json"},
                     allow_redirects=True, stream=True)
    try:
        r.raise_for_status()
        raw = r.raw.read(MAX_DOCUMENT_BYTES + 1, decode_content=True)
    finally:
        r.close()
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise ValueError(f"larger than {MAX_DOCUMENT_BYTES} bytes")
    return json.loads(raw.decode("utf-8-sig"))


def refresh(file_part: Path | None = None, cache_dir: Path | None = None,
            timeout: float = FETCH_TIMEOUT_S) -> Provisioning:
    """The system file + its URL's document, fetched now (blocking: call on a worker).
    A failed fetch falls back to the cached copy; a good one replaces the cache."""
    base = load_file(file_part or system_settings_path())
    url = base.provisioning_url
    if not url:
        return _finish(base)
    cdir = cache_dir or user_config_dir()
    try:
        data = fetch(url, timeout)
    except Exception as exc:
        log.warning("provisioning URL %s: fetch failed (%s); using the cached copy",
                    url, type(exc).__name__ if not str(exc) else exc)
        cached = _cached(url, cdir)
        return _finish(base.merged(cached) if cached is not None else base)
    doc = parse_document(data, url)
    if not isinstance(data, dict):  # keep the last good copy
        cached = _cached(url, cdir)
        return _finish(base.merged(cached) if cached is not None else base)
    try:
        cdir.mkdir(parents=True, exist_ok=True)
        tmp = cdir / (CACHE_FILE + ".tmp")
        tmp.write_text(json.dumps({"url": url, "fetched_at": time.time(), "document": data},
                                  indent=1), "utf-8")
        tmp.replace(cdir / CACHE_FILE)
    except OSError as exc:
        log.warning("provisioning cache in %s not written: %s", cdir, exc)
    return _finish(base.merged(replace(doc, provisioning_url="")))


# --------------------------------------------------------------------------- applying


def resolve(cli: str | None, name: str, prov: Provisioning, default: str = "") -> str:
    """A command-line value vs IT's: locked → IT's (the command line is ignored, logged);
    else the command line, else IT's, else `default`."""
    value = prov.get(name)
    if prov.is_locked(name) and value:
        if cli and cli.rstrip("/") != str(value).rstrip("/"):
            log.warning("command line %s=%s ignored: %s is locked by IT to %s", name, cli,
                        name, value)
        return str(value)
    return cli or (str(value) if value else default)


def _apply(s: AppSettings, name: str, value: Any) -> AppSettings:
    if name == "audio.echo_cancellation":
        return replace(s, echo_cancellation=value)
    if name.startswith("audio."):
        return replace(s, audio=replace(s.audio, **{name[6:]: value}))
    if name == "screen_pop.template":
        return replace(s, screen_pop=replace(s.screen_pop, template=value))
    if name == "screen_pop.when":
        return replace(s, screen_pop=replace(s.screen_pop, when=PopWhen(value)))
    if name == "theme":
        return replace(s, theme=Theme(value))
    if name in ("auto_answer", "auto_answer_delay_s", "language", "start_at_login",
                "start_minimized"):
        return replace(s, **{name: value})
    return s


def _user_has(q: QSettings, key: str) -> bool:
    return q.contains(key) or (key == "hotkeys" and bool(_group_keys(q, key)))


def _group_keys(q: QSettings, group: str) -> list[str]:
    q.beginGroup(group)
    try:
        return list(q.childKeys())
    finally:
        q.endGroup()


def effective_settings(user: QSettings, prov: Provisioning) -> AppSettings:
    """The user's settings with IT's on top where locked and below where the user has none."""
    s = AppSettings.load(user)
    for name, value in prov.values.items():
        key = SETTINGS[name][1]
        if key is None or name == "hotkeys":
            continue
        if prov.is_locked(name) or not _user_has(user, key):
            s = _apply(s, name, value)
    default = AppSettings()
    for name in prov.locked - set(prov.values):  # locked at the built-in default
        s = _apply(s, name, _default_of(default, name))
    return s


def _default_of(s: AppSettings, name: str) -> Any:
    if name == "audio.echo_cancellation":
        return s.echo_cancellation
    if name.startswith("audio."):
        return getattr(s.audio, name[6:])
    if name == "screen_pop.template":
        return s.screen_pop.template
    if name == "screen_pop.when":
        return s.screen_pop.when.value
    if name == "theme":
        return s.theme.value
    return getattr(s, name, None)


def effective_hotkeys(user: QSettings, prov: Provisioning) -> dict[str, str]:
    """action → key sequence: IT's, with the user's own on top unless hotkeys are locked."""
    keys = prov.hotkeys
    if not prov.is_locked("hotkeys"):
        user.beginGroup("hotkeys")
        try:
            for action in user.childKeys():
                keys[action] = str(user.value(action, ""))
        finally:
            user.endGroup()
    return keys


def enforce(s: AppSettings, prov: Provisioning) -> AppSettings:
    """`s` with every locked value put back (whatever a dialog produced)."""
    default = AppSettings()
    for name in prov.locked:
        if SETTINGS[name][1] is not None and name != "hotkeys":
            s = _apply(s, name, prov.get(name, _default_of(default, name)))
    return s


def save_user_settings(s: AppSettings, q: QSettings, prov: Provisioning) -> None:
    """Save the agent's settings, but not what IT decides: locked values, and IT's defaults
    the agent never changed (so that a new default from IT still reaches them)."""
    before = {key: q.contains(key) for _, key in SETTINGS.values() if key}
    s.save(q)
    effective = AppSettings.load(q)
    for name, (_, key) in SETTINGS.items():
        if key is None or name == "hotkeys":
            continue
        drop = prov.is_locked(name) or (
            name in prov.values and not before.get(key, False)
            and _default_of(effective, name) == prov.values[name])
        if drop:
            q.remove(key)
    q.sync()


def lock_line_edit(edit: Any, locked: bool, value: str | None = None) -> None:
    """A login field set by IT: its value, read-only, and a tooltip saying who set it."""
    if locked and value is not None:
        edit.setText(value)
    edit.setReadOnly(locked)
    edit.setToolTip(locked_tooltip() if locked else "")
    edit.setAccessibleDescription(locked_tooltip() if locked else "")


def lock_login_window(login: Any, prov: Provisioning) -> None:
    """The server URL and team, when IT locked them: shown read-only with the tooltip."""
    lock_line_edit(login.server_edit, prov.is_locked("server_url"), prov.server_url)
    lock_line_edit(login.team_edit, prov.is_locked("team"), prov.team)
