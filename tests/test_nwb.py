"""NWB export (issue 13): names, contents equal to the materialized frame, nwbinspector,
the report, and the bad inputs a tired user feeds it."""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pynwb = pytest.importorskip("pynwb")
nwbinspector = pytest.importorskip("nwbinspector")

import datakit  # noqa: E402
from datakit import demo  # noqa: E402
from datakit.nwb import file_name  # noqa: E402

from util import session_dir, stem, write  # noqa: E402

IMPORTANT = {"CRITICAL", "BEST_PRACTICE_VIOLATION"}
WIDE = ("STREHAB07", "ses-01", "task-widefield")
GRATINGS = ("STREHAB07", "ses-01", "task-gratings")


def important(path) -> list:
    return [(m.importance.name, m.check_function_name, m.object_name, m.message)
            for m in nwbinspector.inspect_nwbfile(nwbfile_path=str(path))
            if m.importance.name in IMPORTANT]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A 20-s demo (5 cells: widefield, gratings with suite2p, movies; one broken pupil
    sidecar), one movie beside a camera sidecar, exported with two worker processes."""
    root = tmp_path_factory.mktemp("nwb-demo")
    exp = demo.generate(root, subjects=2, sessions=1, duration=20)
    sidecar = Path(exp.cells[WIDE].paths["meso_metadata"])
    movie = sidecar.with_name(sidecar.name[: -len("_frame_metadata.json")])
    movie.write_bytes(b"stand-in for the OME-TIFF movie")
    ds = datakit.Dataset.from_directory(root, cache=False)
    out = tmp_path_factory.mktemp("nwb-out") / "share"       # missing: to_nwb creates it
    paths, report = ds.to_nwb(out, workers=2)
    frame = ds.materialize(strict=False, workers=1)
    return {"root": root, "exp": exp, "ds": ds, "out": out, "paths": paths, "report": report,
            "frame": frame, "movie": movie}


def read(path):
    io = pynwb.NWBHDF5IO(str(path), "r")
    return io, io.read()


def cell_file(exported, key) -> Path:
    for path in exported["paths"]:
        if path.name.startswith(f"sub-{key[0]}_{key[1]}_{key[2]}_"):
            return path
    raise AssertionError(f"no file for {key}")


# ---------------------------------------------------------------------------------
# names, files, the inspector


def test_one_dandi_named_file_per_cell(exported):
    names = sorted(str(p.relative_to(exported["out"])) for p in exported["paths"])
    assert names == [
        "sub-STREHAB07/sub-STREHAB07_ses-01_task-gratings_behavior+ophys.nwb",
        "sub-STREHAB07/sub-STREHAB07_ses-01_task-movies_behavior.nwb",
        "sub-STREHAB07/sub-STREHAB07_ses-01_task-widefield_behavior+image+ophys.nwb",
        "sub-STREHAB08/sub-STREHAB08_ses-01_task-gratings_behavior.nwb",      # suite2p not run
        "sub-STREHAB08/sub-STREHAB08_ses-01_task-widefield_behavior+ophys.nwb",
    ]
    every = sorted(p.name for p in exported["out"].rglob("*") if p.is_file())
    assert every == sorted(p.name for p in exported["paths"])       # no temporary file left
    assert (exported["report"]["status"] != "skipped").all()


def test_file_name_rules():
    assert file_name(("S1", "ses-02", "task-gratings"), ["behavior", "ophys"]) == \
        "sub-S1/sub-S1_ses-02_task-gratings_behavior+ophys.nwb"
    assert file_name(("S1", "ses-02"), []) == "sub-S1/sub-S1_ses-02.nwb"
    assert file_name(("S_1", "ses-0.2", "task-a b"), ["behavior"]) == "sub-S1/sub-S1_ses-02_task-ab_behavior.nwb"


def test_nwbinspector_finds_nothing_important(exported):
    for path in exported["paths"]:
        assert important(path) == [], path


# ---------------------------------------------------------------------------------
# every exported series equals the materialized frame


def _get(nwbfile, path: str):
    parts = path.split("/")
    if parts[0] == "acquisition":
        return nwbfile.acquisition[parts[1]]
    assert parts[0] == "processing", path
    obj = nwbfile.processing[parts[1]]
    for part in parts[2:]:
        obj = obj[part]
    return obj


def _times(series) -> np.ndarray:
    if series.timestamps is not None:
        return np.asarray(series.timestamps[:])
    return series.starting_time + np.arange(series.data.shape[0]) / series.rate


def _close(written, expected, what) -> None:
    written, expected = np.asarray(written), np.asarray(expected)
    assert written.shape == expected.shape, what
    if expected.dtype.kind in "fc" or written.dtype.kind in "fc":
        np.testing.assert_allclose(written.astype(np.float64), expected.astype(np.float64),
                                   rtol=1e-6, atol=1e-6, equal_nan=True, err_msg=what)
    else:
        np.testing.assert_array_equal(written, expected, err_msg=what)


def _texts(values) -> list:
    return ["" if v is None else str(v) for v in values]


def _check_row(nwbfile, row, frame_row) -> bool:
    """Compare one exported report row with the frame; False when the row names no data."""
    source, feature, where = row["Source"], row["Feature"], row["nwb"]
    value = frame_row[(source, feature)]
    t = frame_row[(source, "time_elapsed_s")] if (source, "time_elapsed_s") in frame_row.index else None
    what = f"{source}/{feature} -> {where}"
    if where.startswith("description of") or where.startswith("the names of") or where == "notes" \
            or where.startswith("notes (") or where.startswith("description of imaging plane"):
        return False
    if source == "dataqueue" and feature == "payload":
        ids = np.asarray(_texts(frame_row[(source, "device_id")]), dtype=object)
        for path in where.split(", "):
            series = _get(nwbfile, path)
            rows = ids == path.split("/")[-1][len("dataqueue_"):]
            _close(series.data[:], value[rows], what)
            _close(_times(series), t[rows], what + " (times)")
        return True
    if where.startswith("timestamps of "):
        target = where[len("timestamps of "):]
        if target.startswith("the dataqueue"):
            return False      # checked with the payload, device by device
        _close(_times(_get(nwbfile, target)), value, what)
        return True
    match = re.match(r"^(trials|epochs|intervals/(\w+)) (start_time|stop_time|column (.+))$", where)
    if match:
        table = nwbfile.trials if match.group(1) == "trials" else nwbfile.epochs \
            if match.group(1) == "epochs" else nwbfile.intervals[match.group(2)]
        column = match.group(3) if match.group(4) is None else match.group(4)
        data = table[column].data[:]
        if value.dtype == object:
            assert list(data) == _texts(value), what
        else:
            _close(data, value, what)
        return True
    match = re.match(r"^events/(\w+) (annotation|timestamp)", where)
    if match:
        table = nwbfile.events[match.group(1)]
        if match.group(2) == "annotation":
            assert list(table["annotation"].data[:]) == _texts(value), what
        else:
            _close(table["timestamp"].data[:], value, what)
        return True
    if where.startswith("events/"):
        table = nwbfile.events[where.split("/")[1]]
        assert list(table["annotation"].data[:]) == _texts(value), what
        _close(table["timestamp"].data[:], t, what)
        return True
    match = re.match(r"^(processing/misc/\w+) \(row '(.+)'\)$", where)
    if match:
        table = _get(nwbfile, match.group(1)).to_dataframe().set_index("parameter")
        text = table.loc[match.group(2), "value"]
        expected = "" if value is None else ("true" if value is True else "false" if value is False
                                             else repr(value) if isinstance(value, (int, float)) else str(value))
        assert text == expected, what
        return True
    match = re.match(r"^((?:acquisition|processing)/\S+)(?: column (\d+))?$", where)
    if match:
        series = _get(nwbfile, match.group(1))
        if not hasattr(series, "data"):           # a table column named in the report
            return False
        data = series.data[:]
        if match.group(2) is not None:
            data = data[:, int(match.group(2))]
        note = row["note"] if isinstance(row["note"], str) else ""
        expected = value.T if note.startswith("transposed") else value
        _close(data, expected, what)
        _close(_times(series), t, what + " (times)")
        return True
    return False


def test_every_exported_series_equals_the_materialized_frame(exported):
    report, frame = exported["report"], exported["frame"]
    checked = 0
    for path in exported["paths"]:
        rows = report[(report["file"] == str(path)) & (report["status"] == "exported")]
        key = tuple(rows.iloc[0][["Subject", "Session", "Task"]])
        frame_row = frame.loc[key]
        io, nwbfile = read(path)
        try:
            for _, row in rows.iterrows():
                checked += _check_row(nwbfile, row, frame_row)
        finally:
            io.close()
    # every exported time series, trial column, note and parameter went through a comparison
    assert checked > 300


def test_the_report_accounts_for_every_loaded_feature(exported):
    report, frame = exported["report"], exported["frame"]
    for key in frame.index:
        row = frame.loc[key]
        loaded = {(s, f) for (s, f), v in row.items() if not (isinstance(v, float) and np.isnan(v))}
        mine = report[(report["Subject"] == key[0]) & (report["Session"] == key[1])
                      & (report["Task"] == key[2]) & report["Feature"].notna()]
        listed = set(zip(mine["Source"], mine["Feature"]))
        assert loaded == listed, (key, loaded ^ listed)
        assert not mine.duplicated(["Source", "Feature"]).any(), key
    left = report[report["status"] == "left out"]
    assert left["note"].notna().all() and (left["note"].str.len() > 10).all()
    assert set(report["status"]) <= {"exported", "left out", "failed", "skipped"}


def test_a_failed_source_is_named_in_the_notes(exported):
    broken = exported["exp"].broken[0]
    key = (broken.subject, broken.session, broken.task)
    io, nwbfile = read(cell_file(exported, key))
    try:
        assert f"FAILED TO LOAD, not in this file: {broken.tag} from {broken.path}" in nwbfile.notes
        assert "pupil_camera_frames" not in nwbfile.acquisition
        assert "mesoscope_camera" in nwbfile.acquisition           # what loaded is there
    finally:
        io.close()
    failed = exported["report"][exported["report"]["status"] == "failed"]
    assert failed[["Subject", "Session", "Task", "Source"]].values.tolist() == [[*key, broken.tag]]


# ---------------------------------------------------------------------------------
# what goes where


def test_file_subject_and_devices(exported):
    experiment = json.loads((exported["root"] / "HFSA.json").read_bytes())
    frame_row = exported["frame"].loc[WIDE]
    io, nwbfile = read(cell_file(exported, WIDE))
    try:
        start = nwbfile.session_start_time
        assert start.tzinfo is not None
        assert nwbfile.timestamps_reference_time == start
        # t = 0 is the first master-camera frame: the dataqueue's wall clock of that row
        ids = np.asarray(_texts(frame_row[("dataqueue", "device_id")]))
        t = frame_row[("dataqueue", "time_elapsed_s")]
        first = np.flatnonzero(ids == "Dhyana")[np.argmin(np.abs(t[ids == "Dhyana"]))]
        wall = pd.Timestamp(frame_row[("dataqueue", "packet_ts")][first]).to_pydatetime()
        assert abs((start.replace(tzinfo=None) - wall).total_seconds() - t[first]) < 0.005
        entry = experiment["Subjects"]["STREHAB07"]
        subject = nwbfile.subject
        assert (subject.subject_id, subject.species, subject.sex, subject.genotype) == \
            ("STREHAB07", "Mus musculus", entry["sex"], entry["genotype"])
        assert subject.date_of_birth.date().isoformat() == entry["DOB"]
        days = (start.date() - dt.date.fromisoformat(entry["DOB"])).days
        assert subject.age == f"P{days}D"
        assert re.fullmatch(r"\d+(\.\d+)? g", subject.weight)
        assert nwbfile.experimenter == (experiment["Configuration"]["experimenter"],)
        assert nwbfile.protocol == experiment["Configuration"]["protocol"]
        assert set(nwbfile.devices) >= {"Dhyana", "ThorCam", "encoder", "nidaq"}   # hardware.yaml
        assert "Lx" not in nwbfile.notes and "Exported by datakit" in nwbfile.notes
        # behaviour with units
        speed = nwbfile.processing["behavior"]["treadmill"]["speed"]
        assert speed.unit == "mm/s" and nwbfile.processing["behavior"]["treadmill"]["distance"].unit == "mm"
        pupil = nwbfile.processing["behavior"]["PupilTracking"]["pupil_diameter"]
        assert pupil.unit == "mm"
        _close(pupil.data[:], frame_row[("pupil_dlc", "pupil_diameter_mm")], "pupil")
        # imaging: traces in ophys, regions with their masks
        assert {"meso_mean", "meso_dff", "DfOverF", "ImageSegmentation"} <= set(nwbfile.processing["ophys"].data_interfaces)
        regions = nwbfile.processing["ophys"]["ImageSegmentation"]["mesomap_regions"]
        mask = frame_row[("mesomap", "mask")]
        labels = regions["mask_label"].data[:]
        for i, label in enumerate(labels):
            np.testing.assert_array_equal(regions["image_mask"][i], mask == label)
        rrs = nwbfile.processing["ophys"]["DfOverF"]["mesomap"]
        assert rrs.rois.table is regions and list(regions["acronym"].data[:]) == \
            frame_row[("mesomap", "meta")]["trace_columns"]
        plane = nwbfile.imaging_planes["mesoscope"]
        assert plane.device.name == "Dhyana" and plane.location == "Isocortex"
        assert plane.excitation_lambda == 470.0 and "placeholder" in plane.description
        # epochs: one per row of timestamps.csv; notes in the notes and as events
        assert len(nwbfile.epochs) == len(frame_row[("timestamps", "device_id")])
        assert list(nwbfile.epochs["tags"][:]) == [[d] for d in frame_row[("timestamps", "device_id")]]
        for note in frame_row[("notes", "note")]:
            assert note in nwbfile.notes
        config = nwbfile.processing["misc"]["session_configuration"].to_dataframe()
        assert config.set_index("parameter").loc["duration", ["value", "type"]].tolist() == ["20", "int"]
    finally:
        io.close()


def test_cameras_link_the_movie_or_keep_only_frame_times(exported):
    frame_row = exported["frame"].loc[WIDE]
    path = cell_file(exported, WIDE)
    io, nwbfile = read(path)
    try:
        movie = nwbfile.acquisition["mesoscope_camera"]
        assert type(movie).__name__ == "ImageSeries"
        link = movie.external_file[0]
        assert not Path(link).is_absolute() and (path.parent / link).resolve() == exported["movie"].resolve()
        _close(movie.timestamps[:], frame_row[("meso_metadata", "time_elapsed_s")], "frame times")
        assert movie.device.name == "Dhyana"
    finally:
        io.close()
    # no movie beside the sidecar: frame numbers and times, no ImageSeries, no link
    io, nwbfile = read(cell_file(exported, ("STREHAB08", "ses-01", "task-widefield")))
    try:
        frames = nwbfile.acquisition["mesoscope_camera_frames"]
        assert type(frames).__name__ == "TimeSeries" and "is not beside the sidecar" in frames.description
        assert not [o for o in nwbfile.objects.values() if type(o).__name__ == "ImageSeries"]
    finally:
        io.close()


def test_trials_and_suite2p_cells(exported):
    frame_row = exported["frame"].loc[GRATINGS]
    io, nwbfile = read(cell_file(exported, GRATINGS))
    try:
        trials = nwbfile.trials
        _close(trials["start_time"].data[:], frame_row[("psychopy", "start_s")], "start")
        _close(trials["stop_time"].data[:], frame_row[("psychopy", "stop_s")], "stop")
        _close(trials["gratings_ori"].data[:], frame_row[("psychopy", "gratings_ori")], "ori")
        cells = nwbfile.processing["ophys"]["ImageSegmentation"]["suite2p_plane0"]
        stat = frame_row[("suite2p", "stat")]
        for j, roi in enumerate(frame_row[("suite2p", "cell_index")]):
            pixels = np.asarray(cells["pixel_mask"][j].tolist())
            np.testing.assert_array_equal(pixels[:, 0], stat[roi]["xpix"])
            np.testing.assert_array_equal(pixels[:, 1], stat[roi]["ypix"])
        dff = nwbfile.processing["ophys"]["DfOverF"]["deltaf_f"]
        assert dff.rois.table is cells and dff.data.shape == frame_row[("suite2p", "deltaf_f")].T.shape
        assert nwbfile.processing["ophys"]["Fluorescence"]["roi_fluorescence"].unit == "a.u."
        assert nwbfile.imaging_planes["suite2p_plane0"].imaging_rate == pytest.approx(
            frame_row[("suite2p", "ops")]["fs"])
    finally:
        io.close()


# ---------------------------------------------------------------------------------
# safe: existing files, odd folders, cancel, nothing usable


def test_existing_files_are_refused_before_anything_is_written(exported, tmp_path):
    before = {p: p.stat().st_mtime_ns for p in exported["out"].rglob("*")}
    with pytest.raises(FileExistsError, match="overwrite=True"):
        exported["ds"].to_nwb(exported["out"], workers=1)
    assert {p: p.stat().st_mtime_ns for p in exported["out"].rglob("*")} == before
    # overwrite=True replaces a file (a new identifier), in a copy of the folder
    copy = tmp_path / "copy"
    shutil.copytree(exported["out"], copy)
    one = exported["ds"].select(*GRATINGS)
    old = cell_file(exported, GRATINGS)
    io, nwbfile = read(copy / old.relative_to(exported["out"]))
    identifier = nwbfile.identifier
    io.close()
    paths, _ = one.to_nwb(copy, overwrite=True, workers=1)
    assert [p.relative_to(copy) for p in paths] == [old.relative_to(exported["out"])]
    io, nwbfile = read(paths[0])
    assert nwbfile.identifier != identifier
    io.close()


def test_an_earlier_export_under_another_name_counts_as_existing(exported, tmp_path):
    one = exported["ds"].select(*GRATINGS)
    stale = tmp_path / "sub-STREHAB07" / "sub-STREHAB07_ses-01_task-gratings_behavior.nwb"
    stale.parent.mkdir()
    stale.write_bytes(b"an export from before suite2p was run")
    with pytest.raises(FileExistsError, match=stale.name):
        one.to_nwb(tmp_path, workers=1)
    paths, _ = one.to_nwb(tmp_path, overwrite=True, workers=1)
    assert [p.name for p in (tmp_path / "sub-STREHAB07").iterdir()] == [paths[0].name]


def test_output_folder_that_is_a_file(exported, tmp_path):
    target = tmp_path / "taken"
    target.write_text("not a folder")
    with pytest.raises(NotADirectoryError, match="taken"):
        exported["ds"].to_nwb(target)
    with pytest.raises(OSError, match="cannot create the NWB output folder"):
        exported["ds"].to_nwb(target / "inside")
    assert target.read_text() == "not a folder"


@pytest.mark.skipif(not hasattr(os, "fork") or os.getuid() != 0, reason="needs root to become another user")
def test_read_only_folder_as_another_user(exported):
    """chmod 555 really refuses a user who is not root: the export, as 'nobody', in a fork."""
    base = Path(tempfile.mkdtemp(prefix="datakit-nwb-ro-"))
    try:
        shutil.copytree(exported["root"], base / "exp")
        (base / "out").mkdir()
        for path in [base, *base.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        (base / "out").chmod(0o555)
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns into pytest
            try:
                os.close(read_end)
                os.setgid(65534)
                os.setuid(65534)
                ds = datakit.Dataset.from_directory(base / "exp", cache=False)
                try:
                    ds.to_nwb(base / "out", workers=1)
                    answer = "written"
                except PermissionError as exc:
                    answer = f"refused: {exc}"
                os.write(write_end, answer.encode())
            except BaseException as exc:  # noqa: BLE001 - reported to the parent
                os.write(write_end, f"error: {exc!r}".encode())
            finally:
                os._exit(0)
        os.close(write_end)
        answer = b""
        while chunk := os.read(read_end, 65536):
            answer += chunk
        os.close(read_end)
        os.waitpid(pid, 0)
        assert answer.decode().startswith("refused:") and str(base / "out") in answer.decode(), answer
        assert list((base / "out").iterdir()) == []
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_cancel_mid_export_leaves_only_complete_files(exported, tmp_path):
    cancel = threading.Event()
    seen = []

    def progress(done, total, message):
        seen.append(message)
        if done >= 1:
            cancel.set()

    with pytest.raises(datakit.Cancelled, match="1 of 5 files written"):
        exported["ds"].to_nwb(tmp_path, workers=1, progress=progress, cancel=cancel)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) == 1 and files[0].suffix == ".nwb" and "wrote" in seen[0]
    io, nwbfile = read(files[0])
    assert nwbfile.subject.subject_id == "STREHAB07"
    io.close()


def test_a_cell_with_only_a_configuration_is_skipped(exported, tmp_path):
    config = Path(exported["exp"].cells[WIDE].paths["session_config"]).read_text()
    root = tmp_path / "exp"
    write(root, f"{session_dir('A01')}/{stem('A01')}_configuration.csv", config)
    write(root, f"{session_dir('A02')}/{stem('A02')}_configuration.csv", config)
    write(root, f"{session_dir('A02')}/beh/{stem('A02')}_wheel.csv", "not,a,wheel\n")
    ds = datakit.Dataset.from_directory(root, cache=False)
    paths, report = ds.to_nwb(tmp_path / "out", workers=1)
    assert paths == []
    skipped = report[report["status"] == "skipped"].set_index("Subject")["note"]
    assert "only session_config loaded" in skipped["A01"]
    assert "wheel failed (ValueError" in skipped["A02"]
    assert not any((tmp_path / "out").rglob("*.nwb"))


def test_timezone_can_be_given(exported, tmp_path):
    paths, _ = exported["ds"].select(*WIDE).to_nwb(tmp_path, workers=1, timezone="America/Los_Angeles")
    io, nwbfile = read(paths[0])
    try:
        assert nwbfile.session_start_time.utcoffset() == dt.timedelta(hours=-7)     # July: PDT
        assert "America/Los_Angeles (given)" in nwbfile.notes
    finally:
        io.close()


# ---------------------------------------------------------------------------------
# plugins and the lab's recordings


def test_plugin_sources_go_to_generic_series(tmp_path):
    import datakit.sources.registry as registry

    class Licks(datakit.DataSource):
        tag = "nwbtest_licks"
        patterns = ("*_licks.csv",)
        description = "test plugin"

        def load(self, path, *, context=None):
            frame = pd.read_csv(path)
            t = frame.pop("t").to_numpy(dtype=float)
            value = {"lick_V": frame["lick_V"].to_numpy(), "label": frame["label"].to_numpy(object),
                     "rig": np.array(["A"] * len(t), dtype=object),
                     "xy": np.column_stack([t, 2 * t]), "gain": 3.5}
            return self.stream(t, value, {"time_basis": "lick_clock"})

    class Rig(datakit.DataSource):
        tag = "nwbtest_rig"
        patterns = ("*_rig.csv",)
        kind = "table"

        def load(self, path, *, context=None):
            return self.stream([], {"room": "B12", "temp_C": 21.5, "note": "{'a': 1}"}, {})

    datakit.register_source(Licks)
    datakit.register_source(Rig)
    try:
        write(tmp_path, f"exp/{session_dir()}/beh/{stem()}_licks.csv",
              "t,lick_V,label\n0.1,1.5,a\n0.4,0.2,b\n0.45,2.0,a\n")
        write(tmp_path, f"exp/{session_dir()}/{stem()}_rig.csv", "x\n1\n")
        ds = datakit.Dataset.from_directory(tmp_path / "exp", cache=False)
        paths, report = ds.to_nwb(tmp_path / "out", workers=1)
        row = ds.materialize(workers=1).iloc[0]
        io, nwbfile = read(paths[0])
        try:
            misc = nwbfile.processing["misc"]
            _close(misc["nwbtest_licks_lick_V"].data[:], row[("nwbtest_licks", "lick_V")], "lick")
            _close(misc["nwbtest_licks_lick_V"].timestamps[:], [0.1, 0.4, 0.45], "lick times")
            assert misc["nwbtest_licks_lick_V"].unit == "n.a." and "NOT ON THE SESSION CLOCK" in \
                misc["nwbtest_licks_lick_V"].description
            _close(misc["nwbtest_licks_xy"].data[:], row[("nwbtest_licks", "xy")], "2-D")
            assert list(nwbfile.events["nwbtest_licks_label"]["annotation"].data[:]) == ["a", "b", "a"]
            rig = misc["nwbtest_rig"].to_dataframe().set_index("parameter")
            assert rig.loc["temp_C", "value"] == "21.5" and rig.loc["note", "value"] == "('a': 1)"
            assert important(paths[0]) == []
        finally:
            io.close()
        mine = report.set_index(["Source", "Feature"])
        assert mine.loc[("nwbtest_licks", "rig"), "status"] == "exported"        # constant: described
        assert "description of" in mine.loc[("nwbtest_licks", "rig"), "nwb"]
        assert mine.loc[("nwbtest_licks", "gain"), "status"] == "left out"
        assert "not a per-sample array" in mine.loc[("nwbtest_licks", "gain"), "note"]
    finally:
        registry.unregister_source("nwbtest_licks")
        registry.unregister_source("nwbtest_rig")


def test_the_labs_sample_recording(sample_experiment1, tmp_path):
    ds = datakit.Dataset.from_directory(sample_experiment1, cache=False)
    paths, report = ds.to_nwb(tmp_path, workers=1)
    assert [p.name for p in paths] == ["sub-STREHAB07_ses-05_task-widefield_behavior.nwb"]  # meso_mean: a TimeSeries
    assert important(paths[0]) == []
    row = ds.materialize(workers=1).iloc[0]
    io, nwbfile = read(paths[0])
    try:
        # no dataqueue: zero = the Dhyana 'started' of timestamps.csv (16:10:35.613036)
        assert nwbfile.session_start_time.replace(tzinfo=None) == dt.datetime(2025, 7, 6, 16, 10, 35, 613036)
        speed = nwbfile.processing["behavior"]["treadmill"]["speed"]
        _close(speed.data[:], row[("treadmill", "speed_mm")], "speed")
        _close(speed.timestamps[:], row[("treadmill", "time_elapsed_s")], "speed times")
        assert speed.description.startswith("Treadmill speed. NOT ON THE SESSION CLOCK")
        assert "NOT ON THE SESSION CLOCK (see each series' description): treadmill (encoder_clock)" in nwbfile.notes
        assert nwbfile.subject.sex == "F" and nwbfile.subject.genotype == "aldh1l1-gcamp8s"
        assert nwbfile.subject.weight == "20.3 g"              # weighed that day (configuration.csv)
    finally:
        io.close()


# ---------------------------------------------------------------------------------
# the command line


def test_export_nwb_command(exported, tmp_path, capsys):
    from datakit.cli import main

    out = tmp_path / "cli"
    code = main(["export-nwb", str(exported["root"]), "-o", str(out), "--subject", "STREHAB08",
                 "--task", "gratings", "--report", str(tmp_path / "report.csv"), "--no-progress",
                 "--workers", "1"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "wrote 1 NWB file" in printed.out
    assert "sub-STREHAB08/sub-STREHAB08_ses-01_task-gratings_behavior.nwb" in printed.out
    report = pd.read_csv(tmp_path / "report.csv")
    assert set(report["status"]) == {"exported", "left out"} and (report["Subject"] == "STREHAB08").all()
    # again: refused before anything is written (exit 2, the hint names --overwrite)
    written = next(out.rglob("*.nwb"))
    mtime = written.stat().st_mtime_ns
    code = main(["export-nwb", str(exported["root"]), "-o", str(out), "--subject", "STREHAB08",
                 "--task", "gratings", "--no-progress"])
    assert code == 2 and "--overwrite" in capsys.readouterr().err
    assert written.stat().st_mtime_ns == mtime
    # a source that failed to load: exit 1, named on the terminal
    broken = exported["exp"].broken[0]
    code = main(["export-nwb", str(exported["root"]), "-o", str(tmp_path / "b"), "--subject",
                 broken.subject, "--task", broken.task, "--no-progress", "--workers", "1"])
    printed = capsys.readouterr()
    assert code == 1 and "1 source failed to load" in printed.out and broken.tag in printed.out
    # usage errors before any work
    assert main(["export-nwb", str(exported["root"]), "-o", str(written)]) == 2
    assert main(["export-nwb", str(exported["root"]), "-o", str(out), "--timezone", "Mars/Base"]) == 2
    assert main(["export-nwb", str(exported["root"]), "-o", str(out), "--report", "r.txt"]) == 2


def test_a_selection_without_the_clock_sources_keeps_the_master_clock(exported, tmp_path):
    one = exported["ds"].select(*WIDE).include(source=["treadmill"])
    paths, report = one.to_nwb(tmp_path, workers=1)
    assert set(report["Source"]) == {"treadmill"}                # only what was selected
    io, nwbfile = read(paths[0])
    full_io, full = read(cell_file(exported, WIDE))
    try:
        assert nwbfile.session_start_time == full.session_start_time
        assert "NOT ON THE SESSION CLOCK" not in nwbfile.notes
        assert list(nwbfile.acquisition) == [] and "epochs" not in (nwbfile.intervals or {})
        np.testing.assert_array_equal(nwbfile.processing["behavior"]["treadmill"]["speed"].data[:],
                                      full.processing["behavior"]["treadmill"]["speed"].data[:])
    finally:
        io.close()
        full_io.close()


def test_a_killed_exports_temporary_file_is_removed_and_a_folder_in_the_way_is_refused(exported, tmp_path):
    from datakit.nwb.export import _HOST

    one = exported["ds"].select(*GRATINGS)
    folder = tmp_path / "sub-STREHAB07"
    folder.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()                                            # a pid that no longer runs
    stale = folder / f".x.nwb.{_HOST}-{dead.pid}-0a1b2c3d.datakit-tmp"
    stale.write_bytes(b"half an HDF5 file")
    mine = folder / "notes-of-mine.txt"
    mine.write_text("not datakit's")
    paths, _ = one.to_nwb(tmp_path, workers=1)
    assert not stale.exists() and mine.exists() and paths[0].is_file()
    blocked = tmp_path / "blocked"
    (blocked / paths[0].relative_to(tmp_path)).mkdir(parents=True)
    with pytest.raises(IsADirectoryError, match="taken by a folder"):
        one.to_nwb(blocked, overwrite=True, workers=1)
