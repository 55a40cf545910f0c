"""Session-level files: ``session_config``, ``notes``, ``timestamps``.

Wall-clock times (notes, device start/stop) go on the master clock through the
dataqueue's packet_ts↔queue_elapsed fit; without a dataqueue they go on the
``session_timestamps`` clock (zero = the master camera's ``started`` in timestamps.csv),
and notes without either start at the first note (``notes_relative``).

Repairs, counted in meta: notes are sorted by time (``resorted``); a note whose stamp is
not a date (``2025-13-45``) cannot be placed and is dropped (``n_dropped_nan_time``);
lines before the first stamped line are kept as ``unparsed_text`` (the first
``MAX_UNPARSED_LINES``; ``n_unparsed_lines`` is exact); a timestamps row written twice is
dropped (``n_dropped_duplicate_rows``), one without a readable ``started`` too
(``n_dropped_nan_time``).  A configuration with more than ``MAX_PARAMETERS`` rows is
refused (every parameter becomes a column).
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from .. import timeline
from .base import INTERVALS, TABLE, TIMESERIES, DataSource
from .readers import check_file, read_csv, require_columns
from .registry import register_builtin
from .signals import Signal

_NUMBER = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")
_INT = re.compile(r"[-+]?\d+")
IDENTITY_PARAMETERS = ("subject", "session", "task")
#: The earlier implementation's variable sets (PT_s, what mesofield writes, now maps too).
VARIABLE_MAPPING = {"subject": ("sex", "genotype", "DOS", "DOB"),
                    "session": ("weight", "XYZ", "PT", "PT_s")}
#: More rows than this is not a session configuration (mesofield writes a few dozen).
MAX_PARAMETERS = 10_000
#: Lines of unparsed notes text kept in meta (the count is always exact).
MAX_UNPARSED_LINES = 200


def typed_value(text, *, keep_text: bool = False):
    """'1200' -> 1200, '20.30' -> 20.3, 'False' -> False, '' -> None; other text unchanged."""
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return None
    value = str(text).strip()
    if keep_text:
        return value
    lowered = value.lower()
    if lowered in ("", "nan", "none", "null"):
        return None
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    if _INT.fullmatch(value):
        return int(value)
    if _NUMBER.fullmatch(value):
        return float(value)
    return value


@register_builtin
class SessionConfigSource(DataSource):
    tag = "session_config"
    # plus the file's variables flattened in: the keys of subject_variables,
    # session_variables and unmapped_variables (the earlier implementation's meta)
    meta_keys = (
        "duplicate_parameters", "n_dropped_truncated_rows", "n_params", "parameter_values",
        "scope", "session_variables", "source_file", "subject_variables", "truncation_note",
        "unmapped_variables", "variable_mapping",
    )
    patterns = ("*_configuration.csv",)
    kind = TABLE
    description = "Session configuration (Parameter,Value), values typed"
    signals = ()

    def load(self, path, *, context=None):
        meta: dict = {"source_file": str(path), "scope": "session"}
        frame = read_csv(path, dtype=str, keep_default_na=False, info=meta)
        require_columns(frame, ["Parameter", "Value"], path, "configuration CSV (Parameter,Value)")
        if len(frame) > MAX_PARAMETERS:
            raise ValueError(
                f"{path}: not a configuration CSV: {len(frame)} parameters; a configuration "
                f"has at most {MAX_PARAMETERS} (each parameter becomes a column)")
        names = frame["Parameter"].str.strip()
        record: dict = {}
        duplicates = sorted(set(names[names.duplicated()]))
        for name, raw in zip(names, frame["Value"]):
            if name:
                record[name] = typed_value(raw, keep_text=name in IDENTITY_PARAMETERS)
        meta.update(_variables(record))
        if duplicates:
            meta["duplicate_parameters"] = duplicates
        # one row indexed "Value", one column per parameter (the earlier value's shape)
        value = pd.DataFrame([list(record.values())], index=pd.Index(["Value"], dtype=object),
                             columns=pd.Index(list(record), dtype=object), dtype=object)
        return self.stream(np.zeros(0), value, meta)


def _variables(record: dict) -> dict:
    """The earlier implementation's meta: subject/session variable sets, the other
    parameters, and every variable flattened in (values typed like the record)."""
    subject = {k: record[k] for k in VARIABLE_MAPPING["subject"] if record.get(k) is not None}
    session = {k: record[k] for k in VARIABLE_MAPPING["session"] if record.get(k) is not None}
    mapped = set(subject) | set(session)
    parameters = {k: v for k, v in record.items() if k not in mapped | {"subject", "session"}}
    unmapped = {k: v for k, v in parameters.items() if v is not None}
    out = {"n_params": len(parameters), "parameter_values": parameters,
           "subject_variables": subject, "session_variables": session,
           "unmapped_variables": unmapped,
           "variable_mapping": {scope: list(keys) for scope, keys in VARIABLE_MAPPING.items()}}
    for key, value in {**subject, **session, **unmapped}.items():
        out.setdefault(key, value)
    return out


_NOTE = re.compile(r"^(?P<stamp>\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:\.\d+)?):\s?(?P<text>.*)$")


def _read_text(path) -> tuple[str, str]:
    data = check_file(path).read_bytes()
    if b"\x00" in data:
        raise ValueError(f"{path}: binary data (NUL bytes) in a text file")
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace"), "cp1252"


@register_builtin
class NotesSource(DataSource):
    tag = "notes"
    meta_keys = (
        "encoding", "n_dropped_nan_time", "n_notes", "n_same_second_notes", "n_unparsed_lines",
        "resorted", "source_file", "time_basis", "unparsed_text",
    )
    patterns = ("*_notes.txt",)
    requires = ("dataqueue", "timestamps")
    kind = TIMESERIES
    description = "Experimenter notes (one timestamped line per note)"
    signals = (Signal("note", "notes"),)                  # time markers

    def load(self, path, *, context=None):
        context = self.context_or_default(path, context)
        text, encoding = _read_text(path)
        lines = pd.Series(text.splitlines(), dtype=object)
        lines = lines[lines.str.strip() != ""]
        parts = lines.str.extract(_NOTE)
        starts = parts["stamp"].notna()
        meta: dict = {"source_file": str(path), "encoding": encoding}
        # lines without a timestamp continue the note above them
        group = starts.cumsum()
        orphan = lines[group == 0]
        if len(orphan):
            meta["n_unparsed_lines"] = int(len(orphan))
            meta["unparsed_text"] = "\n".join(orphan.iloc[:MAX_UNPARSED_LINES])
            if len(orphan) > MAX_UNPARSED_LINES:
                meta["unparsed_text"] += f"\n... ({len(orphan) - MAX_UNPARSED_LINES} more lines)"
        body = parts["text"].where(starts, lines)[group > 0]
        notes = body.groupby(group[group > 0]).agg("\n".join)
        # the pattern above admits ISO 8601 stamps only: say so, pandas must not guess
        stamps = pd.to_datetime(parts["stamp"][starts], errors="coerce", format="ISO8601").to_numpy()
        value = pd.DataFrame({"timestamp": stamps, "note": notes.to_numpy(dtype=object)})
        unreadable = int(value["timestamp"].isna().sum())
        if unreadable:  # a stamp like 2025-13-45: the note cannot be placed in time
            meta["n_dropped_nan_time"] = unreadable
        value = value[value["timestamp"].notna()]
        if len(value) > 1 and (np.diff(value["timestamp"].to_numpy()) < np.timedelta64(0)).any():
            meta["resorted"] = True
        value = value.sort_values("timestamp", kind="stable").reset_index(drop=True)
        wall = timeline.wall_seconds(value["timestamp"].to_numpy())
        mapping = timeline.session_wall_map(context)
        if mapping is not None:
            t, basis = mapping(wall), mapping.basis
        else:
            t, basis = (wall - wall[0]) if wall.size else wall, "notes_relative"
        t, ties = timeline.break_ties(t)
        meta.update({"n_notes": int(len(value)), "time_basis": basis})
        if ties:
            meta["n_same_second_notes"] = ties
        return self.stream(t, value, meta)


@register_builtin
class TimestampsSource(DataSource):
    tag = "timestamps"
    meta_keys = (
        "devices", "n_dropped_duplicate_rows", "n_dropped_nan_time",
        "n_dropped_truncated_rows", "session_zero_device", "session_zero_epoch_s",
        "source_file", "time_basis", "truncation_note",
    )
    patterns = ("*_timestamps.csv",)
    requires = ("dataqueue",)
    kind = INTERVALS
    description = "Start/stop time of each device and of the protocol"
    signals = (Signal("start_s", "recording"),)           # one span per device

    def load(self, path, *, context=None):
        context = self.context_or_default(path, context)
        read_info: dict = {}
        frame = read_csv(path, dtype=str, info=read_info)
        require_columns(frame, ["device_id", "started", "stopped"], path,
                        "timestamps CSV (device_id,started,stopped)")
        frame = frame[["device_id", "started", "stopped"]].copy()
        repeated = frame.duplicated(keep="first").to_numpy()
        if repeated.any():  # a device's row written twice
            frame = frame[~repeated]
        frame["device_id"] = frame["device_id"].fillna("").str.strip()
        frame["started"] = timeline.parse_wall(frame["started"])
        frame["stopped"] = timeline.parse_wall(frame["stopped"])
        n_bad = int(frame["started"].isna().sum())
        frame = frame[frame["started"].notna()].reset_index(drop=True)
        if frame.empty:
            raise ValueError(f"{path}: no row has a readable 'started' time (YYYY-MM-DD HH:MM:SS.ffffff)")
        started = timeline.wall_seconds(frame["started"].to_numpy())
        stopped = timeline.wall_seconds(frame["stopped"].to_numpy())
        master = context.settings.devices.mask("master_camera", frame["device_id"].to_numpy(dtype=object))
        zero_row = int(np.argmax(master)) if master.any() else int(np.argmin(started))
        zero = float(started[zero_row])
        zero_device = str(frame["device_id"].iloc[zero_row])
        mapping = timeline.wall_map(context)
        if mapping is None:
            mapping = timeline.WallMap(1.0, 0.0, zero, timeline.SESSION_TIMESTAMPS)
        frame["start_s"] = mapping(started)
        frame["stop_s"] = mapping(stopped)
        frame["device_id"] = frame["device_id"].astype(object)
        frame = frame.sort_values("start_s", kind="stable").reset_index(drop=True)
        meta = {
            "source_file": str(path),
            **read_info,
            "devices": frame["device_id"].tolist(),
            "time_basis": mapping.basis,
            "session_zero_device": zero_device,
            "session_zero_epoch_s": zero,
        }
        if n_bad:
            meta["n_dropped_nan_time"] = n_bad
        if repeated.any():
            meta["n_dropped_duplicate_rows"] = int(repeated.sum())
        return self.stream(frame["start_s"].to_numpy(), frame, meta)
