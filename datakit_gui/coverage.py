"""The coverage matrix: one row per cell, one column per source, one status code each.

Pure numpy/pandas (no Qt), built from the full Dataset, the filtered one and the latest
validation report; the tree, the heatmap and their tests all read the same numbers.
Codes are ordered by how much they need attention, so a zoomed-out heatmap can keep the
worst status of each block of rows (an error never disappears when zoomed out).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import pandas as pd

from . import look

EXCLUDED, NOT_EXPECTED, OK, PRESENT, MISSING, ERROR = 0, 1, 2, 3, 4, 5
CODES = (EXCLUDED, NOT_EXPECTED, OK, PRESENT, MISSING, ERROR)
LABELS = {
    OK: "validated ok",
    PRESENT: "present (not validated)",
    MISSING: "missing (expected)",
    NOT_EXPECTED: "not expected",
    ERROR: "error",
    EXCLUDED: "excluded by filters",
}
SHORT = {PRESENT: "present", OK: "ok", MISSING: "missing", NOT_EXPECTED: "not expected",
         ERROR: "error", EXCLUDED: "excluded"}
#: RGB colours: the app's status palette (datakit_gui.look.STATUS), shared with the plot
COLORS = {
    OK: look.STATUS["ok"],
    PRESENT: look.STATUS["present"],
    MISSING: look.STATUS["missing"],
    NOT_EXPECTED: look.STATUS["not_expected"],
    ERROR: look.STATUS["error"],
    EXCLUDED: look.STATUS["excluded"],
}
STATE_CODES = {"present": PRESENT, "missing": MISSING, "not_expected": NOT_EXPECTED}
REPORT_STATUS = {"ok": OK, "error": ERROR}
COUNT_COLUMNS = ["cells", "present", "missing", "failed", "ok", "included_cells", "recorded"]


def lookup_table() -> np.ndarray:
    """(codes, 3) uint8 colours indexed by code, for an ImageItem."""
    lut = np.zeros((len(CODES), 3), dtype=np.uint8)
    for code, rgb in COLORS.items():
        lut[code] = rgb
    return lut


def cell_label(key) -> str:
    return " / ".join(str(k) for k in key)


@dataclass
class Coverage:
    index: pd.MultiIndex          # cells, sorted
    sources: list[str]            # columns (every source of the full dataset)
    codes: np.ndarray             # (cells, sources) uint8
    paths: np.ndarray             # (cells, sources) object: path or None
    report_row: np.ndarray        # (cells, sources) int64: row in ``report`` or -1
    report: pd.DataFrame          # the report the codes were built from
    row_counts: pd.DataFrame      # per cell: COUNT_COLUMNS
    dataset: object = None        # the full Dataset (asked why a missing pair is expected)
    recorded: np.ndarray | None = None   # (cells,) bool: the cell has a file somewhere

    @cached_property
    def keys(self) -> list[tuple]:
        return [tuple(map(str, k)) for k in self.index]

    @property
    def n_cells(self) -> int:
        return len(self.index)

    def row_of(self, key) -> int:
        """Row of the cell ``key`` (a tuple), or -1."""
        try:
            loc = self.index.get_loc(tuple(key))
        except KeyError:
            return -1
        return int(loc) if isinstance(loc, (int, np.integer)) else -1

    def source_counts(self) -> pd.DataFrame:
        """Per source among included cells: present, missing, not expected, failed, ok
        (inspect_sources-like)."""
        c = self.codes
        present = np.isin(c, (PRESENT, OK, ERROR)).sum(axis=0)
        out = pd.DataFrame({
            "present": present,
            "missing": (c == MISSING).sum(axis=0),
            "not_expected": (c == NOT_EXPECTED).sum(axis=0),
            "failed": (c == ERROR).sum(axis=0),
            "ok": (c == OK).sum(axis=0),
            "excluded": (c == EXCLUDED).sum(axis=0),
        }, index=pd.Index(self.sources, name="source", dtype=object))
        return out

    @cached_property
    def _why(self) -> dict:
        """(cell, source) -> (reason, detail) of every missing pair (asked once, on demand)."""
        if self.dataset is None:
            return {}
        gone = self.dataset.missing()
        names = list(self.index.names)
        keys = zip(gone[names].itertuples(index=False, name=None), gone["Source"])
        return {(tuple(map(str, k)), str(s)): (r, d)
                for (k, s), r, d in zip(keys, gone["reason"], gone["detail"])}

    def why_expected(self, row: int, col: int) -> tuple[str, str] | None:
        """(reason, detail) when the pair is expected and missing, else None."""
        return self._why.get((self.keys[row], self.sources[col]))

    def group_counts(self, depth: int) -> pd.DataFrame:
        """Counts summed over the cells below each node at ``depth`` (1 = subjects)."""
        counts = self.row_counts
        if depth >= self.index.nlevels:
            return counts
        levels = list(range(depth))
        return counts.groupby(level=levels, sort=False).sum()

    def status_at(self, row: int, col: int) -> dict:
        """Everything the heatmap's hover shows about one (cell, source)."""
        code = int(self.codes[row, col])
        info = {"cell": tuple(map(str, self.index[row])), "source": self.sources[col],
                "code": code, "status": LABELS[code], "path": self.paths[row, col],
                "message": None, "error_type": None, "why": self.why_expected(row, col),
                "recorded": True if self.recorded is None else bool(self.recorded[row])}
        pos = int(self.report_row[row, col])
        if pos >= 0:
            rec = self.report.iloc[pos]
            info["message"] = rec.get("message")
            info["error_type"] = rec.get("error_type")
        return info


