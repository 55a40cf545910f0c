"""The ``datakit`` command, run as a subprocess (``python -m datakit ...``).

One small demo experiment (2 subjects x 2 sessions x 3 tasks, 10 s recordings, one file
broken on purpose) is generated per module; the lab's sample data is used where present.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import datakit
from datakit.demo import generate

WORKERS = "2"


def run(*args, stdin: str | None = None, env: dict | None = None, cwd=None):
    environ = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "datakit", *map(str, args)], input=stdin,
                          capture_output=True, text=True, timeout=120, env=environ, cwd=cwd)


def assert_one_line_error(done, status: int, *fragments: str) -> None:
    assert done.returncode == status, (done.stdout, done.stderr)
    errors = [line for line in done.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, done.stderr
    assert "Traceback" not in done.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli") / "exp"
    return generate(root, subjects=2, sessions=2, duration=10.0, seed=3)


@pytest.fixture(scope="module")
def broken(demo):
    assert len(demo.broken) == 1
    return demo.broken[0]


@pytest.fixture(scope="module")
def clean_args(broken):
    """Selection options leaving out the subject that holds the broken file."""
    return ["--exclude-subject", broken.subject]


@pytest.fixture(scope="module")
def saved_h5(demo, tmp_path_factory, clean_args):
    out = tmp_path_factory.mktemp("saved") / "clean.h5"
    done = run("build", demo.root, *clean_args, "-o", out, "--workers", WORKERS)
    assert done.returncode == 0, done.stderr
    return out


# -------------------------------------------------------------------------------------
# help, version, usage errors


COMMANDS = ["inspect", "validate", "build", "profile", "shell", "demo", "sources"]


def test_top_level_help_lists_every_command():
    started = time.perf_counter()
    done = run("--help")
    elapsed = time.perf_counter() - started
    assert done.returncode == 0
    for command in COMMANDS:
        assert f"\n    {command} " in done.stdout
    assert "exit status" in done.stdout
    assert elapsed < 10  # generous: only catches an import that loads the world


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_a_description_and_an_example(command):
    done = run(command, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: datakit {command}")
    assert "example:\n  datakit " + command in done.stdout
    assert "--debug" in done.stdout


def test_help_does_not_import_heavy_optional_modules():
    code = ("import sys; from datakit.cli import main; rc = main(['--help']); "
            "heavy = [m for m in ('IPython', 'tables', 'tqdm', 'datakit.demo', 'datakit.profile') "
            "if m in sys.modules]; print('HEAVY', heavy); sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert "HEAVY []" in done.stdout


def test_version_and_missing_command():
    done = run("--version")
    assert done.returncode == 0
    # one version, the one pip shows (a checkout's git commit is provenance, not the version)
    import importlib.metadata

    assert done.stdout.strip() == f"datakit {importlib.metadata.version('datakit')}"
    assert run().returncode == 2


def test_bad_option_is_a_usage_error(demo):
    done = run("validate", demo.root, "--workers", "0")
    assert done.returncode == 2
    assert "--workers" in done.stderr
    assert run("inspect", demo.root, "--no-such-option").returncode == 2


def test_missing_folder_is_one_line_and_exit_2(tmp_path):
    for command in ("inspect", "validate"):
        done = run(command, tmp_path / "nowhere")
        assert_one_line_error(done, 2, "experiment folder not found", "nowhere")


def test_unknown_source_is_a_usage_error(demo):
    done = run("inspect", demo.root, "--source", "no_such_source")
    assert_one_line_error(done, 2, "no_such_source", "datakit sources")


# -------------------------------------------------------------------------------------
# sources


def test_sources_lists_every_registered_tag():
    done = run("sources")
    assert done.returncode == 0, done.stderr
    tags = datakit.available_tags()
    assert f"{len(tags)} registered sources" in done.stdout
    for tag, cls in datakit.registered_sources().items():
        assert f"\n{tag} " in done.stdout
        assert cls.patterns[0] in done.stdout
    as_json = json.loads(run("sources", "--format", "json").stdout)
    assert [row["tag"] for row in as_json] == tags
    dataqueue = next(row for row in as_json if row["tag"] == "dataqueue")
    assert dataqueue["patterns"] == list(datakit.get_source_class("dataqueue").patterns)
    assert {"tag", "kind", "requires", "patterns", "description"} <= set(dataqueue)
    rows = list(csv.DictReader(io.StringIO(run("sources", "--format", "csv").stdout)))
    assert [row["tag"] for row in rows] == tags


# -------------------------------------------------------------------------------------
# inspect


def _inspect_json(*args):
    done = run("inspect", *args, "--format", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_inspect_prints_counts_and_coverage(demo):
    done = run("inspect", demo.root)
    assert done.returncode == 0, done.stderr
    n_cells = len(demo.cells)
    assert f"{n_cells} cells (2 subjects, 2 sessions, 3 tasks)" in done.stdout
    for header in ("present", "missing", "not expected", "coverage"):
        assert header in done.stdout
    # every recorded cell has a dataqueue; the 2 tasks never recorded miss theirs
    assert re.search(rf"dataqueue\s+{n_cells}\s+2\s+0\s+83%", done.stdout), done.stdout
    assert "not recorded: 2 expected cells" in done.stdout
    assert "datakit missing" in done.stdout
    assert "skipped:" in done.stdout and "conflicts:" in done.stdout


def test_inspect_json_parses_and_matches_the_dataset(demo):
    report = _inspect_json(demo.root)
    ds = datakit.Dataset.from_directory(demo.root)
    assert report["cells"] == len(ds) == len(demo.cells)
    assert report["subjects"] == list(demo.subjects)
    assert report["sessions"] == list(demo.sessions)
    coverage = {row["source"]: row for row in report["sources"]}
    assert set(coverage) == set(ds.sources)
    assert coverage["dataqueue"]["present"] == len(demo.paths("dataqueue"))
    assert {"skipped", "conflicts", "roots"} <= set(report)


def test_filters_change_the_counts(demo, broken):
    everything = _inspect_json(demo.root)["cells"]
    one_subject = _inspect_json(demo.root, "--subject", broken.subject)
    assert one_subject["subjects"] == [broken.subject]
    assert 0 < one_subject["cells"] < everything
    others = _inspect_json(demo.root, "--exclude-subject", broken.subject)
    assert one_subject["cells"] + others["cells"] == everything
    # prefixes are optional and values may be comma-separated
    session = demo.sessions[0]
    short = _inspect_json(demo.root, "--session", session.removeprefix("ses-"),
                          "--task", "widefield,gratings")
    assert short["sessions"] == [session]
    assert short["tasks"] == ["task-gratings", "task-widefield"]
    two_sources = _inspect_json(demo.root, "--source", "dataqueue", "--source", "notes")
    assert [row["source"] for row in two_sources["sources"]] == ["dataqueue", "notes"]
    assert "notes" not in [row["source"] for row in
                           _inspect_json(demo.root, "--exclude-source", "notes")["sources"]]
    collapsed = _inspect_json(demo.root, "--no-task-level")
    assert collapsed["tasks"] == [] and collapsed["cells"] == 4


def test_a_filter_matching_nothing_warns(demo):
    done = run("inspect", demo.root, "--subject", "NOBODY")
    assert done.returncode == 0
    assert "--subject NOBODY matches no cell" in done.stderr
    assert "0 cells" in done.stdout
    assert_one_line_error(run("validate", demo.root, "--subject", "NOBODY"), 2,
                          "nothing to validate")
    assert_one_line_error(run("inspect", demo.root, "--no-task-level", "--task", "movies"), 2,
                          "--no-task-level")


def test_inspect_writes_csv_with_o(demo, tmp_path):
    target = tmp_path / "coverage.csv"
    done = run("inspect", demo.root, "-o", target)
    assert done.returncode == 0, done.stderr
    assert "coverage" in done.stdout  # the readable summary still goes to the terminal
    with target.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0].keys() >= {"source", "present", "total", "missing", "coverage"}
    assert {row["source"] for row in rows} >= {"dataqueue", "notes"}


# -------------------------------------------------------------------------------------
# validate


def test_validate_exits_1_and_names_the_broken_file(demo, broken):
    done = run("validate", demo.root, "--workers", WORKERS, "--no-progress")
    assert done.returncode == 1, done.stderr
    assert "1 file failed to load" in done.stdout
    assert str(Path(broken.path).name) in done.stdout
    assert f"{broken.tag}  {broken.subject}/{broken.session}/{broken.task}" in done.stdout
    for header in ("ok", "missing", "error"):
        assert header in done.stdout
    assert done.stderr.count("it/s") == 0  # --no-progress: no bar


def test_validate_without_the_broken_file_exits_0(demo, clean_args):
    done = run("validate", demo.root, *clean_args, "--workers", WORKERS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK: all" in done.stdout
    assert "missing, not an error" in done.stdout


def test_missing_lists_what_should_exist_and_exits_1(demo, tmp_path):
    done = run("missing", demo.root)
    assert done.returncode == 1, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[-1].startswith(f"MISSING: {len(demo.missing_pairs())} expected recordings missing")
    assert "task not recorded" in done.stdout and "declared" in done.stdout
    written = run("missing", demo.root, "-o", tmp_path / "missing.csv")
    assert written.returncode == 1
    with open(tmp_path / "missing.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert {(r["Subject"], r["Session"], r["Task"], r["Source"]) for r in rows} == demo.missing_pairs()
    assert {r["reason"] for r in rows} == {"declared", "manifest", "inferred"}
    as_json = json.loads(run("missing", demo.root, "--format", "json").stdout)
    assert len(as_json["missing"]) == len(rows) and "missing in" in as_json["summary"]
    one = run("missing", demo.root, "--subject", demo.subjects[0], "--format", "csv")
    subjects = {r["Subject"] for r in csv.DictReader(io.StringIO(one.stdout))}
    assert subjects == {demo.subjects[0]}


def test_missing_exits_0_when_nothing_is_missing(tmp_path):
    generate(tmp_path / "full", subjects=1, sessions=1, duration=10.0, missing=False, broken=False)
    done = run("missing", tmp_path / "full")
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert done.stdout.strip().endswith("OK: nothing expected is missing")


def test_missing_with_a_broken_protocol_warns_and_still_answers(demo, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(demo.root, root)
    (root / "datakit.toml").write_text("[expected\n")
    done = run("missing", root)
    assert done.returncode == 1
    warning = [line for line in done.stderr.splitlines() if "warning:" in line]
    assert len(warning) == 1 and "datakit.toml" in warning[0] and "not valid TOML" in warning[0]
    assert "Traceback" not in done.stderr
    assert "manifest.json" in done.stdout    # the next rules decide


def test_validate_writes_the_full_report(demo, broken, tmp_path):
    target = tmp_path / "report.json"
    done = run("validate", demo.root, "--workers", WORKERS, "-o", target, "--progress")
    assert done.returncode == 1
    assert "loading" in done.stderr  # --progress forces the bar (stderr is a pipe here)
    report = json.loads(target.read_text(encoding="utf-8"))
    errors = [row for row in report["report"] if row["status"] == "error"]
    assert len(errors) == 1 and errors[0]["path"] == str(broken.path)
    assert errors[0]["traceback"]
    assert report["counts"]["error"] == 1
    counts = report["counts"]
    assert counts["ok"] + counts["missing"] + counts["not expected"] + 1 == len(report["report"])
    # the rows of cells never recorded are in the report too, all expected
    expected_missing = [r for r in report["report"] if r["status"] == "missing" and r["expected"]]
    assert len(expected_missing) == counts["missing"] > 0
    as_csv = run("validate", demo.root, "--workers", WORKERS, "--format", "csv")
    assert as_csv.returncode == 1
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert len(rows) == len(report["report"])
    assert {"Subject", "Session", "Task", "Source", "status", "path", "message"} <= set(rows[0])


# -------------------------------------------------------------------------------------
# build, profile


def test_build_refuses_an_unsupported_format_before_any_work(tmp_path):
    target = tmp_path / "x.csv"
    # the root does not even exist: the format is checked first
    done = run("build", tmp_path / "no-experiment", "-o", target)
    assert_one_line_error(done, 2, "unsupported output file type '.csv'")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []
    done = run("build", tmp_path / "no-experiment", "-o", tmp_path / "x.pkl", "--format", "parquet")
    assert done.returncode == 2
    assert list(tmp_path.iterdir()) == []


def test_build_strict_fails_with_the_files_context(demo, broken, tmp_path):
    target = tmp_path / "all.h5"
    done = run("build", demo.root, "-o", target, "--workers", WORKERS)
    assert_one_line_error(done, 1, broken.tag, broken.subject, broken.session, str(broken.path),
                          "--no-strict")
    assert not target.exists()
    debug = run("build", demo.root, "-o", target, "--workers", "1", "--debug")
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr and "LoadError" in debug.stderr


def test_build_no_strict_saves_what_loaded_and_exits_1(demo, broken, tmp_path):
    target = tmp_path / "all.pkl"
    done = run("build", demo.root, "-o", target, "--no-strict", "--workers", WORKERS)
    assert done.returncode == 1
    assert f"wrote {target}" in done.stdout
    assert "1 file failed to load" in done.stdout and Path(broken.path).name in done.stdout
    df = datakit.load_dataset(target)
    assert len(df) == len(demo.cells)


def test_build_h5_then_profile(saved_h5, demo, broken, tmp_path):
    df = datakit.load_dataset(saved_h5)
    assert broken.subject not in set(df.index.get_level_values("Subject"))
    rows, cols = df.shape
    summary = run("profile", saved_h5)
    assert summary.returncode == 0, summary.stderr
    assert f"{rows} rows x {cols} columns" in summary.stdout
    assert "Largest sources" in summary.stdout
    assert "unpickling" not in summary.stderr
    json_path = tmp_path / "profile" / "report.json"
    verbose = run("profile", saved_h5, "--verbose", "--top-cells", "3", "--json", json_path)
    assert verbose.returncode == 0, verbose.stderr
    assert "Largest cells (top 3)" in verbose.stdout
    assert json.loads(json_path.read_text())["shape"] == [rows, cols]


def test_build_pickle_by_format_then_profile_warns(demo, clean_args, tmp_path):
    target = tmp_path / "subset.pickle"
    done = run("build", demo.root, *clean_args, "--source", "dataqueue,treadmill",
               "--format", "pickle", "-o", target, "--workers", WORKERS)
    assert done.returncode == 0, done.stderr
    assert "(pickle" in done.stdout
    df = datakit.load_dataset(target)
    assert set(df.columns.get_level_values(0)) == {"dataqueue", "treadmill"}
    profiled = run("profile", target)
    assert profiled.returncode == 0
    assert "unpickling runs code" in profiled.stderr
    refused = run("profile", target, env={"DATAKIT_ALLOW_PICKLE": "0"})
    assert_one_line_error(refused, 1, "safe mode")


def test_profile_refuses_missing_and_unknown_files(tmp_path):
    assert_one_line_error(run("profile", tmp_path / "none.h5"), 2, "none.h5")
    other = tmp_path / "table.csv"
    other.write_text("a\n1\n")
    assert_one_line_error(run("profile", other), 2, "'.csv'")


# -------------------------------------------------------------------------------------
# shell, demo


def test_shell_opens_a_saved_file(saved_h5, tmp_path):
    df = datakit.load_dataset(saved_h5)
    done = run("shell", saved_h5, stdin="print('shape', df.shape)\nexit()\n",
               env={"IPYTHONDIR": str(tmp_path / "ipython")})
    assert done.returncode == 0, done.stderr
    assert f"shape {df.shape}" in done.stdout
    assert_one_line_error(run("shell", tmp_path / "missing.h5"), 2, "missing.h5")


def test_demo_writes_an_experiment_and_refuses_a_full_folder(tmp_path):
    import shlex

    target = tmp_path / "my demo"
    done = run("demo", target, "--subjects", "1", "--sessions", "1", "--duration", "10",
               "--seed", "5")
    assert done.returncode == 0, done.stderr
    assert f"wrote a demo experiment to {target}" in done.stdout
    # the hints can be pasted into a shell as they are (a path with a space is quoted)
    hint = next(line for line in done.stdout.splitlines() if line.startswith("try:"))
    assert f"datakit inspect {shlex.quote(str(target))}" in hint
    assert "broken on purpose" in done.stdout
    assert (target / "data" / "sub-STREHAB07").is_dir()
    assert_one_line_error(run("demo", target), 2, "not empty")
    assert_one_line_error(run("demo", tmp_path / "short", "--duration", "2"), 2, "--duration")


# -------------------------------------------------------------------------------------
# odd file names, the lab's sample data


def test_non_utf8_names_do_not_crash_printing(demo, broken, tmp_path):
    odd = os.fsdecode(os.fsencode(str(tmp_path)) + b"/odd\xff\xfeexp")
    subject = broken.subject
    shutil.copytree(Path(demo.root) / "data" / f"sub-{subject}", Path(odd) / "data" / f"sub-{subject}")
    done = run("validate", odd, "--workers", "1")
    assert done.returncode == 1, done.stderr
    assert "odd\\udcff\\udcfeexp" in done.stdout
    assert "Traceback" not in done.stderr
    report = json.loads(run("inspect", odd, "--format", "json").stdout)
    assert report["roots"] == [odd]  # JSON escapes round-trip to the same surrogates


def test_sample_experiment_inspect_build_profile(sample_experiment1, tmp_path):
    done = run("inspect", sample_experiment1)
    assert done.returncode == 0, done.stderr
    assert "subjects: STREHAB07" in done.stdout and "treadmill" in done.stdout
    assert run("validate", sample_experiment1, "--workers", "1").returncode == 0
    target = tmp_path / "sample.h5"
    built = run("build", sample_experiment1, "-o", target, "--workers", "1")
    assert built.returncode == 0, built.stderr
    assert "1 row x" in built.stdout
    profiled = run("profile", target)
    assert profiled.returncode == 0
    assert "meso_mean" in profiled.stdout


def test_two_sample_roots_report_conflicts(sample_experiment1, sample_experiment2):
    report = _inspect_json(sample_experiment1, sample_experiment2)
    assert report["cells"] == 1
    assert report["conflicts"]
    assert all(row["kept"].startswith(str(sample_experiment1)) for row in report["conflicts"])
