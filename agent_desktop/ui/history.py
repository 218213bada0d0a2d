"""The call-history list: a search box over the local history; double-click or Enter calls back.

All database work goes through `HistoryStore` (worker threads); a newer search always wins
over an older answer that arrives late.
"""

from __future__ import annotations

import time
from datetime import datetime

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from agent_desktop.history import INCOMING, HistoryEntry, HistoryStore
from agent_desktop.session.messages import tr, tr_noop
from agent_desktop.ui.ink import ink

SEARCH_DELAY_MS = 200
COLUMNS = (tr_noop("When"), tr_noop("Call"), tr_noop("Number"), tr_noop("Name"),
           tr_noop("Queue"), tr_noop("Duration"))  # tr() at use
NUMBER_ROLE = Qt.ItemDataRole.UserRole


def format_duration(seconds: float) -> str:
    s = max(0, int(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def format_when(started_at: float, now: float | None = None) -> str:
    when = datetime.fromtimestamp(started_at)
    today = datetime.fromtimestamp(now if now is not None else time.time()).date()
    if when.date() == today:
        return when.strftime("%H:%M")
    return when.strftime("%Y-%m-%d %H:%M")


def describe(entry: HistoryEntry) -> str:
    if entry.direction == INCOMING:
        return tr("↙ in") if entry.answered else tr("✗ missed")
    return tr("↗ out") if entry.answered else tr("↗ not answered")


class _List(QTreeWidget):
    entered = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentItem():
            self.entered.emit()
            return
        super().keyPressEvent(event)


class HistoryView(QWidget):
    """Signals: call_back(number)."""

    call_back = Signal(str)
    loaded = Signal(int)  # rows shown after a search answered (tests wait on it)

    def __init__(self, store: HistoryStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self._generation = 0
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText(tr("Search number or name"))
        self.search_edit.setAccessibleName(tr("Search call history"))
        self.search_edit.setClearButtonEnabled(True)
        self.list = _List()
        self.list.setAccessibleName(tr("Call history"))
        self.list.setColumnCount(len(COLUMNS))
        self.list.setHeaderLabels([tr(c) for c in COLUMNS])
        self.list.setRootIsDecorated(False)
        self.list.setUniformRowHeights(True)
        self.list.setAlternatingRowColors(True)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.list.setToolTip(tr("Double-click or press Enter to call back"))
        header = self.list.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.empty_label = QLabel(tr("No calls yet."))
        self.empty_label.setStyleSheet(f"color: {ink('muted')};")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(SEARCH_DELAY_MS)
        self._debounce.timeout.connect(self.reload)
        self.search_edit.textChanged.connect(lambda _t: self._debounce.start())
        self.search_edit.returnPressed.connect(self.reload)
        self.list.itemDoubleClicked.connect(lambda item, _col: self._call_back(item))
        self.list.entered.connect(lambda: self._call_back(self.list.currentItem()))
        store.changed.connect(self.reload)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.search_edit)
        lay.addWidget(self.list, 1)
        lay.addWidget(self.empty_label)
        self.reload()

    def reload(self) -> None:
        self._debounce.stop()
        self._generation += 1
        gen, text = self._generation, self.search_edit.text()
        self.store.search(text, lambda rows: self._show(gen, text, rows),
                          on_error=self._failed, asker=self)

    def _failed(self, exc: BaseException) -> None:
        self.empty_label.setText(tr("The call history could not be read: {why}").format(
            why=str(exc) or type(exc).__name__))
        self.empty_label.show()

    def _show(self, generation: int, text: str, rows: list[HistoryEntry]) -> None:
        if generation != self._generation:
            return  # a newer search is on its way
        self.list.clear()
        now = time.time()
        for entry in rows:
            item = QTreeWidgetItem([
                format_when(entry.started_at, now), describe(entry), entry.number,
                entry.name, entry.queue,
                format_duration(entry.duration_s) if entry.answered else "—"])
            item.setData(0, NUMBER_ROLE, entry.number)
            item.setToolTip(2, tr("Double-click or press Enter to call {n} back").format(
                n=entry.number))
            if entry.direction == INCOMING and not entry.answered:
                for col in range(len(COLUMNS)):
                    item.setForeground(col, QColor(ink("error")))
            self.list.addTopLevelItem(item)
        if rows:
            self.empty_label.hide()
        else:
            self.empty_label.setText(tr("No calls match “{text}”.").format(text=text)
                                     if text.strip() else tr("No calls yet."))
            self.empty_label.show()
        self.loaded.emit(len(rows))

    def numbers(self) -> list[str]:
        items = (self.list.topLevelItem(i) for i in range(self.list.topLevelItemCount()))
        return [str(item.data(0, NUMBER_ROLE)) for item in items if item is not None]

    def _call_back(self, item: QTreeWidgetItem | None) -> None:
        if item is None:
            return
        number = str(item.data(0, NUMBER_ROLE) or "")
        if number:
            self.call_back.emit(number)
