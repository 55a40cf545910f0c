"""The filter panel: checkable subjects, sessions, tasks and sources, include or exclude.

One tab per axis (a ● marks the filtered ones); below, how many cells and sources pass.

Every change goes straight to AppState (the tree and heatmap follow); the panel shows
the equivalent Python expression, which can be copied into a notebook.
"""
from __future__ import annotations

from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListView,
    QPlainTextEdit,
    QPushButton,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..filters import AXES, EXCLUDE, INCLUDE, axis_from_checked
from ..models.check_model import CheckListModel

TITLES = {"subject": "Subjects", "session": "Sessions", "task": "Tasks", "source": "Sources"}
MODE_TEXT = {INCLUDE: "Include checked", EXCLUDE: "Exclude checked"}


class AxisBox(QWidget):
    """One axis (a tab): mode, all/none, and the check list."""

    def __init__(self, axis: str, parent=None):
        super().__init__(parent)
        self.axis = axis
        self.setObjectName(f"filter_{axis}")
        self.mode = QComboBox()
        self.mode.setObjectName(f"filterMode_{axis}")
        for mode in (INCLUDE, EXCLUDE):
            self.mode.addItem(MODE_TEXT[mode], mode)
        self.mode.setToolTip("Include: keep only the checked values (Dataset.include).\n"
                             "Exclude: drop the checked values (Dataset.exclude).")
        self.all_button = QToolButton(text="All")
        self.none_button = QToolButton(text="None")
        self.all_button.setToolTip(f"Check every {axis}")
        self.none_button.setToolTip(f"Uncheck every {axis}")
        self.model = CheckListModel(self)
        self.view = QListView()
        self.view.setObjectName(f"filterList_{axis}")
        self.view.setModel(self.model)
        self.view.setUniformItemSizes(True)
        self.view.setMinimumHeight(44)
        top = QHBoxLayout()
        top.addWidget(self.mode, 1)
        top.addWidget(self.all_button)
        top.addWidget(self.none_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 4, 2, 2)
        layout.setSpacing(2)
        layout.addLayout(top)
        layout.addWidget(self.view)
        self.all_button.clicked.connect(lambda: self.model.set_all(True))
        self.none_button.clicked.connect(lambda: self.model.set_all(False))

    def current_mode(self) -> str:
        return self.mode.currentData()