def _index_key(index: pd.Index) -> pd.Index:
    """The inventory index with every level as str (for joining report rows)."""
    if isinstance(index, pd.MultiIndex):
        arrays = [index.get_level_values(i).astype(str).astype(object) for i in range(index.nlevels)]
        return pd.MultiIndex.from_arrays(arrays, names=index.names)
    return index.astype(str).astype(object)


def build(full, filtered, report: pd.DataFrame | None = None, *, states: pd.DataFrame | None = None,
          selected: pd.DataFrame | None = None) -> Coverage:
    """The coverage of ``full`` with ``filtered`` (a Dataset derived from it) and a report.

    ``states`` is ``full.coverage()`` and ``selected`` is ``filtered.coverage()``; pass
    them when they are at hand (AppState keeps them), else they are computed here.
    Rows are every cell, recorded or expected; columns every source with a file or an
    expectation.  Codes start from the library's present / missing / not_expected;
    a validation result turns present into ok or error, the filters turn what they
    leave out into excluded.
    """
    if states is None:
        states = full.coverage()
    if filtered is None:
        filtered = full
    if selected is None:
        selected = states if filtered is full else filtered.coverage()
    index = states.index
    sources = list(states.columns)
    base = np.full(states.shape, NOT_EXPECTED, dtype=np.uint8)
    values = states.to_numpy(dtype=object)
    for text, code in STATE_CODES.items():
        base[values == text] = code
    inv = full.inventory
    inv.index = _index_key(inv.index)
    inv = inv[~inv.index.duplicated()]
    table = inv.reindex(index=index, columns=sources)
    paths = table.astype(object).where(table.notna(), None).to_numpy(dtype=object)
    recorded = np.asarray(index.isin(inv.index))

    row_in = np.asarray(index.isin(selected.index))
    col_in = np.isin(np.asarray(sources, dtype=object), np.asarray(selected.columns, dtype=object))
    included = row_in[:, None] & col_in[None, :]
    codes = np.where(included, base, EXCLUDED).astype(np.uint8)
    fpresent = base == PRESENT

    report_row = np.full(codes.shape, -1, dtype=np.int64)
    if report is not None and len(report):
        names = list(index.names)
        keys = pd.MultiIndex.from_frame(report[names].astype(str).astype(object))
        rows = index.get_indexer(keys)
        cols = pd.Index(sources, dtype=object).get_indexer(report["Source"].astype(str).astype(object))
        found = (rows >= 0) & (cols >= 0)
        rows, cols = rows[found], cols[found]
        positions = np.flatnonzero(found)
        rep_paths = report["path"].to_numpy(dtype=object)[found]
        # a result only counts for the file it was computed on (a rescan may have changed it)
        same = np.asarray(rep_paths == paths[rows, cols], dtype=bool).reshape(-1)
        status = report["status"].to_numpy(dtype=object)[found]
        report_row[rows[same], cols[same]] = positions[same]
        for text, code in REPORT_STATUS.items():
            hit = same & (status == text) & included[rows, cols] & fpresent[rows, cols]
            codes[rows[hit], cols[hit]] = code

    row_counts = pd.DataFrame({
        "cells": np.ones(len(index), dtype=np.int64),
        "present": np.isin(codes, (PRESENT, OK, ERROR)).sum(axis=1),
        "missing": (codes == MISSING).sum(axis=1),
        "failed": (codes == ERROR).sum(axis=1),
        "ok": (codes == OK).sum(axis=1),
        "included_cells": row_in.astype(np.int64),
        "recorded": recorded.astype(np.int64),
    }, index=index)
    return Coverage(index, sources, codes, paths, report_row,
                    report if report is not None else pd.DataFrame(), row_counts,
                    dataset=full, recorded=recorded)


def included_only(coverage: Coverage) -> Coverage:
    """``coverage`` without the cells the filters leave out (itself when there are none)."""
    keep = coverage.row_counts["included_cells"].to_numpy() > 0
    if keep.all():
        return coverage
    return replace(coverage, index=coverage.index[keep], codes=coverage.codes[keep],
                   paths=coverage.paths[keep], report_row=coverage.report_row[keep],
                   row_counts=coverage.row_counts[keep],
                   recorded=None if coverage.recorded is None else coverage.recorded[keep])


def block_worst(codes: np.ndarray, factor: int) -> np.ndarray:
    """Rows reduced by ``factor`` keeping the highest code of each block (see module doc)."""
    if factor <= 1:
        return codes
    n, m = codes.shape
    pad = (-n) % factor
    if pad:
        codes = np.concatenate([codes, np.zeros((pad, m), dtype=codes.dtype)])
    return codes.reshape(-1, factor, m).max(axis=1)
