"""Fixtures of the reliability tests (the shared code is in reliability_support.py)."""
from __future__ import annotations

import pytest

from datakit.demo import write_session
from reliability_support import CELLS, DURATION, STATS, Template, discover


def pytest_terminal_summary(terminalreporter):
    outcomes, memory = STATS["outcomes"], STATS["memory"]
    if not (outcomes or STATS["discovery"] or STATS["properties"]):
        return
    tr = terminalreporter
    tr.section("datakit reliability")
    if outcomes:
        detail = ", ".join(f"{n} {k}" for k, n in sorted(outcomes.items()))
        tr.write_line(f"bad-input corpus: {sum(outcomes.values())} cases tried ({detail})")
    if STATS["discovery"]:
        tr.write_line(f"hostile discovery trees: {STATS['discovery']} cases tried")
    if STATS["properties"]:
        detail = ", ".join(f"{k}={n}" for k, n in sorted(STATS["properties"].items()))
        tr.write_line(f"property examples: {sum(STATS['properties'].values())} ({detail})")
    for name, growth, seconds in memory:
        tr.write_line(f"  million-row case {name}: peak RSS growth {growth / 2**20:.0f} MiB, "
                      f"{seconds:.1f} s")


@pytest.fixture(scope="session")
def template(tmp_path_factory) -> Template:
    root = tmp_path_factory.mktemp("template")
    paths = {}
    for subject, (task, kinds, variant) in CELLS.items():
        files = write_session(root, subject, 1, task, duration=DURATION, seed=1, kinds=kinds,
                              variant=variant)
        paths[subject] = dict(files.paths)
    ds = discover(root)
    report = ds.validate(workers=1)
    bad = report[report.status == "error"]
    assert bad.empty, f"the clean template does not load:\n{bad[['Subject', 'Source', 'message']]}"
    return Template(root, paths, report, ds.materialize(workers=1))

