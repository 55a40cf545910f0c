"""Saving and loading materialized frames: pickle or HDF5, never half-written.

- :func:`resolve_format` decides the format from ``format=`` or the suffix, without
  touching the disk (``Dataset.save`` calls it before materializing, so a bad suffix
  fails in a second, not after minutes of loading).
- :func:`save_frame` writes atomically: a temporary ``.<name>.<host>-<pid>-<random>.datakit-tmp`` file
  beside the target, flushed and fsynced, then ``os.replace``-d onto the target.  On any
  failure (including Ctrl-C and a full disk) the temporary file is removed and a
  previous file at the target is left as it was.
- :func:`load_dataset` reads either format.  Loading a pickle runs code stored in the
  file, so it goes through :func:`datakit.safety.require_pickle_allowed` first; HDF5
  files in datakit's layout (see :mod:`datakit.hdf5`) never unpickle anything.
"""
from __future__ import annotations

import contextlib
import errno
import os
import pickle
import secrets
import signal
import socket
import threading
import time
from pathlib import Path

import pandas as pd

from . import safety

FORMATS = {"pickle": "pickle", "pkl": "pickle", "hdf5": "hdf5", "h5": "hdf5"}
from .formats import FORMAT_OF_SUFFIX as SUFFIXES  # noqa: E402 - suffix -> format, one home
TEMP_SUFFIX = ".datakit-tmp"
#: a saved HDF5 file whose values take at most this much (uncompressed) is loaded whole
#: as ``df`` by the app and the shell; a larger one is only opened (``open_dataset``)
EAGER_LOAD_BYTES = 512 * 2**20
STALE_TEMP_AGE_S = 600.0
_HOST = "".join(c for c in socket.gethostname() if c.isalnum())[:32] or "host"


def resolve_format(path, format: str | None = None) -> str:
    """``"pickle"`` or ``"hdf5"`` for saving to ``path``; pure (no disk access).

    An explicit ``format`` ("pickle"/"pkl", "hdf5"/"h5", any case) wins.  Otherwise the
    suffix decides: ``.pkl``/``.pickle`` or none -> pickle, ``.h5``/``.hdf5`` -> hdf5;
    any other suffix is a ValueError (a ``.csv`` of pickle bytes helps nobody).
    """
    if format is not None:
        if not isinstance(format, str) or format.strip().lower() not in FORMATS:
            raise ValueError(
                f"Unsupported format: {format!r}; use 'pickle' (or 'pkl') or 'hdf5' (or 'h5')"
            )
        return FORMATS[format.strip().lower()]
    suffix = Path(os.fspath(path)).suffix.lower()
    if suffix == "":
        return "pickle"
    if suffix in SUFFIXES:
        return SUFFIXES[suffix]
    raise ValueError(
        f"Unsupported dataset file suffix {suffix!r} in {os.fspath(path)}: use .pkl or .pickle "
        "(pickle), .h5 or .hdf5 (HDF5), or pass format='pickle' or format='hdf5'"
    )


def _writer_gone(name: str) -> bool:
    """True when a temp file's name says it was written by a dead process on this host."""
    parts = name[: -len(TEMP_SUFFIX)].rsplit(".", 1)[-1].split("-")
    if len(parts) != 3 or parts[0] != _HOST:
        return False
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return True
    except (ValueError, OSError):
        return False
    return False


def cleanup_stale_temps(folder, *, older_than_s: float = STALE_TEMP_AGE_S) -> list[Path]:
    """Remove ``.*.datakit-tmp`` files in ``folder`` left by a killed earlier save.

    A temporary file whose writer (named in the file: host and process id) no longer
    runs on this machine is removed at once; any other is removed only when untouched
    for ``older_than_s`` seconds (default 10 minutes), so a save still running in
    another process or on another machine keeps its file.  Returns the removed paths;
    files that cannot be removed are left alone.
    """
    removed = []
    limit = time.time() - older_than_s
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        if not (name.startswith(".") and name.endswith(TEMP_SUFFIX)):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            if _writer_gone(name) or entry.stat(follow_symlinks=False).st_mtime < limit:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


