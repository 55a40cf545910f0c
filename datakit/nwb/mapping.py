"""Putting one materialized cell into an ``NWBFile``: the builder and the generic rules.

Every (source, feature) of the cell ends up in the report, with where it went in the
file or why it was left out; nothing loaded is dropped silently.  Source-specific
handlers (:mod:`datakit.nwb.handlers`) place the features they know; whatever is left
(plugin sources, extra columns) goes through :func:`generic`:

* a numeric 1-D array of the stream's length: a ``TimeSeries`` (bool as 0/1 uint8);
  a 2-D array with one axis of the stream's length: a ``TimeSeries`` of samples x columns;
* text on every sample: its value in the description when it is the same everywhere,
  else an ``EventsTable`` (one row per sample: ``timestamp``, ``annotation``);
* datetimes: left out (wall clock: ``session_start_time`` + t gives them);
* a table source (one record): a two-column ``DynamicTable`` (parameter, value, type);
* an interval source: a ``TimeIntervals`` table of its rows;
* anything else (scalars, dicts, per-ROI arrays of a plugin): left out, with the reason.

Times are the stream's ``t`` unchanged: the first series of a stream stores them, the
others link to it; a stream sampled at a constant rate stores ``starting_time`` and
``rate`` instead (NWB's best practice), which give back ``t``.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..layout import META_FEATURE, TIME_FEATURE
from ..sources.base import INTERVALS, TABLE, TIMESERIES

EXPORTED, LEFT_OUT, FAILED, SKIPPED = "exported", "left out", "failed", "skipped"
MISC = "misc"          # processing module for plugin sources and the configuration table
BEHAVIOR, OPHYS = "behavior", "ophys"
MODULE_DESCRIPTIONS = {
    BEHAVIOR: "Behaviour on the session clock: locomotion (treadmill, wheel) and pupil.",
    OPHYS: "Optical physiology on the session clock: widefield traces, regions and cells.",
    MISC: "The session configuration and sources datakit has no NWB type for.",
}
_NAME_BAD = re.compile(r"[/:\\]+")
UNIT_SUFFIXES = (("_mm_s", "mm/s"), ("_mm", "mm"), ("_ms", "milliseconds"), ("_us", "microseconds"),
                 ("_s", "seconds"), ("_hz", "Hz"), ("_deg", "degrees"), ("_px", "pixels"))


def nwb_name(text) -> str:
    """A legal NWB object name (no slashes or colons)."""
    name = _NAME_BAD.sub("_", str(text)).strip() or "unnamed"
    return name


def guess_unit(feature: str) -> str:
    lower = feature.lower()
    for suffix, unit in UNIT_SUFFIXES:
        if lower.endswith(suffix):
            return unit
    return "n.a."


@dataclass
class Stream:
    """One loaded source of the cell, as the materialized frame holds it."""

    tag: str
    kind: str
    features: dict             # feature -> value (the cell's values; absent ones left out)
    meta: dict
    cls: type | None = None

    @property
    def t(self) -> np.ndarray | None:
        value = self.features.get(TIME_FEATURE)
        return np.asarray(value, dtype=np.float64) if isinstance(value, np.ndarray) else None

    @property
    def n(self) -> int:
        t = self.t
        return 0 if t is None else int(t.size)

    def unit_of(self, feature: str) -> str:
        for signal in getattr(self.cls, "signals", None) or ():
            if getattr(signal, "feature", None) == feature and getattr(signal, "unit", ""):
                return signal.unit
        return guess_unit(feature)

    def source_file(self) -> str:
        path = self.meta.get("source_file")
        return Path(str(path)).name if path else ""


@dataclass
class Builder:
    """An NWBFile under construction plus the report of what went where."""

    nwbfile: object
    reference_basis: str | None           # the clock session_start_time is the zero of
    target_dir: Path                       # where the file will be (for relative links)
    rows: list = field(default_factory=list)
    off_clock: dict = field(default_factory=dict)   # tag -> its time_basis (not the file's)
    _clocks: dict = field(default_factory=dict)     # tag -> first series holding its times
    _done: set = field(default_factory=set)          # (tag, feature) already reported
    _constants: dict = field(default_factory=dict)  # tag -> [(feature, repr)] same on every sample
    imaging: dict = field(default_factory=dict)      # ImagingPlane/OpticalChannel metadata
    master_camera: str = "master_camera"             # the device an ImagingPlane is recorded by
    movies: list = field(default_factory=list)       # external files linked (relative paths)
    session_notes: list = field(default_factory=list)  # lines for the file's notes
    _first_where: dict = field(default_factory=dict)  # tag -> path of its first series

    def prepare(self, stream: Stream) -> None:
        """Find the stream's text features that hold one value on every sample: they are
        written into the description of its first series instead of a series each."""
        found = []
        if stream.kind == TIMESERIES and stream.n:
            for feature, value in stream.features.items():
                if feature in (TIME_FEATURE, META_FEATURE) or not isinstance(value, np.ndarray):
                    continue
                if value.ndim == 1 and value.size == stream.n and value.dtype.kind in "OUS":
                    constant = constant_repr(value)
                    if constant is not None:
                        found.append((feature, constant))
        self._constants[stream.tag] = found

    # report -----------------------------------------------------------------------

    def report(self, tag: str, feature, status: str, where: str = "", note: str = "") -> None:
        self._done.add((tag, feature))
        self.rows.append((tag, feature, status, where, note))

    def exported(self, tag, feature, where, note="") -> None:
        self.report(tag, feature, EXPORTED, where, note)

    def left_out(self, tag, feature, reason) -> None:
        self.report(tag, feature, LEFT_OUT, "", reason)

    def reported(self, tag, feature) -> bool:
        return (tag, feature) in self._done

    # containers -------------------------------------------------------------------

    def module(self, name: str):
        modules = self.nwbfile.processing
        if name not in modules:
            return self.nwbfile.create_processing_module(
                name=name, description=MODULE_DESCRIPTIONS.get(name, f"{name} data on the session clock"))
        return modules[name]

    def device(self, name: str, description: str | None = None):
        name = nwb_name(name)
        if name not in self.nwbfile.devices:
            return self.nwbfile.create_device(
                name=name, description=description or
                f"{name}: named in the data; hardware.yaml does not describe it")
        return self.nwbfile.devices[name]

    def clock_text(self, stream: Stream) -> str:
        """How the stream's times were obtained, for descriptions."""
        basis = stream.meta.get("time_basis")
        how = stream.meta.get("alignment")
        text = f"Times: {basis or 'unknown'} clock" + (f" ({how})" if how else "")
        if not self.on_clock(stream):
            text = (f"NOT ON THE SESSION CLOCK: these times are on the {basis or 'unknown'} clock, "
                    f"not relative to session_start_time. " + text)
        origin = stream.source_file()
        return text + (f". From {origin}" if origin else "") + f" (datakit source {stream.tag})."

    def on_clock(self, stream: Stream) -> bool:
        basis = stream.meta.get("time_basis")
        ok = self.reference_basis is not None and basis == self.reference_basis
        if not ok and stream.kind != TABLE:
            self.off_clock[stream.tag] = basis
        return ok

    # time series ------------------------------------------------------------------

    def timing(self, stream: Stream, t: np.ndarray | None = None) -> dict:
        """TimeSeries keyword arguments for the stream's times (``t``: a subset of them)."""
        if t is None:
            first = self._clocks.get(stream.tag)
            if first is not None:
                return {"timestamps": first} if first.timestamps is not None else \
                    {"starting_time": first.starting_time, "rate": first.rate}
            t = stream.t
        return regular_or_timestamps(t)

    def remember_clock(self, stream: Stream, series) -> None:
        self._clocks.setdefault(stream.tag, series)

    def timeseries(self, stream: Stream, feature: str, name: str, data, *, unit: str,
                   description: str, place, cls=None, t=None, **extra):
        """A TimeSeries (or ``cls``) of ``data`` on the stream's times, added to ``place``
        (a container with ``add``/``add_timeseries``, a module, or ``"acquisition"``)."""
        from pynwb import TimeSeries

        cls = cls or TimeSeries
        if data is not None:
            data = np.asarray(data)
            if data.dtype == bool:
                data = data.astype(np.uint8)
            extra["data"] = data
        first = t is None and stream.tag not in self._clocks
        constants = self._constants.get(stream.tag) if first else None
        if constants:
            description += " Constant on every sample: " + "; ".join(
                f"{f} = {v}" for f, v in constants) + "."
        series = cls(name=nwb_name(name), unit=unit, description=description,
                     **self.timing(stream, t), **extra)
        if t is None:
            self.remember_clock(stream, series)
        where = self.add(series, place)
        if first:
            self._first_where[stream.tag] = where
        return series, where

    def add(self, obj, place) -> str:
        """Add ``obj`` to ``place``; return its path in the file."""
        if place == "acquisition":
            self.nwbfile.add_acquisition(obj)
            return f"acquisition/{obj.name}"
        if isinstance(place, str):
            module = self.module(place)
            module.add(obj)
            return f"processing/{place}/{obj.name}"
        conf = place.__clsconf__
        conf = conf[0] if isinstance(conf, (list, tuple)) else conf
        getattr(place, conf["add"])(obj)
        parent = place.parent
        return f"processing/{parent.name}/{place.name}/{obj.name}" if parent is not None \
            else f"{place.name}/{obj.name}"

    def container(self, module: str, cls, name: str):
        """The named data interface ``cls`` in processing module ``module`` (created once)."""
        mod = self.module(module)
        if name in mod.data_interfaces:
            return mod.data_interfaces[name]
        obj = cls(name=name)
        mod.add(obj)
        return obj


