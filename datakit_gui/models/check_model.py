"""CheckListModel: a list of named values with check boxes and an optional count each.

Used by the filter panel (subjects, sessions, tasks, sources) and by the stream plot's
feature chooser.  ``checks_changed`` fires once per user edit or bulk change.
"""
from __future__ import annotations

from PySide6.QtCore import QAbstractListModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QColor

_ROOT = QModelIndex()   # the invalid index: a model's root

VALUE_ROLE = Qt.ItemDataRole.UserRole + 1


class CheckListModel(QAbstractListModel):
    checks_changed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self._values: list[str] = []
        self._labels: list[str] = []
        self._tips: list[str | None] = []
        self._checked: list[bool] = []
        self._colors: list[QColor | None] = []

    def set_items(self, values, checked=(), labels=None, tooltips=None, colors=None) -> None:
        """Replace the list; ``labels``/``tooltips`` default to the values; ``colors``
        (RGB tuples) show as a swatch before each label."""
        values = [str(v) for v in values]
        checked = set(map(str, checked))
        self.beginResetModel()
        self._values = values
        self._labels = list(labels) if labels is not None else list(values)
        self._tips = list(tooltips) if tooltips is not None else [None] * len(values)
        self._colors = [QColor(*c) for c in colors] if colors is not None else [None] * len(values)
        self._checked = [v in checked for v in values]
        self.endResetModel()

    def set_labels(self, labels, tooltips=None) -> None:
        """New labels for the same values (e.g. updated counts), without a reset."""
        self._labels = list(labels)
        if tooltips is not None:
            self._tips = list(tooltips)
        if self._values:
            self.dataChanged.emit(self.index(0), self.index(len(self._values) - 1),
                                  [Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole])

    def values(self) -> list[str]:
        return list(self._values)

    def checked(self) -> list[str]:
        return [v for v, c in zip(self._values, self._checked) if c]

    def set_checked(self, checked, *, notify: bool = True) -> None:
        checked = set(map(str, checked))
        new = [v in checked for v in self._values]
        if new == self._checked:
            return
        self._checked = new
        if self._values:
            self.dataChanged.emit(self.index(0), self.index(len(self._values) - 1),
                                  [Qt.ItemDataRole.CheckStateRole])
        if notify:
            self.checks_changed.emit()

    def set_all(self, state: bool) -> None:
        self.set_checked(self._values if state else [])

    # QAbstractListModel -----------------------------------------------------------

    def rowCount(self, parent=_ROOT):
        return 0 if parent.isValid() else len(self._values)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._values):
            return None
        row = index.row()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._labels[row]
        if role == Qt.ItemDataRole.CheckStateRole:
            return Qt.CheckState.Checked if self._checked[row] else Qt.CheckState.Unchecked
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tips[row]
        if role == Qt.ItemDataRole.DecorationRole:
            return self._colors[row]
        if role == VALUE_ROLE:
            return self._values[row]
        return None

    def flags(self, index):
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsUserCheckable

    def setData(self, index, value, role=Qt.ItemDataRole.EditRole):
        if role != Qt.ItemDataRole.CheckStateRole or not index.isValid():
            return False
        row = index.row()
        if isinstance(value, Qt.CheckState):
            state = value == Qt.CheckState.Checked
        else:
            state = int(value) == Qt.CheckState.Checked.value
        if self._checked[row] == state:
            return True
        self._checked[row] = state
        self.dataChanged.emit(index, index, [Qt.ItemDataRole.CheckStateRole])
        self.checks_changed.emit()
        return True
