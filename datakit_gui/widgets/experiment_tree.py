"""The experiment tree dock: subjects > sessions > tasks with counts, and a search box."""
from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, QSortFilterProxyModel, Qt
from PySide6.QtWidgets import QHeaderView, QLineEdit, QTreeView, QVBoxLayout, QWidget

from ..models.tree_model import KEY_ROLE, ExperimentTreeModel


class ExperimentTree(QWidget):
    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.state = state
        self.model = ExperimentTreeModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setRecursiveFilteringEnabled(True)
        self.proxy.setDynamicSortFilter(False)   # names never change in place: no re-filtering on count updates
        self.proxy.setAutoAcceptChildRows(True)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.proxy.setFilterKeyColumn(0)

        self.search = QLineEdit()
        self.search.setObjectName("treeSearch")
        self.search.setPlaceholderText("Search subjects, sessions, tasks…  (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self._search)

        self.view = QTreeView()
        self.view.setObjectName("experimentTree")
        self.view.setModel(self.proxy)
        self.view.setUniformRowHeights(True)
        self.view.setIndentation(14)
        self.view.setAlternatingRowColors(True)
        self.view.setSelectionMode(QTreeView.SelectionMode.SingleSelection)
        header = self.view.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        # fixed widths: ResizeToContents re-measures every row on each count update (quadratic)
        width = self.fontMetrics().horizontalAdvance("Missing") + 12
        for col in (1, 2, 3):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Fixed)
            header.resizeSection(col, width)
        self.view.selectionModel().currentChanged.connect(self._current_changed)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.search)
        layout.addWidget(self.view)
        # room for a subject's name beside the three counts (a wide heatmap must not
        # squeeze the names to "STREH…")
        self.setMinimumWidth(self.fontMetrics().horizontalAdvance("STREHAB07  task-widefield") + 4 * width)

        self._updating = False
        state.coverage_changed.connect(self._coverage_changed)
        state.selection_changed.connect(self._show_selection)

    def _coverage_changed(self) -> None:
        first = self.model.rowCount() == 0
        self._updating = True
        self.model.set_coverage(self.state.coverage)
        self._updating = False
        if first and self.model.rowCount() and self.model.rowCount() <= 12:
            self.view.expandToDepth(0)
        self._show_selection()

    def _search(self, text: str) -> None:
        self.proxy.setFilterFixedString(text.strip())
        if text.strip():
            self.view.expandAll()

    def _current_changed(self, current, previous) -> None:
        if self._updating or not current.isValid():
            return
        key = current.data(KEY_ROLE)
        depth = self.state.coverage.index.nlevels if self.state.coverage is not None else 0
        if key and len(key) == depth:
            self.state.select_cell(key, self.state.selected_source)

    def _show_selection(self) -> None:
        key = self.state.selection
        if key is None:
            return
        source_index = self.model.index_for_key(key)
        index = self.proxy.mapFromSource(source_index)
        if not index.isValid() or index == self.view.currentIndex():
            return
        self._updating = True
        self.view.setCurrentIndex(index)
        self.view.selectionModel().select(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
        self.view.scrollTo(index)
        self._updating = False

    def focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()
