"""The team board from a real server's board and events: rows, filters, sorting, updates."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from agent_desktop.session.board import Activity, NeedsRefetch, Presence, TeamBoard
from agent_desktop.session.client import ApiClient
from agent_desktop.session.models import Board
from agent_desktop.ui.team_board import COLUMNS, STATUS_FILTERS, BoardModel, BoardView
from tests.support.live import LiveServer

AT = "2026-11-27T08:00:00+00:00"


@pytest.fixture
def board(server: LiveServer) -> Board:
    admin = ApiClient(server.base_url, client_version="test/1")
    admin.login("demo", "supervisor", "demo", terminal_id="board-test")
    try:
        return admin.board("demo")
    finally:
        admin.close()


def ev(etype: str, agent: str, **data: Any) -> tuple[str, dict[str, Any], int]:
    return etype, {"agent": agent, "at": AT, **data}, 0


def test_rows_follow_events(board: Board) -> None:
    tb = TeamBoard(board)
    assert [r.number for r in tb.rows] == ["1001", "1002", "1003", "1004"]
    alice = tb.row("1001")
    assert alice is not None
    assert alice.presence is Presence.LOGGED_OUT
    dave = tb.row("1004")
    assert dave is not None
    assert dave.static == {"support"}
    assert dave.groups["support"] is True  # a static member is always in
    tb.apply_many([ev("session.started", "1001", session_id=7, terminal_id="desk",
                      ip="10.0.0.5", client_version="agent-desktop/0.1"),
                   ev("agent.checked_in", "1001", group="sales")])
    assert alice.presence is Presence.READY
    assert alice.terminals[0].ip == "10.0.0.5"
    tb.apply(*ev("call.ringing", "1001", caller_id="+4930123", queue="sales")[:2])
    assert (alice.activity, alice.caller, alice.queue) == (Activity.RINGING, "+4930123", "sales")
    tb.apply(*ev("call.answered", "1001")[:2])
    assert alice.activity is Activity.TALKING
    assert alice.caller == "+4930123"
    tb.apply(*ev("agent.paused", "1001", pause_reason="break", by="supervisor")[:2])
    assert alice.presence is Presence.PAUSED
    assert alice.paused_by == "supervisor"
    tb.apply(*ev("call.ended", "1001")[:2])
    assert alice.activity is Activity.IDLE
    assert alice.caller == ""
    tb.apply(*ev("session.ended", "1001", session_id=7, reason="timeout")[:2])
    assert not alice.logged_in
    assert tb.apply("agent.checked_in", {"at": AT}) is None  # not about an agent
    with pytest.raises(NeedsRefetch):
        tb.apply(*ev("agent.paused", "9999")[:2])
    with pytest.raises(NeedsRefetch):
        tb.apply("resync", {})


def test_model_filters_sorts_and_updates_in_place(qtbot: QtBot, board: Board) -> None:
    model = BoardModel()
    view = BoardView(model)
    qtbot.addWidget(view)
    model.load(board)
    assert model.rowCount() == 4
    assert view.count_label.text() == "4 of 4"
    changes: list[int] = []
    model.dataChanged.connect(lambda a, b, roles: changes.append(a.row()))
    with qtbot.waitSignal(model.applied, timeout=1000):
        model.push(*ev("session.started", "1003", session_id=9, terminal_id="t",
                       ip="10.1.1.1", client_version="x"))
        model.push(*ev("agent.checked_in", "1003", group="support"))
    r = [model.row_at(i).number for i in range(4)].index("1003")
    assert changes == [r]  # one update for the one row, no reset
    avail = model.index(r, COLUMNS.index("availability")).data()
    assert avail == "● Ready"
    assert model.index(r, COLUMNS.index("terminals")).data() == "10.1.1.1"

    view.status_box.setCurrentIndex([f[0] for f in STATUS_FILTERS].index("Ready"))
    assert [model.row_at(i).number for i in range(model.rowCount())] == ["1003"]
    view.status_box.setCurrentIndex(0)
    view.search_edit.setText("dave")
    assert [model.row_at(i).number for i in range(model.rowCount())] == ["1004"]
    view.search_edit.setText("")
    view.group_box.setCurrentIndex(view.group_box.findData("sales"))
    assert sorted(model.row_at(i).number for i in range(model.rowCount())) == [
        "1001", "1002", "1004"]
    view.group_box.setCurrentIndex(0)

    view.table.sortByColumn(COLUMNS.index("availability"), Qt.SortOrder.DescendingOrder)
    assert model.row_at(0).number == "1003"  # the only ready agent first
    view.table.selectRow(0)
    with qtbot.waitSignal(model.layoutChanged, timeout=2000):
        model.push(*ev("agent.paused", "1001", pause_reason="lunch"))
        model.push(*ev("session.started", "1001", session_id=10, terminal_id="t2",
                       ip="10.1.1.2", client_version="x"))
    assert model.row_at(0).number == "1001"  # paused sorts above ready
    assert [r.number for r in view.selected_rows()] == ["1003"]  # the selection followed
    with qtbot.waitSignal(model.refetch_needed, timeout=1000):
        model.push("resync", {}, 0)

    # A fresh board (the team window loads one after a resync or a config change) keeps the
    # selection by agent, wherever the agent's row now is; an agent gone leaves none.
    view.table.selectRow(model.row_of("1004") or 0)
    model.load(board)
    assert [r.number for r in view.selected_rows()] == ["1004"]
    view.search_edit.setText("1002")
    model.load(board)
    assert view.selected_rows() == []
