"""The demo's records of what should exist: ``datakit.toml`` and ``manifest.json``.

The protocol declares the widefield and gratings recordings (the sources a complete
session of each has) and asks every (subject, session) for all generated tasks.  Movies
are left undeclared on purpose, so the demo also shows the other two rules: a movies
file listed in the manifest and deleted afterwards is missing by the manifest, and the
rest of a movies session is judged by inference.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..protocol import PROTOCOL_FILE, Protocol
from ._util import write_text
from .layout import TASK_TAGS

DECLARED_TASKS = ("widefield", "gratings")
MANIFEST_FILE = "manifest.json"
DELETED_REASON = "deleted from the shared drive after manifest.json was written"


def protocol_for(tasks) -> Protocol:
    declared = {f"task-{t}": TASK_TAGS[t] for t in tasks if t in DECLARED_TASKS}
    return Protocol(declared, tuple(f"task-{t}" for t in tasks))


def write_protocol(root: Path, tasks) -> Path:
    path = Path(root) / PROTOCOL_FILE
    protocol_for(tasks).write(path)
    return path


def write_manifest(root: Path, cells) -> Path:
    """``manifest.json`` in the earlier implementation's layout, listing every file
    discovery finds in ``cells`` (a list of :class:`~datakit.demo.SessionFiles`)."""
    root = Path(root)
    entries = []
    for cell in cells:
        for tag, path in sorted(cell.paths.items()):
            rel = Path(path).relative_to(root).as_posix()
            entries.append({"tag": tag, "path": rel, "origin": rel.split("/", 1)[0],
                            "subject": cell.subject, "session": cell.session, "task": cell.task})
    entries.sort(key=lambda e: (e["tag"], e["path"]))
    summary = {
        # "." (this folder), not an absolute path: a seed gives the same bytes anywhere
        "root": ".", "total_files": len(entries),
        "subjects": sorted({e["subject"] for e in entries}),
        "sessions": sorted({e["session"] for e in entries}),
        "tasks": sorted({e["task"] for e in entries}),
        "tags": sorted({e["tag"] for e in entries}),
    }
    path = root / MANIFEST_FILE
    write_text(path, json.dumps({"summary": summary, "entries": entries}, indent=2))
    return path


def file_to_delete(cells):
    """(cell, tag) of the listed file the demo deletes: one of an undeclared task when
    there is one (so the manifest is what notices it), else of the last cell."""
    if not cells:
        return None
    undeclared = [c for c in cells if c.task[len("task-"):] not in DECLARED_TASKS]
    pool = undeclared or cells
    cell = pool[2 % len(pool)]
    for tag in ("psychopy", "notes", "session_config"):
        if tag in cell.paths:
            return cell, tag
    return cell, sorted(cell.paths)[-1]
