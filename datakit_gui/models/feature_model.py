"""FeatureModel: the stream plot's checkable feature list (a small tree).

Top level: the cell's signals (ticked by default), then one "more features (N)" group
holding every other drawable feature, per source.  Leaves carry a ``(source, feature)``
key, a label, a tooltip (the full name) and a colour chip; ``checks_changed`` gives the
keys whose check state changed, so the plot shows or hides just those items.
"""
from __future__ import annotations

from PySide6.QtCore import QAbstractItemModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QColor, QFont

_ROOT = QModelIndex()
KEY_ROLE = Qt.ItemDataRole.UserRole + 1
MORE = "more features"


class _Node:
    __slots__ = ("checked", "children", "color", "key", "label", "parent", "row", "tip")

    def __init__(self, parent, label, tip=None, key=None, checked=False, color=None):
        self.parent = parent
        self.children: list[_Node] = []
        self.label = label
        self.tip = tip
        self.key = key
        self.checked = checked
        self.color = QColor(*color) if color is not None else None
        self.row = 0

    def add(self, node: _Node) -> _Node:
        node.row = len(self.children)
        self.children.append(node)
        return node


class FeatureModel(QAbstractItemModel):
    checks_changed = Signal(list)      # [(source, feature), ...] whose check state changed

    def __init__(self, parent=None):
        super().__init__(parent)
        self._root = _Node(None, "")
        self._leaves: dict[tuple, _Node] = {}
        self._more: _Node | None = None
        self._bold = QFont()
        self._bold.setBold(True)

    def set_items(self, signals, extras=()) -> None:
        """Replace the list.  ``signals`` and ``extras`` are sequences of
        ``(key, label, tooltip, color)``; signals start ticked, extras unticked and
        grouped by their key's source under "more features"."""
        self.beginResetModel()
        self._root = _Node(None, "")
        self._leaves = {}
        self._more = None
        for key, label, tip, color in signals:
            self._leaves[tuple(key)] = self._root.add(_Node(self._root, label, tip, tuple(key), True, color))
        extras = list(extras)
        if extras:
            self._more = self._root.add(_Node(self._root, f"{MORE} ({len(extras)})",
                                              "Features that are not declared signals: clocks, "
                                              "counters and other columns (tick to draw)"))
            groups: dict[str, _Node] = {}
            for key, label, tip, color in extras:
                source = str(key[0])
                group = groups.get(source)
                if group is None:
                    group = groups[source] = self._more.add(_Node(self._more, source, source))
                self._leaves[tuple(key)] = group.add(_Node(group, label, tip, tuple(key), False, color))
            for group in groups.values():
                group.label = f"{group.label} ({len(group.children)})"
        self.endResetModel()

    # queries ----------------------------------------------------------------------

    def keys(self) -> list[tuple]:
        return list(self._leaves)

    def checked(self) -> list[tuple]:
        return [key for key, node in self._leaves.items() if node.checked]

    def is_checked(self, key) -> bool:
        node = self._leaves.get(tuple(key))
        return bool(node and node.checked)

    def index_of(self, key) -> QModelIndex:
        node = self._leaves.get(tuple(key))
        return self.createIndex(node.row, 0, node) if node is not None else QModelIndex()

    def more_index(self) -> QModelIndex:
        return self.createIndex(self._more.row, 0, self._more) if self._more is not None else QModelIndex()

    # changes ----------------------------------------------------------------------

    def set_checked(self, keys, *, notify: bool = True) -> None:
        """Tick exactly ``keys``."""
        wanted = {tuple(k) for k in keys}
        changed = []
        for key, node in self._leaves.items():
            state = key in wanted
            if node.checked != state:
                node.checked = state
                changed.append(key)
                index = self.createIndex(node.row, 0, node)
                self.dataChanged.emit(index, index, [Qt.ItemDataRole.CheckStateRole])
        if changed and notify:
            self.checks_changed.emit(changed)

    def set_key_checked(self, key, state: bool) -> None:
        checked = set(self.checked())
        (checked.add if state else checked.discard)(tuple(key))
        self.set_checked(checked)

    # QAbstractItemModel -----------------------------------------------------------

    def _node(self, index) -> _Node:
        return index.internalPointer() if index.isValid() else self._root

    def index(self, row, column=0, parent=_ROOT):
        if column != 0 or row < 0:
            return QModelIndex()
        node = self._node(parent)
        if row >= len(node.children):
            return QModelIndex()
        return self.createIndex(row, 0, node.children[row])

    def parent(self, index=_ROOT):
        if not index.isValid():
            return QModelIndex()
        node = index.internalPointer().parent
        if node is None or node is self._root:
            return QModelIndex()
        return self.createIndex(node.row, 0, node)

    def rowCount(self, parent=_ROOT):
        if parent.isValid() and parent.column() != 0:
            return 0
        return len(self._node(parent).children)

    def columnCount(self, parent=_ROOT):
        return 1

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        node = index.internalPointer()
        if role == Qt.ItemDataRole.DisplayRole:
            return node.label
        if role == Qt.ItemDataRole.ToolTipRole:
            return node.tip
        if role == Qt.ItemDataRole.CheckStateRole and node.key is not None:
            return Qt.CheckState.Checked if node.checked else Qt.CheckState.Unchecked
        if role == Qt.ItemDataRole.DecorationRole:
            return node.color
        if role == Qt.ItemDataRole.FontRole and node is self._more:
            return self._bold
        if role == KEY_ROLE:
            return node.key
        return None

    def flags(self, index):
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if index.internalPointer().key is not None:
            flags |= Qt.ItemFlag.ItemIsUserCheckable
        return flags

    def setData(self, index, value, role=Qt.ItemDataRole.EditRole):
        if role != Qt.ItemDataRole.CheckStateRole or not index.isValid():
            return False
        node = index.internalPointer()
        if node.key is None:
            return False
        if isinstance(value, Qt.CheckState):
            state = value == Qt.CheckState.Checked
        else:
            state = int(value) == Qt.CheckState.Checked.value
        if node.checked != state:
            node.checked = state
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.CheckStateRole])
            self.checks_changed.emit([node.key])
        return True
