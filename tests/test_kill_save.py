"""Nothing half-written: `datakit build` killed with SIGKILL, or interrupted with Ctrl+C
(SIGINT), at many moments of a save.

After every kill the target is absent, the previous complete file, or the new complete
file (each checked by loading it and comparing with what was expected); temporary files
a kill leaves behind are removed by the next save.  A Ctrl+C stops the save: exit
status 130, the previous file kept, its temporary file removed, nothing but
"datakit: interrupted" on stderr.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import datakit
from datakit.demo import generate
from datakit.io import TEMP_SUFFIX
from datakit.testing import frames_equal

ROOT = Path(__file__).resolve().parents[1]
FRACTIONS = (0.0, 0.03, 0.1, 0.25, 0.45, 0.65, 0.85, 0.95, 1.0, 1.1)


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    root = tmp_path_factory.mktemp("killexp")
    generate(root, subjects=2, sessions=1, tasks=("widefield",), duration=60, seed=2,
             missing=False, broken=False)
    return root


_STARTED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _close_pipes():
    """Every build's stderr pipe is closed after the test (no unclosed-file warnings)."""
    yield
    while _STARTED:
        proc = _STARTED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=60)
        proc.stderr.close()


def build(root, out, *extra) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "datakit", "build", str(root), "-o", str(out), "--no-progress",
         "--workers", "1", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    _STARTED.append(proc)
    return proc


def temps(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.endswith(TEMP_SUFFIX))


def wait_for_temp(proc, folder: Path, timeout: float = 60.0) -> bool:
    """Poll until this build's temporary file appears (True) or the build ends (False).

    Temporary names carry the writer's pid, so leftovers of killed builds don't count.
    """
    end = time.monotonic() + timeout
    mark = f"-{proc.pid}-"
    while time.monotonic() < end:
        if any(mark in p.name for p in temps(folder)):
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.0005)
    raise TimeoutError("build neither saved nor finished")


@pytest.mark.parametrize("suffix", [".h5", ".pkl"])
def test_sigkill_during_save_never_leaves_a_partial_file(experiment, tmp_path, suffix, capsys):
    out = tmp_path / f"dataset{suffix}"
    # how long a save takes here (temporary file appears -> build exits)
    probe = build(experiment, tmp_path / f"probe{suffix}")
    assert wait_for_temp(probe, tmp_path)
    started = time.monotonic()
    assert probe.wait(timeout=120) == 0, probe.stderr.read().decode()
    save_s = time.monotonic() - started
    (tmp_path / f"probe{suffix}").unlink()
    # the previous complete file: one subject only
    first = build(experiment, out, "--subject", "STREHAB07")
    assert first.wait(timeout=120) == 0, first.stderr.read().decode()
    previous = datakit.load_dataset(out)
    new = datakit.Dataset.from_directory(experiment).materialize(workers=1)
    assert previous.shape[0] == 1 and new.shape[0] == 2

    outcomes = {"previous": 0, "new": 0, "absent": 0}
    kills = 0
    for fraction in FRACTIONS:
        proc = build(experiment, out)
        saving = wait_for_temp(proc, tmp_path)
        if saving:
            time.sleep(fraction * save_s)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait(timeout=60)
        if not out.exists():
            outcomes["absent"] += 1
            continue
        loaded = datakit.load_dataset(out)          # a partial file would fail here
        if frames_equal(loaded, previous, check_attrs=False):
            outcomes["previous"] += 1
        else:
            assert frames_equal(loaded, new, check_attrs=False), "target is neither old nor new"
            outcomes["new"] += 1
            # put the previous version back so later kills can tell old from new
            datakit.io.save_frame(previous, out)
    assert kills >= 3, "too few builds were still running when killed"
    assert outcomes["absent"] == 0          # a previous file existed, so it is never lost

    # the next save removes what the killed ones left behind
    final = build(experiment, out)
    assert final.wait(timeout=120) == 0, final.stderr.read().decode()
    assert temps(tmp_path) == []
    assert frames_equal(datakit.load_dataset(out), new, check_attrs=False)
    with capsys.disabled():
        print(f"\n[kill test {suffix}] save takes {save_s:.2f} s; {kills} SIGKILLs at "
              f"0-110% of it survived: {outcomes}")


def test_sigkill_before_any_file_exists(experiment, tmp_path):
    out = tmp_path / "fresh.h5"
    proc = build(experiment, out)
    if wait_for_temp(proc, tmp_path) and proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    if out.exists():                      # the rename happened just before the kill
        datakit.load_dataset(out)
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(TEMP_SUFFIX)] in ([], ["fresh.h5"])


# --------------------------------------------------------------------------------------
# Ctrl+C (SIGINT), as a terminal sends it: to the whole process group or to datakit alone

INTERRUPTS = ((0.0, "group", "2"), (0.15, "pid", "1"), (0.35, "group", "2"), (0.55, "pid", "2"),
              (0.75, "group", "1"))


def test_ctrl_c_stops_the_save_keeps_the_previous_file_and_exits_130(experiment, tmp_path, capsys):
    out = tmp_path / "dataset.h5"
    first = build(experiment, out, "--subject", "STREHAB07")
    with first.stderr:
        assert first.wait(timeout=120) == 0, first.stderr.read().decode()
    previous = datakit.load_dataset(out)
    # how long a save takes here, from its temporary file to the end
    probe = build(experiment, tmp_path / "probe.h5", "--workers", "2")
    with probe.stderr:
        assert wait_for_temp(probe, tmp_path)
        started = time.monotonic()
        assert probe.wait(timeout=120) == 0, probe.stderr.read().decode()
        save_s = time.monotonic() - started
    new = datakit.load_dataset(tmp_path / "probe.h5")

    outcomes = {"previous": 0, "new after the rename": 0, "finished first": 0}
    for fraction, target, workers in INTERRUPTS:
        proc = subprocess.Popen(
            [sys.executable, "-m", "datakit", "build", str(experiment), "-o", str(out),
             "--no-progress", "--workers", workers],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT, start_new_session=True)
        with proc.stderr:
            assert wait_for_temp(proc, tmp_path)
            time.sleep(fraction * save_s)
            if proc.poll() is None:
                (os.killpg if target == "group" else os.kill)(proc.pid, signal.SIGINT)
            status = proc.wait(timeout=60)
            stderr = proc.stderr.read().decode()
        assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
        assert [p for p in temps(tmp_path) if f"-{proc.pid}-" in p.name] == []
        loaded = datakit.load_dataset(out)
        if status == 0:                       # it ended before (or as) the signal came
            assert frames_equal(loaded, new, check_attrs=False)
            outcomes["finished first"] += 1
            datakit.io.save_frame(previous, out)
            continue
        assert status == 130, stderr
        assert stderr.strip().endswith("interrupted"), stderr
        if frames_equal(loaded, previous, check_attrs=False):
            outcomes["previous"] += 1
        else:  # Ctrl+C after the rename: the complete new file, and still 130
            assert frames_equal(loaded, new, check_attrs=False), "target is neither old nor new"
            outcomes["new after the rename"] += 1
            datakit.io.save_frame(previous, out)
    assert outcomes["previous"] >= 3, outcomes            # most builds were still saving
    with capsys.disabled():
        print(f"\n[Ctrl+C test] save takes {save_s:.2f} s; {len(INTERRUPTS)} SIGINTs: {outcomes}")
