"""Opening another experiment, or scanning the same one again, never shows stale results."""
from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd


def open_root(window, qtbot, root) -> None:
    with qtbot.waitSignal(window.state.dataset_changed, timeout=30000):
        assert window.open_roots([root])


def validate(window, qtbot) -> pd.DataFrame:
    with qtbot.waitSignal(window.state.report_changed, timeout=60000):
        window.actions["validate"].trigger()
    return window.state.report


def load_cell(window, qtbot, key) -> None:
    with qtbot.waitSignal(window.state.cell_loaded, timeout=30000):
        window.state.select_cell(key)


def under(paths, root) -> bool:
    return all(str(p).startswith(str(root)) for p in paths if isinstance(p, str))


def test_another_experiment_with_the_same_cell_names_starts_clean(make_window, qtbot, demo_root,
                                                                  tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    shutil.copytree(demo_root, first)
    shutil.copytree(demo_root, second)
    # the second experiment lacks one file the first has, in a cell both name alike
    gone = next((second / "data").rglob("*_notes.txt"))
    gone.unlink()
    window = make_window()
    open_root(window, qtbot, first)
    assert under(validate(window, qtbot)["path"], first)
    notes = window.state.dataset.inventory["notes"].dropna()
    key = notes.index[[Path(p).name == gone.name for p in notes]][0]
    load_cell(window, qtbot, key)
    assert window.plot.shown_features()

    open_root(window, qtbot, second)
    assert window.state.report.empty                         # nothing validated here yet
    assert sum(window.report.model.status_counts().values()) == 0
    assert window.state.cell_key is None and window.state.cell_frame is None
    assert window.plot.shown_features() == []                # not the first experiment's cell
    report = validate(window, qtbot)
    assert under(report["path"], second)
    row = report[(report[["Subject", "Session", "Task"]].apply(tuple, axis=1) == tuple(key))
                 & (report["Source"] == "notes")]
    assert row["status"].tolist() in ([], ["missing"])       # never the first one's "ok"


def test_a_rescan_keeps_the_results_of_unchanged_files_only(make_window, qtbot, demo_root, tmp_path):
    root = tmp_path / "exp"
    shutil.copytree(demo_root, root)
    window = make_window()
    open_root(window, qtbot, root)
    before = validate(window, qtbot).copy()
    inventory = window.state.dataset.inventory
    changed_key, unchanged_key = inventory.index[0], inventory.index[-1]
    load_cell(window, qtbot, unchanged_key)
    notes = Path(inventory.loc[changed_key, "notes"])
    notes.rename(notes.with_name(notes.name.replace("_notes", "-old_notes")))   # gone as notes

    with qtbot.waitSignal(window.state.dataset_changed, timeout=30000):
        window.actions["refresh"].trigger()
    after = window.state.report
    dropped = before[~before["path"].isin(after["path"]) & before["path"].notna()]
    assert dropped["path"].tolist() == [str(notes)]          # only the vanished file's row went
    assert len(after) == len(before) - 1
    assert window.state.cell_key == tuple(map(str, unchanged_key))   # its files did not change
    assert window.plot.shown_features()


def test_saving_a_frame_from_the_experiment_opened_before_says_so(make_window, qtbot, demo_root,
                                                                  tmp_path, dialog_log):
    first, second = tmp_path / "first", tmp_path / "second"
    shutil.copytree(demo_root, first)
    shutil.copytree(demo_root, second)
    window = make_window()
    open_root(window, qtbot, first)
    window.filters.boxes["subject"].model.set_checked(window.state.dataset.subjects[:1])
    with qtbot.waitSignal(window.state.frame_changed, timeout=120000):
        window.actions["materialize"].trigger()
    window.actions["save"].trigger()                        # same experiment: the plain dialog
    (start, title), = [args for name, args in dialog_log["calls"] if name == "ask_save_frame_path"]
    assert start.startswith(str(first)) and title is None
    open_root(window, qtbot, second)
    assert window.state.frame is not None                   # the materialized frame is kept
    window.actions["save"].trigger()
    start, title = [args for name, args in dialog_log["calls"] if name == "ask_save_frame_path"][-1]
    assert start.startswith(str(first))                     # beside where it came from
    assert str(first) in title and "not the experiment open now" in title
