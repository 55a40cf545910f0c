"""How much memory a materialized frame takes, per source, feature and cell.

``DataFrame.memory_usage(deep=True)`` undercounts a materialized frame badly: its cells
are whole arrays and dicts.  :func:`profile_materialized` sizes every object cell: arrays
by ``nbytes`` plus their header (plus each element of object arrays of str), dicts,
lists and tuples recursively (cycle-safe, depth-capped), nested DataFrames by their deep
memory.  Missing cells (NaN/None) are skipped.

The figures are a logical size that depends only on the frame's content, so the same
frame gives the same figures whether it is in memory, read from a pickle or from HDF5:
objects shared between cells are counted in each cell, containers and strings are sized
from their length and characters (not from history-dependent spare capacity or cached
UTF-8 copies), and index lookup tables (built lazily by pandas) are left out.
"""
from __future__ import annotations

import dataclasses
import functools
import heapq
import json
import operator
import os
import sys
import textwrap
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .formats import human_bytes

MAX_DEPTH = 32
_PTR = np.dtype(np.intp).itemsize
_ARRAY_BASE = sys.getsizeof(np.empty(())) - np.empty(()).nbytes  # + 2 pointers per dimension
_LIST_BASE = sys.getsizeof([])
_ASCII_BASE = sys.getsizeof("")
_STR_BASE = {1: sys.getsizeof("\xe9") - 1, 2: sys.getsizeof("\u0100") - 2,
             4: sys.getsizeof("\U00010000") - 4}

__all__ = ["ColumnMemory", "CellMemory", "MaterializedMemoryReport", "profile_materialized",
           "human_bytes"]


#: What "memory" means in every report (one definition, whatever file the frame came from).
MEMORY_DEFINITION = ("the bytes the frame holds: every array's data, the Python objects in "
                     "its cells, the index and the labels (pandas' memory_usage(deep=True) "
                     "counts an array in a cell by its header only, so it is not used)")


@dataclass
class ColumnMemory:
    """Memory of one column (``column`` is "source.feature")."""

    column: str
    source: str
    feature: str
    dtype: str
    n_total: int
    n_non_null: int
    n_null: int
    pandas_deep_bytes: int
    pointer_array_bytes: int
    object_payload_bytes: int
    estimated_total_bytes: int
    avg_non_null_cell_bytes: float
    max_non_null_cell_bytes: int
    value_type_counts: dict[str, int] = field(default_factory=dict)
    nested_dataframe_inner_bytes: dict[str, int] = field(default_factory=dict)
    nested_dict_key_bytes: dict[str, int] = field(default_factory=dict)


@dataclass
class CellMemory:
    """One object cell (``row`` is the index labels joined by ".")."""

    row: str
    column: str
    source: str
    feature: str
    value_type: str
    estimated_bytes: int


