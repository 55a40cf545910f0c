"""Reading datakit's HDF5 layout with h5py: the whole frame, or only some cells.

:class:`SavedDataset` (what :func:`datakit.open_dataset` returns) reads the header once:
``index``, ``columns`` and ``attrs`` cost no data.  :meth:`SavedDataset.cell` and
:meth:`SavedDataset.load` read only the stored ranges that hold the rows and columns
asked for (layout version 2 records where each cell's strings and JSON end; in version 1
files a string or JSON block is read whole).

Reading never unpickles: h5py reads numbers, and only the datasets the header names are
opened, each checked to be a plain 1-D numeric array.  Attributes are never read.
"""
from __future__ import annotations

import contextlib
import copy
import os
from pathlib import Path

import msgspec
import numpy as np
import pandas as pd

from .. import tagged_json
from ..arguments import str_list as _as_list
from .encode import (ARRAY, JSON, MISSING, NONE, SCALAR, checked_dtype, decode_strings,
                     from_storage, timestamps_from_storage)
from .writer import FORMAT, VERSION, last_line, require_h5py

READABLE_VERSIONS = (1, 2)
_PANDAS_NODES = ("axis0", "axis1", "block0_", "table")


class SavedDataset:
    """A frame saved in datakit's HDF5 layout, opened without loading its data.

    ``index``, ``columns``, ``attrs`` and ``shape`` come from the header.
    :meth:`cell` reads one row, :meth:`load` a filtered frame (``load()``: all of it),
    :meth:`presence` which (cell, source) hold data.  Each call opens the file for its
    own reads (threads may share the object); a file replaced since it was opened is
    refused rather than read with a stale header.
    """

    def __init__(self, path, key: str = "dataset"):
        from .writer import check_key

        self.path = Path(os.fspath(path))
        self.key = check_key(key)
        self._identity = _identity(self.path)
        with self._group() as group:
            header = _read_header(group, self.path)
        self.version = int(header["version"])
        self.n_rows = int(header["n_rows"])
        self._specs = header["column_specs"]
        stored = _index_from_spec(header["index"])
        self.columns = _index_from_spec(header["columns"])
        if len(stored) != self.n_rows or len(self.columns) != len(self._specs):
            raise ValueError(f"cannot load {self.path} (key {self.key!r}): index/columns do "
                             "not match the stored data")
        order = header.get("row_order")
        if order is not None:
            order = np.asarray(order, dtype=np.int64)
            if order.shape != (self.n_rows,) or not np.array_equal(np.sort(order),
                                                                   np.arange(self.n_rows)):
                raise ValueError(f"cannot load {self.path} (key {self.key!r}): row_order is "
                                 "not a permutation of the rows")
        self._order = order                 # frame position -> stored row (None: the same)
        self.index = stored if order is None else stored[order]
        self._attrs = header["attrs"]

    def __reduce__(self):
        return (SavedDataset, (str(self.path), self.key))

    # what the header says ------------------------------------------------------------

    @property
    def attrs(self) -> dict:
        return copy.deepcopy(self._attrs)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_rows, len(self.columns))

    def __len__(self) -> int:
        return self.n_rows

    @property
    def sources(self) -> list[str]:
        """The ``Source`` level of the columns, in order (empty for a flat frame)."""
        if not isinstance(self.columns, pd.MultiIndex):
            return []
        return list(dict.fromkeys(str(s) for s in self.columns.get_level_values(0)))

    def __repr__(self) -> str:
        return (f"SavedDataset({str(self.path)!r}, rows={self.n_rows}, "
                f"columns={len(self.columns)}, sources={len(self.sources)})")

    @property
    def nbytes(self) -> int:
        """Bytes of the stored values, uncompressed (what loading reads, before Python
        objects are built from it)."""
        total = 0

        def add(_, node):
            nonlocal total
            if hasattr(node, "dtype") and hasattr(node, "size"):
                total += int(node.size) * node.dtype.itemsize

        with self._group() as group:
            group.visititems(add)
        return total

    # reading -------------------------------------------------------------------------

    def cell(self, key) -> pd.DataFrame:
        """The one-row frame of the cell ``key`` ((subject, session[, task])); KeyError
        when the file has no such cell."""
        label = tuple(str(k) for k in key) if isinstance(key, (tuple, list)) else key
        if isinstance(self.index, pd.MultiIndex) and \
                (not isinstance(label, tuple) or len(label) != self.index.nlevels):
            names = ", ".join(str(n).lower() for n in self.index.names)
            raise TypeError(f"cell() takes one cell's full key ({names}), got {key!r}; "
                            "load(subject=...) reads several cells")
        position = _position(self.index, label)
        if position < 0:
            example = f"; e.g. {self.index[0]!r}" if self.n_rows else ""
            raise KeyError(f"{label!r} is not a cell of {self.path} ({self.n_rows} cells{example})")
        return self._read(np.array([position]), None)

    def load(self, *, subject=None, session=None, task=None, source=None) -> pd.DataFrame:
        """The rows and sources that match (each a str or a list of str; None: all),
        like ``Dataset.include``.  ``load()`` reads the whole frame."""
        rows = self._row_positions(subject, session, task)
        cols = self._column_positions(source)
        return self._read(rows, cols)

    def presence(self) -> pd.DataFrame:
        """Which cells hold data of which source: bool, rows = ``index``, columns =
        ``sources`` (a source counts as present when any of its features is not NaN)."""
        sources = self.sources
        out = np.zeros((self.n_rows, len(sources)), dtype=bool)
        if not sources:
            return pd.DataFrame(out, index=self.index, columns=pd.Index(sources, dtype=object))
        where = {s: i for i, s in enumerate(sources)}
        level = [str(s) for s in self.columns.get_level_values(0)]
        with self._reading() as group:
            for j, spec in enumerate(self._specs):
                col = where[level[j]]
                if spec["encoding"] == "native":
                    out[:, col] = True
                    continue
                tags = _whole(_leaf(group[f"c{j}"], "tags"))
                if tags.size != self.n_rows:
                    raise ValueError("cell tags do not match the row count")
                present = tags != MISSING
                out[:, col] |= present if self._order is None else present[self._order]
        return pd.DataFrame(out, index=self.index, columns=pd.Index(sources, dtype=object))

    # helpers -------------------------------------------------------------------------

    def _row_positions(self, subject, session, task) -> np.ndarray | None:
        filters = [(level, _as_list(value, name)) for level, (name, value) in
                   enumerate((("subject", subject), ("session", session), ("task", task)))]
        if all(values is None for _, values in filters):
            return None
        index = self.index
        if not isinstance(index, pd.MultiIndex):
            raise ValueError(f"{self.path} has no (Subject, Session[, Task]) index to filter")
        mask = np.ones(self.n_rows, dtype=bool)
        for level, values in filters:
            if values is None:
                continue
            if level >= index.nlevels:
                raise ValueError(f"task filter given, but {self.path} has no Task level")
            mask &= np.asarray(index.get_level_values(level).astype(str).isin(values))
        return np.flatnonzero(mask)

    def _column_positions(self, source) -> np.ndarray | None:
        tags = _as_list(source, "source")
        if tags is None:
            return None
        if not isinstance(self.columns, pd.MultiIndex):
            raise ValueError(f"{self.path} has no Source column level to filter")
        unknown = [t for t in tags if t not in self.sources]
        if unknown:
            raise KeyError(f"source(s) {unknown} not in {self.path}; it holds: {self.sources}")
        level = self.columns.get_level_values(0).astype(str)
        return np.flatnonzero(np.asarray(level.isin(tags)))

    @contextlib.contextmanager
    def _group(self):
        h5py = require_h5py()
        try:
            f = h5py.File(self.path, "r")
        except (OSError, ValueError) as exc:
            if not self.path.exists():
                raise FileNotFoundError(f"Dataset file not found: {self.path}") from None
            raise ValueError(f"{self.path} is not a readable HDF5 file: {last_line(exc)}") from None
        with f:
            yield _dataset_group(f, self.key, self.path)

    @contextlib.contextmanager
    def _reading(self):
        """The group, after checking the file is the one opened; read errors name it."""
        if _identity(self.path) != self._identity:
            raise ValueError(f"{self.path} changed on disk since it was opened (saved again?): "
                             "open it again with datakit.open_dataset")
        try:
            with self._group() as group:
                yield group
        except (FileNotFoundError, KeyError, ValueError) as exc:
            if str(self.path) in str(exc) and not isinstance(exc, KeyError):
                raise
            raise ValueError(f"cannot load {self.path} (key {self.key!r}): {_reason(exc)}") from exc
        except (OSError, RuntimeError, IndexError, TypeError, AttributeError) as exc:
            raise ValueError(
                f"cannot load {self.path} (key {self.key!r}): the file is damaged or not in "
                f"datakit's HDF5 layout ({type(exc).__name__}: {last_line(exc)})") from exc

    def _read(self, rows: np.ndarray | None, cols: np.ndarray | None) -> pd.DataFrame:
        """The frame of frame positions ``rows`` and column positions ``cols`` (None: all)."""
        if rows is None:   # every row: stored in the frame's order, or row_order says where
            stored, n, index = self._order, self.n_rows, self.index
        else:
            stored = rows if self._order is None else self._order[rows]
            n, index = len(rows), self.index[rows]
        cols = np.arange(len(self._specs)) if cols is None else cols
        data, native = {}, {}
        with self._reading() as group:
            for out_j, j in enumerate(cols.tolist()):
                spec, grp = self._specs[j], group[f"c{j}"]
                if spec["encoding"] == "native":
                    values = from_storage(_whole(_leaf(grp, "values")), np.dtype(spec["dtype"]))
                    if len(values) != self.n_rows:
                        raise ValueError(f"column {j} has the wrong length")
                    native[out_j] = values if stored is None else values[stored]
                    data[out_j] = np.empty(n, dtype=object)
                else:
                    data[out_j] = read_cells(grp, spec, self.n_rows, stored)
        df = pd.DataFrame(data, index=index, dtype=object, copy=False)
        for j, values in native.items():
            df.isetitem(j, values)
        for out_j, j in enumerate(cols.tolist()):
            dtype = self._specs[j]["dtype"]
            if "categories" in self._specs[j]:
                dtype = pd.CategoricalDtype(self._specs[j]["categories"], self._specs[j]["ordered"])
            if self._specs[j]["encoding"] == "cells" and not (isinstance(dtype, str) and dtype == "object"):
                with contextlib.suppress(TypeError, ValueError):
                    df.isetitem(out_j, df.iloc[:, out_j].astype(dtype))
        df.columns = self.columns if len(cols) == len(self._specs) and \
            np.array_equal(cols, np.arange(len(cols))) else self.columns[cols]
        df.attrs = self.attrs
        return df