def save_frame(df: pd.DataFrame, path, *, format: str | None = None,
               hdf_key: str = "dataset", progress=None, cancel=None) -> Path:
    """Write a materialized frame to ``path`` atomically; return the resolved path.

    ``progress``: an optional callable ``progress(done, total, message)`` (HDF5: per
    column written; pickle: once before and once after writing).  ``cancel`` (anything
    with ``is_set()``) stops an HDF5 write between columns with :class:`Cancelled`;
    Ctrl+C stops it the same way (see :func:`deferred_interrupt`).  Either way the
    previous file stays and no temporary file is left.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"save_frame needs a pandas DataFrame, not {type(df).__name__}")
    fmt = resolve_format(path, format)
    target = prepare_target(path, fmt, hdf_key)
    with deferred_interrupt() as interrupted:
        stop = either(cancel, interrupted)
        with interrupted.converting(), atomic_temp(target, interrupted) as tmp:
            if fmt == "pickle":
                if progress is not None:
                    progress(0, 1, f"writing {target.name}")
                _write_pickle(df, tmp)
                if progress is not None:
                    progress(1, 1, f"wrote {target.name}")
            else:
                _write_hdf5(df, tmp, hdf_key, progress, stop)
    return target


class _Interrupted:
    """Set by Ctrl+C while a save runs (see :func:`deferred_interrupt`)."""

    def __init__(self):
        self._event = threading.Event()

    def is_set(self) -> bool:
        return self._event.is_set()

    def set(self) -> None:
        self._event.set()

    @contextlib.contextmanager
    def converting(self):
        """Inside: a stop caused by Ctrl+C comes out as KeyboardInterrupt."""
        from .errors import Cancelled

        try:
            yield
        except (Cancelled, Exception):
            # also what the interruption broke on its way (a worker pool killed as it started)
            if self.is_set():
                raise KeyboardInterrupt from None
            raise
        if self.is_set():   # it came after the file was in place: the save is complete
            raise KeyboardInterrupt


class _Either:
    def __init__(self, *flags):
        self.flags = [f for f in flags if f is not None]

    def is_set(self) -> bool:
        return any(f.is_set() for f in self.flags)


def either(*flags) -> _Either:
    """One ``is_set()`` that is true when any of ``flags`` (None ignored) is set."""
    return _Either(*flags)


@contextlib.contextmanager
def deferred_interrupt():
    """Ctrl+C during a save stops it at the next safe point, not in the middle of a call.

    Python raises KeyboardInterrupt wherever the main thread happens to be, including
    inside a garbage-collection callback of the HDF5 library, where it is printed as
    "Exception ignored" and lost: the save would go on and the file appear anyway.  While
    this block runs in the main thread with Python's default SIGINT handler, Ctrl+C only
    sets the flag it yields; the save polls it (between cells, between columns, and
    before the rename), stops, removes its temporary file and raises KeyboardInterrupt.
    A second Ctrl+C interrupts at once.  The previous handler is back when the block
    ends; in other threads, or under another handler, nothing is changed.
    """
    flag = _Interrupted()
    main = threading.current_thread() is threading.main_thread()
    if not main or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield flag
        return

    def handler(signum, frame):
        flag.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def prepare_target(path, fmt: str, hdf_key: str = "dataset") -> Path:
    """The resolved target of a save, its folder created; refuses a folder as target and
    an unusable ``hdf_key`` (and missing h5py) before anything is loaded."""
    target = Path(os.fspath(path)).expanduser().resolve()
    if fmt == "hdf5":
        from . import hdf5

        hdf5.check_key(hdf_key)
        hdf5.require_h5py()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_dir():
            raise IsADirectoryError(errno.EISDIR, "is a directory", str(target))
    except OSError as exc:
        raise _naming(exc, target) from exc
    return target


@contextlib.contextmanager
def atomic_temp(target: Path, interrupted=None):
    """A new temporary file beside ``target`` to write; renamed onto ``target`` when the
    block ends normally, removed when it raises (anything, Ctrl+C included) or when
    ``interrupted`` (see :func:`deferred_interrupt`) is set before the rename.

    Stale temporary files of killed earlier saves are cleaned up first.  OSErrors name
    the target.
    """
    cleanup_stale_temps(target.parent)
    tmp = _create_temp(target)
    try:
        yield tmp
        _fsync_file(tmp)
        if interrupted is not None and interrupted.is_set():
            raise KeyboardInterrupt
        os.replace(tmp, target)
    except BaseException as exc:
        _remove_quietly(tmp)
        if isinstance(exc, OSError):
            raise _naming(exc, target) from exc
        raise
    _fsync_dir(target.parent)


def write_atomic(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file beside it and a rename.

    The previous file (if any) stays as it was on any failure; OSErrors name ``path``.
    """
    target = Path(os.fspath(path)).expanduser().absolute()
    tmp = _create_temp(target, what="write")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        _fsync_file(tmp)
        os.replace(tmp, target)
    except BaseException as exc:
        _remove_quietly(tmp)
        if isinstance(exc, OSError):
            raise _naming(exc, target, what="write") from exc
        raise
    _fsync_dir(target.parent)
    return target


