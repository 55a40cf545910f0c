"""Which recordings should exist, and so which absent ones are *missing*.

Every (cell, source) is decided by the first rule that has an opinion, in this order:

1. ``declared``: the protocol file ``datakit.toml`` at the experiment root
   (:mod:`datakit.protocol`).  A cell of a task it declares expects exactly the listed
   sources plus those under ``"*"``; other sources are not expected.  In a task it does
   not declare, only the ``"*"`` sources are declared and the rest falls through.
   ``"*"`` decides a whole cell when the experiment has no task level (or the cell has
   no task token, ``task-session``).  ``[sessions] tasks`` adds a row for every task a
   recorded (subject, session) lacks.
2. ``manifest``: the lab's ``manifest.json`` (:mod:`datakit.manifest`): a listed file
   is expected; when it no longer exists and no other file stands for it, it is missing.
3. ``inferred``: a source is expected in a task when at least half of that task's cells
   have it, counting only cells with at least one file.  Inference never invents cells.

Anything else is not expected.  :class:`Expectations` computes this once for the whole
discovered experiment (vectorised: one matrix per rule) and every filtered Dataset
derived from it reads slices of the result.
"""
from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

from .manifest import empty_manifest
from .protocol import ANY_TASK, Protocol

PRESENT, MISSING, NOT_EXPECTED = "present", "missing", "not_expected"
STATES = (PRESENT, MISSING, NOT_EXPECTED)
DECLARED, MANIFEST, INFERRED = "declared", "manifest", "inferred"
REASONS = (None, DECLARED, MANIFEST, INFERRED)    # reason codes 0..3
NO_TASK = "task-session"
NOT_RECORDED = "task not recorded"
MISSING_COLUMNS = ["Source", "reason", "detail"]
INFERENCE_SHARE = 0.5


def _str_index(index: pd.Index) -> pd.MultiIndex:
    arrays = [index.get_level_values(i).astype(str).astype(object) for i in range(index.nlevels)]
    return pd.MultiIndex.from_arrays(arrays, names=index.names)


