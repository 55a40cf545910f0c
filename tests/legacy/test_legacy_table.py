"""One test per row of the README's "Coming from mesofield's datakit" table.

Each test is named after its row (``test_C07_...``); the last test checks that every row
of the README table has its test and every test its row.
"""
from __future__ import annotations

import dataclasses
import logging
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import datakit
from datakit import timeline
from datakit.cli import main
from datakit.demo import write_session
from datakit.errors import PickleRefused

README = Path(__file__).resolve().parents[2] / "README.md"
WIDE = ("STREHAB07", "ses-01", "task-widefield")
GRAT = ("STREHAB07", "ses-01", "task-gratings")
MOV = ("STREHAB07", "ses-01", "task-movies")


def feats(df, key, source) -> dict:
    row = df.loc[key]
    return {f: row[(s, f)] for s, f in df.columns if s == source
            and not (isinstance(row[(s, f)], float) and np.isnan(row[(s, f)]))}


def quiet_dataset(root, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datakit.ConflictWarning)
        return datakit.Dataset.from_directory(root, **kwargs)


def rewrite(path, edit):
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    edit(frame).to_csv(path, index=False)


def test_C01_mean_traces_keep_their_registry_tag(legacy_ds, legacy_df):
    sources = set(legacy_df.columns.get_level_values("Source"))
    assert {"meso_mean", "meso_dff"} <= sources and "meso" not in sources
    assert legacy_df.loc[WIDE, ("meso_mean", "meta")] is not legacy_df.loc[WIDE, ("meso_dff", "meta")]
    stream = datakit.load_path("meso_dff", legacy_ds.inventory.loc[WIDE, "meso_dff"])
    assert stream.tag == "meso_dff"


def test_C02_one_time_zero_the_first_master_frame(legacy_df):
    wide, grat = legacy_df.loc[WIDE], legacy_df.loc[GRAT]
    ids, t = wide[("dataqueue", "device_id")], wide[("dataqueue", "time_elapsed_s")]
    assert t[ids == "Dhyana"][0] == 0.0                      # the first master frame
    thorcam = t[ids == "ThorCam"]
    np.testing.assert_allclose(wide[("meso_metadata", "time_elapsed_s")], t[ids == "Dhyana"], atol=1e-9)
    np.testing.assert_allclose(wide[("meso_mean", "time_elapsed_s")], t[ids == "Dhyana"], atol=1e-9)
    # pupil streams and the wheel are no longer zeroed at their own first sample
    np.testing.assert_allclose(wide[("pupil_metadata", "time_elapsed_s")], thorcam, atol=1e-9)
    np.testing.assert_allclose(wide[("pupil_dlc", "time_elapsed_s")], thorcam, atol=1e-9)
    assert thorcam[0] != 0.0
    gids, gt = grat[("dataqueue", "device_id")], grat[("dataqueue", "time_elapsed_s")]
    assert grat[("suite2p", "time_elapsed_s")][0] == pytest.approx(gt[gids == "nidaq"][0], abs=1e-9)
    assert grat[("wheel", "time_elapsed_s")][0] == pytest.approx(gt[gids == "encoder"][0], abs=1e-9)
    starts = dict(zip(wide[("timestamps", "device_id")], wide[("timestamps", "start_s")]))
    assert min(starts.values()) < 0 and abs(starts["Dhyana"]) < 0.2   # not the earliest device
    assert wide[("notes", "time_elapsed_s")][0] > 1.0          # not the first note


def test_C03_time_basis_values(legacy_df, tmp_path):
    for key in (WIDE, GRAT, MOV):
        for source in set(legacy_df.columns.get_level_values("Source")) - {"session_config"}:
            meta = legacy_df.loc[key, (source, "meta")]
            if isinstance(meta, dict):
                assert meta["time_basis"] == "master", (key, source)
                assert "alignment" in meta or source in ("dataqueue", "treadmill", "notes", "timestamps")
    files = write_session(tmp_path, "T", 1, "widefield", duration=20, kinds=("treadmill",))
    assert datakit.load_path("treadmill", files.paths["treadmill"]).meta["time_basis"] == "encoder_clock"
    # load_path finds the session's dataqueue beside the file
    root = Path(legacy_df.attrs["datakit_roots"][0])
    wheel = next(root.glob("data/*/*/beh/*task-gratings_wheel.csv"))
    assert datakit.load_path("wheel", wheel).meta["time_basis"] == "master"


