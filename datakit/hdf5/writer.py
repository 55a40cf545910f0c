"""Writing datakit's HDF5 layout with h5py: a whole frame, or cell by cell as cells load.

:class:`FrameWriter` owns one new file.  Every dataset of the layout is a
:class:`_Stream`: values are appended as cells arrive and written a whole chunk at a
time (compressed by HDF5 as it goes), so memory holds at most one chunk per dataset
beside the cells being written.  What only the end knows (the column order, the index,
``df.attrs``, which rows came first) goes into the header, written last.
"""
from __future__ import annotations

import io
import re
from array import array

import numpy as np
import pandas as pd

from .. import tagged_json
from .encode import (ARRAY, JSON, MISSING, NUM_KINDS, SCALAR, Encoded, encode_cell,
                     encode_strings, stored_dtype, to_storage)

FORMAT = "datakit-frame"
VERSION = 2
COMPRESS_MIN_BYTES = 16 * 1024      # smaller datasets are stored plain (contiguous)
CHUNK_BYTES = 256 * 1024            # chunk size of compressed datasets
STREAM_GROUP = "n"                  # columns are named n<k> while a streamed write runs


def require_h5py():
    """Import h5py or explain how to get it."""
    try:
        import h5py
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "HDF5 needs h5py: pip install 'datakit[hdf5]' (or pip install h5py)") from exc
    return h5py


_KEY_PART = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def check_key(key: str) -> str:
    """Validate ``hdf_key`` ("dataset", "a/b"): names of letters, digits and _."""
    if not isinstance(key, str):
        raise TypeError(f"hdf_key must be a str, not {type(key).__name__}")
    parts = key.strip("/").split("/")
    if not all(_KEY_PART.match(p) for p in parts):
        raise ValueError(
            f"invalid hdf_key {key!r}: use names of letters, digits and '_' separated by '/'")
    return "/".join(parts)


def checked_attrs(attrs: dict) -> dict:
    """``df.attrs`` if tagged JSON can hold it (TypeError naming the entry otherwise)."""
    for k, v in attrs.items():
        try:
            tagged_json.encode(v)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"df.attrs[{k!r}] cannot be stored in HDF5: {exc}; save as "
                            "pickle to keep it") from None
    return dict(attrs)


# -------------------------------------------------------------------- datasets

class _Codec:
    """The compression of chunked datasets: HDF5's shuffle + deflate (zlib) filters,
    which every HDF5 reader decompresses."""

    def __init__(self, level: int):
        self.level = int(level)
        self.options = ({"compression": "gzip", "compression_opts": self.level, "shuffle": True}
                        if self.level else {})


