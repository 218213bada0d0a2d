"""The session heartbeat: keeps this terminal's session alive at the server's interval.

Each beat runs through `run_in_worker`, so the GUI thread never waits on the network. A network
or server failure is reported and retried (sooner than the interval: the session survives
`session_timeout_s`, 90 s in the demo, so a server that is down for a minute during a call must
find us again quickly); only a 401 ends the heartbeat, with the server's code.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from . import errors as e
from .models import HeartbeatReply
from .worker import run_in_worker

if TYPE_CHECKING:
    from .client import ApiClient  # requests: imported when the first client is made

log = logging.getLogger("agent_desktop.session.heartbeat")

#: Retry delay after a failed beat (never longer than the server's interval).
RETRY_AFTER_FAILURE_S = 5.0


class Heartbeat(QObject):
    """Signals: beat_ok(HeartbeatReply), beat_failed(ApiError), session_ended(code, detail),
    refetch_needed(state_version) when the server's state_version moved."""

    beat_ok = Signal(object)
    beat_failed = Signal(object)
    session_ended = Signal(str, str)
    refetch_needed = Signal(int)

    def __init__(
        self,
        client: ApiClient,
        *,
        interval_s: float,
        state_version: int | None = None,
        parent: QObject | None = None,
        timer_factory: Callable[[QObject], QTimer] = QTimer,
        retry_after_failure_s: float = RETRY_AFTER_FAILURE_S,
    ) -> None:
        super().__init__(parent)
        self._client = client
        self._interval_s = max(1.0, float(interval_s))
        self._retry_s = retry_after_failure_s
        self._state_version = state_version
        self._timer = timer_factory(self)
        self._timer.setSingleShot(True)  # re-armed after each answer: beats never overlap
        self._timer.timeout.connect(self.beat_now)
        self._in_flight = False
        self._running = False
        self.failures = 0  # consecutive

    @property
    def interval_s(self) -> float:
        return self._interval_s

    @property
    def timer(self) -> QTimer:
        return self._timer

    @property
    def running(self) -> bool:
        return self._running

    def start(self) -> None:
        self._running = True
        self._arm(self._interval_s)

    def stop(self) -> None:
        self._running = False
        self._timer.stop()

    def _arm(self, seconds: float) -> None:
        if self._running:
            self._timer.start(int(seconds * 1000))

    @Slot()
    def beat_now(self) -> None:
        """Send one heartbeat now (the timer calls this; tests and "reconnect" buttons too)."""
        if self._in_flight:
            return
        self._in_flight = True
        self._timer.stop()
        run_in_worker(self._client.heartbeat, on_success=self._on_ok,
                      on_failure=self._on_failed, parent=self)

    def _on_ok(self, reply: HeartbeatReply) -> None:
        self._in_flight = False
        if self.failures:
            log.info("heartbeat back after %d failures", self.failures)
        self.failures = 0
        if reply.heartbeat_interval_s > 0:
            self._interval_s = float(reply.heartbeat_interval_s)
        moved = self._state_version is not None and reply.state_version != self._state_version
        self._state_version = reply.state_version
        self._arm(self._interval_s)
        self.beat_ok.emit(reply)
        if moved:
            self.refetch_needed.emit(reply.state_version)

    def _on_failed(self, error: BaseException) -> None:
        self._in_flight = False
        if isinstance(error, e.AuthenticationError):
            log.info("heartbeat: session over (%s)", error.code)
            self.stop()
            self.session_ended.emit(error.code, error.detail)
            return
        self.failures += 1
        log.info("heartbeat failed (%d in a row): %s",
                 self.failures, getattr(error, "code", type(error).__name__))
        wait = min(self._interval_s, self._retry_s)
        if isinstance(error, e.ApiError) and error.retry_after:
            wait = min(self._interval_s, max(wait, error.retry_after))
        self._arm(wait)
        if not isinstance(error, e.ApiError):
            # A bug rather than the network; still keep beating, but make it loud.
            log.error("heartbeat raised unexpectedly", exc_info=error)
            error = e.ApiError("client_error", detail=type(error).__name__)
        self.beat_failed.emit(error)

    def set_state_version(self, version: int) -> None:
        """After a /me refetch: the version the UI now shows."""
        self._state_version = version
