"""The live team board: a Qt table model over `TeamBoard`, a filter/sort proxy, and a widget.

Events are not applied one by one on arrival: `BoardModel.push(...)` queues them and a short
timer applies the queue and emits one `dataChanged` per changed row (a burst of a thousand
events costs one pass, and the view repaints only what is visible). A 1 s tick refreshes the
"since" column. Nothing here rebuilds the table except a refetch (`load`).

Each state has a colour, a shape and a word (readable without colour, and in dark mode).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from agent_desktop.session.board import Activity, BoardRow, NeedsRefetch, Presence, TeamBoard
from agent_desktop.session.messages import tr, tr_noop
from agent_desktop.session.models import Board
from agent_desktop.ui.ink import is_dark

FLUSH_MS = 50  # events wait at most this long before their values show
RELAYOUT_MS = 300  # rows move (sorting, filters) at most this often: a re-layout repaints all
_DISPLAY, _TOOLTIP, _FOREGROUND = (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole,
                                   Qt.ItemDataRole.ForegroundRole)
COLUMNS = ("agent", "availability", "activity", "since", "device", "terminals", "groups")
ROW_ROLE = Qt.ItemDataRole.UserRole + 1
AnyIndex = QModelIndex | QPersistentModelIndex

# (shape, light colour, dark colour): shapes differ, so colour is never the only cue.
PRESENCE_LOOK = {
    Presence.LOGGED_OUT: ("○", "#5f6b7a", "#a3abb5"),
    Presence.LOGGED_IN: ("◇", "#1f5fbf", "#8ab4f8"),
    Presence.READY: ("●", "#1e7b34", "#6fcf86"),
    Presence.WRAPUP: ("◐", "#6b3fa0", "#c8a2f0"),
    Presence.PAUSED: ("■", "#9a6700", "#f2c14e"),
}
ACTIVITY_LOOK = {
    Activity.IDLE: ("", "#5f6b7a", "#a3abb5"),
    Activity.RINGING: ("▲", "#b35c00", "#ffb366"),
    Activity.TALKING: ("◆", "#b42318", "#ff8a80"),
    Activity.HOLD: ("▼", "#6b3fa0", "#c8a2f0"),
}


def presence_words(row: BoardRow) -> str:
    p = row.presence
    if p is Presence.PAUSED:
        text = tr("Paused") + (f": {row.pause_reason}" if row.pause_reason else "")
        return text + (tr(" (by {who})").format(who=row.paused_by) if row.paused_by else "")
    return {Presence.LOGGED_OUT: tr("Logged out"), Presence.LOGGED_IN: tr("Not in a queue"),
            Presence.READY: tr("Ready"), Presence.WRAPUP: tr("Wrap-up")}[p]


def activity_words(row: BoardRow) -> str:
    a = row.activity
    if a is Activity.IDLE:
        return tr("Idle")
    word = {Activity.RINGING: tr("Ringing"), Activity.TALKING: tr("Talking"),
            Activity.HOLD: tr("On hold")}[a]
    who = row.caller + (f" ({row.queue})" if row.queue else "")
    return f"{word} · {who}" if who else word


def duration(seconds: float) -> str:
    s = max(0, int(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


# Status filters: (label, predicate)
STATUS_FILTERS: tuple[tuple[str, Callable[[BoardRow], bool]], ...] = (
    (tr_noop("All agents"), lambda r: True),
    (tr_noop("Logged in"), lambda r: r.logged_in),
    (tr_noop("Ready"), lambda r: r.presence is Presence.READY and r.activity is Activity.IDLE),
    (tr_noop("On a call"), lambda r: r.activity is not Activity.IDLE),
    (tr_noop("Paused"), lambda r: r.presence is Presence.PAUSED),
    (tr_noop("Wrap-up"), lambda r: r.presence is Presence.WRAPUP),
    (tr_noop("Logged out"), lambda r: r.presence is Presence.LOGGED_OUT),
)


class BoardModel(QAbstractTableModel):
    """The rows shown: the board filtered and sorted here, in Python (one list sort of
    precomputed keys; a proxy model would call back into Python for every comparison: a
    5,000-row sort took 260-350 ms that way, here a few ms).

    Signals: refetch_needed() when events can no longer be applied (resync, new agent);
    applied(int) after each flush with the number of rows changed (tests, benchmarks)."""

    refetch_needed = Signal()
    applied = Signal(int)

    def __init__(self, clock: Callable[[], float] = time.time,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.board = TeamBoard()
        self._clock = clock
        self.order: list[int] = []  # shown row -> index in board.rows
        self._pos: dict[int, int] = {}  # index in board.rows -> shown row
        self.status: Callable[[BoardRow], bool] = STATUS_FILTERS[0][1]
        self.group = ""
        self.search = ""
        self.sort_column = 0
        self.sort_descending = False
        self._pending: list[tuple[str, Mapping[str, Any], int]] = []
        self._flush = QTimer(self)
        self._flush.setSingleShot(True)
        self._flush.setInterval(FLUSH_MS)
        self._flush.timeout.connect(self.flush)
        self._relayout_timer = QTimer(self)
        self._relayout_timer.setSingleShot(True)
        self._relayout_timer.setInterval(RELAYOUT_MS)
        self._relayout_timer.timeout.connect(lambda: self._relayout(self._compute_order()))
        self._tick = QTimer(self)
        self._tick.setInterval(1000)
        self._tick.timeout.connect(self._tick_since)
        self._tick.start()
        self._texts: dict[int, tuple[str, ...]] = {}  # board row -> its cells' text (cache)
        self._keys: dict[int, tuple[Any, str]] = {}  # board row -> sort key (cache)
        self.headers = {"agent": tr("Agent"), "availability": tr("Availability"),
                        "activity": tr("Activity"), "since": tr("Since"),
                        "device": tr("Phone"), "terminals": tr("Terminals"),
                        "groups": tr("Queues")}

    # ----------------------------------------------------------------- feeding

    def load(self, board: Board | TeamBoard) -> None:
        """A fresh board (a TeamBoard may be built off the GUI thread: pure Python)."""
        self.beginResetModel()
        if isinstance(board, TeamBoard):
            self.board = board
        else:
            self.board.load(board)
        self._pending = [p for p in self._pending if p[2] > self.board.last_event_id]
        self._texts.clear()
        self._keys.clear()
        self.order = self._compute_order()
        self._pos = {b: r for r, b in enumerate(self.order)}
        self.endResetModel()

    def push(self, etype: str, data: Mapping[str, Any], event_id: int = 0) -> None:
        """An event from the stream; applied within FLUSH_MS."""
        self._pending.append((etype, data, event_id))
        if not self._flush.isActive():
            self._flush.start()

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        if not pending:
            return
        try:
            changed = self.board.apply_many(pending)
        except NeedsRefetch:
            self.refetch_needed.emit()
            return
        # New values show now, in place; where rows belong (sort, filters) is worked out
        # at most every RELAYOUT_MS (a re-layout repaints every visible row).
        last = len(COLUMNS) - 1
        index = self.board.index
        for number in changed:
            b = index[number]
            self._texts.pop(b, None)
            self._keys.pop(b, None)
            r = self._pos.get(b)
            if r is not None:
                self.dataChanged.emit(self.index(r, 0), self.index(r, last))
        if changed and not self._relayout_timer.isActive():
            self._relayout_timer.start()
        self.applied.emit(len(changed))

    def _tick_since(self) -> None:
        if self.order:
            col = COLUMNS.index("since")
            self.dataChanged.emit(self.index(0, col), self.index(len(self.order) - 1, col),
                                  [Qt.ItemDataRole.DisplayRole])

    # ----------------------------------------------------------------- filter and sort

    def set_filters(self, status: Callable[[BoardRow], bool] | None = None,
                    group: str | None = None, search: str | None = None) -> None:
        if status is not None:
            self.status = status
        if group is not None:
            self.group = group
        if search is not None:
            self.search = search.strip().lower()
        self._relayout(self._compute_order())

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self.sort_column = column
        self.sort_descending = order == Qt.SortOrder.DescendingOrder
        self._keys.clear()
        self._relayout(self._compute_order())

    def _accepts(self, row: BoardRow) -> bool:
        if not self.status(row):
            return False
        if self.group and self.group not in row.groups:
            return False
        s = self.search
        return not s or s in row.number or s in row.name.lower() or s in row.device \
            or s in row.caller

    def _compute_order(self) -> list[int]:
        rows = self.board.rows
        if self.status is STATUS_FILTERS[0][1] and not self.group and not self.search:
            keep = list(range(len(rows)))
        else:
            accepts = self._accepts
            keep = [i for i, r in enumerate(rows) if accepts(r)]
        col, key = COLUMNS[self.sort_column], self.sort_key
        if col == "since":  # changes with the clock: never cached
            keep.sort(key=lambda i: (key(rows[i], col), rows[i].number),
                      reverse=self.sort_descending)
            return keep
        keys = self._keys
        for i in keep:
            if i not in keys:
                keys[i] = (key(rows[i], col), rows[i].number)
        keep.sort(key=keys.__getitem__, reverse=self.sort_descending)
        return keep

    def _relayout(self, new_order: list[int]) -> None:
        if new_order == self.order:
            return
        self.layoutAboutToBeChanged.emit()
        new_pos = {b: r for r, b in enumerate(new_order)}
        old = self.persistentIndexList()
        moved = []
        for idx in old:
            r = new_pos.get(self.order[idx.row()]) if idx.row() < len(self.order) else None
            moved.append(self.index(r, idx.column()) if r is not None else QModelIndex())
        self.order, self._pos = new_order, new_pos
        self.changePersistentIndexList(old, moved)
        self.layoutChanged.emit()

    # ----------------------------------------------------------------- model

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.order)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.headers[COLUMNS[section]]
        return None

    def row_at(self, r: int) -> BoardRow:
        return self.board.rows[self.order[r]]

    def row_of(self, number: str) -> int | None:
        """The view row showing agent `number` (None: not on the board or filtered out)."""
        b = self.board.index.get(number)
        return None if b is None else self._pos.get(b)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        # Called for every role of every visible cell on each repaint: leave early.
        if role not in (_DISPLAY, _FOREGROUND, _TOOLTIP, ROW_ROLE):
            return None
        r = index.row()
        if r >= len(self.order) or r < 0:
            return None
        b = self.order[r]
        row = self.board.rows[b]
        c = index.column()
        col = COLUMNS[c]
        if role == _DISPLAY:
            if col == "since":
                return self._text(row, col)
            texts = self._texts.get(b)
            if texts is None:
                texts = self._texts[b] = tuple(self._text(row, k) for k in COLUMNS)
            return texts[c]
        if role == _FOREGROUND:
            look = None
            if col == "availability":
                look = PRESENCE_LOOK[row.presence]
            elif col == "activity":
                look = ACTIVITY_LOOK[row.activity]
            if look is not None:
                return QColor(look[2] if is_dark() else look[1])
            return None
        if role == _TOOLTIP:
            return self._tooltip(row, col)
        return row  # ROW_ROLE

    def _text(self, row: BoardRow, col: str) -> str:
        if col == "agent":
            return f"{row.number} · {row.name}" if row.name else row.number
        if col == "availability":
            return f"{PRESENCE_LOOK[row.presence][0]} {presence_words(row)}"
        if col == "activity":
            shape = ACTIVITY_LOOK[row.activity][0]
            return f"{shape} {activity_words(row)}".strip()
        if col == "since":
            since = row.since
            return duration(self._clock() - since) if since else ""
        if col == "device":
            if not row.device:
                return tr("none")
            if row.registered is None:
                return row.device
            return f"{row.device} · " + (tr("registered") if row.registered
                                         else tr("not registered"))
        if col == "terminals":
            n = len(row.terminals)
            return "" if n == 0 else ", ".join(t.ip for t in row.terminals)
        if col == "groups":
            return ", ".join(
                g + (tr(" (static)") if g in row.static else "") + ("" if on else tr(" (out)"))
                for g, on in row.groups.items())
        return ""

    def _tooltip(self, row: BoardRow, col: str) -> str:
        if col == "terminals" and row.terminals:
            return "\n".join(f"{t.terminal_id} · {t.ip} · {t.client_version}"
                             for t in row.terminals)
        return self._text(row, col)

    def sort_key(self, row: BoardRow, col: str) -> Any:
        if col == "agent":
            return row.number
        if col == "availability":
            return int(row.presence)
        if col == "activity":
            return int(row.activity)
        if col == "since":
            return -(row.since or self._clock())
        if col == "terminals":
            return len(row.terminals)
        return self._text(row, col)


class BoardView(QWidget):
    """The board with its filters. `selected_numbers()` for the actions."""

    def __init__(self, model: BoardModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.table = QTableView()
        self.table.setModel(model)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(24)
        self.table.setWordWrap(False)
        self.table.setAccessibleName(tr("Team board"))
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for col, width in zip(COLUMNS, (190, 210, 230, 70, 150, 130), strict=False):
            self.table.setColumnWidth(COLUMNS.index(col), width)
        self.status_box = QComboBox()
        self.status_box.setAccessibleName(tr("Show agents"))
        for label, _pred in STATUS_FILTERS:
            self.status_box.addItem(tr(label))
        self.group_box = QComboBox()
        self.group_box.setAccessibleName(tr("Queue"))
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText(tr("Search number, name, phone or caller"))
        self.search_edit.setAccessibleName(tr("Search agents"))
        self.count_label = QLabel()
        self.count_label.setAccessibleName(tr("Agents shown"))
        self.status_box.currentIndexChanged.connect(
            lambda i: model.set_filters(status=STATUS_FILTERS[i][1]))
        self.group_box.currentIndexChanged.connect(
            lambda _i: model.set_filters(group=self.group_box.currentData() or ""))
        self.search_edit.textChanged.connect(lambda t: model.set_filters(search=t))
        for sig in (model.modelReset, model.layoutChanged):
            sig.connect(self._count)
        model.modelReset.connect(self._fill_groups)
        # A fresh board (config change, resync) keeps the supervisor's selection by agent.
        self._kept: list[str] = []
        model.modelAboutToBeReset.connect(self._keep_selection)
        model.modelReset.connect(self._restore_selection)
        bar = QHBoxLayout()
        bar.addWidget(self.status_box)
        bar.addWidget(self.group_box)
        bar.addWidget(self.search_edit, 1)
        bar.addWidget(self.count_label)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(bar)
        lay.addWidget(self.table, 1)
        self._fill_groups()

    def _fill_groups(self) -> None:
        current = self.group_box.currentData() or ""
        self.group_box.blockSignals(True)
        self.group_box.clear()
        self.group_box.addItem(tr("All queues"), "")
        for g in self.model.board.groups:
            self.group_box.addItem(g, g)
        self.group_box.setCurrentIndex(max(0, self.group_box.findData(current)))
        self.group_box.blockSignals(False)
        self._count()

    def _count(self, *_: object) -> None:
        self.count_label.setText(tr("{shown} of {total}").format(
            shown=self.model.rowCount(), total=len(self.model.board.rows)))

    def selected_rows(self) -> list[BoardRow]:
        rows = {i.row() for i in self.table.selectionModel().selectedRows()}
        return [self.model.row_at(r) for r in sorted(rows)]

    def _keep_selection(self) -> None:
        self._kept = [r.number for r in self.selected_rows()]

    def _restore_selection(self) -> None:
        kept, self._kept = self._kept, []
        rows = [r for r in (self.model.row_of(n) for n in kept) if r is not None]
        if not rows:
            return
        model = self.model
        selection = QItemSelection()
        for r in rows:
            selection.select(model.index(r, 0), model.index(r, model.columnCount() - 1))
        self.table.selectionModel().select(
            selection, QItemSelectionModel.SelectionFlag.ClearAndSelect)
