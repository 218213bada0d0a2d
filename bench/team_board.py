"""The team board at call-center scale: 5,000 agents, 1,000 events/s for 30 s.

The board (BoardModel + BoardView: sorted, filtered table, shown on screen) is loaded with a
synthetic team; a worker thread then delivers events through a queued Qt signal, exactly as
the event-stream reader does, at the target rate. Measured in the same run:

- GUI stalls: a 1 ms precise timer on the GUI thread records the gaps between its ticks; the
  floor is the same measurement with the board loaded but no events flowing.
- Visibility: the time from an event's hand-off by the worker to the flush that shows it
  (the row's dataChanged); every event is counted, the maximum is reported.
- Memory: RSS before building the board, after loading it, and at the end.

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/team_board.py [--agents 5000]
        [--rate 1000] [--seconds 30] [--quick]

Writes bench/results/team_board.json. Goals (issue 6): longest stall <= 16 ms, every change
visible within 500 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from PySide6.QtCore import QElapsedTimer, QObject, Qt, QTimer, Signal  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from agent_desktop.session import models as m  # noqa: E402
from agent_desktop.ui.team_board import BoardModel, BoardView  # noqa: E402

OUT = REPO / "bench" / "results" / "team_board.json"
GROUPS = tuple(f"queue{i:02d}" for i in range(20))


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def synthetic_board(n: int) -> m.Board:
    agents = []
    for i in range(n):
        number = str(100000 + i)
        groups = tuple(m.Group(g, g, "static" if j == 0 and i % 10 == 0 else "dynamic",
                               i % 3 == 0, None)
                       for j, g in enumerate(random.sample(GROUPS, 3)))
        av = m.Availability(logged_in=i % 4 != 0, checked_in=i % 3 == 0, paused=False,
                            pause_reason=None, pause_note=None, paused_at=None, paused_by=None,
                            wrapup=False, wrapup_until=None, checkout_pending=False)
        sessions = (m.SessionInfo(i + 1, f"desk-{i}", "agent-desktop/0.1", f"10.0.{i // 250}."
                                  f"{i % 250}", "agent", "", "", "", None),) if i % 4 else ()
        agents.append(m.Agent(number, f"Agent {i}", "fixed",
                              m.Device(str(200000 + i), "internal", None, None), groups, av,
                              m.Activity("idle", None, None), sessions, 1))
    return m.Board("bench", 20, 90, tuple(m.TeamGroup(g, g, None) for g in GROUPS),
                   tuple(agents), 0)


class Relay(QObject):
    """Crosses from the worker thread to the GUI thread (queued), like EventStream's relay."""

    event = Signal(str, object, int)


def event_mix(n_agents: int, rnd: random.Random) -> tuple[str, dict[str, Any]]:
    agent = str(100000 + rnd.randrange(n_agents))
    kind = rnd.random()
    if kind < 0.3:
        etype = rnd.choice(("call.ringing", "call.answered", "call.hold", "call.ended"))
        data: dict[str, Any] = {"caller_id": f"+49301{rnd.randrange(10**6):06d}",
                                "queue": rnd.choice(GROUPS)}
    elif kind < 0.55:
        etype = rnd.choice(("agent.paused", "agent.unpaused"))
        data = {"pause_reason": "break", "by": None}
    elif kind < 0.8:
        etype = rnd.choice(("agent.checked_in", "agent.checked_out"))
        data = {"group": rnd.choice(GROUPS)}
    else:
        etype = rnd.choice(("agent.wrapup_started", "agent.wrapup_ended"))
        data = {}
    data["agent"] = agent
    data["at"] = datetime.now(UTC).isoformat()
    return etype, data


class StallMeter:
    def __init__(self) -> None:
        self.gaps: list[float] = []
        self.clock = QElapsedTimer()
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(1)
        self.timer.timeout.connect(self._tick)
        self.last = 0

    def start(self) -> None:
        self.gaps.clear()
        self.clock.start()
        self.last = self.clock.nsecsElapsed()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def _tick(self) -> None:
        now = self.clock.nsecsElapsed()
        self.gaps.append((now - self.last) / 1e6)
        self.last = now

    def summary(self) -> dict[str, float]:
        g = sorted(self.gaps) or [0.0]
        return {"ticks": len(g), "max_ms": round(g[-1], 2),
                "p99_ms": round(g[int(0.99 * (len(g) - 1))], 2),
                "p50_ms": round(statistics.median(g), 2)}


