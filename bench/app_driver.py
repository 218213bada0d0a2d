"""The driven agent app: a child process of bench/login.py and bench/gui_stall.py.

Builds the real app exactly as `python -m agent_desktop` does (agent_desktop.app.build_gui),
shows the login window and, once it is exposed and the event loop idle, drives it like an agent
would: fills the fields and clicks "Log in" (QPushButton.click: the clicked signal, as a mouse
click gives). Results go to stdout as one line `BENCH {json}` (pjlib prints there too).

    app_driver.py login --server URL --sip-registrar HOST:PORT [--idle 2]
        click -> session active and SIP registered; then RSS after --idle s idle; quits.
    app_driver.py stall --server URL --sip-registrar HOST:PORT [--floor-s 5]
        a 1 ms precise QTimer records every gap of the GUI event loop: the first second at
        the login window (`startup`: the app's keyring probe and prewarm run on workers), then
        --floor-s at the idle login window (the floor), then login, then a heartbeat, check in
        to all, a pause and a /me refetch, until every worker task has answered (`activity`).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PySide6.QtCore import QObject, Qt, QTimer

from agent_desktop.app import Gui, build_gui, parse_args, when_idle_and_shown
from agent_desktop.session import worker
from agent_desktop.session.state import AgentState, Session, Sip

TEAM, AGENT, PASSWORD = "demo", "1001", "demo"
ACTION_START_MS, ACTION_SPACING_MS = 100, 50  # the actions after login
STARTUP_S = 1  # after the window is up: the keyring probe and the prewarm run meanwhile
LONG_GAP_S = 0.005  # gaps longer than this are listed with when they ended
RELOGIN_AFTER_MS = 500  # --relogin: after the stream's reconnect went out
SAMPLE_AFTER_S = 0.008  # --sample: the GUI thread's stack when it has not ticked for this long


def emit(kind: str, **data: Any) -> None:
    print("BENCH " + json.dumps({"kind": kind, **data}), flush=True)


def rss_kb() -> dict[str, int]:
    out: dict[str, int] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon"):
            out[key] = int(value.split()[0])
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            out["Pss"] = int(line.split()[1])
    return out


def fill_login(gui: Gui) -> None:
    """Type into the form as an agent would (key events: the app loads what a login needs
    when typing starts)."""
    from PySide6.QtTest import QTest

    for edit, text in ((gui.login.team_edit, TEAM), (gui.login.agent_edit, AGENT),
                       (gui.login.password_edit, PASSWORD)):
        edit.clear()
        QTest.keyClicks(edit, text)


def click_login(gui: Gui, *, filled: bool = False) -> float:
    """Fill the form (unless done) and click; returns the click time (perf_counter)."""
    if not filled:
        fill_login(gui)
    t0 = time.perf_counter()
    gui.login.login_button.click()
    return t0


def quit_app(gui: Gui, rc: int) -> None:
    gui.app.setProperty("bench_rc", rc)
    gui.seat.request_quit()


# --------------------------------------------------------------------------- login


class LoginScenario(QObject):
    def __init__(self, gui: Gui, idle_s: float, timeout_s: float) -> None:
        super().__init__()
        self.gui, self.idle_s = gui, idle_s
        self.t0 = 0.0
        self.settle_ms = 0.0
        self.marks: dict[str, float] = {}
        self.reasons: list[tuple[float, str]] = []
        self._done = False
        gui.seat.machine.changed.connect(self._changed)
        QTimer.singleShot(int(timeout_s * 1000), self._timeout)

    def start(self) -> None:
        # An agent types for seconds before clicking: the app's work on its workers (the
        # prewarm that typing starts) is over by then. Type, wait for it as a condition, click.
        fill_login(self.gui)
        self._settle = QTimer(self)
        self._settle.timeout.connect(self._click_when_settled)
        self._settle.start(10)
        self._shown = time.perf_counter()

    def _click_when_settled(self) -> None:
        if worker._get_bridge().pending():
            return
        self._settle.stop()
        self.settle_ms = round((time.perf_counter() - self._shown) * 1000, 1)
        self.t0 = click_login(self.gui, filled=True)

    def _changed(self, _old: AgentState, new: AgentState, reason: str) -> None:
        now = time.perf_counter() - self.t0
        if self.t0 == 0.0 or self._done:
            return
        self.reasons.append((round(now * 1000, 2), reason))
        if new.session is Session.ACTIVE:
            self.marks.setdefault("active", now)
        if new.sip is Sip.REGISTERED:
            self.marks.setdefault("registered", now)
        if new.sip is Sip.FAILED or new.session is Session.LOGGED_OUT:
            self._done = True
            emit("error", error=reason, steps=self.reasons)
            quit_app(self.gui, 1)
            return
        if "active" in self.marks and "registered" in self.marks:
            self._done = True
            self.marks["both"] = now
            QTimer.singleShot(int(self.idle_s * 1000), self._idle_done)

    def _idle_done(self) -> None:
        emit("login", click_to_active_ms=round(self.marks["active"] * 1000, 2),
             click_to_registered_ms=round(self.marks["registered"] * 1000, 2),
             click_to_both_ms=round(self.marks["both"] * 1000, 2), steps=self.reasons,
             mem_kb=rss_kb(), idle_s=self.idle_s, start_work_ms=self.settle_ms)
        quit_app(self.gui, 0)

    def _timeout(self) -> None:
        if not self._done:
            self._done = True
            emit("error", error="timeout", steps=self.reasons)
            quit_app(self.gui, 1)


# --------------------------------------------------------------------------- stall


class GapRecorder(QObject):
    """A 1 ms precise timer: each gap between two timeouts, labelled with the current phase."""

    def __init__(self) -> None:
        super().__init__()
        self.phase = ""
        self.gaps: dict[str, list[float]] = {}
        self.worst: dict[str, tuple[float, float]] = {}  # phase -> (gap, at since start)
        self.long: list[tuple[float, float]] = []  # (gap, ended at since start) over 5 ms
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(1)
        self._timer.timeout.connect(self._tick)
        self._start = self._last = 0.0
        self.on_tick: list[Any] = []

    def start(self) -> None:
        self._start = self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _tick(self) -> None:
        now = time.perf_counter()
        gap = now - self._last
        self._last = now
        self.gaps.setdefault(self.phase, []).append(gap)
        if gap > LONG_GAP_S:
            self.long.append((gap, now - self._start))
        if gap > self.worst.get(self.phase, (0.0, 0.0))[0]:
            self.worst[self.phase] = (gap, now - self._start)
        for fn in self.on_tick:
            fn()


class StackSampler:
    """Diagnosis: a thread that, while the GUI thread has not ticked for SAMPLE_AFTER_S,
    records where the GUI thread is (its innermost frames) every 2 ms."""

    def __init__(self, rec: GapRecorder) -> None:
        self.rec = rec
        self.samples: list[dict[str, Any]] = []
        self._gui = threading.get_ident()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="stack-sampler")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(0.002):  # the sampling period
            now = time.perf_counter()
            late = now - self.rec._last
            if self.rec._start and late > SAMPLE_AFTER_S and len(self.samples) < 400:
                frame = sys._current_frames().get(self._gui)
                where = [f"{Path(f.filename).name}:{f.lineno} {f.name}"
                         for f in traceback.extract_stack(frame, limit=8)] if frame else []
                self.samples.append({"at_ms": round((now - self.rec._start) * 1000, 1),
                                     "late_ms": round(late * 1000, 1),
                                     "stack": where[::-1][:6]})


class StallScenario(QObject):
    def __init__(self, gui: Gui, floor_s: float, timeout_s: float, sample: bool,
                 relogin: bool) -> None:
        super().__init__()
        self.gui, self.floor_s, self.relogin = gui, floor_s, relogin
        self._waiting_relogin = self._relogged = False
        self.relogin_call_ms: float | None = None
        self.rec = GapRecorder()
        self.sampler = StackSampler(self.rec) if sample else None
        self.events: list[tuple[float, str]] = []
        self._acted = False
        self._finished = False
        self._t0 = 0.0
        gui.seat.machine.changed.connect(self._changed)
        QTimer.singleShot(int(timeout_s * 1000), self._timeout)

    def note(self, what: str) -> None:
        self.events.append((round((time.perf_counter() - self._t0) * 1000, 1), what))

    def start(self) -> None:
        self._t0 = time.perf_counter()
        self.rec.phase = "startup"
        self.rec.start()
        if self.sampler is not None:
            self.sampler.start()
        self.note("startup phase (the app's own start work on its workers)")
        QTimer.singleShot(STARTUP_S * 1000, self._floor)

    def _floor(self) -> None:
        self.rec.phase = "floor"
        self.note("floor phase")
        QTimer.singleShot(int(self.floor_s * 1000), self._login)

    def _login(self) -> None:
        self.rec.phase = "activity"
        self.note("click Log in")
        click_login(self.gui)

    def _changed(self, _old: AgentState, new: AgentState, reason: str) -> None:
        self.note(reason)
        if (self.rec.phase == "relogin" and _old.session is not Session.ACTIVE
                and new.session is Session.ACTIVE):
            self._relogged = True
        if not self._acted and new.session is Session.ACTIVE:
            self._acted = True
            # Like an agent's clicks, a little apart: each one's cost shows as its own gap.
            steps = [self._beat, self._checkin, self._pause, self._refetch]
            for k, step in enumerate(steps):
                QTimer.singleShot(ACTION_START_MS + k * ACTION_SPACING_MS, step)

    def _beat(self) -> None:
        assert self.gui.seat.heartbeat is not None
        self.note("heartbeat")
        self.gui.seat.heartbeat.beat_now()

    def _checkin(self) -> None:
        assert self.gui.seat.window is not None
        self.note("check in to all")
        self.gui.seat.window.checkin_all.click()

    def _pause(self) -> None:
        window = self.gui.seat.window
        assert window is not None
        reasons = [a for a in window.pause_menu.actions() if a.data() is not None]
        self.note(f"pause ({len(reasons)} reasons)")
        if reasons:
            reasons[0].trigger()

    def _refetch(self) -> None:
        assert self.gui.seat.window is not None
        self.note("refetch /me")
        self.gui.seat.window.refresh()
        self.rec.on_tick.append(self._check_done)

    def _check_done(self) -> None:
        if self._finished or self._waiting_relogin or worker._get_bridge().pending():
            return
        if self.relogin and self.rec.phase == "activity":
            self._relogin_probe()
        elif not self.relogin or (self.rec.phase == "relogin" and self._relogged):
            self._finish(0)

    def _relogin_probe(self) -> None:
        """Log in again while the event stream's request waits on the slow server (as after
        a dropped connection): the old session's stream must be stopped first."""
        stream = self.gui.seat.stream
        assert stream is not None
        self.rec.phase = "relogin"
        self.note("event stream reconnects (its request now waits on the slow server)")
        stream.reconnect_now()
        self._waiting_relogin = True
        QTimer.singleShot(RELOGIN_AFTER_MS, self._relogin)

    def _relogin(self) -> None:
        self.note("log in again (what the 'Log in again' button does)")
        t = time.perf_counter()
        self.gui.seat.relogin()
        self.relogin_call_ms = round((time.perf_counter() - t) * 1000, 1)
        self.note(f"relogin() returned after {self.relogin_call_ms} ms")
        self._waiting_relogin = False

    def _finish(self, rc: int) -> None:
        self._finished = True
        self.note("every worker task answered")
        self.rec.stop()
        if self.sampler is not None:
            self.sampler.stop()
        emit("stall", samples=self.sampler.samples if self.sampler else [],
             gaps_ms={k: [round(g * 1000, 3) for g in v] for k, v in self.rec.gaps.items()},
             worst={k: {"gap_ms": round(g * 1000, 2), "at_ms": round(at * 1000, 1)}
                    for k, (g, at) in self.rec.worst.items()},
             long_gaps=[{"gap_ms": round(g * 1000, 2), "end_ms": round(at * 1000, 1)}
                        for g, at in self.rec.long],
             relogin_call_ms=self.relogin_call_ms, events=self.events,
             state=self.gui.seat.machine.state.summary())
        quit_app(self.gui, rc)

    def _timeout(self) -> None:
        if not self._finished:
            emit("error", error="timeout", events=self.events)
            self._finish(1)


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", choices=("login", "stall"))
    ap.add_argument("--server", required=True)
    ap.add_argument("--sip-registrar", required=True)
    ap.add_argument("--history-file", required=True)
    ap.add_argument("--idle", type=float, default=2.0)
    ap.add_argument("--floor-s", type=float, default=5.0)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--relogin", action="store_true",
                    help="stall: then log in again while the event stream is connecting")
    ap.add_argument("--sample", action="store_true",
                    help="stall: sample the GUI thread's stack during long gaps (diagnosis)")
    args = ap.parse_args(argv)
    gui = build_gui(parse_args(["--server", args.server, "--sip-registrar", args.sip_registrar,
                                "--history-file", args.history_file, "--log-level", "INFO"]))
    assert gui is not None, "another app of this user took the launch (AGENT_DESKTOP_INSTANCE)"
    scenario: LoginScenario | StallScenario
    if args.scenario == "login":
        scenario = LoginScenario(gui, args.idle, args.timeout)
    else:
        scenario = StallScenario(gui, args.floor_s, args.timeout, args.sample,
                                 args.relogin)
    when_idle_and_shown(gui.login, scenario.start)
    gui.login.show()
    rc = gui.app.exec()
    gui.seat.finish()
    code = gui.app.property("bench_rc")
    return int(code) if code is not None else int(rc)


if __name__ == "__main__":
    sys.exit(main())
