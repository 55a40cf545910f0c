"""``validate()`` that re-reads only what changed since the last validation.

Each (cell, source) outcome is stored in the per-user index (:mod:`datakit.index`) with
a fingerprint of everything it depended on:

* the source class, its ``version`` and the version of the distribution it comes from,
  and datakit's version;
* the settings the load ran with;
* the size and ``mtime_ns`` of every file the source reads (``DataSource.inputs``) and
  of every file of the sources it requires (a changed dataqueue re-validates the cell's
  streams timed by it).

A pair whose fingerprint matches reports its stored outcome (``cached=True`` in the
report) without opening a file; the others are loaded again, only they and what they
require.
"""
from __future__ import annotations

import functools
import importlib.metadata
import os
from dataclasses import replace

from . import engine
from . import index as _index


@functools.lru_cache(maxsize=1)
def package_version() -> str:
    """datakit's version, and in a git checkout its commit (code can change between
    releases there)."""
    from .meta import _git_info, get_version

    git = _git_info()
    return f"{get_version()}+{git.get('git_commit', '')}{'.dirty' if git.get('git_dirty') else ''}"


def source_identity(cls) -> str:
    """Class, its ``version`` and its distribution's version: a change re-validates."""
    return (f"{cls.__module__}.{cls.__qualname__}:{getattr(cls, 'version', '')}:"
            f"{_distribution(cls.__module__.split('.', 1)[0])}")


@functools.lru_cache(maxsize=None)
def _distribution(top_module: str) -> str:
    try:
        dists = importlib.metadata.packages_distributions().get(top_module, [])
        return f"{dists[0]}=={importlib.metadata.version(dists[0])}" if dists else ""
    except Exception:  # broken metadata never stops a validation
        return ""


def _closure(tag: str, classes: dict) -> list[str]:
    """``tag`` and everything it requires (transitively), that the cell loads."""
    out, todo = [], [tag]
    while todo:
        current = todo.pop()
        if current in out or current not in classes:
            continue
        out.append(current)
        todo.extend(classes[current].requires)
    return out


class Plan:
    """Which outcomes of ``tasks`` can be reused and which cells must load again."""

    def __init__(self, tasks: list[engine.CellTask], index):
        self.tasks = tasks
        self.index = index
        self.reused: dict[tuple[int, str], engine.LoadOutcome] = {}
        self.fingerprints: dict[tuple[int, str], tuple[str, str]] = {}   # -> (path, fingerprint)
        self.rerun: list[engine.CellTask] = []
        self._stats: dict[str, tuple | None] = {}
        self._build()

    def _stat(self, path: str):
        if path not in self._stats:
            try:
                st = os.stat(path)
                self._stats[path] = (st.st_size, st.st_mtime_ns)
            except OSError:
                self._stats[path] = None
        return self._stats[path]

    def _inputs(self, tag: str, path: str, classes: dict) -> list:
        try:
            files = [os.fspath(p) for p in classes[tag].inputs(path)]
        except Exception:   # a plugin's inputs() failing: just its own file
            files = [path]
        return [(f, self._stat(f)) for f in files]

    def _fingerprint(self, task: engine.CellTask, tag: str) -> str:
        # the path map only says where workers find the files: a run on a cluster reuses
        # (and feeds) the outcomes of local runs
        parts = [package_version(), repr(task.settings.replace(path_map=())), task.mode]
        for dep in sorted(_closure(tag, task.classes)):
            path = task.row.get(dep)
            parts.append([dep, source_identity(task.classes[dep]),
                          self._inputs(dep, str(path), task.classes) if path else None])
        return _index.fingerprint(*parts)

    def _build(self) -> None:
        keys, wanted = [], {}
        for task in self.tasks:
            for tag in task.active:
                path = task.row.get(tag)
                if not path:
                    continue
                fingerprint = self._fingerprint(task, tag)
                self.fingerprints[(task.position, tag)] = (str(path), fingerprint)
                keys.append((tag, str(path)))
                wanted[(tag, str(path))] = wanted.get((tag, str(path)), []) + [(task.position, fingerprint)]
        stored = self.index.validations(keys) if self.index is not None else {}
        for (tag, path), users in wanted.items():
            row = stored.get((tag, path))
            for position, fingerprint in users:
                if row is not None and row[0] == fingerprint:
                    status, error_type, message, traceback = row[1:]
                    self.reused[(position, tag)] = engine.LoadOutcome(
                        tag, status, path, error_type, message, traceback, cached=True)
        for task in self.tasks:
            changed = [t for t in task.active if task.row.get(t) and (task.position, t) not in self.reused]
            if not changed:
                continue
            needed = set()
            for tag in changed:
                needed.update(_closure(tag, task.classes))
            self.rerun.append(replace(task, active=tuple(changed),
                                      order=tuple(t for t in task.order if t in needed)))

    def merge(self, fresh: list[engine.CellResult]) -> list[engine.CellResult]:
        """Every task's outcomes, in its ``active`` order: reused, fresh or missing."""
        by_position = {r.position: r for r in fresh}
        out = []
        for task in self.tasks:
            result = by_position.get(task.position)
            new = {o.tag: o for o in result.outcomes} if result is not None else {}
            merged = engine.CellResult(task.position)
            for tag in task.active:
                outcome = self.reused.get((task.position, tag)) or new.get(tag)
                if outcome is None:     # no file: nothing to load, nothing to store
                    outcome = engine.LoadOutcome(tag, engine.STATUS_MISSING, None)
                merged.outcomes.append(outcome)
            out.append(merged)
        return out

    def store(self, fresh: list[engine.CellResult]) -> None:
        rows = []
        for result in fresh:
            for outcome in result.outcomes:
                known = self.fingerprints.get((result.position, outcome.tag))
                if known is None or outcome.path is None or outcome.status == engine.STATUS_MISSING \
                        or outcome.transient:   # a worker died or could not see the file
                    continue
                path, fingerprint = known
                rows.append((outcome.tag, path, fingerprint, outcome.status, outcome.error_type,
                             outcome.message, outcome.traceback))
        if self.index is not None:
            self.index.put_validations(rows)