def test_C04_samples_strictly_increasing(legacy_df, tmp_path):
    for source in ("dataqueue", "meso_metadata", "pupil_dlc", "treadmill"):
        assert np.all(np.diff(legacy_df.loc[WIDE, (source, "time_elapsed_s")]) > 0), source
    files = write_session(tmp_path, "S", 1, "widefield", duration=20, kinds=("dataqueue", "timestamps"))
    rewrite(files.paths["dataqueue"], lambda f: f.iloc[::-1])          # rows out of order
    rewrite(files.paths["timestamps"], lambda f: f.iloc[::-1])
    dq = datakit.load_path("dataqueue", files.paths["dataqueue"])
    assert dq.meta["resorted"] is True and np.all(np.diff(dq.t) > 0)
    ts = datakit.load_path("timestamps", files.paths["timestamps"])
    assert np.all(np.diff(ts.t) >= 0)


def test_C05_experiment_window_and_master_timeline_in_master_seconds(legacy_ds, legacy_df):
    wide = legacy_df.loc[WIDE]
    ids, t = wide[("dataqueue", "device_id")], wide[("dataqueue", "time_elapsed_s")]
    window = wide[("dataqueue", "meta")]["experiment_window"]
    assert window == pytest.approx([0.0, t[ids == "Dhyana"][-1]])
    assert wide[("treadmill", "meta")]["experiment_window"] == pytest.approx(
        {"start": 0.0, "end": window[1]})
    stream = datakit.load_path("dataqueue", legacy_ds.inventory.loc[WIDE, "dataqueue"])
    context = timeline.context_fields(stream, datakit.get_settings())
    np.testing.assert_array_equal(context["master_timeline"], t[ids == "Dhyana"])
    assert context["experiment_window"] == tuple(window)


def test_C06_stable_cell_types(legacy_ds, legacy_df, tmp_path):
    wide = legacy_df.loc[WIDE]
    assert wide[("dataqueue", "packet_ts")].dtype == np.dtype("datetime64[us]")
    note = wide[("notes", "note")]
    assert isinstance(note, np.ndarray) and note.ndim == 1           # arrays, not scalars
    assert isinstance(wide[("pupil_metadata", "mda_event")], np.ndarray)  # all None: still an array
    stream = datakit.load_path("dataqueue", legacy_ds.inventory.loc[WIDE, "dataqueue"])
    assert str(stream.value["packet_ts"].dt.tz) == "UTC"
    # the UTC-labelled digits are the rig's wall clock, as before
    first = pd.read_csv(legacy_ds.inventory.loc[WIDE, "dataqueue"], nrows=1)["packet_ts"][0]
    assert str(stream.value["packet_ts"].iloc[0].tz_localize(None)) in first or \
        np.datetime64(first) in set(wide[("dataqueue", "packet_ts")])
    files = write_session(tmp_path, "C", 1, "widefield", duration=20, kinds=("treadmill",))
    rewrite(files.paths["treadmill"], lambda f: f.assign(speed_mm="10.0"))
    df = quiet_dataset(tmp_path).materialize(workers=1)
    speed = df.iloc[0][("treadmill", "speed_mm")]
    assert isinstance(speed, np.ndarray) and speed.size > 1 and set(speed) == {10.0}


def test_C07_payload_numbers_and_payload_text(legacy_df):
    wide = legacy_df.loc[WIDE]
    ids, payload, text = (wide[("dataqueue", k)] for k in ("device_id", "payload", "payload_text"))
    assert payload.dtype == np.float32
    encoder = ids == "encoder"
    assert np.isnan(payload[encoder]).all()
    assert all(v.startswith("EncoderData(timestamp=") for v in text[encoder])
    assert all(v is None for v in text[~encoder])
    assert np.isfinite(payload[ids == "nidaq"]).all()


def test_C08_session_level_meta_is_kept(legacy_df):
    assert isinstance(legacy_df.loc[WIDE, ("session_config", "meta")], dict)
    meta = legacy_df.loc[WIDE, ("mesomap", "meta")]
    assert isinstance(meta, dict) and isinstance(meta["regions_table"], pd.DataFrame)