@dataclass
class MaterializedMemoryReport:
    """Result of :func:`profile_materialized`; ``str(report)`` is :meth:`summary`."""

    source_path: str | None
    shape: tuple[int, int]
    index_names: tuple[str, ...]
    column_levels: tuple[str, ...]
    index_bytes: int
    columns_index_bytes: int
    pandas_deep_total_bytes: int
    estimated_total_bytes: int
    columns: list[ColumnMemory]
    by_source_bytes: dict[str, int]
    by_source_feature_bytes: dict[str, int]
    largest_cells: list[CellMemory]

    def summary(self) -> str:
        """A header block and the 10 largest sources."""
        rows, cols = self.shape
        cells = self.estimated_total_bytes - self.index_bytes - self.columns_index_bytes
        lines = [
            f"Materialized frame: {rows} rows x {cols} columns "
            f"(index: {_names(self.index_names)}; columns: {_names(self.column_levels)})",
            f"Source:            {self.source_path or '<in-memory DataFrame>'}",
            f"Memory:            {human_bytes(self.estimated_total_bytes)}  (cells "
            f"{human_bytes(cells)}, index {human_bytes(self.index_bytes)}, column labels "
            f"{human_bytes(self.columns_index_bytes)})",
            *textwrap.wrap(MEMORY_DEFINITION, 88, initial_indent=" " * 19,
                           subsequent_indent=" " * 19),
        ]
        if self.by_source_bytes:
            lines.append("Largest sources:")
            width = max(len(s) for s in list(self.by_source_bytes)[:10])
            for source, size in list(self.by_source_bytes.items())[:10]:
                lines.append(f"  {source:<{width}}  {human_bytes(size):>10}  "
                             f"{_percent(size, self.estimated_total_bytes)}")
        return "\n".join(lines)

    def verbose(self, top_n_cells: int = 20) -> str:
        """The summary plus columns, value types, nested keys and the largest cells."""
        lines = [self.summary(), "", "Columns (largest first):"]
        table = [("column", "dtype", "non-null", "estimated", "avg cell", "max cell", "types")]
        for c in sorted(self.columns, key=lambda c: -c.estimated_total_bytes):
            types = ", ".join(f"{t} x{n}" for t, n in c.value_type_counts.items())
            table.append((c.column, c.dtype, f"{c.n_non_null}/{c.n_total}",
                          human_bytes(c.estimated_total_bytes),
                          human_bytes(c.avg_non_null_cell_bytes),
                          human_bytes(c.max_non_null_cell_bytes), types))
        lines += _table(table)
        inner = [(f"{c.column} -> {k}", v) for c in self.columns
                 for k, v in c.nested_dataframe_inner_bytes.items()]
        if inner:
            lines += ["", "Columns of nested DataFrames:"]
            lines += [f"  {k}  {human_bytes(v)}" for k, v in sorted(inner, key=lambda x: -x[1])]
        keys = sorted(((f"{c.column}: {k}", v) for c in self.columns
                       for k, v in c.nested_dict_key_bytes.items()), key=lambda x: -x[1])
        if keys:
            lines += ["", "Largest dict keys (summed over rows):"]
            lines += _table([(k, human_bytes(v)) for k, v in keys[:20]], header=False)
        cells = self.largest_cells[:max(int(top_n_cells), 0)]
        if cells:
            lines += ["", f"Largest cells (top {len(cells)}):"]
            lines += _table([("row", "column", "type", "size")] + [
                (c.row, c.column, c.value_type, human_bytes(c.estimated_bytes)) for c in cells])
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """Plain JSON-safe data (lists, dicts, str, int, float, None)."""
        return _jsonable(dataclasses.asdict(self))

    def to_json(self, path, indent: int = 2) -> Path:
        """Write :meth:`to_dict` as JSON, creating parent folders; return the path."""
        target = Path(os.fspath(path)).expanduser()
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(self.to_dict(), indent=indent) + "\n", encoding="utf-8")
        return target.resolve()

    def __str__(self) -> str:
        return self.summary()


def profile_materialized(target, *, top_n_cells: int = 20, source_path=None,
                         hdf_key: str = "dataset",
                         allow_pickle: bool | None = None) -> MaterializedMemoryReport:
    """Build a :class:`MaterializedMemoryReport` from a DataFrame or a saved dataset.

    ``target`` is a materialized DataFrame or a path to a ``.pkl``/``.pickle``/``.h5``/
    ``.hdf5`` file, read with :func:`datakit.io.load_dataset` (so pickles obey safe
    mode and HDF5 never unpickles).  ``source_path`` overrides the path recorded in
    the report.  ``top_n_cells`` is how many of the largest object cells to keep.
    """
    if isinstance(top_n_cells, bool) or not isinstance(top_n_cells, (int, np.integer)):
        raise TypeError("top_n_cells must be an int")
    if top_n_cells < 0:
        raise ValueError("top_n_cells must be >= 0")
    if isinstance(target, pd.DataFrame):
        df, recorded = target, source_path
    elif isinstance(target, (str, os.PathLike)):
        from .io import load_dataset

        path = Path(os.fspath(target)).expanduser()
        df = load_dataset(path, hdf_key=hdf_key, allow_pickle=allow_pickle)
        recorded = source_path if source_path is not None else str(path.resolve())
    else:
        raise TypeError(f"target must be a DataFrame or a path, not {type(target).__name__}")
    return _profile(df, int(top_n_cells), None if recorded is None else os.fspath(recorded))


def _profile(df: pd.DataFrame, top_n: int, source_path: str | None) -> MaterializedMemoryReport:
    row_labels = [_row_label(r) for r in df.index] if top_n else []
    columns, heap = [], []
    for j in range(df.shape[1]):
        source, feature = _split_column(df.columns[j])
        columns.append(_column(df.iloc[:, j], j, source, feature, heap, top_n))
    index_bytes = _index_bytes(df.index)
    columns_index_bytes = _index_bytes(df.columns)
    by_source, by_feature = defaultdict(int), defaultdict(int)
    for c in columns:
        by_source[c.source] += c.estimated_total_bytes
        by_feature[c.column] += c.estimated_total_bytes
    largest = []
    for size, _, row, j, kind in sorted(heap, reverse=True):
        c = columns[j]
        largest.append(CellMemory(row_labels[row], c.column, c.source, c.feature, kind, size))
    return MaterializedMemoryReport(
        source_path=source_path,
        shape=(int(df.shape[0]), int(df.shape[1])),
        index_names=tuple(_name(n) for n in df.index.names),
        column_levels=tuple(_name(n) for n in df.columns.names),
        index_bytes=index_bytes,
        columns_index_bytes=columns_index_bytes,
        pandas_deep_total_bytes=int(df.memory_usage(deep=True, index=True).sum()),
        estimated_total_bytes=index_bytes + columns_index_bytes
        + sum(c.estimated_total_bytes for c in columns),
        columns=columns,
        by_source_bytes=_sorted(by_source),
        by_source_feature_bytes=_sorted(by_feature),
        largest_cells=largest,
    )


