"""AppState: the one place the GUI keeps what it knows; widgets listen to its signals.

It holds the discovered Dataset, the filter selection (and the filtered Dataset it
gives), the accumulated validation report, the coverage matrix built from those three,
the selected cell, the selected cell's loaded streams and the last materialized frame.
Setters emit past-tense signals; nothing here does I/O (jobs hand results in).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from PySide6.QtCore import QObject, Signal

from . import coverage as cov
from .filters import AXES, AxisFilter, FilterSpec

REPORT_KEY = ["Subject", "Session", "Task", "Source"]


class AppState(QObject):
    dataset_changed = Signal()
    filters_changed = Signal()
    report_changed = Signal()
    coverage_changed = Signal()
    selection_changed = Signal()
    cell_loading = Signal(tuple)
    cell_loaded = Signal()
    frame_changed = Signal()
    saved_changed = Signal()
    protocol_changed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.dataset = None              # the full discovered Dataset
        self.sizes: dict[str, int] = {}  # path -> bytes, measured by the discovery job
        self.filters = FilterSpec()
        self.filtered = None             # filters applied to dataset
        self.filter_error: str | None = None
        self.report = pd.DataFrame()     # validate()-style rows, latest result per (cell, source)
        self._report_keys: pd.MultiIndex | None = None   # (Subject, Session, Task, Source) of report rows
        self.report_update = None        # rows replaced in place by the last merge (None: everything)
        self.coverage: cov.Coverage | None = None
        self.states: pd.DataFrame | None = None     # dataset.coverage(): present/missing/not_expected
        self.selected_states: pd.DataFrame | None = None   # filtered.coverage()
        self.protocol_unsaved = False    # the protocol was edited since it was read or saved
        self.selection: tuple | None = None     # cell key
        self.selected_source: str | None = None
        self.cell_key: tuple | None = None      # the cell whose streams are loaded
        self.cell_frame: pd.DataFrame | None = None
        self.cell_errors: pd.DataFrame | None = None
        self.cell_streams = None                # streams.CellStreams of the loaded cell
        self.frame: pd.DataFrame | None = None  # last materialized frame
        self.frame_errors: pd.DataFrame | None = None
        self.saved = None                # a saved HDF5 dataset opened lazily (open_dataset)
        self.saved_view = False          # the heatmap and tree show ``saved``'s cells

    # dataset ----------------------------------------------------------------------

    @property
    def roots(self) -> list[str]:
        return [str(r) for r in self.dataset.roots] if self.dataset is not None else []

    def universe(self, axis: str) -> list[str]:
        """Every value of ``axis`` in the full dataset (what the filter lists show)."""
        ds, states = self.dataset, self.states
        if ds is None or states is None:
            return []
        if axis == "source":      # every source with a file or an expectation
            return list(states.columns)
        level = {"subject": 0, "session": 1, "task": 2}[axis]
        if level >= states.index.nlevels:
            return []
        # recorded cells and the expected ones that were never recorded
        return sorted(set(states.index.get_level_values(level).astype(str)))

    def set_dataset(self, dataset, sizes: dict | None = None, *, saved_view: bool = False) -> None:
        """A new discovery result; filters keep what still exists, reports for unchanged files stay.

        Another experiment (other roots) starts with no report and no plotted cell, even
        where its cells have the same names; a re-scan of the same one keeps the report
        rows and the plotted cell whose files are the ones found now.

        ``saved_view``: the Dataset stands for the cells of the saved file ``saved`` (a
        file opened with no experiment open): nothing can be loaded from its "paths"."""
        old = self.dataset
        same = (old is not None and dataset is not None
                and [str(r) for r in old.roots] == [str(r) for r in dataset.roots])
        pruned = self._prune_report(dataset.inventory if same else None)
        stale_cell = self.cell_key is not None and not (same and _same_files(old, dataset, self.cell_key))
        self.saved_view = bool(saved_view and dataset is not None)
        self.dataset = dataset
        self.sizes = dict(sizes or {})
        self.states = dataset.coverage() if dataset is not None else None
        self.protocol_unsaved = False
        self.filters = self.filters.pruned({a: self.universe(a) for a in AXES})
        self._refilter()
        if self.selection is not None and self.coverage is not None \
                and self.coverage.row_of(self.selection) < 0:
            self.selection = None
            self.selected_source = None
        if self.cell_key is not None and (stale_cell or self.coverage is None
                                          or self.coverage.row_of(self.cell_key) < 0):
            self.cell_key = self.cell_frame = self.cell_errors = self.cell_streams = None
            self.cell_loaded.emit()
        self.dataset_changed.emit()
        self.filters_changed.emit()
        if pruned:
            self.report_changed.emit()
        self.coverage_changed.emit()
        self.selection_changed.emit()
        self.protocol_changed.emit()

    def _prune_report(self, inventory: pd.DataFrame | None) -> bool:
        """Keep the report rows whose (cell, source) has the same file in ``inventory``
        (or none, as before); drop every row without one.  True when rows went."""
        if not len(self.report):
            return False
        keep = np.zeros(len(self.report), dtype=bool)
        if inventory is not None and len(inventory):
            levels = list(inventory.index.names)
            cells = pd.MultiIndex.from_frame(self.report[levels].astype(str))
            rows = inventory.index.get_indexer(cells)
            cols = inventory.columns.get_indexer(self.report["Source"].astype(str))
            found = (rows >= 0) & (cols >= 0)
            now = np.full(len(self.report), None, dtype=object)
            now[found] = inventory.to_numpy(dtype=object)[rows[found], cols[found]]
            now = [None if pd.isna(p) else str(p) for p in now]
            before = [None if pd.isna(p) else str(p) for p in self.report["path"]] \
                if "path" in self.report else [None] * len(self.report)
            keep = np.fromiter((a == b for a, b in zip(now, before)), dtype=bool, count=len(now))
        if keep.all():
            return False
        self.report = self.report[keep].reset_index(drop=True)
        self._report_keys = self._report_keys[keep] if len(self.report) else None
        if not len(self.report):
            self.report = pd.DataFrame()
        self.report_update = None
        return True

    def set_protocol(self, protocol, *, unsaved: bool = True) -> None:
        """Judge the same files by another protocol (no rescan): new missing / not expected."""
        if self.dataset is None:
            return
        self.dataset = self.dataset.with_protocol(protocol)
        self.states = self.dataset.coverage()
        self.protocol_unsaved = unsaved
        self._refilter()
        self.dataset_changed.emit()
        self.filters_changed.emit()
        self.coverage_changed.emit()
        self.protocol_changed.emit()

    def mark_protocol_saved(self) -> None:
        self.protocol_unsaved = False
        self.protocol_changed.emit()

    def clear(self) -> None:
        self.saved, self.saved_view = None, False
        self.dataset = None
        self.sizes = {}
        self.filters = FilterSpec()
        self.filtered = None
        self.report = pd.DataFrame()
        self._report_keys = None
        self.coverage = None
        self.states = self.selected_states = None
        self.protocol_unsaved = False
        self.selection = self.selected_source = None
        self.cell_key = self.cell_frame = self.cell_errors = self.cell_streams = None
        self.dataset_changed.emit()
        self.filters_changed.emit()
        self.report_changed.emit()
        self.coverage_changed.emit()
        self.selection_changed.emit()
        self.cell_loaded.emit()
        self.protocol_changed.emit()

    # filters ----------------------------------------------------------------------

    def set_filters(self, spec: FilterSpec) -> None:
        if spec == self.filters:
            return
        self.filters = spec
        self._refilter()
        self.filters_changed.emit()
        self.coverage_changed.emit()

    def set_axis(self, axis: str, value: AxisFilter) -> None:
        self.set_filters(self.filters.with_axis(axis, value))

    def set_axis_mode(self, axis: str, mode: str) -> None:
        self.set_filters(self.filters.with_mode(axis, mode, self.universe(axis)))

    def reset_filters(self) -> None:
        self.set_filters(FilterSpec())

    def expression(self) -> str:
        return self.filters.expression("ds")

    def _refilter(self) -> None:
        self.filter_error = None
        if self.dataset is None:
            self.filtered = None
            self.coverage = None
            self.selected_states = None
            return
        try:
            self.filtered = self.filters.apply(self.dataset)
        except (KeyError, ValueError, TypeError) as exc:   # e.g. a source no longer registered
            self.filter_error = str(exc)
            self.filtered = self.dataset
        self.selected_states = (self.states if self.filtered is self.dataset
                                else self.filtered.coverage())
        self._recover()

    def _recover(self) -> None:
        self.coverage = cov.build(self.dataset, self.filtered, self.report, states=self.states,
                                  selected=self.selected_states)

    def cell_included(self, key) -> bool:
        if self.coverage is None:
            return False
        row = self.coverage.row_of(key)
        return row >= 0 and bool(self.coverage.row_counts["included_cells"].iloc[row])

    # reports ----------------------------------------------------------------------

    def merge_report(self, report: pd.DataFrame) -> None:
        """Add validate()-style rows; a newer row replaces the older one for its (cell, source).

        Rows of known (cell, source) pairs are replaced in place through a kept key index,
        so merging one cell's 14 rows into a 140,000-row report costs milliseconds.
        """
        if report is None or not len(report):
            return
        report = report.copy()
        if "Task" not in report.columns:
            report.insert(2, "Task", None)
        report = report.astype(object)
        keys = pd.MultiIndex.from_frame(report[REPORT_KEY].astype(str))
        if not keys.is_unique:
            keep = ~keys.duplicated(keep="last")
            report, keys = report[keep], keys[keep]
        if not len(self.report):
            self.report, self._report_keys = report.reset_index(drop=True), keys
            self.report_update = None
        else:
            report = report.reindex(columns=self.report.columns.union(report.columns, sort=False))
            if not report.columns.equals(self.report.columns):
                self.report = self.report.reindex(columns=report.columns)
            pos = self._report_keys.get_indexer(keys)
            known = pos >= 0
            self.report_update = pos if known.all() else None
            if known.any():
                values = self.report.to_numpy(dtype=object, copy=True)
                values[pos[known]] = report.to_numpy(dtype=object)[known]
                self.report = pd.DataFrame(values, columns=self.report.columns, dtype=object)
            if (~known).any():
                self.report = pd.concat([self.report, report[~known]], ignore_index=True)
                self._report_keys = self._report_keys.append(keys[~known])
        if self.dataset is not None:
            self._recover()
        self.report_changed.emit()
        self.coverage_changed.emit()

    def clear_report(self) -> None:
        self.report = pd.DataFrame()
        self._report_keys = None
        self.report_update = None
        if self.dataset is not None:
            self._recover()
        self.report_changed.emit()
        self.coverage_changed.emit()

    # selection --------------------------------------------------------------------

    def select_cell(self, key, source: str | None = None) -> None:
        key = tuple(map(str, key)) if key is not None else None
        if key == self.selection and source == self.selected_source:
            return
        self.selection = key
        self.selected_source = source
        self.selection_changed.emit()

    def begin_cell_load(self, key) -> None:
        self.cell_loading.emit(tuple(map(str, key)))

    def set_cell_frame(self, key, frame: pd.DataFrame | None, errors: pd.DataFrame | None = None,
                       streams=None) -> None:
        """The selected cell's one-row frame, its load report and what the plot draws."""
        self.cell_key = tuple(map(str, key)) if key is not None else None
        self.cell_frame = frame
        self.cell_errors = errors
        self.cell_streams = streams
        self.cell_loaded.emit()

    # materialized frame -----------------------------------------------------------

    def set_frame(self, frame: pd.DataFrame | None, errors: pd.DataFrame | None = None) -> None:
        self.frame = frame
        self.frame_errors = errors
        self.frame_changed.emit()

    def set_saved(self, saved, frame: pd.DataFrame | None = None, view=None,
                  sizes: dict | None = None) -> None:
        """A saved HDF5 dataset opened lazily; ``frame`` when it was also loaded whole
        (a small file), ``view`` a Dataset of its cells to show (no experiment open)."""
        self.saved = saved
        if view is not None:
            self.cell_key = self.cell_frame = self.cell_errors = self.cell_streams = None
            self.selection = self.selected_source = None
            self.report = pd.DataFrame()
            self._report_keys = None
            self.report_update = None
            self.set_dataset(view, sizes, saved_view=True)
            self.report_changed.emit()
        self.set_frame(frame, None)
        self.saved_changed.emit()

    def saved_cell(self, key) -> bool:
        """True when the cell ``key`` is read from the saved file: always in its own view,
        else when the file was saved from the open experiment and holds the cell."""
        saved = self.saved
        if saved is None:
            return False
        if not self.saved_view:
            roots = {str(r) for r in saved.attrs.get("datakit_roots", ()) or ()}
            if not roots & set(self.roots):
                return False
        try:
            saved.index.get_loc(tuple(map(str, key)))
        except (KeyError, TypeError):
            return False
        return True


def _same_files(old, new, key) -> bool:
    """Does cell ``key`` have the same files (per source) in the Datasets ``old`` and ``new``?"""
    try:
        before = old.inventory.loc[tuple(key)].dropna()
        after = new.inventory.loc[tuple(key)].dropna()
    except (KeyError, TypeError):
        return False
    if not isinstance(before, pd.Series) or not isinstance(after, pd.Series):
        return False
    return before.astype(str).sort_index().equals(after.astype(str).sort_index())
