"""Discovery on hostile trees: every strange entry is loaded, skipped with a recorded
reason, or reported by validate() with a message naming it; never a crash or a hang."""
from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import tempfile
import warnings
from pathlib import Path

import pytest

import datakit
from reliability_support import STATS
from util import CONFIG_CSV, NOTES_TXT, session_dir, stem, tiny_dataqueue, write

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def count_case():
    STATS["discovery"] += 1


def build(root) -> datakit.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datakit.ConflictWarning)
        return datakit.Dataset.from_directory(root)


def checked(root):
    """Discover, validate and materialize; the three never raise for a file."""
    ds = build(root)
    report = ds.validate(workers=1)
    frame = ds.materialize(strict=False, workers=1)
    assert frame.shape[0] == len(ds)
    return ds, report


def reason_for(ds, path) -> str:
    hit = ds.skipped[ds.skipped.path == os.fspath(path)]
    assert len(hit) == 1, f"{path} not recorded as skipped:\n{ds.skipped.to_string()}"
    return hit.reason.iloc[0]


def status(report, subject, source):
    row = report[(report.Subject == subject) & (report.Source == source)]
    assert len(row) == 1, report[["Subject", "Source", "status"]]
    return row.iloc[0]


def test_names_without_tokens_are_skipped_with_the_missing_token_named(tmp_path):
    good = write(tmp_path, f"{session_dir('A01')}/{stem('A01')}_notes.txt", NOTES_TXT)
    bare = write(tmp_path, "data/loose/20250706_161035_notes.txt", NOTES_TXT)
    no_ses = write(tmp_path, "processed/means/x_sub-A01_meso-mean-trace.csv", "Slice,Mean\n0,1\n")
    only_task = write(tmp_path, "data/task-x_configuration.csv", CONFIG_CSV)
    glued = write(tmp_path, "data/multisub-A01_subses-01_timestamps.csv", "device_id,started\n")
    ds, report = checked(tmp_path)
    assert ds.inventory.loc[("A01", "ses-01", "task-widefield"), "notes"] == str(good)
    assert reason_for(ds, bare) == "matches 'notes' but has no sub- and ses- token"
    assert reason_for(ds, no_ses) == "matches 'meso_mean' but has no ses- token"
    assert reason_for(ds, only_task) == "matches 'session_config' but has no sub- and ses- token"
    assert reason_for(ds, glued) == "matches 'timestamps' but has no sub- and ses- token"
    assert list(report.status) == ["ok"]


UNICODE = [
    # (subject folder, file name, expected identity or None = skipped)
    ("sub-Ä01", "20250706_sub-Ä01_ses-01_task-wf_notes.txt", None),
    ("sub-B02", "20250706_sub-B02_ses-01_task-wïde_notes.txt", ("B02", "ses-01", "task-w")),
    ("sub-C03", "🐭 20250706_sub-C03_ses-01_task-wf_notes.txt", ("C03", "ses-01", "task-wf")),
    ("sub-D04", "20250706_sub-D04_ses-01_task-ｗｆ_notes.txt", ("D04", "ses-01", "task-session")),
    ("sub-E\u200b05", "20250706_sub-E05_ses-01_task-wf_notes.txt", ("E", "ses-01", "task-wf")),
    ("sub-F06", "20250706_sub-F06_ses-01_task-\u05d0\u05d1_notes.txt", ("F06", "ses-01", "task-session")),
    ("sub-G07", "20250706_sub-G07_ses-01_task-cafe\u0301_notes.txt", ("G07", "ses-01", "task-cafe")),
    ("sub-H08", "20250706_sub-H08_ses-01_task-wf\nline_notes.txt", ("H08", "ses-01", "task-wf")),
    ("sub-I09", "-20250706_sub-I09_ses-01_task-wf_notes.txt", ("I09", "ses-01", "task-wf")),
]


@pytest.mark.parametrize("folder, name, expected", UNICODE, ids=[u[0].encode("unicode_escape").decode()
                                                                 + "-" + str(i) for i, u in enumerate(UNICODE)])
def test_odd_unicode_names(tmp_path, folder, name, expected):
    path = write(tmp_path / "data" / folder / "ses-01", name, NOTES_TXT)
    if expected is None:
        with pytest.warns(UserWarning, match="no recordings found"):
            ds, report = checked(tmp_path)
    else:
        ds, report = checked(tmp_path)
    if expected is None:
        assert reason_for(ds, path) == "matches 'notes' but has no sub- token"
        assert len(ds) == 0
    else:
        assert ds.inventory.index.tolist() == [expected]
        assert ds.inventory.iloc[0]["notes"] == str(path)
        assert list(report.status) == ["ok"]


