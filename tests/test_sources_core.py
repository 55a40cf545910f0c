"""Issue-2 sources on generated sessions: every stream on the master clock, checked against truth."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import datakit
from datakit.demo import write_session
from datakit.timeline import break_ties, monotonic_index, unwrap_uint32

CELL = ("STREHAB07", "ses-01", "task-widefield")


def materialize(root, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datakit.ConflictWarning)
        ds = datakit.Dataset.from_directory(root, **kwargs)
    return ds, ds.materialize(workers=1, strict=False)


@pytest.fixture(scope="module")
def widefield(tmp_path_factory):
    root = tmp_path_factory.mktemp("wf")
    files = write_session(root, "STREHAB07", "ses-01", "widefield", duration=30, seed=3)
    ds, df = materialize(root)
    return files, ds, df.loc[CELL]


def test_dataqueue_defines_the_master_clock(widefield):
    files, ds, row = widefield
    t = row[("dataqueue", "time_elapsed_s")]
    meta = row[("dataqueue", "meta")]
    assert np.all(np.diff(t) > 0)
    assert meta["time_basis"] == "master" and meta["master_device_id"] == "Dhyana"
    ids = row[("dataqueue", "device_id")]
    dhyana = t[ids == "Dhyana"]
    assert dhyana[0] == 0.0
    np.testing.assert_allclose(dhyana, files.truth.dhyana_t, atol=1e-6)
    assert meta["experiment_window"] == pytest.approx(list(files.truth.experiment_window), abs=1e-6)
    assert set(meta["devices"]) == {"Dhyana", "ThorCam", "encoder", "nidaq"}
    assert meta["device_sample_rate_hz"]["Dhyana"] == pytest.approx(49.72, abs=0.2)
    assert row[("dataqueue", "packet_ts")].dtype.kind == "M"
    assert row[("dataqueue", "payload")].dtype == np.float32          # the numbers, as before
    text = row[("dataqueue", "payload_text")]                          # the encoder packets
    assert all(str(v).startswith("EncoderData(") for v in text[ids == "encoder"])
    assert np.isnan(row[("dataqueue", "payload")][ids == "encoder"]).all()


def test_every_stream_shares_the_master_clock(widefield):
    files, ds, row = widefield
    truth = files.truth
    for tag in ("meso_mean", "meso_dff", "meso_metadata"):
        if (tag, "time_elapsed_s") not in row.index:
            continue
        t = row[(tag, "time_elapsed_s")]
        assert row[(tag, "meta")]["time_basis"] == "master", tag
        np.testing.assert_allclose(t, truth.dhyana_t, atol=1e-6, err_msg=tag)
    np.testing.assert_allclose(row[("pupil_metadata", "time_elapsed_s")], truth.thorcam_t, atol=1e-6)
    tread = row[("treadmill", "time_elapsed_s")]
    assert row[("treadmill", "meta")]["source_method"] == "dataqueue_encoder_payload"
    # as before, only samples inside the experiment window (first to last master frame)
    window = row[("dataqueue", "meta")]["experiment_window"]
    enc_t = truth.encoder_t[truth.encoder_in_dataqueue]
    inside = (enc_t >= window[0]) & (enc_t <= window[1])
    assert 0 < inside.sum() <= len(enc_t)
    np.testing.assert_allclose(tread, enc_t[inside], atol=1e-6)
    np.testing.assert_allclose(row[("treadmill", "distance_mm")],
                               truth.encoder_distance_mm[truth.encoder_in_dataqueue][inside], atol=0.01)
    assert row[("treadmill", "timestamp")].dtype == np.float64       # as before (dataqueue route)
    assert row[("treadmill", "meta")]["experiment_window"] == pytest.approx(
        {"start": window[0], "end": window[1]})
    # wall-clock files mapped through packet_ts: within the 0-2 ms pop delay
    np.testing.assert_allclose(row[("notes", "time_elapsed_s")], truth.note_t, atol=5e-3)
    assert list(row[("notes", "note")]) == list(truth.note_text)
    starts = dict(zip(row[("timestamps", "device_id")], row[("timestamps", "start_s")]))
    assert starts["Dhyana"] == pytest.approx(truth.device_windows["Dhyana"][0], abs=5e-3)
    assert row[("timestamps", "meta")]["time_basis"] == "master"


def test_mean_trace_times_survive_a_dropped_dataqueue_row(tmp_path):
    files = write_session(tmp_path, "STREHAB07", "ses-01", "widefield", duration=20, seed=5,
                          kinds=("dataqueue", "meso_mean"))
    dq = files.paths["dataqueue"]
    frame = pd.read_csv(dq, dtype=str, keep_default_na=False)
    dhyana_rows = frame.index[frame["device_id"] == "Dhyana"]
    drop = dhyana_rows[[100, 101, 500]]
    frame.drop(index=drop).to_csv(dq, index=False)
    _, df = materialize(tmp_path)
    row = df.loc[CELL]
    t = row[("meso_mean", "time_elapsed_s")]
    assert t.shape == files.truth.dhyana_t.shape            # every frame kept
    err = np.abs(t - files.truth.dhyana_t)
    assert err.max() < 0.005                                # dropped rows interpolated, no shift
    assert row[("meso_mean", "meta")]["alignment"] == "frame_number"


def test_fallback_clocks_without_a_dataqueue(tmp_path):
    files = write_session(tmp_path, "STREHAB07", "ses-01", "widefield", duration=20, seed=4,
                          kinds=("meso_mean", "meso_metadata", "pupil_metadata", "notes",
                                 "timestamps", "treadmill"))
    _, df = materialize(tmp_path)
    row = df.loc[CELL]
    assert row[("meso_metadata", "meta")]["time_basis"] == "session_timestamps"
    # sidecar frame times via TimeReceivedByCore on the timestamps clock, whose zero is
    # the camera's "started" (a few tens of ms before its first frame)
    t = row[("meso_metadata", "time_elapsed_s")]
    assert 0 < t[0] < 0.2
    np.testing.assert_allclose(t - t[0], files.truth.dhyana_t, atol=0.005)
    assert row[("meso_mean", "meta")]["alignment"] == "meso_metadata_frames"
    assert row[("treadmill", "meta")]["time_basis"] == "encoder_clock"
    assert row[("notes", "meta")]["time_basis"] == "session_timestamps"
    # and without timestamps.csv either: the sidecar's own clock
    for p in tmp_path.rglob("*_timestamps.csv"):
        p.unlink()
    _, df = materialize(tmp_path)
    row = df.loc[CELL]
    assert row[("meso_metadata", "meta")]["time_basis"] == "camera_sidecar"
    assert row[("meso_metadata", "time_elapsed_s")][0] == 0.0
    assert row[("notes", "meta")]["time_basis"] == "notes_relative"


def test_dataqueue_without_master_camera_rows_falls_back(tmp_path):
    files = write_session(tmp_path, "STREHAB07", "ses-01", "widefield", duration=15, seed=6,
                          kinds=("dataqueue",))
    dq = files.paths["dataqueue"]
    frame = pd.read_csv(dq, dtype=str, keep_default_na=False)
    frame[frame["device_id"] != "Dhyana"].to_csv(dq, index=False)
    ds, df = materialize(tmp_path)
    meta = df.loc[CELL, ("dataqueue", "meta")]
    assert meta["time_basis"] == "dataqueue_first_row" and meta["experiment_window"] is None
    assert "no master-camera rows" in meta["note"]
    tread = df.loc[CELL, ("treadmill", "meta")]
    assert tread["time_basis"] == "dataqueue_first_row"


def test_custom_device_names_through_settings(tmp_path):
    files = write_session(tmp_path, "STREHAB07", "ses-01", "widefield", duration=15, seed=7,
                          kinds=("dataqueue",))
    dq = files.paths["dataqueue"]
    frame = pd.read_csv(dq, dtype=str, keep_default_na=False)
    frame["device_id"] = frame["device_id"].replace({"Dhyana": "Hamamatsu"})
    frame.to_csv(dq, index=False)
    default = datakit.Dataset.from_directory(tmp_path).materialize(workers=1)
    assert default.loc[CELL, ("dataqueue", "meta")]["time_basis"] == "dataqueue_first_row"
    settings = datakit.Settings(devices=datakit.Devices(master_camera=("hamamatsu",)))
    custom = datakit.Dataset.from_directory(tmp_path, settings=settings).materialize(workers=2)
    meta = custom.loc[CELL, ("dataqueue", "meta")]
    assert meta["time_basis"] == "master" and meta["master_device_id"] == "Hamamatsu"


def test_time_helpers():
    idx, info = monotonic_index([3.0, np.nan, 1.0, 2.0, 2.0])
    assert idx.tolist() == [2, 3, 0] and info == {
        "n_dropped_nan_time": 1, "resorted": True, "n_dropped_duplicate_time": 1}
    t, n = break_ties(np.array([1.0, 1.0, 1.0, 2.0]))
    assert n == 2 and np.all(np.diff(t) > 0) and np.allclose(t, [1, 1, 1, 2])
    assert unwrap_uint32([2**32 - 10, 5, 20]).tolist() == [2**32 - 10, 2**32 + 5, 2**32 + 20]


def test_settings_replace_and_configure():
    original = datakit.get_settings()
    try:
        changed = datakit.configure(master_camera_rate_hz=49.0)
        assert changed.master_camera_rate_hz == 49.0 and datakit.get_settings() is changed
        with pytest.raises(TypeError):
            datakit.configure("nope")
    finally:
        datakit.configure(original)
    assert datakit.get_settings() == original
