"""``meso_metadata`` / ``pupil_metadata``: per-frame camera metadata sidecars (JSON).

Two layouts are read:

* pymmcore-plus OME writer: ``{"p0": [FrameMetaV1, ...]}`` with Micro-Manager tags in
  ``camera_metadata`` (``ImageNumber``, ``ElapsedTime-ms``, ``TimeReceivedByCore``, ...);
* the OpenCV MP4 writer: ``{"device", "started", "stopped", "frames": [{"index",
  "device_ts"}, ...], "frame_metadatas": ...}``.

Only the fields needed are pulled out of the parsed JSON (no json_normalize).  Features
keep the earlier implementation's names: ``ImageNumber`` (uint32), ``Camera``
(categorical), ``Temperature`` (float32), ``Binning``, ``exposure_ms``, ``position``
(dict per frame), ``runner_time_ms``; the pupil camera also ``Height``, ``Width``,
``ROI-X-start``, ``ROI-Y-start`` and ``mda_event``; plus ``time_absolute``
(``TimeReceivedByCore`` as UTC-labelled datetimes, as the earlier implementation meant
it) and the added ``elapsed_time_ms`` (``ElapsedTime-ms``).  Other camera-specific
Micro-Manager tags are not read.  The camera's own clock is ``TimeReceivedByCore``
(else ``device_ts``, ``ElapsedTime-ms``, ``runner_time_ms``).  With a dataqueue the frames are put on the master clock through
the camera's rows (matched by ImageNumber); without one, wall-clock frame times go on
the ``session_timestamps`` clock when ``timestamps.csv`` exists, else the camera clock
starts at its first frame (``time_basis="camera_sidecar"``).  A sidecar whose own clock
fields are unusable still loads when the dataqueue times its frames by ImageNumber
(``camera_clock`` is then None); frames are sorted by time (``resorted``) and a frame
listed twice is dropped (``n_dropped_duplicate_time``).
"""
from __future__ import annotations

from typing import Optional, Union

import msgspec
import numpy as np
import pandas as pd

from .. import timeline
from . import camera_clock
from .base import TIMESERIES, DataSource
from .readers import check_file, json_error, read_json
from .registry import register_builtin
from .signals import Signal


_Tag = Union[str, int, float, None]

# gc=False: millions of small instances, never in a reference cycle; about 3x faster


class _Camera(msgspec.Struct, gc=False):
    """The Micro-Manager tags datakit uses (everything else in the frame is skipped)."""

    ImageNumber: _Tag = None
    ElapsedTime: _Tag = msgspec.field(default=None, name="ElapsedTime-ms")
    TimeReceivedByCore: Optional[str] = None
    Camera: Optional[str] = None
    Temperature: _Tag = None
    Binning: _Tag = None


class _CameraFull(_Camera, gc=False):
    """The same plus the tags the earlier implementation kept for the pupil camera."""

    Height: _Tag = None
    Width: _Tag = None
    ROI_X_start: _Tag = msgspec.field(default=None, name="ROI-X-start")
    ROI_Y_start: _Tag = msgspec.field(default=None, name="ROI-Y-start")


class _Frame(msgspec.Struct, gc=False):
    runner_time_ms: Union[float, int, str, None] = None
    exposure_ms: Union[float, int, str, None] = None
    camera_device: Optional[str] = None
    position: Optional[dict] = None
    camera_metadata: Optional[_Camera] = None


class _FrameFull(msgspec.Struct, gc=False):
    runner_time_ms: Union[float, int, str, None] = None
    exposure_ms: Union[float, int, str, None] = None
    camera_device: Optional[str] = None
    position: Optional[dict] = None
    mda_event: Optional[dict] = None
    camera_metadata: Optional[_CameraFull] = None


class _Pymmcore(msgspec.Struct, gc=False):
    p0: list[_Frame]


class _PymmcoreFull(msgspec.Struct, gc=False):
    p0: list[_FrameFull]


class _Mp4Frame(msgspec.Struct, gc=False):
    index: Union[int, float, str, None] = None
    device_ts: Optional[str] = None


class _Mp4(msgspec.Struct, gc=False):
    frames: list[_Mp4Frame]
    device: Optional[str] = None


