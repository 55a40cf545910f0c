"""``meso_metadata`` / ``pupil_metadata``: per-frame camera metadata sidecars (JSON).

Two layouts are read:

* pymmcore-plus OME writer: ``{"p0": [FrameMetaV1, ...]}`` with Micro-Manager tags in
  ``camera_metadata`` (``ImageNumber``, ``ElapsedTime-ms``, ``TimeReceivedByCore``, ...);
* the OpenCV MP4 writer: ``{"device", "started", "stopped", "frames": [{"index",
  "device_ts"}, ...], "frame_metadatas": ...}``.

Only the fields needed are pulled out of the parsed JSON (no json_normalize).  The
camera's own clock is ``TimeReceivedByCore`` (else ``device_ts``, ``ElapsedTime-ms``,
``runner_time_ms``).  With a dataqueue the frames are put on the master clock through
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


class _Camera(msgspec.Struct):
    """The Micro-Manager tags datakit uses (everything else in the frame is skipped)."""

    ImageNumber: Union[str, int, float, None] = None
    ElapsedTime: Union[str, int, float, None] = msgspec.field(default=None, name="ElapsedTime-ms")
    TimeReceivedByCore: Optional[str] = None
    Camera: Optional[str] = None
    Temperature: Union[str, int, float, None] = None


class _Frame(msgspec.Struct):
    runner_time_ms: Union[float, int, str, None] = None
    exposure_ms: Union[float, int, str, None] = None
    camera_metadata: Optional[_Camera] = None


class _Pymmcore(msgspec.Struct):
    p0: list[_Frame]


class _Mp4Frame(msgspec.Struct):
    index: Union[int, float, str, None] = None
    device_ts: Optional[str] = None


class _Mp4(msgspec.Struct):
    frames: list[_Mp4Frame]
    device: Optional[str] = None


_DECODERS = (("pymmcore_p0", msgspec.json.Decoder(_Pymmcore)),
             ("opencv_mp4", msgspec.json.Decoder(_Mp4)))


def _decode(path) -> tuple[pd.DataFrame, str, str | None]:
    """(per-frame table, layout name, device) with only the fields datakit needs."""
    data = check_file(path).read_bytes()
    for layout, decoder in _DECODERS:
        try:
            doc = decoder.decode(data)
        except msgspec.ValidationError:
            continue  # another layout, or odd types: try the next, then the generic path
        except msgspec.DecodeError as exc:
            raise json_error(path, exc) from None
        if layout == "opencv_mp4":
            return _mp4_table(doc.frames), layout, doc.device
        return _pymmcore_table(doc.p0), layout, None
    return _generic(read_json(path), path)


def _numeric(values) -> np.ndarray:
    """Numbers or numeric strings -> float64 (anything else -> NaN)."""
    try:
        return np.asarray(values, dtype=np.float64)  # fast: numbers, "12.5", None
    except (TypeError, ValueError):
        return pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(dtype=np.float64)


def _pymmcore_table(frames) -> pd.DataFrame:
    cams = [f.camera_metadata or _NO_CAMERA for f in frames]
    table = pd.DataFrame({
        "image_number": _numeric([c.ImageNumber for c in cams]),
        "runner_time_ms": _numeric([f.runner_time_ms for f in frames]),
        "elapsed_time_ms": _numeric([c.ElapsedTime for c in cams]),
        "time_received": timeline.parse_wall([c.TimeReceivedByCore for c in cams]),
        "exposure_ms": _numeric([f.exposure_ms for f in frames]),
        "temperature": _numeric([c.Temperature for c in cams]).astype(np.float32),
        "camera": pd.Series([c.Camera for c in cams], dtype="category"),
    })
    return table.dropna(axis=1, how="all")


def _mp4_table(frames) -> pd.DataFrame:
    return pd.DataFrame({
        "image_number": _numeric([f.index for f in frames]),
        "time_received": timeline.parse_wall([f.device_ts for f in frames]),
    }).dropna(axis=1, how="all")


_NO_CAMERA = _Camera()


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
    frames = [f for f in frames if isinstance(f, dict)]
    converted = []
    for f in frames:
        cam = f.get("camera_metadata") if isinstance(f.get("camera_metadata"), dict) else {}
        converted.append(_Frame(
            runner_time_ms=_plain(f.get("runner_time_ms")), exposure_ms=_plain(f.get("exposure_ms")),
            camera_metadata=_Camera(
                ImageNumber=_plain(cam.get("ImageNumber", f.get("index"))),
                ElapsedTime=_plain(cam.get("ElapsedTime-ms")),
                TimeReceivedByCore=_text(cam.get("TimeReceivedByCore", f.get("device_ts"))),
                Camera=_text(cam.get("Camera")), Temperature=_plain(cam.get("Temperature")))))
    return _pymmcore_table(converted), "generic", None


def _plain(value):
    return value if isinstance(value, (int, float, str)) else None


def _text(value):
    return value if isinstance(value, str) else None


class _CameraMetadataSource(DataSource):
    kind = TIMESERIES
    signals = (Signal("time_elapsed_s", "frame interval", "ms"),)   # frame health, no curve
    requires = ("dataqueue", "timestamps")
    role = "master_camera"

    def load(self, path, *, context=None):
        context = self.context_or_default(path, context)
        table, layout, device = _decode(path)
        if len(table) == 0:
            raise ValueError(f"{path}: the sidecar lists no frames")
        try:
            own_t, own_basis, wall = self._own_clock(table, path)
        except ValueError as exc:  # the dataqueue may still time the frames by number
            own_t = own_basis = wall = None
            no_clock = exc
        numbers = table["image_number"].to_numpy(dtype=np.float64) \
            if "image_number" in table else np.full(len(table), np.nan)
        real_numbers = bool(np.isfinite(numbers).all())
        if not real_numbers:
            numbers = np.arange(len(table), dtype=np.float64)

        meta: dict = {"source_file": str(path), "layout": layout, "n_frames": int(len(table)),
                      "device_id": device or _first(table.get("camera"))}
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
        return self.stream(t, table, meta)

    @staticmethod
    def _own_clock(table: pd.DataFrame, path) -> tuple[np.ndarray, str, np.ndarray | None]:
        """(seconds from the first frame, which field, wall epoch seconds or None).

        The first field (in order of preference) present for at least half the frames
        is used; frames without it get NaN and are dropped later (counted in meta).
        """
        n = len(table)
        need = max(2, (n + 1) // 2) if n > 1 else 1
        if "time_received" in table and table["time_received"].notna().sum() >= need:
            wall = timeline.wall_seconds(table["time_received"].to_numpy())
            return wall - np.nanmin(wall), "TimeReceivedByCore", wall
        for column, label in (("elapsed_time_ms", "ElapsedTime-ms"), ("runner_time_ms", "runner_time_ms")):
            if column in table and table[column].notna().sum() >= need:
                ms = table[column].to_numpy(dtype=np.float64)
                return (ms - np.nanmin(ms)) / 1000.0, label, None
        raise ValueError(
            f"{path}: no usable frame clock: TimeReceivedByCore, ElapsedTime-ms and "
            "runner_time_ms are each missing for most frames")


def _first(series):
    if series is None or len(series) == 0:
        return None
    value = series.iloc[0]
    return None if pd.isna(value) else str(value)


@register_builtin
class MesoMetadataSource(_CameraMetadataSource):
    tag = "meso_metadata"
    patterns = ("*_mesoscope.ome.tiff_frame_metadata.json", "*_meso.ome.tiff_frame_metadata.json")
    role = "master_camera"
    camera_tag = "meso"
    description = "Mesoscope camera frame metadata (per-frame times)"


@register_builtin
class PupilMetadataSource(_CameraMetadataSource):
    tag = "pupil_metadata"
    patterns = ("*_pupil.mp4_frame_metadata.json", "*_pupil.ome.tiff_frame_metadata.json")
    role = "pupil_camera"
    camera_tag = "pupil"
    description = "Pupil camera frame metadata (per-frame times)"
