"""The lab's ``manifest.json``: the files an earlier discovery listed at an experiment root.

The earlier implementation wrote ``{"summary": {...}, "entries": [{tag, path, origin,
subject, session, task}, ...]}`` with ``path`` relative to the root.  A listed file that
no longer exists is how a file deleted from a shared drive gets noticed.

An entry is placed by its file name through the registered sources' patterns (older
manifests say ``config`` for ``session_config``); its ``tag`` only decides between
sources that share a pattern, or places a name no pattern matches.  Identities come from
the path's ``sub-``/``ses-``/``task-`` tokens, as discovery reads them, else from the
entry's fields.  Odd entries are skipped with one :class:`ExpectationWarning`.
"""
from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import pandas as pd

from .protocol import ExpectationWarning

MANIFEST_FILE = "manifest.json"
MANIFEST_COLUMNS = ["Subject", "Session", "Task", "Source", "path"]
#: tags of the earlier implementations and what they are called now
TAG_ALIASES = {"config": "session_config"}
_LABEL = re.compile(r"^[A-Za-z0-9]+$")
_SHOWN_PROBLEMS = 3


def empty_manifest() -> pd.DataFrame:
    return pd.DataFrame(columns=MANIFEST_COLUMNS, dtype=object)


def read_manifest(root, registry) -> pd.DataFrame:
    """Entries of ``root/manifest.json``: one row per (cell, source) listed.

    ``path`` is absolute (root + the listed relative path).  Whether the file is still
    there is discovery's answer (the inventory), not looked up again.  No manifest: an
    empty frame.  A manifest that is not JSON, or
    not the layout above, is an ExpectationWarning and an empty frame.
    """
    root = Path(root)
    path = root / MANIFEST_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return empty_manifest()
    except OSError as exc:
        _warn(path, f"cannot be read ({exc.strerror or exc}); it is not used")
        return empty_manifest()
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        _warn(path, f"is not valid JSON ({exc}); it is not used")
        return empty_manifest()
    entries = data.get("entries") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        _warn(path, "has no list of entries (expected {\"entries\": [{\"tag\", \"path\", ...}]}); "
                    "it is not used")
        return empty_manifest()
    from .discovery import ORIGINS
    from .naming import PatternIndex, identity_from_path

    tags_for = PatternIndex(registry).tags_for
    root_text = str(root).rstrip("/") or "/"
    rows, problems = [], []
    for number, entry in enumerate(entries):
        placed = _place(entry, root_text, registry, tags_for, ORIGINS, identity_from_path)
        if isinstance(placed, str):
            problems.append(f"entry {number}: {placed}")
        else:
            rows.append(placed)
    if problems:
        shown = "; ".join(problems[:_SHOWN_PROBLEMS])
        more = f" (and {len(problems) - _SHOWN_PROBLEMS} more)" if len(problems) > _SHOWN_PROBLEMS else ""
        _warn(path, f"{len(problems)} of {len(entries)} entries skipped: {shown}{more}")
    if not rows:
        return empty_manifest()
    frame = pd.DataFrame(rows, columns=MANIFEST_COLUMNS, dtype=object)
    return frame.drop_duplicates(subset=["Subject", "Session", "Task", "Source"], keep="first")


def _place(entry, root_text: str, registry, tags_for, origins, identity_from_path):
    """(Subject, Session, Task, Source, path) of one entry, or why it is skipped."""
    if not isinstance(entry, dict):
        return f"not an object ({type(entry).__name__})"
    rel = entry.get("path")
    if not isinstance(rel, str) or not rel.strip():
        return "no 'path'"
    rel = rel.strip().replace("\\", "/")
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if rel.startswith("/") or (len(rel) > 1 and rel[1] == ":") or ".." in parts:
        return f"path {rel!r} is not relative to the experiment root"
    if len(parts) < 2 or parts[0] not in origins:
        return f"path {rel!r} is not under {' or '.join(o + '/' for o in origins)}"
    tag = entry.get("tag")
    tag = TAG_ALIASES.get(tag, tag) if isinstance(tag, str) else None
    hits = [t for t, _ in sorted(tags_for(parts[-1], tuple(parts[1:-1])), key=lambda h: h[1])]
    if tag in hits:
        source = tag
    elif hits:
        source = hits[0]
    elif tag in registry:
        source = tag
    else:
        return f"{parts[-1]!r} matches no registered source (tag {entry.get('tag')!r})"
    subject, session, task = identity_from_path("/".join(parts))
    subject = subject or _field(entry, "subject", "sub-")
    session = session or (("ses-" + s) if (s := _field(entry, "session", "ses-")) else None)
    if task == "task-session" and (t := _field(entry, "task", "task-")):
        task = "task-" + t
    if not subject or not session:
        return f"{rel!r} has no sub-/ses- token and no subject/session fields"
    return (subject, session, task, source, root_text + "/" + "/".join(parts))


def _field(entry: dict, name: str, prefix: str) -> str | None:
    value = entry.get(name)
    if not isinstance(value, str):
        return None
    value = value[len(prefix):] if value.startswith(prefix) else value
    return value if _LABEL.match(value) else None


def _warn(path, message: str) -> None:
    warnings.warn(f"{path}: {message}", ExpectationWarning, stacklevel=4)
