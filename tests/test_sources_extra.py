"""wheel, psychopy, pupil_dlc, mesomap and suite2p: alignment against the demo's ground
truth, every fallback clock, the clear errors, safe mode and materialized cell types."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import datakit
from datakit.demo import write_session
from datakit.errors import PickleRefused
from datakit.sources.psychopy import PsychopySource, parse_exp_start
from datakit.sources.pupil_dlc import PupilDlcSource, natural_key
from datakit.sources.suite2p import Suite2pSource

SAFE_ENV = "DATAKIT_ALLOW_PICKLE"
DURATION = 20.0
TIME_SERIES = ("wheel", "pupil_dlc", "mesomap", "suite2p")


def materialize(root, **kwargs) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datakit.ConflictWarning)  # treadmill CSV vs dataqueue conflicts are not ours
        dataset = datakit.Dataset.from_directory(root, **kwargs)
    return dataset.materialize(workers=1)


def cell(df, files, source):
    """{feature: value} of one source in the row of ``files`` (a demo SessionFiles).

    Features only other rows have (the frame's columns are their union) are left out.
    """
    row = df.loc[files.key]
    out = {}
    for src, feat in df.columns:
        value = row[(src, feat)]
        if src == source and not (isinstance(value, float) and np.isnan(value)):
            out[feat] = value
    return out


def dhyana_started(files) -> float:
    """Where the session_timestamps fallback clock has its zero, on the master clock."""
    return files.truth.device_windows["Dhyana"][0]


def rewrite_csv(path: Path, change) -> None:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    change(frame).to_csv(path, index=False)


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """One complete session of each task (and variants) in one experiment root."""
    root = tmp_path_factory.mktemp("full")
    cells = {
        "gratings": write_session(root, "GRAT", 1, "gratings", duration=DURATION),
        "movies": write_session(root, "MOV", 1, "movies", duration=DURATION,
                                variant="wheel_dropped_rows"),
        "widefield": write_session(root, "WIDE", 1, "widefield", duration=DURATION),
        "pickle": write_session(root, "PKL", 1, "widefield", duration=DURATION,
                                variant="dlc_pickle",
                                kinds=("dataqueue", "pupil_metadata", "pupil_dlc", "timestamps")),
        "multi": write_session(root, "MULTI", 1, "widefield", duration=DURATION,
                               variant="dlc_multianimal",
                               kinds=("dataqueue", "pupil_metadata", "pupil_dlc", "timestamps")),
    }
    return root, cells, materialize(root)


# ---------------------------------------------------------------------------------
# materialization: stable cell types


def test_every_time_series_feature_is_a_1d_array_of_stream_length(full):
    _, cells, df = full
    checked = 0
    for files in cells.values():
        for source in TIME_SERIES + ("psychopy",):
            if source not in files.paths:
                continue
            feats = cell(df, files, source)
            n = len(feats["time_elapsed_s"])
            assert n > 1
            assert np.all(np.diff(feats["time_elapsed_s"]) > 0 if source != "psychopy"
                          else np.diff(feats["time_elapsed_s"]) >= 0)
            exceptions = {"meta"}
            if source == "mesomap":
                exceptions |= {"mask", "regions"}
            if source == "suite2p":
                per_cell = {"cell_index", "iscell_prob", "med_y", "med_x", "npix"}
                n_cells, n_rois = feats["meta"]["n_cells"], feats["meta"]["n_rois"]
                frames = ("roi_fluorescence", "neuropil_fluorescence", "F_corrected", "deltaf_f", "spks")
                for name in frames:
                    assert feats[name].shape == (n_cells, n), name
                for name in per_cell:
                    assert feats[name].shape == (n_cells,), name
                assert feats["cell_identifier"].shape[0] == n_rois
                assert feats["cell_mask"].shape == (n_rois,) and feats["cell_mask"].dtype == bool
                assert isinstance(feats["stat"], list) and isinstance(feats["ops"], dict)
                assert isinstance(feats["plane_directory"], str)
                assert feats["time_native_s"].dtype == np.float32
                exceptions |= per_cell | set(frames) | {"cell_identifier", "cell_mask", "stat",
                                                        "ops", "plane_directory"}
            for name, value in feats.items():
                if name in exceptions:
                    continue
                assert isinstance(value, np.ndarray), (source, name, type(value))
                assert value.ndim == 1 and len(value) == n, (source, name, value.shape)
                checked += 1
            assert feats["meta"]["time_basis"] == "master"
    assert checked > 50


# ---------------------------------------------------------------------------------
# wheel


def test_wheel_aligned_directly_on_encoder_rows(full):
    _, cells, df = full
    files = cells["gratings"]
    feats = cell(df, files, "wheel")
    truth = files.truth
    assert feats["meta"]["alignment"] == "dataqueue_direct"
    np.testing.assert_allclose(feats["time_elapsed_s"], truth.encoder_t, atol=1e-6)
    wheel = pd.read_csv(files.paths["wheel"])
    np.testing.assert_array_equal(feats["click_delta"], wheel["Clicks"])
    np.testing.assert_array_equal(feats["click_position"], np.cumsum(wheel["Clicks"]))
    np.testing.assert_allclose(feats["time_reference_s"], wheel["Time"])
    # trapezoid of speed over the wheel clock ~ the distance the clicks cover
    assert feats["distance_mm"][0] == 0.0
    total = wheel["Clicks"].sum() * np.pi * 190.0 / 1024.0
    assert abs(feats["distance_mm"][-1] - total) < 0.05 * total + 5.0


def test_wheel_resampled_when_dataqueue_dropped_rows(full):
    _, cells, df = full
    files = cells["movies"]
    feats = cell(df, files, "wheel")
    meta = feats["meta"]
    assert meta["alignment"] == "dataqueue_resampled"
    assert meta["dataqueue_anchors"] < meta["n_samples"]
    assert len(feats["time_elapsed_s"]) == len(files.truth.encoder_t)
    assert np.abs(feats["time_elapsed_s"] - files.truth.encoder_t).max() < 0.15


def test_wheel_fallback_clocks_without_dataqueue(tmp_path):
    with_ts = write_session(tmp_path / "a", "W", 1, "gratings", duration=DURATION,
                            kinds=("wheel", "timestamps"))
    stream = datakit.load_path("wheel", with_ts.paths["wheel"])
    assert stream.meta["time_basis"] == "session_timestamps"
    assert stream.meta["alignment"] == "wall_clock_started"
    # first sample at Started: off by the wheel's start-up delay only (tens of ms)
    err = stream.t + dhyana_started(with_ts) - with_ts.truth.encoder_t
    assert np.abs(err).max() < 0.06

    alone = write_session(tmp_path / "b", "W", 1, "gratings", duration=DURATION, kinds=("wheel",))
    stream = datakit.load_path("wheel", alone.paths["wheel"])
    wheel = pd.read_csv(alone.paths["wheel"])
    assert stream.meta["time_basis"] == "wheel_clock"
    np.testing.assert_allclose(stream.t, wheel["Time"] - wheel["Time"].iloc[0])


def test_wheel_with_too_few_encoder_rows_uses_started_on_master_clock(tmp_path):
    files = write_session(tmp_path, "W", 1, "gratings", duration=DURATION,
                          kinds=("dataqueue", "wheel"))
    rewrite_csv(files.paths["dataqueue"], lambda f: f[~f["device_id"].str.contains("encoder")])
    stream = datakit.load_path("wheel", files.paths["wheel"])
    assert stream.meta["dataqueue_anchors"] == 0
    assert stream.meta["time_basis"] == "master"
    assert stream.meta["alignment"] == "wall_clock_started"
    assert np.abs(stream.t - files.truth.encoder_t).max() < 0.06


def test_wheel_wrong_header_is_a_clear_error(tmp_path):
    path = tmp_path / "x_sub-A_ses-01_task-gratings_wheel.csv"
    path.write_text("Clicks,Tme,Speed\n1,0.1,2\n")
    with pytest.raises(ValueError, match=r"wheel CSV.*\['Time'\]") as info:
        datakit.load_path("wheel", path)
    assert str(path) in str(info.value)


# ---------------------------------------------------------------------------------
# psychopy


def test_psychopy_gratings_trials_on_master_clock(full):
    _, cells, df = full
    files = cells["gratings"]
    feats = cell(df, files, "psychopy")
    truth = files.truth.trials
    meta = feats["meta"]
    assert meta["task_branch"] == "gratings" and meta["time_basis"] == "master"
    assert meta["task_inferred"] == "task-gratings"
    assert meta["alignment_method"] == "first_nidaq_pulse_wall_clock"
    assert len(feats["start_s"]) == len(truth)  # the key-press row is not a trial
    assert np.abs(feats["start_s"] - truth["start_s"]).max() < 0.005
    assert np.abs(feats["stop_s"] - truth["stop_s"]).max() < 0.005
    np.testing.assert_array_equal(feats["gratings_ori"], truth["ori"])
    np.testing.assert_array_equal(feats["time_elapsed_s"], feats["start_s"])
    # per-trial PsychoPy times are converted with the same offset
    assert np.abs(feats["gratings_stim_grayScreen.started"] - truth["gray_start_s"]).max() < 0.005
    assert set(feats["stop_source"]) == {"stopped"}
    # the earlier windows: grating onset -> offset, gray onset -> grating onset
    np.testing.assert_array_equal(feats["gratings_window_grating_start"], feats["start_s"])
    np.testing.assert_array_equal(feats["gratings_window_grating_stop"], feats["stop_s"])
    np.testing.assert_array_equal(feats["gratings_window_gray_stop"], feats["start_s"])
    windows = feats["gratings_gratings_windows"][0]
    assert windows == list(zip(feats["start_s"].tolist(), feats["stop_s"].tolist()))
    assert all(w is windows or w == windows for w in feats["gratings_gratings_windows"])


def test_psychopy_movies(full):
    _, cells, df = full
    files = cells["movies"]
    feats = cell(df, files, "psychopy")
    truth = files.truth.trials
    assert feats["meta"]["task_branch"] == "movies"
    assert feats["meta"]["stimulus_component"] == "movie"
    assert np.abs(feats["start_s"] - truth["start_s"]).max() < 0.005
    assert np.abs(feats["stop_s"] - truth["stop_s"]).max() < 0.005
    assert list(feats["movies_movie_file"]) == list(truth["movie_file"])


def test_psychopy_keeps_trials_whose_stop_is_blank(tmp_path):
    files = write_session(tmp_path, "P", 1, "gratings", duration=DURATION,
                          kinds=("dataqueue", "psychopy", "timestamps"))
    rewrite_csv(files.paths["psychopy"],
                lambda f: f.assign(**{"stim_grating.stopped": ""}))
    stream = datakit.load_path("psychopy", files.paths["psychopy"])
    v = stream.value
    truth = files.truth.trials
    assert len(v) == len(truth)
    last = (truth["trial_in_block"] == truth["trial_in_block"].max()).to_numpy()
    # mid-block: the next trial's gray screen; block end: display_gratings.stopped
    assert set(v["stop_source"][~last]) == {"next_gray_onset"}
    assert set(v["stop_source"][last]) == {"next_stop_event"}
    nxt = truth["gray_start_s"].to_numpy()[1:][~last[:-1]]
    assert np.abs(v["stop_s"].to_numpy()[:-1][~last[:-1]] - nxt).max() < 0.005
    assert np.abs(v["stop_s"][last] - truth["stop_s"][last]).max() < 0.005
    assert stream.meta["stop_sources"] == {"next_gray_onset": int((~last).sum()),
                                           "next_stop_event": int(last.sum())}


def test_psychopy_fallback_clocks_without_dataqueue(tmp_path):
    files = write_session(tmp_path / "a", "P", 1, "gratings", duration=DURATION,
                          kinds=("psychopy", "timestamps"))
    stream = datakit.load_path("psychopy", files.paths["psychopy"])
    assert stream.meta["time_basis"] == "session_timestamps"
    err = stream.value["start_s"] + dhyana_started(files) - files.truth.trials["start_s"]
    assert np.abs(err).max() < 0.005

    alone = write_session(tmp_path / "b", "P", 1, "gratings", duration=DURATION,
                          kinds=("psychopy",))
    stream = datakit.load_path("psychopy", alone.paths["psychopy"])
    raw = pd.read_csv(alone.paths["psychopy"])
    assert stream.meta["time_basis"] == "psychopy_expstart"
    np.testing.assert_allclose(stream.value["start_s"], raw["stim_grating.started"].dropna())


def test_psychopy_missing_or_bad_expstart_is_a_clear_error(tmp_path):
    files = write_session(tmp_path, "P", 1, "gratings", duration=DURATION,
                          kinds=("dataqueue", "psychopy"))
    path = files.paths["psychopy"]
    original = pd.read_csv(path, dtype=str, keep_default_na=False)
    original.drop(columns=["expStart"]).to_csv(path, index=False)
    with pytest.raises(ValueError, match="no expStart") as info:
        datakit.load_path("psychopy", path)
    assert str(path) in str(info.value)
    original.assign(expStart="yesterday at noon").to_csv(path, index=False)
    with pytest.raises(ValueError, match="unreadable expStart 'yesterday at noon'"):
        datakit.load_path("psychopy", path)


def test_psychopy_without_nidaq_pulses_uses_the_dataqueue_wall_clock(tmp_path):
    files = write_session(tmp_path, "P", 1, "gratings", duration=DURATION,
                          kinds=("dataqueue", "psychopy"))
    rewrite_csv(files.paths["dataqueue"], lambda f: f[f["device_id"] != "nidaq"])
    stream = datakit.load_path("psychopy", files.paths["psychopy"])
    assert stream.meta["time_basis"] == "master"
    assert stream.meta["alignment_method"] == "expStart_wall_clock"
    assert "no nidaq pulses" in stream.meta["note_dataqueue"]


def test_psychopy_generic_design_single_trial_materializes_as_arrays(tmp_path):
    beh = tmp_path / "data" / "sub-G" / "ses-01" / "beh"
    beh.mkdir(parents=True)
    path = beh / "20250706_161035_sub-G_ses-01_task-dots_psychopy.csv"
    path.write_text(
        "coherence,trials.thisN,key_resp.started,key_resp.rt,trial.started,stim_dots.started,"
        "stim_dots.stopped,trial.stopped,expStart,\n"
        ",,0.05,1.5,,,,,2025-07-06 16h12.03.123456 -0700,\n"
        "0.5,0,,,1.6,1.7,2.7,2.75,2025-07-06 16h12.03.123456 -0700,\n")
    df = materialize(tmp_path)
    feats = {f: df.iloc[0][("psychopy", f)] for s, f in df.columns if s == "psychopy"}
    assert feats["meta"]["task_branch"] == "raw"
    assert feats["meta"]["time_basis"] == "psychopy_expstart"
    assert feats["meta"]["key_resp_rt"] == pytest.approx(1.5)
    assert feats["meta"]["key_resp_column"] == "key_resp.rt"
    assert "raw_key_resp.rt" not in feats  # empty on every trial row
    for name, value in feats.items():
        if name != "meta":
            assert isinstance(value, np.ndarray) and value.shape == (1,), name
    assert feats["start_s"][0] == pytest.approx(1.6)  # the trial's earliest onset
    assert feats["stop_s"][0] == pytest.approx(2.75)  # its latest stop
    assert feats["raw_coherence"][0] == pytest.approx(0.5)


def test_psychopy_not_a_trial_loop_csv(tmp_path):
    path = tmp_path / "x_sub-A_ses-01_task-gratings_psychopy.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a PsychoPy trial-loop CSV"):
        PsychopySource().load(path)


@pytest.mark.parametrize("text, expected", [
    ("2025-07-06 16h12.03.123456 -0700", "2025-07-06 16:12:03.123456"),
    ("2025-07-06 16h12.03.1 +0200", "2025-07-06 16:12:03.100000"),
    ("2025-07-06 9h05.07", "2025-07-06 09:05:07"),
    ("2025-07-06T16:12:03.5-07:00", "2025-07-06 16:12:03.5"),
])
def test_exp_start_formats_keep_local_wall_time(text, expected):
    assert parse_exp_start(text) == pd.Timestamp(expected)
    assert parse_exp_start("garbage") is None


# ---------------------------------------------------------------------------------
# pupil_dlc


@pytest.mark.parametrize("which, fmt", [("widefield", "hdf5_single_animal"),
                                        ("pickle", "full_pickle"),
                                        ("multi", "hdf5_multi_animal")])
def test_pupil_dlc_diameter_and_frame_times(full, which, fmt):
    _, cells, df = full
    files = cells[which]
    feats = cell(df, files, "pupil_dlc")
    truth = files.truth
    meta = feats["meta"]
    assert meta["format"] == fmt
    if fmt == "hdf5_multi_animal":
        assert meta["individual"] == "mouse1"
    np.testing.assert_allclose(feats["time_elapsed_s"], truth.thorcam_t, atol=1e-6)
    # the demo labels Pupil(2k+1)/Pupil(2k+2) as the ends of a diameter
    assert meta["pairing"] == "consecutive"
    assert meta["landmark_pairs"][0] == (0, 1)               # indices, as before
    assert meta["landmark_pair_names"][0] == ("Pupil1", "Pupil2")
    assert meta["confidence_threshold"] == 0.7 and meta["pixel_to_mm"] == 53.6
    d = feats["pupil_diameter_mm"]
    ok = np.isfinite(d) & ~truth.pupil_blink
    assert ok.mean() > 0.8
    assert np.median(np.abs(d[ok] - truth.pupil_diameter_mm[ok])) < 0.02
    measured = feats["pupil_diameter_measured"]
    assert measured.dtype == bool
    np.testing.assert_array_equal(measured, feats["n_valid_pairs"] > 0)
    assert (~measured).sum() > 0
    # low-confidence frames are interpolated between the measured ones, as before
    pos = np.arange(d.size)
    inside = ~measured & (pos > pos[measured][0])
    np.testing.assert_allclose(d[inside], np.interp(pos[inside], pos[measured], d[measured]))
    assert np.isnan(d[: np.argmax(measured)]).all()
    assert feats["Pupil8_likelihood"].shape == d.shape


def _ring(n_frames, names, diameters_px, order):
    """DLC-style table of landmarks going round a circle (names[i] at angle i)."""
    k = len(names)
    angles = 2 * np.pi * np.arange(k) / k
    r = diameters_px[:, None] / 2
    x = 200 + r * np.cos(angles)
    y = 150 + r * np.sin(angles)
    cols, data = [], []
    for j in order:
        for coord, values in (("x", x[:, j]), ("y", y[:, j]), ("likelihood", np.full(n_frames, 0.99))):
            cols.append(("scorer", names[j], coord))
            data.append(values)
    columns = pd.MultiIndex.from_tuples(cols, names=["scorer", "bodyparts", "coords"])
    return pd.DataFrame(np.column_stack(data), columns=columns)


def test_pupil_dlc_pairs_decided_by_geometry_and_natural_order(tmp_path):
    names = [f"Pupil{i}" for i in range(1, 11)]
    diam_px = np.linspace(50, 80, 30)
    order = sorted(range(10), key=lambda j: names[j])  # file in alphabetical order
    table = _ring(30, names, diam_px, order)
    path = tmp_path / "x_sub-A_ses-01_task-w_pupilDLC_resnet50.h5"
    table.to_hdf(path, key="df_with_missing", format="table")
    stream = datakit.load_path("pupil_dlc", path)
    assert stream.meta["pairing"] == "opposite"
    assert stream.meta["landmarks"] == names
    assert stream.meta["landmark_pairs"][0] == (0, 5)
    assert stream.meta["landmark_pair_names"][0] == ("Pupil1", "Pupil6")
    np.testing.assert_allclose(stream.value["pupil_diameter_mm"], diam_px / 53.6, rtol=1e-9)
    assert set(stream.value["n_valid_pairs"]) == {5}
    # no dataqueue, sidecar or timestamps: the configured pupil camera rate
    assert stream.meta["time_basis"] == "assumed_rate"
    np.testing.assert_allclose(stream.t, np.arange(30) / 20.0)
    assert sorted(["Pupil10", "Pupil2", "Pupil1"], key=natural_key) == ["Pupil1", "Pupil2", "Pupil10"]


def test_pupil_dlc_multi_animal_picks_the_tracked_individual(tmp_path):
    names = [f"Pupil{i}" for i in range(1, 9)]
    good = _ring(12, names, np.full(12, 60.0), range(8))
    bad = good.copy()
    bad.loc[:, (slice(None), slice(None), "likelihood")] = 0.1
    both = pd.concat({"ghost": bad, "mouse": good}, axis=1).swaplevel(0, 1, axis=1)
    both.columns = both.columns.set_names(["scorer", "individuals", "bodyparts", "coords"])
    path = tmp_path / "x_sub-A_ses-01_task-w_pupilDLC_dlcrnet_el.h5"
    both.to_hdf(path, key="df_with_missing", format="table")
    stream = datakit.load_path("pupil_dlc", path)
    assert stream.meta["individual"] == "mouse"
    assert stream.meta["individuals"] == ["ghost", "mouse"]
    np.testing.assert_allclose(stream.value["pupil_diameter_mm"], 60 / 53.6)


def test_pupil_dlc_fallback_to_sidecar_without_dataqueue(tmp_path):
    files = write_session(tmp_path, "D", 1, "widefield", duration=DURATION,
                          kinds=("pupil_metadata", "pupil_dlc", "timestamps"))
    feats = cell(materialize(tmp_path), files, "pupil_dlc")
    assert feats["meta"]["alignment"] == "pupil_metadata_frames"
    assert feats["meta"]["time_basis"] == "session_timestamps"
    err = feats["time_elapsed_s"] + dhyana_started(files) - files.truth.thorcam_t
    assert np.abs(err).max() < 0.005


@pytest.mark.parametrize("variant, message", [("dlc_pickle", "truncated or corrupt"),
                                              (None, "file looks truncated")])
def test_pupil_dlc_truncated_file_is_a_clear_error(tmp_path, variant, message):
    files = write_session(tmp_path, "D", 1, "widefield", duration=DURATION,
                          variant=variant, kinds=("pupil_dlc",))
    path = files.paths["pupil_dlc"]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=message) as info:
        datakit.load_path("pupil_dlc", path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("variant", ["dlc_pickle", None])
def test_pupil_dlc_safe_mode_refuses_pickle_and_h5(tmp_path, monkeypatch, variant):
    files = write_session(tmp_path, "D", 1, "widefield", duration=DURATION,
                          variant=variant, kinds=("pupil_dlc",))
    path = files.paths["pupil_dlc"]
    monkeypatch.setenv(SAFE_ENV, "0")
    with pytest.raises(PickleRefused, match="safe mode") as info:
        datakit.load_path("pupil_dlc", path)
    assert str(path) in str(info.value)
    with pytest.raises(PickleRefused):
        PupilDlcSource().load(path)


# ---------------------------------------------------------------------------------
# mesomap


def test_mesomap_traces_mask_and_regions_materialized(full):
    _, cells, df = full
    files = cells["widefield"]
    feats = cell(df, files, "mesomap")
    truth = files.truth
    np.testing.assert_allclose(feats["time_elapsed_s"], truth.dhyana_t, atol=1e-6)
    traces = pd.read_csv(files.paths["mesomap"])
    regions = pd.read_csv(files.companions["mesomap"][1])
    for roi in traces.columns[1:]:
        np.testing.assert_allclose(feats[roi], traces[roi])
    mask = np.load(files.companions["mesomap"][0])
    np.testing.assert_array_equal(feats["mask"], mask)
    assert feats["mask"].ndim == 2 and feats["mask"].dtype.kind == "i"
    assert list(feats["regions"]["acronym"]) == list(regions["acronym"])
    np.testing.assert_array_equal(feats["regions"]["mask_label"], regions["mask_label"])
    meta = feats["meta"]
    assert meta["mask_missing"] is False and meta["regions_missing"] is False
    assert meta["mask_shape"] == [64, 64] and meta["region_count"] == len(regions)
    assert meta["roi_to_mask_label"]["VISp_L"] == 8
    assert meta["roi_missing_region_metadata"] == []
    assert meta["trace_columns"] == list(traces.columns[1:]) and meta["frame_column"] == "frame"
    np.testing.assert_array_equal(meta["frame_index"], traces["frame"])
    pd.testing.assert_frame_equal(meta["regions_table"], regions, check_dtype=False)


def test_mesomap_without_siblings_and_without_dataqueue(tmp_path):
    files = write_session(tmp_path, "M", 1, "widefield", duration=DURATION, kinds=("mesomap",))
    for extra in files.companions["mesomap"]:
        extra.unlink()
    stream = datakit.load_path("mesomap", files.paths["mesomap"])
    assert stream.meta["mask_missing"] is True and stream.meta["regions_missing"] is True
    assert "mask" not in stream.value and "regions" not in stream.value
    assert stream.meta["time_basis"] == "assumed_rate"
    np.testing.assert_allclose(stream.t, np.arange(len(stream.t)) / 50.0)


def test_mesomap_bad_files_are_clear_errors(tmp_path):
    files = write_session(tmp_path, "M", 1, "widefield", duration=DURATION, kinds=("mesomap",))
    mask_path = files.companions["mesomap"][0]
    np.save(mask_path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="not a plain numeric .npy") as info:
        datakit.load_path("mesomap", files.paths["mesomap"])
    assert str(mask_path) in str(info.value)
    rewrite_csv(files.paths["mesomap"], lambda f: f.rename(columns={"frame": "Frame"}))
    with pytest.raises(ValueError, match=r"missing column\(s\) \['frame'\]"):
        datakit.load_path("mesomap", files.paths["mesomap"])


# ---------------------------------------------------------------------------------
# suite2p


def test_suite2p_processing_and_nidaq_frame_times(full):
    _, cells, df = full
    files = cells["gratings"]
    feats = cell(df, files, "suite2p")
    plane = files.paths["suite2p"].parent
    F = np.load(plane / "F.npy")
    Fneu = np.load(plane / "Fneu.npy")
    iscell = np.load(plane / "iscell.npy")
    keep = np.flatnonzero(iscell[:, 0] > 0.5)
    n_frames = F.shape[1]
    np.testing.assert_allclose(feats["time_elapsed_s"], files.truth.imaging_t[:n_frames],
                               atol=1e-6)
    np.testing.assert_array_equal(feats["cell_index"], keep)
    corrected = F[keep] - 0.7 * Fneu[keep]
    np.testing.assert_allclose(feats["roi_fluorescence"], F[keep], rtol=1e-6)
    np.testing.assert_allclose(feats["neuropil_fluorescence"], Fneu[keep], rtol=1e-6)
    np.testing.assert_allclose(feats["F_corrected"], corrected, rtol=1e-5, atol=1e-3)
    base = np.percentile(corrected, 3.0, axis=1, keepdims=True)  # the earlier 3rd percentile
    np.testing.assert_allclose(feats["deltaf_f"], (corrected - base) / base, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(feats["cell_identifier"], iscell.astype(np.float32))
    np.testing.assert_array_equal(feats["cell_mask"], iscell[:, 0] > 0.5)
    meta = feats["meta"]
    assert meta["neuropil_scale_source"] == "ops" and meta["neuropil_scale"] == 0.7
    assert meta["baseline_percentile"] == 3.0
    assert meta["baseline_percentile_mean"] == pytest.approx(float(base.mean()), rel=1e-4)
    assert meta["pulses_per_frame"] == 2 and meta["alignment"] == "nidaq_payload_counter"
    assert meta["n_rois"] == F.shape[0] and meta["n_cells"] == keep.size


def _plane(tmp_path, name="S", **kinds):
    files = write_session(tmp_path, name, 1, "gratings", duration=DURATION, **kinds)
    return files, files.paths["suite2p"].parent


def test_suite2p_ops_values_are_applied(tmp_path):
    files, plane = _plane(tmp_path, kinds=("dataqueue", "suite2p"))
    ops = np.load(plane / "ops.npy", allow_pickle=True).item()
    ops.update(neucoeff=0.5, pulses_per_frame=4)
    np.save(plane / "ops.npy", np.array(ops, dtype=object), allow_pickle=True)
    feats = cell(materialize(tmp_path), files, "suite2p")
    F, Fneu = np.load(plane / "F.npy"), np.load(plane / "Fneu.npy")
    cells_ = feats["cell_index"]
    np.testing.assert_allclose(feats["F_corrected"], F[cells_] - 0.5 * Fneu[cells_],
                               rtol=1e-5, atol=1e-3)
    assert feats["meta"]["pulses_per_frame_source"] == "ops['pulses_per_frame']"
    assert feats["meta"]["time_basis"] == "master"
    nidaq = files.truth.nidaq_t
    n_inside = min(F.shape[1], (len(nidaq) + 3) // 4)
    np.testing.assert_allclose(feats["time_elapsed_s"][:n_inside], nidaq[::4][:n_inside],
                               atol=1e-6)
    assert feats["meta"]["n_frames_beyond_pulses"] == F.shape[1] - n_inside


def test_suite2p_missing_files_are_named(tmp_path):
    files, plane = _plane(tmp_path, kinds=("suite2p",))
    (plane / "Fneu.npy").unlink()
    (plane / "iscell.npy").unlink()
    with pytest.raises(FileNotFoundError, match="missing Fneu.npy, iscell.npy"):
        datakit.load_path("suite2p", files.paths["suite2p"])
    (plane / "F.npy").unlink()
    with pytest.raises(FileNotFoundError, match="missing F.npy, Fneu.npy, iscell.npy"):
        Suite2pSource().load(plane / "F.npy")


def test_suite2p_fallback_rate_and_untimeable(tmp_path):
    files, plane = _plane(tmp_path, kinds=("suite2p",))
    stream = datakit.load_path("suite2p", files.paths["suite2p"])
    fs = np.load(plane / "ops.npy", allow_pickle=True).item()["fs"]
    assert stream.meta["time_basis"] == "suite2p_fs"
    np.testing.assert_allclose(stream.t, np.arange(len(stream.t)) / fs)
    (plane / "ops.npy").unlink()
    with pytest.raises(ValueError, match="cannot time suite2p frames: no dataqueue"):
        datakit.load_path("suite2p", files.paths["suite2p"])


def test_suite2p_safe_mode_refuses_stat_and_ops(tmp_path, monkeypatch):
    files, plane = _plane(tmp_path, kinds=("suite2p",))
    monkeypatch.setenv(SAFE_ENV, "0")
    with pytest.raises(PickleRefused, match="ops.npy"):
        datakit.load_path("suite2p", files.paths["suite2p"])
    (plane / "ops.npy").unlink()
    with pytest.raises(PickleRefused, match="stat.npy"):
        datakit.load_path("suite2p", files.paths["suite2p"])
    (plane / "stat.npy").unlink()
    # nothing left to unpickle: the plain arrays load in safe mode (timed by nothing -> error)
    with pytest.raises(ValueError, match="cannot time suite2p frames"):
        datakit.load_path("suite2p", files.paths["suite2p"])


def test_suite2p_never_borrows_another_subjects_dataqueue(tmp_path):
    write_session(tmp_path, "A", 1, "gratings", duration=DURATION)
    other = write_session(tmp_path, "B", 1, "gratings", duration=DURATION, kinds=("suite2p",))
    df = materialize(tmp_path)
    meta = df.loc[other.key, ("suite2p", "meta")]
    assert meta["time_basis"] == "suite2p_fs"
    mine = df.loc[("A", "ses-01", "task-gratings"), ("suite2p", "meta")]
    assert mine["time_basis"] == "master"


def test_suite2p_truncated_array_is_a_clear_error(tmp_path):
    files, plane = _plane(tmp_path, kinds=("suite2p",))
    data = (plane / "Fneu.npy").read_bytes()
    (plane / "Fneu.npy").write_bytes(data[: len(data) // 3])
    with pytest.raises(ValueError, match="Fneu.npy"):
        datakit.load_path("suite2p", files.paths["suite2p"])
