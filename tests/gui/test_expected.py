"""The coverage view tells missing (expected) from not expected, and edits what is expected."""
from __future__ import annotations

import shutil
import warnings

import numpy as np
import pytest

import datakit
from datakit.protocol import ExpectationWarning
from datakit_gui import coverage as cov
from datakit_gui.models.tree_model import COUNTS_ROLE
from datakit_gui.widgets.coverage_heatmap import LEGEND_ORDER


def open_copy(make_window, qtbot, demo_root, tmp_path, prepare=None):
    root = tmp_path / "exp"
    shutil.copytree(demo_root, root)
    if prepare is not None:
        prepare(root)
    window = make_window()
    with qtbot.waitSignal(window.state.dataset_changed, timeout=30000):
        window.open_roots([root])
    return window, root


def codes_of(window, source: str, task: str) -> np.ndarray:
    coverage = window.heatmap.coverage
    rows = [i for i, k in enumerate(coverage.keys) if k[2] == task]
    return coverage.codes[rows, coverage.sources.index(source)]


def test_every_state_told_apart_with_counts_in_an_unclipped_legend(window, qtbot, demo_dataset,
                                                                   demo_experiment):
    heatmap = window.heatmap
    coverage = heatmap.coverage
    # before validation: present, missing (expected) and the quiet not expected
    assert set(np.unique(coverage.codes)) == {cov.PRESENT, cov.MISSING, cov.NOT_EXPECTED}
    assert int((coverage.codes == cov.MISSING).sum()) == len(demo_dataset.missing())
    with qtbot.waitSignal(window.state.report_changed, timeout=60000):
        window.actions["validate"].trigger()
    window.filters.boxes["subject"].model.set_checked([demo_experiment.broken[0].subject])
    codes = window.heatmap.coverage.codes
    assert {cov.OK, cov.MISSING, cov.NOT_EXPECTED, cov.ERROR, cov.EXCLUDED} <= set(np.unique(codes))
    colours = {cov.COLORS[c] for c in cov.CODES}
    assert len(colours) == len(cov.CODES)                        # one colour per state
    lut = cov.lookup_table()
    assert (lut[cov.NOT_EXPECTED] > lut[cov.EXCLUDED]).all()     # not expected is the quietest
    for code in LEGEND_ORDER:
        label = heatmap.legend_labels[code]
        assert label.text() == f"{cov.LABELS[code]} ({int((codes == code).sum())})"
        assert label.width() >= label.fontMetrics().horizontalAdvance(label.text())


def test_loading_a_cell_keeps_the_report_counts(window, qtbot, demo_dataset):
    with qtbot.waitSignal(window.state.report_changed, timeout=60000):
        window.actions["validate"].trigger()
    before = window.report.model.status_counts()
    assert before["missing"] == len(demo_dataset.missing())
    key = tuple(demo_dataset.inventory.index[-1])
    with qtbot.waitSignal(window.state.cell_loaded, timeout=30000):
        window.state.select_cell(key)
    assert window.report.model.status_counts() == before      # its rows replaced, same meaning


def test_unrecorded_cells_have_rows_and_the_tree_counts_expected_only(window, demo_experiment,
                                                                      demo_dataset):
    coverage = window.heatmap.coverage
    for key in demo_experiment.missing_cells:
        row = coverage.row_of(key)
        assert row >= 0 and not coverage.recorded[row]
        assert "(not recorded)" in window.heatmap.cell_axis.cell_text(row)
        node = window.tree.model.index_for_key(key)
        assert node.isValid() and node.data(COUNTS_ROLE)["recorded"] == 0
        assert node.data(COUNTS_ROLE)["missing"] > 0
    model = window.tree.model
    total_missing = sum(model.index(r, 0).data(COUNTS_ROLE)["missing"] for r in range(model.rowCount()))
    assert total_missing == len(demo_dataset.missing())
    # absent but not expected never counts as missing
    assert total_missing < int((~demo_dataset.coverage().eq("present")).to_numpy().sum())


def test_a_never_recorded_cell_says_so_where_its_plot_would_be(window, qtbot, demo_experiment,
                                                               demo_dataset):
    plot = window.plot
    recorded = tuple(demo_dataset.inventory.index[0])
    with qtbot.waitSignal(window.state.cell_loaded, timeout=30000):
        window.state.select_cell(recorded)
    assert plot.shown_features()
    key = tuple(demo_experiment.missing_cells[0])
    with qtbot.waitSignal(window.state.cell_loaded, timeout=30000):
        window.state.select_cell(key)
    assert plot.shown_features() == []                      # the earlier cell is gone
    assert plot.view_stack.currentWidget() is plot.message
    text = plot.message.text()
    missing = demo_dataset.missing()
    n = int((missing[["Subject", "Session", "Task"]].apply(tuple, axis=1) == key).sum())
    assert "was never recorded" in text and f"its {n} sources as missing" in text
    assert "datakit.toml" in text                            # the rule that expects it


