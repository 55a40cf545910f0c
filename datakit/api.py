"""Module-level conveniences of the public API: load, load_path, inspect_sources."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from .dataset import Dataset
from .sources.registry import get_source_class, registered_sources


def load(root, *, sources=None, prefer_processed=True, include_task_level=True, progress=True,
         strict=True, return_errors=False, workers=None):
    """One-shot discovery + materialization (``Dataset.from_directory(...).materialize(...)``)."""
    ds = Dataset.from_directory(root, sources=sources, prefer_processed=prefer_processed,
                                include_task_level=include_task_level)
    return ds.materialize(strict=strict, return_errors=return_errors, progress=progress,
                          workers=workers)


def inspect_sources(inventory_or_dataset, sources=None) -> pd.DataFrame:
    """Per-source coverage: index ``source``; columns present, total, missing,
    not_expected, coverage.

    ``missing`` counts cells where the source is expected and absent, ``not_expected``
    cells where it is absent and not expected (see :meth:`Dataset.coverage`); ``total``
    is every cell, recorded or expected, and ``coverage`` is present / total.  Opens no
    file.  With ``sources`` omitted, every source with a file or an expectation is
    reported (an inventory without any gives an empty table).
    """
    if isinstance(inventory_or_dataset, Dataset):
        dataset = inventory_or_dataset
    elif isinstance(inventory_or_dataset, pd.DataFrame):
        inventory = inventory_or_dataset
        registry = registered_sources()
        tags = [c for c in inventory.columns if c in registry]
        if isinstance(inventory.index, pd.MultiIndex) and inventory.index.nlevels in (2, 3):
            dataset = Dataset(inventory, sources=tags)
        else:   # not an inventory Dataset accepts: presence only, nothing is expected
            return _presence_counts(inventory, tags if sources is None else _tags(sources))
    else:
        raise TypeError(
            f"expected a Dataset or an inventory DataFrame, got {type(inventory_or_dataset).__name__}")
    states = dataset.coverage()
    tags = list(states.columns) if sources is None else _tags(sources)
    states = states.reindex(columns=tags)
    total = len(states)
    out = pd.DataFrame(
        {
            "present": np.asarray([(states[t] == "present").sum() for t in tags], dtype=np.int64),
            "total": np.full(len(tags), total, dtype=np.int64),
            "missing": np.asarray([(states[t] == "missing").sum() for t in tags], dtype=np.int64),
        },
        index=pd.Index(tags, name="source", dtype=object),
    )
    out["not_expected"] = out["total"] - out["present"] - out["missing"]
    out["coverage"] = (out["present"] / total).astype(float) if total else 0.0
    return out


def _tags(sources) -> list[str]:
    return [sources] if isinstance(sources, str) else list(sources)


def _presence_counts(inventory: pd.DataFrame, tags) -> pd.DataFrame:
    total = len(inventory)
    present = [int(inventory[t].notna().sum()) if t in inventory.columns else 0 for t in tags]
    out = pd.DataFrame({"present": np.asarray(present, dtype=np.int64),
                        "total": np.full(len(tags), total, dtype=np.int64),
                        "missing": np.zeros(len(tags), dtype=np.int64)},
                       index=pd.Index(tags, name="source", dtype=object))
    out["not_expected"] = out["total"] - out["present"]
    out["coverage"] = (out["present"] / total).astype(float) if total else 0.0
    return out


def load_path(tag: str, path, *, allow_pickle=None):
    """Ad-hoc single-file load via the registered source for ``tag``.

    A source that needs another file of the session (the dataqueue) looks for it beside
    the file (its folder, the parent folder, and their ``beh/``/``func/``); without one
    it falls back as its meta documents, or refuses with a message naming what is missing.
    """
    from .naming import identity_from_path
    from .engine import MATERIALIZE, CellTask, iter_loads
    from .safety import pickle_allowed
    from .settings import get_settings
    from .sources.registry import dependency_order

    get_source_class(tag)  # KeyError for an unknown tag, before anything else
    path = Path(path).expanduser()
    if not path.exists() and not path.is_symlink():
        raise FileNotFoundError(f"No such file: {path}")
    subject, session, task = identity_from_path(path.as_posix())
    registry = registered_sources()
    order = tuple(dependency_order([tag], registry))
    row: dict = {}
    for dep in order:
        found = path if dep == tag else _find_sibling(path, registry[dep].patterns,
                                                      subject, session, task)
        row[dep] = str(found) if found else None
    settings = get_settings()
    settings = settings.replace(allow_pickle=pickle_allowed(
        allow_pickle if allow_pickle is not None else settings.allow_pickle))
    cell = CellTask(0, (subject or "unknown", session or "unknown", task), row, order,
                    (tag,), {t: registry[t] for t in order}, settings, MATERIALIZE)
    for loaded_tag, _, stream, exc in iter_loads(cell):
        if loaded_tag == tag:
            if exc is not None:
                raise exc
            return stream
    raise KeyError(tag)  # pragma: no cover - tag is always in its own order


def _find_sibling(path: Path, patterns, subject, session, task) -> Path | None:
    """Another file of the same cell: beside ``path`` (its folder, the parent folder and
    their ``beh/``/``func/``), else in the cell's session folder of the experiment the
    file lives in (``<root>/data/sub-<S>/ses-<N>/``, for files under ``processed/``)."""
    import fnmatch

    names = [p.rsplit("/", 1)[-1] for p in patterns]

    def pick(folder: Path) -> Path | None:
        try:
            entries = sorted(os.listdir(folder), reverse=True)  # latest stamp first
        except OSError:
            return None
        for name in entries:
            if any(fnmatch.fnmatch(name, n) for n in names) and (
                    task in (None, "task-session") or f"_{task}_" in f"_{name}"):
                return folder / name
        return None

    folders = []
    for base in (path.parent, path.parent.parent):
        folders += [base, base / "beh", base / "func"]
    parts = path.resolve().parts
    for origin in ("processed", "data"):
        if origin in parts and subject and session:
            root = Path(*parts[: len(parts) - 1 - parts[::-1].index(origin)])
            cell_dir = root / "data" / f"sub-{subject}" / session
            if cell_dir.is_dir():
                folders += [cell_dir] + sorted(p for p in cell_dir.iterdir() if p.is_dir())
            break
    for folder in dict.fromkeys(folders):
        found = pick(folder)
        if found is not None:
            return found
    return None
