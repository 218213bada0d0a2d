"""CredentialStore with an in-memory keyring, keyring's fail backend and a broken backend."""

from __future__ import annotations

from keyring.backend import KeyringBackend
from keyring.backends import fail
from keyring.errors import PasswordSetError

from agent_desktop.session.credentials import SERVICE, CredentialStore, credential_key


class MemoryKeyring(KeyringBackend):
    # Below keyring's fail backend (0): defining a KeyringBackend subclass registers it, and a
    # positive priority would make keyring pick it for every later test in the process.
    priority = -1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.items.pop((service, username), None)


class BrokenKeyring(MemoryKeyring):
    def set_password(self, service: str, username: str, password: str) -> None:
        raise PasswordSetError("locked")


def test_keyring_keeps_the_password_under_server_team_agent() -> None:
    ring = MemoryKeyring()
    store = CredentialStore(ring)
    result = store.save("https://cc.example:8443/", "demo", "1001", "pw1")
    assert result.remembered
    assert store.remembered
    assert ring.items == {(SERVICE, "https://cc.example:8443|demo|1001"): "pw1"}
    assert CredentialStore(ring).load("https://cc.example:8443", "demo", "1001") == "pw1"
    store.forget("https://cc.example:8443", "demo", "1001")
    assert ring.items == {}
    assert credential_key("s", None, "admin") == "s||admin"


def _fail() -> KeyringBackend:
    return fail.Keyring()  # type: ignore[no-untyped-call]


def test_fail_backend_keeps_it_in_memory_and_says_so() -> None:
    store = CredentialStore(_fail())
    result = store.save("http://s", "demo", "1001", "pw1")
    assert not result.remembered
    assert "won't be remembered" in result.message
    assert store.load("http://s", "demo", "1001") == "pw1"  # for one-click re-login
    assert CredentialStore(_fail()).load("http://s", "demo", "1001") is None
    assert store.backend_name == "memory"


def test_a_backend_that_refuses_falls_back_to_memory() -> None:
    store = CredentialStore(BrokenKeyring())
    result = store.save("http://s", "demo", "1001", "pw1")
    assert not result.remembered
    assert store.load("http://s", "demo", "1001") == "pw1"