class FilterPanel(QWidget):
    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.setObjectName("filterPanel")
        self.state = state
        self.boxes = {axis: AxisBox(axis) for axis in AXES}
        self.tabs = QTabWidget()
        self.tabs.setObjectName("filterTabs")
        self.tabs.setDocumentMode(True)
        for axis in AXES:
            box = self.boxes[axis]
            self.tabs.addTab(box, TITLES[axis])
            box.model.checks_changed.connect(lambda a=axis: self._checks_changed(a))
            box.mode.currentIndexChanged.connect(lambda _i, a=axis: self._mode_changed(a))

        self.incomplete = QCheckBox("Only cells with something missing")
        self.incomplete.setObjectName("filterIncomplete")
        self.incomplete.setToolTip("Keep only the cells where a recording that should exist is "
                                   "missing (Dataset.incomplete())")
        self.incomplete.toggled.connect(self._incomplete_toggled)
        self.summary = QLabel()
        self.summary.setObjectName("filterSummary")
        self.summary.setWordWrap(True)
        self.expression = QPlainTextEdit()
        self.expression.setObjectName("filterExpression")
        self.expression.setReadOnly(True)
        self.expression.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.expression.setMaximumHeight(48)
        self.expression.setToolTip("The same selection in Python (ds is the Dataset of the opened folders)")
        self.copy_button = QPushButton("Copy")
        self.copy_button.setObjectName("copyExpression")
        self.copy_button.setToolTip("Copy the Python expression to the clipboard")
        self.copy_button.clicked.connect(self.copy_expression)
        self.reset_button = QPushButton("Reset filters")
        self.reset_button.setObjectName("resetFilters")
        self.reset_button.clicked.connect(state.reset_filters)
        buttons = QHBoxLayout()
        buttons.addWidget(self.copy_button)
        buttons.addWidget(self.reset_button)
        buttons.addStretch(1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.incomplete)
        layout.addWidget(self.summary)
        layout.addWidget(QLabel("Python:"))
        layout.addWidget(self.expression)
        layout.addLayout(buttons)

        self._syncing = False
        state.dataset_changed.connect(self._dataset_changed)
        state.filters_changed.connect(self._filters_changed)
        self._dataset_changed()

    # from AppState ----------------------------------------------------------------

    def _dataset_changed(self) -> None:
        ds = self.state.dataset
        self._syncing = True
        for axis, box in self.boxes.items():
            values = self.state.universe(axis)
            labels, tips = self._labels(axis, values)
            box.model.set_items(values, self.state.filters.axis(axis).checked(values), labels, tips)
            box.setEnabled(ds is not None and (axis != "task" or ds.has_task_level))
            if ds is not None and axis == "task" and not ds.has_task_level:
                box.setToolTip("This dataset has no task level")
        self._syncing = False
        self._filters_changed()

    def _labels(self, axis: str, values: list[str]):
        states = self.state.states
        if states is None or not values:
            return values, None
        if axis == "source":   # among the cells the other filters let through
            selected = self.state.selected_states
            rows = selected.index if selected is not None else states.index
            table = states.reindex(index=rows, columns=values)
            present = (table == "present").sum()
            missing = (table == "missing").sum()
            total = len(table)
            labels = [f"{v}   ({int(present[v])}/{total})" for v in values]
            tips = [f"{v}: a file in {int(present[v])} of the {total} selected cells"
                    + (f"; missing in {int(missing[v])} where it is expected" if missing[v] else "")
                    for v in values]
            return labels, tips
        level = {"subject": 0, "session": 1, "task": 2}[axis]
        counts = states.index.get_level_values(level).astype(str).value_counts()
        labels = [f"{v}   ({int(counts.get(v, 0))})" for v in values]
        tips = [f"{v}: {int(counts.get(v, 0))} cells" for v in values]
        return labels, tips

    def _filters_changed(self) -> None:
        spec = self.state.filters
        self._syncing = True
        for axis, box in self.boxes.items():
            values = box.model.values()
            axis_filter = spec.axis(axis)
            box.mode.setCurrentIndex(0 if axis_filter.mode == INCLUDE else 1)
            box.model.set_checked(axis_filter.checked(values), notify=False)
            index = self.tabs.indexOf(box)
            self.tabs.setTabText(index, TITLES[axis] + (" ●" if axis_filter.active else ""))
            self.tabs.setTabToolTip(index, f"{TITLES[axis]}: " + (
                f"{axis_filter.mode} {len(axis_filter.values or ())} checked" if axis_filter.active
                else "no filter"))
        self.incomplete.setChecked(spec.incomplete)
        box = self.boxes["source"]
        box.model.set_labels(*self._labels("source", box.model.values()))
        self._syncing = False
        self.expression.setPlainText(self.state.expression())
        self._update_summary()

    def _update_summary(self) -> None:
        ds = self.state.dataset
        if ds is None:
            self.summary.setText("No dataset open.")
            return
        every, chosen = self.state.states, self.state.selected_states
        text = (f"{len(chosen)} of {len(every)} cells and {chosen.shape[1]} of "
                f"{every.shape[1]} sources pass the filters.")
        if self.state.filter_error:
            text += f"\nFilter not applied: {self.state.filter_error}"
        self.summary.setText(text)

    # to AppState ------------------------------------------------------------------

    def _checks_changed(self, axis: str) -> None:
        if self._syncing:
            return
        box = self.boxes[axis]
        values = box.model.values()
        self.state.set_axis(axis, axis_from_checked(box.current_mode(), box.model.checked(), values))

    def _incomplete_toggled(self, checked: bool) -> None:
        if not self._syncing:
            self.state.set_filters(self.state.filters.with_incomplete(checked))

    def _mode_changed(self, axis: str) -> None:
        if self._syncing:
            return
        self.state.set_axis_mode(axis, self.boxes[axis].current_mode())

    def copy_expression(self) -> None:
        QGuiApplication.clipboard().setText(self.expression.toPlainText())
