"""Every case of the bad-input corpus through the real pipeline.

Discovery, ``validate(workers=1)`` and ``materialize(strict=False, workers=1)`` must
never raise for a file; the spoiled source must load correctly, fail with its specific
message naming the file, or be skipped by discovery with the reason recorded; every
other source of the copied cells keeps loading as in the clean session; every stream
that loads keeps the stream contract; ``materialize(strict=True)`` raises a LoadError
with the full context; the million-row cases stay within a memory bound.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

import datakit
from reliability_support import STATS, Outcome, PeakRSS, copy_cells, discover
from corpus import ERROR, LOADS, SKIP, all_cases
from datakit.sources.base import TABLE, TIMESERIES
from datakit.sources.registry import registered_sources

CASES = all_cases()
MEMORY_BOUND = int(1.5 * 2**30)
#: Features that are not one value per sample (documented exceptions to the 1-D rule).
NOT_PER_SAMPLE = {
    "mesomap": {"mask", "regions"},
    "suite2p": {"roi_fluorescence", "neuropil_fluorescence", "F_corrected", "deltaf_f", "spks",
                "cell_index", "iscell_prob", "med_y", "med_x", "npix", "cell_identifier",
                "cell_mask", "stat", "ops", "plane_directory"},
}


@pytest.fixture(scope="session")
def big_roots(tmp_path_factory, template):
    """Million-row cases: each built once per test session."""
    built = {}

    def get(case):
        if case.id not in built:
            root = tmp_path_factory.mktemp(case.id)
            paths = copy_cells(template, root, case.copied)
            built[case.id] = (root, paths)
        return built[case.id]
    return get


def check_contract(report, frame):
    """Every stream that loaded keeps its kind's contract in the materialized frame."""
    kinds = {tag: cls.kind for tag, cls in registered_sources().items()}
    ok = report[report.status == "ok"]
    for _, row in ok.iterrows():
        key = (row.Subject, row.Session, row.Task)
        feats = {f: frame.loc[key, (row.Source, f)]
                 for s, f in frame.columns if s == row.Source}
        kind = kinds[row.Source]
        assert isinstance(feats.get("meta"), dict), (row.Source, "meta")
        if kind == TABLE:
            continue
        t = feats["time_elapsed_s"]
        assert isinstance(t, np.ndarray) and t.ndim == 1 and np.isfinite(t).all(), row.Source
        steps = np.diff(t)
        assert (steps > 0).all() if kind == TIMESERIES else (steps >= 0).all(), \
            f"{row.Source}: time not increasing"
        for name, value in feats.items():
            if name == "meta" or name in NOT_PER_SAMPLE.get(row.Source, ()):
                continue
            assert isinstance(value, np.ndarray) and value.shape == t.shape, \
                (row.Source, name, type(value), np.shape(value), t.shape)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case, template, tmp_path, big_roots):
    STATS["outcomes"][case.expect] += 1
    if case.big:
        root, paths = big_roots(case)
    else:
        root, paths = tmp_path, copy_cells(template, tmp_path, case.copied)
    from corpus import Env

    with PeakRSS() as mem:
        bad = case.mutate(Env(root, paths, case.subject))
        ds = discover(root)
        report = ds.validate(workers=1)
        frame, errors = ds.materialize(strict=False, return_errors=True, workers=1)
    if case.big:
        STATS["memory"].append((case.id, mem.growth, mem.seconds))
        print(f"{case.id}: peak RSS growth {mem.growth / 2**20:.0f} MiB in {mem.seconds:.1f} s")
        assert mem.growth < MEMORY_BOUND, f"{case.id}: memory grew by {mem.growth / 2**20:.0f} MiB"

    # validate and materialize agree; loaded streams keep the contract
    assert list(report.status) == list(errors.status)
    check_contract(report, frame)
    outcome = Outcome(case, bad, ds, report, frame, template, case.subject, case.tag)

    if case.expect == SKIP:
        skipped = ds.skipped
        hit = skipped[skipped.path == str(bad)]
        assert len(hit) == 1, f"{bad} not recorded as skipped:\n{skipped}"
        assert re.search(case.pattern, hit.reason.iloc[0]), hit.reason.iloc[0]
        assert case.tag not in outcome.cell_tags()
    elif case.expect == ERROR:
        assert outcome.status() == "error", f"expected an error, got {outcome.status()}"
        message = outcome.message()
        assert re.search(case.pattern, message), f"message does not match {case.pattern!r}: {message}"
        assert bad.name in message or bad.parent.name in message, f"file not named: {message}"
        if not case.big:  # the same load a third time would only cost time
            _strict_raises(ds, case)
    else:
        assert case.expect == LOADS
        assert outcome.status() == "ok", f"{case.id} should load: {outcome.message()}"
    if case.check is not None:
        case.check(outcome)

    # every other source of the copied cells loads as in the clean session
    clean = template.report.set_index(["Subject", "Source"]).status
    for _, row in report.iterrows():
        if row.Subject == case.subject and (row.Source == case.tag or case.dependants_checked):
            continue
        if case.expect == SKIP and row.Subject == case.subject and row.status == "missing":
            continue
        assert row.status == clean[(row.Subject, row.Source)], \
            f"{row.Subject}/{row.Source} is {row.status}: {row.message}"


def _strict_raises(ds, case):
    narrowed = ds.include(subject=case.subject, source=[case.tag])
    with pytest.raises(datakit.LoadError) as info:
        narrowed.materialize(strict=True, workers=1)
    text = str(info.value)
    key = [k for k in ds.inventory.index if k[0] == case.subject][0]
    for part in (*key, case.tag, info.value.path):
        assert str(part) in text, f"{part!r} missing from: {text}"
