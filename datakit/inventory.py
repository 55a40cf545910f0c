"""From discovered files to the inventory: one row per cell, one column per source.

When several files claim one (cell, source), one rule picks the file, the same way
every time, and every file that lost is listed in ``conflicts`` with the reason:

1. several roots: the root given first wins;
2. ``prefer_processed=True``: a file under ``processed/`` beats one under ``data/``
   (``False``: the other way round);
3. the source's earlier pattern wins (treadmill: the dataqueue's encoder packets beat
   a treadmill CSV, which beats ``*_treadmill_data.csv``);
0. (before all) a file that exists beats a dangling symlink;
4. otherwise the file whose *name* sorts last wins: names start with the recording's
   ``YYYYMMDD_HHMMSS`` stamp, so that is the latest recording (full path breaks ties).
   With ``include_task_level=False`` this also picks between the tasks of a session.

A source that must look inside a file to know it is its own (``DataSource.claims``) is
asked only about the file that would win, then the next one, and so on.
"""
from __future__ import annotations

import os

import numpy as np
import pandas as pd

from .sources.base import DataSource

INDEX_NAMES = ("Subject", "Session", "Task")
CONFLICT_COLUMNS = ["Subject", "Session", "Task", "Source", "kept", "dropped", "reason"]


def empty_inventory(include_task_level: bool = True) -> pd.DataFrame:
    names = list(INDEX_NAMES if include_task_level else INDEX_NAMES[:2])
    index = pd.MultiIndex.from_tuples([], names=names)
    return pd.DataFrame(index=index, dtype=object)


def _claims_overridden(cls) -> bool:
    return getattr(cls.claims, "__func__", None) is not DataSource.claims.__func__