class _Stream:
    """One 1-D dataset written in pieces: whole chunks as they fill, the rest at close.

    A stream that ends below COMPRESS_MIN_BYTES without having been flushed is stored
    plain; every other one is chunked and compressed (zlib + shuffle).
    """

    __slots__ = ("group", "name", "dtype", "chunk", "pending", "n_pending", "written",
                 "dataset", "codec")

    def __init__(self, group, name: str, dtype, codec: _Codec):
        self.group, self.name, self.dtype = group, name, np.dtype(dtype)
        self.chunk = max(1, CHUNK_BYTES // max(self.dtype.itemsize, 1))
        self.pending: list[np.ndarray] = []
        self.n_pending = 0
        self.written = 0
        self.dataset = None
        self.codec = codec

    @property
    def size(self) -> int:
        return self.written + self.n_pending

    def append(self, values: np.ndarray) -> None:
        values = np.asarray(values).reshape(-1)
        if values.dtype != self.dtype:
            values = values.astype(self.dtype)
        if not values.size:
            return
        self.pending.append(values)
        self.n_pending += values.size
        if self.n_pending >= self.chunk:
            self._flush(whole_chunks=True)

    def _joined(self) -> np.ndarray:
        if not self.pending:
            return np.zeros(0, self.dtype)
        return self.pending[0] if len(self.pending) == 1 else np.concatenate(self.pending)

    def _flush(self, whole_chunks: bool) -> None:
        n = self.n_pending - (self.n_pending % self.chunk if whole_chunks else 0)
        if n <= 0:
            return
        data = self._joined()
        if self.dataset is None:
            self.dataset = self.group.create_dataset(
                self.name, shape=(0,), maxshape=(None,), dtype=self.dtype,
                chunks=(self.chunk,), **self.codec.options)
        self.dataset.resize((self.written + n,))
        self.dataset[self.written:self.written + n] = data[:n]
        self.written += n
        rest = data[n:]
        self.pending = [rest.copy()] if rest.size else []   # no view keeps `data` alive
        self.n_pending = rest.size

    def close(self) -> None:
        if self.dataset is not None:
            self._flush(whole_chunks=False)
        else:
            data = self._joined()
            if data.nbytes < COMPRESS_MIN_BYTES:
                self.group.create_dataset(self.name, data=data)
            else:
                self.group.create_dataset(self.name, data=data, chunks=(min(self.chunk, data.size),),
                                          **self.codec.options)
        self.pending, self.n_pending, self.dataset = [], 0, None


class _Strings:
    """A block of strings: UTF-8 text, each item's length in characters (-1: None) and,
    per cell, where its text ends (bytes), so one cell can be read alone."""

    _NUL = np.zeros(1, np.uint8)

    def __init__(self, column: "_ColumnWriter", prefix: str, separated: bool):
        self.values = column.stream(f"{prefix}_values", np.uint8)
        self.lengths = column.stream(f"{prefix}_lengths", np.int64)
        self.ends = column.stream(f"{prefix}_ends", np.int64)
        self.separated = separated
        self.any_item = False        # a present item was written (the next one needs a NUL)
        self.nbytes = 0

    def add(self, data: np.ndarray, lengths: np.ndarray) -> None:
        """One cell's items, as :func:`encode_strings` gives them."""
        present = bool((lengths >= 0).any())
        if self.separated and self.any_item and present:   # the NUL after the last item
            self.values.append(self._NUL)
            self.nbytes += 1
        self.any_item = self.any_item or present
        self.values.append(data)
        self.lengths.append(lengths)
        self.nbytes += data.size
        self.ends.append(np.array([self.nbytes], np.int64))

    def close(self) -> None:
        for stream in (self.values, self.lengths, self.ends):
            stream.close()


class _ArrayBlock:
    """Array cells of one (kind, dtype, ndim): elements concatenated, shapes per cell."""

    def __init__(self, column: "_ColumnWriter", number: int, key: tuple):
        prefix = f"a{number}"
        self.number, self.key, self.count = number, key, 0
        self.kind, dtype, self.ndim = key[0], key[1], key[2]
        self.spec = {"kind": self.kind, "dtype": dtype, "ndim": self.ndim}
        self.shapes = column.stream(f"{prefix}_shapes", np.int64)
        self.strings = self.values = None
        if self.kind == "str":
            self.strings = _Strings(column, prefix, key[3])
            self.spec.update(sep=key[3], ends=True)
        elif self.kind == "ts":   # int64 UTC values; the zone in the spec
            self.spec["tz"] = key[3]
            self.values = column.stream(f"{prefix}_values", np.int64)
        else:
            self.values = column.stream(f"{prefix}_values", stored_dtype(np.dtype(dtype)))

    def add(self, parts: tuple) -> None:
        shape, values = parts[0], parts[1]
        self.shapes.append(shape)
        if self.strings is not None:
            self.strings.add(values, parts[2])
        else:
            self.values.append(values)
        self.count += 1

    def close(self) -> dict:
        self.shapes.close()
        (self.strings or self.values).close()
        return {**self.spec, "count": self.count}


class _ScalarBlock:
    """Scalar cells of one kind and dtype: one value per cell."""

    def __init__(self, column: "_ColumnWriter", number: int, key: tuple):
        prefix = f"s{number}"
        self.number, self.key, self.count = number, key, 0
        self.kind, self.dtype = key[0], key[1]
        self.spec = {"kind": self.kind, "dtype": self.dtype}
        self.strings = self.values = None
        if self.kind == "str":
            self.strings = _Strings(column, prefix, key[2])
            self.spec.update(sep=key[2], ends=True)
        else:
            self.values = column.stream(f"{prefix}_values", stored_dtype(np.dtype(self.dtype)))

    def add(self, parts: tuple) -> None:
        value = parts[0]
        if self.strings is not None:
            items = np.empty(1, dtype=object)
            items[0] = value
            data, lengths, _ = encode_strings(items, self.strings.separated)
            self.strings.add(data, lengths)
        else:
            self.values.append(to_storage(np.array([value], dtype=self.dtype)))
        self.count += 1

    def close(self) -> dict:
        (self.strings or self.values).close()
        return {**self.spec, "count": self.count}


# ---------------------------------------------------------------------- columns

class _ColumnWriter:
    """One column's group: cells added row by row (rows never go back)."""

    def __init__(self, group, label, codec: _Codec):
        self.group, self.label, self.codec = group, label, codec
        self.tags = bytearray()
        self.block = array("i")
        self.arrays: dict[tuple, _ArrayBlock] = {}
        self.scalars: dict[tuple, _ScalarBlock] = {}
        self.json = self.json_ends = None
        self.json_bytes = 0

    def stream(self, name: str, dtype) -> _Stream:
        return _Stream(self.group, name, dtype, self.codec)

    def add(self, row: int, value, row_label=None) -> None:
        """Store ``value`` (or its :class:`Encoded` form) at ``row``."""
        if row < len(self.tags):
            raise ValueError(f"row {row} of column {self.label!r} was already written")
        cell = value if isinstance(value, Encoded) else encode_cell(value)
        if cell.error is not None:
            raise TypeError(
                f"cell (row {row_label if row_label is not None else row!r}, column "
                f"{self.label!r}) cannot be stored in HDF5: {cell.error}; save as pickle to "
                "keep it")
        self._pad(row)
        number = 0
        if cell.tag in (ARRAY, SCALAR):
            blocks, kind = ((self.arrays, _ArrayBlock) if cell.tag == ARRAY
                            else (self.scalars, _ScalarBlock))
            block = blocks.get(cell.key)
            if block is None:
                block = blocks[cell.key] = kind(self, len(blocks), cell.key)
            block.add(cell.parts)
            number = block.number
        elif cell.tag == JSON:
            self._add_json(cell.parts[0])
        self.tags.append(cell.tag)
        self.block.append(number)

    def _add_json(self, encoded: bytes) -> None:
        if self.json is None:
            self.json = self.stream("json", np.uint8)
            self.json_ends = self.stream("json_ends", np.int64)
        self.json.append(np.frombuffer(b"," if self.json_bytes else b"[", np.uint8))
        self.json.append(np.frombuffer(encoded, np.uint8))
        self.json_bytes += 1 + len(encoded)
        self.json_ends.append(np.array([self.json_bytes], np.int64))

    def _pad(self, rows: int) -> None:
        missing = rows - len(self.tags)
        if missing > 0:
            self.tags.extend(bytes([MISSING]) * missing)
            self.block.extend([0] * missing)

    def finish(self, n_rows: int, dtype="object") -> dict:
        self._pad(n_rows)
        if len(self.tags) != n_rows:
            raise ValueError(f"column {self.label!r} has {len(self.tags)} rows, expected {n_rows}")
        tags = self.stream("tags", np.uint8)
        tags.append(np.frombuffer(bytes(self.tags), np.uint8))
        tags.close()
        if len(self.arrays) > 1 or len(self.scalars) > 1:
            block = self.stream("block", np.int32)
            block.append(np.frombuffer(self.block, np.int32))
            block.close()
        arrays = [b.close() for b in self.arrays.values()]
        scalars = [b.close() for b in self.scalars.values()]
        if self.json is not None:
            self.json.append(np.frombuffer(b"]", np.uint8))
            self.json.close()
            self.json_ends.close()
        self.tags, self.block = bytearray(), array("i")
        return {"encoding": "cells", "dtype": dtype, "arrays": arrays, "scalars": scalars,
                "json": self.json is not None, "json_ends": self.json is not None}


# ------------------------------------------------------------------------ files

def _index_spec(idx: pd.Index) -> dict:
    if isinstance(idx, pd.MultiIndex):
        return {"kind": "multi", "names": list(idx.names),
                "levels": [_level_spec(idx.get_level_values(i)) for i in range(idx.nlevels)]}
    if type(idx) is pd.RangeIndex:
        return {"kind": "range", "name": idx.name,
                "start": idx.start, "stop": idx.stop, "step": idx.step}
    return {"kind": "single", "name": idx.name, **_level_spec(idx)}


def _level_spec(level: pd.Index) -> dict:
    return {"dtype": str(level.dtype), "values": level.to_numpy()}


def last_line(exc: BaseException) -> str:
    """The telling line of an HDF5 error message."""
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    for line in lines:
        if "truncated file" in line:
            return f"the file is truncated ({line}); was a copy or a save interrupted?"
        if "signature not found" in line:
            return "not an HDF5 file (no HDF5 signature)"
    return lines[-1] if lines else type(exc).__name__


def write_error(exc: BaseException, path) -> OSError:
    """An OSError for a failed HDF5 write (disk full, quota, I/O error), naming ``path``."""
    errno = getattr(exc, "errno", None)
    if errno is None:
        found = re.search(r"errno = (\d+)", str(exc))
        errno = int(found.group(1)) if found else None
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else last_line(exc)
    message = f"{reason} (writing HDF5 to {path})"
    return OSError(errno, message) if errno else OSError(message)


class _File(io.FileIO):
    """The file HDF5 writes through (h5py's ``fileobj`` driver).

    It remembers the first failed write (a full disk), so a failure HDF5 reports only
    while freeing an object is not lost, and once the save is abandoned it accepts and
    drops every write: HDF5 can crash when it closes a file whose writes failed
    (h5py 3.16 with HDF5 2.0; README, "Workarounds"), and the file is deleted anyway.
    """

    failed: BaseException | None = None
    abandoned = False

    def write(self, data):
        if self.abandoned:
            return len(data)
        try:
            return super().write(data)
        except OSError as exc:
            self.failed = self.failed or exc
            raise

    def truncate(self, size=None):
        if self.abandoned:
            return size
        try:
            return super().truncate(size)
        except OSError as exc:
            self.failed = self.failed or exc
            raise

    def flush(self):
        if not self.abandoned:
            super().flush()


class FrameWriter:
    """A new HDF5 file at ``path`` receiving one frame in datakit's layout.

    Either column by column (:meth:`write_column`, what :func:`write_frame` does) or row
    by row as cells load (:meth:`add_row`); then :meth:`finish` writes the header.  On
    any failure call :meth:`abort` (the file is then incomplete: the caller removes it).
    """

    def __init__(self, path, key: str = "dataset", *, complevel: int = 4):
        h5py = require_h5py()
        self.path = path
        self.key = check_key(key)
        self.codec = _Codec(complevel)
        try:
            self._io = _File(path, "w+")
        except OSError as exc:
            raise write_error(exc, path) from exc
        try:
            # no chunk cache: whole chunks are written as they fill, so nothing waits in it
            self.file = h5py.File(self._io, "w", rdcc_nbytes=0)
            self.group = self.file.require_group(self.key)
        except (OSError, RuntimeError) as exc:
            self.abort()
            raise write_error(exc, path) from exc
        self._streamed: dict = {}           # label -> _ColumnWriter (row by row)
        self._positions: list[int] = []     # frame position of each stored row
        self._written: list[dict] = []      # column by column: specs in order
        self.bytes_in = 0                   # what was handed in (stored sizes), for progress

    # column by column --------------------------------------------------------------

    def write_column(self, series: pd.Series, label) -> None:
        """Write the next column (in order) of a frame whose rows are stored as they are."""
        j = len(self._written)
        try:
            group = self.group.create_group(f"c{j}")
            dtype = series.dtype
            if isinstance(dtype, np.dtype) and dtype.kind in NUM_KINDS:
                stream = _Stream(group, "values", stored_dtype(dtype), self.codec)
                stream.append(to_storage(series.to_numpy()))
                stream.close()
                spec = {"encoding": "native", "dtype": dtype.str}
            else:
                writer = _ColumnWriter(group, label, self.codec)
                for i, value in enumerate(series.to_numpy(dtype=object).tolist()):
                    writer.add(i, value, series.index[i])
                spec = writer.finish(len(series), "object" if dtype == object else str(dtype))
                if isinstance(dtype, pd.CategoricalDtype):   # a part read keeps them all
                    spec.update(categories=dtype.categories.to_numpy(), ordered=bool(dtype.ordered))
        except (OSError, RuntimeError) as exc:
            raise write_error(self._io.failed or exc, self.path) from exc
        self._written.append(spec)

    # row by row --------------------------------------------------------------------

    def add_row(self, position: int, label, cells) -> None:
        """Store one cell's row: ``cells`` is an iterable of (column label, value);
        ``position`` is the row's place in the frame (rows may arrive in any order)."""
        row = len(self._positions)
        self._positions.append(int(position))
        try:
            for column, value in cells:
                writer = self._streamed.get(column)
                if writer is None:
                    group = self.group.create_group(f"{STREAM_GROUP}{len(self._streamed)}")
                    writer = self._streamed[column] = _ColumnWriter(group, column, self.codec)
                writer.add(row, value, label)
        except (OSError, RuntimeError) as exc:
            raise write_error(self._io.failed or exc, self.path) from exc

    @property
    def streamed_columns(self) -> list:
        return list(self._streamed)

    # the end -----------------------------------------------------------------------

    def finish(self, index: pd.Index, columns: pd.Index, attrs: dict) -> dict:
        """Write the header and close the file; return the header.

        Column by column: ``columns`` are the written columns in order.  Row by row:
        ``index`` is the frame's index (every position stored once) and ``columns``
        orders the streamed columns.
        """
        attrs = checked_attrs(attrs)
        header = {"format": FORMAT, "version": VERSION, "n_rows": len(index)}
        try:
            if self._streamed or self._positions:
                specs, stored_index, order = self._finish_rows(index, columns)
                if order is not None:
                    header["row_order"] = order
            else:
                specs, stored_index = self._written, index
                if len(specs) != len(columns):
                    raise ValueError(f"{len(specs)} columns written, {len(columns)} named")
            header.update(index=_index_spec(stored_index), columns=_index_spec(columns),
                          attrs=attrs, column_specs=specs)
            stream = _Stream(self.group, "header", np.uint8, self.codec)
            stream.append(np.frombuffer(tagged_json.dumps(header), np.uint8))
            stream.close()
            self.file.close()
            self._io.close()
        except (OSError, RuntimeError) as exc:
            raise write_error(self._io.failed or exc, self.path) from exc
        if self._io.failed is not None:   # reported by HDF5 only while freeing an object
            raise write_error(self._io.failed, self.path) from self._io.failed
        return header

    def _finish_rows(self, index: pd.Index, columns: pd.Index):
        n = len(index)
        positions = np.asarray(self._positions, dtype=np.int64)
        if len(positions) != n or not np.array_equal(np.sort(positions), np.arange(n)):
            raise ValueError(f"{len(positions)} rows were written for a frame of {n} rows")
        labels = list(columns)
        if set(labels) != set(self._streamed) or len(labels) != len(self._streamed):
            raise ValueError("the columns named do not match the columns written")
        specs = []
        for j, label in enumerate(labels):
            writer = self._streamed[label]
            specs.append(writer.finish(n))
            self.group.move(writer.group.name, f"{self.group.name}/c{j}")
        in_order = bool(np.array_equal(positions, np.arange(n)))
        order = None if in_order else np.argsort(positions).astype(np.int64)
        return specs, index[positions] if not in_order else index, order

    def abort(self) -> None:
        """Close the (incomplete) file without writing more, ignoring errors: the caller
        removes it."""
        self._io.abandoned = True
        for close in (getattr(getattr(self, "file", None), "close", None), self._io.close):
            try:
                if close is not None:
                    close()
            except BaseException:  # noqa: BLE001 - already failing; a second Ctrl+C included
                pass


def write_frame(df: pd.DataFrame, path, key: str = "dataset", *, complevel: int = 4,
                progress=None, cancel=None) -> dict:
    """Write ``df`` to a new HDF5 file at ``path`` (overwritten) in datakit's layout.

    ``progress``: an optional callable ``progress(done, total, message)`` called per
    column; ``cancel.is_set()`` stops between columns with :class:`datakit.Cancelled`
    (the file is then incomplete: the caller removes it).  Returns the header.
    """
    from ..errors import Cancelled

    checked_attrs(df.attrs)  # refuse early, before writing columns
    writer = FrameWriter(path, key, complevel=complevel)
    try:
        total = df.shape[1]
        for j in range(total):
            if cancel is not None and cancel.is_set():
                raise Cancelled("cancelled")
            writer.write_column(df.iloc[:, j], df.columns[j])
            if progress is not None:
                progress(j + 1, total, f"writing {df.columns[j]}")
        return writer.finish(df.index, df.columns, df.attrs)
    except BaseException:
        writer.abort()
        raise
