"""Discovery: one walk per root, identities from tokens, skips recorded, conflicts resolved."""
from __future__ import annotations

import os
import warnings

import pandas as pd
import pytest

import datakit
from datakit.discovery import walk
from datakit.naming import glob_to_regex, identity_from_path
from datakit.sources.registry import registered_sources
from util import (CONFIG_CSV, NOTES_TXT, TREADMILL_CSV, session_dir, stem, tiny_dataqueue,
                  write)


def build(root, **kwargs) -> datakit.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datakit.ConflictWarning)
        return datakit.Dataset.from_directory(root, **kwargs)


@pytest.mark.parametrize("rel, expected", [
    ("data/sub-A01/ses-02/x_sub-A01_ses-02_task-wf_notes.txt", ("A01", "ses-02", "task-wf")),
    # the folder's token beats the file name's (leftmost wins)
    ("data/sub-X/ses-01/y_sub-Y_ses-09_task-t_notes.txt", ("X", "ses-01", "task-t")),
    # labels stop at the first non-alphanumeric character
    ("data/sub-AB_07/ses-1/f_task-go-left_notes.txt", ("AB", "ses-1", "task-go")),
    # a token glued to a preceding letter is not a token
    ("data/sub-A/ses-1/multitask-x_notes.txt", ("A", "ses-1", "task-session")),
    ("data/sub-A/subprocesses-01/f_notes.txt", ("A", None, "task-session")),
    # keys are case-insensitive, labels keep their case
    ("data/SUB-Mx/SES-03/f_TASK-Run_notes.txt", ("Mx", "ses-03", "task-Run")),
])
def test_identity_from_path(rel, expected):
    assert identity_from_path(rel) == expected


def test_glob_to_regex_double_star_matches_zero_or_more_folders():
    import re

    rx = re.compile(glob_to_regex("**/*_suite2p/**/F.npy"))
    assert rx.fullmatch("s_suite2p/F.npy")
    assert rx.fullmatch("a/b/s_suite2p/plane0/F.npy")
    assert not rx.fullmatch("a/s_suite2p/plane0/Fneu.npy")
    assert not rx.fullmatch("a/s_suite3p/plane0/F.npy")


def test_only_data_and_processed_are_scanned(tmp_path):
    s = stem()
    write(tmp_path, f"{session_dir()}/{s}_notes.txt", NOTES_TXT)
    write(tmp_path, f"other/{session_dir()}/{s}_configuration.csv", CONFIG_CSV)
    write(tmp_path, f"{s}_configuration.csv", CONFIG_CSV)
    write(tmp_path, f"processed/means/{s}_mesoscope.ome_meso-mean-trace.csv", "Slice,Mean\n0,1\n1,2\n")
    ds = build(tmp_path)
    assert list(ds.inventory.columns) == ["meso_mean", "notes"]
    assert ds.inventory.index.tolist() == [("A01", "ses-01", "task-widefield")]
    assert ds.roots == (tmp_path.resolve(),)


def test_unplaceable_file_is_skipped_and_recorded_not_fatal(tmp_path):
    write(tmp_path, f"{session_dir()}/{stem()}_notes.txt", NOTES_TXT)
    bad = write(tmp_path, "data/sub-B02/20250706_161035_sub-B02_task-x_notes.txt", NOTES_TXT)
    ds = build(tmp_path)
    assert len(ds) == 1
    skipped = ds.skipped
    assert skipped["path"].tolist() == [str(bad)]
    assert "ses-" in skipped["reason"].iloc[0]
    assert skipped["root"].iloc[0] == str(tmp_path.resolve())


def test_inventory_columns_are_tags_with_files_and_values_absolute_paths(tmp_path):
    a = write(tmp_path, f"{session_dir('A01')}/{stem('A01')}_notes.txt", NOTES_TXT)
    write(tmp_path, f"{session_dir('B02')}/{stem('B02')}_configuration.csv", CONFIG_CSV)
    inv = build(tmp_path).inventory
    assert list(inv.columns) == ["notes", "session_config"]
    assert inv.index.names == ["Subject", "Session", "Task"]
    assert inv.loc[("A01", "ses-01", "task-widefield"), "notes"] == str(a)
    assert pd.isna(inv.loc[("A01", "ses-01", "task-widefield"), "session_config"])
    assert inv.index.is_monotonic_increasing


