"""``meso_mean`` / ``meso_dff``: one value per mesoscope frame (processed CSV ``Slice,Mean``).

``Slice`` is the frame index.  Frames are timed from the master camera's dataqueue rows
(matched by frame number), else from the mesoscope sidecar, else spread over the
camera's span in ``timestamps.csv``, else at ``settings.master_camera_rate_hz``; the
meta's ``time_basis``/``alignment`` say which (never an assumed 50 Hz when better is known).
Rows are put in ``Slice`` order (``resorted``); rows without a numeric ``Slice``
(``n_dropped_nan_time``) or repeating one (``n_dropped_duplicate_time``) are dropped.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import timeline
from . import camera_clock
from .base import TIMESERIES, DataSource
from .readers import read_csv, require_columns
from .registry import register_builtin
from .signals import Signal


class _MesoTraceSource(DataSource):
    kind = TIMESERIES
    requires = ("dataqueue", "meso_metadata", "timestamps")
    camera_tag = "meso"
    feature = "Mean"

    def load(self, path, *, context=None):
        context = self.context_or_default(path, context)
        meta: dict = {"source_file": str(path)}
        frame = read_csv(path, info=meta)
        require_columns(frame, ["Slice", "Mean"], path, "mesoscope trace CSV (Slice,Mean)")
        slices = pd.to_numeric(frame["Slice"], errors="coerce").to_numpy(dtype=np.float64)
        values = pd.to_numeric(frame["Mean"], errors="coerce").to_numpy(dtype=np.float64)
        idx, order_info = timeline.monotonic_index(slices)
        slices, values = slices[idx], values[idx]
        if slices.size == 0:
            raise ValueError(f"{path}: no row has a numeric Slice")
        t, info = camera_clock.frame_times(
            context, "master_camera", slices, sidecar_tag="meso_metadata",
            assumed_rate_hz=context.settings.master_camera_rate_hz)
        t, value, more = timeline.take_monotonic(t, pd.DataFrame({self.feature: values}))
        meta.update({"n_frames": int(t.size), **info,
                     **timeline.merge_order_info(order_info, more)})
        return self.stream(t, value, meta)


@register_builtin
class MesoMeanSource(_MesoTraceSource):
    tag = "meso_mean"
    meta_keys = (
        "alignment", "dataqueue_alignment", "dataqueue_anchors", "dataqueue_device",
        "dataqueue_file", "meso_metadata_alignment", "meso_metadata_file",
        "meso_metadata_frames", "n_dropped_duplicate_time", "n_dropped_nan_time",
        "n_dropped_truncated_rows", "n_frames", "n_frames_matched", "rate_hz", "resorted",
        "source_file", "time_basis", "truncation_note",
    )
    patterns = ("*_meso-mean-trace.csv",)
    description = "Mean fluorescence per mesoscope frame"
    signals = (Signal("Mean", "mean F", "a.u."),)


@register_builtin
class MesoDffSource(_MesoTraceSource):
    tag = "meso_dff"
    meta_keys = (
        "alignment", "dataqueue_alignment", "dataqueue_anchors", "dataqueue_device",
        "dataqueue_file", "meso_metadata_alignment", "meso_metadata_file",
        "meso_metadata_frames", "n_dropped_duplicate_time", "n_dropped_nan_time",
        "n_dropped_truncated_rows", "n_frames", "n_frames_matched", "resorted", "source_file",
        "time_basis", "truncation_note",
    )
    patterns = ("*_meso-collapse_first-trace.csv",)
    feature = "dF_F"
    description = "dF/F per mesoscope frame"
    signals = (Signal("dF_F", "ΔF/F", "ΔF/F"),)
