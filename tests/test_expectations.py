"""What is expected, and so what is missing: protocol file, manifest, inference, filters."""
from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest

import datakit
from datakit.demo import generate
from datakit.protocol import ExpectationWarning, Protocol, parse_protocol
from util import stem, write

KEY = ["Subject", "Session", "Task", "Source"]


def pairs(missing: pd.DataFrame) -> set:
    return set(missing[KEY].itertuples(index=False, name=None))


# -- a hand-made tree: names only (discovery opens nothing but a dataqueue's head) ------

def cell_files(root, sub, ses, task, tags):
    """Empty files named as the lab names them, one per tag."""
    s = stem(sub, ses, task)
    names = {"notes": f"data/sub-{sub}/ses-{ses}/{s}_notes.txt",
             "session_config": f"data/sub-{sub}/ses-{ses}/{s}_configuration.csv",
             "timestamps": f"data/sub-{sub}/ses-{ses}/{s}_timestamps.csv",
             "wheel": f"data/sub-{sub}/ses-{ses}/beh/{s}_wheel.csv",
             "psychopy": f"data/sub-{sub}/ses-{ses}/beh/{s}_psychopy.csv",
             "meso_mean": f"processed/means/{s}_mesoscope.ome_meso-mean-trace.csv"}
    return {tag: write(root, names[tag]) for tag in tags}


@pytest.fixture
def tree(tmp_path):
    """4 widefield-like cells (A01, A02 x ses-01, ses-02) and 2 gratings-like cells."""
    root = tmp_path / "exp"
    for sub in ("A01", "A02"):
        for ses in ("01", "02"):
            tags = ["notes", "session_config", "meso_mean"]
            if (sub, ses) != ("A02", "02"):
                tags.append("timestamps")        # 3 of 4 have it: inferred expected
            if (sub, ses) == ("A01", "01"):
                tags.append("wheel")             # 1 of 4: not expected
            cell_files(root, sub, ses, "widefield", tags)
        cell_files(root, sub, "01", "gratings", ["notes", "psychopy"])
    return root


def opened(root, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExpectationWarning)
        warnings.simplefilter("ignore", datakit.ConflictWarning)
        return datakit.Dataset.from_directory(root, **kwargs)


def test_inference_half_of_the_task_cells(tree):
    ds = opened(tree)
    missing = ds.missing()
    assert pairs(missing) == {("A02", "ses-02", "task-widefield", "timestamps")}
    row = missing.iloc[0]
    assert row["reason"] == "inferred" and row["detail"] == "3 of 4 task-widefield cells have it"
    cov = ds.coverage()
    assert cov.loc[("A01", "ses-01", "task-widefield"), "wheel"] == "present"
    assert cov.loc[("A01", "ses-02", "task-widefield"), "wheel"] == "not_expected"
    assert cov.loc[("A01", "ses-01", "task-gratings"), "meso_mean"] == "not_expected"
    assert set(np.unique(cov.to_numpy())) == {"present", "missing", "not_expected"}
    assert list(cov.index.names) == ["Subject", "Session", "Task"]
    # inference never invents a cell: gratings has no ses-02 anywhere, and no row appears
    assert len(cov) == len(ds) == 6


def test_inference_counts_only_cells_with_a_file():
    index = pd.MultiIndex.from_tuples(
        [("A", "ses-01", "task-x"), ("A", "ses-02", "task-x"), ("A", "ses-03", "task-x")],
        names=["Subject", "Session", "Task"])
    inventory = pd.DataFrame({"notes": ["/n1", np.nan, np.nan], "wheel": ["/w1", "/w2", np.nan]},
                             index=index, dtype=object)
    ds = datakit.Dataset(inventory)
    # ses-03 has no file at all: it counts for nothing; notes is in 1 of 2 cells -> expected
    assert pairs(ds.missing()) == {("A", "ses-02", "task-x", "notes"),
                                   ("A", "ses-03", "task-x", "notes"),
                                   ("A", "ses-03", "task-x", "wheel")}


