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
"""
from __future__ import annotations

import hashlib
import os
import re
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .errors import Cancelled
from .index import RACY_NS, FolderRecord as _FolderRecord, encode_record, storable
from .progress import Reporter

ORIGINS = ("data", "processed")
DEFAULT_TASK = "task-session"
# a key glued to any letter or digit (also non-ASCII: "cafétask-x", "¹sub-0") is not a
# token; keys are matched case-insensitively by spelling (re.IGNORECASE would also take
# the Kelvin sign for k, the long s for s); labels are ASCII letters and digits
_TOKEN = re.compile(r"(?<![^\W_])([sS][uU][bB]|[sS][eE][sS]|[tT][aA][sS][kK])-([A-Za-z0-9]+)")

FILE_COLUMNS = ["tag", "path", "origin", "subject", "session", "task", "priority", "root", "name"]
SKIP_COLUMNS = ["path", "reason"]


def glob_to_regex(pattern: str) -> str:
    """Glob -> regex: ``**/`` any folders (or none), ``*`` within one name, ``?`` one char."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


@dataclass
class _Matcher:
    """One distinct pattern and the (tag, priority) pairs that use it."""

    pattern: str
    users: list = field(default_factory=list)
    literal_tail: str | None = None      # fast path: pattern is "*<literal>"
    name_regex: re.Pattern | None = None
    path_regex: re.Pattern | None = None  # set when the pattern spans folders

    def match(self, name: str, rel_parts: tuple[str, ...]) -> bool:
        if self.literal_tail is not None:
            if not name.endswith(self.literal_tail):
                return False
        elif not self.name_regex.fullmatch(name):
            return False
        if self.path_regex is not None:
            return bool(self.path_regex.fullmatch("/".join(rel_parts + (name,))))
        return True


class PatternIndex:
    """All sources' patterns, indexed for a fast per-file test.

    Most patterns are ``*<literal tail>``; they are found by the part of the file name
    after its last ``_`` (one dict lookup), then confirmed with ``endswith``.  The few
    other patterns are tried by regex on every file name.
    """

    def __init__(self, registry: dict):
        self.fingerprint = hashlib.blake2b(repr(sorted(
            (tag, tuple(cls.patterns)) for tag, cls in registry.items())).encode(), digest_size=8).hexdigest()
        by_pattern: dict[str, _Matcher] = {}
        for tag, cls in registry.items():
            for priority, pattern in enumerate(cls.patterns):
                matcher = by_pattern.get(pattern)
                if matcher is None:
                    matcher = by_pattern[pattern] = self._compile(pattern)
                matcher.users.append((tag, priority))
        self.by_key: dict[str, list[tuple[str, list]]] = {}
        self.by_ext: dict[str, list[_Matcher]] = {}
        self.other: list[_Matcher] = []
        for matcher in by_pattern.values():
            tail = matcher.literal_tail
            name_part = matcher.pattern.rsplit("/", 1)[-1]
            ext = name_part.rpartition(".")[2] if "." in name_part else ""
            if tail is not None and "_" in tail and matcher.path_regex is None:
                self.by_key.setdefault(tail.rsplit("_", 1)[-1], []).append((tail, matcher.users))
            elif ext and not any(c in ext for c in "*?["):
                self.by_ext.setdefault(ext, []).append(matcher)
            else:
                self.other.append(matcher)

    @staticmethod
    def _compile(pattern: str) -> _Matcher:
        matcher = _Matcher(pattern)
        body = pattern[3:] if pattern.startswith("**/") else pattern
        name_part = body.rsplit("/", 1)[-1]
        if "/" in body:  # spans folders: confirm on the path below data/ or processed/
            matcher.path_regex = re.compile(glob_to_regex(pattern), re.DOTALL)
        tail = name_part[1:]
        if name_part.startswith("*") and not any(c in tail for c in "*?["):
            matcher.literal_tail = tail
        else:
            matcher.name_regex = re.compile(glob_to_regex(name_part), re.DOTALL)
        return matcher

    def tags_for(self, name: str, rel_parts: tuple[str, ...]) -> list[tuple[str, int]]:
        hits: list[tuple[str, int]] = []
        keyed = self.by_key.get(name.rpartition("_")[2])
        if keyed:
            for tail, users in keyed:
                if name.endswith(tail):
                    hits.extend(users)
        for group in (self.by_ext.get(name.rpartition(".")[2]), self.other):
            if group:
                for matcher in group:
                    if matcher.match(name, rel_parts):
                        hits.extend(matcher.users)
        return hits


