"""File readers shared by the sources: one clear error per kind of bad file.

Every error names the file: an empty file, a file that cannot be read, a file that is
not text, a truncated or malformed CSV/JSON/``.npy``, a dangling symlink.

A CSV whose last line has no line end was cut off while being written (every CSV
writer ends its last line): that line is left out, and the source's meta says so
(``n_dropped_truncated_rows``) -- a cut-off number would otherwise load as a wrong one.
"""
from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import msgspec
import numpy as np
import pandas as pd

TRUNCATED_NOTE = ("the file's last line has no line end (the file was cut off while being "
                  "written); that line was left out")


def check_file(path) -> Path:
    """The path if it is a readable, non-empty regular file; else a clear error."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            raise FileNotFoundError(
                f"{path}: dangling symlink (points to {os.readlink(path)!s}, which does not exist)"
            ) from None
        raise FileNotFoundError(f"{path}: file not found") from None
    except PermissionError:
        raise PermissionError(f"{path}: permission denied (a folder on the way cannot be read)") from None
    except OSError as exc:  # a symlink loop, a name too long, ...
        raise OSError(exc.errno, f"{path}: cannot be opened ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(f"{path}: is a folder, expected a file")
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"{path}: not a regular file (a FIFO, socket or device would block "
                         "or never end)")
    if st.st_size == 0:
        raise ValueError(f"{path}: file is empty (0 bytes)")
    try:
        os.close(os.open(path, os.O_RDONLY))
    except PermissionError:
        raise PermissionError(f"{path}: permission denied (the file cannot be read)") from None
    return path


def _cut_unterminated_line(path: Path):
    """The CSV's bytes without an unterminated last line (or None when the file ends well)."""
    with open(path, "rb") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) in (b"\n", b"\r"):
            return None
        fh.seek(0)
        data = fh.read()
    end = data.rfind(b"\n") + 1
    return data[:end]


def read_csv(path, *, info: dict | None = None, **kwargs) -> pd.DataFrame:
    """``pandas.read_csv`` with errors that say which file and what is wrong.

    An unterminated last line is left out; ``info`` (the source's meta) then gets
    ``n_dropped_truncated_rows`` and a ``truncation_note``.
    """
    path = check_file(path)
    source = path
    head = _cut_unterminated_line(path)
    if head is not None:
        if not head.strip():
            raise ValueError(f"{path}: one line without a line end: the file was cut off "
                             "before its first row was complete")
        source = io.BytesIO(head)
        if info is not None and head.count(b"\n") > 1:
            info["n_dropped_truncated_rows"] = 1
            info["truncation_note"] = TRUNCATED_NOTE
    try:
        return pd.read_csv(source, **kwargs)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path}: no columns to parse (empty or blank CSV)") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a text CSV (undecodable bytes at offset {exc.start})") from None
    except pd.errors.ParserError as exc:
        raise ValueError(f"{path}: malformed CSV: {exc}") from None


def require_columns(frame: pd.DataFrame, columns, path, what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        found = ", ".join(map(str, list(frame.columns)[:10]))
        raise ValueError(f"{path}: not a {what}: missing column(s) {missing} (found: {found})")


def json_error(path, exc: Exception) -> ValueError:
    """The error for a JSON file that does not parse (truncation named)."""
    hint = " (the file looks truncated)" if "truncated" in str(exc) else ""
    return ValueError(f"{path}: invalid JSON{hint}: {exc}")


def read_json(path):
    """Parse a JSON file (msgspec); truncation and garbage give a ValueError naming the file."""
    path = check_file(path)
    data = path.read_bytes()
    try:
        return msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        raise json_error(path, exc) from None


_NPY_MAGIC = b"\x93NUMPY"


def load_npy(path, *, numeric: bool = True) -> np.ndarray:
    """A ``.npy`` array, never unpickled: clear errors for a file that is not ``.npy``,
    is cut short, holds objects or (``numeric=True``) holds something other than numbers."""
    path = check_file(path)
    with open(path, "rb") as fh:
        if fh.read(len(_NPY_MAGIC)) != _NPY_MAGIC:
            raise ValueError(f"{path}: not a .npy file (no NUMPY header)")
        fh.seek(0)
        try:
            version = np.lib.format.read_magic(fh)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, _, dtype = read_header(fh)
        except (ValueError, OSError, EOFError) as exc:
            raise ValueError(f"{path}: unreadable .npy header ({exc})") from None
        offset = fh.tell()
    if dtype.hasobject:
        raise ValueError(f"{path}: not a plain numeric .npy array: it holds Python objects "
                         f"(dtype {dtype}), which datakit does not unpickle")
    expected = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    size = path.stat().st_size
    if size < expected:
        raise ValueError(f"{path}: truncated .npy file (holds {size - offset} of the "
                         f"{expected - offset} bytes its header announces)")
    if numeric and dtype.kind not in "biuf":
        raise ValueError(f"{path}: expected numbers, got dtype {dtype.str}")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError(f"{path}: unreadable .npy file ({exc})") from None
