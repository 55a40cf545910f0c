"""From experiment roots to the inventory, through the per-user index when there is one.

:func:`discover` walks each root (:mod:`datakit.discovery`), resolves the files into the
inventory (:mod:`datakit.inventory`) and says what was skipped.  With an index
(:mod:`datakit.index`), a root whose recorded folders all kept their mtime is not walked
at all: one ``stat`` per folder (and per file a source looked into) proves nothing was
added, removed or renamed, and the finished result of the last open with the same
options is read back.  Otherwise only the changed folders are listed again.
"""
from __future__ import annotations

import gc
import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import index as _index
from .discovery import walk, _experiment_root
from .naming import PatternIndex
from .inventory import CONFLICT_COLUMNS, INDEX_NAMES, build_inventory, empty_inventory
from .sources.registry import dependency_order

SKIPPED_COLUMNS = ["root", "path", "reason"]
RESULT_VERSION = 1


@dataclass
class Scan:
    roots: list            # resolved, duplicates removed
    inventory: pd.DataFrame
    conflicts: pd.DataFrame
    skipped: pd.DataFrame
    from_cache: bool = False


def resolve_roots(root) -> list[Path]:
    """One path or several, checked and resolved; a root given twice is used once."""
    roots = [root] if isinstance(root, (str, os.PathLike)) else list(root)
    if not roots:
        raise ValueError("at least one root is required")
    out: list[Path] = []
    for candidate in roots:
        if not isinstance(candidate, (str, os.PathLike)):
            raise TypeError(f"a root must be a path, got {type(candidate).__name__}")
        resolved = _experiment_root(candidate)
        if resolved in out:
            warnings.warn(f"root {resolved} given twice; using it once", UserWarning, stacklevel=4)
            continue
        out.append(resolved)
    return out


def discover(roots: list[Path], registry: dict, **options) -> Scan:
    """Walk ``roots`` (resolved) and build the inventory; see the module doc for ``index``.

    Python's cyclic garbage collector is paused meanwhile: discovery makes tens of
    thousands of small containers that live until it ends and never form a cycle, and a
    full collection triggered by them walks every object of the process (0.03 s of a
    cold open of 100,000 files).  Reference counting still frees everything as usual.
    """
    with _collector_paused():
        return _discover(roots, registry, **options)


@contextmanager
def _collector_paused():
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def _discover(roots: list[Path], registry: dict, *, sources=None, prefer_processed=True,
              include_task_level=True, progress=False, cancel=None, index=None) -> Scan:
    wanted = None if sources is None else set(dependency_order(
        [sources] if isinstance(sources, str) else list(sources), registry))
    key = None
    if index is not None and all(_index.storable(str(r)) for r in roots):
        key = _index.fingerprint("discovery", RESULT_VERSION, [str(r) for r in roots],
                                 PatternIndex(registry).fingerprint, sorted(wanted or ()),
                                 wanted is None, bool(prefer_processed), bool(include_task_level))
        cached = _reuse(index, key, roots, registry, include_task_level)
        if cached is not None:
            return cached
    found = [walk(r, registry, progress=progress, cancel=cancel, index=index) for r in roots]
    if len(found) == 1:
        files = found[0].files
        files["root_rank"] = 0
    else:
        files = pd.concat([d.files.assign(root_rank=i) for i, d in enumerate(found)], ignore_index=True)
    if wanted is not None:
        files = files[files["tag"].isin(wanted)]
    looked: list = []
    inventory, conflicts = build_inventory(
        files, registry, prefer_processed=prefer_processed, include_task_level=include_task_level,
        index=index, looked=looked)
    skipped = pd.concat([d.skipped.assign(root=str(d.root))[SKIPPED_COLUMNS] for d in found],
                        ignore_index=True).astype(object)
    scan = Scan(roots, inventory, conflicts, skipped)
    if key is not None:
        payload = _payload(scan, looked, index)
        if payload is not None:
            index.put_result(key, payload)
    return scan


# a re-open of an unchanged tree --------------------------------------------------------
#
# The stored result carries what it depends on: every folder of the roots with its mtime,
# and every file a source looked into with its size and mtime.  Long lists travel as one
# NUL-joined string and int64 bytes (no file name holds a NUL), which decode in
# milliseconds where a list of 100,000 strings would not.

_SEP = "\0"


