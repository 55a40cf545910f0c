"""Discovery: one ``os.scandir`` walk per root -> the files each source claims.

Only ``data/`` and ``processed/`` under a root are scanned.  File names are matched
against the patterns of the registered sources; identities come from ``sub-``/``ses-``/
``task-`` tokens (leftmost wins, so a ``sub-X`` folder beats a ``sub-Y`` in the file
name; a token must not be glued to a preceding letter or digit, so ``multitask-x`` is
not a task).  No file is opened, except the cheap look a source asks for through
``DataSource.claims`` (treadmill on a dataqueue), and only for the file that would be
recorded for a cell.

A file that matches a source but cannot be placed (no subject or session token), a
folder that cannot be read, a symlink loop, a FIFO/socket/device with a matching name
(opening it would block), ... is skipped and recorded in ``Discovery.skipped``;
discovery never aborts on one strange entry.  Symlinked folders are followed after
every real folder is scanned, and only into folders not scanned yet, so a link never
makes a file appear twice.

The walk itself only lists folders (one ``is_dir`` and one ``is_file`` per entry); the
names it collected are matched and given their identities all at once afterwards
(:mod:`datakit.naming`), grouped by the part after their last ``_``, which is where
most of the per-file work of a one-name-at-a-time matcher went.
"""
from __future__ import annotations

import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from .errors import Cancelled
from .index import RACY_NS, FolderRecord as _FolderRecord, encode_record, storable
from .naming import PatternIndex, identities, parse_tokens
from .progress import Reporter

ORIGINS = ("data", "processed")

FILE_COLUMNS = ["tag", "path", "origin", "subject", "session", "task", "priority", "root", "name"]
SKIP_COLUMNS = ["path", "reason"]


def _not_regular(entry) -> str | None:
    """What a matching entry is when it is neither a regular file nor a symlink to one.

    A FIFO or device would block whoever opens it; a symlink loop cannot be opened.
    A dangling symlink is kept (validate() names it, and a real file wins over it).
    """
    try:
        if entry.is_file():
            return None
        if entry.is_symlink():
            os.stat(entry.path)  # dangling -> FileNotFoundError -> kept
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"a symlink that cannot be followed ({exc.strerror or exc})"
    try:
        mode = os.stat(entry.path).st_mode
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    for test, what in ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return what + ", not a regular file"
    return "not a regular file"


@dataclass
class Discovery:
    """What one walk of one root found."""

    root: Path
    files: pd.DataFrame      # FILE_COLUMNS and "recheck": every (file, tag) match with its
    #                          identity; recheck: a dangling link, or a row from the index
    #                          (does it exist now? looked at only when it decides a conflict)
    skipped: pd.DataFrame    # SKIP_COLUMNS: entries that could not be placed or read
    n_entries: int           # directory entries looked at
    n_dirs: int


class _Folder(NamedTuple):
    """A folder to visit: its path, real path, parts below the origin, tokens, origin."""

    path: str
    real: str
    rel_parts: tuple
    tokens: dict
    origin: str


_new_folder = tuple.__new__      # _Folder without the keyword handling: one per folder walked


def walk(root, registry: dict, *, progress=None, cancel=None, index=None) -> Discovery:
    """Walk ``root/data`` and ``root/processed`` once and match every file name.

    The walk only lists folders; the names it collected are matched and given their
    identities at once afterwards (:meth:`PatternIndex.match_names`,
    :func:`~datakit.naming.identities`), which costs far less per file than one name
    at a time.  With ``index`` (a :class:`datakit.index.Index`), a folder whose mtime
    is the one recorded is not listed again: what it held comes from the index.
    """
    root = _experiment_root(root)
    patterns = PatternIndex(registry)
    lister = _Lister(patterns, index, root)
    reporter = Reporter(progress, total=0, unit="dir", desc=f"scanning {root.name}")
    skipped: list[tuple[str, str]] = []
    try:
        stack = _top_folders(root, skipped)
        n_entries, n_dirs = _visit(stack, lister, skipped, reporter, cancel)
    finally:
        reporter.close()
    files = lister.files(skipped)
    lister.save()
    return Discovery(root=root, files=files,
                     skipped=pd.DataFrame(skipped, columns=SKIP_COLUMNS, dtype=object),
                     n_entries=n_entries, n_dirs=n_dirs)


