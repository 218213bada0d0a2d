"""The AMI client as a unit: framing, list actions, FullyBooted gating, reconnect with backoff.

A scripted AMI peer stands in for Asterisk here; the integration tests run the same client
against the real Asterisk.
"""

from __future__ import annotations

import asyncio

import pytest

from callcenter_server.ami import AmiClient, AmiError, AmiUnavailable, encode, parse


def test_encode_and_parse_round_trip() -> None:
    raw = encode({"Action": "QueueAdd", "Queue": "sales", "Variable": ["a=1", "b=2"]})
    assert raw.endswith(b"\r\n\r\n")
    msg = parse(raw.decode())
    assert msg == {"Action": "QueueAdd", "Queue": "sales", "Variable": "a=1\nb=2"}
    with pytest.raises(ValueError):
        encode({"Action": "Login", "Secret": "x\r\nAction: Originate"})  # no header injection


class FakeAsterisk:
    """Accepts AMI logins; answers a few actions; can drop every connection."""

    def __init__(self, *, booted: bool = True) -> None:
        self.booted = booted
        self.logins = 0
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        try:
            while True:
                msg = parse((await reader.readuntil(b"\r\n\r\n")).decode())
                aid = msg.get("ActionID", "")
                action = msg.get("Action")
                if action == "Login":
                    ok = msg.get("Secret") == "s3cret"
                    writer.write(encode({"Response": "Success" if ok else "Error",
                                         "ActionID": aid}))
                    if ok:
                        self.logins += 1
                        if self.booted:
                            writer.write(encode({"Event": "FullyBooted", "Status": "up"}))
                elif action == "QueueStatus":
                    writer.write(encode({"Response": "Success", "ActionID": aid,
                                         "EventList": "start"}))
                    for name in ("1001", "1002"):
                        writer.write(encode({"Event": "QueueMember", "ActionID": aid,
                                             "Name": name}))
                    writer.write(encode({"Event": "QueueStatusComplete", "ActionID": aid,
                                         "EventList": "Complete"}))
                elif action == "QueueRemove":
                    writer.write(encode({"Response": "Error", "ActionID": aid,
                                         "Message": "Unable to remove interface"}))
                else:
                    writer.write(encode({"Response": "Success", "ActionID": aid}))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return

    def drop_all(self) -> None:
        for w in self.writers:
            w.close()
        self.writers.clear()

    async def stop(self) -> None:
        self.drop_all()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


def run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def test_actions_lists_errors_and_reconnect() -> None:
    async def scenario() -> None:
        fake = FakeAsterisk()
        port = await fake.start()
        connects: list[int] = []

        async def on_connect() -> None:
            connects.append(1)

        client = AmiClient("127.0.0.1", port, "cc", "s3cret", on_connect=on_connect,
                           min_backoff_s=0.05, max_backoff_s=0.2)
        task = asyncio.create_task(client.run())
        await client.wait_connected(5)
        members = await client.action_list("QueueStatus")
        assert [m["Name"] for m in members] == ["1001", "1002"]
        assert (await client.action("Ping"))["Response"] == "Success"
        with pytest.raises(AmiError):
            await client.action("QueueRemove", Queue="sales", Interface="x")
        fake.drop_all()
        await asyncio.sleep(0.01)
        with pytest.raises(AmiUnavailable):
            await client.action("Ping")
        await client.wait_connected(5)  # came back by itself
        assert fake.logins == 2
        await asyncio.sleep(0.05)
        assert len(connects) == 2
        await client.stop()
        task.cancel()
        await fake.stop()

    run(scenario())


def test_not_ready_until_fully_booted() -> None:
    async def scenario() -> None:
        fake = FakeAsterisk(booted=False)
        port = await fake.start()
        client = AmiClient("127.0.0.1", port, "cc", "s3cret", min_backoff_s=0.05)
        task = asyncio.create_task(client.run())
        await asyncio.sleep(0.2)
        assert fake.logins == 1
        assert not client.connected  # logged in, but Asterisk still booting
        for w in fake.writers:
            w.write(encode({"Event": "FullyBooted", "Status": "up"}))
        await client.wait_connected(5)
        await client.stop()
        task.cancel()
        await fake.stop()

    run(scenario())


def test_wrong_secret_keeps_retrying_without_crashing() -> None:
    async def scenario() -> None:
        fake = FakeAsterisk()
        port = await fake.start()
        client = AmiClient("127.0.0.1", port, "cc", "wrong", min_backoff_s=0.02,
                           max_backoff_s=0.05)
        task = asyncio.create_task(client.run())
        await asyncio.sleep(0.3)
        assert not client.connected
        assert len(fake.writers) >= 3  # reconnected with backoff, not a tight loop of hundreds
        assert len(fake.writers) < 30
        await client.stop()
        task.cancel()
        await fake.stop()

    run(scenario())
