"""ReportTableModel: the validation report (one row per cell x source) as a table.

Filtering (text and status) and sorting are done on whole numpy columns, not row by row
in a proxy, so a report of 140,000 rows filters as you type.  Errors sort first.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from datakit.errors import without_path

from .. import coverage as cov
from ..icons import status_icon

_ROOT = QModelIndex()   # the invalid index: a model's root

KEY_ROLE = Qt.ItemDataRole.UserRole + 1     # cell key (tuple of str)
SOURCE_ROLE = Qt.ItemDataRole.UserRole + 2  # source tag

COLUMNS = ("Status", "Source", "Cell", "Path", "Message")
STATUS_ORDER = {"error": 0, "missing": 1, "ok": 2, "not expected": 3}
STATUS_CODE = {"error": cov.ERROR, "missing": cov.MISSING, "ok": cov.OK,
               "not expected": cov.NOT_EXPECTED}
NOT_EXPECTED = "not expected"   # shown for a "missing" row the report marks expected=False
INDEX_COLUMNS = ("Subject", "Session", "Task")


def _status(report: pd.DataFrame) -> np.ndarray:
    """The status column, with absences nothing expects shown as "not expected"."""
    status = _text(report["status"]).to_numpy(dtype=object, copy=True)
    if "expected" in report:
        quiet = (status == "missing") & (report["expected"].to_numpy(dtype=object) == False)  # noqa: E712
        status[quiet] = NOT_EXPECTED
    return status


def _reasons(messages: np.ndarray, paths: np.ndarray) -> np.ndarray:
    """Messages without the path they start with: the Path column shows it, so the
    reason itself is what stays visible."""
    out = messages.copy()
    for i in np.flatnonzero([bool(p) and p in m for m, p in zip(messages, paths)]):
        out[i] = without_path(messages[i], paths[i])
    return out


def _text(values) -> pd.Series:
    """A column as str (missing -> ""), as a pandas object Series for vectorised string ops."""
    series = pd.Series(values, dtype=object).reset_index(drop=True)
    return series.where(series.notna(), "").astype(str).astype(object)


class ReportTableModel(QAbstractTableModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self._cols: dict[str, np.ndarray] = {c: np.empty(0, dtype=object) for c in COLUMNS}
        self._key_parts: list[np.ndarray] = []
        self._traceback = np.empty(0, dtype=object)
        self._haystack: pd.Series | None = None
        self._status_rank = np.empty(0, dtype=np.int64)
        self._rows = np.empty(0, dtype=np.int64)   # visible rows, in display order
        self._text = ""
        self._statuses: set[str] | None = None
        self._sort = (0, Qt.SortOrder.AscendingOrder)

    # data in ----------------------------------------------------------------------

    def set_report(self, report: pd.DataFrame | None) -> None:
        """Show ``report`` (validate()-style rows); whole columns at a time, no per-row Python.

        The cell label and the search text are built on first use (display, sort, search).
        """
        self.beginResetModel()
        n = 0 if report is None else len(report)
        self._haystack = None
        if n:
            names = [c for c in INDEX_COLUMNS if c in report.columns and report[c].notna().any()]
            status = _status(report)
            message = _text(report["message"]).to_numpy(dtype=object, copy=True) if "message" in report \
                else np.full(n, "", dtype=object)
            message = _reasons(message, _text(report["path"]).to_numpy(dtype=object))
            if "error_type" in report:
                etype = _text(report["error_type"]).to_numpy(dtype=object)
                typed = np.flatnonzero(etype != "")
                message[typed] = [f"{t}: {m}" if m else t for t, m in zip(etype[typed], message[typed])]
            self._cols = {
                "Status": status,
                "Source": _text(report["Source"]).to_numpy(dtype=object),
                "Cell": None,
                "Path": _text(report["path"]).to_numpy(dtype=object, copy=True),
                "Message": message,
            }
            self._key_parts = [_text(report[c]).to_numpy(dtype=object) for c in names]
            self._traceback = _text(report["traceback"]).to_numpy(dtype=object, copy=True) \
                if "traceback" in report else np.full(n, "", dtype=object)
            self._status_rank = pd.Series(status).map(STATUS_ORDER).fillna(3).to_numpy(dtype=np.int64)
        else:
            self._cols = {c: np.empty(0, dtype=object) for c in COLUMNS}
            self._key_parts = []
            self._traceback = np.empty(0, dtype=object)
            self._status_rank = np.empty(0, dtype=np.int64)
        self._rows = self._visible_rows()
        self.endResetModel()

    def update_rows(self, report: pd.DataFrame, positions) -> bool:
        """Rows at ``positions`` of ``report`` changed in place (same keys, same order).

        When no shown row changes status (so filtering and order stay) the rows are updated
        with dataChanged; otherwise (or when the row count differs) the model is reset.
        """
        positions = np.asarray(positions, dtype=np.int64)
        if report is None or len(report) != len(self._status_rank) or not len(positions):
            self.set_report(report)
            return False
        part = report.iloc[positions]
        status = _status(part)
        if (status != self._cols["Status"][positions]).any():
            self.set_report(report)
            return False
        message = _reasons(_text(part["message"]).to_numpy(dtype=object, copy=True),
                           _text(part["path"]).to_numpy(dtype=object))
        etype = _text(part["error_type"]).to_numpy(dtype=object)
        typed = np.flatnonzero(etype != "")
        message[typed] = [f"{t}: {m}" if m else t for t, m in zip(etype[typed], message[typed])]
        path = _text(part["path"]).to_numpy(dtype=object)
        if self._text:   # the search text may now match (or no longer match) these rows
            hay = ["\t".join((st, src, self._key_label(int(i)), p, m)).lower() for st, src, i, p, m
                   in zip(status, self._cols["Source"][positions], positions, path, message)]
            now = np.array([self._text in h for h in hay], dtype=bool)
            if (now != np.isin(positions, self._rows)).any():
                self._cols["Message"][positions] = message
                self._cols["Path"][positions] = path
                self.set_report(report)
                return False
            if self._haystack is not None:
                values = self._haystack.to_numpy(dtype=object, copy=True)
                values[positions] = hay
                self._haystack = pd.Series(values, dtype=object)
        else:
            self._haystack = None
        self._cols["Message"][positions] = message
        self._cols["Path"][positions] = path
        self._traceback[positions] = _text(part["traceback"]).to_numpy(dtype=object)
        where = np.full(len(self._status_rank), -1, dtype=np.int64)
        where[self._rows] = np.arange(len(self._rows))
        for row in where[positions]:
            if row >= 0:
                self.dataChanged.emit(self.index(int(row), 0), self.index(int(row), len(COLUMNS) - 1))
        return True

    def _key(self, i: int) -> tuple:
        return tuple(str(part[i]) for part in self._key_parts)

    def _key_label(self, i: int) -> str:
        return " / ".join(self._key(i))

    def _column(self, name: str) -> np.ndarray:
        """A display column (the cell label is joined from the key parts on first use)."""
        if name == "Cell" and self._cols["Cell"] is None:
            label = pd.Series(self._key_parts[0], dtype=object) if self._key_parts else pd.Series([], dtype=object)
            for part in self._key_parts[1:]:
                label = label + " / " + pd.Series(part, dtype=object)
            self._cols["Cell"] = label.to_numpy(dtype=object)
        return self._cols[name]

    def _search_text(self) -> pd.Series:
        if self._haystack is None:
            joined = pd.Series(self._column("Status"), dtype=object)
            for name in COLUMNS[1:]:
                joined = joined + "\t" + pd.Series(self._column(name), dtype=object)
            self._haystack = joined.str.lower()
        return self._haystack

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
            mask &= self._search_text().str.contains(self._text, regex=False).to_numpy(dtype=bool)
        rows = np.flatnonzero(mask)
        return rows[self._order(rows)]

    def _order(self, rows: np.ndarray) -> np.ndarray:
        column, order = self._sort
        if not len(rows):
            return np.empty(0, dtype=np.int64)
        name = COLUMNS[column]
        cell = [part[rows].astype(str) for part in reversed(self._key_parts)]
        if name == "Status":
            keys = (self._cols["Source"][rows].astype(str), *cell, self._status_rank[rows])
        elif name == "Cell":
            keys = (self._cols["Source"][rows].astype(str), *cell)
        else:
            keys = (*cell, self._cols[name][rows].astype(str))
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
        counts = pd.Series(self._cols["Status"], dtype=object).value_counts()
        return {str(k): int(v) for k, v in counts.items()}

    def row_info(self, row: int) -> dict:
        i = int(self._rows[row])
        out = {name: self._column(name)[i] for name in COLUMNS}
        out["key"] = self._key(i)
        out["traceback"] = self._traceback[i]
        return out

    def row_for(self, key, source) -> int:
        """The visible row for (cell, source), or -1."""
        key = tuple(map(str, key))
        hit = self._cols["Source"][self._rows] == source
        for part, value in zip(self._key_parts, key):
            hit &= part[self._rows] == value
        rows = np.flatnonzero(hit)
        return int(rows[0]) if len(rows) else -1

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
            return self._key_label(i) if name == "Cell" else str(self._cols[name][i])
        if role == Qt.ItemDataRole.ToolTipRole:
            if name == "Message" and self._traceback[i]:
                return f"{self._cols['Message'][i]}\n\n{self._traceback[i][-2000:]}"
            text = self._key_label(i) if name == "Cell" else str(self._cols[name][i])
            return text or None
        if role == Qt.ItemDataRole.DecorationRole and name == "Status":
            code = STATUS_CODE.get(self._cols["Status"][i])
            return status_icon(code) if code is not None else None
        if role == Qt.ItemDataRole.ForegroundRole and self._cols["Status"][i] == "error" \
                and name in ("Status", "Message"):
            return QBrush(QColor(*cov.COLORS[cov.ERROR]))
        if role == KEY_ROLE:
            return self._key(i)
        if role == SOURCE_ROLE:
            return self._cols["Source"][i]
        return None