def test_C09_session_config_values_are_typed(tmp_path):
    path = tmp_path / "data/sub-A/ses-05/20250706_161035_sub-A_ses-05_task-widefield_configuration.csv"
    path.parent.mkdir(parents=True)
    path.write_text("Parameter,Value\nsubject,A\nsession,05\nduration,1200\nweight,20.30\n"
                    "start_on_trigger,False\ntrial_duration,\nPT_s,136\n")
    row = quiet_dataset(tmp_path).materialize(workers=1).iloc[0]
    assert row[("session_config", "duration")] == 1200 and type(row[("session_config", "duration")]) is int
    assert row[("session_config", "weight")] == 20.3 and row[("session_config", "start_on_trigger")] is False
    assert row[("session_config", "trial_duration")] is None and row[("session_config", "session")] == "05"
    assert row[("session_config", "meta")]["session_variables"] == {"weight": 20.3, "PT_s": 136}


def test_C10_notes_without_a_readable_line(tmp_path):
    path = tmp_path / "data/sub-A/ses-05/20250706_161035_sub-A_ses-05_task-widefield_notes.txt"
    path.parent.mkdir(parents=True)
    path.write_text("nothing stamped here\n")
    stream = datakit.load_path("notes", path)
    assert len(stream.t) == 0 and len(stream.value) == 0
    row = quiet_dataset(tmp_path).materialize(workers=1).iloc[0]
    assert len(row[("notes", "time_elapsed_s")]) == len(row[("notes", "note")]) == 0


def test_C11_camera_sidecars_timed_without_runner_time(tmp_path):
    import json

    files = write_session(tmp_path / "a", "C", 1, "widefield", duration=20,
                          kinds=("pupil_metadata", "timestamps"))
    path = files.paths["pupil_metadata"]
    doc = json.loads(path.read_text())
    for frame in doc["p0"]:
        del frame["runner_time_ms"]                        # the earlier loader failed here
    path.write_text(json.dumps(doc))
    stream = datakit.load_path("pupil_metadata", path)
    assert stream.meta["camera_clock"] == "TimeReceivedByCore"
    assert str(stream.value["time_absolute"].dt.tz) == "UTC"
    mp4 = write_session(tmp_path / "b", "C", 1, "widefield", duration=20,
                        kinds=("pupil_metadata",), variant="opencv_pupil")
    stream = datakit.load_path("pupil_metadata", mp4.paths["pupil_metadata"])
    assert stream.meta["layout"] == "opencv_mp4" and stream.meta["json_entry_key"] == "frames"
    assert len(stream.t) == len(mp4.truth.thorcam_t)


def test_C12_only_the_named_micromanager_tags(tmp_path):
    import json

    files = write_session(tmp_path, "C", 1, "widefield", duration=20, kinds=("meso_metadata",))
    path = files.paths["meso_metadata"]
    doc = json.loads(path.read_text())
    for frame in doc["p0"]:
        frame["camera_metadata"]["Dhyana-FanSpeed"] = "High"      # a camera's own tag
    path.write_text(json.dumps(doc))
    value = datakit.load_path("meso_metadata", path).value
    assert {"Camera", "ImageNumber", "Temperature", "Binning"} <= set(value.columns)
    assert "Dhyana-FanSpeed" not in value.columns


def test_C13_mean_trace_timed_by_the_camera(legacy_df):
    wide = legacy_df.loc[WIDE]
    t = wide[("meso_mean", "time_elapsed_s")]
    assert not np.allclose(t, np.arange(t.size) / 50.0)
    np.testing.assert_allclose(t, wide[("meso_metadata", "time_elapsed_s")], atol=1e-9)
    meta = wide[("meso_mean", "meta")]
    assert meta["n_frames"] == t.size and "n_slices" not in meta


def test_C14_psychopy_one_interval_per_trial(legacy_df, tmp_path):
    grat, mov = legacy_df.loc[GRAT], legacy_df.loc[MOV]
    n_trials = len(grat[("psychopy", "gratings_trials.thisN")])
    assert len(grat[("psychopy", "start_s")]) == n_trials
    assert np.all(grat[("psychopy", "stop_s")] > grat[("psychopy", "start_s")])
    assert len(set(grat[("psychopy", "start_s")])) == n_trials          # not collapsed
    assert np.all(mov[("psychopy", "stop_s")] > mov[("psychopy", "start_s")])  # not zero-length
    files = write_session(tmp_path, "P", 1, "gratings", duration=20, kinds=("dataqueue", "psychopy"))
    rewrite(files.paths["psychopy"], lambda f: f.assign(**{"stim_grating.stopped": ""}))
    stream = datakit.load_path("psychopy", files.paths["psychopy"])
    assert len(stream.value) == len(files.truth.trials)                  # no trial dropped
    assert set(stream.value["stop_source"]) <= {"next_gray_onset", "next_stop_event"}


