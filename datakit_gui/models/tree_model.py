"""ExperimentTreeModel: subjects > sessions > tasks, with coverage counts per node.

Built from a :class:`~datakit_gui.coverage.Coverage`.  The structure changes only when
a new dataset arrives; filter and report changes refresh the counts in place (one
layout change, so views keep their expanded nodes and selection).  Nodes are kept in flat arrays and
addressed by ``internalId`` (never a Python object pointer).
"""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont

from .. import coverage as cov
from ..icons import status_icon

_ROOT = QModelIndex()   # the invalid index: a model's root

KEY_ROLE = Qt.ItemDataRole.UserRole + 1      # the node's key prefix (tuple of str)
COUNTS_ROLE = Qt.ItemDataRole.UserRole + 2   # dict of the node's counts
STATUS_ROLE = Qt.ItemDataRole.UserRole + 3   # the node's status code

COLUMNS = ("Name", "Present", "Missing", "Failed")
COUNT_OF_COLUMN = {1: "present", 2: "missing", 3: "failed"}
LEVEL_NAMES = ("subject", "session", "task")
_FAILED = cov.COUNT_COLUMNS.index("failed")
_RECORDED = cov.COUNT_COLUMNS.index("recorded")


class ExperimentTreeModel(QAbstractItemModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self._clear()

    def _clear(self) -> None:
        # node 0 is the invisible root
        self._name: list[str] = [""]
        self._key: list[tuple] = [()]
        self._parent: list[int] = [-1]
        self._row: list[int] = [0]
        self._children: list[list[int]] = [[]]
        self._index_of: dict[tuple, int] = {(): 0}
        self._counts = np.zeros((1, len(cov.COUNT_COLUMNS)), dtype=np.int64)
        self._structure = None

    # building ---------------------------------------------------------------------

    def set_coverage(self, coverage: cov.Coverage | None) -> None:
        """Show ``coverage``; only a different set of cells rebuilds the tree."""
        structure = None if coverage is None else coverage.index
        same = (structure is None and self._structure is None) or (
            structure is not None and self._structure is not None and structure.equals(self._structure))
        if not same:
            self.beginResetModel()
            self._clear()
            if coverage is not None:
                self._build(coverage)
                self._structure = structure
            self.endResetModel()
        elif coverage is not None:
            # same nodes, new counts: one layout change instead of a dataChanged per parent
            # (thousands of those cost a second through a proxy and a tree view)
            self.layoutAboutToBeChanged.emit()
            self._fill_counts(coverage)
            self.layoutChanged.emit()

    def _build(self, coverage: cov.Coverage) -> None:
        for key in coverage.keys:
            parent = 0
            for depth in range(1, len(key) + 1):
                prefix = key[:depth]
                node = self._index_of.get(prefix)
                if node is None:
                    node = len(self._name)
                    self._name.append(prefix[-1])
                    self._key.append(prefix)
                    self._parent.append(parent)
                    self._row.append(len(self._children[parent]))
                    self._children[parent].append(node)
                    self._children.append([])
                    self._index_of[prefix] = node
                parent = node
        self._fill_counts(coverage)

    def _fill_counts(self, coverage: cov.Coverage) -> None:
        counts = np.zeros((len(self._name), len(cov.COUNT_COLUMNS)), dtype=np.int64)
        for depth in range(1, coverage.index.nlevels + 1):
            grouped = coverage.group_counts(depth)[list(cov.COUNT_COLUMNS)]
            values = grouped.to_numpy()
            for prefix, row in zip(grouped.index, values):
                prefix = tuple(map(str, prefix)) if isinstance(prefix, tuple) else (str(prefix),)
                node = self._index_of.get(prefix)
                if node is not None:
                    counts[node] = row
        counts[0] = counts[[c for c in self._children[0]]].sum(axis=0) if self._children[0] else 0
        self._counts = counts

    # lookups ----------------------------------------------------------------------

    def _node(self, index: QModelIndex) -> int:
        return int(index.internalId()) if index.isValid() else 0

    def _node_index(self, node: int, column: int = 0) -> QModelIndex:
        if node == 0:
            return QModelIndex()
        return self.createIndex(self._row[node], column, node)

    def index_for_key(self, key) -> QModelIndex:
        """The index of the node for a key prefix (subject,), (subject, session), ..."""
        node = self._index_of.get(tuple(map(str, key)))
        return QModelIndex() if node in (None, 0) else self._node_index(node)

    def counts(self, node_index: QModelIndex | None = None) -> dict:
        node = self._node(node_index) if node_index is not None else 0
        return dict(zip(cov.COUNT_COLUMNS, map(int, self._counts[node])))

    def status(self, node: int) -> int:
        c = dict(zip(cov.COUNT_COLUMNS, self._counts[node]))
        if c["included_cells"] == 0:
            return cov.EXCLUDED
        if c["failed"]:
            return cov.ERROR
        if c["missing"]:
            return cov.MISSING
        if c["present"] and c["ok"] == c["present"]:
            return cov.OK
        return cov.PRESENT if c["present"] else cov.NOT_EXPECTED

    # QAbstractItemModel -----------------------------------------------------------

    def index(self, row, column, parent=_ROOT):
        if isinstance(parent, QPersistentModelIndex):
            parent = QModelIndex(parent)
        if column < 0 or column >= len(COLUMNS) or row < 0:
            return QModelIndex()
        if parent.isValid() and parent.column() != 0:
            return QModelIndex()
        children = self._children[self._node(parent)]
        if row >= len(children):
            return QModelIndex()
        return self.createIndex(row, column, children[row])

    def parent(self, index=_ROOT):
        if not index.isValid():
            return QModelIndex()
        parent = self._parent[self._node(index)]
        return self._node_index(parent) if parent > 0 else QModelIndex()

    def rowCount(self, parent=_ROOT):
        if parent.isValid() and parent.column() != 0:
            return 0
        return len(self._children[self._node(parent)])

    def columnCount(self, parent=_ROOT):
        return len(COLUMNS)

    def hasChildren(self, parent=_ROOT):
        return self.rowCount(parent) > 0

    def flags(self, index):
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(COLUMNS):
            if role == Qt.ItemDataRole.DisplayRole:
                return COLUMNS[section]
            if role == Qt.ItemDataRole.ToolTipRole:
                return ("Subject, session, task", "Files found (of included sources)",
                        "Files that should exist and were not found (datakit.toml, "
                        "manifest.json, or most cells of the task have them)",
                        "Files that failed validation")[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        node = self._node(index)
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return self._name[node]
            return str(int(self._counts[node, cov.COUNT_COLUMNS.index(COUNT_OF_COLUMN[col])]))
        if role == Qt.ItemDataRole.DecorationRole and col == 0:
            return status_icon(self.status(node))
        if role == Qt.ItemDataRole.TextAlignmentRole and col > 0:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole:
            status = self.status(node)
            if status == cov.EXCLUDED:
                return QBrush(QColor(150, 150, 150))
            if col == 3 and self._counts[node, _FAILED]:
                return QBrush(QColor(*cov.COLORS[cov.ERROR]))
            if col == 0 and self._counts[node, _RECORDED] == 0:
                return QBrush(QColor(150, 100, 0))      # never recorded: the missing hue, darker
            return None
        if role == Qt.ItemDataRole.FontRole and col == 0 and self._counts[node, _RECORDED] == 0:
            font = QFont()
            font.setItalic(True)
            return font
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(node)
        if role == KEY_ROLE:
            return self._key[node]
        if role == COUNTS_ROLE:
            return dict(zip(cov.COUNT_COLUMNS, map(int, self._counts[node])))
        if role == STATUS_ROLE:
            return self.status(node)
        return None

    def _tooltip(self, node: int) -> str:
        c = dict(zip(cov.COUNT_COLUMNS, map(int, self._counts[node])))
        level = LEVEL_NAMES[len(self._key[node]) - 1] if self._key[node] else ""
        lines = [f"{level} {self._name[node]}: {cov.LABELS[self.status(node)]}"]
        unrecorded = c["cells"] - c["recorded"]
        if c["cells"] > 1:
            lines.append(f"{c['included_cells']} of {c['cells']} cells pass the filters")
            if unrecorded:
                lines.append(f"{unrecorded} of them expected but never recorded")
        elif unrecorded:
            lines.append("expected but never recorded (no file of this cell exists)")
        lines.append(f"{c['present']} files present, {c['missing']} expected ones missing, "
                     f"{c['failed']} failed, {c['ok']} validated ok")
        return "\n".join(lines)