def open_frame(path, key: str = "dataset") -> SavedDataset:
    """:class:`SavedDataset` of a file already known to be HDF5 (ValueError otherwise)."""
    return SavedDataset(path, key)


def read_frame(path, key: str = "dataset") -> pd.DataFrame:
    """The whole frame of a file written by :func:`~datakit.hdf5.write_frame` or a
    streamed save; anything else is refused with a ValueError naming the file."""
    return SavedDataset(path, key).load()


# ------------------------------------------------------------------------ header

def _identity(path: Path) -> tuple:
    st = os.stat(path)
    return (st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"a node is missing ({exc}): the file is damaged or not in datakit's HDF5 layout"
    return str(exc)


def _dataset_group(f, key: str, path: Path):
    import h5py

    node = f.get("/" + key)
    if node is None:
        raise ValueError(f"no dataset {key!r} in {path}; keys present: {sorted(f.keys())}")
    if not isinstance(node, h5py.Group) or "header" not in node:
        children = sorted(node.keys())[:8] if isinstance(node, h5py.Group) else []
        hint = (" (it looks like a pandas to_hdf file, which stores pickles: open it with "
                "datakit.load_dataset(path, allow_pickle=True) only if you trust its origin, "
                "or rewrite it with 'datakit convert OLD NEW')"
                if any(c.startswith(_PANDAS_NODES) for c in children) else "")
        raise ValueError(f"{path} key {key!r} is not in datakit's HDF5 layout: no header "
                         f"node, found {children}{hint}")
    return node


def _read_header(group, path: Path) -> dict:
    try:
        header = tagged_json.loads(_whole(_leaf(group, "header")).astype(np.uint8).tobytes())
    except (msgspec.DecodeError, TypeError, ValueError) as exc:
        if str(path) in str(exc):
            raise
        raise ValueError(f"{path} was not written by datakit (unreadable header: {exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"{path} was not written by datakit (no '{FORMAT}' marker)")
    if header.get("version") not in READABLE_VERSIONS:
        raise ValueError(f"{path} uses datakit HDF5 layout version {header.get('version')!r}; "
                         f"this datakit reads versions {READABLE_VERSIONS[0]} to {VERSION} "
                         "(upgrade datakit)")
    for name in ("n_rows", "index", "columns", "attrs", "column_specs"):
        if name not in header:
            raise ValueError(f"{path}: the header lacks {name!r}")
    return header


def _index_from_spec(spec: dict) -> pd.Index:
    kind = spec["kind"]
    if kind == "range":
        return pd.RangeIndex(spec["start"], spec["stop"], spec["step"], name=spec["name"])
    if kind == "single":
        return _level_from_spec(spec, spec["name"])
    if kind == "multi":
        levels = [_level_from_spec(s, name) for s, name in zip(spec["levels"], spec["names"])]
        return pd.MultiIndex.from_arrays(levels, names=spec["names"])
    raise ValueError(f"unknown index kind {kind!r}")


def _level_from_spec(spec: dict, name) -> pd.Index:
    values, dtype = spec["values"], spec["dtype"]
    if not isinstance(values, np.ndarray):
        raise ValueError("index labels are not an array")
    if dtype == "object":
        return pd.Index(values, dtype=object, name=name)
    idx = pd.Index(values, name=name)
    if str(idx.dtype) != dtype:
        with contextlib.suppress(TypeError, ValueError):
            idx = idx.astype(dtype)
    return idx


def _position(index: pd.Index, label) -> int:
    try:
        loc = index.get_loc(label)
    except (KeyError, TypeError):
        return -1
    if isinstance(loc, (int, np.integer)):
        return int(loc)
    hits = np.flatnonzero(loc) if isinstance(loc, np.ndarray) else np.arange(len(index))[loc]
    return int(hits[0]) if len(hits) else -1




# ------------------------------------------------------------------------- cells

def _leaf(group, name: str):
    """The dataset ``name`` of ``group``, checked to be a plain 1-D numeric array."""
    import h5py

    node = group.get(name)
    if node is None:
        raise KeyError(f"{group.name}/{name}")
    if not isinstance(node, h5py.Dataset):
        raise ValueError(f"node {group.name}/{name} is not a plain numeric array")
    dtype = node.dtype
    if dtype.kind not in "biufc" or dtype.fields is not None or dtype.subdtype is not None:
        raise ValueError(f"node {group.name}/{name} is not a plain numeric array")
    if node.ndim != 1:
        raise ValueError(f"node {group.name}/{name} is not 1-D")
    return node


def _whole(node) -> np.ndarray:
    return node[()] if node.shape[0] else np.zeros(0, node.dtype)


def _part(node, lo: int, hi: int) -> np.ndarray:
    if hi > node.shape[0] or lo < 0 or hi < lo:
        raise ValueError(f"{node.name} holds {node.shape[0]} values, {lo}:{hi} were asked for")
    return node[lo:hi] if hi > lo else np.zeros(0, node.dtype)


def read_cells(grp, spec: dict, n: int, stored: np.ndarray | None) -> np.ndarray:
    """One object column's cells at stored rows ``stored`` (None: every row, in order)."""
    tags = _whole(_leaf(grp, "tags"))
    if tags.size != n:
        raise ValueError("cell tags do not match the row count")
    block = _whole(_leaf(grp, "block")) if "block" in grp else np.zeros(n, np.int32)
    if block.size != n:
        raise ValueError("cell blocks do not match the row count")
    rows = np.arange(n) if stored is None else np.asarray(stored)
    picked = tags[rows]
    out = np.empty(len(rows), dtype=object)
    out[picked == MISSING] = np.nan
    out[picked == NONE] = None
    groups = [(ARRAY, b, s, _read_array_block, f"a{b}") for b, s in enumerate(spec["arrays"])]
    groups += [(SCALAR, b, s, _read_scalar_block, f"s{b}") for b, s in enumerate(spec["scalars"])]
    for code, number, bspec, reader, prefix in groups:
        members = (tags == code) & (block == number)
        if int(members.sum()) != int(bspec["count"]):
            raise ValueError(f"block {prefix} holds {bspec['count']} cells, the tags say "
                             f"{int(members.sum())}")
        _fill(out, members, rows, lambda ks: reader(grp, prefix, bspec, ks))
    members = tags == JSON
    if members.any() and not spec["json"]:
        raise ValueError("JSON cells without a json node")
    if spec["json"]:
        _fill(out, members, rows, lambda ks: _read_json(grp, spec, ks, int(members.sum())))
    return out


def _fill(out: np.ndarray, members: np.ndarray, rows: np.ndarray, read) -> None:
    """Put the members among ``rows`` into ``out``: ``read(ks)`` gives the values at
    positions ``ks`` within the block."""
    want = members[rows]
    if not want.any():
        return
    ks = (np.cumsum(members) - 1)[rows[want]]
    for r, value in zip(np.flatnonzero(want).tolist(), read(ks)):
        out[r] = value


def _span(ks: np.ndarray) -> tuple[int, int]:
    return int(ks.min()), int(ks.max()) + 1


def _read_strings(grp, prefix: str, spec: dict, item_lo: int, item_hi: int,
                  cell_lo: int, cell_hi: int) -> np.ndarray:
    """Items ``item_lo:item_hi`` of a string block (cells ``cell_lo:cell_hi``)."""
    values, lengths = _leaf(grp, f"{prefix}_values"), _leaf(grp, f"{prefix}_lengths")
    separated = bool(spec["sep"])
    if spec.get("ends"):                    # version 2: each cell's text is findable
        ends = _whole(_leaf(grp, f"{prefix}_ends")).astype(np.int64)
        if ends.size != int(spec["count"]):
            raise ValueError(f"{prefix}_ends does not match the cell count")
        lo = int(ends[cell_lo - 1]) if cell_lo else 0
        hi = int(ends[cell_hi - 1]) if cell_hi else 0
        return decode_strings(_part(values, lo, hi).astype(np.uint8),
                              _part(lengths, item_lo, item_hi).astype(np.int64), separated,
                              leading=cell_lo > 0)
    every = decode_strings(_whole(values).astype(np.uint8), _whole(lengths).astype(np.int64),
                           separated)
    return every[item_lo:item_hi]


def _read_array_block(grp, prefix: str, spec: dict, ks: np.ndarray) -> list:
    ndim, count = int(spec["ndim"]), int(spec["count"])
    shapes = _whole(_leaf(grp, f"{prefix}_shapes")).astype(np.int64)
    if shapes.size != count * ndim:
        raise ValueError(f"{prefix}_shapes does not match the cell count")
    shapes = shapes.reshape(count, ndim)
    if (shapes < 0).any():
        raise ValueError(f"negative shape in {prefix}")
    offsets = np.concatenate([[0], np.cumsum(shapes.prod(axis=1))]).astype(np.int64)
    k_lo, k_hi = _span(ks)
    lo, hi = int(offsets[k_lo]), int(offsets[k_hi])
    kind = spec["kind"]
    if kind == "str":
        if _leaf(grp, f"{prefix}_lengths").shape[0] != offsets[-1]:
            raise ValueError(f"{prefix} holds a different number of strings than its shapes need")
        flat = _read_strings(grp, prefix, spec, lo, hi, k_lo, k_hi)
    else:
        node = _leaf(grp, f"{prefix}_values")
        dtype = checked_dtype(spec["dtype"])
        need = offsets[-1] * (dtype.itemsize if kind == "raw" else 1)
        if node.shape[0] != need:
            raise ValueError(f"{prefix} holds {node.shape[0]} values, its shapes need {need}")
        if kind == "raw":
            part = _part(node, lo * dtype.itemsize, hi * dtype.itemsize)
        else:
            part = _part(node, lo, hi)
        if kind == "ts":   # back to Timestamp objects (UTC values, zone from the spec)
            if dtype.kind != "M":
                raise ValueError(f"{prefix}: a Timestamp block must be datetime64, got {dtype}")
            flat = timestamps_from_storage(part, dtype, spec.get("tz"))
        else:
            flat = from_storage(part, dtype)
    whole = len(ks) == 1 and (lo, hi) == (0, len(flat))
    out = []
    for k in ks.tolist():
        piece = flat[offsets[k] - lo:offsets[k + 1] - lo].reshape(tuple(shapes[k]))
        # each cell owns its data, like after unpickling (no hidden shared buffer)
        out.append(piece if whole else piece.copy())
    return out


def _read_scalar_block(grp, prefix: str, spec: dict, ks: np.ndarray) -> list:
    count = int(spec["count"])
    k_lo, k_hi = _span(ks)
    if spec["kind"] == "str":
        if _leaf(grp, f"{prefix}_lengths").shape[0] != count:
            raise ValueError(f"{prefix} holds a different number of strings than cells")
        values = _read_strings(grp, prefix, spec, k_lo, k_hi, k_lo, k_hi).tolist()
    else:
        node = _leaf(grp, f"{prefix}_values")
        if node.shape[0] != count:
            raise ValueError(f"block {prefix} holds {node.shape[0]} cells, expected {count}")
        part = from_storage(_part(node, k_lo, k_hi), checked_dtype(spec["dtype"]))
        values = part.tolist() if spec["kind"] == "py" else list(part)
    return [values[k - k_lo] for k in ks.tolist()]


def _read_json(grp, spec: dict, ks: np.ndarray, count: int) -> list:
    node = _leaf(grp, "json")
    k_lo, k_hi = _span(ks)
    if spec.get("json_ends"):               # version 2: read only the cells asked for
        ends = _whole(_leaf(grp, "json_ends")).astype(np.int64)
        if ends.size != count:
            raise ValueError("json_ends does not match the JSON cells")
        lo = int(ends[k_lo - 1]) if k_lo else 0
        raw = _part(node, lo, int(ends[k_hi - 1])).astype(np.uint8).tobytes()
        cells = msgspec.json.decode(b"[" + raw[1:] + b"]")
        first = k_lo
        if len(cells) != k_hi - k_lo:
            raise ValueError("JSON cells do not match the row tags")
    else:
        cells = msgspec.json.decode(_whole(node).astype(np.uint8).tobytes())
        first = 0
        if not isinstance(cells, list) or len(cells) != count:
            raise ValueError("JSON cells do not match the row tags")
    return [tagged_json.decode(cells[k - first]) for k in ks.tolist()]
