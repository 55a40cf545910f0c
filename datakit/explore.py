"""``datakit.explore``: structural reports of an experiment or a materialized frame.

The earlier implementation's ``explore`` (reference §3.14), same call and same report
objects::

    report = datakit.explore("/data/HFSA")             # a folder: discovery only, no data file read
    report = datakit.explore(ds)                       # a Dataset: its inventory
    report = datakit.explore("hfsa.h5")                # a saved frame (.pkl, .pickle, .h5, .hdf5)
    report = datakit.explore(df, print_output=False)   # a materialized DataFrame
    print(datakit.explore.render(report))

A folder or Dataset gives a :class:`DatasetInventoryReport`, a frame or saved file a
:class:`MaterializedReport`; both are frozen dataclasses.  ``explore.inventory``,
``explore.materialized``, ``explore.path`` and ``explore.render`` pick one directly (they
print only when asked).  Printing is plain text (no terminal colour codes).  Saved
files are read with :func:`datakit.load_dataset`, so pickles obey safe mode and the
earlier implementation's pandas ``.h5`` files need ``allow_pickle=True``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["explore", "TagSummary", "DatasetInventoryReport", "ColumnInfo", "MaterializedReport"]

from .formats import SAVED_SUFFIXES  # noqa: E402,F401 - one home for the suffixes


@dataclass(frozen=True)
class TagSummary:
    """One inventory column: how many cells have a file, which file suffixes."""

    tag: str
    file_count: int
    coverage_pct: float              # 0-100, rounded to 0.1
    extensions: tuple[str, ...]


@dataclass(frozen=True)
class DatasetInventoryReport:
    """What discovery found (no data file is read)."""

    roots: tuple[str, ...]
    n_subjects: int
    n_sessions: int
    n_tasks: int
    has_task_level: bool
    subjects: tuple[str, ...]
    sessions: tuple[str, ...]
    tasks: tuple[str, ...]
    tags: tuple[TagSummary, ...]
    n_total_files: int
    coverage_matrix: dict[str, dict[str, float]]   # tag -> {subject: pct}
    hierarchy: dict[str, Any] = None                # subject -> session -> task -> {}


@dataclass(frozen=True)
class ColumnInfo:
    """One (Source, Feature) column: its dtype and what its cells hold."""

    source: str
    feature: str
    dtype: str
    detail: str


@dataclass(frozen=True)
class MaterializedReport:
    """The shape of a materialized frame."""

    shape: tuple[int, int]
    index_names: tuple[str, ...]
    index_counts: dict[str, int]
    n_sources: int
    n_features: int
    memory_mb: float
    sources: tuple[str, ...]
    source_features: dict[str, tuple[str, ...]]
    columns: tuple[ColumnInfo, ...]
    coverage: dict[str, float]       # source -> % of rows with any non-null feature
    hierarchy: dict[str, Any]        # nested index labels


# ---------------------------------------------------------------------------------
# building the reports


def _hierarchy(index: pd.Index) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    keys = index.unique() if len(index) else []
    for key in keys:  # one step per cell, not per sample
        node = tree
        for part in (key if isinstance(key, tuple) else (key,)):
            node = node.setdefault(str(part), {})
    return tree


def explore_inventory(dataset) -> DatasetInventoryReport:
    """A :class:`DatasetInventoryReport` of a :class:`datakit.Dataset` (opens no file)."""
    from .dataset import Dataset

    if not isinstance(dataset, Dataset):
        raise TypeError(f"expected a datakit.Dataset, got {type(dataset).__name__}")
    inv = dataset.inventory
    subjects = tuple(dataset.subjects)
    tasks = tuple(dataset.tasks)
    present = inv.notna()
    tags, matrix = [], {}
    by_subject = present.groupby(level=0, sort=True).mean() if len(inv) else None
    for tag in sorted(map(str, inv.columns)):
        column = inv[tag]
        mask = present[tag]
        paths = column[mask].astype(str)
        suffixes = paths.str.extract(r"(\.[^./\\]+)$", expand=False).dropna().str.lower()
        pct = round(float(mask.mean()) * 100.0, 1) if len(inv) else 0.0
        tags.append(TagSummary(tag, int(mask.sum()), pct, tuple(sorted(set(suffixes)))))
        if by_subject is not None:
            matrix[tag] = {str(s): round(float(v) * 100.0, 1) for s, v in by_subject[tag].items()}
    return DatasetInventoryReport(
        roots=tuple(str(r) for r in dataset.roots) or ("<in-memory>",),
        n_subjects=len(subjects), n_sessions=len(dataset.sessions), n_tasks=len(tasks),
        has_task_level=dataset.has_task_level, subjects=subjects,
        sessions=tuple(dataset.sessions), tasks=tasks, tags=tuple(tags),
        n_total_files=int(present.to_numpy().sum()), coverage_matrix=matrix,
        hierarchy=_hierarchy(inv.index))


def _describe(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    if isinstance(value, np.ndarray):
        return f"ndarray {value.dtype} {value.shape}"
    if isinstance(value, pd.DataFrame):
        return f"DataFrame {value.shape[0]}x{value.shape[1]}"
    if isinstance(value, pd.Series):
        return f"Series len={len(value)}"
    if isinstance(value, dict):
        keys = ", ".join(str(k) for k in list(value)[:3]) + (", ..." if len(value) > 3 else "")
        return f"dict({len(value)}) [{keys}]"
    if isinstance(value, (list, tuple)):
        return f"{type(value).__name__} len={len(value)}"
    return type(value).__name__


def _column_detail(series: pd.Series) -> str:
    values = series.dropna()
    if values.empty:
        return "all null"
    first = _describe(values.iloc[0])
    if len(values) > 1 and _describe(values.iloc[-1]) != first:
        first += " (varies)"
    return first


def explore_materialized(df: pd.DataFrame) -> MaterializedReport:
    """A :class:`MaterializedReport` of a materialized frame."""
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(df).__name__}")
    index = df.index
    names = tuple(str(n) if n is not None else f"level_{i}" for i, n in enumerate(index.names))
    counts = {name: int(index.get_level_values(i).nunique()) for i, name in enumerate(names)}
    columns = df.columns
    two_level = isinstance(columns, pd.MultiIndex) and columns.nlevels >= 2
    if two_level:
        level0 = columns.get_level_values(0).astype(str)
        level1 = columns.get_level_values(1).astype(str)
        sources = tuple(sorted(set(level0)))
        features = {s: tuple(sorted(set(level1[level0 == s]))) for s in sources}
        n_features = int(pd.Index(level1).nunique())
    else:
        level0 = level1 = None
        sources, features, n_features = (), {}, len(columns)
    infos = []
    for j, key in enumerate(columns):
        series = df.iloc[:, j]
        dtype = str(series.dtype)
        source, feature = (str(key[0]), str(key[1])) if isinstance(key, tuple) else ("", str(key))
        infos.append(ColumnInfo(source, feature, dtype,
                                _column_detail(series) if dtype == "object" else dtype))
    notna = df.notna()
    if two_level:
        any_per_source = notna.T.groupby(level0.to_numpy()).any().T if len(df) else None
        coverage = {s: (round(float(any_per_source[s].mean()) * 100.0, 1)
                        if any_per_source is not None else 0.0) for s in sources}
    else:
        coverage = {str(c): round(float(notna[c].mean()) * 100.0, 1) if len(df) else 0.0
                    for c in columns}
    return MaterializedReport(
        shape=tuple(df.shape), index_names=names, index_counts=counts,
        n_sources=len(sources), n_features=n_features,
        memory_mb=round(int(df.memory_usage(deep=True).sum()) / 2**20, 2),
        sources=sources, source_features=features, columns=tuple(infos),
        coverage=coverage, hierarchy=_hierarchy(index))


# ---------------------------------------------------------------------------------
# rendering (plain text)


def _bar(pct: float) -> str:
    n = int(max(0.0, min(100.0, pct)) / 5)
    return "#" * n + "." * (20 - n)


def _tree_lines(tree: dict, depth: int = 1) -> list[str]:
    lines = []
    for key in sorted(tree):
        lines.append("  " * depth + key)
        lines += _tree_lines(tree[key], depth + 1)
    return lines


def render_inventory(report: DatasetInventoryReport) -> str:
    lines = ["=" * 60, "DATASET INVENTORY", "=" * 60,
             f"  Root(s):    {', '.join(report.roots)}",
             f"  Subjects:   {report.n_subjects}",
             f"  Sessions:   {report.n_sessions}",
             f"  Tasks:      {report.n_tasks}",
             f"  Files:      {report.n_total_files}",
             f"  Task-level: {report.has_task_level}",
             "", "STRUCTURE", "-" * 40]
    lines += _tree_lines(report.hierarchy or {})
    lines += ["", "SOURCE TAGS", "-" * 40,
              f"  {'Tag':<25} {'Files':>5}  {'Coverage':>8}  Extensions"]
    for tag in report.tags:
        ext = ", ".join(tag.extensions) or "-"
        lines.append(f"  {tag.tag:<25} {tag.file_count:>5}  {tag.coverage_pct:>7.0f}%  {ext}")
    if len(report.subjects) > 1 and report.coverage_matrix:
        lines += ["", "COVERAGE BY SUBJECT (%)", "-" * 40]
        tags = [t.tag for t in report.tags]
        width = max(len(s) for s in report.subjects) + 2
        lines.append(" " * (width + 2) + " ".join(f"{t[:10]:>10}" for t in tags))
        for subject in report.subjects:
            cells = " ".join(f"{report.coverage_matrix.get(t, {}).get(subject, 0.0):>10.0f}"
                             for t in tags)
            lines.append(f"  {subject:<{width}}{cells}")
    return "\n".join(lines)


def render_materialized(report: MaterializedReport) -> str:
    index = ", ".join(f"{k}={v}" for k, v in report.index_counts.items())
    lines = ["=" * 60, "MATERIALIZED DATASET", "=" * 60,
             f"  Shape:    {report.shape[0]} rows x {report.shape[1]} columns",
             f"  Index:    ({index})",
             f"  Sources:  {report.n_sources}",
             f"  Features: {report.n_features}",
             f"  Memory:   {report.memory_mb:.1f} MB",
             "", "STRUCTURE", "-" * 40]
    for source in report.sources:
        lines.append(f"  {source}")
        lines += [f"    {f}" for f in report.source_features.get(source, ())]
    lines += ["", "COLUMN TYPES", "-" * 40,
              f"  {'Source':<20} {'Feature':<24} {'dtype':<12} Detail"]
    for c in report.columns:
        lines.append(f"  {c.source:<20} {c.feature:<24} {c.dtype:<12} {c.detail}")
    lines += ["", "SOURCE COVERAGE", "-" * 40]
    for source in report.sources:
        pct = report.coverage.get(source, 0.0)
        lines.append(f"  {source:<20} [{_bar(pct)}] {pct:.0f}%")
    return "\n".join(lines)


def render(report) -> str:
    """A report as plain text."""
    if isinstance(report, DatasetInventoryReport):
        return render_inventory(report)
    if isinstance(report, MaterializedReport):
        return render_materialized(report)
    raise TypeError(f"expected an explore report, got {type(report).__name__}")


# ---------------------------------------------------------------------------------
# the callable namespace


class _Explore:
    """``explore(target)``: a report of a Dataset, a DataFrame, a folder or a saved file.

    ``explore.inventory(ds)``, ``explore.materialized(df)``, ``explore.path(p)`` and
    ``explore.render(report)`` pick one directly.  The report classes are attributes
    (``explore.DatasetInventoryReport`` ...).
    """

    DatasetInventoryReport = DatasetInventoryReport
    MaterializedReport = MaterializedReport
    ColumnInfo = ColumnInfo
    TagSummary = TagSummary

    def __call__(self, target, *, print_output: bool = True, hdf_key: str = "dataset",
                 allow_pickle: bool | None = None):
        from .dataset import Dataset

        if isinstance(target, Dataset):
            report = explore_inventory(target)
        elif isinstance(target, pd.DataFrame):
            report = explore_materialized(target)
        elif isinstance(target, (str, os.PathLike)):
            report = self.path(target, hdf_key=hdf_key, allow_pickle=allow_pickle)
        else:
            raise TypeError(f"explore() needs a Dataset, a DataFrame or a path, "
                            f"got {type(target).__name__}")
        if print_output:
            print(render(report))
        return report

    def inventory(self, dataset, *, print_output: bool = False) -> DatasetInventoryReport:
        report = explore_inventory(dataset)
        if print_output:
            print(render(report))
        return report

    def materialized(self, df: pd.DataFrame, *, print_output: bool = False) -> MaterializedReport:
        report = explore_materialized(df)
        if print_output:
            print(render(report))
        return report

    def path(self, path, *, hdf_key: str = "dataset", print_output: bool = False,
             allow_pickle: bool | None = None):
        """A folder (discovery only) or a saved frame (.pkl, .pickle, .h5, .hdf5)."""
        from .dataset import Dataset
        from .io import load_dataset

        p = Path(os.fspath(path)).expanduser()
        if p.is_dir():
            report = explore_inventory(Dataset.from_directory(p))
        elif not p.exists():
            raise FileNotFoundError(f"no such folder or file: {p}")
        elif p.suffix.lower() in SAVED_SUFFIXES:
            report = explore_materialized(load_dataset(p, hdf_key=hdf_key, allow_pickle=allow_pickle))
        else:
            raise ValueError(f"cannot explore {p}: expected an experiment folder or a saved "
                             f"dataset ({', '.join(SAVED_SUFFIXES)}), got {p.suffix or 'no suffix'!r}")
        if print_output:
            print(render(report))
        return report

    @staticmethod
    def render(report) -> str:
        return render(report)

    def __repr__(self) -> str:
        return ("<datakit.explore: explore(target); explore.inventory, explore.materialized, "
                "explore.path, explore.render>")


explore = _Explore()