_LABEL = re.compile(r"[A-Za-z0-9]+", re.ASCII)


def parse_tokens(text: str, into: dict | None = None) -> dict:
    """sub/ses/task tokens of ``text``; keys already in ``into`` are kept (leftmost wins)."""
    if into is not None:
        if len(into) == 3:
            return into
        if len(into) == 2 and "task" not in into:
            # common case (sub-/ses- folders): only the file name's task token is needed
            i = text.find("task-")
            if i >= 0 and (i == 0 or not text[i - 1].isalnum()) and text.lower().find("task-") == i:
                label = _LABEL.match(text, i + 5)
                if label:
                    return {**into, "task": label.group()}
    found = dict(into) if into else {}
    if "-" not in text:
        return found
    for match in _TOKEN.finditer(text):
        key = match.group(1).lower()
        if key not in found:
            found[key] = match.group(2)
    return found


def identity_from_path(rel_path: str) -> tuple[str | None, str | None, str]:
    """(subject, session, task) of a path relative to the root, as discovery sees it."""
    tokens = parse_tokens(rel_path)
    return _identity(tokens)


def _identity(tokens: dict) -> tuple[str | None, str | None, str]:
    subject = tokens.get("sub")
    session = f"ses-{tokens['ses']}" if "ses" in tokens else None
    task = f"task-{tokens['task']}" if "task" in tokens else DEFAULT_TASK
    return subject, session, task


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
    files: pd.DataFrame      # FILE_COLUMNS: every (file, tag) match with its identity
    skipped: pd.DataFrame    # SKIP_COLUMNS: entries that could not be placed or read
    n_entries: int           # directory entries looked at
    n_dirs: int


@dataclass
class _Folder:
    """A folder to visit: its path, real path, parts below the origin, tokens, origin."""

    path: str
    real: str
    rel_parts: tuple
    tokens: dict
    origin: str


def walk(root, registry: dict, *, progress=None, cancel=None, index=None) -> Discovery:
    """Walk ``root/data`` and ``root/processed`` once and match every file name.

    With ``index`` (a :class:`datakit.index.Index`), a folder whose mtime is the one
    recorded is not listed again: what it held comes from the index.
    """
    root = _experiment_root(root)
    patterns = PatternIndex(registry)
    lister = _Lister(patterns, index, root)
    reporter = Reporter(progress, total=0, unit="dir", desc=f"scanning {root.name}")
    skipped: list[tuple[str, str]] = []
    try:
        stack = _top_folders(root, skipped)
        rows, n_entries, n_dirs = _visit(stack, lister, skipped, reporter, cancel)
    finally:
        reporter.close()
    lister.save()
    files = pd.DataFrame(rows, columns=FILE_COLUMNS, dtype=object)
    files["priority"] = files["priority"].astype("int64")
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
    rows: list[tuple] = []
    visited: set[str] = set()          # real paths of the folders visited
    linked: list[_Folder] = []
    n_entries = n_dirs = 0
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
        reporter.advance(1, folder.path)
        record = lister.listing(folder)
        if record is None:
            continue
        n_entries += record.n_entries
        base = folder.path + os.sep
        rows.extend((tag, base + name, folder.origin, sub, ses, task, priority, lister.root_text, name)
                    for tag, name, sub, ses, task, priority in record.rows)
        skipped.extend((base + name if name else folder.path, reason) for name, reason in record.skipped)
        for name, is_link in record.subdirs:
            child = _Folder(base + name, folder.real + os.sep + name, folder.rel_parts + (name,),
                            parse_tokens(name, folder.tokens), folder.origin)
            if not is_link:
                stack.append(child)
                continue
            child.real = os.path.realpath(child.path)
            if folder.real == child.real or folder.real.startswith(child.real + os.sep):
                skipped.append((child.path, "symlink loop (points to a parent folder); not followed"))
                continue
            linked.append(child)
    return rows, n_entries, n_dirs


