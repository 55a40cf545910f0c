"""File names -> sources and identities: the patterns of the registered sources and the
``sub-``/``ses-``/``task-`` tokens, for one name (:meth:`PatternIndex.tags_for`,
:func:`parse_tokens`) or for every name a walk listed at once (:func:`match_names`,
:func:`identities`), which is what keeps discovery's per-file work small.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

DEFAULT_TASK = "task-session"
# a key glued to any letter or digit (also non-ASCII: "cafétask-x", "¹sub-0") is not a
# token; keys are matched case-insensitively by spelling (re.IGNORECASE would also take
# the Kelvin sign for k, the long s for s); labels are ASCII letters and digits
_TOKEN = re.compile(r"(?<![^\W_])([sS][uU][bB]|[sS][eE][sS]|[tT][aA][sS][kK])-([A-Za-z0-9]+)")
_TASK = re.compile(r"(?<![^\W_])[tT][aA][sS][kK]-([A-Za-z0-9]+)")


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
        return self.name_matches(name) and self.path_matches(name, rel_parts)

    def name_matches(self, name: str) -> bool:
        if self.literal_tail is not None:
            return name.endswith(self.literal_tail)
        return self.name_regex.fullmatch(name) is not None

    def path_matches(self, name: str, rel_parts: tuple[str, ...]) -> bool:
        """The pattern's folders (true when it names none)."""
        return self.path_regex is None or self.path_regex.fullmatch("/".join(rel_parts + (name,))) is not None


@dataclass
class _KeyPlan:
    """What the names sharing one key (their part from the last ``_`` on) can match."""

    exact: list          # users every such name matches: the key is their literal tail
    partial: list        # (tail, users): longer tails ending with the key, tested per name
    ext: list            # matchers for the key's extension, tested per name
    ext_per_name: bool   # the extension lies before the key: looked up per name


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
        self._plans: dict[str, _KeyPlan | None] = {}
        self._strippable: dict[str, bool] = {}
        self._ext_has_underscore = any("_" in ext for ext in self.by_ext)

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

    def plan(self, key: str) -> _KeyPlan | None:
        """What a name whose part after its last ``_`` (the whole name when it has none)
        is ``key`` can match; None: nothing.  ``exact`` users apply only to names that
        do have a ``_`` before the key."""
        plan = self._plans.get(key, False)
        if plan is not False:
            return plan
        exact, partial = [], []
        for tail, users in self.by_key.get(key, ()):
            if tail == "_" + key:
                exact.extend(users)
            else:                # a longer tail that ends with "_" + key
                partial.append((tail, users))
        ext, per_name = [], False
        if "." in key:
            ext = self.by_ext.get(key.rpartition(".")[2], [])
        elif self._ext_has_underscore:
            per_name = True      # "a.b_c": the extension "b_c" starts before the key
        # (a name with no "." matches no extension's pattern: each holds a literal ".")
        plan = _KeyPlan(exact, partial, ext, per_name) if exact or partial or ext or per_name else None
        self._plans[key] = plan
        return plan

    def strippable(self, tail: str) -> bool:
        """Can ``tail`` be cut off a name without changing its tokens?  Yes when it holds
        none and starts with ``_`` or ``.`` (so no token runs across the cut)."""
        known = self._strippable.get(tail)
        if known is None:
            known = self._strippable[tail] = tail[:1] in ("_", ".") and _TOKEN.search(tail) is None
        return known

    def match_names(self, names: list[str], folder_of: np.ndarray, rel_parts: list[tuple]) -> "Hits":
        """Every (name, source) match of ``names`` at once; the same matches as
        :meth:`tags_for` on each name, with far less work per name.

        ``folder_of[i]`` is the folder of ``names[i]``, an index into ``rel_parts`` (the
        folder's parts below ``data/`` or ``processed/``, for patterns that span folders).
        Names are grouped by their key (the part after the last ``_``): the plan of
        each distinct key is made once, and most keys are literal tails that every name
        of the group matches.
        """
        found = _HitBuilder()
        if not names:
            return found.hits(np.zeros(0, dtype=np.int64))
        keys = np.array([s.rpartition("_")[2] for s in names], dtype=object)
        codes, uniques = pd.factorize(keys)
        unique = uniques.tolist()
        key_len = np.array([len(key) for key in unique], dtype=np.int64)[codes]
        underscore = np.fromiter(map(len, names), dtype=np.int64, count=len(names)) > key_len
        # a key with no "-" holds no token, nor does a matched tail (strippable): the rest
        # of the name identifies the recording
        no_dash = np.array(["-" not in key for key in unique], dtype=bool)[codes]
        strip = np.where(underscore & no_dash, key_len + 1, 0)
        plans = [self.plan(key) for key in unique]
        if any(plan is not None for plan in plans):
            order = np.argsort(codes, kind="stable")
            bounds = np.zeros(len(unique) + 1, dtype=np.int64)
            np.cumsum(np.bincount(codes, minlength=len(unique)), out=bounds[1:])
            for j, plan in enumerate(plans):
                if plan is None:
                    continue
                members = order[bounds[j]:bounds[j + 1]]
                if plan.exact:
                    tail = "_" + unique[j]
                    exact = members[underscore[members]]
                    for user in plan.exact:
                        found.add(exact, user)
                    if self.strippable(tail):
                        strip[exact] = len(tail)
                for tail, users in plan.partial:
                    hit = members[np.fromiter((names[i].endswith(tail) for i in members.tolist()),
                                              dtype=bool, count=len(members))]
                    for user in users:
                        found.add(hit, user)
                    if self.strippable(tail):
                        strip[hit] = np.maximum(strip[hit], len(tail))
                for matcher in plan.ext:
                    found.add_matcher(matcher, members, names, folder_of, rel_parts)
                if plan.ext_per_name:
                    for i in members.tolist():
                        for matcher in self.by_ext.get(names[i].rpartition(".")[2], ()):
                            found.add_matcher(matcher, np.array([i]), names, folder_of, rel_parts)
        everyone = None
        for matcher in self.other:
            if everyone is None:
                everyone = np.arange(len(names))
            found.add_matcher(matcher, everyone, names, folder_of, rel_parts)
        return found.hits(strip)


