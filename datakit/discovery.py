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

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .errors import Cancelled
from .progress import Reporter

ORIGINS = ("data", "processed")
DEFAULT_TASK = "task-session"
# a key glued to any letter or digit (also non-ASCII: "cafétask-x", "¹sub-0") is not a
# token; keys are matched case-insensitively by spelling (re.IGNORECASE would also take
# the Kelvin sign for k, the long s for s); labels are ASCII letters and digits
_TOKEN = re.compile(r"(?<![^\W_])([sS][uU][bB]|[sS][eE][sS]|[tT][aA][sS][kK])-([A-Za-z0-9]+)")

FILE_COLUMNS = ["tag", "path", "origin", "subject", "session", "task", "priority", "root"]
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


def walk(root, registry: dict, *, progress=None, cancel=None) -> Discovery:
    """Walk ``root/data`` and ``root/processed`` once and match every file name."""
    root = Path(root).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"experiment folder not found: {root}")
    if not root.is_dir():
        raise NotADirectoryError(f"not a folder: {root}")
    root = root.resolve()
    tags_for = PatternIndex(registry).tags_for
    reporter = Reporter(progress, total=0, unit="dir", desc=f"scanning {root.name}")
    rows: list[tuple] = []
    skipped: list[tuple[str, str]] = []
    n_entries = n_dirs = 0
    visited: set[str] = set()   # real paths of the folders scanned
    root_text = str(root)
    try:
        # (folder, real path, parts below the origin, tokens so far, origin)
        stack: list[tuple[str, str, tuple[str, ...], dict, str]] = []
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
            stack.append((str(top), os.path.realpath(top), (), {}, origin))
        linked: list = []  # symlinked folders: followed after every real folder is scanned
        while stack or linked:
            if cancel is not None and cancel.is_set():
                raise Cancelled("discovery cancelled")
            if not stack:
                item = linked.pop()
                if item[1] in visited:
                    skipped.append((item[0], "symlink to a folder already scanned; not followed"))
                    continue
                stack.append(item)
            folder, real, rel_parts, tokens, origin = stack.pop()
            if real in visited:
                continue
            visited.add(real)
            n_dirs += 1
            reporter.advance(1, folder)
            try:
                with os.scandir(folder) as it:
                    entries = list(it)
            except OSError as exc:
                skipped.append((folder, f"cannot read folder: {exc.strerror or exc}"))
                continue
            n_entries += len(entries)
            subdirs = []
            identities: dict = {}  # task label -> identity, valid when sub+ses come from folders
            folder_has_ids = "sub" in tokens and "ses" in tokens
            for entry in entries:
                name = entry.name
                if name[0] == ".":
                    continue
                try:
                    if entry.is_dir():
                        subdirs.append(entry)
                        continue
                except OSError:
                    pass
                hits = tags_for(name, rel_parts)
                if not hits:
                    continue
                kind = _not_regular(entry)
                if kind:
                    skipped.append((entry.path, f"matches {hits[0][0]!r} but is {kind}"))
                    continue
                file_tokens = parse_tokens(name, tokens)
                ident = identities.get(file_tokens.get("task"))
                if ident is None or not folder_has_ids:
                    ident = identities[file_tokens.get("task")] = _identity(file_tokens)
                subject, session, task = ident
                path = entry.path
                if subject is None or session is None:
                    missing = " and ".join(
                        k for k, v in (("sub-", subject), ("ses-", session)) if v is None
                    )
                    skipped.append((path, f"matches {hits[0][0]!r} but has no {missing} token"))
                    continue
                for tag, priority in hits:
                    rows.append((tag, path, origin, subject, session, task, priority, root_text))
            for entry in subdirs:
                item = (entry.path, real + os.sep + entry.name, rel_parts + (entry.name,),
                        parse_tokens(entry.name, tokens), origin)
                if not entry.is_symlink():
                    stack.append(item)
                    continue
                # only symlinks can make loops: never follow one into an ancestor; the
                # others wait until every real folder is scanned, and a link to a folder
                # scanned already (directly or through another link) is not followed
                sub_real = os.path.realpath(entry.path)
                if real == sub_real or real.startswith(sub_real + os.sep):
                    skipped.append((entry.path, "symlink loop (points to a parent folder); not followed"))
                    continue
                linked.append((item[0], sub_real, *item[2:]))
    finally:
        reporter.close()
    files = pd.DataFrame(rows, columns=FILE_COLUMNS, dtype=object)
    files["priority"] = files["priority"].astype("int64")
    return Discovery(
        root=root,
        files=files,
        skipped=pd.DataFrame(skipped, columns=SKIP_COLUMNS, dtype=object),
        n_entries=n_entries,
        n_dirs=n_dirs,
    )