def regular_or_timestamps(t: np.ndarray) -> dict:
    """``{"timestamps": t}``, or ``starting_time``/``rate`` when ``t`` has one constant step
    (what nwbinspector's check_regular_timestamps asks for)."""
    t = np.asarray(t, dtype=np.float64)
    if t.size > 2:
        steps = np.round(np.diff(t), 9)
        if steps[0] > 0 and np.all(steps == steps[0]):
            return {"starting_time": float(t[0]), "rate": float(1.0 / (t[1] - t[0]))}
    return {"timestamps": t}


# ---------------------------------------------------------------------------------
# the generic rules


def is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def text_values(values: np.ndarray) -> list | None:
    """The array as a list of str (None -> ""), or None when it holds something else."""
    if values.dtype.kind in "US":
        return [str(v) for v in values]
    if values.dtype != object:
        return None
    out = []
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append("")
        elif isinstance(v, str):
            out.append(v)
        else:
            return None
    return out


def constant_repr(values: np.ndarray) -> str | None:
    """``repr`` of the one value every element has, else None."""
    if values.size == 0:
        return None
    first = values[0]
    try:
        same = all(v == first or (is_missing(v) and is_missing(first)) for v in values[1:])
    except Exception:  # noqa: BLE001 - arrays, odd objects: compare their text
        text = repr(first)
        same = all(repr(v) == text for v in values[1:])
    if not same:
        return None
    if isinstance(first, (bool, np.bool_)) or first is None:
        return repr(first if not isinstance(first, np.bool_) else bool(first))
    return repr(first.item() if isinstance(first, np.generic) else first)


