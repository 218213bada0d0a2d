"""The server's port towards the PBX.

The database holds the intended state (who is checked in to which group, paused or not). The PBX
driver's job is to make the PBX match it: after every change and after every (re)connect. This
module defines what the call-center core tells the driver; the Asterisk/AMI driver implements it.
"""

from __future__ import annotations

from typing import Protocol


class PbxPort(Protocol):
    def agent_changed(self, agent_id: int) -> None:
        """Membership, pause or device of this agent changed: bring the PBX in line."""
        ...


class NoPbx:
    """No PBX configured: the server keeps the state; nothing rings."""

    def agent_changed(self, agent_id: int) -> None:
        return None