def build_inventory(files: pd.DataFrame, registry: dict, *, prefer_processed: bool = True,
                    include_task_level: bool = True, index=None,
                    looked: list | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Resolve ``files`` (discovery rows, with a ``root_rank`` column) into the inventory.

    Returns ``(inventory, conflicts)``.  Vectorised: only (cell, source) pairs claimed by
    several files are ranked, and ``claims`` is asked once per candidate file (through
    ``index``, a :class:`datakit.index.Index`, when given: an unchanged file is not
    looked into again); ``looked`` collects ``(path, size, mtime_ns)`` of those files.
    """
    keys = ["subject", "session", "task"] if include_task_level else ["subject", "session"]
    if files.empty:
        return empty_inventory(include_task_level), pd.DataFrame(columns=CONFLICT_COLUMNS, dtype=object)
    f = _ranked(files, keys, prefer_processed)
    f = _drop_declined(f, keys, registry, index, looked)
    first = _first_of_group(f["_pair"].to_numpy())
    winners = f[first]
    losers = f[~first]
    return _wide(winners, keys), _describe_conflicts(winners, losers, keys, prefer_processed)


def _codes(f: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """One int64 code per row for the combination of ``columns``, ordered like a sort of
    those columns."""
    combined = np.zeros(len(f), dtype=np.int64)
    for column in columns:
        codes, uniques = pd.factorize(f[column].to_numpy(dtype=object), sort=True)
        combined = combined * (len(uniques) + 1) + codes
    return combined


def _first_of_group(codes: np.ndarray) -> np.ndarray:
    """True at the first row of each code (rows are in preference order)."""
    return ~pd.Series(codes).duplicated().to_numpy()


def _ranked(files: pd.DataFrame, keys: list[str], prefer_processed: bool) -> pd.DataFrame:
    """The rows, each (cell, source)'s candidates in preference order (rules in the doc)."""
    f = files.reset_index(drop=True)
    if "root_rank" not in f:
        f["root_rank"] = 0
    if "name" not in f:
        f["name"] = [p.replace("\\", "/").rsplit("/", 1)[-1] for p in f["path"]]
    cell = _codes(f, keys)
    tags, tag_names = pd.factorize(f["tag"].to_numpy(dtype=object), sort=True)
    pair = cell * (len(tag_names) + 1) + tags
    f["_cell"] = cell
    f["_pair"] = pair
    gone = np.zeros(len(f), dtype=bool)
    pair_codes = pd.factorize(pair)[0]
    contested = np.flatnonzero(np.bincount(pair_codes)[pair_codes] > 1)
    if not len(contested):
        f["_gone"] = gone
        return f
    # only the contested pairs need ranking; a dangling symlink never beats a real file
    # (the walk saw which files are links: only those, and rows it did not list, are looked at)
    recheck = f["recheck"].to_numpy(dtype=bool)[contested] if "recheck" in f else np.ones(len(contested), bool)
    paths = f["path"].to_numpy(dtype=object)
    look = contested[recheck]
    gone[look] = [not os.path.exists(p) for p in paths[look].tolist()]
    f["_gone"] = gone
    origin_rank = {"processed": 0, "data": 1} if prefer_processed else {"data": 0, "processed": 1}
    c = f.iloc[contested]
    ranks = [c["priority"].to_numpy(dtype=np.int64), c["origin"].map(origin_rank).to_numpy(dtype=np.int64),
             c["root_rank"].to_numpy(dtype=np.int64), gone[contested], pair[contested]]
    order = np.lexsort(ranks)
    tied = np.ones(max(len(order) - 1, 0), dtype=bool)
    for rank in ranks:
        ranked = rank[order]
        tied &= ranked[1:] == ranked[:-1]
    if tied.any():                              # ties left: the latest name, then path
        ranks[:0] = [-pd.factorize(c[col].to_numpy(dtype=object), sort=True)[0] for col in ("path", "name")]
        order = np.lexsort(ranks)
    alone = np.ones(len(f), dtype=bool)
    alone[contested] = False
    return f.take(np.concatenate([np.flatnonzero(alone), contested[order]])).reset_index(drop=True)


def _drop_declined(f: pd.DataFrame, keys: list[str], registry: dict, index, looked) -> pd.DataFrame:
    """Ask a source that looks inside files (``claims``) about its preferred candidate of
    each cell; a declined file drops out and the next candidate of that cell is asked,
    round by round, until each cell has an accepted file or none left."""
    tags = f["tag"].to_numpy(dtype=object)
    checked = [t for t in pd.unique(tags) if t in registry and _claims_overridden(registry[t])]
    if not checked:
        return f
    alive = np.ones(len(f), dtype=bool)
    cells = f["_cell"].to_numpy()
    paths = f["path"].to_numpy(dtype=object)
    for tag in checked:
        waiting = np.flatnonzero(tags == tag)        # rows of cells not settled yet
        while len(waiting):
            first = waiting[_first_of_group(cells[waiting])]
            answers = np.asarray(_claims(registry[tag], paths[first].tolist(), index, looked), dtype=bool)
            declined = first[~answers]
            if not len(declined):
                break
            alive[declined] = False
            unsettled = np.isin(cells[waiting], cells[declined])
            waiting = waiting[unsettled & alive[waiting]]
    return f if alive.all() else f[alive]


def _claims(cls, paths: list[str], index, looked) -> list[bool]:
    """``cls.claims`` for each path; answers for unchanged files come from the index."""
    source = f"{cls.__module__}.{cls.__qualname__}:{getattr(cls, 'version', '')}"
    known = index.claims(source, paths) if index is not None else {}
    out, fresh = [], []
    for path in paths:
        try:
            st = os.stat(path) if index is not None else None
        except OSError:
            st = None
        if st is not None:
            if looked is not None:
                looked.append((path, st.st_size, st.st_mtime_ns))
            seen = known.get(path)
            if seen is not None and seen[0] == st.st_size and seen[1] == st.st_mtime_ns:
                out.append(seen[2])
                continue
        try:
            accepted = bool(cls.claims(path))
        except Exception:
            accepted = False
        out.append(accepted)
        if st is not None:
            fresh.append((path, st.st_size, st.st_mtime_ns, accepted))
    if index is not None:
        index.put_claims(source, fresh)
    return out


def _wide(winners: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """One row per cell, one column per tag, the kept file's path in each (cells sorted)."""
    cells, first_row, cell_codes = np.unique(winners["_cell"].to_numpy(), return_index=True,
                                             return_inverse=True)
    tag_codes, tags = pd.factorize(winners["tag"].to_numpy(dtype=object), sort=True)
    values = np.full((len(cells), len(tags)), np.nan, dtype=object)
    values[cell_codes.reshape(-1), tag_codes] = winners["path"].to_numpy(dtype=object)
    index = pd.MultiIndex.from_arrays(
        [winners[k].to_numpy(dtype=object)[first_row] for k in keys],
        names=list(INDEX_NAMES[: len(keys)]))
    return pd.DataFrame(values, index=index, columns=pd.Index(list(tags), dtype=object), dtype=object)


def _describe_conflicts(winners, losers, keys, prefer_processed) -> pd.DataFrame:
    """One row per losing file; ``Task`` is the losing file's task."""
    if losers.empty:
        return pd.DataFrame(columns=CONFLICT_COLUMNS, dtype=object)
    merged = losers.merge(winners, on=keys + ["tag"], suffixes=("", "_kept"))
    other_task = (merged["task"] != merged["task_kept"]) if "task_kept" in merged else False
    collapsed = "tasks collapsed (include_task_level=False): latest file name wins"
    reason = np.select(
        [merged["_gone"] & ~merged["_gone_kept"],
         merged["root_rank"] != merged["root_rank_kept"],
         merged["origin"] != merged["origin_kept"],
         merged["priority"] != merged["priority_kept"],
         np.asarray(other_task, dtype=bool) & np.ones(len(merged), dtype=bool)],
        ["dangling symlink (its target does not exist)",
         "an earlier root wins",
         "processed/ preferred (prefer_processed=True)" if prefer_processed
         else "data/ preferred (prefer_processed=False)",
         "the source's earlier pattern wins",
         collapsed],
        default="latest file name wins",
    )
    out = pd.DataFrame({
        "Subject": merged["subject"],
        "Session": merged["session"],
        "Task": merged["task"],
        "Source": merged["tag"],
        "kept": merged["path_kept"],
        "dropped": merged["path"],
        "reason": reason,
    }, dtype=object)
    return out.reset_index(drop=True)