def test_treadmill_claims_dataqueue_only_with_encoder_packets(tmp_path):
    write(tmp_path, f"{session_dir('A01')}/beh/{stem('A01')}_dataqueue.csv", tiny_dataqueue(encoder=True))
    write(tmp_path, f"{session_dir('B02')}/beh/{stem('B02')}_dataqueue.csv", tiny_dataqueue(encoder=False))
    inv = build(tmp_path).inventory
    assert inv["dataqueue"].notna().all()
    assert inv.loc[("A01", "ses-01", "task-widefield"), "treadmill"].endswith("_dataqueue.csv")
    assert pd.isna(inv.loc[("B02", "ses-01", "task-widefield"), "treadmill"])


def test_treadmill_csv_used_when_dataqueue_has_no_encoder(tmp_path):
    write(tmp_path, f"{session_dir()}/beh/{stem()}_dataqueue.csv", tiny_dataqueue(encoder=False))
    csv = write(tmp_path, f"{session_dir()}/beh/{stem()}_treadmill.csv", TREADMILL_CSV)
    ds = build(tmp_path)
    assert ds.inventory["treadmill"].iloc[0] == str(csv)
    assert ds.conflicts.empty


def test_conflict_rule_is_deterministic_and_recorded(tmp_path):
    older = write(tmp_path, f"{session_dir()}/{stem(stamp='20250101_100000')}_notes.txt", NOTES_TXT)
    newer = write(tmp_path, f"{session_dir()}/{stem(stamp='20250102_100000')}_notes.txt", NOTES_TXT)
    with pytest.warns(datakit.ConflictWarning):
        ds = datakit.Dataset.from_directory(tmp_path)
    assert ds.inventory["notes"].iloc[0] == str(newer)
    conflicts = ds.conflicts
    assert conflicts[["kept", "dropped"]].values.tolist() == [[str(newer), str(older)]]
    assert conflicts["reason"].iloc[0] == "latest file name wins"
    assert list(conflicts.columns) == ["Subject", "Session", "Task", "Source", "kept", "dropped", "reason"]


def test_prefer_processed_actually_decides(tmp_path):
    raw = write(tmp_path, f"{session_dir()}/{stem()}_meso-mean-trace.csv", "Slice,Mean\n0,1\n1,2\n")
    proc = write(tmp_path, f"processed/means/{stem()}_meso-mean-trace.csv", "Slice,Mean\n0,1\n1,2\n")
    assert build(tmp_path, prefer_processed=True).inventory["meso_mean"].iloc[0] == str(proc)
    ds = build(tmp_path, prefer_processed=False)
    assert ds.inventory["meso_mean"].iloc[0] == str(raw)
    assert ds.conflicts["reason"].iloc[0].startswith("data/ preferred")


def test_include_task_level_false_collapses_tasks_and_says_so(tmp_path):
    write(tmp_path, f"{session_dir()}/{stem(task='aaa', stamp='20250101_100000')}_notes.txt", NOTES_TXT)
    b = write(tmp_path, f"{session_dir()}/{stem(task='bbb', stamp='20250101_110000')}_notes.txt", NOTES_TXT)
    ds = build(tmp_path, include_task_level=False)
    assert ds.inventory.index.names == ["Subject", "Session"]
    assert ds.inventory["notes"].tolist() == [str(b)]
    assert "tasks collapsed" in ds.conflicts["reason"].iloc[0]
    assert not ds.has_task_level


