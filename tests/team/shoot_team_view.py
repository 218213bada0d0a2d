"""Screenshots of the team view (light and dark): a synthetic team of 40 agents in a mix of
states, the queue panel with callers waiting, and a listen bar.

    xvfb-run -a -s "-screen 0 1400x900x24" .venv/bin/python -m tests.team.shoot_team_view

Writes docs/screenshots/team.png and team_dark.png, and team_phone.png: a team admin without an
agent seat, whose phone (dialling, the call panel) is in the team view.
"""

from __future__ import annotations

import random
import sys
from datetime import UTC, datetime, timedelta

from PySide6.QtWidgets import QApplication

from agent_desktop.session import models as m
from agent_desktop.session.board import TeamBoard
from agent_desktop.session.client import ApiClient
from agent_desktop.settings import Theme, apply_theme
from agent_desktop.sip import CallState
from agent_desktop.ui.team_window import TeamWindow
from tests.support.shots import save
from tests.ui.fakes import FakeCall

NAMES = ["Ada Lovelace", "Grace Hopper", "Alan Turing", "Edsger Dijkstra", "Barbara Liskov",
         "Donald Knuth", "Frances Allen", "Ken Thompson", "Margaret Hamilton", "Dennis Ritchie",
         "Radia Perlman", "John McCarthy", "Sophie Wilson", "Niklaus Wirth", "Anita Borg"]
GROUPS = ("sales", "support", "billing")



def iso(seconds_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds_ago)).isoformat()


def board() -> m.Board:
    rnd = random.Random(4)
    agents = []
    for i in range(40):
        state = rnd.choice(["ready", "ready", "talking", "talking", "paused", "wrapup",
                            "ringing", "out", "hold"])
        logged_in = state != "out"
        groups = tuple(m.Group(g, g, "static" if (i % 9 == 0 and g == "support") else
                               "dynamic", logged_in and rnd.random() < 0.8, None)
                       for g in rnd.sample(GROUPS, rnd.choice((1, 2))))
        av = m.Availability(logged_in, logged_in, state == "paused",
                            rnd.choice(["lunch", "training", "meeting"])
                            if state == "paused" else None, None,
                            iso(rnd.uniform(30, 900)) if state == "paused" else None,
                            "supervisor" if state == "paused" and i % 3 == 0 else None,
                            state == "wrapup", None, False)
        active = state in ("talking", "ringing", "hold")
        act = m.Activity(state if active else "idle", iso(rnd.uniform(3, 600)) if active
                         else None,
                         {"caller_id": f"+4930{rnd.randrange(10**7):07d}",
                          "queue": groups[0].name} if active else None)
        sessions = (m.SessionInfo(i, f"desk-{i}", "agent-desktop/0.1.0",
                                  f"10.20.1.{10 + i}", "agent", "", "", "", None),
                    ) if logged_in else ()
        agents.append(m.Agent(str(1001 + i), NAMES[i % len(NAMES)], "fixed",
                              m.Device(str(8001 + i), "internal", None, None,
                                       registered=logged_in or i % 2 == 0),
                              groups, av, act, sessions, 1))
    return m.Board("demo", 20, 90, tuple(m.TeamGroup(g, g, None) for g in GROUPS),
                   tuple(agents), 0)


def queues() -> m.Queues:
    rows = (m.QueueRow("sales", "7001", 20, 1, 3, iso(75), 75.0, 12, 4, 2, 6, 148, 7, 0.91),
            m.QueueRow("support", "7002", 30, 1, 0, None, 0.0, 9, 3, 1, 5, 96, 2, 0.97),
            m.QueueRow("billing", "7003", 20, 1, 1, iso(14), 14.0, 4, 0, 1, 3, 31, 4, 0.74))
    return m.Queues("demo", iso(0), rows, 0)


def main() -> int:
    app = QApplication(sys.argv[:1])
    client = ApiClient("http://127.0.0.1:9", client_version="shots/1")  # never contacted
    window = TeamWindow(client, "demo")
    window.resize(1320, 760)
    window.model.load(TeamBoard(board()))
    window.queue_panel.load(queues())
    window.status_label.setText("40 agents in team demo.")
    window.spy_label.setText("Listening to 1003 · on your phone 8090")
    window.spy_bar.show()
    window.show()
    window.board_view.table.selectRow(2)
    save(window, "team.png")
    apply_theme(Theme.DARK)
    save(window, "team_dark.png")
    apply_theme(Theme.SYSTEM)
    window.spy_bar.hide()
    window.set_phone(True)
    window.number_edit.setText("5550123")
    window.set_call(FakeCall("5550123", "Ada", state=CallState.CONFIRMED))  # type: ignore[arg-type]
    window.status_label.setText("40 agents in team demo.")
    save(window, "team_phone.png")
    client.close()
    del app
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
