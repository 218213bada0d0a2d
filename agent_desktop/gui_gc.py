"""Python's cyclic garbage collector, run on the GUI thread only.

Left automatic, the collector runs on whichever thread happens to allocate when a threshold
trips: an HTTP worker, the audio thread, pjmedia's clock thread. Qt objects in the cycles it
frees (a closed window whose signal was connected to its app, a finished call's tracker) are
then destroyed on that thread, which Qt does not allow: the test suite crashed once exactly so
(SIGSEGV "Garbage-collecting" on the in-process server's thread, a test's seat freed there).
So automatic collection is switched off and this object collects on the GUI thread, as often
as the usual thresholds would (checked every `interval_ms`). The audio callbacks also no longer
pay for a collection.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

CHECK_INTERVAL_MS = 250


class GuiThreadCollector(QObject):
    """Create it on the GUI thread (the composition root does, once); `stop()` gives
    collection back to Python."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = CHECK_INTERVAL_MS
                 ) -> None:  # fmt: skip
        super().__init__(parent)
        self.thresholds = gc.get_threshold()
        self.collections = [0, 0, 0]
        gc.disable()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.check)
        self._timer.start()

    def check(self) -> None:
        """Collect the oldest generation whose count passed its threshold (as Python would)."""
        counts = gc.get_count()
        for generation in (2, 1, 0):
            if self.thresholds[generation] and counts[generation] > self.thresholds[generation]:
                gc.collect(generation)
                self.collections[generation] += 1
                return

    def stop(self) -> None:
        self._timer.stop()
        gc.enable()