def test_several_roots_merge_and_a_repeated_root_is_used_once(tmp_path):
    r1, r2 = tmp_path / "r1", tmp_path / "r2"
    a = write(r1, f"{session_dir('A01')}/{stem('A01')}_notes.txt", NOTES_TXT)
    write(r2, f"{session_dir('A01')}/{stem('A01')}_notes.txt", NOTES_TXT)
    write(r2, f"{session_dir('B02')}/{stem('B02')}_configuration.csv", CONFIG_CSV)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = datakit.Dataset.from_directory([r1, r2, r1])
    assert any("given twice" in str(w.message) for w in caught)
    assert ds.roots == (r1.resolve(), r2.resolve())
    assert len(ds) == 2 and ds.inventory.index.is_unique
    assert ds.inventory.loc[("A01", "ses-01", "task-widefield"), "notes"] == str(a)
    assert ds.conflicts["reason"].tolist() == ["an earlier root wins"]


def test_missing_root_and_empty_root(tmp_path):
    with pytest.raises(FileNotFoundError):
        datakit.Dataset.from_directory(tmp_path / "nope")
    with pytest.raises(ValueError):
        datakit.Dataset.from_directory([])
    with pytest.warns(UserWarning, match="no recordings found"):
        ds = datakit.Dataset.from_directory(tmp_path)
    assert len(ds) == 0 and ds.inventory.index.names == ["Subject", "Session", "Task"]


def test_strange_entries_never_abort_discovery(tmp_path):
    s = stem()
    good = write(tmp_path, f"{session_dir()}/{s}_notes.txt", NOTES_TXT)
    # dangling symlink with a matching name: kept, so validate can report it
    dangling = tmp_path / session_dir() / f"{s}_configuration.csv"
    os.symlink(tmp_path / "gone.csv", dangling)
    # symlink loop back to a parent folder
    os.symlink(tmp_path / "data", tmp_path / session_dir() / "loop")
    # a non-UTF-8 file name
    weird = os.fsencode(tmp_path / session_dir()) + b"/20250706_sub-A01_ses-01_task-x\xff_notes.txt"
    with open(weird, "wb") as fh:
        fh.write(NOTES_TXT.encode())
    # a file where the processed/ folder should be
    write(tmp_path, "processed", "not a folder")
    # a very deep tree
    deep = tmp_path / "data" / "sub-D04" / "ses-01" / "/".join(f"d{i}" for i in range(60))
    write(deep, f"{stem('D04')}_notes.txt", NOTES_TXT)
    ds = build(tmp_path)
    inv = ds.inventory
    assert inv.loc[("A01", "ses-01", "task-widefield"), "notes"] == str(good)
    assert inv.loc[("A01", "ses-01", "task-widefield"), "session_config"] == str(dangling)
    assert ("A01", "ses-01", "task-x") in inv.index
    assert ("D04", "ses-01", "task-widefield") in inv.index
    reasons = " | ".join(ds.skipped["reason"])
    assert "symlink loop" in reasons and "is a file" in reasons
    report = ds.validate(workers=1)
    row = report[(report.Source == "session_config") & (report.Subject == "A01")
                 & (report.Task == "task-widefield")].iloc[0]
    assert row.status == "error" and "dangling symlink" in row.message


def test_unreadable_folder_is_recorded(tmp_path, monkeypatch):
    write(tmp_path, f"{session_dir('A01')}/{stem('A01')}_notes.txt", NOTES_TXT)
    locked = tmp_path / session_dir("B02")
    write(tmp_path, f"{session_dir('B02')}/{stem('B02')}_notes.txt", NOTES_TXT)
    real_scandir = os.scandir

    def scandir(path):
        if os.fspath(path) == str(locked):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    ds = build(tmp_path)
    assert [k[0] for k in ds.inventory.index] == ["A01"]
    assert "Permission denied" in ds.skipped["reason"].iloc[0]


def test_walk_reports_progress_and_cancels(tmp_path):
    for i in range(5):
        write(tmp_path, f"{session_dir(f'S{i}')}/{stem(f'S{i}')}_notes.txt", NOTES_TXT)
    calls = []
    walk(tmp_path, registered_sources(), progress=lambda d, t, m: calls.append((d, t)))
    assert calls and calls[-1][0] == len(calls) and all(t == 0 for _, t in calls)

    class Set:
        def is_set(self):
            return True

    with pytest.raises(datakit.Cancelled):
        walk(tmp_path, registered_sources(), cancel=Set())