def generic(b: Builder, stream: Stream, place=MISC, *, prefix: str | None = None,
            notes_for: str | None = None) -> None:
    """Export every feature of ``stream`` not reported yet, by the module's rules."""
    prefix = stream.tag if prefix is None else prefix
    if stream.kind == TABLE:
        _table(b, stream, place)
        return
    if stream.kind == INTERVALS:
        if b.reported(stream.tag, "start_s"):    # a handler made the table already
            for feature in stream.features:
                if not b.reported(stream.tag, feature) and feature not in (TIME_FEATURE, META_FEATURE):
                    b.left_out(stream.tag, feature, "not one value per row")
            finish(b, stream, notes_for)
        else:
            _intervals(b, stream)
        return
    n = stream.n
    constant = {f for f, _ in b._constants.get(stream.tag, ())}
    for feature, value in stream.features.items():
        if b.reported(stream.tag, feature) or feature in (TIME_FEATURE, META_FEATURE) \
                or feature in constant:
            continue
        try:
            _generic_feature(b, stream, feature, value, n, place, prefix)
        except Exception as exc:  # noqa: BLE001 - one odd feature must not stop the file
            b.left_out(stream.tag, feature, f"could not be written: {type(exc).__name__}: {exc}")
    finish(b, stream, notes_for)


