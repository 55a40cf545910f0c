"""Every item model of the app passes pytest-qt's qtmodeltester, with real content."""
from __future__ import annotations

from PySide6.QtCore import Qt

from datakit_gui.models import CheckListModel, ExperimentTreeModel, ReportTableModel
from datakit_gui.models.report_model import KEY_ROLE


def test_tree_model(window, qtmodeltester):
    model = window.tree.model
    assert model.rowCount() > 0
    qtmodeltester.check(model)
    qtmodeltester.check(window.tree.proxy)
    window.tree.search.setText("ses-02")
    qtmodeltester.check(window.tree.proxy)


def test_tree_model_through_filter_and_dataset_changes(window, qtbot, qtmodeltester, demo_dataset):
    """The tester stays connected and checks every signal of the changes that follow."""
    model = window.tree.model
    qtmodeltester.check(model, force_py=True)
    window.state.set_axis_mode("subject", "exclude")
    box = window.filters.boxes["subject"]
    box.model.setData(box.model.index(0), Qt.CheckState.Checked, Qt.ItemDataRole.CheckStateRole)
    with qtbot.waitSignal(window.state.report_changed, timeout=60000):
        window.actions["validate"].trigger()
    with qtbot.waitSignal(window.state.dataset_changed, timeout=30000):
        window.actions["refresh"].trigger()
    window.state.clear()
    assert model.rowCount() == 0


def test_empty_models(qtmodeltester):
    qtmodeltester.check(ExperimentTreeModel(), force_py=True)


def test_empty_report_model(qtmodeltester):
    qtmodeltester.check(ReportTableModel(), force_py=True)


def test_report_model(window, qtbot, qtmodeltester):
    with qtbot.waitSignal(window.state.report_changed, timeout=60000):
        window.actions["validate"].trigger()
    model = window.report.model
    assert model.rowCount() > 0
    qtmodeltester.check(model)
    model.sort(1, Qt.SortOrder.DescendingOrder)
    model.set_filter("error", None)
    assert model.rowCount() >= 1


def test_report_model_signals_while_sorting_and_filtering(window, qtbot, qtmodeltester):
    model = window.report.model
    qtmodeltester.check(model, force_py=True)
    with qtbot.waitSignal(window.state.report_changed, timeout=60000):
        window.actions["validate"].trigger()
    model.sort(2, Qt.SortOrder.DescendingOrder)
    model.set_filter("ses-01", ["ok", "missing"])
    assert 0 < model.rowCount() < model.total()
    total = model.total()
    key = model.index(0, 0).data(KEY_ROLE)
    with qtbot.waitSignal(window.state.cell_loaded, timeout=30000):   # merges its rows in place
        window.state.select_cell(key)
    assert window.state.report_update is not None
    assert model.total() == total and model.rowCount() > 0


def test_check_list_models(window, qtbot, qtmodeltester, demo_dataset):
    for box in window.filters.boxes.values():
        assert box.model.rowCount() > 0
        qtmodeltester.check(box.model)
    with qtbot.waitSignal(window.state.cell_loaded, timeout=30000):
        window.state.select_cell(tuple(demo_dataset.inventory.index[0]))
    assert window.plot.features.rowCount() > 0
    qtmodeltester.check(window.plot.features)
    model = CheckListModel()
    model.set_items(["a", "b"], ["b"], ["A (1)", "B (2)"], colors=[(1, 2, 3), (4, 5, 6)])
    qtmodeltester.check(model, force_py=True)
    assert model.checked() == ["b"]
    with qtbot.waitSignal(model.checks_changed):
        model.setData(model.index(0), Qt.CheckState.Checked.value, Qt.ItemDataRole.CheckStateRole)
    assert model.checked() == ["a", "b"]