def test_protocol_declares_whole_task_and_star_for_every_task(tree):
    (tree / "datakit.toml").write_text(
        '[expected]\n"task-gratings" = ["notes", "psychopy", "wheel"]\n"*" = ["session_config"]\n')
    ds = opened(tree)
    got = ds.missing()
    assert pairs(got) == {
        ("A01", "ses-01", "task-gratings", "wheel"), ("A02", "ses-01", "task-gratings", "wheel"),
        ("A01", "ses-01", "task-gratings", "session_config"),
        ("A02", "ses-01", "task-gratings", "session_config"),
        # widefield is not declared: inference still decides its other sources
        ("A02", "ses-02", "task-widefield", "timestamps")}
    reasons = dict(zip(zip(got["Subject"], got["Task"], got["Source"]), got["reason"]))
    assert reasons[("A01", "task-gratings", "wheel")] == "declared"
    assert reasons[("A01", "task-gratings", "session_config")] == "declared"
    assert reasons[("A02", "task-widefield", "timestamps")] == "inferred"
    detail = got.set_index(["Subject", "Task", "Source"]).loc[("A01", "task-gratings", "wheel"), "detail"]
    assert detail == "datakit.toml declares it for task-gratings"
    expected = ds.expected()
    # declared tasks: what is not listed is not expected, even when most cells had it
    assert expected.loc[("A01", "ses-01", "task-gratings"), "meso_mean"] is None
    assert expected.loc[("A01", "ses-01", "task-widefield"), "session_config"] == "declared"
    assert expected.loc[("A01", "ses-01", "task-widefield"), "notes"] == "inferred"


def test_sessions_tasks_invents_unrecorded_cells(tree):
    (tree / "datakit.toml").write_text(
        '[expected]\n"task-gratings" = ["notes", "psychopy"]\n\n'
        '[sessions]\ntasks = ["task-widefield", "task-gratings"]\n')
    ds = opened(tree)
    cov = ds.coverage()
    assert ("A01", "ses-02", "task-gratings") in cov.index and len(cov) == 8
    assert len(ds) == 6 and len(ds.inventory) == 6          # the inventory keeps its contract
    got = ds.missing()
    unrecorded = got[got["Session"] == "ses-02"]
    unrecorded = unrecorded[unrecorded["Task"] == "task-gratings"]
    assert set(zip(unrecorded["Subject"], unrecorded["Source"])) == {
        ("A01", "notes"), ("A01", "psychopy"), ("A02", "notes"), ("A02", "psychopy")}
    assert set(unrecorded["detail"]) == {"task not recorded"}
    assert set(unrecorded["reason"]) == {"declared"}


def test_star_decides_an_experiment_without_task_level(tree):
    (tree / "datakit.toml").write_text('[expected]\n"*" = ["notes", "wheel"]\n')
    ds = opened(tree, include_task_level=False)
    assert ds.inventory.index.nlevels == 2
    got = ds.missing()
    assert list(got.columns) == ["Subject", "Session", "Source", "reason", "detail"]
    assert set(zip(got["Subject"], got["Session"], got["Source"])) == {
        ("A01", "ses-02", "wheel"), ("A02", "ses-01", "wheel"), ("A02", "ses-02", "wheel")}
    assert ds.coverage().loc[("A01", "ses-02"), "timestamps"] == "present"


def test_expected_but_absent_everywhere_has_a_column(tree):
    (tree / "datakit.toml").write_text('[expected]\n"task-gratings" = ["dataqueue", "notes", "psychopy"]\n')
    ds = opened(tree)
    assert "dataqueue" not in ds.inventory.columns          # api.txt: columns = sources with a file
    cov = ds.coverage()
    assert (cov["dataqueue"].xs("task-gratings", level="Task") == "missing").all()
    assert (cov["dataqueue"].xs("task-widefield", level="Task") == "not_expected").all()
    assert datakit.inspect_sources(ds).loc["dataqueue", "missing"] == 2
    report = ds.validate(workers=1, parallel="thread")
    rows = report[report["Source"] == "dataqueue"]
    assert len(rows) == 2 and set(rows["status"]) == {"missing"} and rows["expected"].all()
    assert rows["message"].str.contains("declared").all()


# -- filters -----------------------------------------------------------------------------