def run_loop(app: QApplication, seconds: float) -> None:
    QTimer.singleShot(int(seconds * 1000), app.quit)
    app.exec()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--agents", type=int, default=5000)
    p.add_argument("--rate", type=int, default=1000, help="events per second")
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--floor-seconds", type=float, default=5.0)
    p.add_argument("--quick", action="store_true", help="5 s of events, 2 s of floor")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    if args.quick:
        args.seconds, args.floor_seconds = 5.0, 2.0
    random.seed(7)
    app = QApplication(sys.argv[:1])
    rss0 = rss_mb()
    board = synthetic_board(args.agents)
    model = BoardModel()
    view = BoardView(model)
    view.resize(1400, 900)
    view.table.sortByColumn(1, Qt.SortOrder.DescendingOrder)  # by availability: re-sorts
    view.show()
    t0 = time.perf_counter()
    model.load(board)
    load_ms = (time.perf_counter() - t0) * 1000
    run_loop(app, 0.5)
    rss_loaded = rss_mb()

    meter = StallMeter()
    meter.start()
    run_loop(app, args.floor_seconds)
    meter.stop()
    floor = meter.summary()

    relay = Relay()
    sent: list[float] = []  # hand-off time of each event not yet shown
    latencies: list[float] = []
    counts = {"sent": 0, "applied_rows": 0}

    def on_event(etype: str, data: dict[str, Any], event_id: int) -> None:
        sent.append(data.pop("_sent"))
        model.push(etype, data, event_id)

    def on_applied(rows: int) -> None:
        now = time.perf_counter()
        latencies.extend(now - s for s in sent)
        sent.clear()
        counts["applied_rows"] += rows

    relay.event.connect(on_event, Qt.ConnectionType.QueuedConnection)
    model.applied.connect(on_applied)
    model.refetch_needed.connect(lambda: print("unexpected refetch", file=sys.stderr))
    stop = threading.Event()

    def produce() -> None:
        rnd = random.Random(11)
        start = time.perf_counter()
        i = 0
        while not stop.is_set():
            due = int((time.perf_counter() - start) * args.rate)
            while i < due:
                etype, data = event_mix(args.agents, rnd)
                data["_sent"] = time.perf_counter()
                i += 1
                relay.event.emit(etype, data, i)
            time.sleep(0.001)
        counts["sent"] = i

    worker = threading.Thread(target=produce, daemon=True)
    meter.start()
    worker.start()
    run_loop(app, args.seconds)
    stop.set()
    worker.join()
    run_loop(app, 0.5)  # the last flush
    meter.stop()
    loaded = meter.summary()
    rss_end = rss_mb()
    lat = sorted(latencies) or [0.0]
    result = {
        "bench": "team_board",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": os.environ.get("QT_QPA_PLATFORM", "")},
        "agents": args.agents, "rate_per_s": args.rate, "seconds": args.seconds,
        "events_sent": counts["sent"], "events_shown": len(latencies),
        "rows_changed_total": counts["applied_rows"],
        "load_ms": round(load_ms, 1),
        "floor_gaps": floor, "gaps_with_events": loaded,
        "longest_stall_ms": loaded["max_ms"],
        "stall_vs_floor": round(loaded["max_ms"] / max(floor["max_ms"], 0.001), 2),
        "visible_within_ms": {"max": round(lat[-1] * 1000, 1),
                              "p99": round(lat[int(0.99 * (len(lat) - 1))] * 1000, 1),
                              "p50": round(statistics.median(lat) * 1000, 1)},
        "rss_mb": {"before": round(rss0, 1), "board_loaded": round(rss_loaded, 1),
                   "end": round(rss_end, 1), "board": round(rss_loaded - rss0, 1)},
        "goals": {"longest_stall_ms<=16": loaded["max_ms"] <= 16,
                  "visible_within_500ms": lat[-1] * 1000 <= 500},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    view.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