def test_the_dataqueue_look_finds_packets_past_its_first_read(tmp_path):
    from datakit.sources.treadmill import dataqueue_has_encoder_packets as look
    header = b"queue_elapsed,packet_ts,device_ts,device_id,payload\n"
    filler = b"1.0,2025-01-01 10:00:00,1,nidaq,1\n" * 4000          # ~140 KB
    packet = b"2.0,2025-01-01 10:00:01,2,encoder,EncoderData(timestamp=1, distance=0.1 mm, speed=0.2 mm/s)\n"
    cases = {"late": header + filler + packet, "none": header + filler, "empty": b"",
             "fanned": b"queue_elapsed,packet_ts,device_ts,device_id,payload,distance_mm,speed_mm\n"}
    for name, body in cases.items():
        (tmp_path / name).write_bytes(body)
    # a packet split across two reads is still seen
    prefix = packet[:packet.index(b"EncoderData(")]
    split = header + b"x" * (2**16 - 5 - len(header) - len(prefix)) + packet
    assert split.index(b"EncoderData(") == 2**16 - 5
    (tmp_path / "split").write_bytes(split)
    assert look(tmp_path / "late") and look(tmp_path / "fanned") and look(tmp_path / "split")
    assert not look(tmp_path / "none") and not look(tmp_path / "empty")
    assert not look(tmp_path / "late", limit=2**16)          # gives up at the limit
    assert not look(tmp_path / "absent") and not look(tmp_path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_the_dataqueue_look_never_blocks_on_a_fifo(tmp_path):
    from datakit.sources.treadmill import dataqueue_has_encoder_packets as look
    fifo = tmp_path / "x_dataqueue.csv"
    os.mkfifo(fifo)
    assert look(fifo) is False


def test_a_declining_source_is_asked_about_each_candidate_until_one_is_its_own():
    """claims() is asked about a cell's preferred file, then, only for a cell whose file
    was declined, about its next one; a cell with an accepted file is not asked again."""
    from datakit.inventory import build_inventory
    from datakit.sources.base import DataSource

    asked = []

    class Picky(DataSource):
        tag = "picky"
        patterns = ("*_a.bin", "*_b.bin", "*_c.bin")

        @classmethod
        def claims(cls, path):
            asked.append(os.path.basename(path))
            return "no" not in path

    def row(subject, name, priority):
        return ["picky", f"/r/data/{name}", "data", subject, "ses-1", "task-t", priority, "/r", name]

    files = pd.DataFrame([row("A", "A_no_a.bin", 0), row("A", "A_no_b.bin", 1), row("A", "A_c.bin", 2),
                          row("B", "B_a.bin", 0), row("B", "B_b.bin", 1), row("C", "C_no_a.bin", 0)],
                         columns=["tag", "path", "origin", "subject", "session", "task", "priority", "root",
                                  "name"], dtype=object).assign(root_rank=0)
    files["priority"] = files["priority"].astype("int64")
    inventory, conflicts = build_inventory(files, {"picky": Picky})
    assert sorted(asked) == ["A_c.bin", "A_no_a.bin", "A_no_b.bin", "B_a.bin", "C_no_a.bin"]   # once each
    assert inventory["picky"].tolist() == ["/r/data/A_c.bin", "/r/data/B_a.bin"]
    assert conflicts["dropped"].tolist() == ["/r/data/B_b.bin"]


def test_discovery_leaves_the_garbage_collector_as_it_found_it(tmp_path):
    """Discovery pauses the collector while it runs; on, off or cancelled, it is left as it was."""
    import gc

    write(tmp_path, f"{session_dir()}/{stem()}_notes.txt", NOTES_TXT)

    class Set:
        def is_set(self):
            return True

    assert gc.isenabled()
    build(tmp_path, cache=False)
    assert gc.isenabled()
    with pytest.raises(datakit.Cancelled):
        build(tmp_path, cache=False, cancel=Set())
    assert gc.isenabled()
    gc.disable()
    try:
        build(tmp_path, cache=False)
        assert not gc.isenabled()
    finally:
        gc.enable()