def test_filters_apply_to_missing_rows_and_columns(tree):
    (tree / "datakit.toml").write_text(
        '[expected]\n"task-gratings" = ["dataqueue", "notes", "psychopy"]\n\n'
        '[sessions]\ntasks = ["task-widefield", "task-gratings"]\n')
    ds = opened(tree)
    every = pairs(ds.missing())
    a01 = ds.include(subject="A01")
    assert pairs(a01.missing()) == {p for p in every if p[0] == "A01"}
    assert ("A01", "ses-02", "task-gratings") in a01.coverage().index
    assert ("A02", "ses-02", "task-gratings") not in a01.coverage().index
    no_gratings = ds.exclude(task="task-gratings")
    assert not [p for p in pairs(no_gratings.missing()) if p[2] == "task-gratings"]
    assert "dataqueue" not in ds.exclude(source="dataqueue").coverage().columns
    assert list(ds.include(source=["notes"]).coverage().columns) == ["notes"]
    assert "dataqueue" in ds.include(source=["notes", "dataqueue"]).coverage().columns
    # blanking a source in some rows: those pairs are no longer called missing
    blanked = ds.exclude(subject="A01", source="dataqueue")
    assert not [p for p in pairs(blanked.missing()) if p[0] == "A01" and p[3] == "dataqueue"]
    assert [p for p in pairs(blanked.missing()) if p[0] == "A02" and p[3] == "dataqueue"]
    assert len(ds.head(2).coverage()) == 2
    incomplete = ds.incomplete()
    assert pairs(incomplete.missing()) == every
    cells = {p[:3] for p in every}
    assert set(incomplete.coverage().index) == cells
    assert len(incomplete) == len([c for c in cells if c in set(ds.inventory.index)])


# -- manifest ----------------------------------------------------------------------------

def manifest(root, entries):
    (root / "manifest.json").write_text(json.dumps({"summary": {}, "entries": entries}))


def test_manifest_notices_a_deleted_file_and_places_old_tags_by_name(tree):
    s = stem("A02", "01", "gratings")
    entries = [
        {"tag": "config", "path": f"data/sub-A02/ses-01/{s}_configuration.csv",
         "subject": "A02", "session": "ses-01", "task": "task-gratings"},
        # listed under the wrong tag: the file name decides
        {"tag": "notes", "path": f"data/sub-A02/ses-01/beh/{s}_wheel.csv"},
        {"tag": "psychopy", "path": f"data/sub-A02/ses-01/beh/{s}_psychopy.csv"},   # exists
    ]
    manifest(tree, entries)
    ds = opened(tree)
    got = ds.missing()
    listed = got[got["reason"] == "manifest"]
    assert set(listed["Source"]) == {"session_config", "wheel"}
    assert set(listed["detail"]) == {str(tree.resolve() / e["path"]) for e in entries[:2]}
    assert ds.expected().loc[("A02", "ses-01", "task-gratings"), "psychopy"] == "manifest"
    # a file the manifest lists may still be missing for an inferred reason elsewhere
    assert ("A02", "ses-02", "task-widefield", "timestamps") in pairs(got)


def test_manifest_cell_with_no_file_left_gets_a_row(tree):
    s = stem("A03", "01", "widefield")
    manifest(tree, [{"tag": "notes", "path": f"data/sub-A03/ses-01/{s}_notes.txt"}])
    got = opened(tree).missing()
    rows = got[got["Subject"] == "A03"].set_index("Source")
    # the manifest speaks for the file it lists; inference for the rest of the task
    assert rows.loc["notes", "reason"] == "manifest"
    assert set(rows.index) == {"notes", "meso_mean", "session_config", "timestamps"}
    assert rows.loc["meso_mean", "detail"] == \
        "4 of 4 task-widefield cells have it; no file of this cell is left"


@pytest.mark.parametrize("content, fragment", [
    (b"{not json", "is not valid JSON"),
    (b'{"entries": 3}', "has no list of entries"),
    (b"\xff\xfe\x00", "is not valid JSON"),
])
def test_broken_manifest_warns_and_falls_back(tree, content, fragment):
    (tree / "manifest.json").write_bytes(content)
    with pytest.warns(ExpectationWarning, match=fragment) as caught:
        ds = datakit.Dataset.from_directory(tree)
    assert "manifest.json" in str(caught[0].message)
    assert pairs(ds.missing()) == {("A02", "ses-02", "task-widefield", "timestamps")}


