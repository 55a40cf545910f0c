"""Every feature and meta key reference §2.3 names for a source, under that name, meaning
and dtype, in the materialized frame and in ``load_path``'s value.

Where reference §6 calls the earlier behaviour a defect the fix stays (README table):
``n_slices`` is ``n_frames`` (§6.5), ``time_basis`` has datakit's values (§6.9) and
session-scope meta is kept (§6.10); those keys are checked under their current names.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import datakit
from datakit.demo import write_session

CELLS = {"widefield": ("STREHAB07", "ses-01", "task-widefield"),
         "gratings": ("STREHAB07", "ses-01", "task-gratings")}

# kind of each feature: f64/f32/i64/u32/bool arrays, "text" (object array of str),
# "dt_utc" (tz-aware UTC in the value, datetime64 in the frame), "dt" (naive datetimes),
# "cat" (categorical in the value, object array of str in the frame), "obj" (object
# array of dicts/None), "windows" (object array of lists of (start, stop)),
# "f32_2d"/"bool_1d"/"list"/"dict"/"str" for suite2p's one-record cells.
EARLIER = {
    "dataqueue": ("widefield", {
        "queue_elapsed": "f64", "packet_ts": "dt_utc", "device_ts": "dt_utc", "device_id": "cat",
        "payload": "f32", "time_elapsed_s": "f64"},
        {"source_file", "n_entries", "master_device_id", "master_queue_start",
         "per_device_queue_start", "device_sample_rate_hz", "device_aliases", "affine",
         "time_basis"}),
    "treadmill": ("widefield", {
        "timestamp": "f64", "distance_mm": "f64", "speed_mm": "f64", "time_elapsed_s": "f64"},
        {"source_file", "dataqueue_file", "n_samples", "source_method", "experiment_window",
         "n_encoder_payloads", "n_kept"}),
    "wheel": ("gratings", {
        "time_elapsed_s": "f64", "time_reference_s": "f64", "click_delta": "i64",
        "click_position": "i64", "speed_mm": "f64", "distance_mm": "f64", "time_absolute": "text"},
        {"source_file", "n_samples", "start_time", "stop_time", "duration_s",
         "total_distance_mm", "total_click_delta", "source_method", "time_basis",
         "dataqueue_file", "dataqueue_alignment", "dataqueue_anchors", "alignment_device",
         "alignment_origin_device", "alignment_origin_queue_elapsed", "alignment_origin_offset"}),
    "psychopy": ("gratings", {
        "start_s": "f64", "stop_s": "f64", "gratings_window_grating_start": "f64",
        "gratings_window_grating_stop": "f64", "gratings_window_gray_start": "f64",
        "gratings_window_gray_stop": "f64", "gratings_gratings_windows": "windows",
        "gratings_gray_windows": "windows", "gratings_trials.thisN": "f64",
        "gratings_stim_grating.started": "f64", "gratings_display_gratings.stopped": "f64"},
        {"source_file", "n_rows", "task_inferred", "task_branch", "row_time_column",
         "row_time_extended_to", "key_resp_rt", "key_resp_column", "exp_start",
         "start_offset_s", "exp_start_offset_s", "exp_start_keypress_offset_s",
         "dataqueue_file", "dataqueue_pulses", "dataqueue_queue_start", "abs_start_time",
         "time_basis", "alignment_method"}),
    "meso_metadata": ("widefield", {
        "ImageNumber": "u32", "Temperature": "f32", "Camera": "cat", "Binning": "text",
        "position": "obj", "runner_time_ms": "f64", "exposure_ms": "f64",
        "time_elapsed_s": "f64", "time_absolute": "dt_utc"},
        {"source_file", "n_frames", "device_id", "json_entry_key"}),
    "pupil_metadata": ("widefield", {
        "ImageNumber": "u32", "Temperature": "f32", "Camera": "cat", "Binning": "text",
        "position": "obj", "runner_time_ms": "f64", "exposure_ms": "f64", "Height": "text",
        "Width": "text", "ROI-X-start": "text", "ROI-Y-start": "text", "mda_event": "obj",
        "time_elapsed_s": "f64", "time_absolute": "dt_utc"},
        {"source_file", "n_frames", "device_id", "json_entry_key"}),
    "meso_mean": ("widefield", {"Mean": "f64"}, {"source_file", "n_frames"}),
    "meso_dff": ("widefield", {"dF_F": "f64"}, {"source_file", "n_frames"}),
    "mesomap": ("widefield", {"VISp_L": "f64", "time_elapsed_s": "f64"},
                {"source_file", "n_frames", "n_rois", "trace_columns", "frame_column",
                 "frame_index", "roi_to_mask_label", "roi_missing_region_metadata",
                 "time_basis", "dataqueue_alignment", "dataqueue_anchors", "mask_path",
                 "mask_missing", "mask_shape", "mask_dtype", "mask_labels", "regions_path",
                 "region_count", "regions_table"}),
    "pupil_dlc": ("widefield", {"pupil_diameter_mm": "f64", "time_elapsed_s": "f64"},
                  {"source_file", "n_frames", "class_name", "confidence_threshold",
                   "pixel_to_mm", "landmark_pairs", "time_basis", "dataqueue_file",
                   "dataqueue_device", "dataqueue_anchors", "dataqueue_alignment"}),
    "suite2p": ("gratings", {
        "cell_identifier": "f32_2d", "stat": "list", "ops": "dict", "plane_directory": "str",
        "cell_mask": "bool_1d", "roi_fluorescence": "f32_2d", "neuropil_fluorescence": "f32_2d",
        "deltaf_f": "f32_2d", "time_native_s": "f32", "time_elapsed_s": "f64"},
        {"source_file", "plane", "session_dir", "n_rois", "n_cells", "n_frames", "time_basis",
         "dataqueue_file", "total_rois", "filtered_cells", "processing_status",
         "neuropil_scale", "baseline_percentile", "baseline_percentile_mean"}),
    "session_config": ("widefield", {"subject": "str", "session": "str", "task": "str",
                                     "duration": "int", "weight": "float"},
                       {"subject_variables", "session_variables", "unmapped_variables",
                        "parameter_values", "n_params", "variable_mapping", "scope",
                        "sex", "genotype", "weight"}),
    "notes": ("widefield", {"timestamp": "dt", "note": "text"}, {"source_file", "n_notes"}),
    "timestamps": ("widefield", {"device_id": "text", "started": "dt", "stopped": "dt",
                                 "start_s": "f64", "stop_s": "f64"},
                   {"source_file", "devices", "time_basis"}),
}


def _array(x, dtype):
    return isinstance(x, np.ndarray) and x.ndim == 1 and x.dtype == dtype


def check_kind(kind: str, x, where: str) -> bool:
    """Does ``x`` (a frame cell, or a column/entry of load_path's value) have that kind?"""
    if where == "value" and isinstance(x, pd.Series):
        dtype = x.dtype
        if kind == "dt_utc":
            return isinstance(dtype, pd.DatetimeTZDtype) and str(dtype.tz) == "UTC"
        if kind == "cat":
            return isinstance(dtype, pd.CategoricalDtype)
        if kind == "dt":
            return dtype.kind == "M" and not isinstance(dtype, pd.DatetimeTZDtype)
        x = x.to_numpy() if kind not in ("text", "obj", "windows") else x.to_numpy(dtype=object)
    simple = {"f64": np.float64, "f32": np.float32, "i64": np.int64, "u32": np.uint32}
    if kind in simple:
        return _array(x, simple[kind])
    if kind in ("dt_utc", "dt"):
        return isinstance(x, np.ndarray) and x.dtype.kind == "M"
    if kind in ("cat", "text"):
        return isinstance(x, np.ndarray) and x.dtype == object and all(isinstance(v, str) for v in x)
    if kind == "obj":
        return isinstance(x, np.ndarray) and x.dtype == object and all(
            v is None or isinstance(v, dict) for v in x)
    if kind == "windows":
        return isinstance(x, np.ndarray) and x.dtype == object and all(
            isinstance(v, list) and all(len(w) == 2 for w in v) for v in x)
    if kind == "f32_2d":
        return isinstance(x, np.ndarray) and x.ndim == 2 and x.dtype == np.float32
    if kind == "bool_1d":
        return _array(x, np.bool_)
    return {"list": list, "dict": dict, "str": str, "int": int, "float": float}[kind] == type(x)


def features_of_frame(df, key, source) -> dict:
    row = df.loc[key]
    return {f: row[(s, f)] for s, f in df.columns if s == source
            and not (isinstance(row[(s, f)], float) and np.isnan(row[(s, f)]))}


def features_of_value(stream) -> dict:
    value = stream.value
    if isinstance(value, pd.DataFrame):
        if stream.meta.get("kind") == "table":   # one record per cell
            return {c: value[c].iloc[0] for c in value.columns}
        return {c: value[c] for c in value.columns}
    return dict(value)


@pytest.mark.parametrize("source", sorted(EARLIER))
def test_earlier_names_in_the_frame_and_in_load_path(source, legacy_ds, legacy_df):
    task, features, meta_keys = EARLIER[source]
    key = CELLS[task]
    framed = features_of_frame(legacy_df, key, source)
    path = legacy_ds.inventory.loc[key, source]
    stream = datakit.load_path(source, path)
    valued = features_of_value(stream)
    for name, kind in features.items():
        assert name in framed, f"{source}: feature {name!r} missing from the frame"
        assert check_kind(kind, framed[name], "frame"), (source, name, kind, type(framed[name]),
                                                          getattr(framed[name], "dtype", None))
        assert name in valued, f"{source}: {name!r} missing from load_path's value"
        assert check_kind(kind, valued[name], "value"), (source, name, kind, type(valued[name]))
    for where, meta in (("frame", framed["meta"]), ("load_path", stream.meta)):
        missing = sorted(meta_keys - set(meta))
        assert not missing, f"{source}: meta keys {missing} missing ({where})"


def test_meanings_of_renamed_names(legacy_ds, legacy_df):
    """The values behind the names mean what they meant (spot checks per source)."""
    wide = legacy_df.loc[CELLS["widefield"]]
    grat = legacy_df.loc[CELLS["gratings"]]
    # camera: ImageNumber counts frames; Temperature in °C; Camera the device
    assert list(wide[("meso_metadata", "ImageNumber")][:3]) == [0, 1, 2]
    assert set(wide[("meso_metadata", "Camera")]) == {"Dhyana"}
    assert -10 < float(np.mean(wide[("meso_metadata", "Temperature")])) < -6
    # dataqueue: payload holds the camera's ImageNumber again
    ids = wide[("dataqueue", "device_id")]
    assert list(wide[("dataqueue", "payload")][ids == "Dhyana"][:3]) == [0.0, 1.0, 2.0]
    # pupil_dlc: the earlier meta values
    meta = wide[("pupil_dlc", "meta")]
    assert meta["pixel_to_mm"] == 53.6 and meta["confidence_threshold"] == 0.7
    assert meta["landmark_pairs"] == ((0, 1), (2, 3), (4, 5), (6, 7))
    # suite2p: roi_fluorescence is F of the accepted cells; cell_mask = iscell[:, 0]
    s2p = legacy_ds.inventory.loc[CELLS["gratings"], "suite2p"]
    plane = pd.io.common.stringify_path(s2p).rsplit("/", 1)[0]
    iscell = np.load(f"{plane}/iscell.npy")
    np.testing.assert_array_equal(grat[("suite2p", "cell_mask")], iscell[:, 0] > 0.5)
    np.testing.assert_allclose(grat[("suite2p", "roi_fluorescence")],
                               np.load(f"{plane}/F.npy")[iscell[:, 0] > 0.5], rtol=1e-6)
    assert grat[("suite2p", "plane_directory")] == plane
    # psychopy: the windows are the trials' (start, stop)
    assert grat[("psychopy", "gratings_gratings_windows")][0] == list(
        zip(grat[("psychopy", "start_s")], grat[("psychopy", "stop_s")]))
    # session_config variables
    cfg = wide[("session_config", "meta")]
    assert set(cfg["subject_variables"]) == {"sex", "genotype", "DOS", "DOB"}
    assert cfg["weight"] == wide[("session_config", "weight")]


def test_treadmill_csv_route_names(tmp_path):
    files = write_session(tmp_path, "T", 1, "widefield", duration=20, kinds=("treadmill",))
    stream = datakit.load_path("treadmill", files.paths["treadmill"])
    assert stream.value["timestamp"].dtype == np.int64        # the CSV's own dtype
    assert {"distance_mm", "speed_mm", "time_elapsed_s"} <= set(stream.value.columns)
    assert stream.meta["source_method"] == "treadmill_csv_fallback"
    for key in ("source_file", "dataqueue_file", "n_samples", "experiment_window", "alignment"):
        assert key in stream.meta, key
    assert stream.meta["dataqueue_file"] is None and stream.meta["experiment_window"] is None