def test_hover_says_why_a_missing_file_is_expected(window, demo_dataset):
    heatmap = window.heatmap
    coverage = heatmap.coverage
    missing = demo_dataset.missing()
    for _, rec in missing.iterrows():
        row = coverage.row_of((rec["Subject"], rec["Session"], rec["Task"]))
        text = heatmap.describe(row, coverage.sources.index(rec["Source"]))
        assert "\nexpected: " in text
        if rec["reason"] == "manifest":
            assert rec["detail"] in text and "manifest.json" in text
        elif rec["detail"] == "task not recorded":
            assert "never recorded" in text
        else:
            assert rec["detail"] in text


def test_source_absent_everywhere_has_a_column(make_window, qtbot, demo_root, tmp_path):
    def drop_dataqueues(root):
        for path in root.rglob("*_dataqueue.csv"):
            path.unlink()

    window, _ = open_copy(make_window, qtbot, demo_root, tmp_path, drop_dataqueues)
    coverage = window.heatmap.coverage
    assert "dataqueue" in coverage.sources
    column = coverage.codes[:, coverage.sources.index("dataqueue")]
    assert (column[coverage.recorded] == cov.MISSING).all()


def test_right_click_declares_and_save_writes_the_protocol(make_window, qtbot, demo_root, tmp_path,
                                                         dialog_log, monkeypatch):
    window, root = open_copy(make_window, qtbot, demo_root, tmp_path)
    heatmap = window.heatmap
    assert (codes_of(window, "psychopy", "task-widefield") == cov.NOT_EXPECTED).all()

    def no_rescan(*args, **kwargs):
        raise AssertionError("a protocol edit must not rescan the folder")

    monkeypatch.setattr(datakit.Dataset, "from_directory", no_rescan)
    row = next(i for i, k in enumerate(heatmap.coverage.keys) if k[2] == "task-widefield")
    menu = heatmap.expectation_menu(heatmap.coverage.sources.index("psychopy"), row=row)
    actions = {a.text(): a for a in menu.actions()}
    assert actions["Not expected in task-widefield"].isChecked()
    with qtbot.waitSignal(window.state.coverage_changed):
        actions["Expected in task-widefield"].trigger()
    assert (codes_of(window, "psychopy", "task-widefield") == cov.MISSING).all()
    # the rest of the task is still expected as before (the declaration started from it)
    assert (codes_of(window, "dataqueue", "task-widefield") != cov.NOT_EXPECTED).all()
    assert "protocol not saved" in window.windowTitle()
    monkeypatch.undo()

    with qtbot.waitSignal(window.state.protocol_changed, timeout=10000):
        window.actions["saveProtocol"].trigger()
    assert not window.state.protocol_unsaved and "not saved" not in window.windowTitle()
    # the file it was read from holds only what datakit writes: replaced without asking
    assert not [c for c in dialog_log["calls"] if c[0] == "confirm_replace"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", datakit.protocol.ExpectationWarning)
        warnings.simplefilter("ignore", datakit.ConflictWarning)
        reopened = datakit.Dataset.from_directory(root)
    assert "psychopy" in reopened.protocol.expected["task-widefield"]
    assert "dataqueue" in reopened.protocol.expected["task-widefield"]
    # nothing was written but the protocol
    assert not [p for p in root.iterdir() if p.name.startswith(".")]


def test_saving_over_a_commented_protocol_asks_first(make_window, qtbot, demo_root, tmp_path,
                                                     dialog_log):
    def comment(root):
        path = root / "datakit.toml"
        path.write_text("# our lab's protocol, agreed 2025-06\n" + path.read_text())

    window, root = open_copy(make_window, qtbot, demo_root, tmp_path, comment)
    window.commands.set_expected("task-movies", "suite2p", True)
    dialog_log["answers"]["confirm_replace"] = False
    assert not window.commands.save_protocol()
    assert "agreed 2025-06" in (root / "datakit.toml").read_text()     # untouched
    assert window.state.protocol_unsaved


def test_read_only_root_offers_another_place(make_window, qtbot, demo_root, tmp_path, dialog_log):
    def block(root):                    # a folder where the file goes: the write must fail
        (root / "datakit.toml").unlink()
        (root / "datakit.toml").mkdir()

    with pytest.warns(ExpectationWarning, match="cannot be read"):
        window, root = open_copy(make_window, qtbot, demo_root, tmp_path, block)
    other = tmp_path / "elsewhere.toml"
    dialog_log["answers"]["ask_protocol_path"] = str(other)
    window.commands.set_expected("task-movies", "suite2p", True)
    with qtbot.waitSignal(window.state.protocol_changed, timeout=10000):
        window.actions["saveProtocol"].trigger()
    asked = [c for c in dialog_log["calls"] if c[0] == "ask_protocol_path"]
    assert len(asked) == 1 and "cannot be written" in asked[0][1][0]
    assert other.is_file() and "suite2p" in other.read_text()
    assert (root / "datakit.toml").is_dir()           # nothing touched in the experiment


def test_unsaved_edits_are_not_dropped_silently(make_window, qtbot, demo_root, tmp_path, dialog_log):
    window, _ = open_copy(make_window, qtbot, demo_root, tmp_path)
    window.commands.set_expected("task-movies", "suite2p", True)
    dialog_log["answers"]["ask_unsaved_protocol"] = "cancel"
    window.actions["refresh"].trigger()
    assert [c for c in dialog_log["calls"] if c[0] == "ask_unsaved_protocol"]
    assert window.state.protocol_unsaved                  # cancel: still there, nothing rescanned
    window.close()
    assert window.isVisible()                             # cancel keeps the window open too
    dialog_log["answers"]["ask_unsaved_protocol"] = "discard"


def test_filter_cells_with_something_missing(window, demo_dataset):
    panel = window.filters
    panel.incomplete.setChecked(True)
    expected = demo_dataset.incomplete()
    assert window.state.filtered.coverage().index.equals(expected.coverage().index)
    text = panel.expression.toPlainText()
    assert text == "ds.incomplete()"
    assert eval(text, {"ds": demo_dataset}).coverage().index.equals(expected.coverage().index)
    coverage = window.heatmap.coverage
    included = coverage.row_counts["included_cells"].to_numpy().astype(bool)
    assert (coverage.row_counts["missing"].to_numpy()[included] > 0).all()
    assert included.sum() == len(expected.coverage()) < coverage.n_cells
    window.filters.reset_button.click()
    assert not panel.incomplete.isChecked()


@pytest.mark.parametrize("layout", ["empty", "not an experiment"])
def test_empty_folder_shows_what_the_app_looks_for(make_window, qtbot, tmp_path, layout):
    folder = tmp_path / "folder"
    (folder / ("data" if layout == "empty" else "photos")).mkdir(parents=True)
    (folder / "notes.txt").write_text("hello")
    window = make_window()
    with pytest.warns(UserWarning, match="no recordings found"), \
            qtbot.waitSignal(window.state.dataset_changed, timeout=30000):
        window.open_roots([folder])
    heatmap = window.heatmap
    assert heatmap.pages.currentWidget() is heatmap.empty
    text = heatmap.empty.text()
    assert "No recordings found" in text and "data/" in text and str(folder) in text


def test_rough_edges_report_filters_and_a_file_instead_of_a_folder(window, qtbot, demo_dataset,
                                                                   demo_experiment, dialog_log,
                                                                   tmp_path):
    with qtbot.waitSignal(window.state.report_changed, timeout=60000):
        window.actions["validate"].trigger()
    model = window.report.model
    broken = demo_experiment.broken[0]
    rows = [model.row_info(r) for r in range(model.rowCount())]
    error = next(r for r in rows if r["Status"] == "error")
    assert error["Path"] == str(broken.path)
    # the Path column shows the file: the message starts with the reason, not the path again
    assert error["Message"].startswith("ValueError: ") and str(broken.path) not in error["Message"]
    # the per-source counts of the filter panel follow the other filters
    box = window.filters.boxes["source"]
    before = box.model.data(box.model.index(0))
    window.filters.boxes["subject"].model.set_checked(demo_dataset.subjects[:1])
    after = box.model.data(box.model.index(0))
    assert before != after and after.endswith(f"/{len(window.state.selected_states)})")
    # a file where a folder is expected: the message says to open the folder
    afile = tmp_path / "notes.txt"
    afile.write_text("x")
    window.open_roots([afile])
    qtbot.waitUntil(lambda: bool(dialog_log["errors"]()), timeout=30000)
    (_, args), = dialog_log["errors"]()
    assert "not a file" in args[1] and "Open Saved Dataset" in args[1]