def _experiment_root(root) -> Path:
    root = Path(root).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"experiment folder not found: {root}")
    if not root.is_dir():
        raise NotADirectoryError(f"not a folder: {root}")
    return root.resolve()


def _top_folders(root: Path, skipped: list) -> list[_Folder]:
    """``data/`` and ``processed/`` as the first folders to visit (what is wrong: skipped)."""
    stack = []
    for origin in reversed(ORIGINS):
        top = root / origin
        try:
            top_stat = top.stat()
        except FileNotFoundError:
            if top.is_symlink():
                skipped.append((str(top), "dangling symlink where a folder was expected"))
            continue
        except OSError as exc:
            skipped.append((str(top), f"cannot read: {exc.strerror or exc}"))
            continue
        if not stat.S_ISDIR(top_stat.st_mode):
            skipped.append((str(top), f"'{origin}' is a file, expected a folder"))
            continue
        stack.append(_Folder(str(top), os.path.realpath(top), (), {}, origin))
    return stack


def _visit(stack: list[_Folder], lister, skipped: list, reporter, cancel):
    """Visit every folder once: real folders first, then symlinked ones not seen yet.

    Only symlinks can make loops: one into an ancestor is never followed, the others
    wait until every real folder is visited, and a link to a folder visited already
    (directly or through another link) is not followed.
    """
    visited: set[str] = set()          # real paths of the folders visited
    linked: list[_Folder] = []
    n_entries = n_dirs = 0
    advance = reporter.advance if reporter.active else None
    sep = os.sep
    folder_tokens = _FolderTokens()
    while stack or linked:
        if cancel is not None and cancel.is_set():
            raise Cancelled("discovery cancelled")
        if not stack:
            item = linked.pop()
            if item.real in visited:
                skipped.append((item.path, "symlink to a folder already scanned; not followed"))
                continue
            stack.append(item)
        folder = stack.pop()
        if folder.real in visited:
            continue
        visited.add(folder.real)
        n_dirs += 1
        if advance is not None:
            advance(1, folder.path)
        listed = lister.listing(folder, skipped)
        if listed is None:
            continue
        subdirs, count = listed
        n_entries += count
        path, real, rel_parts, tokens, origin = folder
        for name, is_link in subdirs:
            child = _new_folder(_Folder, (path + sep + name, real + sep + name, rel_parts + (name,),
                                          tokens if "-" not in name else folder_tokens(name, tokens), origin))
            if not is_link:
                stack.append(child)
                continue
            child = child._replace(real=os.path.realpath(child.path))
            if folder.real == child.real or folder.real.startswith(child.real + os.sep):
                skipped.append((child.path, "symlink loop (points to a parent folder); not followed"))
                continue
            linked.append(child)
    return n_entries, n_dirs


class _FolderTokens(dict):
    """A folder's tokens: its parent's, then those of its own name (each distinct folder
    name parsed once: ``ses-01`` recurs under every subject)."""

    def __call__(self, name: str, parent: dict) -> dict:
        own = self.get(name)
        if own is None:
            own = self[name] = parse_tokens(name)
        if not own:
            return parent
        merged = {**own, **parent}     # the parent's tokens come first (leftmost wins)
        return parent if len(merged) == len(parent) else merged


