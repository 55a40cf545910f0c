"""The lab's real recordings (../shared/sample_data): every present file loads correctly."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import datakit

KEY = ("STREHAB07", "ses-05", "task-widefield")


def test_sample_experiment1_inventory(sample_experiment1):
    ds = datakit.Dataset.from_directory(sample_experiment1)
    inv = ds.inventory
    assert inv.shape == (1, 5)
    assert inv.index.tolist() == [KEY]
    assert list(inv.columns) == ["meso_mean", "notes", "session_config", "timestamps", "treadmill"]
    assert inv.loc[KEY, "treadmill"].endswith("_treadmill.csv")
    assert ds.skipped.empty and ds.conflicts.empty
    report = ds.validate(workers=1)
    assert (report.status != "error").all(), report[["Source", "message"]]
    assert set(report.loc[report.status == "ok", "Source"]) == set(inv.columns)
    # manifest.json lists four files the public snapshot lacks: expected, and missing
    gone = report[report.status == "missing"]
    assert set(gone["Source"]) == {"dataqueue", "meso_metadata", "pupil_metadata", "pupil_dlc"}
    assert gone["expected"].all() and gone["message"].str.startswith("expected (manifest)").all()
    missing = ds.missing()
    assert set(missing["Source"]) == set(gone["Source"]) and set(missing["reason"]) == {"manifest"}
    dlc = missing.set_index("Source").loc["pupil_dlc", "detail"]
    assert dlc.startswith(str(sample_experiment1 / "processed" / "dlc_output")) and dlc.endswith("_full.pickle")


def test_sample_experiment1_materialized(sample_experiment1):
    df = datakit.Dataset.from_directory(sample_experiment1).materialize(workers=1)
    row = df.loc[KEY]
    # treadmill CSV: 10631 rows, raw encoder µs, own clock (no dataqueue in the snapshot)
    ts = row[("treadmill", "timestamp")]
    assert ts.dtype == np.int64 and ts.shape == (10631,) and ts[0] == 491484019
    t = row[("treadmill", "time_elapsed_s")]
    assert t[0] == 0.0 and t[-1] == pytest.approx(1316.84707)
    np.testing.assert_allclose(t[:5], [0, 0.028367, 0.105893, 0.145491, 270.05], atol=1e-2)
    assert row[("treadmill", "meta")]["time_basis"] == "encoder_clock"
    np.testing.assert_allclose(row[("treadmill", "distance_mm")][[0, -1]], [50918.88, 73665.32])
    # mean trace: 58800 frames timed by the Dhyana span of timestamps.csv (≈49.72 Hz, not 50)
    mean = row[("meso_mean", "Mean")]
    tm = row[("meso_mean", "time_elapsed_s")]
    assert mean.shape == tm.shape == (58800,)
    meta = row[("meso_mean", "meta")]
    assert meta["time_basis"] == "session_timestamps" and meta["rate_hz"] == pytest.approx(49.72, abs=0.01)
    assert tm[0] == pytest.approx(0.0) and tm[-1] == pytest.approx(1182.594, abs=1e-3)
    # notes and timestamps on the same session clock (zero = Dhyana started)
    assert row[("notes", "note")].tolist() == ["Lots of running before beng put under the scope"]
    assert row[("notes", "time_elapsed_s")][0] == pytest.approx(41.386964, abs=1e-6)
    starts = dict(zip(row[("timestamps", "device_id")], row[("timestamps", "start_s")]))
    assert starts["Dhyana"] == 0.0 and starts["nidaq"] == pytest.approx(4.096168, abs=1e-6)
    assert np.all(np.diff(row[("timestamps", "time_elapsed_s")]) >= 0)
    # configuration values typed
    assert row[("session_config", "duration")] == 1200
    assert row[("session_config", "weight")] == 20.3
    assert row[("session_config", "start_on_trigger")] is False
    assert row[("session_config", "PT_s")] == 136
    assert row[("session_config", "session")] == "05"
    assert pd.isna(row[("session_config", "trial_duration")])
    assert row[("session_config", "XYZ")] == "[5.69, 9.55, 21.36]"


def test_sample_experiment2_legacy_header_and_fallback_clock(sample_experiment2):
    ds = datakit.Dataset.from_directory(sample_experiment2)
    assert list(ds.inventory.columns) == ["meso_mean", "notes", "session_config", "treadmill"]
    df = ds.materialize(workers=1)
    row = df.loc[KEY]
    assert row[("treadmill", "meta")]["header"] == "legacy"
    assert row[("treadmill", "speed_mm")].shape == (10631,)
    meta = row[("meso_mean", "meta")]
    assert meta["time_basis"] == "assumed_rate" and meta["rate_hz"] == 50.0
    assert row[("notes", "meta")]["time_basis"] == "notes_relative"


def test_both_samples_as_two_roots(sample_experiment1, sample_experiment2):
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = datakit.Dataset.from_directory([sample_experiment1, sample_experiment2])
    assert len(ds) == 1                                  # same cell, merged
    assert ds.inventory.loc[KEY, "treadmill"].startswith(str(sample_experiment1))
    assert len(ds.conflicts) == 4 and set(ds.conflicts.reason) == {"an earlier root wins"}
    assert any(isinstance(w.message, datakit.ConflictWarning) for w in caught)


def test_sample_session_hdf5_no_bigger_than_1_5x_pickle(sample_experiment1, tmp_path):
    ds = datakit.Dataset.from_directory(sample_experiment1)
    pkl = ds.save(tmp_path / "s.pkl", workers=1)
    h5 = ds.save(tmp_path / "s.h5", workers=1)
    assert h5.stat().st_size <= 1.5 * pkl.stat().st_size, (h5.stat().st_size, pkl.stat().st_size)
    from datakit.testing import assert_frames_equal

    assert_frames_equal(datakit.load_dataset(pkl), datakit.load_dataset(h5))
