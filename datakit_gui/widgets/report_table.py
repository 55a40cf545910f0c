"""The validation report dock: status, source, cell, path, message; filterable.

Double-clicking a row selects that cell (and source) in AppState.
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QKeySequence
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
from superqt.utils import QSignalDebouncer

from ..models.report_model import KEY_ROLE, SOURCE_ROLE, ReportTableModel

STATUS_CHOICES = (("All statuses", None), ("Errors", ["error"]), ("Missing", ["missing"]),
                  ("Errors and missing", ["error", "missing"]), ("OK", ["ok"]),
                  ("Not expected", ["not expected"]))


class ReportTable(QWidget):
    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.state = state
        self.model = ReportTableModel(self)
        self.search = QLineEdit()
        self.search.setObjectName("reportSearch")
        self.search.setPlaceholderText("Filter by source, cell, path or message…")
        self.search.setClearButtonEnabled(True)
        self.status = QComboBox()
        self.status.setObjectName("reportStatus")
        for text, value in STATUS_CHOICES:
            self.status.addItem(text, value)
        self.counts = QLabel("Not validated yet: run Validate (Ctrl+Shift+V).")
        self.counts.setObjectName("reportCounts")
        top = QHBoxLayout()
        top.addWidget(self.search, 2)
        top.addWidget(self.status)
        top.addWidget(self.counts, 1)

        self.view = QTableView()
        self.view.setObjectName("reportTable")
        self.view.setModel(self.model)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setAlternatingRowColors(True)
        self.view.setWordWrap(False)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(22)
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for col, width in enumerate((80, 120, 260, 380)):
            self.view.setColumnWidth(col, width)
        self.view.doubleClicked.connect(self._activated)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(self.view)

        self._debouncer = QSignalDebouncer(self)   # refilter once typing pauses (140k rows)
        self._debouncer.setTimeout(180)
        self._debouncer.triggered.connect(self._refilter)
        self.search.textChanged.connect(self._debouncer.throttle)
        self.status.currentIndexChanged.connect(self._refilter)
        state.report_changed.connect(self._report_changed)
        state.dataset_changed.connect(self._update_counts)

    def _report_changed(self) -> None:
        if self.state.report_update is not None:
            self.model.update_rows(self.state.report, self.state.report_update)
        else:
            self.model.set_report(self.state.report)
        self._update_counts()

    def _refilter(self, *args) -> None:
        self.model.set_filter(self.search.text(), self.status.currentData())
        self._update_counts()

    def _update_counts(self) -> None:
        total = self.model.total()
        if not total and self.state.saved_view:
            self.counts.setText("A saved dataset: its cells are read from the file, nothing to "
                                "validate (open the experiment folder for that).")
            return
        if not total:
            self.counts.setText("Not validated yet: run Validate (Ctrl+Shift+V).")
            return
        counts = self.model.status_counts()
        parts = [f"{counts.get(s, 0)} {s}" for s in ("error", "missing", "ok", "not expected")]
        shown = self.model.rowCount()
        self.counts.setText(", ".join(parts) + (f"  —  showing {shown}" if shown != total else ""))

    def show_errors(self) -> None:
        self.status.setCurrentIndex(1)

    def _activated(self, index) -> None:
        key = index.data(KEY_ROLE)
        if key:
            self.state.select_cell(key, index.data(SOURCE_ROLE))

    def keyPressEvent(self, event):
        if event.matches(QKeySequence.StandardKey.Copy):
            rows = sorted({i.row() for i in self.view.selectionModel().selectedIndexes()})
            lines = ["\t".join(str(v) for k, v in self.model.row_info(r).items()
                               if k not in ("key", "traceback")) for r in rows]
            QGuiApplication.clipboard().setText("\n".join(lines))
            return
        super().keyPressEvent(event)
