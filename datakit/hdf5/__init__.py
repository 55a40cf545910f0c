"""datakit's own HDF5 layout for a materialized frame: native arrays, no pickle anywhere.

pandas' ``to_hdf(format="fixed")`` pickles object columns and drops ``df.attrs``.  This
layout keeps every byte in plain numeric datasets, so any HDF5 reader (h5py, MATLAB,
HDFView) can see the arrays and loading never runs code from the file.  datakit reads
and writes it with h5py; PyTables is left to pandas' own HDF5 files (DeepLabCut inputs,
the earlier implementation's ``.h5``, :mod:`datakit.legacy`).

Layout (format ``datakit-frame``, version 2; version 1 files are read too), all under
the group ``/<hdf_key>``::

    header          uint8   UTF-8 JSON (datakit.tagged_json): the format marker and
                            version, n_rows, the index and the columns (kind, names,
                            per-level dtype, labels) of the rows *as stored*, df.attrs,
                            one spec per column (dtype, encoding, the dtype/ndim of each
                            block) and, when rows were stored in another order than the
                            frame's (a streamed save writes cells as they finish),
                            row_order: frame row i is stored row row_order[i]
    c<j>/           one group per column, j = position in df.columns; all rows together:
      tags          uint8  (n_rows,) what each cell is: 0 NaN (missing), 1 None,
                           2 array, 3 scalar, 4 JSON value
      block         int32  (n_rows,) which array or scalar block holds the cell
                           (absent when there is one block of each)
      a<k>_values   array block k: the elements of its cells, flattened and concatenated
                    (object arrays of pandas Timestamps: int64 UTC values in the
                    spec's datetime64 dtype, the zone in the spec's "tz")
      a<k>_shapes   int64  (cells * ndim,) each cell's shape (a cell's elements are
                           the next prod(shape) values)
      a<k>_lengths  str blocks: int64 length (characters) per element, -1 for None
      a<k>_ends     str blocks (version 2): int64 per cell, the byte offset in
                           a<k>_values where the cell's text ends
      s<k>_values   scalar block k: one value per cell (+ s<k>_lengths, s<k>_ends for str)
      json          uint8  UTF-8 JSON list of the remaining cells (dicts, lists,
                           Timestamps, mixed object arrays...) in row order, tagged so
                           that they load back as the same types
      json_ends     int64 (version 2): per JSON cell, the byte offset where it ends
      values        native (non-object) column: the column's values

Values are stored as: bool -> uint8, datetime64/timedelta64 -> int64 (the unit is in the
header), other numbers in native byte order, fixed-width str/bytes -> uint8, object
arrays of str (with None) -> UTF-8 text + lengths in characters; a block whose items
contain no NUL separates them with NUL (spec "sep"), others are concatenated.
Datasets above 16 KiB are chunked (256 KiB chunks) and compressed (zlib level 4 +
shuffle by default, readable everywhere).  Column dtypes that are neither object nor
numpy numeric (pandas ``str``, ``Int64``, categories) are stored as object cells and
cast back on load.

Reading never unpickles: h5py reads numbers, attributes are never read, and only the
datasets named by the header are opened, each checked to be a plain 1-D numeric array.
Anything else is refused with a ValueError naming the file.
"""
from __future__ import annotations

from .encode import (ARRAY, JSON, MISSING, NONE, SCALAR, decode_strings, encode_strings,
                     from_storage, to_storage)
from .reader import READABLE_VERSIONS, SavedDataset, open_frame, read_frame
from .writer import (CHUNK_BYTES, COMPRESS_MIN_BYTES, FORMAT, VERSION, FrameWriter, check_key,
                     require_h5py, write_frame)

__all__ = [
    "FORMAT", "VERSION", "READABLE_VERSIONS", "COMPRESS_MIN_BYTES", "CHUNK_BYTES",
    "MISSING", "NONE", "ARRAY", "SCALAR", "JSON",
    "FrameWriter", "SavedDataset", "check_key", "require_h5py", "write_frame", "read_frame",
    "open_frame", "to_storage", "from_storage", "encode_strings", "decode_strings",
]
