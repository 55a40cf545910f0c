"""Saved datasets in the app: a large .h5 opens without loading, any cell plots from the
file (read in a worker thread), the selection saves cell by cell with progress."""
from __future__ import annotations

import threading

import pytest

import datakit
from datakit.testing import assert_frames_equal
from datakit_gui import commands
from datakit_gui import coverage as cov
from datakit_gui.jobs import OK


@pytest.fixture(scope="module")
def saved_h5(demo_dataset, tmp_path_factory):
    """The demo experiment saved (its broken file left empty)."""
    path = tmp_path_factory.mktemp("saved-gui") / "demo.h5"
    demo_dataset.save(path, strict=False, workers=1)
    return path


@pytest.fixture
def reads(monkeypatch):
    """The threads SavedDataset.cell ran in."""
    threads = []
    real = datakit.hdf5.SavedDataset.cell

    def cell(self, key):
        threads.append(threading.current_thread())
        return real(self, key)

    monkeypatch.setattr(datakit.hdf5.SavedDataset, "cell", cell)
    return threads


def open_saved(window, qtbot, path):
    with qtbot.waitSignal(window.state.saved_changed, timeout=60000):
        assert window.commands.open_saved(str(path))


def select(window, qtbot, key):
    with qtbot.waitSignal(window.state.cell_loaded, timeout=60000):
        window.state.select_cell(key)


def test_a_large_saved_file_opens_without_loading_and_plots_any_cell(
        make_window, qtbot, saved_h5, reads, monkeypatch, dialog_log):
    monkeypatch.setattr(commands, "EAGER_BYTES", 0)            # every file counts as large
    monkeypatch.setattr(datakit.Dataset, "materialize",
                        lambda *a, **k: pytest.fail("a saved cell was loaded from the experiment"))
    window = make_window()
    pushed = {}
    monkeypatch.setattr(window.console_dock, "push", pushed.update)
    open_saved(window, qtbot, saved_h5)
    state, saved = window.state, window.state.saved
    assert state.frame is None and pushed["df"] is None and pushed["saved"] is saved
    assert state.saved_view and window.centre.currentWidget() is window.heatmap
    assert window.windowTitle() == "datakit — demo.h5 (saved dataset)"
    coverage = window.heatmap.coverage
    assert list(coverage.index) == [tuple(k) for k in saved.index]   # the file's cells
    presence = saved.presence()
    present = coverage.codes == cov.PRESENT
    for j, source in enumerate(coverage.sources):
        assert (present[:, j] == presence[source].to_numpy()).all(), source
    for action in ("validate", "materialize", "refresh", "saveSelection", "save"):
        assert not window.actions[action].isEnabled(), action
    assert "saved dataset" in window.report.counts.text()
    whole = datakit.load_dataset(saved_h5)
    for key in (whole.index[0], whole.index[-1]):
        select(window, qtbot, tuple(key))
        assert_frames_equal(whole.loc[[key]], state.cell_frame)
        assert state.cell_streams is not None and state.cell_streams.signals
        qtbot.waitUntil(lambda: bool(window.plot.curve_items()))          # drawn
    assert reads and all(t is not threading.main_thread() for t in reads)
    assert not dialog_log["errors"]()


def test_a_small_saved_file_is_also_df(make_window, qtbot, saved_h5, dialog_log):
    window = make_window()
    open_saved(window, qtbot, saved_h5)
    assert_frames_equal(datakit.load_dataset(saved_h5), window.state.frame)
    assert window.actions["save"].isEnabled()                  # df can be saved elsewhere
    assert "df and saved" in window.statusBar().currentMessage()


def test_with_the_experiment_open_its_heatmap_stays_and_saved_cells_plot_from_the_file(
        window, qtbot, saved_h5, reads, demo_dataset, monkeypatch, dialog_log):
    before = window.heatmap.coverage.index
    open_saved(window, qtbot, saved_h5)
    assert not window.state.saved_view and window.state.dataset is not None
    assert window.heatmap.coverage.index.equals(before)
    assert window.actions["validate"].isEnabled()
    monkeypatch.setattr(datakit.Dataset, "materialize",
                        lambda *a, **k: pytest.fail("a saved cell was loaded from the experiment"))
    key = tuple(demo_dataset.inventory.index[2])
    select(window, qtbot, key)
    assert reads and window.state.cell_frame is not None


def test_an_earlier_pandas_h5_is_refused_with_what_to_do(make_window, qtbot, tmp_path, dialog_log):
    import warnings

    import numpy as np
    import pandas as pd

    path = tmp_path / "earlier.h5"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
        pd.DataFrame({"a": [np.arange(3), "x"]}, dtype=object).to_hdf(path, key="dataset")
    window = make_window()
    with qtbot.waitSignal(window.jobs.finished, timeout=30000) as done:
        window.commands.open_saved(str(path))
    assert done.args[1] == "error"
    (_, args), = dialog_log["errors"]()
    assert "datakit convert" in args[1] and window.state.saved is None


def test_save_selection_writes_cell_by_cell_with_progress(window, qtbot, tmp_path, demo_dataset,
                                                          monkeypatch, dialog_log):
    monkeypatch.setattr(datakit.engine, "features_frame",
                        lambda *a, **k: pytest.fail("the whole frame was built"))
    path = tmp_path / "selection.h5"
    dialog_log["answers"]["ask_save_frame_path"] = str(path)
    messages = []
    window.jobs.progressed.connect(lambda job, done, total, message: messages.append(
        (done, total, message)))
    with qtbot.waitSignal(window.jobs.finished, timeout=60000) as done:
        window.actions["saveSelection"].trigger()
    assert done.args[1] == OK and path.is_file()
    assert window.state.frame is None                          # nothing kept in memory
    assert datakit.open_dataset(path).shape[0] == len(demo_dataset)
    assert (window.state.report["status"] == "error").sum() == 1    # the broken file, reported
    totals = {t for _, t, _ in messages if t}
    assert len(totals) == 1
    assert messages[-1][0] == messages[-1][1] and "wrote" in messages[-1][2]
    assert any("flushing" in m for *_, m in messages)
    assert not dialog_log["errors"]()


def test_saving_the_frame_reports_progress_per_column(window, qtbot, tmp_path, dialog_log):
    with qtbot.waitSignal(window.state.frame_changed, timeout=60000):
        window.actions["materialize"].trigger()
    frame = window.state.frame
    dialog_log["answers"]["ask_save_frame_path"] = str(tmp_path / "frame.h5")
    steps = []
    window.jobs.progressed.connect(lambda job, done, total, message: steps.append((done, total)))
    with qtbot.waitSignal(window.jobs.finished, timeout=60000) as done:
        window.actions["save"].trigger()
    assert done.args[1] == OK
    assert steps[-1] == (frame.shape[1], frame.shape[1])      # the bar reached the last column
