"""The path map: where Dask workers find the files this machine discovered.

A rig records onto a Windows share (``Z:\\lab``); the cluster mounts the same share at
``/mnt/lab``.  Discovery runs where the experiment was opened and names files as that
machine sees them; a rule ``Z:/lab=/mnt/lab`` rewrites those names in each cell task
sent to a Dask worker (and nowhere else: local runs read the paths as discovered).

Rules (``FROM=TO``):

* both sides are absolute paths (a drive ``Z:/...``, a share ``//server/share`` or
  ``\\\\server\\share``, or ``/...``); the first ``=`` separates them;
* ``FROM`` matches whole path components (``Z:/lab`` matches ``Z:/lab/data/x.csv``, not
  ``Z:/lab2/x.csv``); ``/`` and ``\\`` are the same separator, and a Windows ``FROM``
  (drive or share) matches regardless of case, as Windows does;
* the longest matching ``FROM`` wins; the rest of the path is appended to ``TO`` with
  ``TO``'s separator (``\\`` when ``TO`` is spelled with backslashes, else ``/``).

:func:`parse` accepts the forms users write: ``"Z:/lab=/mnt/lab"``, a sequence of
such strings, a mapping ``{"Z:/lab": "/mnt/lab"}`` or ``(FROM, TO)`` pairs.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

_DRIVE = re.compile(r"^[A-Za-z]:([/\\]|$)")

EXAMPLE = "'Z:/lab=/mnt/lab'"


class PathMapError(ValueError):
    """A path map that is malformed or does not fit the paths (or the workers)."""


def _is_windows(path: str) -> bool:
    return bool(_DRIVE.match(path)) or path.startswith(("\\\\", "//"))


def _is_absolute(path: str) -> bool:
    return _is_windows(path) or path.startswith(("/", "\\"))


def _slashes(path: str) -> str:
    return path.replace("\\", "/")


def _trim(path: str) -> str:
    """Without trailing separators (``/`` itself becomes ``""``, matching every ``/...``)."""
    return _slashes(path).rstrip("/")


def parse_rule(text) -> tuple[str, str]:
    """``"FROM=TO"`` (or a ``(FROM, TO)`` pair) as a checked pair."""
    if isinstance(text, (tuple, list)) and len(text) == 2:
        source, target = (str(text[0]).strip(), str(text[1]).strip())
        shown = f"{source}={target}"
    elif isinstance(text, str):
        shown = text
        if "=" not in text:
            raise PathMapError(f"path map rule {text!r} has no '=': write FROM=TO, e.g. {EXAMPLE}")
        source, target = (part.strip() for part in text.split("=", 1))
    else:
        raise PathMapError(f"a path map rule is a string FROM=TO (e.g. {EXAMPLE}) or a "
                           f"(FROM, TO) pair, got {text!r}")
    if not source:
        raise PathMapError(f"path map rule {shown!r}: FROM (before '=') is empty; "
                           f"write FROM=TO, e.g. {EXAMPLE}")
    if not target:
        raise PathMapError(f"path map rule {shown!r}: TO (after '=') is empty; "
                           f"write FROM=TO, e.g. {EXAMPLE}")
    for side, value in (("FROM", source), ("TO", target)):
        if not _is_absolute(value):
            raise PathMapError(
                f"path map rule {shown!r}: {side} {value!r} is not an absolute path (a drive "
                "such as Z:/lab, a share such as //server/lab, or /mnt/lab)")
    return source, target


def parse(value) -> tuple[tuple[str, str], ...]:
    """Any accepted spelling of a path map as a tuple of ``(FROM, TO)`` pairs."""
    if value is None:
        return ()
    if isinstance(value, str):
        items: Iterable = [value]
    elif isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, Iterable):
        items = list(value)
    else:
        raise PathMapError(f"a path map is 'FROM=TO', a list of them or a dict, got "
                           f"{type(value).__name__}")
    rules = tuple(parse_rule(item) for item in items)
    seen: dict[str, str] = {}
    for source, target in rules:
        key = _key(source)
        if key in seen and seen[key] != target:
            raise PathMapError(f"path map maps {source!r} twice (to {seen[key]!r} and {target!r})")
        seen[key] = target
    return tuple(dict.fromkeys(rules))


def _key(source: str) -> str:
    trimmed = _trim(source)
    return trimmed.lower() if _is_windows(source) else trimmed


def describe(rules) -> str:
    return ", ".join(f"{source}={target}" for source, target in rules) or "(none)"


class PathMap:
    """Compiled rules: :meth:`apply` maps one path (None when no rule matches)."""

    def __init__(self, rules):
        self.rules = parse(rules)
        # longest FROM first, so Z:/lab/raw=... wins over Z:/lab=...
        self._compiled = sorted(
            ((_trim(s), _is_windows(s), t) for s, t in self.rules), key=lambda r: -len(r[0]))

    def __bool__(self) -> bool:
        return bool(self.rules)

    def apply(self, path) -> str | None:
        text = _slashes(str(path))
        for prefix, fold, target in self._compiled:
            head = text[: len(prefix)]
            if (head.lower() == prefix.lower()) if fold else (head == prefix):
                rest = text[len(prefix):]
                if rest and not rest.startswith("/"):
                    continue       # Z:/lab must not match Z:/lab2
                if "\\" in target and "/" not in target:
                    rest = rest.replace("/", "\\")
                return target.rstrip("/\\") + rest if rest else target
        return None
