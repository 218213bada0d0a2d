"""The agent's password in the system keyring (never the token, never a plaintext file).

Service "agent-desktop", user name "<server>|<team>|<agent>". When no keyring backend works
(a headless box, a locked D-Bus, keyring's fail backend), the password is kept in this process
only and `remembered` is False, with a message the login window shows. Keyring calls may block
on D-Bus: call these methods through `run_in_worker`.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .messages import tr, tr_noop

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

# keyring is imported where it is used (its import and backend discovery cost tens of ms and
# megabytes that the login window does not need; the app asks it from a worker thread).

log = logging.getLogger("agent_desktop.session.credentials")

SERVICE = "agent-desktop"
NOT_REMEMBERED = tr_noop("No password store is available on this computer: your password "
                         "won't be remembered after you quit.")  # tr() at use


@dataclass(frozen=True)
class StoreResult:
    remembered: bool
    message: str = ""


def credential_key(server: str, team: str | None, agent: str) -> str:
    return f"{server.rstrip('/')}|{team or ''}|{agent}"


class CredentialStore:
    def __init__(self, backend: KeyringBackend | None = None) -> None:
        self._backend = backend
        self._memory: dict[str, str] = {}
        self._works: bool | None = None

    def _keyring(self) -> KeyringBackend | None:
        import keyring
        from keyring.backends import fail, null

        backend = self._backend if self._backend is not None else keyring.get_keyring()
        # The fail backend raises, the null one silently drops: neither remembers anything.
        if isinstance(backend, fail.Keyring | null.Keyring):
            return None
        return backend

    @property
    def backend_name(self) -> str:
        backend = self._keyring()
        return type(backend).__module__ + "." + type(backend).__name__ if backend else "memory"

    def save(self, server: str, team: str | None, agent: str, password: str) -> StoreResult:
        key = credential_key(server, team, agent)
        backend = self._keyring()
        if backend is not None:
            from keyring.errors import KeyringError

            try:
                backend.set_password(SERVICE, key, password)
            except KeyringError as exc:
                log.warning("keyring %s refused the password: %s", type(backend).__name__,
                            type(exc).__name__)
            else:
                self._memory.pop(key, None)
                self._works = True
                return StoreResult(True)
        self._works = False
        self._memory[key] = password
        return StoreResult(False, tr(NOT_REMEMBERED))

    def load(self, server: str, team: str | None, agent: str) -> str | None:
        key = credential_key(server, team, agent)
        if key in self._memory:
            return self._memory[key]
        backend = self._keyring()
        if backend is None:
            return None
        from keyring.errors import KeyringError

        try:
            return backend.get_password(SERVICE, key)
        except KeyringError as exc:
            log.warning("keyring read failed: %s", type(exc).__name__)
            return None

    def forget(self, server: str, team: str | None, agent: str) -> None:
        key = credential_key(server, team, agent)
        self._memory.pop(key, None)
        backend = self._keyring()
        if backend is None:
            return
        from keyring.errors import KeyringError

        # Nothing stored (PasswordDeleteError) or no store: forgotten either way.
        with contextlib.suppress(KeyringError):
            backend.delete_password(SERVICE, key)

    @property
    def remembered(self) -> bool:
        """Whether the last save reached a real keyring (None-safe: False before any save)."""
        return bool(self._works)