def _reuse(index, key: str, roots: list[Path], registry: dict, include_task_level: bool):
    """The stored result, when every folder and looked-into file is as it was; else None."""
    payload = index.result(key)
    if not isinstance(payload, dict) or payload.get("v") != RESULT_VERSION:
        return None
    try:
        folders = _split(payload["folders"])
        mtimes = np.frombuffer(payload["mtimes"], dtype=np.int64)
        looked = _split(payload["looked"])
        stats = np.frombuffer(payload["looked_stats"], dtype=np.int64).reshape(-1, 2)
    except (KeyError, TypeError, ValueError):
        return None
    if len(folders) != len(mtimes) or len(looked) != len(stats) or not folders:
        return None
    if not _same_mtimes(folders, mtimes) or not _same_files(looked, stats):
        return None
    for root in roots:   # data/ and processed/ appearing or vanishing
        for origin in ("data", "processed"):
            top = os.path.join(str(root), origin)
            if os.path.isdir(top) != (top in set(folders)):
                return None
    return Scan(roots, _inventory_from(payload, include_task_level),
                _frame_from(payload["conflicts"], CONFLICT_COLUMNS),
                _frame_from(payload["skipped"], SKIPPED_COLUMNS), from_cache=True)


def _split(text: str) -> list[str]:
    return text.split(_SEP) if text else []


def _same_mtimes(paths: list[str], mtimes: np.ndarray) -> bool:
    stat = os.stat
    for path, mtime_ns in zip(paths, mtimes.tolist()):
        try:
            if stat(path).st_mtime_ns != mtime_ns:
                return False
        except OSError:
            return False
    return True


def _same_files(paths: list[str], stats: np.ndarray) -> bool:
    stat = os.stat
    for path, (size, mtime_ns) in zip(paths, stats.tolist()):
        try:
            st = stat(path)
        except OSError:
            return False
        if st.st_size != size or st.st_mtime_ns != mtime_ns:
            return False
    return True


def _payload(scan: Scan, looked: list, index) -> dict | None:
    """What a later open needs to trust and rebuild this result (None: not storable)."""
    folders, mtimes = [], []
    for root in scan.roots:
        for path, (mtime_ns, scanned_ns, _) in index.folder_states(str(root) + os.sep).items():
            if mtime_ns >= scanned_ns - _index.RACY_NS:
                return None          # changed while it was listed: list it again next time
            folders.append(path)
            mtimes.append(mtime_ns)
    inv = scan.inventory
    values = inv.to_numpy(dtype=object).ravel()
    values = np.where(pd.isna(values), "", values)    # a path, or nothing
    parts = np.column_stack([inv.index.get_level_values(i).to_numpy(dtype=object)
                             for i in range(inv.index.nlevels)]).ravel() if len(inv) else []
    return {
        "v": RESULT_VERSION,
        "folders": _SEP.join(folders), "mtimes": np.asarray(mtimes, dtype=np.int64).tobytes(),
        "looked": _SEP.join(p for p, _, _ in looked),
        "looked_stats": np.asarray([(s, m) for _, s, m in looked], dtype=np.int64).reshape(-1, 2).tobytes(),
        "depth": inv.index.nlevels, "n_cells": len(inv),
        "cells": _SEP.join(map(str, parts)),
        "columns": [str(c) for c in inv.columns],
        "values": _SEP.join(values.tolist()),
        "conflicts": _records(scan.conflicts, CONFLICT_COLUMNS),
        "skipped": _records(scan.skipped, SKIPPED_COLUMNS),
    }


def _records(frame: pd.DataFrame, columns: list[str]) -> list:
    return [[None if (isinstance(v, float) and np.isnan(v)) else v for v in row]
            for row in frame.reindex(columns=columns).to_numpy(dtype=object).tolist()]


def _frame_from(rows: list, columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns, dtype=object) if rows else \
        pd.DataFrame(columns=columns, dtype=object)


def _inventory_from(data: dict, include_task_level: bool) -> pd.DataFrame:
    n, depth = data["n_cells"], data["depth"]
    if not n:
        return empty_inventory(include_task_level)
    parts = np.array(_split(data["cells"]), dtype=object).reshape(n, depth)
    index = pd.MultiIndex.from_arrays([parts[:, i] for i in range(depth)],
                                      names=list(INDEX_NAMES[:depth]))
    columns = data["columns"]
    values = np.array(_split(data["values"]), dtype=object).reshape(n, len(columns))
    values[values == ""] = np.nan
    return pd.DataFrame(values, index=index, columns=pd.Index(columns, dtype=object), dtype=object)
