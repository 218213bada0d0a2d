"""A small Asterisk Manager Interface (AMI) client on asyncio, with reconnect and backoff.

The maintained Python AMI libraries are either unmaintained (panoramisk, last release 2021) or
synchronous; the protocol is simple enough to own: `Key: Value` lines, a blank line ends a
message, responses carry our ActionID, and list actions end with an `EventList: Complete` event.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger("callcenter.ami")

Message = dict[str, str]


class AmiError(Exception):
    """Asterisk answered `Response: Error`."""

    def __init__(self, action: str, message: Message) -> None:
        super().__init__(f"{action}: {message.get('Message', 'error')}")
        self.message = message


class AmiUnavailable(ConnectionError):
    """Not connected to Asterisk (or the connection dropped while waiting)."""


def encode(fields: dict[str, str | list[str]]) -> bytes:
    lines = []
    for key, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            if "\r" in item or "\n" in item:
                raise ValueError(f"AMI field {key} must be one line")
            lines.append(f"{key}: {item}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def parse(block: str) -> Message:
    """One message; repeated keys (Command output, Variable) are joined with newlines."""
    msg: Message = {}
    for line in block.split("\r\n"):
        if not line:
            continue
        key, sep, value = line.partition(":")
        if not sep:
            key, value = "Output", line
        value = value[1:] if value.startswith(" ") else value
        msg[key] = f"{msg[key]}\n{value}" if key in msg else value
    return msg


@dataclass
class _Pending:
    future: asyncio.Future[list[Message]]
    is_list: bool
    items: list[Message]


EventHandler = Callable[[Message], Awaitable[None]]


class AmiClient:
    """Keeps one AMI connection up. `on_event` sees every event; `on_connect` runs after login."""

    def __init__(
        self, host: str, port: int, username: str, secret: str, *,
        on_event: EventHandler | None = None,
        on_connect: Callable[[], Awaitable[None]] | None = None,
        on_disconnect: Callable[[], Awaitable[None]] | None = None,
        min_backoff_s: float = 0.2, max_backoff_s: float = 5.0, action_timeout_s: float = 10.0,
    ) -> None:
        self.host, self.port = host, port
        self._username, self._secret = username, secret
        self._on_event = on_event
        self._on_connect = on_connect
        self._on_disconnect = on_disconnect
        self.min_backoff_s, self.max_backoff_s = min_backoff_s, max_backoff_s
        self.action_timeout_s = action_timeout_s
        self.boot_timeout_s = 120.0
        self._ids = itertools.count(1)
        self._pending: dict[str, _Pending] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._ready = asyncio.Event()
        self._booted = asyncio.Event()
        self._stopping = False
        self.connects = 0

    @property
    def connected(self) -> bool:
        return self._ready.is_set()

    async def wait_connected(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        await asyncio.wait_for(self._ready.wait(), timeout)

    async def run(self) -> None:
        """Connect, log in, read; on any failure wait (backing off) and do it again. Forever."""
        backoff = self.min_backoff_s
        while not self._stopping:
            try:
                await self._session()
                backoff = self.min_backoff_s
            except (OSError, asyncio.IncompleteReadError, AmiError, ConnectionError) as exc:
                log.warning("AMI %s:%s: %s", self.host, self.port, exc or type(exc).__name__)
            finally:
                await self._lost()
            if self._stopping:
                break
            await asyncio.sleep(backoff)
            backoff = min(self.max_backoff_s, backoff * 2)

    async def stop(self) -> None:
        self._stopping = True
        if self._writer is not None:
            self._writer.close()

    async def _session(self) -> None:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port), self.action_timeout_s)
        self._writer = writer
        banner = await asyncio.wait_for(reader.readline(), self.action_timeout_s)
        if not banner.startswith(b"Asterisk Call Manager"):
            raise ConnectionError(f"not an AMI server: {banner[:60]!r}")
        read_task = asyncio.create_task(self._read(reader))
        try:
            await self._send_action("Login", {"Username": self._username,
                                              "Secret": self._secret, "Events": "on"})
            # Ready only at FullyBooted (sent right after login when Asterisk is up, else when
            # it finishes booting): before that, modules and their actions may be missing.
            booted = asyncio.create_task(self._booted.wait())
            await asyncio.wait({booted, read_task}, timeout=self.boot_timeout_s,
                               return_when=asyncio.FIRST_COMPLETED)
            if not booted.done():
                booted.cancel()
                if read_task.done():
                    read_task.result()  # raises why the connection ended
                raise ConnectionError("Asterisk did not finish booting")
            self._ready.set()
            self.connects += 1
            log.info("AMI connected to %s:%s", self.host, self.port)
            hook = None
            if self._on_connect is not None:
                # Not awaited here: on_connect sends actions whose answers this task reads.
                hook = asyncio.create_task(self._guard(self._on_connect(), "on_connect"))
            try:
                await read_task
            finally:
                if hook is not None:
                    hook.cancel()
        finally:
            read_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await read_task

    async def _guard(self, coro: Awaitable[None], what: str) -> None:
        try:
            await coro
        except AmiUnavailable:
            log.info("AMI dropped during %s", what)
        except Exception:
            log.exception("AMI %s failed", what)

    async def _lost(self) -> None:
        was_ready = self._ready.is_set()
        self._ready.clear()
        self._booted.clear()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        pending, self._pending = self._pending, {}
        for p in pending.values():
            if not p.future.done():
                p.future.set_exception(AmiUnavailable("AMI connection lost"))
        if was_ready and self._on_disconnect is not None:
            await self._guard(self._on_disconnect(), "on_disconnect")

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while True:
            raw = await reader.readuntil(b"\r\n\r\n")
            msg = parse(raw.decode("utf-8", "replace"))
            action_id = msg.get("ActionID")
            pending = self._pending.get(action_id) if action_id else None
            if pending is not None:
                self._deliver(action_id or "", pending, msg)
                if "Event" not in msg:
                    continue
            if msg.get("Event") == "FullyBooted":
                self._booted.set()
            if "Event" in msg and self._on_event is not None:
                try:
                    await self._on_event(msg)
                except Exception:
                    log.exception("AMI event handler failed on %s", msg.get("Event"))

    def _deliver(self, action_id: str, p: _Pending, msg: Message) -> None:
        if "Response" in msg:
            if msg["Response"].lower() == "error":
                self._pending.pop(action_id, None)
                p.future.set_exception(AmiError(msg.get("ActionID", ""), msg))
                return
            if p.is_list and msg.get("EventList", "").lower() == "start":
                return
            self._pending.pop(action_id, None)
            p.future.set_result([msg])
            return
        if msg.get("EventList", "").lower() == "complete":
            self._pending.pop(action_id, None)
            p.future.set_result(p.items)
        else:
            p.items.append(msg)

    async def _send_action(self, action: str, fields: dict[str, str | list[str]],
                           is_list: bool = False) -> list[Message]:
        writer = self._writer
        if writer is None:
            raise AmiUnavailable("not connected to Asterisk")
        action_id = f"cc-{next(self._ids)}"
        fut: asyncio.Future[list[Message]] = asyncio.get_running_loop().create_future()
        self._pending[action_id] = _Pending(fut, is_list, [])
        try:
            writer.write(encode({"Action": action, "ActionID": action_id, **fields}))
            await writer.drain()
            return await asyncio.wait_for(fut, self.action_timeout_s)
        except TimeoutError:
            raise AmiUnavailable(f"{action}: no answer in {self.action_timeout_s} s") from None
        except (ConnectionError, OSError) as exc:
            raise AmiUnavailable(str(exc)) from exc
        finally:
            self._pending.pop(action_id, None)

    async def action(self, action: str, **fields: str | list[str]) -> Message:
        """Send one action; returns its response (raises AmiError / AmiUnavailable)."""
        if not self.connected:
            raise AmiUnavailable("not connected to Asterisk")
        return (await self._send_action(action, dict(fields)))[0]

    async def action_list(self, action: str, **fields: str | list[str]) -> list[Message]:
        """Send a list action (QueueStatus, PJSIPShowContacts, …); returns its events."""
        if not self.connected:
            raise AmiUnavailable("not connected to Asterisk")
        return await self._send_action(action, dict(fields), is_list=True)

    async def command(self, cli: str) -> str:
        """Run an Asterisk CLI command; returns its output (a failed command logs a warning:
        Asterisk answers `Response: Error` with the output when the command returns failure)."""
        try:
            return (await self.action("Command", Command=cli)).get("Output", "")
        except AmiError as exc:
            output = exc.message.get("Output", "")
            log.warning("AMI command %r failed: %s", cli, output or exc)
            return output
