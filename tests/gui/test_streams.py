"""What the stream plot draws, as pure logic: drawables, signals, lanes, clocks."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import datakit
from datakit_gui.lanes import MASTER_LABEL, plan, time_axis_label
from datakit_gui.streams import (
    Curve,
    FrameHealth,
    Markers,
    RoiImage,
    Spans,
    extract,
    roi_image,
    value_at,
    visible_frame,
)


def make_row(basis="master"):
    """Built-in tags (so their declared signals apply) with hand-made features."""
    t = np.linspace(0, 10, 101)
    frames = np.delete(np.arange(0, 10, 0.02), [100, 101, 102, 300])    # 2 gaps: 3 + 1 frames
    data = {
        ("treadmill", "speed_mm"): np.sin(t), ("treadmill", "distance_mm"): np.cumsum(np.abs(np.sin(t))),
        ("treadmill", "timestamp"): np.arange(101) * 1000, ("treadmill", "time_elapsed_s"): t,
        ("treadmill", "meta"): {"kind": "timeseries", "time_basis": basis, "experiment_window": [0.0, 9.0]},
        ("suite2p", "deltaf_f"): np.ones((3, 101)), ("suite2p", "roi_fluorescence"): np.ones((3, 101)),
        ("suite2p", "cell_index"): np.array([4, 7, 9]), ("suite2p", "time_elapsed_s"): t,
        ("suite2p", "meta"): {"kind": "timeseries", "time_basis": "master"},
        ("mesomap", "frame"): np.arange(101.0), ("mesomap", "VISp_L"): np.sin(t),
        ("mesomap", "VISp_R"): np.cos(t), ("mesomap", "mask"): np.zeros((4, 4)),
        ("mesomap", "time_elapsed_s"): t, ("mesomap", "meta"): {"kind": "timeseries", "time_basis": "master"},
        ("meso_metadata", "ImageNumber"): np.arange(len(frames), dtype=float),
        ("meso_metadata", "Temperature"): np.full(len(frames), -8.0),
        ("meso_metadata", "time_elapsed_s"): frames,
        ("meso_metadata", "meta"): {"kind": "timeseries", "time_basis": "master"},
        ("notes", "timestamp"): np.array(["2025-01-01T10:00:00", "2025-01-01T10:00:07"], dtype="datetime64[us]"),
        ("notes", "note"): np.array(["Mouse stopped running for a while, then groomed", "stop"], dtype=object),
        ("notes", "time_elapsed_s"): np.array([1.0, 8.0]),
        ("notes", "meta"): {"kind": "timeseries", "time_basis": "master"},
        ("timestamps", "device_id"): np.array(["cam", "cam", "enc"], dtype=object),
        ("timestamps", "start_s"): np.array([0.0, 5.0, 1.0]),
        ("timestamps", "stop_s"): np.array([4.0, 9.0, 9.5]),
        ("timestamps", "time_elapsed_s"): np.array([0.0, 5.0, 1.0]),
        ("timestamps", "meta"): {"kind": "intervals", "time_basis": "master"},
        ("session_config", "weight"): 21.5, ("session_config", "meta"): {"kind": "table"},
    }
    return pd.Series(data, dtype=object)


def test_declared_signals_are_ticked_and_the_rest_are_extras():
    streams = extract(make_row(), ("S", "ses-01", "task-x"))
    signals = {item.key: item for item in streams.signals}
    assert set(signals) == {
        ("treadmill", "speed_mm"), ("treadmill", "distance_mm"), ("suite2p", "deltaf_f"), ("mesomap", "*"),
        ("meso_metadata", "time_elapsed_s"), ("notes", "note"), ("timestamps", "start_s")}
    assert {item.key for item in streams.extras} == {
        ("treadmill", "timestamp"), ("suite2p", "roi_fluorescence"), ("mesomap", "frame"), ("mesomap", "VISp_L"),
        ("mesomap", "VISp_R"), ("meso_metadata", "ImageNumber"), ("meso_metadata", "Temperature")}
    speed = signals[("treadmill", "speed_mm")]
    assert isinstance(speed, Curve) and (speed.label, speed.unit) == ("speed", "mm/s")
    # ROIs: suite2p's cells x frames and mesomap's region columns, each one image
    dff, regions = signals[("suite2p", "deltaf_f")], signals[("mesomap", "*")]
    assert isinstance(dff, RoiImage) and dff.rois == ["cell 4", "cell 7", "cell 9"]
    assert isinstance(regions, RoiImage) and regions.rois == ["VISp_L", "VISp_R"]
    assert regions.image.shape == (2, 101) and regions.extent == pytest.approx((-0.05, 10.05))
    assert regions.value_at(1, 5.0) == pytest.approx(np.cos(5.0), abs=1e-6)
    assert regions.diverging and regions.levels[0] == -regions.levels[1]
    # camera metadata: no curve by default, a frame-health track counting dropped frames
    health = signals[("meso_metadata", "time_elapsed_s")]
    assert isinstance(health, FrameHealth)
    assert health.n_dropped == 4 and len(health.gap_starts) == 2
    assert health.median_ms == pytest.approx(20.0) and health.rate_hz == pytest.approx(50.0)
    notes = signals[("notes", "note")]
    assert isinstance(notes, Markers) and notes.texts[0].endswith("then groomed")   # full text
    spans = signals[("timestamps", "start_s")]
    assert isinstance(spans, Spans)
    assert [(tr.label, len(tr.starts)) for tr in spans.tracks] == [("cam", 2), ("enc", 1)]
    assert streams.window == (0.0, 9.0) and streams.tables == ["session_config"]


def test_lanes_group_signals_by_source_and_unit():
    lanes = plan(extract(make_row(), ("S", "ses-01", "task-x")))
    signal_lanes = [(lane.kind, lane.title(), lane.y_label) for lane in lanes if lane.signal]
    assert signal_lanes == [
        ("markers", "notes (2, hover to read)", ""),
        ("spans", "timestamps · recording", ""),
        ("curve", "treadmill", "speed (mm/s)"),
        ("curve", "treadmill", "distance (mm)"),
        ("rois", "suite2p · cell ΔF/F, 3 ROIs, colour 1 to 2 ΔF/F", "cell ΔF/F"),
        ("rois", "mesomap · region ΔF/F, 2 ROIs, colour -1 to 1 ΔF/F", "region ΔF/F"),
        ("frames", ("meso_metadata · frame interval: 496 frames, 50.0 Hz, 4 dropped frames "
                    "(2 gaps > 1.5× median interval)"), "ms"),
    ]
    extras = [lane for lane in lanes if not lane.signal]
    assert all(len(lane.items) == 1 for lane in extras)      # an extra gets its own lane


def test_the_time_axis_names_the_clocks_drawn():
    assert time_axis_label({"master"}) == MASTER_LABEL == "time on the master clock (s)"
    assert time_axis_label({"encoder_clock"}) == "time (s) on the encoder clock"
    both = time_axis_label({"master", "session_timestamps"})
    assert "master clock" in both and "session timestamps" in both and both != MASTER_LABEL
    assert "unstated" in time_axis_label({None})
    lanes = plan(extract(make_row(basis="encoder_clock"), ("S", "ses-01", "task-x")))
    treadmill = [lane for lane in lanes if lane.source == "treadmill" and lane.signal]
    assert all(lane.title().endswith("encoder clock, not the master clock") for lane in treadmill)
    assert not any("not the master clock" in lane.title() for lane in lanes if lane.source != "treadmill")


def test_a_plugin_without_signals_gets_the_bookkeeping_rule():
    @datakit.register_source
    class LickSource(datakit.DataSource):
        tag = "licks_fallback_test"
        patterns = ("*_licks.csv",)
        description = "licks"

    try:
        t = np.linspace(0, 5, 50)
        row = pd.Series({
            (LickSource.tag, "lick_rate"): np.abs(np.sin(t)), (LickSource.tag, "FrameNumber"): np.arange(50.0),
            (LickSource.tag, "sync"): np.arange(50) * 3, (LickSource.tag, "device_ts"): t * 1e6,
            (LickSource.tag, "queue_elapsed"): t + 976929.4, (LickSource.tag, "lick_count"): np.repeat(
                np.arange(10), 5), (LickSource.tag, "time_elapsed_s"): t,
            (LickSource.tag, "meta"): {"kind": "timeseries", "time_basis": "master"},
        }, dtype=object)
        streams = extract(row, ("S", "ses-01", "task-x"))
        assert {i.feature for i in streams.signals} == {"lick_rate", "lick_count"}
        assert {i.feature for i in streams.extras} == {"FrameNumber", "sync", "device_ts", "queue_elapsed"}
        LickSource.signals = ()                      # declares nothing worth drawing
        assert extract(row, ("S", "ses-01", "task-x")).signals == []
    finally:
        datakit.unregister_source(LickSource.tag)


def test_curves_break_at_holes_and_images_leave_them_empty():
    t = np.concatenate([np.arange(0, 10, 0.1), np.arange(200, 210, 0.1)])
    row = pd.Series({("wheel", "speed_mm"): np.ones(len(t)), ("wheel", "time_elapsed_s"): t,
                     ("wheel", "meta"): {"kind": "timeseries", "time_basis": "master"}}, dtype=object)
    curve = extract(row, ("S", "s", "t")).item(("wheel", "speed_mm"))
    x, y = curve.drawn()
    assert curve.breaks.tolist() == [99] and np.isnan(y[100]) and 10 < x[100] < 200
    assert value_at(curve, 100.0) == 1.0 and value_at(curve, -1) is None
    image, (x0, x1) = roi_image(np.ones((2, len(t))), t)
    cols = np.linspace(x0, x1, image.shape[1])
    assert np.isnan(image[0, (cols > 20) & (cols < 190)]).all() and not np.isnan(image[0, cols < 9]).any()
    frame = visible_frame([curve], 5.0, 205.0)
    assert len(frame) == ((t >= 5.0) & (t <= 205.0)).sum() and frame["value"].notna().all()


def test_trial_spans_are_labelled_by_their_condition():
    n = 8
    row = pd.Series({
        ("psychopy", "ori"): np.tile([0.0, 45.0, 90.0, 135.0], 2), ("psychopy", "sf"): np.full(n, 0.04),
        ("psychopy", "trials.thisIndex"): np.tile(np.arange(4.0), 2),
        ("psychopy", "stop_source"): np.array(["a", "b"] * 4, dtype=object),
        ("psychopy", "movie_file"): np.nan,
        ("psychopy", "start_s"): np.arange(n) * 2.0, ("psychopy", "stop_s"): np.arange(n) * 2.0 + 1,
        ("psychopy", "meta"): {"kind": "intervals", "time_basis": "master"},
    }, dtype=object)
    spans = extract(row, ("S", "s", "t")).item(("psychopy", "start_s"))
    assert [tr.label for tr in spans.tracks] == ["ori 0", "ori 45", "ori 90", "ori 135"]
    movies = row.copy()
    movies[("psychopy", "movie_file")] = np.array(["stimuli/natural_movie_01.mp4"] * 4 + ["c:\\m\\b.mp4"] * 4,
                                                  dtype=object)
    movies[("psychopy", "ori")] = np.nan
    spans = extract(movies, ("S", "s", "t")).item(("psychopy", "start_s"))
    assert [tr.label for tr in spans.tracks] == ["natural_movie_01", "b"]


# on the widget ------------------------------------------------------------------------

@pytest.fixture
def stream_plot(qtbot):
    from datakit_gui.state import AppState
    from datakit_gui.widgets.stream_plot import StreamPlot

    plot = StreamPlot(AppState(), jobs=None)
    qtbot.addWidget(plot)
    plot.resize(900, 1000)
    plot.show()
    return plot


def time_axis(plot) -> str:
    return plot.plots[-1].getAxis("bottom").labelText


def test_the_axis_text_changes_when_a_lane_is_off_the_master_clock(stream_plot, qtbot):
    plot = stream_plot
    plot.set_streams(extract(make_row("master"), ("S", "ses-01", "task-x")))
    assert time_axis(plot) == MASTER_LABEL
    plot.set_streams(extract(make_row("encoder_clock"), ("S", "ses-01", "task-x")))
    assert "encoder clock" in time_axis(plot) and time_axis(plot) != MASTER_LABEL
    titles = [title for title, _ in plot.lanes() if title.startswith("treadmill")]
    assert len(titles) == 2 and all("encoder clock, not the master clock" in t for t in titles)
    plot.features.set_checked([k for k in plot.features.checked() if k[0] != "treadmill"])
    assert time_axis(plot) == MASTER_LABEL                 # only master-clock streams drawn again
    # a long title is elided, never widening its lane past the view (full text on hover)
    plot.resize(500, 1000)
    qtbot.waitUntil(lambda: plot.graphics.ci.geometry().width() <= plot.graphics.width())
    health = plot.plots[-1].titleLabel
    assert health.toolTip() == plot.lanes()[-1][0] and "…" in health.text


def test_the_lab_recording_shows_speed_not_the_encoder_clock(stream_plot, sample_experiment1):
    ds = datakit.Dataset.from_directory(sample_experiment1)
    row = ds.materialize(workers=1, strict=False).iloc[0]
    plot = stream_plot
    plot.set_streams(extract(row, ("STREHAB07", "ses-05", "task-widefield")))
    shown = set(plot.shown_features())
    assert {("treadmill", "speed_mm"), ("treadmill", "distance_mm"), ("meso_mean", "Mean")} <= shown
    assert ("treadmill", "timestamp") not in shown and ("treadmill", "timestamp") in set(plot.features.keys())
    assert "time on the master clock" not in time_axis(plot)
    assert "encoder clock" in time_axis(plot) and "session timestamps" in time_axis(plot)
    lanes = dict(plot.lanes())
    assert lanes["treadmill — encoder clock, not the master clock"] in ("speed (mm/s)", "distance (mm)")


def test_the_plot_ticks_a_plugins_fallback_signals(stream_plot):
    @datakit.register_source
    class PluginSource(datakit.DataSource):
        tag = "plugin_fallback_plot_test"
        patterns = ("*_plugin.csv",)

    try:
        t = np.linspace(0, 5, 50)
        tag = PluginSource.tag
        row = pd.Series({(tag, "pressure"): np.cos(t), (tag, "image_number"): np.arange(50.0),
                         (tag, "time_elapsed_s"): t, (tag, "meta"): {"kind": "timeseries",
                                                                      "time_basis": "master"}},
                        dtype=object)
        stream_plot.set_streams(extract(row, ("S", "ses-01", "task-x")))
        assert stream_plot.features.checked() == [(tag, "pressure")]
        assert stream_plot.shown_features() == [(tag, "pressure")]
        assert stream_plot.lanes() == [(tag, "pressure")]
    finally:
        datakit.unregister_source(PluginSource.tag)