def _column(series: pd.Series, j: int, source: str, feature: str, heap: list,
            top_n: int) -> ColumnMemory:
    n = len(series)
    null = np.asarray(pd.isna(series), dtype=bool)
    n_non_null = int(n - null.sum())
    deep = int(series.memory_usage(deep=True, index=False))
    column = f"{source}.{feature}" if feature else source
    if series.dtype != object:
        itemsize = getattr(series.dtype, "itemsize", 0)
        avg = deep / n if n else 0.0
        return ColumnMemory(column, source, feature, str(series.dtype), n, n_non_null,
                            n - n_non_null, deep, 0, deep, deep, float(avg),
                            int(itemsize or round(avg)),
                            {str(series.dtype): n_non_null} if n_non_null else {})
    cells = series.to_numpy()[~null]
    rows = np.flatnonzero(~null)
    frames: dict = defaultdict(int)
    keys: dict = defaultdict(int)
    fast = _homogeneous_sizes(cells)
    if fast is not None:
        sizes, types = fast
    else:
        items = cells.tolist()
        types = Counter(map(_type_label, items))
        sizes = np.fromiter((_cell_bytes(v, frames, keys) for v in items), np.int64, len(items))
    if top_n and sizes.size:
        k = min(top_n, sizes.size)
        for pos in np.argsort(-sizes, kind="stable")[:k].tolist():  # ties: first rows
            row, size = int(rows[pos]), int(sizes[pos])
            item = (size, -(j * n + row), row, j, _type_label(cells[pos]))
            if len(heap) < top_n:
                heapq.heappush(heap, item)
            elif item > heap[0]:
                heapq.heapreplace(heap, item)
    payload = int(sizes.sum())
    pointers = _PTR * n
    return ColumnMemory(
        column, source, feature, "object", n, n_non_null, n - n_non_null, deep, pointers,
        payload, pointers + payload, payload / n_non_null if n_non_null else 0.0,
        int(sizes.max()) if sizes.size else 0, dict(types.most_common()),
        _sorted(frames), _sorted(keys))


def _homogeneous_sizes(cells: np.ndarray) -> tuple[np.ndarray, Counter] | None:
    """Sizes of a column whose cells are all numeric arrays, all str or all plain
    scalars, without a Python call per cell; None for other columns."""
    items = cells.tolist()
    kinds = set(map(type, items))
    if len(kinds) != 1:
        return None
    kind = kinds.pop()
    count = len(items)
    if kind is np.ndarray:
        dtypes = list(map(operator.attrgetter("dtype"), items))
        if any(d.hasobject for d in set(dtypes)):
            return None
        ndims = np.fromiter(map(operator.attrgetter("ndim"), items), np.int64, count)
        nbytes = np.fromiter(map(operator.attrgetter("nbytes"), items), np.int64, count)
        pairs = Counter(zip(dtypes, ndims.tolist()))
        types = Counter({_array_label(d, k): m for (d, k), m in pairs.items()})
        return nbytes + _ARRAY_BASE + 2 * _PTR * ndims, types
    if kind is str:
        sizes = np.fromiter(map(_str_size, items), np.int64, count)
    elif kind in (float, int, bool) or issubclass(kind, (np.generic, pd.Timestamp, pd.Timedelta)):
        sizes = np.fromiter(map(sys.getsizeof, items), np.int64, count)
    else:
        return None
    return sizes, Counter({_type_label(items[0]): count})


def _cell_bytes(value: Any, frames: dict, keys: dict) -> int:
    if isinstance(value, pd.DataFrame):
        usage = value.memory_usage(deep=True, index=True)
        for name, size in usage.items():
            frames[str(name)] += int(size)
        return int(usage.sum())
    if isinstance(value, dict):
        return _dict_bytes(value, "", keys, set(), 0)
    return _sizeof(value, set(), 0)


def _dict_bytes(d: dict, prefix: str, keys: dict, seen: set, depth: int) -> int:
    """Size of a dict; leaf values' sizes are added to ``keys`` under dotted names."""
    if id(d) in seen:
        return 0
    seen.add(id(d))
    total = _dict_size(len(d))
    for k, v in d.items():
        name = f"{prefix}.{k}" if prefix else str(k)
        total += _sizeof(k, seen, depth + 1)
        if isinstance(v, dict) and v and depth + 1 < MAX_DEPTH:
            total += _dict_bytes(v, name, keys, seen, depth + 1)
        else:
            size = _sizeof(v, seen, depth + 1)
            keys[name] += size
            total += size
    return total


