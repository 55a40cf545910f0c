"""The per-user index: what earlier walks and validations found, in SQLite.

An experiment on a shared drive grows for years; walking it and re-reading every file
on each open does not scale.  The index keeps, per user (never in the experiment
folder, which may be read-only):

* every scanned folder's ``mtime_ns`` and what it held (sub-folders, the files the
  sources matched with their identities, what was skipped): a re-open lists only the
  folders whose mtime changed, and stats the others;
* a source's answer to ``claims`` (the treadmill's look into a dataqueue) with the file's
  size and ``mtime_ns``;
* every validation outcome with a fingerprint of what it depended on: the source's and
  datakit's versions, the settings, and the size and ``mtime_ns`` of the files it read
  (its own and its dependencies'), so ``validate()`` re-loads only what changed.

Location: ``$DATAKIT_CACHE_DIR/index.sqlite`` or the user cache directory of
``platformdirs`` (``~/.cache/datakit`` on Linux).  ``datakit cache clear`` deletes it.
SQLite in WAL mode lets several processes read and write it at once.  A cache file that
is corrupt or not a database is rebuilt with a warning; one that stays locked is left
alone (that call runs without the cache).  Nothing here is needed for correctness: with
``cache=False`` everything is computed afresh.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import threading
import time
import warnings
from pathlib import Path

import msgspec

SCHEMA = 2
FILE_NAME = "index.sqlite"
#: a folder changed this close to its scan may change again within the mtime
#: resolution of some file systems (FAT: 2 s, SMB: 100 ns but clocks drift): list it
#: again next time
RACY_NS = 2_000_000_000
BUSY_TIMEOUT_S = 10.0

_TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS folders (
    path TEXT PRIMARY KEY, mtime_ns INTEGER NOT NULL, scanned_ns INTEGER NOT NULL,
    patterns TEXT NOT NULL, record BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS claims (
    path TEXT NOT NULL, source TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    accepted INTEGER NOT NULL, PRIMARY KEY (path, source));
CREATE TABLE IF NOT EXISTS results (key TEXT PRIMARY KEY, payload BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS validations (
    tag TEXT NOT NULL, path TEXT NOT NULL, fingerprint TEXT NOT NULL, status TEXT NOT NULL,
    error_type TEXT, message TEXT, traceback TEXT, PRIMARY KEY (tag, path));
"""


class IndexWarning(UserWarning):
    """The cache could not be used as it was (rebuilt, or skipped for this call)."""


def cache_dir() -> Path:
    """``$DATAKIT_CACHE_DIR``, else the per-user cache directory."""
    configured = os.environ.get("DATAKIT_CACHE_DIR")
    if configured:
        return Path(configured).expanduser()
    try:
        import platformdirs
    except ImportError:  # pragma: no cover - a dependency; a broken install still works
        return Path.home() / ".cache" / "datakit"
    return Path(platformdirs.user_cache_dir("datakit", appauthor=False))


def default_path() -> Path:
    return cache_dir() / FILE_NAME


class FolderRecord(msgspec.Struct, array_like=True):
    """What one folder held when it was listed."""

    subdirs: list          # [name, is_symlink]
    rows: list             # [tag, name, subject, session, task, priority]
    skipped: list          # [name or "", reason]
    n_entries: int


_encode = msgspec.msgpack.Encoder().encode
_decode_record = msgspec.msgpack.Decoder(FolderRecord).decode


def storable(text: str) -> bool:
    """Can ``text`` go into the index?  (A file name that is not valid UTF-8 cannot; such
    folders and files are simply looked at afresh every time.)"""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def encode_record(record: FolderRecord) -> bytes | None:
    try:
        return _encode(record)
    except (UnicodeEncodeError, TypeError, OverflowError):
        return None


