"""The server's port towards the PBX.

The database holds the intended state (who is checked in to which group, paused or not). The PBX
driver's job is to make the PBX match it: after every change and after every (re)connect. This
module defines what the call-center core tells the driver; the Asterisk/AMI driver implements it.
"""

from __future__ import annotations

from typing import Protocol

from .problems import ProblemError


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

    def spy(self, *, agent_id: int, agent_device: str, admin_device: str, mode: str,
            label: str) -> str:
        """Ring the admin's device with a call that listens to / whispers into / barges in on
        the call of the agent's device (mode listen | whisper | barge); returns a call id.
        Raises ProblemError (no_live_call, pbx_unavailable)."""
        ...

    def stop_spy(self, *, agent_id: int, admin_device: str) -> int:
        """Hang up the admin device's spy calls on the agent; returns how many."""
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

    def spy(self, *, agent_id: int, agent_device: str, admin_device: str, mode: str,
            label: str) -> str:
        raise ProblemError("pbx_unavailable", "No phone system is configured", retry_after=60)

    def stop_spy(self, *, agent_id: int, admin_device: str) -> int:
        return 0

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None
