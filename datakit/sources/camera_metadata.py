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
starts at its first frame (``time_basis="camera_sidecar"``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import timeline
from . import camera_clock
from .base import TIMESERIES, DataSource
from .readers import read_json
from .registry import register_builtin


def _frames_and_layout(data, path) -> tuple[list, str, str | None]:
    if isinstance(data, dict):
        if isinstance(data.get("frames"), list):
            return data["frames"], "opencv_mp4", data.get("device")
        if isinstance(data.get("p0"), list):
            return data["p0"], "pymmcore_p0", None
        for key, value in data.items():
            if isinstance(value, list) and value and isinstance(value[0], dict):
                return value, f"pymmcore_{key}", None
        raise ValueError(
            f"{path}: no frame list found (expected key 'p0' or 'frames'; "
            f"keys: {list(data)[:10]})")
    if isinstance(data, list) and (not data or isinstance(data[0], dict)):
        return data, "list", None
    raise ValueError(f"{path}: expected a JSON object with frame metadata, got {type(data).__name__}")


def _column(frames, getter) -> list:
    return [getter(f) for f in frames]


def _numeric(values) -> np.ndarray:
    return pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(dtype=np.float64)


class _CameraMetadataSource(DataSource):
    kind = TIMESERIES
    requires = ("dataqueue", "timestamps")
    role = "master_camera"

    def load(self, path, *, context=None):
        context = self.context_or_default(path, context)
        data = read_json(path)
        frames, layout, device = _frames_and_layout(data, path)
        if not frames:
            raise ValueError(f"{path}: the sidecar lists no frames")
        if not all(isinstance(f, dict) for f in frames):
            raise ValueError(f"{path}: frame entries must be JSON objects")
        table = self._table(frames, layout)
        own_t, own_basis, wall = self._own_clock(table, path)
        numbers = table["image_number"].to_numpy(dtype=np.float64)
        if not np.isfinite(numbers).all():
            numbers = np.arange(len(table), dtype=np.float64)

        meta: dict = {"source_file": str(path), "layout": layout, "n_frames": int(len(table)),
                      "device_id": device or _first(table.get("camera"))}
        found = camera_clock.from_dataqueue(context, self.role, numbers)
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
    def _table(frames: list, layout: str) -> pd.DataFrame:
        if layout == "opencv_mp4":
            return pd.DataFrame({
                "image_number": _numeric(_column(frames, lambda f: f.get("index"))),
                "time_received": timeline.parse_wall(_column(frames, lambda f: f.get("device_ts"))),
            })
        cams = [f.get("camera_metadata") or {} for f in frames]
        cams = [c if isinstance(c, dict) else {} for c in cams]
        table = pd.DataFrame({
            "image_number": _numeric(_column(cams, lambda c: c.get("ImageNumber"))),
            "runner_time_ms": _numeric(_column(frames, lambda f: f.get("runner_time_ms"))),
            "elapsed_time_ms": _numeric(_column(cams, lambda c: c.get("ElapsedTime-ms"))),
            "time_received": timeline.parse_wall(_column(cams, lambda c: c.get("TimeReceivedByCore"))),
            "exposure_ms": _numeric(_column(frames, lambda f: f.get("exposure_ms"))),
            "temperature": _numeric(_column(cams, lambda c: c.get("Temperature"))).astype(np.float32),
            "camera": pd.Series(_column(cams, lambda c: c.get("Camera")), dtype=object),
        })
        return table.dropna(axis=1, how="all")

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
