"""Dataset: the discovery result plus filters, validate, materialize and save."""
from __future__ import annotations

import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from . import engine
from .arguments import str_list as _as_list
from . import index as _index
from .scan import SKIPPED_COLUMNS, discover, resolve_roots
from .expectations import MISSING, MISSING_COLUMNS, NOT_EXPECTED, Expectations
from .inventory import CONFLICT_COLUMNS, INDEX_NAMES
from .meta import build_meta
from .safety import pickle_allowed
from .settings import Settings, get_settings
from .sources.registry import dependency_order, get_source_class, registered_sources



class ConflictWarning(UserWarning):
    """Several files claimed one (cell, source); see ``Dataset.conflicts``."""


class Dataset:
    """Discovery + materialization for a BIDS-style experiment hierarchy."""

    def __init__(self, inventory, *, sources=None, roots=(), settings: Settings | None = None,
                 skipped: pd.DataFrame | None = None, conflicts: pd.DataFrame | None = None,
                 notes: Iterable[str] = (), expectations: Expectations | None = None):
        if not isinstance(inventory, pd.DataFrame):
            raise TypeError(f"inventory must be a pandas DataFrame, got {type(inventory).__name__}")
        if not isinstance(inventory.index, pd.MultiIndex):
            raise ValueError("inventory must have a MultiIndex (Subject, Session[, Task])")
        if inventory.index.nlevels not in (2, 3):
            raise ValueError(
                f"inventory index must have 2 or 3 levels (Subject, Session[, Task]), "
                f"got {inventory.index.nlevels}")
        inv = inventory.copy()
        inv.index = inv.index.set_names(list(INDEX_NAMES[: inv.index.nlevels]))
        registry = registered_sources()
        if sources is None:
            chosen = [c for c in inv.columns if c in registry]
        else:
            chosen = [sources] if isinstance(sources, str) else list(sources)
            unknown = [s for s in chosen if s not in registry]
            if unknown:
                raise KeyError(f"Unknown source tag(s): {unknown}. Registered: {sorted(registry)}")
            chosen = list(dict.fromkeys(chosen))
        self._inventory = inv
        self._sources = tuple(chosen)
        self._roots = tuple(Path(r) for r in roots)
        self._settings = settings if settings is not None else get_settings()
        self._skipped = skipped if skipped is not None else pd.DataFrame(columns=SKIPPED_COLUMNS, dtype=object)
        self._conflicts = conflicts if conflicts is not None else pd.DataFrame(columns=CONFLICT_COLUMNS, dtype=object)
        self._notes = [str(n) for n in notes]
        # what should exist (datakit.expectations): computed for the whole experiment and
        # shared by every Dataset derived from it; the filters applied since are kept so
        # rows and sources that have no file (expected but absent) are filtered alike
        self._expect = expectations
        self._row_filters: tuple = ()      # ("include"|"exclude"|"head", subject, session, task)
        self._source_scope: frozenset | None = (   # sources include() kept (None: all)
            None if sources is None else frozenset(chosen))
        self._source_drop: frozenset = frozenset()     # sources exclude() dropped
        self._blanks: tuple = ()           # (subject, session, task, tags) blanked by exclude()
        self._cache = True                 # validate() reuses outcomes of unchanged files

    # construction -----------------------------------------------------------------

    @classmethod
    def from_directory(cls, root, *, sources=None, prefer_processed=True, include_task_level=True,
                       settings: Settings | None = None, progress=False, cancel=None,
                       cache: bool = True) -> "Dataset":
        """Discover one or more experiment roots and build a Dataset.

        Pass a single path or a sequence of paths; several roots are merged row-wise
        (the same cell in two roots becomes one row; the root given first wins a
        conflict).  Files that cannot be placed are listed in :attr:`skipped`, files
        that lost a conflict in :attr:`conflicts`.

        ``cache=True`` keeps what the walk found in the per-user index
        (:mod:`datakit.index`), so the next open lists only the folders that changed;
        ``cache=False`` walks everything and neither reads nor writes the index.
        """
        registry = registered_sources()
        roots = resolve_roots(root)
        found = discover(roots, registry, sources=sources, prefer_processed=prefer_processed,
                         include_task_level=include_task_level, progress=progress, cancel=cancel,
                         index=_index.shared() if cache else None)
        inventory, conflicts = found.inventory, found.conflicts
        expectations = _read_expectations(inventory, roots, registry, sources=sources)
        if inventory.empty:
            warnings.warn(
                "no recordings found under " + ", ".join(map(str, roots))
                + " (datakit looks for files of registered sources under data/ and processed/)",
                UserWarning, stacklevel=2)
        # a treadmill CSV beside a dataqueue with encoder packets is expected, not news
        surprising = int((conflicts["reason"] != "the source's earlier pattern wins").sum())
        if surprising:
            warnings.warn(
                f"{surprising} file(s) lost to another file claiming the same cell and "
                "source; see Dataset.conflicts for which file was kept and why",
                ConflictWarning, stacklevel=2)
        ds = cls(inventory, sources=sources, roots=roots, settings=settings,
                 skipped=found.skipped, conflicts=conflicts, expectations=expectations)
        ds._cache = cache
        return ds
    def _derive(self, inventory=None, sources=None, *, row_filter=None, scope=None, drop=None,
                blank=None, expectations=None) -> "Dataset":
        """A new Dataset sharing everything but the given parts (notes carried over)."""
        ds = Dataset(
            self._inventory if inventory is None else inventory,
            sources=self._sources if sources is None else sources,
            roots=self._roots, settings=self._settings, skipped=self._skipped,
            conflicts=self._conflicts, notes=self._notes,
            expectations=self._expectations() if expectations is None else expectations)
        ds._row_filters = self._row_filters + ((row_filter,) if row_filter else ())
        ds._source_scope = self._source_scope
        if scope is not None:
            ds._source_scope = scope if self._source_scope is None else self._source_scope & scope
        ds._source_drop = self._source_drop | (drop or frozenset())
        ds._blanks = self._blanks + ((blank,) if blank else ())
        ds._cache = self._cache
        return ds

    # properties -------------------------------------------------------------------

    @property
    def inventory(self) -> pd.DataFrame:
        return self._inventory.copy()

    @property
    def sources(self) -> tuple[str, ...]:
        return self._sources

    @property
    def roots(self) -> tuple[Path, ...]:
        return self._roots

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def skipped(self) -> pd.DataFrame:
        """Files and folders discovery could not place or read (root, path, reason)."""
        return self._skipped.copy()

    @property
    def conflicts(self) -> pd.DataFrame:
        """Files that lost to another file for the same (cell, source), and why."""
        return self._conflicts.copy()

    @property
    def subjects(self) -> list[str]:
        return sorted(set(map(str, self._inventory.index.get_level_values(0))))

    @property
    def sessions(self) -> list[str]:
        return sorted(set(map(str, self._inventory.index.get_level_values(1))))

    @property
    def tasks(self) -> list[str]:
        if not self.has_task_level:
            return []
        return sorted(set(map(str, self._inventory.index.get_level_values(2))))

    @property
    def has_task_level(self) -> bool:
        return self._inventory.index.nlevels >= 3

    @property
    def notes(self) -> list[str]:
        """Free-form notes attached to this dataset."""
        return list(self._notes)

    def add_note(self, note: str) -> "Dataset":
        """Append a free-form note; persisted via ``df.attrs['datakit_notes']``."""
        if not isinstance(note, str):
            raise TypeError("note must be a string")
        self._notes.append(note)
        return self

    @property
    def meta(self) -> dict:
        """Provenance metadata for the running datakit package."""
        return build_meta()

    def __len__(self) -> int:
        return len(self._inventory)

    def __repr__(self) -> str:
        return (f"Dataset(rows={len(self._inventory)}, sources={len(self._sources)}, "
                f"task_level={self.has_task_level})")

    # filters ----------------------------------------------------------------------

    def _row_mask(self, subject, session, task, index=None) -> np.ndarray | None:
        filters = {"subject": (0, _as_list(subject, "subject")),
                   "session": (1, _as_list(session, "session")),
                   "task": (2, _as_list(task, "task"))}
        if filters["task"][1] is not None and not self.has_task_level:
            raise ValueError(
                "task filter given, but this Dataset has no Task level "
                "(it was built with include_task_level=False)")
        mask = None
        index = self._inventory.index if index is None else index
        for level, values in filters.values():
            if values is None:
                continue
            labels = index.get_level_values(level).astype(str)
            hit = np.asarray(labels.isin(values))
            mask = hit if mask is None else (mask & hit)
        return mask

    def _check_sources(self, source) -> list[str] | None:
        tags = _as_list(source, "source")
        if tags is None:
            return None
        registry = registered_sources()
        unknown = [t for t in tags if t not in registry]
        if unknown:
            raise KeyError(f"Unknown source tag(s): {unknown}. Registered: {sorted(registry)}")
        return tags

    def include(self, *, subject=None, session=None, task=None, source=None) -> "Dataset":
        """Keep only rows/sources matching the given filters (AND-combined).

        Each keyword takes a str or a sequence of str; None means no constraint.
        Returns a new Dataset; the original is unchanged.
        """
        mask = self._row_mask(subject, session, task)
        tags = self._check_sources(source)
        inventory = self._inventory if mask is None else self._inventory[mask]
        sources = self._sources if tags is None else tuple(s for s in self._sources if s in tags)
        rows = None if mask is None else ("include", subject, session, task)
        return self._derive(inventory=inventory, sources=sources, row_filter=rows,
                            scope=None if tags is None else frozenset(tags))

    def exclude(self, *, subject=None, session=None, task=None, source=None) -> "Dataset":
        """Drop rows/sources matching the given filters.

        source only: drop those sources.  Row axes only: drop matching rows.  Both:
        blank (NaN) only those sources in the matching rows; rows and other sources stay.
        No filter at all: nothing is excluded.
        """
        mask = self._row_mask(subject, session, task)
        tags = self._check_sources(source)
        if mask is None and tags is None:
            return self._derive()
        if mask is None:
            return self._derive(sources=tuple(s for s in self._sources if s not in tags),
                                drop=frozenset(tags))
        if tags is None:
            return self._derive(inventory=self._inventory[~mask],
                                row_filter=("exclude", subject, session, task))
        inventory = self._inventory.copy()
        cols = [t for t in dict.fromkeys(tags) if t in inventory.columns]  # a tag named twice: once
        if cols:
            inventory.loc[mask, cols] = np.nan
        return self._derive(inventory=inventory, blank=(subject, session, task, tuple(tags)))

    def head(self, n: int = 3) -> "Dataset":
        """A new Dataset with only the first ``n`` rows."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"n must be a non-negative int; got {n!r}")
        return self._derive(inventory=self._inventory.iloc[: int(n)], row_filter=("head",))

    def select(self, subject: str, session: str, task: str | None = None) -> "Dataset":
        """A new Dataset with exactly one row (KeyError: none; ValueError: several)."""
        for name, value in (("subject", subject), ("session", session)):
            if not isinstance(value, str):
                raise TypeError(f"select() needs a single str for {name}, got "
                                f"{type(value).__name__}; use include() for several values")
        if task is not None and not isinstance(task, str):
            raise TypeError(f"select() needs a single str for task, got {type(task).__name__}; "
                            "use include() for several values")
        picked = self.include(subject=subject, session=session, task=task)
        key = (subject, session) if task is None else (subject, session, task)
        if len(picked) == 0:
            raise KeyError(f"No inventory entry for {key}")
        if len(picked) > 1:
            raise ValueError(
                f"{len(picked)} rows match {key}; pass task= to pick one "
                f"(tasks: {picked.tasks}) or use include() for several")
        return picked


    # what should exist ------------------------------------------------------------

    def _expectations(self) -> Expectations:
        if self._expect is None:   # a Dataset built from an inventory: inference only
            self._expect = Expectations(self._inventory, registered_sources())
        return self._expect

    def _filtered_rows(self, index: pd.MultiIndex) -> np.ndarray:
        """Which of ``index`` (rows with no file) the row filters applied so far keep."""
        keep = np.ones(len(index), dtype=bool)
        for kind, *axes in self._row_filters:
            if kind == "head":
                keep[:] = False
                continue
            if kind == "keys":
                keep &= np.asarray(index.isin(axes[0]))
                continue
            mask = self._row_mask(*axes, index=index)
            if mask is not None:
                keep &= mask if kind == "include" else ~mask
        return keep

    def _grid(self) -> tuple[Expectations, np.ndarray, np.ndarray]:
        """The expectations and the rows / columns of its grid this Dataset covers."""
        exp = self._expectations()
        index = exp.index
        inventory_keys = _str_keys(self._inventory.index)
        rows = np.asarray(index.isin(inventory_keys))
        unrecorded = ~rows & ~np.asarray(index.isin(exp._recorded))
        if unrecorded.any():
            extra = np.flatnonzero(unrecorded)
            rows[extra[self._filtered_rows(index[extra])]] = True
        selected = set(self._sources)
        # a source with files follows the selection; one expected but absent everywhere
        # follows the source filters applied since discovery
        tags = [t for t in exp.sources
                if (t in selected if t in exp.found else
                    t not in self._source_drop
                    and (self._source_scope is None or t in self._source_scope))]
        cols = pd.Index(exp._candidates, dtype=object).get_indexer(tags)
        return exp, np.flatnonzero(rows), cols

    def _blanked(self, exp: Expectations, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """(rows, cols) mask of pairs exclude(<rows>, source=...) took out of this Dataset."""
        mask = np.zeros((len(rows), len(cols)), dtype=bool)
        if not self._blanks:
            return mask
        index = exp.index[rows]
        tags = np.asarray(exp._candidates, dtype=object)[cols]
        for subject, session, task, blanked in self._blanks:
            hit = self._row_mask(subject, session, task, index=index)
            mask |= np.outer(hit, np.isin(tags, list(blanked)))
        return mask

    def _states(self) -> tuple[Expectations, np.ndarray, np.ndarray, np.ndarray]:
        exp, rows, cols = self._grid()
        states = exp.states[np.ix_(rows, cols)]
        blanked = self._blanked(exp, rows, cols)
        if blanked.any():
            states = np.where(blanked & (states == MISSING), NOT_EXPECTED, states)
        return exp, rows, cols, states

    def coverage(self) -> pd.DataFrame:
        """``"present"``, ``"missing"`` (expected and absent) or ``"not_expected"`` per
        (cell, source).

        Rows: the inventory's cells plus expected cells with no file at all; columns:
        every source with a file somewhere or expected somewhere.  Which rule expects a
        pair: :meth:`expected`; why each missing one is expected: :meth:`missing`.
        """
        exp, rows, cols, states = self._states()
        return pd.DataFrame(states, index=exp.index[rows],
                            columns=pd.Index(np.asarray(exp._candidates, dtype=object)[cols],
                                             dtype=object), dtype=object)

    def expected(self) -> pd.DataFrame:
        """The rule that expects each (cell, source) of :meth:`coverage`: ``"declared"``,
        ``"manifest"``, ``"inferred"``, or None when it is not expected."""
        exp, rows, cols = self._grid()
        reasons = exp.reasons()[np.ix_(rows, cols)]
        reasons = np.where(self._blanked(exp, rows, cols), None, reasons)
        return pd.DataFrame(reasons, index=exp.index[rows],
                            columns=pd.Index(np.asarray(exp._candidates, dtype=object)[cols],
                                             dtype=object), dtype=object)

    def missing(self) -> pd.DataFrame:
        """One row per expected-but-absent (cell, source), sorted by cell then source.

        Columns: the index levels, ``Source``, ``reason`` (``"declared"``, ``"manifest"``
        or ``"inferred"``) and ``detail`` (the manifest's path for the file, "task not
        recorded", how many cells of the task have the source, ...).
        """
        exp, rows, cols, states = self._states()
        r, c = np.nonzero(states == MISSING)
        grid_rows, grid_cols = rows[r], cols[c]
        index = exp.index[grid_rows]
        data = {name: index.get_level_values(i).to_numpy(dtype=object)
                for i, name in enumerate(index.names)}
        data["Source"] = np.asarray(exp._candidates, dtype=object)[grid_cols]
        data["reason"] = exp.reasons()[grid_rows, grid_cols]
        data["detail"] = np.asarray(exp.details(grid_rows, grid_cols), dtype=object)
        return pd.DataFrame(data, columns=[*index.names, *MISSING_COLUMNS], dtype=object)

    def incomplete(self) -> "Dataset":
        """A new Dataset with only the cells where something expected is missing."""
        exp, rows, _, states = self._states()
        keys = exp.index[rows[(states == MISSING).any(axis=1)]]
        mask = np.asarray(_str_keys(self._inventory.index).isin(keys))
        ds = self._derive(inventory=self._inventory[mask], row_filter=("keys", keys))
        return ds

    @property
    def protocol(self):
        """The :class:`~datakit.protocol.Protocol` in use (``datakit.toml``), or None."""
        return self._expectations().protocol

    def with_protocol(self, protocol) -> "Dataset":
        """The same Dataset judged by another protocol (nothing is re-read from disk)."""
        from .protocol import Protocol

        if protocol is not None and not isinstance(protocol, Protocol):
            raise TypeError(f"protocol must be a datakit.Protocol or None, got {type(protocol).__name__}")
        return self._derive(expectations=self._expectations().with_protocol(protocol))

    def with_settings(self, settings: Settings | None = None, **changes) -> "Dataset":
        """The same Dataset loading with other settings (nothing is re-read from disk).

        >>> ds.with_settings(path_map="Z:/lab=/mnt/lab")      # for a Dask cluster
        """
        base = settings if settings is not None else self._settings
        if not isinstance(base, Settings):
            raise TypeError(f"settings must be a datakit.Settings, got {type(base).__name__}")
        ds = self._derive()
        ds._settings = base.replace(**changes) if changes else base
        return ds

    # running ----------------------------------------------------------------------

    def _tasks(self, mode: str) -> tuple[list[engine.CellTask], tuple[str, ...]]:
        registry = registered_sources()
        active = tuple(t for t in dependency_order(self._sources, registry) if t in self._sources)
        columns = set(self._inventory.columns)
        order = tuple(t for t in dependency_order(active, registry)
                      if t in self._sources or t in columns)
        classes = {t: get_source_class(t) for t in order}
        settings = self._settings.replace(allow_pickle=pickle_allowed(self._settings.allow_pickle))
        records = self._inventory.reindex(columns=[t for t in order if t in columns])
        records = records.astype(object).where(records.notna(), None)
        tasks = []
        for position, (key, values) in enumerate(zip(records.index, records.to_numpy())):
            key = key if isinstance(key, tuple) else (key,)
            row = dict(zip(records.columns, values))
            tasks.append(engine.CellTask(position, tuple(str(k) for k in key), row, order,
                                         active, classes, settings, mode))
        return tasks, active

    def validate(self, *, progress=False, workers: int | None = None, parallel: str = "process",
                 executor=None, cancel=None, use_cache: bool | None = None) -> pd.DataFrame:
        """Load every (cell, source) and report ``ok``/``missing``/``error``; never raises for a file.

        Columns: Subject, Session[, Task], Source, status, path, error_type, message,
        traceback, cached, expected.  With the cache (``use_cache``; default: on unless
        the Dataset was opened with ``cache=False``) a (cell, source) whose files, source
        and settings are as at its last validation reports that outcome (``cached``
        True) without being loaded; ``use_cache=False`` loads everything.

        ``executor``: any ``concurrent.futures.Executor`` to load on instead of a new
        process pool, e.g. a Dask ``client.get_executor()`` (see :mod:`datakit.cluster`:
        ``settings.path_map`` applies to the paths sent to its workers; a cell whose
        worker died is reported as an error with the reason and is not cached).
        """
        from .errors import Cancelled
        from .revalidate import Plan

        if cancel is not None and cancel.is_set():
            raise Cancelled("cancelled")
        tasks, _ = self._tasks(engine.VALIDATE)
        use = self._cache if use_cache is None else bool(use_cache)
        plan = Plan(tasks, _index.shared() if use else None)
        # pairs reused from the cache, or with no file, count as done at once
        settled = sum(len(t.active) for t in tasks) - sum(len(t.active) for t in plan.rerun)
        try:
            fresh = engine.run(plan.rerun, workers=workers, parallel=parallel, executor=executor,
                               progress=progress, cancel=cancel,
                               done_before=(settled, f"{len(plan.reused)} unchanged since their "
                                                     "last validation"))
        except ConnectionError as exc:   # a lost Dask scheduler: keep what finished
            plan.store(getattr(exc, "results", []))
            raise
        plan.store(fresh)
        results = plan.merge(fresh)
        return self._with_expected(engine.errors_frame(tasks, results, self._inventory.index.names))

    def _with_expected(self, report: pd.DataFrame) -> pd.DataFrame:
        """The report with a boolean ``expected`` column, and a ``missing`` row for every
        expected pair it has no row for (cells never recorded, sources absent everywhere);
        a missing row's message says why the file is expected."""
        names = list(self._inventory.index.names)
        expected = self.expected().stack(future_stack=True)
        expected = expected[expected.notna()]
        keys = pd.MultiIndex.from_arrays(
            [report[n].astype(str).astype(object) for n in names]
            + [report["Source"].astype(str).astype(object)])
        report = report.copy()
        report["expected"] = np.asarray(keys.isin(expected.index), dtype=bool)
        gone = self.missing()
        if len(gone):
            why = ("expected (" + gone["reason"].astype(str) + "): " + gone["detail"].astype(str)).to_numpy()
            gone_keys = pd.MultiIndex.from_frame(gone[[*names, "Source"]])
            listed = report["status"].to_numpy() == engine.STATUS_MISSING
            position = gone_keys.get_indexer(keys)
            hit = listed & (position >= 0)
            report.loc[hit, "message"] = why[position[hit]]
            extra = ~gone_keys.isin(keys)
            if extra.any():
                rows = gone[extra][[*names, "Source"]].copy()
                rows["status"] = engine.STATUS_MISSING
                rows["path"] = None
                rows["error_type"] = None
                rows["message"] = why[extra]
                rows["traceback"] = None
                rows["cached"] = False
                rows["expected"] = True
                report = pd.concat([report, rows[report.columns]], ignore_index=True)
                # stable: a cell's rows keep their order, its added rows come last
                order = np.lexsort([report[n].astype(str) for n in reversed(names)])
                report = report.iloc[order].reset_index(drop=True)
        report["expected"] = report["expected"].astype(bool)
        report["cached"] = report["cached"].astype(bool)
        return report

    def materialize(self, *, strict=True, return_errors=False, progress=False,
                    workers: int | None = None, parallel: str = "process", executor=None,
                    cancel=None):
        """Build the materialized DataFrame (rows = cells, columns = (Source, Feature)).

        ``strict=True`` raises :class:`~datakit.LoadError` (a ValueError/RuntimeError)
        for the first failed file, naming subject, session, task, source and path.
        ``strict=False`` leaves failed cells NaN; ``return_errors=True`` also returns the
        validate()-style report.

        ``executor``: any ``concurrent.futures.Executor`` to load on instead of a new
        process pool, e.g. a Dask ``client.get_executor()``; the frame equals a local
        run's (see :mod:`datakit.cluster` for the path map and what a dead worker does).
        """
        tasks, active = self._tasks(engine.MATERIALIZE)
        results = engine.run(tasks, workers=workers, parallel=parallel, executor=executor,
                             progress=progress, cancel=cancel, stop_on_error=strict)
        if strict:
            error = engine.first_error(tasks, results)
            if error is not None:
                raise error
        df = engine.features_frame(tasks, results, self._inventory.index, active)
        df.attrs.update(self._frame_attrs(active))
        if return_errors:   # the validate()-style report, ``expected`` column included
            return df, self._with_expected(engine.errors_frame(tasks, results, self._inventory.index.names))
        return df

    def _frame_attrs(self, active) -> dict:
        """The ``df.attrs`` of a materialized frame of the sources ``active``."""
        return {"datakit": build_meta(), "datakit_sources": list(active),
                "datakit_roots": [str(r) for r in self._roots],
                "datakit_notes": list(self._notes)}

    def save(self, path, *, format=None, strict=True, progress=False, hdf_key="dataset",
             workers: int | None = None, parallel: str = "process", executor=None,
             cancel=None, return_errors: bool = False):
        """Materialize and write to disk atomically; pickle by default, HDF5 via
        ``format="hdf5"`` or a ``.h5``/``.hdf5`` suffix.  An unsupported format is
        refused before anything is loaded.  ``executor`` is passed to the loading (a
        Dask ``client.get_executor()`` loads on the cluster; the file is written here).

        HDF5 is written cell by cell as cells load (the frame is never held whole:
        memory stays bounded by the cells in flight); pickle materializes first.  The
        file appears only when complete (a temporary file beside it is renamed); on any
        failure, Ctrl+C or ``cancel``, a previous file is left as it was.  Progress
        covers loading and writing.  Returns the path, or ``(path, report)`` with
        ``return_errors=True`` (the validate()-style report of the loads).
        """
        from .saving import save_dataset

        saved = save_dataset(self, path, format=format, strict=strict, progress=progress,
                             hdf_key=hdf_key, workers=workers, parallel=parallel,
                             executor=executor, cancel=cancel, return_errors=return_errors)
        return (saved.path, saved.errors) if return_errors else saved.path

    def to_nwb(self, folder, *, overwrite=False, progress=False, cancel=None,
               workers: int | None = None, executor=None, timezone=None):
        """Export every cell to one NWB file under ``folder``; returns ``(paths, report)``.

        File names follow DANDI: ``sub-<S>/sub-<S>_ses-<N>[_task-<T>]_<modalities>.nwb``.
        Times are the materialized ``t`` (seconds on the cell's master clock);
        ``session_start_time`` is the wall-clock instant of ``t = 0``.  An existing file
        is a FileExistsError before anything is written unless ``overwrite=True``; each
        file is written to a temporary file and renamed.  A source that failed to load is
        left out and named in the file's notes; a cell with nothing usable is skipped.
        ``report`` lists every (cell, source, feature): where it went, or why not
        (see :class:`datakit.nwb.NWBExport`).  ``timezone`` (an IANA name such as
        ``"America/Los_Angeles"``) is the rig's zone; by default PsychoPy's recorded
        offset, else this computer's zone.  Needs ``pip install 'datakit[nwb]'``.
        """
        from .nwb import export

        tasks, _ = self._tasks(engine.MATERIALIZE)
        return export(tasks, list(self._inventory.index.names), folder, overwrite=overwrite,
                      progress=progress, cancel=cancel, workers=workers, executor=executor,
                      timezone=timezone, roots=self._roots, notes=self._notes)


def _str_keys(index: pd.Index) -> pd.MultiIndex:
    """An inventory index with every level as str (how expectations name cells)."""
    arrays = [index.get_level_values(i).astype(str).astype(object) for i in range(index.nlevels)]
    return pd.MultiIndex.from_arrays(arrays, names=index.names)


def _read_expectations(inventory: pd.DataFrame, roots, registry, *, sources=None) -> Expectations:
    """The protocol and manifest of the experiment roots (the first root's protocol wins;
    manifests are merged), as one Expectations over ``inventory``."""
    from .manifest import empty_manifest, read_manifest
    from .protocol import read_protocol

    protocol = None
    manifests = []
    for root in roots:
        found = read_protocol(root, registry)
        if protocol is None:
            protocol = found
        manifests.append(read_manifest(root, registry))
    manifest = pd.concat([m for m in manifests if len(m)] or [empty_manifest()], ignore_index=True)
    if not inventory.index.nlevels >= 3 and len(manifest):
        manifest = manifest.drop(columns="Task")
    # the same (cell, source) in two roots' manifests: the root given first speaks for it
    manifest = manifest.drop_duplicates([c for c in manifest.columns if c != "path"])
    tags = list(registry) if sources is None else dependency_order(
        [sources] if isinstance(sources, str) else list(sources), registry)
    return Expectations(inventory, tags, protocol=protocol, manifest=manifest)
