"""datakit.shell: the namespace and banner for a folder / saved file, and the shell itself."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

import datakit
from datakit.io import save_frame
from datakit.shell import build_namespace, open_shell
from datakit.testing import assert_frames_equal, example_frame
from util import CONFIG_CSV, NOTES_TXT, TREADMILL_CSV, session_dir, stem, write


@pytest.fixture
def experiment(tmp_path):
    """Two subjects, one session each: treadmill, config and notes per cell."""
    root = tmp_path / "exp"
    for sub in ("A01", "A02"):
        folder = session_dir(sub, "01")
        name = stem(sub, "01")
        write(root, f"{folder}/beh/{name}_treadmill.csv", TREADMILL_CSV)
        write(root, f"{folder}/{name}_configuration.csv", CONFIG_CSV)
        write(root, f"{folder}/{name}_notes.txt", NOTES_TXT)
    return root


@pytest.fixture
def frame():
    return example_frame(n_rows=3, n_samples=50)


@pytest.fixture
def saved(tmp_path, frame):
    """The example frame saved as .h5, .pkl and .pickle."""
    return {suffix: save_frame(frame, tmp_path / f"saved{suffix}")
            for suffix in (".h5", ".pkl", ".pickle")}


@pytest.fixture
def pickles_allowed(monkeypatch):
    monkeypatch.setenv("DATAKIT_ALLOW_PICKLE", "1")


def test_no_target_gives_datakit_and_a_hint():
    namespace, banner = build_namespace()
    assert namespace["datakit"] is datakit
    assert {"pd", "np"} <= set(namespace)
    assert "ds" not in namespace and "df" not in namespace
    assert "No experiment loaded" in banner


def test_folder_gives_ds_and_a_banner_with_counts(experiment):
    namespace, banner = build_namespace(experiment)
    ds = namespace["ds"]
    assert isinstance(ds, datakit.Dataset)
    assert ds.subjects == ["A01", "A02"]
    assert "df" not in namespace
    assert "ds = Dataset.from_directory(" in banner
    assert "2 cells (2 subjects, 1 session, 1 task)" in banner
    for tag in ds.sources:
        assert tag in banner


def test_h5_gives_df_without_pickle_warning(saved, frame, capsys):
    namespace, banner = build_namespace(saved[".h5"])
    assert_frames_equal(namespace["df"], frame)
    rows, cols = frame.shape
    assert f"{rows} rows x {cols} columns" in banner
    assert "df = load_dataset(" in banner
    assert "unpickling" not in capsys.readouterr().err


def test_a_large_h5_is_opened_not_loaded(saved, frame, monkeypatch):
    import datakit.shell

    namespace, banner = build_namespace(saved[".h5"])
    assert namespace["saved"].shape == frame.shape          # small: df and saved
    monkeypatch.setattr(datakit.shell, "EAGER_LOAD_BYTES", 0)
    monkeypatch.setattr(datakit.hdf5.SavedDataset, "load",
                        lambda *a, **k: pytest.fail("the whole file was loaded"))
    namespace, banner = build_namespace(saved[".h5"])
    assert "df" not in namespace and namespace["saved"].shape == frame.shape
    assert "saved = open_dataset(" in banner and "not loaded" in banner
    assert_frames_equal(frame.iloc[[1]], namespace["saved"].cell(frame.index[1]))


@pytest.mark.parametrize("suffix", [".pkl", ".pickle"])
def test_pickle_prints_a_one_line_warning(saved, frame, suffix, capsys, pickles_allowed):
    namespace, _ = build_namespace(saved[suffix])
    assert_frames_equal(namespace["df"], frame)
    err = capsys.readouterr().err
    assert "unpickling runs code stored in the file" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("suffix", [".pkl", ".pickle"])
def test_safe_mode_refuses_pickles(saved, suffix, monkeypatch, capsys):
    monkeypatch.setenv("DATAKIT_ALLOW_PICKLE", "0")
    with pytest.raises(datakit.PickleRefused, match="safe mode"):
        build_namespace(saved[suffix])
    assert "unpickling runs code" not in capsys.readouterr().err  # refused, not warned


def test_safe_mode_still_opens_hdf5(saved, frame, monkeypatch):
    monkeypatch.setenv("DATAKIT_ALLOW_PICKLE", "0")
    namespace, _ = build_namespace(saved[".h5"])
    assert namespace["df"].shape == frame.shape


def test_missing_path_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        build_namespace(tmp_path / "nope")
    with pytest.raises(FileNotFoundError):
        open_shell(tmp_path / "nope.h5")


def test_other_file_types_are_refused(tmp_path):
    path = write(tmp_path, "table.csv", "a,b\n1,2\n")
    with pytest.raises(ValueError, match=r"\.csv"):
        build_namespace(path)


def test_open_shell_inside_ipython_pushes_the_names(experiment, monkeypatch, capsys):
    pushed = {}

    class FakeShell:
        def push(self, names):
            pushed.update(names)

    monkeypatch.setattr("datakit.shell._running_ipython", lambda: FakeShell())
    assert open_shell(experiment) == 0
    assert isinstance(pushed["ds"], datakit.Dataset)
    assert "ds = Dataset.from_directory(" in capsys.readouterr().out


def _run_shell(target, stdin: str, tmp_path, *, block_ipython=False, env=None):
    setup = "import sys; sys.modules['IPython'] = None; " if block_ipython else "import sys; "
    code = setup + "import datakit; sys.exit(datakit.open_shell(sys.argv[1]))"
    environ = dict(os.environ, IPYTHONDIR=str(tmp_path / "ipython"), **(env or {}))
    return subprocess.run([sys.executable, "-c", code, str(target)], input=stdin,
                          capture_output=True, text=True, timeout=60, env=environ)


def test_open_shell_runs_ipython_with_df(saved, frame, tmp_path):
    done = _run_shell(saved[".h5"], "print('shape', df.shape)\nexit()\n", tmp_path)
    assert done.returncode == 0, done.stderr
    assert "IPython" in done.stdout
    assert "df = load_dataset(" in done.stdout
    assert f"shape {frame.shape}" in done.stdout


def test_open_shell_runs_ipython_with_ds(experiment, tmp_path):
    done = _run_shell(experiment, "print('cells', len(ds), ds.subjects)\n", tmp_path)
    assert done.returncode == 0, done.stderr
    assert "cells 2 ['A01', 'A02']" in done.stdout


def test_open_shell_pickle_subprocess_warns_and_safe_mode_refuses(saved, tmp_path):
    done = _run_shell(saved[".pkl"], "print(df.shape)\nexit()\n", tmp_path,
                      env={"DATAKIT_ALLOW_PICKLE": "1"})
    assert done.returncode == 0
    assert "unpickling runs code" in done.stderr
    refused = _run_shell(saved[".pkl"], "exit()\n", tmp_path, env={"DATAKIT_ALLOW_PICKLE": "0"})
    assert refused.returncode != 0
    assert "PickleRefused" in refused.stderr
    assert "In [1]" not in refused.stdout


def test_open_shell_falls_back_to_the_stdlib_console(saved, frame, tmp_path):
    done = _run_shell(saved[".h5"], "print('shape', df.shape)\nexit()\n", tmp_path,
                      block_ipython=True)
    assert done.returncode == 0, done.stderr
    assert f"shape {frame.shape}" in done.stdout
    assert "IPython not installed" in done.stderr  # code.interact writes its banner to stderr
    assert "df = load_dataset(" in done.stderr