class Expectations:
    """The expectation rules applied to one discovered experiment.

    ``inventory`` is the full discovery result (rows = cells, columns = tags, values =
    paths or NaN); ``sources`` the registered tags that may be columns; ``protocol`` a
    :class:`~datakit.protocol.Protocol` or None; ``manifest`` the frame of
    :func:`datakit.manifest.read_manifest` (or None).
    """

    def __init__(self, inventory: pd.DataFrame, sources, *, protocol: Protocol | None = None,
                 manifest: pd.DataFrame | None = None):
        self.inventory = inventory
        self.registered = tuple(sources)
        self.protocol = protocol
        self.manifest = manifest if manifest is not None else empty_manifest()

    def with_protocol(self, protocol: Protocol | None) -> "Expectations":
        return Expectations(self.inventory, self.registered, protocol=protocol, manifest=self.manifest)

    @property
    def task_level(self) -> bool:
        return self.inventory.index.nlevels >= 3

    # the grid ---------------------------------------------------------------------

    @cached_property
    def _recorded(self) -> pd.MultiIndex:
        return _str_index(self.inventory.index)

    @cached_property
    def _manifest_keys(self) -> pd.MultiIndex:
        names = list(self._recorded.names)
        frame = self.manifest
        if not len(frame):
            return pd.MultiIndex.from_arrays([[] for _ in names], names=names)
        return pd.MultiIndex.from_arrays(
            [frame[n].astype(str).astype(object).to_numpy() for n in names], names=names)

    @cached_property
    def index(self) -> pd.MultiIndex:
        """Every row: recorded cells, cells the manifest lists, tasks ``[sessions]`` wants."""
        rows = self._recorded
        extra = [self._manifest_keys]
        if self.protocol is not None and self.protocol.tasks and self.task_level and len(rows):
            pairs = rows.droplevel(2).unique()
            wanted = pd.MultiIndex.from_arrays(
                [np.repeat(pairs.get_level_values(0).to_numpy(dtype=object), len(self.protocol.tasks)),
                 np.repeat(pairs.get_level_values(1).to_numpy(dtype=object), len(self.protocol.tasks)),
                 np.tile(np.asarray(self.protocol.tasks, dtype=object), len(pairs))],
                names=rows.names)
            extra.append(wanted)
        for more in extra:
            if len(more):
                rows = rows.append(more)
        rows = rows[~rows.duplicated()]
        return rows.sort_values() if len(rows) else rows

    @cached_property
    def is_recorded(self) -> np.ndarray:
        return np.asarray(self.index.isin(self._recorded))

    @cached_property
    def found(self) -> frozenset:
        """Registered tags with at least one file."""
        registered = set(self.registered)
        return frozenset(t for t in self.inventory.columns
                         if t in registered and self.inventory[t].notna().any())

    @cached_property
    def sources(self) -> list[str]:
        """Registered tags with a file somewhere or expected somewhere, sorted."""
        expected = [t for t, hit in zip(self._candidates, self._decision[0].any(axis=0)) if hit]
        return sorted(self.found | set(expected))

    @cached_property
    def _candidates(self) -> list[str]:
        tags = set(t for t in self.inventory.columns if t in set(self.registered))
        if self.protocol is not None:
            for listed in self.protocol.expected.values():
                tags.update(listed)
        tags.update(self.manifest["Source"].astype(str))
        return sorted(t for t in tags if t in set(self.registered))

    def _columns_of(self, tags) -> np.ndarray:
        return pd.Index(self._candidates, dtype=object).get_indexer(list(tags))

    @cached_property
    def present(self) -> np.ndarray:
        table = self.inventory.reindex(columns=self._candidates)
        table.index = self._recorded
        table = table[~table.index.duplicated()]
        return table.reindex(index=self.index).notna().to_numpy()

    # the rules --------------------------------------------------------------------

    @cached_property
    def _tasks(self) -> np.ndarray:
        if self.task_level:
            return self.index.get_level_values(2).to_numpy(dtype=object)
        return np.full(len(self.index), NO_TASK, dtype=object)

    @cached_property
    def _task_codes(self) -> tuple[np.ndarray, np.ndarray]:
        """(task labels, code of each row's task)."""
        values, codes = np.unique(self._tasks, return_inverse=True)
        return values, codes.astype(np.int64)

    @cached_property
    def _inference(self) -> tuple[np.ndarray, np.ndarray]:
        """(tasks x sources counts of recorded cells having the source, cells with a file per task)."""
        values, codes = self._task_codes
        with_files = self.is_recorded & self.present.any(axis=1)
        counts = np.zeros((len(values), len(self._candidates)), dtype=np.int64)
        if with_files.any():
            grouped = pd.DataFrame(self.present[with_files]).groupby(codes[with_files]).sum()
            counts[grouped.index.to_numpy()] = grouped.to_numpy()
        cells = np.bincount(codes[with_files], minlength=len(values))
        return counts, cells

    @cached_property
    def _manifest_cells(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, column, path) of every manifest entry that lands on the grid."""
        if not len(self.manifest):
            empty = np.empty(0, dtype=np.int64)
            return empty, empty, np.empty(0, dtype=object)
        rows = self.index.get_indexer(self._manifest_keys)
        cols = self._columns_of(self.manifest["Source"].astype(str))
        ok = (rows >= 0) & (cols >= 0)
        return rows[ok], cols[ok], self.manifest["path"].to_numpy(dtype=object)[ok]

    @cached_property
    def _decision(self) -> tuple[np.ndarray, np.ndarray]:
        """(expected, reason code) matrices, rows = ``index``, columns = ``_candidates``."""
        n, m = len(self.index), len(self._candidates)
        expected = np.zeros((n, m), dtype=bool)
        reason = np.zeros((n, m), dtype=np.uint8)
        if not n or not m:
            return expected, reason
        decided = self._declare(expected, reason)
        rows, cols, _ = self._manifest_cells
        listed = np.zeros((n, m), dtype=bool)
        listed[rows, cols] = True
        hit = listed & ~decided
        expected |= hit
        reason[hit] = 2
        counts, cells = self._inference
        share = np.divide(counts, cells[:, None], out=np.zeros(counts.shape),
                          where=cells[:, None] > 0)
        hit = (share[self._task_codes[1]] >= INFERENCE_SHARE) & ~decided & ~listed
        expected |= hit
        reason[hit] = 3
        return expected, reason

    def _declare(self, expected, reason) -> np.ndarray:
        """Apply the protocol in place; return which pairs it decided."""
        decided = np.zeros(expected.shape, dtype=bool)
        protocol = self.protocol
        if protocol is None or not protocol.expected:
            return decided
        everywhere = np.zeros(expected.shape[1], dtype=bool)
        cols = self._columns_of(protocol.expected.get(ANY_TASK, ()))
        everywhere[cols[cols >= 0]] = True
        values, codes = self._task_codes
        for code, task in enumerate(values):
            rows = np.flatnonzero(codes == code)
            if protocol.declares(task) or (task == NO_TASK and ANY_TASK in protocol.expected):
                wanted = everywhere.copy()
                cols = self._columns_of(protocol.expected.get(task, ()))
                wanted[cols[cols >= 0]] = True
                decided[rows] = True
                expected[rows] = wanted
                reason[np.ix_(rows, np.flatnonzero(wanted))] = 1
            elif everywhere.any():
                block = np.ix_(rows, np.flatnonzero(everywhere))
                decided[block] = True
                expected[block] = True
                reason[block] = 1
        return decided

    # results ----------------------------------------------------------------------

    @cached_property
    def states(self) -> np.ndarray:
        """(rows, candidates) object array of present / missing / not_expected."""
        expected, _ = self._decision
        return np.where(self.present, PRESENT, np.where(expected, MISSING, NOT_EXPECTED)).astype(object)

    def reasons(self) -> np.ndarray:
        """(rows, candidates) object array: the rule that expects each pair, or None."""
        _, reason = self._decision
        return np.asarray(REASONS, dtype=object)[reason]

    def details(self, rows, cols) -> list[str]:
        """Why each (row, column) pair is expected, in words ("" when it is not)."""
        _, reason = self._decision
        tasks = self._tasks
        mrows, mcols, mpaths = self._manifest_cells
        manifest_paths = dict(zip(zip(mrows.tolist(), mcols.tolist()), mpaths))
        listed_rows = set(mrows.tolist())     # a cell the manifest lists was recorded once
        counts, cells = self._inference
        codes = self._task_codes[1]
        out = []
        for r, c in zip(np.asarray(rows).tolist(), np.asarray(cols).tolist()):
            code = int(reason[r, c])
            if code == 2:
                out.append(str(manifest_paths.get((r, c), "listed in manifest.json")))
            elif code and not self.is_recorded[r] and r not in listed_rows:
                out.append(NOT_RECORDED)
            elif code == 1:
                declared = self.protocol is not None and self.protocol.declares(tasks[r])
                gone = "" if self.is_recorded[r] else "; no file of this cell is left"
                out.append((f"datakit.toml declares it for {tasks[r]}" if declared
                            else "datakit.toml declares it for every task (\"*\")") + gone)
            elif code == 3:
                t = codes[r]
                what = f"{tasks[r]} cells" if self.task_level else "sessions"
                gone = "" if self.is_recorded[r] else "; no file of this cell is left"
                out.append(f"{int(counts[t, c])} of {int(cells[t])} {what} have it{gone}")
            else:
                out.append("")
        return out
