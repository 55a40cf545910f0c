"""ReportTableModel: the validation report (one row per cell x source) as a table.

Filtering (text and status) and sorting are done on whole numpy columns, not row by row
in a proxy, so a report of 140,000 rows filters as you type.  Errors sort first.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from .. import coverage as cov
from ..icons import status_icon

_ROOT = QModelIndex()   # the invalid index: a model's root

KEY_ROLE = Qt.ItemDataRole.UserRole + 1     # cell key (tuple of str)
SOURCE_ROLE = Qt.ItemDataRole.UserRole + 2  # source tag

COLUMNS = ("Status", "Source", "Cell", "Path", "Message")
STATUS_ORDER = {"error": 0, "missing": 1, "ok": 2}
STATUS_CODE = {"error": cov.ERROR, "missing": cov.MISSING, "ok": cov.OK}
INDEX_COLUMNS = ("Subject", "Session", "Task")


def _text(values) -> np.ndarray:
    out = np.asarray(pd.Series(values, dtype=object).where(pd.notna(values), "").astype(str),
                     dtype=object)
    return out


class ReportTableModel(QAbstractTableModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self._cols: dict[str, np.ndarray] = {c: np.empty(0, dtype=object) for c in COLUMNS}
        self._keys: list[tuple] = []
        self._traceback = np.empty(0, dtype=object)
        self._status_rank = np.empty(0, dtype=np.int64)
        self._rows = np.empty(0, dtype=np.int64)   # visible rows, in display order
        self._text = ""
        self._statuses: set[str] | None = None
        self._sort = (0, Qt.SortOrder.AscendingOrder)

    # data in ----------------------------------------------------------------------

    def set_report(self, report: pd.DataFrame | None) -> None:
        self.beginResetModel()
        n = 0 if report is None else len(report)
        if n:
            names = [c for c in INDEX_COLUMNS if c in report.columns]
            parts = [report[c].to_numpy(dtype=object) for c in names]
            keys = [tuple(str(v) for v in key if v is not None and not (isinstance(v, float) and np.isnan(v)))
                    for key in zip(*parts)]
            status = _text(report["status"])
            message = _text(report["message"]) if "message" in report else np.full(n, "", dtype=object)
            etype = _text(report["error_type"]) if "error_type" in report else np.full(n, "", dtype=object)
            message = np.array([f"{t}: {m}" if t and m else (m or t) for t, m in zip(etype, message)],
                               dtype=object)
            self._cols = {
                "Status": status,
                "Source": _text(report["Source"]),
                "Cell": np.array([cov.cell_label(k) for k in keys], dtype=object),
                "Path": _text(report["path"]),
                "Message": message,
            }
            self._keys = keys
            self._traceback = _text(report["traceback"]) if "traceback" in report \
                else np.full(n, "", dtype=object)
            self._status_rank = np.array([STATUS_ORDER.get(s, 3) for s in status], dtype=np.int64)
        else:
            self._cols = {c: np.empty(0, dtype=object) for c in COLUMNS}
            self._keys = []
            self._traceback = np.empty(0, dtype=object)
            self._status_rank = np.empty(0, dtype=np.int64)
        self._rows = self._visible_rows()
        self.endResetModel()

    def set_filter(self, text: str = "", statuses=None) -> None:
        """Show rows containing ``text`` (any column, case-insensitive) with a status in ``statuses``."""
        self.beginResetModel()
        self._text = text.strip().lower()
        self._statuses = None if statuses is None else set(statuses)
        self._rows = self._visible_rows()
        self.endResetModel()

    def _visible_rows(self) -> np.ndarray:
        n = len(self._status_rank)
        mask = np.ones(n, dtype=bool)
        if self._statuses is not None:
            mask &= np.isin(self._cols["Status"], list(self._statuses))
        if self._text and n:
            hit = np.zeros(n, dtype=bool)
            for name in COLUMNS:
                hit |= pd.Series(self._cols[name]).str.lower().str.contains(
                    self._text, regex=False).to_numpy(dtype=bool)
            mask &= hit
        rows = np.flatnonzero(mask)
        return rows[self._order(rows)]

    def _order(self, rows: np.ndarray) -> np.ndarray:
        column, order = self._sort
        if not len(rows):
            return np.empty(0, dtype=np.int64)
        name = COLUMNS[column]
        if name == "Status":
            keys = (self._cols["Source"][rows].astype(str), self._cols["Cell"][rows].astype(str),
                    self._status_rank[rows])
        else:
            keys = (self._cols["Cell"][rows].astype(str), self._cols[name][rows].astype(str))
        idx = np.lexsort(keys)
        if order == Qt.SortOrder.DescendingOrder:
            idx = idx[::-1]
        return idx

    def sort(self, column, order=Qt.SortOrder.AscendingOrder):
        if not 0 <= column < len(COLUMNS):
            return
        self.layoutAboutToBeChanged.emit()
        old = self.persistentIndexList()
        old_rows = [self._rows[i.row()] for i in old]
        self._sort = (column, order)
        base = np.sort(self._rows)
        self._rows = base[self._order(base)]
        position = {int(r): i for i, r in enumerate(self._rows)} if old else {}
        self.changePersistentIndexList(
            old, [self.index(position[int(r)], i.column()) for r, i in zip(old_rows, old)])
        self.layoutChanged.emit()

    # lookups ----------------------------------------------------------------------

    def total(self) -> int:
        return len(self._status_rank)

    def status_counts(self) -> dict:
        values, counts = np.unique(self._cols["Status"], return_counts=True)
        return {str(v): int(c) for v, c in zip(values, counts)}

    def row_info(self, row: int) -> dict:
        i = int(self._rows[row])
        out = {name: self._cols[name][i] for name in COLUMNS}
        out["key"] = self._keys[i]
        out["traceback"] = self._traceback[i]
        return out

    def row_for(self, key, source) -> int:
        """The visible row for (cell, source), or -1."""
        key = tuple(map(str, key))
        for row, i in enumerate(self._rows):
            if self._keys[i] == key and self._cols["Source"][i] == source:
                return row
        return -1

    # QAbstractTableModel ----------------------------------------------------------

    def rowCount(self, parent=_ROOT):
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent=_ROOT):
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(COLUMNS):
            return COLUMNS[section]
        if orientation == Qt.Orientation.Vertical and 0 <= section < len(self._rows):
            return str(section + 1)
        return None

    def flags(self, index):
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        i = int(self._rows[index.row()])
        name = COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return str(self._cols[name][i])
        if role == Qt.ItemDataRole.ToolTipRole:
            if name == "Message" and self._traceback[i]:
                return f"{self._cols['Message'][i]}\n\n{self._traceback[i][-2000:]}"
            return str(self._cols[name][i]) or None
        if role == Qt.ItemDataRole.DecorationRole and name == "Status":
            code = STATUS_CODE.get(self._cols["Status"][i])
            return status_icon(code) if code is not None else None
        if role == Qt.ItemDataRole.ForegroundRole and self._cols["Status"][i] == "error" \
                and name in ("Status", "Message"):
            return QBrush(QColor(*cov.COLORS[cov.ERROR]))
        if role == KEY_ROLE:
            return self._keys[i]
        if role == SOURCE_ROLE:
            return self._cols["Source"][i]
        return None