def test_non_utf8_file_and_folder_names(tmp_path):
    folder = os.fsencode(tmp_path / session_dir("A01")) + b"/beh\xff\xfe"
    os.makedirs(folder)
    notes = folder + b"/x_sub-A01_ses-01_task-wf\xe9_notes.txt"
    with open(notes, "wb") as fh:
        fh.write(NOTES_TXT.encode())
    config = folder + b"/x_sub-A01_ses-01_task-wf\xe9_configuration.csv"
    open(config, "wb").close()                 # empty: must be reported, naming the file
    ds, report = checked(tmp_path)
    assert ds.inventory.index.tolist() == [("A01", "ses-01", "task-wf")]
    assert status(report, "A01", "notes").status == "ok"
    bad = status(report, "A01", "session_config")
    assert bad.status == "error"
    assert bad.message == f"{os.fsdecode(config)}: file is empty (0 bytes)"
    report.to_string()                          # surrogate-escaped names print


def test_dangling_symlink_is_reported_and_never_shadows_a_real_file(tmp_path):
    real = write(tmp_path, f"{session_dir('A01')}/{stem('A01')}_notes.txt", NOTES_TXT)
    later = tmp_path / session_dir("A01") / f"{stem('A01', stamp='20990101_000000')}_notes.txt"
    os.symlink(tmp_path / "gone.txt", later)
    alone = tmp_path / session_dir("B02") / f"{stem('B02')}_configuration.csv"
    alone.parent.mkdir(parents=True)
    os.symlink(tmp_path / "nowhere.csv", alone)
    write(tmp_path, f"{session_dir('B02')}/{stem('B02')}_notes.txt", NOTES_TXT)
    ds, report = checked(tmp_path)
    assert ds.inventory.loc[("A01", "ses-01", "task-widefield"), "notes"] == str(real)
    lost = ds.conflicts[ds.conflicts.dropped == str(later)]
    assert lost.reason.tolist() == ["dangling symlink (its target does not exist)"]
    assert status(report, "A01", "notes").status == "ok"
    row = status(report, "B02", "session_config")
    assert row.status == "error"
    assert row.message == (f"{alone}: dangling symlink (points to {tmp_path / 'nowhere.csv'}, "
                           "which does not exist)")


def test_symlink_loops_are_skipped(tmp_path):
    ses = tmp_path / session_dir("A01")
    write(ses, f"{stem('A01')}_notes.txt", NOTES_TXT)
    os.symlink(tmp_path / "data", ses / "up")                          # a loop through a folder
    os.symlink(ses, tmp_path / "data" / "sub-A01" / "again")           # the same folder twice
    selfish = ses / f"{stem('A01')}_timestamps.csv"
    os.symlink(selfish, selfish)                                       # a link to itself
    a, b = ses / f"{stem('A01')}_configuration.csv", ses / "b_sub-A01_ses-01_configuration.csv"
    os.symlink(b, a)
    os.symlink(a, b)                                                   # two links to each other
    ds, report = checked(tmp_path)
    assert reason_for(ds, ses / "up") == "symlink loop (points to a parent folder); not followed"
    assert "symlink" in reason_for(ds, tmp_path / "data" / "sub-A01" / "again")
    for loop in (selfish, a, b):
        assert reason_for(ds, loop).endswith(
            "but is a symlink that cannot be followed (Too many levels of symbolic links)")
    assert list(report.status) == ["ok"]


def test_fifo_and_socket_with_matching_names_never_block(tmp_path, monkeypatch):
    ses = tmp_path / session_dir("A01")
    write(ses, f"{stem('A01')}_notes.txt", NOTES_TXT)
    fifo = ses / "beh" / f"{stem('A01')}_dataqueue.csv"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    sock_path = ses / f"{stem('A01')}_timestamps.csv"
    server = socket.socket(socket.AF_UNIX)
    monkeypatch.chdir(ses)                 # AF_UNIX paths are limited to ~100 bytes
    server.bind(sock_path.name)
    try:
        ds, report = checked(tmp_path)
        assert reason_for(ds, fifo) == "matches 'dataqueue' but is a FIFO (named pipe), not a regular file"
        assert reason_for(ds, sock_path) == "matches 'timestamps' but is a socket, not a regular file"
        assert list(report.status) == ["ok"]
        # given one directly, a loader refuses it instead of blocking on open()
        with pytest.raises(ValueError, match=r"not a regular file \(a FIFO, socket or device"):
            datakit.load_path("dataqueue", fifo)
    finally:
        server.close()


def test_unreadable_folder_and_file(tmp_path, monkeypatch):
    """Simulated (the tests run as root): the real permission error at the real call."""
    write(tmp_path, f"{session_dir('A01')}/{stem('A01')}_notes.txt", NOTES_TXT)
    locked = tmp_path / session_dir("B02")
    write(locked, f"{stem('B02')}_notes.txt", NOTES_TXT)
    secret = write(tmp_path, f"{session_dir('A01')}/{stem('A01')}_configuration.csv", CONFIG_CSV)
    real_scandir, real_open = os.scandir, os.open

    def scandir(path):
        if os.fspath(path) == str(locked):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    def guarded_open(path, flags, *args, **kwargs):
        if os.fspath(path) == str(secret):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(os, "open", guarded_open)
    ds, report = checked(tmp_path)
    assert reason_for(ds, locked) == "cannot read folder: Permission denied"
    row = status(report, "A01", "session_config")
    assert row.status == "error"
    assert row.message == f"{secret}: permission denied (the file cannot be read)"
    assert status(report, "A01", "notes").status == "ok"


