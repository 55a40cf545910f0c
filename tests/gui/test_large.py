"""10,000 cells x 14 sources: the overview stays truthful and readable, filters follow."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import datakit
from datakit_gui import coverage as cov
from datakit_gui.filters import AxisFilter
from datakit_gui.models.tree_model import COUNTS_ROLE
from datakit_gui.state import AppState
from datakit_gui.widgets.coverage_heatmap import CoverageHeatmap
from datakit_gui.widgets.experiment_tree import ExperimentTree


@pytest.fixture(scope="module")
def big_dataset():
    tags = sorted(datakit.available_tags())[:14]
    n = 10_000
    keys = [(f"S{i // 30:04d}", f"ses-{(i // 3) % 10 + 1:02d}", f"task-{'abc'[i % 3]}") for i in range(n)]
    present = np.ones((n, len(tags)), dtype=bool)
    present[5_000, 3] = False                      # one missing file among 140,000
    paths = np.where(present, np.array([f"/d/{t}" for t in tags], dtype=object), None)
    inventory = pd.DataFrame(paths, index=pd.MultiIndex.from_tuples(
        keys, names=["Subject", "Session", "Task"]), columns=tags, dtype=object)
    return datakit.Dataset(inventory, sources=tags)


def test_a_single_missing_file_shows_in_the_overview(qtbot, big_dataset):
    state = AppState()
    heatmap = CoverageHeatmap(state)
    tree = ExperimentTree(state)
    qtbot.addWidget(heatmap)
    qtbot.addWidget(tree)
    heatmap.resize(700, 700)
    heatmap.show()
    state.set_dataset(big_dataset)
    qtbot.waitUntil(lambda: heatmap._factor > 1)       # more rows than pixels: reduced
    image = heatmap.image.image
    assert image.shape[0] < big_dataset.inventory.shape[0]
    missing = np.array(cov.COLORS[cov.MISSING], dtype=np.uint8)
    hits = np.argwhere((image == missing).all(axis=2))
    assert len(hits) == 1 and hits[0][1] == 3           # still visible, in its column
    axis = heatmap.cell_axis
    (levels,) = axis.tickValues(0, len(big_dataset), 600)
    labels = [axis._strings[v] for v in levels[1]]
    assert 5 <= len(labels) <= 60 and all(label.startswith("S") for label in labels)
    assert not heatmap.separators.isVisible()          # 334 lines in 600 px would be noise
    heatmap.view_box.setRange(yRange=(4_990, 5_010), padding=0)
    qtbot.waitUntil(lambda: heatmap._factor == 1)
    (levels,) = axis.tickValues(4_990, 5_010, 600)
    assert len(levels[1]) == 20                        # every cell named when zoomed in
    # a filter change on 10,000 cells: tree and heatmap follow
    state.set_axis("subject", AxisFilter("exclude", big_dataset.subjects[:10]))
    totals = sum(tree.model.index(r, 0).data(COUNTS_ROLE)["included_cells"]
                 for r in range(tree.model.rowCount()))
    assert totals == len(big_dataset) - 300
    assert (heatmap.coverage.codes[:300] == cov.EXCLUDED).all()
