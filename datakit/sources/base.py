"""The plugin contract: DataSource, LoadContext and LoadedStream.

A source is a small class with class-level metadata and one method::

    @register_source
    class LickSource(DataSource):
        tag = "licks"
        patterns = ("*_licks.csv",)
        requires = ("dataqueue",)          # loaded first, shared through the context
        description = "Lick sensor events"
        signals = (Signal("lick", "lick sensor", "V"),)  # what a plot draws by default

        def load(self, path, *, context=None):
            frame = pd.read_csv(path)
            t = on_master_clock(...)
            return self.stream(t, frame, {"time_basis": "master"})

Everything here is picklable (the engine may run loads in other processes).
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Mapping

import numpy as np
import pandas as pd

from ..settings import Settings, get_settings
from .signals import Signal

#: Stream kinds: how a stream's value becomes materialized features.
TIMESERIES = "timeseries"  # value: DataFrame (one row per t) or mapping of arrays
INTERVALS = "intervals"    # value: DataFrame with start_s/stop_s, one row per interval
TABLE = "table"            # value: mapping of scalars (one record per cell), t empty
KINDS = (TIMESERIES, INTERVALS, TABLE)
#: Meta keys every stream may carry (set by :meth:`DataSource.stream`).
STANDARD_META_KEYS = ("source_tag", "kind", "is_timeseries", "is_interval", "camera_tag")


def is_missing_path(value) -> bool:
    """Is an inventory value "no file" (None, NaN, pandas' NA or an empty string)?"""
    if value is None or value is pd.NA:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value


@dataclass(frozen=True)
class LoadedStream:
    """Hydrated data stream with timestamps and metadata.

    ``t`` is a 1-D float64 array of seconds (strictly increasing for time series,
    non-decreasing interval starts for interval sources, empty for tables).
    ``value`` is a DataFrame (one row per ``t``), a mapping, an array or a scalar.
    ``meta`` is a plain dict; ``meta["time_basis"]`` says which clock ``t`` is on.
    """

    tag: str
    t: np.ndarray
    value: Any
    meta: dict

    def __post_init__(self):
        t = np.asarray(self.t, dtype=np.float64)
        if t.ndim != 1:
            t = t.reshape(-1)
        object.__setattr__(self, "t", t)
        object.__setattr__(self, "meta", dict(self.meta or {}))

    @property
    def data(self):
        return self.value

    @property
    def payload(self) -> "StreamPayload":
        """The value with its kind (the earlier implementation's ``StreamPayload``)."""
        return StreamPayload.ensure(self.value)

    def __len__(self) -> int:
        return len(self.t)


@dataclass(frozen=True)
class StreamPayload:
    """``kind`` (table, array, mapping, sequence, scalar), ``data`` and ``attrs`` of a
    stream's value, as the earlier implementation described it."""

    kind: str
    data: Any
    attrs: dict = field(default_factory=dict)

    @classmethod
    def ensure(cls, value) -> "StreamPayload":
        if isinstance(value, StreamPayload):
            return value
        if isinstance(value, pd.DataFrame):
            return cls("table", value, {"columns": list(value.columns), "index_name": value.index.name})
        if isinstance(value, np.ndarray):
            return cls("array", value, {"dtype": str(value.dtype), "shape": tuple(value.shape)})
        if isinstance(value, Mapping):
            return cls("mapping", value, {"keys": list(value)})
        if isinstance(value, (list, tuple)):
            return cls("sequence", value, {"length": len(value)})
        return cls("scalar", value, {})

    @property
    def data_view(self):
        return self.data

    is_table = property(lambda self: self.kind == "table")
    is_array = property(lambda self: self.kind == "array")
    is_mapping = property(lambda self: self.kind == "mapping")
    is_sequence = property(lambda self: self.kind == "sequence")
    is_scalar = property(lambda self: self.kind == "scalar")


@dataclass(frozen=True)
class LoadContext:
    """Context passed to every ``DataSource.load``.

    Carries the cell identity, the cell's inventory row (tag -> path, so a source can
    find sibling files via :meth:`path_for`), the streams of the sources it declared in
    ``requires`` (``None`` when missing or failed) and the settings.

    When the cell's dataqueue loaded, ``dataqueue_frame``/``dataqueue_meta`` hold it,
    ``master_timeline`` holds the master-camera frame times on the master clock and
    ``experiment_window`` is ``(0.0, last master frame)`` in master-clock seconds.
    """

    subject: str
    session: str
    task: str | None
    inventory_row: Mapping[str, Any]
    dependencies: dict = field(default_factory=dict)
    master_timeline: np.ndarray | None = None
    experiment_window: tuple[float, float] | None = None
    dataqueue_frame: pd.DataFrame | None = None
    dataqueue_meta: dict | None = None
    settings: Settings = field(default_factory=get_settings)

    def path_for(self, tag: str) -> Path | None:
        value = self.inventory_row.get(tag) if self.inventory_row else None
        return None if is_missing_path(value) else Path(value)

    def require_path(self, tag: str) -> Path:
        path = self.path_for(tag)
        if path is None:
            raise FileNotFoundError(
                f"no {tag!r} file for {self.describe()} (needed to load this source)"
            )
        return path

    def get_dependency(self, tag: str) -> LoadedStream | None:
        return self.dependencies.get(tag) if self.dependencies else None

    def require_dependency(self, tag: str) -> LoadedStream:
        stream = self.get_dependency(tag)
        if stream is None:
            raise RuntimeError(
                f"dependency {tag!r} is missing or failed for {self.describe()}"
            )
        return stream

    def describe(self) -> str:
        parts = [f"sub={self.subject}", f"ses={self.session}"]
        if self.task is not None:
            parts.append(f"task={self.task}")
        return " ".join(parts)


class DataSource:
    """Base class for a file-backed data source.

    Class attributes (metadata, read without instantiating):

    ``tag``          registry name, also the materialized ``Source`` level.
    ``patterns``     glob patterns; without ``/`` they match the file name, with ``/``
                     the path below ``data/`` or ``processed/`` (``**/`` = any folders).
                     Earlier patterns win when one cell has several candidate files.
    ``requires``     tags loaded first for the same cell and passed in
                     ``context.dependencies`` (soft: missing or failed gives ``None``).
    ``kind``         ``"timeseries"``, ``"intervals"`` or ``"table"``.
    ``description``  one line for ``datakit sources`` and the GUI.
    ``meta_keys``    every key ``load`` may put in the stream's meta besides the standard
                     ones (:data:`STANDARD_META_KEYS`); tested for the built-in sources.
                     ``None`` (a plugin that does not say): not checked.
    ``version``      bump it when ``load`` changes what it returns: cached validation
                     outcomes of the old version are not reused.

    ``inputs(path)`` names every file ``load`` reads for ``path`` (default: just it);
    a cached validation outcome is reused only while none of them changed.
    ``signals``      what is worth drawing: a tuple of ``Signal(feature, label, unit)``
                     (see :mod:`datakit.sources.signals`); ``None`` (the default) lets
                     the fallback rule decide (every numeric feature except clocks and
                     counters); ``()`` draws nothing by default.
    """

    tag: ClassVar[str] = ""
    patterns: ClassVar[tuple[str, ...]] = ()
    requires: ClassVar[tuple[str, ...]] = ()
    kind: ClassVar[str] = TIMESERIES
    description: ClassVar[str] = ""
    version: ClassVar[str] = ""
    meta_keys: ClassVar[tuple[str, ...] | None] = None
    camera_tag: ClassVar[str | None] = None
    signals: ClassVar[tuple[Signal, ...] | None] = None

    @classmethod
    def inputs(cls, path) -> list:
        """The files ``load(path)`` reads (for the validation cache); default: ``[path]``."""
        return [path]

    @classmethod
    def claims(cls, path: Path) -> bool:
        """Cheap look at a file matching ``patterns``: is it really this source's?

        Discovery calls it only for the file it is about to record for a cell, so a
        source whose pattern is shared (treadmill on ``*_dataqueue.csv``) can decline.
        The default accepts every match without opening the file.
        """
        return True

    @property
    def is_timeseries(self) -> bool:
        return self.kind == TIMESERIES

    def load(self, path: Path, *, context: LoadContext | None = None) -> LoadedStream:
        raise NotImplementedError(f"{type(self).__name__}.load is not implemented")

    # helpers for subclasses -------------------------------------------------------

    def stream(self, t, value, meta: dict | None = None) -> LoadedStream:
        """Build this source's LoadedStream (tag = registry tag, standard meta keys)."""
        meta = dict(meta or {})
        meta.setdefault("source_tag", self.tag)
        meta.setdefault("kind", self.kind)
        # the earlier implementation's standard keys (reference 2.1)
        meta.setdefault("is_timeseries", self.kind == TIMESERIES)
        if self.kind == INTERVALS:
            meta.setdefault("is_interval", True)
        if self.camera_tag:
            meta.setdefault("camera_tag", self.camera_tag)
        return LoadedStream(self.tag, t, value, meta)

    def context_or_default(self, path: Path, context: LoadContext | None) -> LoadContext:
        """The given context, or a minimal one for a file loaded on its own."""
        if context is not None:
            return context
        return LoadContext("unknown", "unknown", None, {self.tag: os.fspath(path)})