def test_C15_psychopy_columns_rt_and_errors(tmp_path):
    beh = tmp_path / "data/sub-G/ses-01/beh"
    beh.mkdir(parents=True)
    path = beh / "20250706_161035_sub-G_ses-01_task-dots_psychopy.csv"
    path.write_text("coherence,trials.thisN,trial.started,stim_dots.started,stim_dots.stopped,"
                    "resp.rt,expStart\n0.5,0,1.6,1.7,2.7,0.42,2025-07-06 16h12.03.123456 -0700\n"
                    "0.8,1,3.0,3.1,4.1,0.37,2025-07-06 16h12.03.123456 -0700\n")
    stream = datakit.load_path("psychopy", path)         # no key_resp*.rt, no display_*.started
    assert stream.meta["key_resp_rt"] is None and stream.meta["row_time_column"] is None
    np.testing.assert_allclose(stream.value["raw_resp.rt"], [0.42, 0.37])   # untouched
    assert "raw_coherence" in stream.value.columns
    assert stream.meta["alignment_method"] == "psychopy_clock"
    files = write_session(tmp_path / "x", "P", 1, "gratings", duration=20, kinds=("dataqueue", "psychopy"))
    rewrite(files.paths["psychopy"], lambda f: f.drop(columns=["expStart"]))
    with pytest.raises(ValueError, match="no expStart") as info:
        datakit.load_path("psychopy", files.paths["psychopy"])
    assert str(files.paths["psychopy"]) in str(info.value)


def test_C16_suite2p_deltaf_f_from_the_corrected_trace(legacy_ds, legacy_df):
    s2p = feats(legacy_df, GRAT, "suite2p")
    corrected = s2p["roi_fluorescence"] - 0.7 * s2p["neuropil_fluorescence"]
    base = np.percentile(corrected, 3, axis=1, keepdims=True)
    np.testing.assert_allclose(s2p["deltaf_f"], (corrected - base) / base, rtol=1e-3, atol=1e-4)
    assert s2p["meta"]["neuropil_scale"] == 0.7 and s2p["meta"]["baseline_percentile"] == 3.0
    other = datakit.get_settings().replace(suite2p_baseline_percentile=8.0)
    ds = datakit.Dataset(legacy_ds.inventory, sources=["suite2p"], settings=other)
    eight = feats(ds.materialize(workers=1), GRAT, "suite2p")
    assert eight["meta"]["baseline_percentile"] == 8.0
    base8 = np.percentile(corrected, 8, axis=1, keepdims=True)
    np.testing.assert_allclose(eight["deltaf_f"], (corrected - base8) / base8, rtol=1e-3, atol=1e-4)


def test_C17_suite2p_timing_and_types(legacy_df, tmp_path):
    s2p = feats(legacy_df, GRAT, "suite2p")
    assert s2p["time_elapsed_s"].dtype == np.float64 and s2p["time_native_s"].dtype == np.float32
    np.testing.assert_allclose(s2p["time_native_s"], s2p["time_elapsed_s"], rtol=1e-6)
    files = write_session(tmp_path, "Z", 1, "gratings", duration=20, kinds=("dataqueue", "suite2p"))
    plane = files.paths["suite2p"].parent
    np.save(plane / "iscell.npy", np.zeros_like(np.load(plane / "iscell.npy")))
    row = quiet_dataset(tmp_path).materialize(workers=1).iloc[0]
    assert row[("suite2p", "meta")]["n_cells"] == 0
    assert row[("suite2p", "deltaf_f")].shape == (0, len(row[("suite2p", "time_elapsed_s")]))


def test_C18_treadmill_needs_encoder_packets(legacy_ds, tmp_path):
    inv = legacy_ds.inventory
    assert pd.isna(inv.loc[GRAT, "treadmill"])            # a wheel rig's dataqueue is not claimed
    assert inv.loc[WIDE, "treadmill"] == inv.loc[WIDE, "dataqueue"]   # the file that is read
    assert any(str(c).endswith("_treadmill.csv") for c in legacy_ds.conflicts["dropped"])
    files = write_session(tmp_path, "N", 1, "widefield", duration=20, kinds=("dataqueue",))
    rewrite(files.paths["dataqueue"], lambda f: f[f["device_id"] != "Dhyana"])
    stream = datakit.load_path("treadmill", files.paths["dataqueue"])
    assert stream.meta["experiment_window"] is None
    assert stream.meta["n_kept"] == stream.meta["n_encoder_payloads"]


