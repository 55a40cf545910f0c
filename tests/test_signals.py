"""Sources declare their signals; plugins without a declaration get the bookkeeping rule."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import datakit
from datakit.sources.signals import (
    ALL_ROIS,
    declared_signals,
    is_bookkeeping,
    is_bookkeeping_name,
)


@pytest.fixture(scope="module")
def demo_frame(tmp_path_factory):
    """Every built-in source of the three demo task kinds, materialized (no broken files)."""
    from datakit.demo import generate

    root = tmp_path_factory.mktemp("signals") / "experiment"
    generate(root, subjects=1, sessions=1, duration=20.0, seed=5, missing=False, broken=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datakit.ConflictWarning)
        ds = datakit.Dataset.from_directory(root)
        return ds.materialize(workers=1)


def _has_data(value) -> bool:
    return isinstance(value, np.ndarray) and value.size > 0


def test_every_declared_signal_exists_in_the_demo_frame(demo_frame):
    """A rename that forgets to update ``signals`` fails here, naming the source."""
    builtins = [t for t in datakit.available_tags()
                if datakit.get_source_class(t).__module__.startswith("datakit.sources.")]
    assert len(builtins) == 14
    for tag in builtins:
        signals = declared_signals(datakit.get_source_class(tag))
        assert signals is not None, f"built-in source {tag!r} declares no signals"
        assert tag in demo_frame.columns.get_level_values(0), f"demo has no {tag!r}"
        part = demo_frame[tag]
        for signal in signals:
            if signal.feature == ALL_ROIS:
                rois = [f for f in part.columns if f not in ("meta", "time_elapsed_s")
                        and not is_bookkeeping_name(f)
                        and part[f].map(lambda v: _has_data(v) and v.ndim == 1
                                        and v.dtype.kind in "biuf").any()]
                assert len(rois) > 1, f"{tag}: '*' stands for no ROI columns"
                continue
            assert signal.feature in part.columns, \
                f"{tag} declares signal {signal.feature!r}, not a feature of its frame: {list(part.columns)}"
            assert part[signal.feature].map(_has_data).any(), f"{tag}.{signal.feature} holds no data"
            assert signal.feature == "time_elapsed_s" or not is_bookkeeping_name(signal.feature) \
                or datakit.get_source_class(tag).kind == "intervals", f"{tag}.{signal.feature}"


@pytest.mark.parametrize("name", [
    "image_number", "ImageNumber", "frame_number", "FrameNumber", "frame", "Slice", "cell_index",
    "trials.thisIndex", "trials.thisN", "thisRepN", "time_received", "TimeReceivedByCore",
    "time_elapsed_s", "time_reference_s", "queue_elapsed", "QueueElapsed", "elapsed_time_ms",
    "ElapsedTime-ms", "runner_time_ms", "timestamp", "Timestamp", "TIMESTAMP", "packet_ts",
    "device_ts", "device_id", "t", "frame_idx", "sample_counter",
])
def test_clocks_and_counters_are_bookkeeping_in_any_spelling(name):
    assert is_bookkeeping_name(name)
    assert is_bookkeeping(name, np.array([0.0, 0.0, 0.0]))


@pytest.mark.parametrize("name", [
    "speed_mm", "distance_mm", "pupil_diameter_mm", "dF_F", "Mean", "dff", "deltaf_f",
    "roi_fluorescence", "neuropil_fluorescence", "F", "Fneu", "spks", "temperature",
    "Temperature", "exposure_ms", "VISp_L", "SSp-bfd_R", "lick_count", "n_valid_pairs",
    "Pupil1_likelihood", "payload_value", "click_delta",
])
def test_measurements_are_signals(name):
    assert not is_bookkeeping_name(name)
    assert not is_bookkeeping(name, np.array([1.0, 0.5, 0.5, 2.0]))


def test_values_that_rise_at_every_sample_are_clocks_or_counters():
    assert is_bookkeeping("sync", np.arange(10, dtype=np.int64))
    assert is_bookkeeping("device_clock_us", np.cumsum(np.full(10, 1e3)))
    assert not is_bookkeeping("distance", np.array([0.0, 1.0, 1.0, 2.0]))   # standing still
    assert not is_bookkeeping("x", np.array([True, True, False]))
    assert not is_bookkeeping("x", np.arange(2.0))                          # too short to tell


def test_signal_declarations():
    s = datakit.Signal("speed_mm", "speed", "mm/s")
    assert (s.feature, s.label, s.unit, s.axis_label) == ("speed_mm", "speed", "mm/s", "speed (mm/s)")
    assert datakit.Signal("dF_F", "ΔF/F", "ΔF/F").axis_label == "ΔF/F"
    assert datakit.Signal("licks").label == "licks"
    with pytest.raises(TypeError):
        datakit.Signal(3)
    with pytest.raises(TypeError):
        datakit.Signal("")

    class Shorthand(datakit.DataSource):
        signals = ("licks", ("speed", "speed", "mm/s"))

    assert declared_signals(Shorthand) == (datakit.Signal("licks"), datakit.Signal("speed", "speed", "mm/s"))
    assert declared_signals(datakit.DataSource) is None        # a plugin that says nothing


def test_registering_a_source_with_bad_signals_is_a_type_error():
    class Bad(datakit.DataSource):
        tag = "bad_signals_plugin"
        patterns = ("*_bad.csv",)
        signals = (42,)

    with pytest.raises(TypeError, match="signals"):
        datakit.register_source(Bad)
    assert "bad_signals_plugin" not in datakit.available_tags()