def test_odd_manifest_entries_are_skipped_with_one_warning(tree):
    s = stem("A01", "01", "gratings")
    good = {"tag": "wheel", "path": f"data/sub-A01/ses-01/beh/{s}_wheel.csv"}
    odd = ["a string", {"tag": "notes"}, {"path": "/etc/passwd"}, {"path": "../up/x_notes.txt"},
           {"path": "data/no_tokens_notes.txt"}, {"path": "data/sub-A01/ses-01/x.unknown"},
           {"path": 7}, {"path": "elsewhere/sub-A01/ses-01/x_notes.txt"}]
    (tree / "manifest.json").write_text(json.dumps(odd + [good]))   # a bare list is accepted
    with pytest.warns(ExpectationWarning) as caught:
        ds = datakit.Dataset.from_directory(tree)
    messages = [str(w.message) for w in caught if issubclass(w.category, ExpectationWarning)]
    assert len(messages) == 1
    assert "8 of 9 entries skipped" in messages[0] and "entry 0" in messages[0]
    assert ("A01", "ses-01", "task-gratings", "wheel") in pairs(ds.missing())


# -- bad protocol files: a warning naming file and key, the next rule decides --------------

@pytest.mark.parametrize("text, fragment", [
    ('[expected\n"task-x" = [', "is not valid TOML"),
    ('[expected]\n"widefield" = ["notes"]\n', "did you mean \"task-widefield\""),
    ('[expected]\n"task-widefield" = ["notes", "lickometer"]\n', "unknown source(s) ['lickometer']"),
    ('[expected]\n"task-widefield" = "notes"\n', "must be a list of source names"),
    ('expected = 3\n', "[expected] must be a table"),
    ('[expect]\n"task-widefield" = ["notes"]\n', "unknown key or table 'expect'"),
    ('[sessions]\ntasks = ["gratings"]\n', "is not a task label"),
])
def test_bad_protocol_warns_and_falls_back(tree, text, fragment):
    (tree / "datakit.toml").write_text(text)
    with pytest.warns(ExpectationWarning, match=None) as caught:
        ds = datakit.Dataset.from_directory(tree)
    messages = [str(w.message) for w in caught if issubclass(w.category, ExpectationWarning)]
    assert any(fragment in m and "datakit.toml" in m for m in messages), messages
    # the experiment still opens and inference still speaks for the undeclared parts
    assert len(ds) == 6
    assert ("A02", "ses-02", "task-widefield", "timestamps") in pairs(ds.missing()) or \
        ds.protocol is not None and ds.protocol.declares("task-widefield")


def test_unreadable_protocol_is_a_warning(tree):
    (tree / "datakit.toml").mkdir()          # a folder where the file should be
    with pytest.warns(ExpectationWarning, match="cannot be read"):
        ds = datakit.Dataset.from_directory(tree)
    assert ds.protocol is None


# -- protocol objects -------------------------------------------------------------------

def test_protocol_round_trip_keeps_other_tables(tmp_path):
    text = ('version = 2\n[expected]\n"*" = ["notes"]\n"task-a" = ["wheel"]\n'
            '[sessions]\ntasks = ["task-a", "task-b"]\nnote = "kept"\n[lab]\nname = "Ç lab"\nrigs = [1, 2]\n')
    with pytest.warns(ExpectationWarning, match="'version'"), \
            pytest.warns(ExpectationWarning, match="'lab'"):
        protocol = parse_protocol(text, tmp_path / "datakit.toml", datakit.registered_sources())
    edited = protocol.with_expected("task-b", "psychopy", seed=("notes",))
    edited = edited.with_expected("task-a", "wheel", False)
    path = edited.write(tmp_path / "datakit.toml")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExpectationWarning)     # 'version' and [lab] again
        again = parse_protocol(path.read_bytes(), path, datakit.registered_sources())
    assert again.expected == {"*": ("notes",), "task-a": (), "task-b": ("notes", "psychopy")}
    assert again.tasks == ("task-a", "task-b")
    assert again.extra == {"version": 2, "sessions": {"note": "kept"},
                           "lab": {"name": "Ç lab", "rigs": [1, 2]}}
    assert not list(tmp_path.glob(".*tmp*"))
    with pytest.raises(ValueError, match="task-<label>"):
        protocol.with_expected("widefield", "notes")


