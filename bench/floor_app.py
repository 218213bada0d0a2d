"""The floor of the app benchmarks: the least a Qt + pjsua2 softphone must do to show a window.

A bare QApplication with an empty QWidget shown, and a pjsua2 Endpoint created like the app's
(libCreate, libInit with threadCnt 0 / mainThreadOnly, the null audio device, libStart; a
10 ms QTimer polling libHandleEvents). Prints the same ready marker as the app
(AGENT_DESKTOP_BENCH_READY: "1" prints, "exit" prints and quits) the first time the event loop
is about to block while the window is exposed; then idles until SIGTERM/SIGINT.
"""

from __future__ import annotations

import os
import signal
import sys

import pjsua2 as pj
from PySide6.QtCore import QAbstractEventDispatcher, QTimer
from PySide6.QtWidgets import QApplication, QWidget

READY_MARKER = "agent-desktop: ready"


def main() -> int:
    app = QApplication(sys.argv[:1])
    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.logConfig.level = 1
    cfg.logConfig.consoleLevel = 1
    ep.libInit(cfg)
    ep.audDevManager().setNullDev()
    ep.libStart()
    poll = QTimer()
    poll.timeout.connect(lambda: ep.libHandleEvents(0))
    poll.start(10)

    window = QWidget()
    window.setWindowTitle("floor")
    window.resize(420, 300)
    mode = os.environ.get("AGENT_DESKTOP_BENCH_READY", "1")
    dispatcher = QAbstractEventDispatcher.instance()
    assert dispatcher is not None
    fired = False

    def check() -> None:
        nonlocal fired
        handle = window.windowHandle()
        if fired or handle is None or not handle.isExposed():
            return
        fired = True
        print(READY_MARKER, flush=True)
        if mode == "exit":
            app.quit()

    dispatcher.aboutToBlock.connect(check)
    signal.signal(signal.SIGINT, lambda *_: app.quit())
    signal.signal(signal.SIGTERM, lambda *_: app.quit())
    tick = QTimer()
    tick.timeout.connect(lambda: None)  # lets Python see the signals
    tick.start(250)
    window.show()
    rc = app.exec()
    poll.stop()
    ep.libDestroy(pj.PJSUA_DESTROY_NO_NETWORK)
    return int(rc)


if __name__ == "__main__":
    sys.exit(main())