def _as_nobody(root: Path) -> dict:
    """Discovery and validate() in a forked child that dropped root's privileges."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            os.close(read_end)
            os.setgid(65534)
            os.setuid(65534)
            ds = build(root)
            report = ds.validate(workers=1)
            out = {"skipped": ds.skipped[["path", "reason"]].values.tolist(),
                   "report": report[["Subject", "Source", "status", "message"]].values.tolist()}
            os.write(write_end, json.dumps(out).encode())
            code = 0
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            os.write(write_end, json.dumps({"error": repr(exc)}).encode())
        finally:
            os._exit(code)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    os.waitpid(pid, 0)
    return json.loads(b"".join(chunks) or b"{}")


@pytest.mark.skipif(not hasattr(os, "fork") or os.getuid() != 0,
                    reason="needs root to become another user")
def test_unreadable_for_real_as_another_user():
    """chmod 000 really refuses a user who is not root: discovery as 'nobody'."""
    root = Path(tempfile.mkdtemp(prefix="datakit-perm-"))
    try:
        write(root, f"{session_dir('A01')}/{stem('A01')}_notes.txt", NOTES_TXT)
        locked = write(root, f"{session_dir('B02')}/{stem('B02')}_notes.txt", NOTES_TXT).parent
        secret = write(root, f"{session_dir('A01')}/{stem('A01')}_configuration.csv", CONFIG_CSV)
        for path in [root, *root.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        locked.chmod(0)
        secret.chmod(0)
        out = _as_nobody(root)
        assert "error" not in out, out
        assert [str(locked), "cannot read folder: Permission denied"] in out["skipped"]
        assert ["A01", "session_config", "error",
                f"{secret}: permission denied (the file cannot be read)"] in out["report"]
        assert ["A01", "notes", "ok"] in [row[:3] for row in out["report"]]
    finally:
        locked.chmod(0o755)
        shutil.rmtree(root, ignore_errors=True)


def test_files_where_folders_are_expected(tmp_path):
    write(tmp_path, "data", "a file called data")
    os.symlink(tmp_path / "missing", tmp_path / "processed")
    other = tmp_path / "second"
    write(other, f"{session_dir('A01')}/beh", "a file called beh")
    inner = write(other, f"{session_dir('A01')}/{stem('A01')}_notes.txt/{stem('A01')}_notes.txt",
                  NOTES_TXT)
    with pytest.warns(UserWarning, match="no recordings found"):
        ds, _ = checked(tmp_path)
    assert reason_for(ds, tmp_path / "data") == "'data' is a file, expected a folder"
    assert reason_for(ds, tmp_path / "processed") == "dangling symlink where a folder was expected"
    assert len(ds) == 0
    ds, report = checked(other)
    assert ds.inventory.loc[("A01", "ses-01", "task-widefield"), "notes"] == str(inner)
    assert list(report.status) == ["ok"]


LONG = "deeper" + "x" * 244


def test_very_deep_trees(tmp_path):
    deep = tmp_path / "data" / "sub-D01" / "ses-01" / Path(*["d"] * 400)
    write(deep, f"{stem('D01')}_notes.txt", NOTES_TXT)
    # deeper than PATH_MAX: built folder by folder through directory descriptors
    top = tmp_path / "data" / "sub-E02" / "ses-01"
    top.mkdir(parents=True)
    fd = os.open(top, os.O_RDONLY)
    try:
        for _ in range(20):  # 20 names of 250 bytes: past PATH_MAX (4096), few levels
            os.mkdir(LONG, dir_fd=fd)
            nxt = os.open(LONG, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = nxt
        leaf = os.open(f"{stem('E02')}_notes.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(leaf, NOTES_TXT.encode())
        os.close(leaf)
    finally:
        os.close(fd)
    ds, report = checked(tmp_path)
    assert ("D01", "ses-01", "task-widefield") in ds.inventory.index
    too_long = ds.skipped[ds.skipped.reason.str.contains("File name too long")]
    assert len(too_long) == 1 and too_long.path.iloc[0].endswith(LONG)
    assert list(report.status) == ["ok"]


def test_one_file_matching_many_tags_and_empty_session_folders(tmp_path):
    write(tmp_path, f"{session_dir('A01')}/beh/{stem('A01')}_dataqueue.csv", tiny_dataqueue())
    for i in range(50):
        (tmp_path / "data" / f"sub-Z{i:02d}" / "ses-01" / "beh").mkdir(parents=True)
    ds, report = checked(tmp_path)
    assert set(ds.inventory.columns) == {"dataqueue", "treadmill"}
    assert list(report.status) == ["ok", "ok"]
    assert stat.S_ISDIR(os.stat(tmp_path / "data" / "sub-Z00").st_mode)
