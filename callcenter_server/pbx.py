"""The server's port towards the PBX.

The database holds the intended state (who is checked in to which group, paused or not). The PBX
driver's job is to make the PBX match it: after every change and after every (re)connect. This
module defines what the call-center core tells the driver; the Asterisk/AMI driver implements it.
"""

from __future__ import annotations

from typing import Protocol


class PbxPort(Protocol):
    @property
    def available(self) -> bool:
        """Connected: changes reach the PBX now (else they wait for the reconnect)."""
        ...

    @property
    def retry_after_s(self) -> int: ...

    def agent_changed(self, agent_id: int) -> None:
        """Membership, pause or device of this agent changed: bring the PBX in line."""
        ...

    def config_changed(self) -> None:
        """Devices, groups or agents were provisioned: rewrite the PBX config."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class NoPbx:
    """No PBX configured: the server keeps the state; nothing rings."""

    available = True
    retry_after_s = 0

    def agent_changed(self, agent_id: int) -> None:
        return None

    def config_changed(self) -> None:
        return None

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None
