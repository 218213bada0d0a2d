"""A clock that tests move by hand, in place of the audio module's `time`.

The audio thread's feeding and bounds read `time.monotonic()` of `agent_desktop.sip.audio`;
the `clock` fixture (tests/sip/conftest.py) puts this in its place, so that tests of
them run a simulated call without sleeping.
"""

from __future__ import annotations


class SimClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now
