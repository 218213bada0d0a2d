"""The server-sent event stream (`GET /api/v1/events`, docs/api.md "The event stream").

`EventStream` reads on its own thread (a stream holds its connection for hours; it must not take
one of the worker pool's threads) and hands every event to the GUI thread through a queued
signal to its own slot, which then emits the public signals. So every receiver runs on the GUI
thread, whatever it is (lambda, bound method).

Resume: the SSE last-event-ID is kept across reconnects and sent as `Last-Event-ID`; the server
then delivers every missed event exactly once, or `resync` when we were too far behind.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import socket
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6 import QtCore
from PySide6.QtCore import QObject, Signal, Slot

from . import errors as e
from .errors import END_REASON_CODES

if TYPE_CHECKING:
    from .client import ApiClient  # requests: imported when the first client is made

log = logging.getLogger("agent_desktop.session.events")

#: `session.ended` reasons → the code the ended token answers with (docs/api.md).


@dataclass(frozen=True)
class SseEvent:
    type: str
    data: str
    id: str


class SseParser:
    """The WHATWG event-stream interpretation, one line at a time (without the trailing EOL)."""

    def __init__(self) -> None:
        self.last_id = ""
        self.retry_ms: int | None = None
        self.comments = 0
        self._type = ""
        self._data: list[str] = []

    def feed(self, line: str) -> SseEvent | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            self.comments += 1
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._type = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            if "\0" not in value:
                self.last_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry_ms = int(value)
        # Any other field is ignored, as the spec says.
        return None

    def _dispatch(self) -> SseEvent | None:
        data, etype = self._data, self._type
        self._data, self._type = [], ""
        if not data:
            return None
        return SseEvent(etype or "message", "\n".join(data), self.last_id)


def split_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """Lines of an event stream: CRLF, LF or CR, even when a CRLF straddles two chunks.

    (requests' iter_lines splits a chunk-final CR from its LF into an extra empty line, which
    would dispatch an event early, and str.splitlines splits on U+2028 inside JSON strings.)
    """
    buf = b""
    pending_cr = False
    for chunk in chunks:
        if not chunk:
            continue
        if pending_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]
        pending_cr = False
        buf += chunk
        while True:
            cr, lf = buf.find(b"\r"), buf.find(b"\n")
            if cr == -1 and lf == -1:
                break
            if cr != -1 and (lf == -1 or cr < lf):
                line, buf = buf[:cr], buf[cr + 1:]
                if buf.startswith(b"\n"):
                    buf = buf[1:]
                elif not buf:
                    pending_cr = True
            else:
                line, buf = buf[:lf], buf[lf + 1:]
            yield line.decode("utf-8", errors="replace")
    if buf:
        yield buf.decode("utf-8", errors="replace")


def _chunks(response: Any) -> Iterator[bytes]:
    """The body as it arrives. requests' iter_content(n) waits for n bytes (or the end) on a
    stream that is not chunked, which would hold events back; read1 returns what is there."""
    raw = response.raw
    if getattr(raw, "chunked", False) and hasattr(raw, "read_chunked"):
        yield from raw.read_chunked(decode_content=True)
        return
    while True:
        data = raw.read1(65536) if hasattr(raw, "read1") else raw.read(1)
        if not data:
            return
        yield data


def _abort(response: Any) -> None:
    """Close a streaming response from another thread so its blocked read returns now.

    close() alone does not wake a thread blocked in recv() on Linux; shutdown() does.
    """
    raw = getattr(response, "raw", None)
    sock = getattr(getattr(raw, "_connection", None), "sock", None)
    if sock is None:
        fp = getattr(getattr(getattr(raw, "_fp", None), "fp", None), "raw", None)
        sock = getattr(fp, "_sock", None)
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    try:
        response.close()
    except Exception:  # the reader may be mid-read; closing is best effort
        log.debug("closing the event stream failed", exc_info=True)


_RETIRING: set[EventStream] = set()  # disposed streams whose reader is still finishing


class EventStream(QObject):
    """Reads the event stream and emits each event on the GUI thread.

    Signals:
      event_received(type, data, id): every event but `resync`, known or not (`data` is a dict);
      resync_needed(id): events were missed; refetch /me (or the board);
      connected(); connection_lost(error): will reconnect with backoff;
      ended(code, detail): the session is over (401 or our own `session.ended`); no reconnect;
      finished(): the reader thread has ended (after stop() or ended).
    """

    # `object` (not dict) so PySide hands over the Python dict as is instead of converting it
    # through QVariantMap; `qlonglong` because event ids outgrow a 32-bit int.
    event_received = Signal(str, object, "qlonglong")  # type: ignore[arg-type]
    resync_needed = Signal("qlonglong")  # type: ignore[arg-type]
    connected = Signal()
    connection_lost = Signal(object)
    ended = Signal(str, str)
    finished = Signal()

    _relay = Signal(int, str, object)

    def __init__(
        self,
        client: ApiClient,
        *,
        last_event_id: int | None,
        session_id: int | None = None,
        parent: QObject | None = None,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 30.0,
        read_timeout_s: float = 60.0,
    ) -> None:
        super().__init__(parent)
        self._client = client
        self._session_id = session_id
        self._initial = backoff_initial_s
        self._max = backoff_max_s
        # Keep-alives come every 15 s; a silent minute means a dead connection (e.g. NAT drop).
        self._read_timeout = read_timeout_s
        self._last_id = "" if last_event_id is None else str(last_event_id)
        self._lock = threading.Lock()
        self._response: Any = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._generation = 0
        self._stopped_by_caller = False
        self.connections = 0
        self._relay.connect(self._on_relay, QtCore.Qt.ConnectionType.QueuedConnection)

    # ----------------------------------------------------------------- GUI thread

    @property
    def last_event_id(self) -> int | None:
        with self._lock:
            return int(self._last_id) if self._last_id.isdigit() else None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._generation += 1
        self._stopped_by_caller = False
        self._stop.clear()
        self._wake.clear()
        self._thread = threading.Thread(target=self._run, args=(self._generation,),
                                        name="event-stream", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 0.0) -> None:
        """End the stream now: closes the connection under the reader's feet. The reader
        thread ends on its own (`finished`); nothing waits for it unless `timeout_s` > 0
        (a reader still connecting cannot be cut short: waiting would freeze the caller)."""
        self._stopped_by_caller = True
        self._stop.set()
        self._wake.set()
        with self._lock:
            response = self._response
        if response is not None:
            _abort(response)
        if self._thread is not None and timeout_s > 0:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.warning("event stream reader did not stop within %.1f s", timeout_s)

    def dispose(self) -> None:
        """Stop, and delete this object once its reader has finished (never under its feet:
        the reader still hands its last words to this object). Until then it is held here,
        apart from its parent, whose end must not take it along."""
        self.stop()
        if self.running:
            self.setParent(None)
            _RETIRING.add(self)
            self.finished.connect(self._retired)
        else:
            self.deleteLater()

    @Slot()
    def _retired(self) -> None:
        _RETIRING.discard(self)
        self.deleteLater()

    def reconnect_now(self) -> None:
        """Drop the current connection and reconnect at once (e.g. the network changed)."""
        self._wake.set()
        with self._lock:
            response = self._response
        if response is not None:
            _abort(response)

    @Slot(int, str, object)
    def _on_relay(self, generation: int, kind: str, payload: object) -> None:
        if kind == "finished":
            if generation == self._generation:
                self.finished.emit()
            return
        if generation != self._generation or self._stopped_by_caller:
            return  # a stopped or older reader: its news is stale
        if kind == "event":
            assert isinstance(payload, tuple)
            etype, data, eid = payload
            if etype == "resync":
                self.resync_needed.emit(eid)
            else:
                self.event_received.emit(etype, data, eid)
        elif kind == "connected":
            self.connected.emit()
        elif kind == "lost":
            self.connection_lost.emit(payload)
        elif kind == "ended":
            assert isinstance(payload, tuple)
            self.ended.emit(*payload)

    # ----------------------------------------------------------------- reader thread

    def _run(self, generation: int) -> None:
        delay = self._initial
        try:
            while not self._stop.is_set():
                # Cleared before connecting, so a reconnect_now() during the read cuts the wait.
                self._wake.clear()
                outcome = self._read_once(generation)
                if outcome == "stop":
                    return
                if outcome == "eof":
                    # A clean end (server restart or our session ended): the server's `retry:`.
                    wait = self._retry_hint or self._initial
                else:
                    wait = delay
                    delay = min(delay * 2, self._max)
                if outcome == "events":
                    delay = self._initial
                # Jitter so that a restarted server is not hit by every agent at once.
                self._wake.wait(wait * random.uniform(0.8, 1.2))  # noqa: S311
        finally:
            with contextlib.suppress(RuntimeError):  # the stream object is already gone
                self._relay.emit(generation, "finished", None)

    _retry_hint: float | None = None

    def _read_once(self, generation: int) -> str:
        """One connection. Returns stop | eof | events (failed after some events) | error."""
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-store"}
        with self._lock:
            if self._last_id:
                headers["Last-Event-ID"] = self._last_id
        try:
            response = self._client.send("GET", "/events", stream=True, headers=headers,
                                         timeout=(self._client.timeout[0], self._read_timeout))
        except e.AuthenticationError as exc:
            self._relay.emit(generation, "ended", (exc.code, exc.detail))
            return "stop"
        except (e.ForbiddenError, e.NotFoundError) as exc:
            # Not something a reconnect fixes.
            self._relay.emit(generation, "ended", (exc.code, exc.detail))
            return "stop"
        except e.ApiError as exc:
            if self._stop.is_set():
                return "stop"
            log.info("event stream connect failed: %s", exc.code)
            self._relay.emit(generation, "lost", exc)
            return "error"
        with self._lock:
            self._response = response
        if self._stop.is_set():
            _abort(response)
            return "stop"
        self.connections += 1
        log.info("event stream connected (Last-Event-ID %s)", headers.get("Last-Event-ID", "-"))
        self._relay.emit(generation, "connected", None)
        parser = SseParser()
        with self._lock:
            parser.last_id = self._last_id
        got_events = False
        try:
            for line in split_lines(_chunks(response)):
                ev = parser.feed(line)
                if line == "":
                    # The spec moves the last event ID at every dispatch, even an empty one.
                    with self._lock:
                        self._last_id = parser.last_id
                if parser.retry_ms is not None:
                    self._retry_hint = min(parser.retry_ms / 1000, self._max)
                if ev is None:
                    continue
                got_events = True
                if self._deliver(generation, ev):
                    return "stop"
            return "stop" if self._stop.is_set() else "eof"
        except Exception as exc:  # requests, urllib3 or socket errors, or a close under us
            if self._stop.is_set():
                return "stop"
            log.info("event stream lost: %s", type(exc).__name__)
            self._relay.emit(generation, "lost",
                             e.NetworkError(e.NET_OTHER, detail=type(exc).__name__,
                                            server=self._client.base_url))
            return "events" if got_events else "error"
        finally:
            with self._lock:
                self._response = None
            response.close()

    def _deliver(self, generation: int, ev: SseEvent) -> bool:
        """Hand one event to the GUI thread; True when it ends our session."""
        try:
            data: object = json.loads(ev.data) if ev.data else {}
        except ValueError:
            data = None
        if not isinstance(data, dict):
            log.warning("event %s has non-object data; passed on raw", ev.type)
            data = {"raw": ev.data}
        eid = int(ev.id) if ev.id.isdigit() else -1
        self._relay.emit(generation, "event", (ev.type, data, eid))
        if (ev.type == "session.ended" and self._session_id is not None
                and data.get("session_id") == self._session_id):
            reason = data.get("reason")
            code = END_REASON_CODES.get(reason if isinstance(reason, str) else "",
                                        "session_ended")
            detail = data.get("detail")
            self._relay.emit(generation, "ended", (code, detail if isinstance(detail, str)
                                                   else ""))
            self._stop.set()
            return True
        return False