def test_with_protocol_rejudges_without_walking(tree, monkeypatch):
    ds = opened(tree)
    import datakit.scan as scan_module

    def no_walk(*args, **kwargs):
        raise AssertionError("the tree was walked again")

    monkeypatch.setattr(scan_module, "walk", no_walk)
    monkeypatch.setattr(scan_module, "discover", no_walk)
    seed = [t for t, r in ds.expected().xs("task-gratings", level="Task").iloc[0].items() if r]
    protocol = Protocol().with_expected("task-gratings", "wheel", seed=seed)
    judged = ds.with_protocol(protocol)
    assert judged.protocol is protocol and ds.protocol is None
    assert ("A02", "ses-01", "task-gratings", "wheel") in pairs(judged.missing())
    assert ("A02", "ses-01", "task-gratings", "wheel") not in pairs(ds.missing())
    with pytest.raises(TypeError):
        ds.with_protocol({"task-x": ["notes"]})


# -- the demo: exactly what the generator removed or never wrote is missing ---------------

@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("expect") / "exp", subjects=3, sessions=2,
                    duration=10.0, seed=5)


def test_demo_ground_truth(demo):
    ds = opened(demo.root)
    got = ds.missing()
    assert pairs(got) == demo.missing_pairs()
    assert set(got["reason"]) == {"declared", "manifest", "inferred"}
    # both unrecorded tasks have rows, missing for every source their task has
    cov = ds.coverage()
    for key in demo.missing_cells:
        assert key in cov.index and key not in set(ds.inventory.index)
        assert (got[(got["Subject"] == key[0]) & (got["Session"] == key[1]) & (got["Task"] == key[2])]
                ["detail"] == "task not recorded").all()
    deleted = [m for m in demo.missing if "manifest" in m.reason]
    assert len(deleted) == 1
    row = got[got["reason"] == "manifest"].iloc[0]
    assert (row["Subject"], row["Session"], row["Task"], row["Source"]) == \
        (deleted[0].subject, deleted[0].session, deleted[0].task, deleted[0].tag)
    assert row["detail"].endswith("_psychopy.csv")
    # sorted by cell, then source
    keys = list(got[KEY].itertuples(index=False, name=None))
    assert keys == sorted(keys)


def test_demo_validate_report_agrees_with_missing(demo):
    ds = opened(demo.root).include(subject=demo.subjects[0])
    report = ds.validate(workers=1, parallel="thread")
    assert report["expected"].dtype == bool
    flagged = report[(report["status"] == "missing") & report["expected"]]
    assert set(flagged[KEY].itertuples(index=False, name=None)) == pairs(ds.missing())
    quiet = report[(report["status"] == "missing") & ~report["expected"]]
    assert len(quiet) and not (set(quiet[KEY].itertuples(index=False, name=None)) & pairs(ds.missing()))
    present = report[report["status"].isin(["ok", "error"])]
    assert present["expected"].sum() > 0
    # materialize's report says the same (the app merges it into the validation report)
    _, errors = ds.materialize(strict=False, return_errors=True, workers=1)
    merged = report.merge(errors, on=KEY, suffixes=("", "_m"))
    assert len(merged) == len(report) and (merged["expected"] == merged["expected_m"]).all()


def test_deleting_every_dataqueue_gives_it_a_column(demo, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(demo.root, root)
    for path in root.rglob("*_dataqueue.csv"):
        path.unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datakit.ConflictWarning)
        ds = datakit.Dataset.from_directory(root)
    assert "dataqueue" not in ds.inventory.columns
    counts = datakit.inspect_sources(ds)
    assert counts.loc["dataqueue", "present"] == 0
    # every recorded cell misses it (declared, or listed in the manifest for movies)
    cov = ds.coverage()
    assert (cov.loc[list(ds.inventory.index), "dataqueue"] == "missing").all()
    assert counts.loc["dataqueue", "missing"] == (cov["dataqueue"] == "missing").sum() >= len(ds)