def _write_pickle(df: pd.DataFrame, tmp: Path) -> None:
    with open(tmp, "wb") as fh:
        df.to_pickle(fh, protocol=pickle.HIGHEST_PROTOCOL)


def _write_hdf5(df: pd.DataFrame, tmp: Path, hdf_key: str, progress=None, cancel=None) -> None:
    from . import hdf5

    hdf5.write_frame(df, tmp, hdf_key, progress=progress, cancel=cancel)


def _create_temp(target: Path, what: str = "save dataset to") -> Path:
    """A new empty file beside ``target`` (mode from the umask, like a normal file)."""
    for _ in range(100):
        tmp = target.with_name(
            f".{target.name}.{_HOST}-{os.getpid()}-{secrets.token_hex(4)}{TEMP_SUFFIX}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        except OSError as exc:
            raise _naming(exc, target, what) from exc
        os.close(fd)
        return tmp
    raise FileExistsError(f"could not create a temporary file beside {target}")


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable where the platform allows it (best effort)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _naming(exc: OSError, target: Path, what: str = "save dataset to") -> OSError:
    """The same kind of OSError, with a message that names the target file."""
    if str(target) in str(exc):
        return exc
    reason = exc.strerror or str(exc) or type(exc).__name__
    if exc.errno is None:
        return type(exc)(f"could not {what} {target}: {reason}")
    return OSError(exc.errno, f"could not {what} {target}: {reason}")


def load_dataset(path, *, hdf_key: str = "dataset", allow_pickle: bool | None = None,
                 format: str | None = None) -> pd.DataFrame:
    """Load a dataset written by ``Dataset.save``/:func:`save_frame`.

    ``.pkl``/``.pickle`` (or no suffix) are read with pandas after the safe-mode check:
    unpickling runs code from the file, so with ``allow_pickle=False`` or
    ``DATAKIT_ALLOW_PICKLE=0`` they raise :class:`~datakit.errors.PickleRefused`.
    ``.h5``/``.hdf5`` are read from datakit's HDF5 layout, which never unpickles.  A
    pandas ``to_hdf`` file (fixed or table format: the ``.h5`` files of mesofield's
    datakit) holds pickles, so it is read only with an explicit ``allow_pickle=True`` (or
    ``DATAKIT_ALLOW_PICKLE=1``) and otherwise refused with PickleRefused saying why
    (``datakit convert OLD NEW`` rewrites it once into datakit's layout).  Any other
    HDF5 content is a ValueError.  ``format=`` reads a file whose suffix says nothing
    ("x.dat", format="hdf5").
    """
    p = Path(os.fspath(path)).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"Dataset file not found: {p}")
    p = p.resolve()
    try:
        fmt = resolve_format(p, format)
    except ValueError:
        if format is not None:
            raise
        raise ValueError(
            f"Unsupported dataset file suffix {p.suffix!r} in {p}: accepted suffixes are "
            "'.pkl', '.pickle', '.h5' and '.hdf5' (or pass format='pickle'/'hdf5')"
        ) from None
    if p.is_dir():
        raise IsADirectoryError(errno.EISDIR, "Dataset path is a directory", str(p))
    if fmt == "hdf5":
        from . import hdf5, legacy

        kind = (legacy.pandas_hdf_keys(p) or {}).get(hdf5.check_key(hdf_key))
        if kind is not None:
            return legacy.read_pandas_hdf(p, hdf_key, allow_pickle=allow_pickle, kind=kind)
        return hdf5.read_frame(p, hdf_key)
    safety.require_pickle_allowed(p, "dataset file", allow_pickle)
    try:
        obj = pd.read_pickle(p)
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError,
            TypeError, ValueError) as exc:
        raise ValueError(
            f"cannot load {p}: not a readable pickle ({type(exc).__name__}: {exc})"
        ) from exc
    if not isinstance(obj, pd.DataFrame):
        raise TypeError(f"{p} holds a {type(obj).__name__}, not a pandas DataFrame")
    return obj


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def open_dataset(path, *, hdf_key: str = "dataset"):
    """Open a dataset saved in datakit's HDF5 layout without loading its data.

    Returns a :class:`datakit.hdf5.SavedDataset`: ``.index``, ``.columns``, ``.attrs``
    and ``.shape`` are read from the file's header; ``.cell(key)`` reads one row,
    ``.load(subject=..., session=..., task=..., source=...)`` a filtered frame (each a
    str or a list of str, like ``Dataset.include``; ``load()`` reads everything) and
    ``.presence()`` says which (cell, source) hold data.

    Refused with a message saying what to do instead: a missing file
    (FileNotFoundError), a folder (IsADirectoryError), a pickle (ValueError: it can only
    be loaded whole, with :func:`load_dataset`), a pandas ``to_hdf`` file of mesofield's
    datakit (ValueError: ``datakit convert`` rewrites it) and any other file (ValueError).
    """
    from . import hdf5, legacy

    p = Path(os.fspath(path)).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"Dataset file not found: {p}")
    if p.is_dir():
        raise IsADirectoryError(errno.EISDIR, "a folder, not a saved dataset (open an experiment "
                                "folder with datakit.Dataset.from_directory)", str(p))
    p = p.resolve()
    key = hdf5.check_key(hdf_key)
    hdf5.require_h5py()
    try:
        with open(p, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise _naming(exc, p, "open") from exc
    if head != HDF5_SIGNATURE:
        if p.suffix.lower() in (".pkl", ".pickle") or head[:1] == b"\x80":
            raise ValueError(
                f"{p} is a pickle, not an HDF5 file: open_dataset reads datakit's HDF5 layout "
                f"without loading it. Load the pickle whole with datakit.load_dataset({str(p)!r}) "
                "(unpickling runs code stored in the file: only if you trust where it came "
                f"from), or convert it once: datakit convert {p} {p.with_suffix('.h5')}")
        raise ValueError(f"{p} is not an HDF5 file (no HDF5 signature); open_dataset opens "
                         "datasets saved by datakit as .h5")
    kind = (legacy.pandas_hdf_keys(p) or {}).get(key)
    if kind is not None:
        raise ValueError(
            f"{p} (key {key!r}) is a pandas to_hdf file ({kind.split('_')[1]} format), the .h5 "
            "format of mesofield's datakit: it stores Python pickles and cannot be opened "
            f"lazily. Convert it once into datakit's layout (datakit convert {p} NEW.h5) and "
            "open the new file, or load it whole with load_dataset(path, allow_pickle=True) "
            "if you trust where it came from")
    return hdf5.open_frame(p, key)