def _generic_feature(b, stream, feature, value, n, place, prefix) -> None:
    tag = stream.tag
    name = nwb_name(f"{prefix}_{feature}" if prefix else feature)
    if not isinstance(value, np.ndarray):
        shown = repr(value)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        b.left_out(tag, feature, f"not a per-sample array ({type(value).__name__}: {shown})")
        return
    if n == 0:
        b.left_out(tag, feature, "the stream has no samples")
        return
    if value.ndim == 1 and value.size == n:
        kind = value.dtype.kind
        if kind in "iufb":
            _, where = b.timeseries(stream, feature, name, value, unit=stream.unit_of(feature),
                                    description=f"{feature} of {tag}. {b.clock_text(stream)}",
                                    place=place)
            b.exported(tag, feature, where)
            return
        if kind == "M":
            b.left_out(tag, feature, "wall-clock time of each sample: session_start_time + "
                                     "the timestamps give it")
            return
        texts = text_values(value)
        if texts is not None:
            where = events_table(b, stream, name, texts,
                                 f"{feature} of {tag}, one row per sample. {b.clock_text(stream)}")
            b.exported(tag, feature, where)
            return
        b.left_out(tag, feature, f"{value.dtype} objects per sample (no NWB type for them)")
        return
    if value.ndim == 2 and value.dtype.kind in "iufb" and n in value.shape:
        data = value if value.shape[0] == n else value.T
        note = "" if value.shape[0] == n else "transposed to samples x columns"
        _, where = b.timeseries(stream, feature, name, data, unit=stream.unit_of(feature),
                                description=f"{feature} of {tag} (samples x {data.shape[1]} columns). "
                                            f"{b.clock_text(stream)}", place=place)
        b.exported(tag, feature, where, note)
        return
    b.left_out(tag, feature, f"a {value.dtype} array of shape {value.shape}, not one value per sample")


def finish(b: Builder, stream: Stream, notes_for: str | None = None) -> None:
    """Report the constants (written into the description of the stream's first series),
    the times and the meta of ``stream``."""
    first = b._first_where.get(stream.tag)
    for feature, value in b._constants.get(stream.tag, ()):
        if b.reported(stream.tag, feature):
            continue
        if first is not None:
            b.exported(stream.tag, feature, f"description of {first}",
                       f"the same value on every sample ({value})")
        else:
            b.left_out(stream.tag, feature, f"the same value on every sample ({value}) "
                                            "and no series to describe")
    if TIME_FEATURE in stream.features and not b.reported(stream.tag, TIME_FEATURE):
        if first is not None:
            b.exported(stream.tag, TIME_FEATURE, f"timestamps of {first}")
        elif notes_for:
            b.exported(stream.tag, TIME_FEATURE, notes_for)
        else:
            b.left_out(stream.tag, TIME_FEATURE, "no series of this source was written")
    if META_FEATURE in stream.features and not b.reported(stream.tag, META_FEATURE):
        b.left_out(stream.tag, META_FEATURE,
                   "datakit's bookkeeping; the file, clock and alignment are in the descriptions")


def events_table(b: Builder, stream: Stream, name: str, texts: list, description: str,
                 t=None) -> str:
    from hdmf.common import VectorData
    from pynwb.event import EventsTable, TimestampVectorData

    times = stream.t if t is None else t
    table = EventsTable(name=nwb_name(name), description=description, columns=[
        TimestampVectorData(name="timestamp", description="seconds from session_start_time",
                            data=np.asarray(times, dtype=np.float64)),
        VectorData(name="annotation", description="the text of each event", data=list(texts))])
    b.nwbfile.add_events_table(table)
    return f"events/{table.name}"


def table_rows(record: dict) -> tuple[list, list, list]:
    """(parameters, values as text, type names) of a one-record table."""
    params, values, types = [], [], []
    for key, value in record.items():
        if isinstance(value, np.generic):
            value = value.item()
        params.append(str(key))
        if value is None or (isinstance(value, float) and math.isnan(value)):
            values.append("")
            types.append("none")
        elif isinstance(value, bool):
            values.append("true" if value else "false")
            types.append("bool")
        elif isinstance(value, (int, float)):
            values.append(repr(value))
            types.append(type(value).__name__)
        else:
            text = str(value)
            values.append(text.replace("{", "(").replace("}", ")") if _dict_like(text) else text)
            types.append("str" if isinstance(value, str) else type(value).__name__)
    return params, values, types


