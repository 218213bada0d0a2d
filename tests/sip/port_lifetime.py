"""How an AudioMediaPort subclass may end, measured in a child process (one Endpoint each).

    python -m tests.sip.port_lifetime MODE [CYCLES]

Each cycle creates a port, connects the null device's capture -> port -> playback, lets the
conference clock run 60 ms, then holds the GIL for 25-45 ms (as the app's GUI thread does:
the clock thread then waits inside a port callback), disconnects the port and ends it:
  drop        drop the last reference right after stopTransmit
  drop_later  run the library 100 ms (5 clock ticks) first, then drop
  keep        agent_desktop.sip.audio.keep_for_process (what BridgePort does)
  after_destroy  keep the ports, drop them after libDestroy
Prints "exit clean" at the end. Measured with pjsua2-python 2.15.1, 150 cycles a run:
drop SIGSEGV in 5 of 5 runs, drop_later SIGSEGV in 1 of 6 (pjmedia's deferred
op_remove_port still reads the freed port), after_destroy aborted in 4 of 4
(`pjmedia_conf_remove_port: Assertion conf && port < conf->max_ports`), keep 0 of 4.
The tests run "keep" only.
"""

from __future__ import annotations

import gc
import sys
import time
from typing import Any


def main(argv: list[str]) -> int:
    import pjsua2 as pj

    from agent_desktop.sip.audio import BridgeCounters, BridgePort, keep_for_process
    from agent_desktop.sip.pcm import PcmRing

    mode = argv[0]
    cycles = int(argv[1]) if len(argv) > 1 else 100
    if mode not in ("drop", "drop_later", "keep", "after_destroy"):
        print(f"unknown mode {mode}", file=sys.stderr)
        return 2
    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.logConfig.level = 1
    cfg.logConfig.consoleLevel = 1
    cfg.medConfig.clockRate = 16000
    cfg.medConfig.sndClockRate = 16000
    cfg.medConfig.channelCount = 1
    ep.libInit(cfg)
    ep.audDevManager().setNullDev()
    ep.libStart()
    capture = ep.audDevManager().getCaptureDevMedia()
    playback = ep.audDevManager().getPlaybackDevMedia()

    class Plain(BridgePort):  # the bridge's callbacks, without BridgePort.create's keep
        def create(self, name: str = "plain") -> None:
            fmt = pj.MediaFormatAudio()
            fmt.init(pj.PJMEDIA_FORMAT_PCM, 16000, 1, 20000, 16)
            self.createPort(name, fmt)

    def run(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ep.libHandleEvents(5)

    kept: list[Any] = []
    counters = BridgeCounters()
    for i in range(cycles):
        port = Plain(PcmRing(64000), PcmRing(64000), counters)
        port.create(f"p{i}")
        if mode == "keep":
            keep_for_process(port)
        elif mode == "after_destroy":
            kept.append(port)
        capture.startTransmit(port)
        port.startTransmit(playback)
        run(0.06)
        busy_until = time.monotonic() + 0.025 + (i % 7) * 0.003
        while time.monotonic() < busy_until:
            pass  # hold the GIL: the clock thread waits inside a callback
        capture.stopTransmit(port)
        port.stopTransmit(playback)
        if mode == "drop_later":
            run(0.1)
        del port
        gc.collect()
        run(0.01)
    print(f"cycles done: {cycles}, frames in {counters.frames_in} out {counters.frames_out}",
          flush=True)  # fmt: skip
    ep.libDestroy(pj.PJSUA_DESTROY_NO_NETWORK)
    print("libDestroy done", flush=True)
    kept.clear()  # after_destroy: the ports' destructors run now
    gc.collect()
    print("exit clean", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