def _in_transaction(db: sqlite3.Connection, *steps: tuple[str, list]) -> None:
    """``executemany(statement, rows)`` of each step in one transaction: one commit for
    all rows, not one per row (the connection is in autocommit mode)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        for statement, rows in steps:
            db.executemany(statement, rows)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _is_locked(exc: sqlite3.Error) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc).lower()


class Index:
    """One SQLite index file (see the module doc).  Thread-safe; one connection."""

    def __init__(self, path=None):
        self.path = Path(path) if path is not None else default_path()
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        self.usable = True

    # opening ----------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection | None:
        if self._db is not None or not self.usable:
            return self._db
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = self._open()
        except sqlite3.Error as exc:
            if _is_locked(exc):
                self._give_up(f"is locked by another process ({exc})")
                return None
            self._rebuild(exc)
        except OSError as exc:
            self._give_up(f"cannot be created ({exc.strerror or exc})")
        return self._db

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, check_same_thread=False,
                             isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_TABLES)
            row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is None:
                db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA),))
            elif row[0] != str(SCHEMA):   # written by another datakit: start over
                db.executescript("DROP TABLE IF EXISTS folders; DROP TABLE IF EXISTS claims; "
                                 "DROP TABLE IF EXISTS results; DROP TABLE IF EXISTS validations;")
                db.executescript(_TABLES)
                db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA),))
        except BaseException:
            db.close()
            raise
        return db

    def _rebuild(self, exc: BaseException) -> None:
        """A corrupt or foreign file: move it aside and start an empty index."""
        warnings.warn(f"the datakit cache {self.path} is unusable ({exc}); rebuilding it "
                      "(the next open walks the folders again)", IndexWarning, stacklevel=4)
        self.close()
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                Path(str(self.path) + suffix).unlink()
        try:
            self._db = self._open()
        except (sqlite3.Error, OSError) as again:
            self._give_up(f"cannot be rebuilt ({again})")

    def _give_up(self, why: str) -> None:
        warnings.warn(f"the datakit cache {self.path} {why}; continuing without it",
                      IndexWarning, stacklevel=5)
        self.usable = False
        self._db = None

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._db.close()
                self._db = None

    def _run(self, fn, default=None):
        """``fn(db)`` under the lock; any SQLite trouble is a warning and ``default``."""
        with self._lock:
            db = self._connect()
            if db is None:
                return default
            try:
                return fn(db)
            except sqlite3.Error as exc:
                if _is_locked(exc):
                    self._give_up(f"stayed locked for {BUSY_TIMEOUT_S:g} s ({exc})")
                else:
                    self._rebuild(exc)
                return default

    # folders ----------------------------------------------------------------------

    def folders(self, prefix: str, *, records: bool = True) -> dict[str, tuple]:
        """Every folder recorded under ``prefix``: path -> (mtime_ns, scanned_ns, patterns,
        record blob); without ``records`` only the first three (a cheaper read)."""
        columns = "path, mtime_ns, scanned_ns, patterns" + (", record" if records else "")

        def read(db):
            rows = db.execute(f"SELECT {columns} FROM folders WHERE path >= ? AND path < ?",
                              (prefix, prefix + "\U0010ffff")).fetchall()
            return {r[0]: r[1:] for r in rows}
        return self._run(read, {})

    def folder_states(self, prefix: str) -> dict[str, tuple]:
        """path -> (mtime_ns, scanned_ns, patterns) of every folder recorded under ``prefix``."""
        return self.folders(prefix, records=False)

    # finished discoveries ---------------------------------------------------------

    def result(self, key: str):
        """The payload stored under ``key`` (decoded msgpack), or None."""
        row = self._run(lambda db: db.execute(
            "SELECT payload FROM results WHERE key = ?", (key,)).fetchone())
        if row is None:
            return None
        try:
            return msgspec.msgpack.decode(row[0])
        except msgspec.DecodeError:
            return None

    def put_result(self, key: str, payload) -> None:
        try:
            blob = _encode(payload)
        except (UnicodeEncodeError, TypeError, OverflowError):
            return                    # names that are not UTF-8: nothing stored
        self._run(lambda db: db.execute("INSERT OR REPLACE INTO results VALUES (?, ?)", (key, blob)))

    @staticmethod
    def decode(blob: bytes) -> FolderRecord | None:
        try:
            return _decode_record(blob)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None

    def put_folders(self, records: list[tuple], gone: list[str] = ()) -> None:
        """Store ``(path, mtime_ns, scanned_ns, patterns, encoded record)`` rows, drop ``gone``."""
        if not records and not gone:
            return

        self._run(lambda db: _in_transaction(
            db, ("INSERT OR REPLACE INTO folders VALUES (?, ?, ?, ?, ?)", records),
            ("DELETE FROM folders WHERE path = ?", [(p,) for p in gone])))

    # claims -----------------------------------------------------------------------

    def claims(self, source: str, paths: list[str]) -> dict[str, tuple]:
        """path -> (size, mtime_ns, accepted) recorded for ``source``."""
        paths = [p for p in paths if storable(p)]
        if not paths:
            return {}

        def read(db):
            out = {}
            for start in range(0, len(paths), 900):
                chunk = paths[start:start + 900]
                marks = ",".join("?" * len(chunk))
                for path, size, mtime_ns, accepted in db.execute(
                        f"SELECT path, size, mtime_ns, accepted FROM claims WHERE source = ? "
                        f"AND path IN ({marks})", (source, *chunk)):
                    out[path] = (size, mtime_ns, bool(accepted))
            return out
        return self._run(read, {})

    def put_claims(self, source: str, rows: list[tuple]) -> None:
        """Store ``(path, size, mtime_ns, accepted)`` rows for ``source``."""
        rows = [(p, source, s, m, int(a)) for p, s, m, a in rows if storable(p)]
        if not rows:
            return
        self._run(lambda db: _in_transaction(
            db, ("INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?, ?)", rows)))

    # validations ------------------------------------------------------------------

    def validations(self, keys: list[tuple]) -> dict[tuple, tuple]:
        """(tag, path) -> (fingerprint, status, error_type, message, traceback)."""
        keys = [(t, p) for t, p in keys if storable(p)]
        if not keys:
            return {}

        def read(db):
            out = {}
            by_tag: dict[str, list] = {}
            for tag, path in keys:
                by_tag.setdefault(tag, []).append(path)
            for tag, paths in by_tag.items():
                for start in range(0, len(paths), 900):
                    chunk = paths[start:start + 900]
                    marks = ",".join("?" * len(chunk))
                    for row in db.execute(
                            "SELECT path, fingerprint, status, error_type, message, traceback "
                            f"FROM validations WHERE tag = ? AND path IN ({marks})", (tag, *chunk)):
                        out[(tag, row[0])] = row[1:]
            return out
        return self._run(read, {})

    def put_validations(self, rows: list[tuple]) -> None:
        """Store ``(tag, path, fingerprint, status, error_type, message, traceback)`` rows."""
        rows = [r for r in rows if all(storable(v) for v in r if isinstance(v, str))]
        if not rows:
            return

        self._run(lambda db: _in_transaction(
            db, ("INSERT OR REPLACE INTO validations VALUES (?, ?, ?, ?, ?, ?, ?)", rows)))

    # housekeeping -----------------------------------------------------------------

    def summary(self) -> dict:
        def read(db):
            return {table: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                    for table in ("folders", "claims", "results", "validations")}
        counts = self._run(read, {})
        size = sum(Path(str(self.path) + s).stat().st_size for s in ("", "-wal")
                   if Path(str(self.path) + s).exists())
        return {"path": str(self.path), "bytes": size, **counts}


def clear(path=None) -> list[Path]:
    """Delete the index file (and its WAL); return what was removed."""
    path = Path(path) if path is not None else default_path()
    removed = []
    for suffix in ("", "-wal", "-shm"):
        candidate = Path(str(path) + suffix)
        try:
            candidate.unlink()
            removed.append(candidate)
        except FileNotFoundError:
            continue
    return removed


def fingerprint(*parts) -> str:
    """A short stable hash of ``parts`` (str, numbers, None, lists and tuples of them;
    names that are not valid UTF-8 hash too)."""
    text = repr(list(parts)).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(text, digest_size=16).hexdigest()


def now_ns() -> int:
    return time.time_ns()


_shared: dict[Path, Index] = {}
_shared_lock = threading.Lock()


def shared(path=None) -> Index:
    """The process's Index for ``path`` (default location), opened on first use."""
    path = Path(path) if path is not None else default_path()
    with _shared_lock:
        index = _shared.get(path)
        if index is None or not index.usable:
            index = _shared[path] = Index(path)
        return index
