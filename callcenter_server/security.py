"""Password hashing, session tokens and login rate limiting."""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections import deque
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, delete, func, insert, select

from .db.tables import LoginFailure


@dataclass(frozen=True)
class HashProfile:
    """argon2id cost. The default is OWASP's minimum (19 MiB, t=2)."""

    time_cost: int = 2
    memory_cost_kib: int = 19 * 1024
    parallelism: int = 1


#: For benchmarks that create thousands of agents: still argon2id, far cheaper.
FAST_PROFILE = HashProfile(time_cost=1, memory_cost_kib=512, parallelism=1)


class Passwords:
    def __init__(self, profile: HashProfile | None = None) -> None:
        p = profile or HashProfile()
        self._hasher = PasswordHasher(
            time_cost=p.time_cost, memory_cost=p.memory_cost_kib, parallelism=p.parallelism
        )
        # Verified against when the account does not exist, so both paths take as long.
        self._dummy = self._hasher.hash(secrets.token_hex(16))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored_hash: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash or self._dummy, password) and bool(stored_hash)
        except (VerificationError, InvalidHashError):
            return False


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    # Tokens carry 256 random bits, so a plain digest is enough to make a stolen table useless.
    return hashlib.sha256(token.encode()).hexdigest()


class LoginLimiter:
    """Counts failed logins in a sliding window per key; a key over its limit gets 429.

    In this process's memory: the SQLite server (one instance). On PostgreSQL the server uses
    DbLoginLimiter, shared by every instance on the database.

    Keys are the (team, agent) pair and the client address, with separate limits, so one
    agent's typos do not lock out a whole office behind one NAT address.
    """

    def __init__(
        self, per_agent: int = 5, per_ip: int = 50, window_s: float = 60.0
    ) -> None:
        self.per_agent = per_agent
        self.per_ip = per_ip
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures.setdefault(key, deque())
        while q and q[0] <= now - self.window_s:
            q.popleft()
        return q

    def retry_after(self, agent_key: str, ip: str, now: float) -> int | None:
        """Seconds to wait if either key is over its limit, else None."""
        with self._lock:
            waits = []
            for key, limit in ((f"a:{agent_key}", self.per_agent), (f"i:{ip}", self.per_ip)):
                q = self._recent(key, now)
                if len(q) >= limit:
                    waits.append(q[0] + self.window_s - now)
            return max(1, int(max(waits)) + 1) if waits else None

    def failed(self, agent_key: str, ip: str, now: float) -> None:
        with self._lock:
            for key in (f"a:{agent_key}", f"i:{ip}"):
                self._recent(key, now).append(now)
            if len(self._failures) > 100_000:  # bound memory under a spray of random names
                self._failures = {k: v for k, v in self._failures.items() if v}

    def succeeded(self, agent_key: str) -> None:
        with self._lock:
            self._failures.pop(f"a:{agent_key}", None)


class DbLoginLimiter(LoginLimiter):
    """The same limits, counted in the database (`login_failures`): every server instance on
    one PostgreSQL sees the failures made through the others. Two logins checked at the same
    moment on two instances may both pass the check: the limit can be overshot by the number
    of instances, never multiplied by it."""

    def __init__(self, engine: Engine, per_agent: int = 5, per_ip: int = 50,
                 window_s: float = 60.0) -> None:
        super().__init__(per_agent, per_ip, window_s)
        self.engine = engine

    @staticmethod
    def _key(key: str) -> str:
        return key[:200]

    def retry_after(self, agent_key: str, ip: str, now: float) -> int | None:
        limits = {self._key(f"a:{agent_key}"): self.per_agent, self._key(f"i:{ip}"): self.per_ip}
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(LoginFailure.key, func.count(), func.min(LoginFailure.at))
                .where(LoginFailure.key.in_(list(limits)),
                       LoginFailure.at > now - self.window_s)
                .group_by(LoginFailure.key)).all()
        waits = [oldest + self.window_s - now for key, count, oldest in rows
                 if count >= limits[key]]
        return max(1, int(max(waits)) + 1) if waits else None

    def failed(self, agent_key: str, ip: str, now: float) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(LoginFailure).where(LoginFailure.at <= now - self.window_s))
            conn.execute(insert(LoginFailure), [
                {"key": self._key(f"a:{agent_key}"), "at": now},
                {"key": self._key(f"i:{ip}"), "at": now}])

    def succeeded(self, agent_key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(LoginFailure).where(
                LoginFailure.key == self._key(f"a:{agent_key}")))