@dataclass
class Hits:
    """Matches of a batch of names: one entry per (name, source, pattern) match."""

    name: np.ndarray       # int64: index of the name in the batch
    tag: np.ndarray        # object: the source's tag
    priority: np.ndarray   # int64: index of the pattern in the source's patterns
    strip: np.ndarray      # int64, per name of the batch: trailing characters with no token


class _HitBuilder:
    def __init__(self):
        self.users: dict[tuple, int] = {}
        self.names: list[np.ndarray] = []
        self.ids: list[np.ndarray] = []

    def add(self, members: np.ndarray, user: tuple) -> None:
        if len(members):
            uid = self.users.setdefault(user, len(self.users))
            self.names.append(members)
            self.ids.append(np.full(len(members), uid, dtype=np.int64))

    def add_matcher(self, matcher, members, names, folder_of, rel_parts) -> None:
        """``matcher`` tested on each member (a name's own test made once per name)."""
        seen: dict[str, bool] = {}
        ok = []
        for i in members.tolist():
            name = names[i]
            good = seen.get(name)
            if good is None:
                good = seen[name] = matcher.name_matches(name)
            if good and matcher.path_matches(name, rel_parts[folder_of[i]]):
                ok.append(i)
        for user in matcher.users:
            self.add(np.asarray(ok, dtype=np.int64), user)

    def hits(self, strip: np.ndarray) -> Hits:
        if not self.names:
            return Hits(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=object), np.zeros(0, dtype=np.int64), strip)
        users = list(self.users)
        tags = np.array([tag for tag, _ in users], dtype=object)
        priorities = np.array([priority for _, priority in users], dtype=np.int64)
        ids = np.concatenate(self.ids)
        return Hits(np.concatenate(self.names).astype(np.int64, copy=False), tags[ids], priorities[ids], strip)


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




def _token_text(prefix: str) -> str:
    """The part of ``prefix`` its tokens come from: a token starts at most five characters
    before the first ``-`` (``task`` and the character before it) and ends before the
    first ``_`` after the last ``-`` (a label holds no ``_``).  So a recording's date
    stamp and kind are cut off, and one parse serves every file of a cell."""
    first = prefix.find("-")
    if first < 0:
        return ""
    end = prefix.find("_", prefix.rfind("-"))
    return prefix[max(first - 5, 0):end] if end >= 0 else prefix[max(first - 5, 0):]


