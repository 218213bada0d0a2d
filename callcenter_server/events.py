"""Fan-out of committed events to the event-stream subscribers of this process.

Events are written to the `events` table inside the transaction that caused them and handed to
the bus after commit. The bus keeps the newest `capacity` events in memory: a client resuming
with `Last-Event-ID` inside that window gets exactly what it missed; one that fell further behind
gets a `resync` event and must refetch its snapshot.

Several server instances on one PostgreSQL: each has its own bus; the cluster listener
(cluster.py) publishes the events the other instances committed, in id order.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class StoredEvent:
    id: int
    created_at: float
    team_id: int | None
    agent_id: int | None
    type: str
    data: dict[str, Any]

    def sse(self) -> str:
        return f"id: {self.id}\nevent: {self.type}\ndata: {json.dumps(self.data)}\n\n"


Visible = Callable[[StoredEvent], bool]


class EventBus:
    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._ring: deque[StoredEvent] = deque(maxlen=capacity)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        # One future per "generation": every waiter of the generation wakes when it resolves.
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind to the server's event loop (subscribers wait there)."""
        self._loop = loop

    def preload(self, events: Iterable[StoredEvent]) -> None:
        """Fill the window from the database at start, so resume survives a restart."""
        with self._lock:
            self._ring.extend(sorted(events, key=lambda e: e.id))

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """End every stream (server shutting down): waiters wake and see `closed`."""
        self._closed = True
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake)

    @property
    def newest_id(self) -> int:
        with self._lock:
            return self._ring[-1].id if self._ring else 0

    def publish(self, events: list[StoredEvent]) -> None:
        """Called after commit, from any thread, in commit order. Events the bus already has
        (an id not above the newest) are dropped: with several server instances an event can
        arrive both from the committing thread and from the database listener."""
        if not events:
            return
        with self._lock:
            newest = self._ring[-1].id if self._ring else 0
            fresh = [e for e in events if e.id > newest]
            if not fresh:
                return
            self._ring.extend(fresh)
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def after(self, last_id: int) -> list[StoredEvent] | None:
        """Events newer than `last_id`, or None when the window no longer reaches back there."""
        with self._lock:
            if not self._ring:
                return [] if last_id == 0 else None
            first, newest = self._ring[0].id, self._ring[-1].id
            if last_id > newest or (last_id < first - 1 and len(self._ring) == self.capacity):
                return None
            if last_id >= newest:
                return []
            return [e for e in self._ring if e.id > last_id]

    async def wait(self, seconds: float) -> bool:
        """Wait for the next publish; False when `seconds` passed without one."""
        if self._waiter is None:
            self._waiter = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(asyncio.shield(self._waiter), seconds)
        except TimeoutError:
            return False
        return True