def test_C19_unreadable_values_stay_nan(tmp_path):
    files = write_session(tmp_path / "t", "T", 1, "widefield", duration=20, kinds=("treadmill",))
    rewrite(files.paths["treadmill"], lambda f: f.assign(speed_mm=np.where(np.arange(len(f)) == 2,
                                                                            "fast", f["speed_mm"])))
    stream = datakit.load_path("treadmill", files.paths["treadmill"])
    assert np.isnan(stream.value["speed_mm"].iloc[2]) and stream.meta["n_missing_speed_mm"] == 1
    wheel = write_session(tmp_path / "w", "W", 1, "gratings", duration=20, kinds=("wheel",))
    rewrite(wheel.paths["wheel"], lambda f: f.assign(Speed=np.where(np.arange(len(f)) == 3, "", f["Speed"])))
    stream = datakit.load_path("wheel", wheel.paths["wheel"])
    assert np.isnan(stream.value["speed_mm"].iloc[3]) and stream.meta["n_missing_speed"] == 1
    rewrite(wheel.paths["wheel"], lambda f: f.assign(Time="soon"))
    with pytest.raises(ValueError, match="no row has a numeric Time") as info:
        datakit.load_path("wheel", wheel.paths["wheel"])
    assert str(wheel.paths["wheel"]) in str(info.value)


def test_C20_deeplabcut_pickle_and_natural_order(tmp_path):
    files = write_session(tmp_path, "D", 1, "widefield", duration=20, variant="dlc_pickle",
                          kinds=("dataqueue", "pupil_dlc"))
    assert str(files.paths["pupil_dlc"]).endswith("_full.pickle")
    ds = quiet_dataset(tmp_path)
    assert ds.inventory.iloc[0]["pupil_dlc"] == str(files.paths["pupil_dlc"])
    meta = ds.materialize(workers=1).iloc[0][("pupil_dlc", "meta")]
    assert meta["format"] == "full_pickle"
    assert meta["bodyparts"][:2] == ["Pupil1", "Pupil2"] and meta["landmark_pairs"][0] == (0, 1)


def test_C21_discovery_never_aborts(tmp_path):
    write_session(tmp_path, "A", 1, "widefield", duration=20, kinds=("notes",))
    odd = tmp_path / "data/odd_notes.txt"
    odd.write_text("2025-07-06 16:11:17: no identity in this path\n")
    ds = quiet_dataset(tmp_path)
    assert len(ds) == 1 and str(odd) in set(ds.skipped["path"])
    other = tmp_path / "other"
    write_session(other, "A", 1, "widefield", duration=20, kinds=("timestamps",))
    both = quiet_dataset([tmp_path, other])
    assert len(both) == 1 and {"notes", "timestamps"} <= set(both.sources)   # one row per cell
    empty = tmp_path / "empty"
    (empty / "data").mkdir(parents=True)
    with pytest.warns(UserWarning, match="no recordings found"):
        nothing = datakit.Dataset.from_directory(empty)
    assert len(nothing) == 0


def test_C22_filters_and_inspect_sources(legacy_ds):
    assert len(legacy_ds.include(task={"task-widefield", "task-movies"})) == 2   # any iterable
    ds = legacy_ds.include(task="task-widefield")
    ds.add_note("kept")
    assert ds.include(source="notes").notes == ["kept"] and ds.exclude(source="notes").notes == ["kept"]
    assert len(ds.exclude()) == len(ds)
    with pytest.raises(KeyError, match="meso"):
        ds.include(source="meso")
    two = quiet_dataset(legacy_ds.roots[0], include_task_level=False)
    with pytest.raises(ValueError, match="no Task level"):
        two.include(task="task-widefield")
    inv = pd.DataFrame({"x": ["a"]}, index=pd.MultiIndex.from_tuples([WIDE], names=["Subject", "Session", "Task"]))
    assert datakit.inspect_sources(inv).empty


