"""Files of the earlier implementation (mesofield's datakit) and their conversion.

The earlier ``Dataset.save``/``datakit build`` wrote ``.h5`` files with pandas
``DataFrame.to_hdf`` (``format="fixed"``; other tools may have written
``format="table"``).  Such files keep Python pickles inside: every object column (the
arrays, dicts and Timestamps of a materialized frame) is one pickled block, and pandas'
own attributes (levels, index info) are pickled too.  Reading one runs code stored in
the file, so datakit opens them only when asked explicitly:

* :func:`datakit.load_dataset` reads them with ``allow_pickle=True`` (or
  ``Settings(allow_pickle=True)``, or the environment variable ``DATAKIT_ALLOW_PICKLE=1``
  set explicitly) and otherwise refuses with :class:`~datakit.PickleRefused` saying why;
* :func:`convert` (``datakit convert OLD NEW``) rewrites such a file, or any pickled
  dataset, into datakit's own HDF5 layout (native arrays, no pickle), atomically.  Naming
  the file to convert is the explicit choice, so only safe mode
  (``allow_pickle=False``/``DATAKIT_ALLOW_PICKLE=0``) refuses it.

Old ``.pkl`` files need nothing special: they load like any pickled dataset.
"""
from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path

import pandas as pd

from . import safety
from .errors import PickleRefused

PANDAS_FIXED, PANDAS_TABLE = "pandas_fixed", "pandas_table"
from .formats import HDF5_SUFFIXES  # noqa: E402,F401 - one home for the suffixes


def pandas_hdf_keys(path) -> dict[str, str] | None:
    """``{key: "pandas_fixed"|"pandas_table"}`` of the pandas objects in an HDF5 file.

    Reads only group names and the ``pandas_type`` attribute with h5py (which never
    unpickles: a pickled attribute stays bytes); returns None when the file cannot be
    opened as HDF5 (the caller's reader then says why).
    """
    try:
        import h5py
    except ImportError:
        return None
    try:
        f = h5py.File(path, "r")
    except Exception:
        return None
    found: dict[str, str] = {}

    def visit(name, node):
        if isinstance(node, h5py.Group) and "pandas_type" in node.attrs:
            kind = node.attrs["pandas_type"]
            kind = kind.decode("utf-8", "replace") if isinstance(kind, bytes) else str(kind)
            found[name.strip("/")] = PANDAS_TABLE if "table" in kind else PANDAS_FIXED

    try:
        with f:
            if "pandas_type" in f.attrs:   # a key at the root ("/")
                visit("", f)
            f.visititems(visit)
    except Exception:
        return None
    return found


def refusal(path, key: str, kind: str) -> PickleRefused:
    """The error for a pandas HDF5 file opened without an explicit allow_pickle."""
    safe_mode = not safety.pickle_allowed(None)
    why = (f"{os.fspath(path)} (key {key!r}) is a pandas to_hdf file ({kind.split('_')[1]} "
           "format), the .h5 format of mesofield's datakit: it stores Python pickles, and "
           "unpickling runs code stored in the file.")
    if safe_mode:
        how = (f" Safe mode is on ({safety.ENV_VAR}=0 or allow_pickle=False), so it stays "
               "closed; if you trust where the file came from, turn safe mode off for it.")
    else:
        how = (" If you trust where it came from, open it with allow_pickle=True "
               f"(load_dataset(path, allow_pickle=True), or {safety.ENV_VAR}=1), or convert "
               "it once into datakit's pickle-free HDF5 layout: datakit convert OLD NEW.")
    return PickleRefused(why + how)


def read_pandas_hdf(path, key: str = "dataset", *, allow_pickle: bool | None = None,
                    kind: str | None = None) -> pd.DataFrame:
    """Read a pandas ``to_hdf`` file, only with an explicit ``allow_pickle``."""
    path = Path(path)
    if kind is None:
        kind = (pandas_hdf_keys(path) or {}).get(key.strip("/"), PANDAS_FIXED)
    if not safety.pickle_explicitly_allowed(allow_pickle):
        raise refusal(path, key, kind)
    try:
        import tables  # noqa: F401 - pandas reads HDF5 through PyTables
    except ImportError as exc:
        raise ImportError(f"reading {path}, a pandas .h5 of mesofield's datakit, needs PyTables: "
                          "pip install 'datakit[hdf5]' (or pip install tables)") from exc
    try:
        obj = pd.read_hdf(path, key=key)
    except Exception as exc:  # UnpicklingError, HDF5ExtError, KeyError, ...
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        raise ValueError(f"cannot load {path} (key {key!r}) as a pandas HDF5 file: "
                         f"{type(exc).__name__}: {lines[-1] if lines else exc}") from exc
    if isinstance(obj, pd.Series):
        obj = obj.to_frame()
    if not isinstance(obj, pd.DataFrame):
        raise TypeError(f"{path} (key {key!r}) holds a {type(obj).__name__}, not a DataFrame")
    return obj


