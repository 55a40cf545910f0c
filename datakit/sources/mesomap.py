"""``mesomap``: per-region mesoscope traces (``*_mesoscope.ome_traces.csv``) + mask and regions.

The CSV has a ``frame`` column (mesoscope frame index) and one column per ROI (region
acronyms).  Optional siblings, found by replacing the final ``.csv``:

* ``<stem>.mask.npy``: the integer label image (read with ``allow_pickle=False``);
* ``<stem>.regions.csv``: one row per region with at least ``acronym`` and
  ``mask_label`` (other columns such as hemisphere or name are kept).

Frames are timed like ``meso_mean`` (``camera_clock.frame_times``, master camera role:
dataqueue rows matched by frame number, else the mesoscope sidecar, else
``timestamps.csv``, else ``settings.master_camera_rate_hz``).

Value (a mapping): one 1-D array per ROI (one entry per frame), ``frame``, and the
session-level data, kept so it is materialized: ``mask`` (2-D int array; absent when
there is no mask file) and ``regions`` (a dict column -> 1-D array; absent when there is
no regions file).  These two are the exceptions to "one entry per frame".  Meta keeps
the earlier implementation's keys: ``n_frames``, ``n_rois``, ``trace_columns``,
``frame_column``, ``frame_index`` (the frame numbers), ``mask_path``, ``mask_missing``,
``mask_shape``/``mask_dtype``/``mask_labels``, ``regions_path``, ``region_count``,
``regions_table`` (a DataFrame), ``roi_to_mask_label`` and
``roi_missing_region_metadata``, plus the timing keys.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .. import timeline
from . import camera_clock
from .base import TIMESERIES, DataSource
from .readers import load_npy, read_csv, require_columns
from .registry import register_builtin
from .signals import Signal

#: Feature names used by the session-level data (an ROI with such a name is renamed).
RESERVED = ("frame", "mask", "regions", "time_elapsed_s", "meta")


def sibling(path, suffix: str):
    """``x_traces.csv`` -> ``x_traces<suffix>`` (e.g. ``.mask.npy``)."""
    name = path.name[:-4] if path.name.endswith(".csv") else path.name
    return path.with_name(name + suffix)


def read_mask(path) -> np.ndarray:
    mask = load_npy(path)
    if not isinstance(mask, np.ndarray) or mask.ndim != 2:
        raise ValueError(f"{path}: expected a 2-D label image, got shape {np.shape(mask)}")
    if mask.dtype.kind not in "iub":
        if mask.dtype.kind == "f" and np.all(np.isfinite(mask)) and np.all(mask == np.round(mask)):
            mask = mask.astype(np.int64)
        else:
            raise ValueError(f"{path}: expected integer labels, got dtype {mask.dtype}")
    return mask


@register_builtin
class MesomapSource(DataSource):
    tag = "mesomap"
    meta_keys = (
        "alignment", "dataqueue_alignment", "dataqueue_anchors", "dataqueue_device",
        "dataqueue_file", "frame_column", "frame_index", "mask_dtype", "mask_labels",
        "mask_missing", "mask_path", "mask_shape", "meso_metadata_alignment",
        "meso_metadata_file", "meso_metadata_frames", "n_dropped_duplicate_time",
        "n_dropped_nan_time", "n_dropped_truncated_rows", "n_frames", "n_frames_matched",
        "n_rois", "rate_hz", "region_columns", "region_count", "region_labels_not_in_mask",
        "regions_missing", "regions_path", "regions_table", "renamed_rois", "resorted",
        "roi_missing_region_metadata", "roi_to_mask_label", "source_file", "time_basis",
        "trace_columns", "truncation_note",
    )
    patterns = ("*_mesoscope.ome_traces.csv",)
    requires = ("dataqueue", "meso_metadata", "timestamps")
    kind = TIMESERIES
    camera_tag = "meso"
    description = "Mesoscope traces per brain region, with the region mask and table"
    signals = (Signal("*", "region ΔF/F", "ΔF/F"),)       # every region column, as ROIs

    @classmethod
    def inputs(cls, path) -> list:
        path = Path(path)
        return [path, sibling(path, ".mask.npy"), sibling(path, ".regions.csv")]

    def load(self, path, *, context=None):
        context = self.context_or_default(path, context)
        read_info: dict = {}
        frame = read_csv(path, info=read_info)
        frame.columns = [str(c).strip() for c in frame.columns]
        require_columns(frame, ["frame"], path, "mesomap traces CSV (frame + one column per ROI)")
        rois = [c for c in frame.columns if c != "frame" and not c.startswith("Unnamed:")]
        if not rois:
            raise ValueError(f"{path}: mesomap traces CSV has no ROI columns besides 'frame'")
        numbers = pd.to_numeric(frame["frame"], errors="coerce").to_numpy(dtype=np.float64)
        idx, order_info = timeline.monotonic_index(numbers)
        if idx.size == 0:
            raise ValueError(f"{path}: no row has a numeric frame")
        numbers = numbers[idx]
        t, clock = camera_clock.frame_times(
            context, "master_camera", numbers, sidecar_tag="meso_metadata",
            assumed_rate_hz=context.settings.master_camera_rate_hz)
        t_idx, more = timeline.monotonic_index(t)
        t = t[t_idx]
        rows = idx[t_idx]

        value: dict = {"frame": numbers[t_idx]}
        renamed = {}
        for roi in rois:
            key = roi if roi not in RESERVED else f"roi_{roi}"
            if key != roi:
                renamed[roi] = key
            value[key] = pd.to_numeric(frame[roi], errors="coerce").to_numpy(dtype=np.float64)[rows]
        meta: dict = {"source_file": str(path), "n_frames": int(t.size), "n_rois": len(rois),
                      "trace_columns": rois, "frame_column": "frame",
                      "frame_index": value["frame"].copy(), **clock, **read_info,
                      **timeline.merge_order_info(order_info, more)}
        if renamed:
            meta["renamed_rois"] = renamed

        mask_path = sibling(path, ".mask.npy")
        meta["mask_path"] = str(mask_path)
        meta["mask_missing"] = not mask_path.exists()
        mask = None
        if not meta["mask_missing"]:
            mask = read_mask(mask_path)
            labels = np.unique(mask)
            value["mask"] = mask
            meta.update({"mask_shape": list(mask.shape), "mask_dtype": str(mask.dtype),
                         "mask_labels": [int(v) for v in labels if v != 0]})

        regions_path = sibling(path, ".regions.csv")
        meta["regions_path"] = str(regions_path)
        meta["regions_missing"] = not regions_path.exists()
        if not meta["regions_missing"]:
            regions = read_csv(regions_path)
            regions.columns = [str(c).strip() for c in regions.columns]
            require_columns(regions, ["acronym", "mask_label"], regions_path,
                            "mesomap regions CSV (acronym,mask_label,...)")
            value["regions"] = {c: _column(regions[c]) for c in regions.columns}
            acronyms = regions["acronym"].astype(str).str.strip().to_numpy(dtype=object)
            labels = pd.to_numeric(regions["mask_label"], errors="coerce").to_numpy()
            lookup = {a: (int(v) if np.isfinite(v) else None) for a, v in zip(acronyms, labels)}
            meta.update({
                "region_count": int(len(regions)),
                "region_columns": list(regions.columns),
                "regions_table": regions,
                "roi_to_mask_label": {r: lookup.get(r) for r in rois if r in lookup},
                "roi_missing_region_metadata": [r for r in rois if r not in lookup],
            })
            if mask is not None:
                present = set(np.unique(mask).tolist())
                missing = [int(v) for v in labels if np.isfinite(v) and int(v) not in present]
                if missing:
                    meta["region_labels_not_in_mask"] = missing
        value["time_elapsed_s"] = t.copy()  # in the value too, as before
        return self.stream(t, value, meta)


def _column(series: pd.Series) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        return series.to_numpy(dtype=np.float64 if series.isna().any() else None)
    values = series.astype(object).to_numpy(dtype=object, copy=True)
    values[pd.isna(values)] = None
    return values