@dataclass
class Identities:
    """subject, session and task of a batch of names (object arrays; None: no token),
    and which names are hidden (start with ``.``: not files of the experiment)."""

    subject: np.ndarray
    session: np.ndarray
    task: np.ndarray
    hidden: np.ndarray
    placed: np.ndarray     # bool: has both a subject and a session


class _Codes:
    """sub/ses/task labels -> small integers (-1: no such token)."""

    def __init__(self):
        self.labels: tuple[dict, dict, dict] = ({}, {}, {})

    def of(self, tokens: dict) -> tuple[int, int, int]:
        sub, ses, task = self.labels
        return (sub.setdefault(tokens["sub"], len(sub)) if "sub" in tokens else -1,
                ses.setdefault(tokens["ses"], len(ses)) if "ses" in tokens else -1,
                task.setdefault(tokens["task"], len(task)) if "task" in tokens else -1)

    def parse(self, text: str) -> tuple[int, int, int]:
        found: dict = {}
        for key, label in _TOKEN.findall(text):
            key = key.lower()
            if key not in found:
                found[key] = label
        return self.of(found)

    def parse_task(self, text: str) -> tuple[int, int, int]:
        """Only the task (the folders give subject and session)."""
        found = _TASK.search(text)
        if found is None:
            return -1, -1, -1
        task = self.labels[2]
        return -1, -1, task.setdefault(found.group(1), len(task))

    def columns(self, chosen: np.ndarray) -> list[np.ndarray]:
        out = []
        for k, (make, absent) in enumerate(((str, None), ("ses-{}".format, None),
                                            ("task-{}".format, DEFAULT_TASK))):
            labels = np.array([make(label) for label in self.labels[k]] + [absent], dtype=object)
            out.append(labels[chosen[:, k]])      # -1 picks the last: absent
        return out


def identities(names: np.ndarray, strip: np.ndarray, folder_of: np.ndarray,
               folder_tokens: list[dict]) -> Identities:
    """The identity of each name, as ``_identity(parse_tokens(name, folder_tokens))``.

    ``strip[i]`` is how many trailing characters of ``names[i]`` hold no token (0: keep
    all); what is left is shared by the files of one recording and parsed once, from
    the part that can hold tokens (:func:`_token_text`).  A name is only asked for the
    keys its folders do not give (in a ``sub-X/ses-Y/`` tree: the task).
    """
    codes = _Codes()
    by_folder: dict[int, tuple] = {}
    folder_rows = []
    for tokens in folder_tokens:              # folders sharing one token dict: coded once
        row = by_folder.get(id(tokens))
        if row is None:
            row = by_folder[id(tokens)] = codes.of(tokens)
        folder_rows.append(row)
    from_folder = np.array(folder_rows, dtype=np.int64).reshape(-1, 3)[folder_of]
    prefixes = np.array([s[:-n] or s for s, n in zip(names.tolist(), strip.tolist())], dtype=object)
    prefix_codes, unique = pd.factorize(prefixes)
    whole = np.zeros(len(unique), dtype=bool)     # some name of it needs more than its task
    whole[prefix_codes[(from_folder[:, :2] < 0).any(axis=1)]] = True
    parsed: tuple[dict, dict] = ({}, {})
    rows, hidden = [], []
    for prefix, full in zip(unique.tolist(), whole.tolist()):
        text = _token_text(prefix)
        row = parsed[full].get(text)
        if row is None:
            row = parsed[full][text] = codes.parse(text) if full else codes.parse_task(text)
        rows.append(row)
        hidden.append(prefix[0] == ".")
    from_name = np.array(rows, dtype=np.int64).reshape(-1, 3)[prefix_codes]
    chosen = np.where(from_folder >= 0, from_folder, from_name)   # the folders' tokens come first
    return Identities(*codes.columns(chosen), np.array(hidden, dtype=bool)[prefix_codes],
                      (chosen[:, 0] >= 0) & (chosen[:, 1] >= 0))