#: full=False: the mesoscope's fields; full=True: also the pupil camera's extra tags
_DECODERS = {
    False: (("pymmcore_p0", msgspec.json.Decoder(_Pymmcore)),
            ("opencv_mp4", msgspec.json.Decoder(_Mp4))),
    True: (("pymmcore_p0", msgspec.json.Decoder(_PymmcoreFull)),
           ("opencv_mp4", msgspec.json.Decoder(_Mp4))),
}
#: columns only the pupil camera keeps (the earlier implementation dropped them for meso)
PUPIL_ONLY = ("Height", "Width", "ROI-X-start", "ROI-Y-start", "mda_event")


def _decode(path, full: bool = True) -> tuple[pd.DataFrame, str, str | None, str]:
    """(per-frame table, layout name, device, JSON key of the frame list)."""
    data = check_file(path).read_bytes()
    for layout, decoder in _DECODERS[full]:
        try:
            doc = decoder.decode(data)
        except msgspec.ValidationError:
            continue  # another layout, or odd types: try the next, then the generic path
        except msgspec.DecodeError as exc:
            raise json_error(path, exc) from None
        if layout == "opencv_mp4":
            return _mp4_table(doc.frames), layout, doc.device, "frames"
        device = next((f.camera_device for f in doc.p0[:1] if f.camera_device), None)
        return _pymmcore_table(doc.p0, full), layout, device, "p0"
    table, layout, device, key = _generic(read_json(path), path)
    if not full:
        table = table.drop(columns=[c for c in PUPIL_ONLY if c in table.columns])
    return table, layout, device, key


def _numeric(values) -> np.ndarray:
    """Numbers or numeric strings -> float64 (anything else -> NaN)."""
    try:
        return np.asarray(values, dtype=np.float64)  # fast: numbers, "12.5", None
    except (TypeError, ValueError):
        return pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(dtype=np.float64)


def _tags(values: list) -> pd.Series | None:
    """Micro-Manager tag values as written (usually text), None where absent; None when
    no frame has the tag (object dtype: no per-value type inference)."""
    if values.count(None) == len(values):
        return None
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return pd.Series(out, dtype=object, copy=False)


def _category(values: list) -> pd.Categorical:
    """A categorical column; one value repeated (the usual case) without hashing each."""
    first = values[0] if values else None
    if first is not None and values.count(first) == len(values):
        return pd.Categorical.from_codes(np.zeros(len(values), dtype=np.int8), [first])
    return pd.Categorical(values)


def _pymmcore_table(frames, full: bool = True) -> pd.DataFrame:
    cams = [f.camera_metadata or (_NO_CAMERA_FULL if full else _NO_CAMERA) for f in frames]
    columns = {
        "ImageNumber": _numeric([c.ImageNumber for c in cams]),
        "runner_time_ms": _numeric([f.runner_time_ms for f in frames]),
        "elapsed_time_ms": _numeric([c.ElapsedTime for c in cams]),
        "time_absolute": timeline.parse_wall([c.TimeReceivedByCore for c in cams]),
        "exposure_ms": _numeric([f.exposure_ms for f in frames]),
        "Temperature": _numeric([c.Temperature for c in cams]).astype(np.float32),
        "Camera": _category([c.Camera for c in cams]),
        "Binning": _tags([c.Binning for c in cams]),
    }
    if full:
        columns.update({
            "Height": _tags([c.Height for c in cams]),
            "Width": _tags([c.Width for c in cams]),
            "ROI-X-start": _tags([c.ROI_X_start for c in cams]),
            "ROI-Y-start": _tags([c.ROI_Y_start for c in cams]),
        })
    # FrameMetaV1 always has position and mda_event (often null): kept like the earlier
    # implementation did, even when empty; a Micro-Manager tag no frame has is left out
    columns["position"] = _tags([f.position for f in frames])
    if full:
        columns["mda_event"] = _tags([f.mda_event for f in frames])
    for name in ALWAYS_KEPT:
        if name in columns and columns[name] is None:
            columns[name] = pd.Series(np.full(len(frames), None, dtype=object), dtype=object)
    table = pd.DataFrame({k: v for k, v in columns.items() if v is not None})
    empty = [c for c in table.columns if table[c].dtype != object and c not in ALWAYS_KEPT
             and table[c].isna().all()]
    return table.drop(columns=empty)