def test_C23_hdf5_is_datakits_layout(legacy_df, tmp_path):
    from datakit.legacy import pandas_hdf_keys

    path = datakit.io.save_frame(legacy_df, tmp_path / "x.h5")
    assert pandas_hdf_keys(path) == {}
    back = datakit.load_dataset(path, allow_pickle=False)
    assert back.attrs["datakit_sources"] == legacy_df.attrs["datakit_sources"]
    old = tmp_path / "old.h5"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
        pd.DataFrame({"a": [np.arange(3)]}, dtype=object).to_hdf(old, key="dataset", format="fixed")
    with pytest.raises(PickleRefused, match="allow_pickle=True"):
        datakit.load_dataset(old)


def test_C24_suffixes(legacy_ds, legacy_df, tmp_path, monkeypatch):
    from datakit import engine

    def no_loading(*args, **kwargs):
        raise AssertionError("loaded before checking the suffix")

    monkeypatch.setattr(engine, "run", no_loading)
    with pytest.raises(ValueError, match=r"'\.csv'"):
        legacy_ds.save(tmp_path / "x.csv")
    monkeypatch.undo()
    pickled = datakit.io.save_frame(legacy_df, tmp_path / "x.pickle")
    assert datakit.explore(pickled, print_output=False).shape == legacy_df.shape
    h5 = datakit.io.save_frame(legacy_df, tmp_path / "x.h5")
    assert datakit.profile_materialized(h5).shape == legacy_df.shape


def test_C25_safe_mode_refuses_every_unpickling(legacy_df, tmp_path, monkeypatch):
    path = datakit.io.save_frame(legacy_df, tmp_path / "x.pkl")
    monkeypatch.setenv("DATAKIT_ALLOW_PICKLE", "0")
    with pytest.raises(PickleRefused, match=re.escape(str(path))):
        datakit.load_dataset(path)
    files = write_session(tmp_path / "s", "S", 1, "gratings", duration=20, kinds=("suite2p",))
    with pytest.raises(PickleRefused, match="ops.npy"):
        datakit.load_path("suite2p", files.paths["suite2p"])


