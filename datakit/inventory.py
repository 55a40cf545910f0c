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
                    include_task_level: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Resolve ``files`` (discovery rows, with a ``root_rank`` column) into the inventory.

    Returns ``(inventory, conflicts)``.
    """
    keys = ["subject", "session", "task"] if include_task_level else ["subject", "session"]
    if files.empty:
        return empty_inventory(include_task_level), pd.DataFrame(columns=CONFLICT_COLUMNS, dtype=object)

    f = files.copy()
    if "root_rank" not in f:
        f["root_rank"] = 0
    origin_rank = {"processed": 0, "data": 1} if prefer_processed else {"data": 0, "processed": 1}
    f["_origin_rank"] = f["origin"].map(origin_rank).astype("int64")
    f["_name"] = f["path"].map(lambda p: p.replace("\\", "/").rsplit("/", 1)[-1])
    # a dangling symlink never beats a file that exists (only contested files are looked at)
    contested = f.duplicated(keys + ["tag"], keep=False).to_numpy()
    f["_gone"] = False
    if contested.any():
        f.loc[contested, "_gone"] = [not os.path.exists(p) for p in f.loc[contested, "path"]]
    f = f.sort_values(
        keys + ["tag", "_gone", "root_rank", "_origin_rank", "priority", "_name", "path"],
        ascending=[True] * (len(keys) + 5) + [False, False],
        kind="stable",
    ).reset_index(drop=True)

    # sources that look inside the file: ask in preference order until one accepts
    checked = [t for t in f["tag"].unique() if t in registry and _claims_overridden(registry[t])]
    if checked:
        rejected = []
        sub = f[f["tag"].isin(checked)]
        for (_, tag), group in sub.groupby([sub[keys].agg("\x1f".join, axis=1), "tag"], sort=False):
            cls = registry[tag]
            for idx, path in zip(group.index, group["path"]):
                try:
                    accepted = bool(cls.claims(path))
                except Exception:
                    accepted = False
                if accepted:
                    break
                rejected.append(idx)
        if rejected:
            f = f.drop(index=rejected)

    first = ~f.duplicated(keys + ["tag"], keep="first")
    winners = f[first]
    losers = f[~first]

    tags = sorted(winners["tag"].unique())
    wide = winners.pivot(index=keys, columns="tag", values="path")
    wide = wide.reindex(columns=tags)
    wide.columns.name = None
    wide = wide.astype(object).where(wide.notna(), np.nan)
    wide.index = wide.index.set_names(list(INDEX_NAMES[: len(keys)]))
    wide = wide.sort_index()

    conflicts = _describe_conflicts(winners, losers, keys, prefer_processed)
    return wide, conflicts


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