ALWAYS_KEPT = ("position", "mda_event")


def _mp4_table(frames) -> pd.DataFrame:
    return pd.DataFrame({
        "ImageNumber": _numeric([f.index for f in frames]),
        "time_absolute": timeline.parse_wall([f.device_ts for f in frames]),
    }).dropna(axis=1, how="all")


_NO_CAMERA = _Camera()
_NO_CAMERA_FULL = _CameraFull()


def _generic(data, path) -> tuple[pd.DataFrame, str, str | None]:
    """Any other layout: a list of frame dicts under some key (or at the top level)."""
    if isinstance(data, dict):
        frames = next((v for v in data.values() if isinstance(v, list) and v
                       and isinstance(v[0], dict)), None)
        if frames is None:
            raise ValueError(f"{path}: no frame list found (expected key 'p0' or 'frames'; "
                             f"keys: {list(data)[:10]})")
    elif isinstance(data, list) and data and all(isinstance(f, dict) for f in data):
        frames = data
    else:
        raise ValueError(f"{path}: expected a JSON object with per-frame metadata")
    key = next((k for k, v in data.items() if v is frames), None) if isinstance(data, dict) else None
    frames = [f for f in frames if isinstance(f, dict)]
    converted = []
    for f in frames:
        cam = f.get("camera_metadata") if isinstance(f.get("camera_metadata"), dict) else {}
        converted.append(_FrameFull(
            runner_time_ms=_plain(f.get("runner_time_ms")), exposure_ms=_plain(f.get("exposure_ms")),
            camera_device=_text(f.get("camera_device")),
            position=f.get("position") if isinstance(f.get("position"), dict) else None,
            mda_event=f.get("mda_event") if isinstance(f.get("mda_event"), dict) else None,
            camera_metadata=_CameraFull(
                ImageNumber=_plain(cam.get("ImageNumber", f.get("index"))),
                ElapsedTime=_plain(cam.get("ElapsedTime-ms")),
                TimeReceivedByCore=_text(cam.get("TimeReceivedByCore", f.get("device_ts"))),
                Camera=_text(cam.get("Camera")), Temperature=_plain(cam.get("Temperature")),
                Binning=_plain(cam.get("Binning")), Height=_plain(cam.get("Height")),
                Width=_plain(cam.get("Width")), ROI_X_start=_plain(cam.get("ROI-X-start")),
                ROI_Y_start=_plain(cam.get("ROI-Y-start")))))
    device = next((f.camera_device for f in converted[:1] if f.camera_device), None)
    return _pymmcore_table(converted), "generic", device, key


def _plain(value):
    return value if isinstance(value, (int, float, str)) else None


def _text(value):
    return value if isinstance(value, str) else None