class _Lister:
    """Lists folders, or reads what an unchanged folder held from the index."""

    def __init__(self, patterns: PatternIndex, index, root: Path):
        self.tags_for = patterns.tags_for
        self.index = index
        self.root_text = str(root)
        self.key = patterns.fingerprint
        if index is not None and not storable(self.root_text):
            index = self.index = None       # not valid UTF-8: nothing of it can be stored
        self.known = index.folders(self.root_text + os.sep) if index is not None else {}
        self.fresh: list[tuple] = []
        self.seen: set[str] = set()
        self.started_ns = time.time_ns()

    def listing(self, folder: _Folder):
        """What ``folder`` holds (a FolderRecord), or None when it cannot be read."""
        self.seen.add(folder.path)
        mtime_ns = None
        if self.index is not None:
            try:
                mtime_ns = os.stat(folder.path).st_mtime_ns
            except OSError:
                mtime_ns = None
            known = self.known.get(folder.path)
            if known is not None and mtime_ns is not None and known[0] == mtime_ns \
                    and known[2] == self.key and mtime_ns < known[1] - RACY_NS:
                record = self.index.decode(known[3])
                if record is not None:
                    return record
        started = time.time_ns()
        try:
            with os.scandir(folder.path) as it:
                entries = list(it)
        except OSError as exc:
            return _FolderRecord([], [], [("", f"cannot read folder: {exc.strerror or exc}")], 0)
        record = _list_entries(entries, folder, self.tags_for)
        if self.index is not None and mtime_ns is not None and storable(folder.path):
            blob = encode_record(record)
            if blob is not None:
                self.fresh.append((folder.path, mtime_ns, started, self.key, blob))
        return record

    def save(self) -> None:
        if self.index is None:
            return
        gone = [p for p in self.known if p not in self.seen]
        self.index.put_folders(self.fresh, gone)


def _list_entries(entries, folder: _Folder, tags_for) -> "_FolderRecord":
    """Match one folder's entries: sub-folders, the files sources claim, what is skipped."""
    subdirs, rows, skipped = [], [], []
    # a name's tokens are those of its part before the last "_" when that last part has
    # no "-" (so holds no token): the files of one recording share one parse
    identities: dict = {}
    tokens = folder.tokens
    for entry in entries:
        name = entry.name
        if name[0] == ".":
            continue
        try:
            if entry.is_dir():
                subdirs.append([name, entry.is_symlink()])
                continue
        except OSError:
            pass
        hits = tags_for(name, folder.rel_parts)
        if not hits:
            continue
        kind = _not_regular(entry)
        if kind:
            skipped.append([name, f"matches {hits[0][0]!r} but is {kind}"])
            continue
        cut = name.rfind("_")
        key = name[:cut] if cut > 0 and "-" not in name[cut:] else name
        ident = identities.get(key)
        if ident is None:
            ident = identities[key] = _identity(parse_tokens(key, tokens))
        subject, session, task = ident
        if subject is None or session is None:
            missing = " and ".join(k for k, v in (("sub-", subject), ("ses-", session)) if v is None)
            skipped.append([name, f"matches {hits[0][0]!r} but has no {missing} token"])
            continue
        for tag, priority in hits:
            rows.append([tag, name, subject, session, task, priority])
    return _FolderRecord(subdirs, rows, skipped, len(entries))