def check_convert_paths(old, new, *, overwrite: bool = False) -> tuple[Path, Path]:
    """``(old, new)`` as paths, after every check ``convert`` makes before reading anything:
    FileNotFoundError, IsADirectoryError, FileExistsError or ValueError saying what to do."""
    src = Path(os.fspath(old)).expanduser()
    dst = Path(os.fspath(new)).expanduser()
    if not src.exists():
        raise FileNotFoundError(f"Dataset file not found: {src}")
    if src.is_dir():
        raise IsADirectoryError(f"{src} is a folder, not a saved dataset")
    if dst.suffix.lower() not in HDF5_SUFFIXES:
        raise ValueError(f"convert writes datakit's HDF5 layout: give the new file a .h5 or "
                         f".hdf5 name, not {dst.name!r}")
    if dst.exists() or dst.is_symlink():
        if dst.resolve() == src.resolve() or (dst.exists() and os.path.samefile(dst, src)):
            raise ValueError(f"{dst} is the file being converted; write the converted copy to "
                             "another name (the original is kept as it is)")
        if dst.is_dir():
            raise IsADirectoryError(f"{dst} is a folder; give a file name ending in .h5")
        if not overwrite:
            raise FileExistsError(f"{dst} already exists; choose another name or overwrite "
                                  "it explicitly (overwrite=True, datakit convert --force)")
    return src, dst


def convert(old, new, *, hdf_key: str = "dataset", new_key: str | None = None,
            overwrite: bool = False, allow_pickle: bool | None = None) -> Path:
    """Rewrite a saved dataset into datakit's HDF5 layout; return the new file's path.

    ``old`` is a pandas ``to_hdf`` file (the earlier implementation's ``.h5``), a pickled
    dataset (``.pkl``/``.pickle``) or a datakit HDF5 file (rewritten, e.g. under another
    key).  ``new`` must end in ``.h5``/``.hdf5``; it is written atomically (a temporary
    file beside it, then renamed), so a failed conversion leaves nothing behind and never
    touches ``old``.  An existing ``new`` is refused unless ``overwrite=True``; ``new``
    being ``old`` is always refused.  Naming ``old`` is the choice to unpickle it: only
    safe mode (``allow_pickle=False``, ``DATAKIT_ALLOW_PICKLE=0``) refuses.
    """
    from .io import SUFFIXES, load_dataset, save_frame

    src, dst = check_convert_paths(old, new, overwrite=overwrite)
    allowed = safety.pickle_allowed(allow_pickle)
    suffix = src.suffix.lower()
    if suffix in HDF5_SUFFIXES:
        kinds = pandas_hdf_keys(src) or {}
        kind = kinds.get(hdf_key.strip("/"))
        if kind is not None:
            if not allowed:
                raise refusal(src, hdf_key, kind)
            df = read_pandas_hdf(src, hdf_key, allow_pickle=True, kind=kind)
        else:
            df = load_dataset(src, hdf_key=hdf_key)
            kind = "datakit_hdf5"
    else:
        kind = "pickle"
        df = load_dataset(src, hdf_key=hdf_key, allow_pickle=allowed,
                          format=None if suffix in SUFFIXES or suffix == "" else "pickle")
    df = df.copy(deep=False)
    attrs = dict(df.attrs)
    attrs["datakit_converted_from"] = {
        "path": str(src.resolve()), "format": kind, "hdf_key": hdf_key if kind != "pickle" else None,
        "converted_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    df.attrs = attrs
    try:
        return save_frame(df, dst, format="hdf5", hdf_key=new_key or hdf_key)
    except TypeError as exc:
        raise TypeError(f"cannot convert {src}: {exc} ({src} is unchanged; nothing was "
                        f"written to {dst})") from exc