def _sizeof(obj: Any, seen: set, depth: int) -> int:
    t = type(obj)
    if t is str:
        return _str_size(obj)
    if t is float or t is int or t is bool:
        return sys.getsizeof(obj)
    if obj is None:
        return 0
    if id(obj) in seen:
        return 0
    if isinstance(obj, np.ndarray):
        return _array_bytes(obj, seen, depth)
    if isinstance(obj, (pd.DataFrame, pd.Series)):
        return int(np.sum(obj.memory_usage(deep=True)))
    size = _shallow_size(obj)
    if depth >= MAX_DEPTH:
        return size
    if isinstance(obj, dict):
        seen.add(id(obj))
        size += sum(_sizeof(k, seen, depth + 1) + _sizeof(v, seen, depth + 1)
                    for k, v in obj.items())
    elif isinstance(obj, (list, tuple, set, frozenset)):
        seen.add(id(obj))
        size += sum(_sizeof(x, seen, depth + 1) for x in obj)
    return size


def _array_bytes(a: np.ndarray, seen: set, depth: int) -> int:
    size = _ARRAY_BASE + 2 * _PTR * a.ndim + a.nbytes
    if a.dtype == object and a.size:
        seen.add(id(a))
        flat = a.reshape(-1)
        items = flat.tolist()
        if set(map(type, items)) <= {str, type(None)}:  # the usual case; None is free
            strs = flat[~pd.isna(flat)].tolist()
            if all(map(str.isascii, strs)):
                size += _ASCII_BASE * len(strs) + sum(map(len, strs))
            else:
                size += sum(map(_str_size, strs))
        else:
            size += sum(_sizeof(x, seen, depth + 1) for x in items)
    return size


def _shallow_size(obj: Any) -> int:
    """sys.getsizeof, but from length and content for containers and str."""
    if isinstance(obj, str):
        return _str_size(obj)
    if isinstance(obj, list):
        return _LIST_BASE + _PTR * len(obj)
    if isinstance(obj, dict):
        return _dict_size(len(obj))
    if isinstance(obj, (set, frozenset)):
        return _set_size(len(obj))
    return sys.getsizeof(obj)


def _str_size(s: str) -> int:
    if s.isascii():
        return _ASCII_BASE + len(s)
    top = ord(max(s))
    kind = 1 if top < 256 else 2 if top < 65536 else 4
    return _STR_BASE[kind] + kind * len(s)


@functools.lru_cache(maxsize=512)
def _dict_size(n: int) -> int:
    return sys.getsizeof({i: None for i in range(n)})


@functools.lru_cache(maxsize=512)
def _set_size(n: int) -> int:
    return sys.getsizeof(set(range(n)))


def _index_bytes(index: pd.Index) -> int:
    """Deep memory of an index without its lookup tables (built lazily, not data)."""
    if isinstance(index, pd.MultiIndex):
        return (sum(_index_bytes(level) for level in index.levels)
                + sum(int(c.nbytes) for c in index.codes)
                + sum(_sizeof(n, set(), 0) for n in index.names))
    if isinstance(index, pd.RangeIndex):
        return int(index.memory_usage(deep=True))
    fresh = pd.Index(index.array, name=index.name, copy=False)  # a new, empty cache
    return int(fresh.memory_usage(deep=True))


def _type_label(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return _array_label(value.dtype, value.ndim)
    t = type(value)
    return f"np.{t.__name__}" if isinstance(value, np.generic) else t.__name__


def _array_label(dtype: np.dtype, ndim: int) -> str:
    return f"ndarray[{dtype}]" if ndim == 1 else f"ndarray[{dtype}, {ndim}-D]"


def _split_column(label) -> tuple[str, str]:
    if isinstance(label, tuple):
        return str(label[0]) if label else "", ".".join(str(x) for x in label[1:])
    return str(label), ""


def _row_label(label) -> str:
    return ".".join(str(x) for x in label) if isinstance(label, tuple) else str(label)


def _name(name) -> str | None:
    return None if name is None else str(name)


def _sorted(sizes: dict) -> dict:
    return {k: int(v) for k, v in sorted(sizes.items(), key=lambda kv: -kv[1])}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    return value


def _percent(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:5.1f}%" if whole else "    -"


def _names(names) -> str:
    return ", ".join("-" if n is None else str(n) for n in names) or "-"


def _table(rows: list[tuple], header: bool = True) -> list[str]:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    out = []
    for k, r in enumerate(rows):
        out.append("  " + "  ".join(f"{str(v):<{w}}" for v, w in zip(r, widths)).rstrip())
        if header and k == 0:
            out.append("  " + "  ".join("-" * w for w in widths))
    return out