class _Lister:
    """Lists folders (or reads what an unchanged folder held from the index), then
    matches every listed name at once and builds the file table."""

    def __init__(self, patterns: PatternIndex, index, root: Path):
        self.patterns = patterns
        self.index = index
        self.root_text = str(root)
        self.key = patterns.fingerprint
        if index is not None and not storable(self.root_text):
            index = self.index = None       # not valid UTF-8: nothing of it can be stored
        self.known = index.folders(self.root_text + os.sep) if index is not None else {}
        self.fresh: list[tuple] = []
        self.seen: set[str] = set()
        self.reused: list[tuple] = []       # (folder, rows held, skipped) of each unchanged folder
        self.held: list[tuple] = []         # their rows: (tag, name, subject, session, task, priority)
        # the folders listed afresh, and per folder (mtime_ns, listing started, subdirs, entries)
        self.folders: list[_Folder] = []
        self.states: list[tuple] = []
        self.names: list[str] = []          # every file name listed, folder by folder
        self.counts: list[int] = []         # how many of them each folder holds
        self.odd: dict[int, os.DirEntry] = {}   # name index -> entry that is no plain file

    def listing(self, folder: _Folder, skipped: list):
        """``(subdirs, n_entries)`` of ``folder``, or None when it cannot be read."""
        mtime_ns = started = None
        if self.index is not None:
            self.seen.add(folder.path)
            try:
                mtime_ns = os.stat(folder.path).st_mtime_ns
            except OSError:
                mtime_ns = None
            known = self.known.get(folder.path)
            if known is not None and mtime_ns is not None and known[0] == mtime_ns \
                    and known[2] == self.key and mtime_ns < known[1] - RACY_NS:
                record = self.index.decode(known[3])
                if record is not None:
                    # the rows as tuples, the record let go: a few lists per folder kept
                    # alive for the whole walk would make every garbage collection longer
                    self.held += map(tuple, record.rows)
                    self.reused.append((folder, len(record.rows), record.skipped))
                    return record.subdirs, record.n_entries
            started = time.time_ns()
        try:
            subdirs, files, odd, n_entries = _list_folder(folder.path)
        except OSError as exc:
            skipped.append((folder.path, f"cannot read folder: {exc.strerror or exc}"))
            return None
        base = len(self.names)
        self.names += files
        for position, entry in odd:
            self.odd[base + position] = entry
        self.counts.append(len(files))
        self.folders.append(folder)
        if self.index is not None:
            self.states.append((mtime_ns, started, subdirs, n_entries))
        return subdirs, n_entries

    def files(self, skipped: list) -> pd.DataFrame:
        """The file table: the rows of the folders the index held, then the matches of
        every name listed afresh (those that cannot be placed go to ``skipped``)."""
        for folder, _, reasons in self.reused:
            base = folder.path + os.sep
            skipped.extend((base + name if name else folder.path, reason) for name, reason in reasons)
        fresh = self._match(skipped)
        rows = self.held
        if not rows:
            return pd.DataFrame(fresh)
        tag, name, subject, session, task, priority = (np.array(c, dtype=object) for c in zip(*rows))
        in_folder = np.repeat(np.arange(len(self.reused)), [n for _, n, _ in self.reused])
        folders = [folder for folder, _, _ in self.reused]
        bases, origins = _folder_columns(folders)
        held = {"tag": tag, "path": bases[in_folder] + name, "origin": origins[in_folder],
                "subject": subject, "session": session, "task": task, "priority": priority.astype(np.int64),
                "root": np.full(len(rows), self.root_text, dtype=object), "name": name,
                "recheck": np.ones(len(rows), dtype=bool)}     # a dangling link? looked at if it matters
        return pd.DataFrame({c: np.concatenate([held[c], fresh[c]]) for c in held})

    def _match(self, skipped: list) -> dict[str, np.ndarray]:
        names = self.names
        folder_of = np.repeat(np.arange(len(self.folders), dtype=np.int64), self.counts)
        rel_parts = [folder.rel_parts for folder in self.folders]
        hits = self.patterns.match_names(names, folder_of, rel_parts)
        hit = np.zeros(len(names), dtype=bool)
        hit[hits.name] = True
        matched = np.flatnonzero(hit)                       # names with at least one match
        where = np.full(len(names), -1, dtype=np.int64)
        where[matched] = np.arange(len(matched))
        name_of = np.array([names[i] for i in matched.tolist()], dtype=object)
        ident = identities(name_of, hits.strip[matched], folder_of[matched],
                           [folder.tokens for folder in self.folders])
        recheck = np.zeros(len(matched), dtype=bool)       # dangling links: gone by now?
        reasons: dict[int, str] = {}                      # name index -> why it is skipped
        for i, entry in self.odd.items():
            if hit[i] and not ident.hidden[where[i]]:
                kind = _not_regular(entry)
                if kind:
                    reasons[i] = f"is {kind}"
                else:
                    recheck[where[i]] = True
        unplaced = np.flatnonzero(~ident.placed & ~ident.hidden)
        for at in unplaced.tolist():
            i = int(matched[at])
            if i not in reasons:
                missing = " and ".join(k for k, v in (("sub-", ident.subject[at]), ("ses-", ident.session[at]))
                                       if v is None)
                reasons[i] = f"has no {missing} token"
        named: dict[int, list] = {}                        # folder -> [[name, reason], ...]
        for i, reason in sorted(reasons.items()):
            folder = int(folder_of[i])
            first = self.patterns.tags_for(names[i], rel_parts[folder])[0][0]
            named.setdefault(folder, []).append([names[i], f"matches {first!r} but {reason}"])
            skipped.append((self.folders[folder].path + os.sep + names[i], named[folder][-1][1]))
        dropped = ident.hidden.copy()
        if reasons:
            dropped[where[np.fromiter(reasons, dtype=np.int64, count=len(reasons))]] = True
        kept = ~dropped[where[hits.name]]
        rows = hits.name[kept]
        at = where[rows]
        in_folder = folder_of[rows]
        bases, origins = _folder_columns(self.folders)
        fresh = {
            "tag": hits.tag[kept], "path": bases[in_folder] + name_of[at], "origin": origins[in_folder],
            "subject": ident.subject[at], "session": ident.session[at], "task": ident.task[at],
            "priority": hits.priority[kept], "root": np.full(len(rows), self.root_text, dtype=object),
            "name": name_of[at], "recheck": recheck[at],
        }
        if self.index is not None:
            self._remember(fresh, in_folder, named)
        return fresh

    def _remember(self, fresh: dict, in_folder: np.ndarray, named: dict) -> None:
        """Each folder listed afresh as a record for the index."""
        order = np.argsort(in_folder, kind="stable")
        table = list(zip(*(fresh[c][order].tolist() for c in ("tag", "name", "subject", "session", "task",
                                                               "priority"))))
        ends = np.cumsum(np.bincount(in_folder, minlength=len(self.folders))).tolist()
        start = 0
        for f, (folder, (mtime_ns, started, subdirs, n_entries)) in enumerate(zip(self.folders, self.states,
                                                                                   strict=True)):
            rows, start = [list(row) for row in table[start:ends[f]]], ends[f]
            if mtime_ns is None or not storable(folder.path):
                continue
            blob = encode_record(_FolderRecord(subdirs, rows, named.get(f, []), n_entries))
            if blob is not None:
                self.fresh.append((folder.path, mtime_ns, started, self.key, blob))

    def save(self) -> None:
        if self.index is None:
            return
        gone = [p for p in self.known if p not in self.seen]
        self.index.put_folders(self.fresh, gone)


def _folder_columns(folders: list) -> tuple[np.ndarray, np.ndarray]:
    """Per folder: its path and a separator (what its files' names are appended to), and
    its origin (``data`` or ``processed``)."""
    return (np.array([folder.path + os.sep for folder in folders], dtype=object),
            np.array([folder.origin for folder in folders], dtype=object))


def _list_folder(path: str):
    """``(subdirs, file names, odd entries, n_entries)`` of one folder: the only work done
    per entry during the walk.  Folders whose name starts with ``.`` are left out (files
    are, after matching).  An odd entry (not a regular file or a link to one: a FIFO, a
    device, a dangling link, an entry that cannot be stat'ed) is ``(position, entry)``."""
    subdirs, files, odd = [], [], []
    with os.scandir(path) as it:
        for entry in it:
            try:
                if entry.is_dir():
                    subdirs.append(entry)
                    continue
                if not entry.is_file():
                    odd.append((len(files), entry))
            except OSError:
                odd.append((len(files), entry))
            files.append(entry.name)
    n_entries = len(subdirs) + len(files)
    subdirs = [[entry.name, entry.is_symlink()] for entry in subdirs if entry.name[0] != "."]
    return subdirs, files, odd, n_entries