class _CameraMetadataSource(DataSource):
    kind = TIMESERIES
    signals = (Signal("time_elapsed_s", "frame interval", "ms"),)   # frame health, no curve
    requires = ("dataqueue", "timestamps")
    role = "master_camera"
    #: read the tags the earlier implementation kept only for the pupil camera (PUPIL_ONLY)
    full_tags: bool = True

    def load(self, path, *, context=None):
        context = self.context_or_default(path, context)
        table, layout, device, entry_key = _decode(path, self.full_tags)
        if len(table) == 0:
            raise ValueError(f"{path}: the sidecar lists no frames")
        try:
            own_t, own_basis, wall = self._own_clock(table, path)
        except ValueError as exc:  # the dataqueue may still time the frames by number
            own_t = own_basis = wall = None
            no_clock = exc
        numbers = table["ImageNumber"].to_numpy(dtype=np.float64) \
            if "ImageNumber" in table else np.full(len(table), np.nan)
        real_numbers = bool(np.isfinite(numbers).all())
        if not real_numbers:
            numbers = np.arange(len(table), dtype=np.float64)

        meta: dict = {"source_file": str(path), "layout": layout, "n_frames": int(len(table)),
                      "device_id": device or _first(table.get("Camera")),
                      "json_entry_key": entry_key}
        found = camera_clock.from_dataqueue(context, self.role, numbers)
        if own_t is None and not (real_numbers and found is not None
                                  and found[1].get("alignment") == "frame_number"):
            raise no_clock
        if found is not None:
            t, info = found
        else:
            mapping = timeline.session_wall_map(context)
            if mapping is not None and wall is not None:
                t, info = mapping(wall), {"time_basis": mapping.basis, "alignment": "wall_clock"}
            else:
                t, info = own_t, {"time_basis": timeline.CAMERA_SIDECAR, "alignment": own_basis}
        meta.update(info)
        meta["camera_clock"] = own_basis
        t, table, order_info = timeline.take_monotonic(t, table)
        meta.update(order_info)
        meta["n_frames"] = int(len(table))
        if "ImageNumber" in table:
            table["ImageNumber"] = _image_numbers(table["ImageNumber"])
        if "time_absolute" in table:
            table["time_absolute"] = table["time_absolute"].dt.tz_localize("UTC")
        table["time_elapsed_s"] = t  # in the value too, as before
        return self.stream(t, table, meta)

    @staticmethod
    def _own_clock(table: pd.DataFrame, path) -> tuple[np.ndarray, str, np.ndarray | None]:
        """(seconds from the first frame, which field, wall epoch seconds or None).

        The first field (in order of preference) present for at least half the frames
        is used; frames without it get NaN and are dropped later (counted in meta).
        """
        n = len(table)
        need = max(2, (n + 1) // 2) if n > 1 else 1
        if "time_absolute" in table and table["time_absolute"].notna().sum() >= need:
            wall = timeline.wall_seconds(table["time_absolute"].to_numpy())
            return wall - np.nanmin(wall), "TimeReceivedByCore", wall
        for column, label in (("elapsed_time_ms", "ElapsedTime-ms"), ("runner_time_ms", "runner_time_ms")):
            if column in table and table[column].notna().sum() >= need:
                ms = table[column].to_numpy(dtype=np.float64)
                return (ms - np.nanmin(ms)) / 1000.0, label, None
        raise ValueError(
            f"{path}: no usable frame clock: TimeReceivedByCore, ElapsedTime-ms and "
            "runner_time_ms are each missing for most frames")


def _image_numbers(values: pd.Series) -> pd.Series:
    """uint32 when every number is a whole number in range (as the earlier loader did),
    else float64 with NaN."""
    v = values.to_numpy(dtype=np.float64)
    if v.size and np.isfinite(v).all() and (v >= 0).all() and (v < 2**32 - 1).all() \
            and (v == np.round(v)).all():
        return pd.Series(v.astype(np.uint32), index=values.index)
    return values


def _first(series):
    if series is None or len(series) == 0:
        return None
    value = series.iloc[0]
    return None if pd.isna(value) else str(value)


@register_builtin
class MesoMetadataSource(_CameraMetadataSource):
    tag = "meso_metadata"
    meta_keys = (
        "alignment", "camera_clock", "dataqueue_alignment", "dataqueue_anchors",
        "dataqueue_device", "dataqueue_file", "device_id", "json_entry_key", "layout",
        "n_dropped_duplicate_time", "n_dropped_nan_time", "n_frames", "n_frames_matched",
        "resorted", "source_file", "time_basis",
    )
    patterns = ("*_mesoscope.ome.tiff_frame_metadata.json", "*_meso.ome.tiff_frame_metadata.json")
    role = "master_camera"
    camera_tag = "meso"
    full_tags = False
    description = "Mesoscope camera frame metadata (per-frame times)"


@register_builtin
class PupilMetadataSource(_CameraMetadataSource):
    tag = "pupil_metadata"
    meta_keys = (
        "alignment", "camera_clock", "dataqueue_alignment", "dataqueue_anchors",
        "dataqueue_device", "dataqueue_file", "device_id", "json_entry_key", "layout",
        "n_dropped_duplicate_time", "n_dropped_nan_time", "n_frames", "n_frames_matched",
        "resorted", "source_file", "time_basis",
    )
    patterns = ("*_pupil.mp4_frame_metadata.json", "*_pupil.ome.tiff_frame_metadata.json")
    role = "pupil_camera"
    camera_tag = "pupil"
    description = "Pupil camera frame metadata (per-frame times)"