def _dict_like(text: str) -> bool:
    return "{" in text and "}" in text and ":" in text


def _table(b: Builder, stream: Stream, place, name: str | None = None) -> None:
    from hdmf.common import DynamicTable, VectorData

    record = {k: v for k, v in stream.features.items() if k != META_FEATURE}
    if not record:
        finish(b, stream)
        return
    params, values, types = table_rows(record)
    table = DynamicTable(name=nwb_name(name or stream.tag), description=(
        f"{stream.tag}: one row per parameter of {stream.source_file() or 'the source'}; 'value' is the text of "
        "the value datakit read, 'type' its type (int, float, bool, str, none)."), columns=[
        VectorData(name="parameter", description="parameter name", data=params),
        VectorData(name="value", description="the value, as text", data=values),
        VectorData(name="type", description="the value's type when read", data=types)])
    where = b.add(table, place)
    for key, text in zip(params, values):
        note = "braces written as parentheses" if text != str(record[key]) and "(" in text else ""
        b.exported(stream.tag, key, f"{where} (row '{key}')", note)
    finish(b, stream)


def interval_columns(b: Builder, stream: Stream, skip=()) -> list:
    """``[(feature, column data, description)]`` of an interval stream's per-row features;
    the others are reported as left out."""
    n = stream.n
    columns = []
    for feature, value in stream.features.items():
        if feature in skip or feature in (TIME_FEATURE, META_FEATURE) or b.reported(stream.tag, feature):
            continue
        if not isinstance(value, np.ndarray) or value.ndim != 1 or value.size != n:
            b.left_out(stream.tag, feature, "not one value per row")
            continue
        if value.dtype.kind in "iufb":
            columns.append((feature, value, f"{feature} ({stream.tag})"))
        elif value.dtype.kind == "M":
            b.left_out(stream.tag, feature, "wall-clock time: session_start_time + the start/stop "
                                            "times give it")
        else:
            texts = text_values(value)
            if texts is None:
                b.left_out(stream.tag, feature, "lists or objects per row (no table column type)")
            elif any(_dict_like(t) for t in texts):
                b.left_out(stream.tag, feature, "text holding dictionaries (NWB asks for columns)")
            else:
                columns.append((feature, texts, f"{feature} ({stream.tag}); text"))
    return columns


def _intervals(b: Builder, stream: Stream) -> None:
    from pynwb.epoch import TimeIntervals

    n = stream.n
    start = stream.features.get("start_s")
    stop = stream.features.get("stop_s")
    if n == 0 or not isinstance(start, np.ndarray) or not isinstance(stop, np.ndarray):
        for feature in stream.features:
            if not b.reported(stream.tag, feature) and feature != META_FEATURE:
                b.left_out(stream.tag, feature, "no intervals")
        finish(b, stream)
        return
    table = TimeIntervals(name=nwb_name(stream.tag),
                          description=f"Intervals of {stream.tag}. {b.clock_text(stream)}")
    columns = interval_columns(b, stream, skip=("start_s", "stop_s"))
    fill_intervals(table, start, stop, columns)
    b.nwbfile.add_time_intervals(table)
    where = f"intervals/{table.name}"
    b.exported(stream.tag, "start_s", f"{where} start_time")
    b.exported(stream.tag, "stop_s", f"{where} stop_time")
    b.exported(stream.tag, TIME_FEATURE, f"{where} start_time")
    for feature, _, _ in columns:
        b.exported(stream.tag, feature, f"{where} column {nwb_name(feature)}")
    finish(b, stream)


RESERVED_COLUMNS = {"start_time", "stop_time", "tags", "timeseries", "id"}


def fill_intervals(table, start, stop, columns, tags=None) -> None:
    """Rows of a TimeIntervals table (columns first, then one add_row per interval)."""
    names = []
    for feature, _, description in columns:
        name = nwb_name(feature)
        if name in RESERVED_COLUMNS:
            name = f"{name}_"
        names.append(name)
        table.add_column(name=name, description=description)
    for i in range(len(start)):
        row = {name: _cell(data[i]) for name, (_, data, _) in zip(names, columns)}
        if tags is not None:
            row["tags"] = tags[i]
        table.add_row(start_time=float(start[i]), stop_time=float(stop[i]), **row)


def _cell(value):
    return value.item() if isinstance(value, np.generic) else value
