"""``Dataset.save``: HDF5 written cell by cell as cells load; pickle after materializing.

An HDF5 save never holds the frame: the engine hands each finished cell to a
:class:`~datakit.hdf5.FrameWriter` (``engine.run(on_result=...)``), which compresses
and writes it into a temporary file beside the target, and the results kept are only
the load outcomes.  Peak memory is the cells in flight (the engine keeps at most two
per worker queued), whatever the experiment's size.  When every cell is in, the header
(column order, index, ``df.attrs``) is written and the file renamed onto the target, so
the target is always the previous complete file or the new complete one.

The file loads back equal to ``Dataset.materialize()``: same rows, columns in the same
order, same ``attrs`` (cells are stored in the order they finished; the header's
``row_order`` restores the frame's).

Progress counts the loads (each cell counted once it is written) plus one last step for
the header and the flush to disk.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import engine
from .progress import Reporter


@dataclass
class Saved:
    path: Path
    format: str
    shape: tuple[int, int]
    errors: pd.DataFrame | None = None       # validate()-style report (return_errors)


class _Forward:
    """The engine's progress, passed on to ``reporter`` with ``extra`` steps after it."""

    def __init__(self, reporter: Reporter, extra: int):
        self.reporter, self.extra = reporter, extra

    def __call__(self, done: int, total: int, message: str = "") -> None:
        if total + self.extra != self.reporter.total:
            self.reporter.set_total(total + self.extra)
        self.reporter.advance(done - self.reporter.done, message)


class _ColumnOrder:
    """Columns in ``features_frame``'s order: by source, then by the first frame row that
    has the feature, then by its place in that row."""

    def __init__(self, sources):
        self.rank = {tag: i for i, tag in enumerate(sources)}
        self.first: dict[tuple, tuple[int, int]] = {}

    def see(self, position: int, labels) -> None:
        for i, label in enumerate(labels):
            seen = self.first.get(label)
            if seen is None or position < seen[0]:
                self.first[label] = (position, i)

    def columns(self) -> pd.MultiIndex:
        labels = sorted(self.first, key=lambda lb: (self.rank[lb[0]], *self.first[lb]))
        if not labels:
            return pd.MultiIndex.from_arrays([[], []], names=["Source", "Feature"])
        return pd.MultiIndex.from_tuples(labels, names=["Source", "Feature"])


def encode_features(result: engine.CellResult) -> None:
    """Where the cell loaded (a worker): every feature as the arrays the HDF5 writer
    appends (strings as UTF-8, JSON as bytes), so workers do this work in parallel and
    send back plain arrays, quicker to pass between processes than Python objects."""
    from .hdf5.encode import encode_cell

    result.features = {tag: {name: encode_cell(value) for name, value in features.items()}
                       for tag, features in result.features.items()}


def save_dataset(ds, path, *, format=None, strict=True, progress=False, hdf_key="dataset",
                 workers=None, parallel="process", executor=None, cancel=None,
                 return_errors=False) -> Saved:
    """Save ``ds`` (see ``Dataset.save``); the format, target folder and key are checked
    before anything loads."""
    from .io import deferred_interrupt, either, prepare_target, resolve_format

    fmt = resolve_format(path, format)
    target = prepare_target(path, fmt, hdf_key)
    reporter = Reporter(progress, unit="load", desc=f"saving {target.name}")
    forward = _Forward(reporter, extra=1) if progress not in (False, None) else False
    try:
        with deferred_interrupt() as interrupted, interrupted.converting():
            run = dict(workers=workers, parallel=parallel, executor=executor,
                       cancel=either(cancel, interrupted), progress=forward)
            if fmt == "pickle":
                return _save_pickle(ds, target, strict, return_errors, reporter, run, interrupted)
            return _save_hdf5(ds, target, hdf_key, strict, return_errors, reporter, run,
                              interrupted)
    finally:
        reporter.close()


def _save_pickle(ds, target: Path, strict, return_errors, reporter, run, interrupted) -> Saved:
    from .io import _write_pickle, atomic_temp

    df, errors = ds.materialize(strict=strict, return_errors=True, **run)
    reporter.note(f"writing {target.name}")
    with atomic_temp(target, interrupted) as tmp:
        _write_pickle(df, tmp)
    reporter.advance(1, f"wrote {target.name}")
    return Saved(target, "pickle", df.shape, errors if return_errors else None)


def _save_hdf5(ds, target: Path, hdf_key: str, strict, return_errors, reporter, run,
               interrupted) -> Saved:
    from .hdf5 import FrameWriter
    from .hdf5.writer import checked_attrs
    from .io import atomic_temp

    tasks, active = ds._tasks(engine.MATERIALIZE)
    attrs = checked_attrs(ds._frame_attrs(active))
    keys = {t.position: t.key for t in tasks}
    order = _ColumnOrder(active)
    with atomic_temp(target, interrupted) as tmp:
        writer = FrameWriter(tmp, hdf_key)
        try:
            def write(result: engine.CellResult) -> None:
                cells = [((tag, name), value) for tag in active
                         for name, value in (result.features.get(tag) or {}).items()]
                for tag in active:
                    names = [(tag, name) for name in (result.features.get(tag) or {})]
                    order.see(result.position, names)
                writer.add_row(result.position, keys[result.position], cells)

            results = engine.run(tasks, stop_on_error=strict, on_result=write,
                                 finish=encode_features, **run)
            if strict:
                error = engine.first_error(tasks, results)
                if error is not None:
                    raise error
            columns = order.columns()
            reporter.note(f"writing the header of {target.name}, flushing to disk")
            writer.finish(ds._inventory.index, columns, attrs)
        except BaseException:
            writer.abort()
            raise
    reporter.advance(1, f"wrote {target.name}")
    errors = (ds._with_expected(engine.errors_frame(tasks, results, ds._inventory.index.names))
              if return_errors else None)
    return Saved(target, "hdf5", (len(tasks), len(columns)), errors)