def test_C26_command_line_format_and_suffix(tmp_path, capsys):
    write_session(tmp_path / "exp", "A", 1, "widefield", duration=20, kinds=("dataqueue", "treadmill"))
    with pytest.raises(SystemExit) as info:  # argparse refuses before any work
        from datakit.cli.parser import build_parser
        build_parser().parse_args(["build", str(tmp_path / "exp"), "-f", "parquet"])
    assert info.value.code == 2
    assert main(["build", str(tmp_path / "exp"), "-f", "csv"]) == 2
    assert main(["build", str(tmp_path / "exp"), "-o", str(tmp_path / "x.pkl"), "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert f"wrote {tmp_path / 'x.pkl'} (pickle" in out
    assert (tmp_path / "x.pkl").read_bytes()[:1] == b"\x80"          # a pickle, not HDF5


def test_C27_explore_prints_plain_text_and_the_real_tree(tmp_path, capsys):
    write_session(tmp_path, "A", 1, "widefield", duration=20, kinds=("notes",))
    write_session(tmp_path, "B", 2, "gratings", duration=20, kinds=("notes",))
    report = datakit.explore(tmp_path)
    out = capsys.readouterr().out
    assert "\x1b[" not in out
    structure = out.split("STRUCTURE")[1].split("SOURCE TAGS")[0]
    lines = [line.strip() for line in structure.splitlines() if line.strip() and "---" not in line]
    assert lines == ["A", "ses-01", "task-widefield", "B", "ses-02", "task-gratings"]
    assert report.hierarchy == {"A": {"ses-01": {"task-widefield": {}}},
                                "B": {"ses-02": {"task-gratings": {}}}}


def test_C28_get_logger_configures_nothing():
    log = datakit.get_logger("loader")
    assert isinstance(log, logging.Logger) and log.name == "datakit.loader"
    assert datakit.get_logger() is logging.getLogger("datakit") is datakit.logger
    assert [type(h).__name__ for h in logging.getLogger("datakit").handlers] == ["NullHandler"]
    assert not log.handlers


def test_C29_version_is_datakits_own():
    meta = datakit.build_meta()
    assert meta["package"] == "datakit" and meta["version"] not in ("", "0.0.0+unknown")
    assert meta["version"] == datakit.__version__


def test_C30_settings_is_a_frozen_value():
    from datakit import settings

    assert isinstance(settings, datakit.Settings) and datakit.settings is datakit.get_settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.master_camera_rate_hz = 49.0
    assert settings.dataset.index_names == ("Subject", "Session", "Task")
    before = datakit.get_settings()
    try:
        datakit.configure(devices=datakit.Devices(master_camera=("hamamatsu",)))
        assert datakit.settings.timeline.window_device_patterns == ("hamamatsu",)
    finally:
        datakit.configure(before)


class _Licks(datakit.DataSource):
    tag = "licks_legacy_test"
    patterns = ("*_licks.csv",)
    description = "test"

    def load(self, path, *, context=None):
        frame = pd.read_csv(path)
        return self.stream(frame["t"].to_numpy(), frame[["lick"]], {"time_basis": "own"})


def test_C31_a_source_is_a_registered_class(tmp_path):
    datakit.register_source(_Licks)
    try:
        path = tmp_path / "data/sub-A/ses-01/20250706_161035_sub-A_ses-01_task-x_licks.csv"
        path.parent.mkdir(parents=True)
        path.write_text("t,lick\n0.5,1\n1.0,0\n")
        row = quiet_dataset(tmp_path).materialize(workers=1).iloc[0]
        np.testing.assert_array_equal(row[("licks_legacy_test", "lick")], [1, 0])
    finally:
        datakit.unregister_source("licks_legacy_test")


def test_C32_load_error_carries_context_and_cause(tmp_path):
    files = write_session(tmp_path, "E", 1, "widefield", duration=20, kinds=("notes", "treadmill"))
    files.paths["treadmill"].write_text("timestamp,distance_mm,speed_mm\nx,y,z\n")
    ds = quiet_dataset(tmp_path)
    with pytest.raises(datakit.LoadError) as info:
        ds.materialize(workers=1)
    err = info.value
    assert isinstance(err, RuntimeError) and isinstance(err, ValueError)
    assert (err.subject, err.source, err.path) == ("E", "treadmill", str(files.paths["treadmill"]))
    assert isinstance(err.__cause__, ValueError) and "numeric timestamp" in str(err.__cause__)
    report = ds.validate(workers=1)
    assert all(report[c].dtype == object for c in ("Subject", "Source", "status", "path"))


def test_C33_cells_load_in_worker_processes(legacy_ds, legacy_df):
    from datakit.testing import assert_frames_equal

    two = legacy_ds.include(source=["dataqueue", "treadmill", "notes"])
    a = two.materialize(workers=2)                       # a process pool
    b = two.materialize(workers=1)                       # in this process
    a.attrs, b.attrs = {}, {}
    assert_frames_equal(a, b)


def test_C34_meta_keeps_the_standard_keys(legacy_df):
    wide = legacy_df.loc[WIDE]
    assert wide[("treadmill", "meta")]["is_timeseries"] is True
    assert wide[("treadmill", "meta")]["source_tag"] == "treadmill"
    assert wide[("timestamps", "meta")]["is_interval"] is True
    assert wide[("meso_metadata", "meta")]["camera_tag"] == "meso"


def test_C35_added_features_beside_the_earlier_names(legacy_df):
    wide, grat = legacy_df.loc[WIDE], legacy_df.loc[GRAT]
    for source, name in (("dataqueue", "payload_text"), ("meso_metadata", "elapsed_time_ms"),
                         ("pupil_dlc", "pupil_diameter_measured"), ("pupil_dlc", "n_valid_pairs"),
                         ("mesomap", "mask")):
        assert isinstance(wide[(source, name)], np.ndarray), (source, name)
    for source, name in (("suite2p", "F_corrected"), ("suite2p", "spks"), ("psychopy", "duration_s"),
                         ("psychopy", "stop_source")):
        assert isinstance(grat[(source, name)], np.ndarray), (source, name)
    measured = wide[("pupil_dlc", "pupil_diameter_measured")]
    assert measured.dtype == bool
    d = wide[("pupil_dlc", "pupil_diameter_mm")]
    first = int(np.argmax(measured))
    assert np.isfinite(d[first:]).all()                   # gaps interpolated, as before


def test_every_readme_row_has_a_test_and_every_test_a_row():
    rows = re.findall(r"^\| (C\d\d) \|", README.read_text(encoding="utf-8"), re.M)
    assert rows and len(rows) == len(set(rows))
    tests = {name.split("_")[1] for name in globals() if re.match(r"test_C\d\d_", name)}
    assert tests == set(rows), (sorted(set(rows) - tests), sorted(tests - set(rows)))
