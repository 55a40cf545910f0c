"""datakit.demo: file formats, one consistent clock, determinism, bookkeeping, cancel."""
from __future__ import annotations

import csv
import json
import pickle
import re
import subprocess
import sys
import threading

import numpy as np
import pandas as pd
import pytest

from datakit.demo.records import DELETED_REASON

from datakit.demo import (TAGS, TASK_TAGS, VARIANTS, DemoExperiment, generate,
                          generate_file_tree, write_session)
from datakit.errors import Cancelled

DURATION = 20.0
WALL_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$")
ENCODER_RE = re.compile(r"^EncoderData\(timestamp=(\d+), distance=(-?[\d.]+) mm, "
                        r"speed=(-?[\d.]+) mm/s\)$")
FRAME_KEYS = {"format", "version", "pixel_size_um", "camera_device", "exposure_ms", "position",
              "property_values", "runner_time_ms", "mda_event", "hardware_triggered",
              "images_remaining_in_buffer", "camera_metadata"}
CAMERA_KEYS = {"Camera", "ImageNumber", "ElapsedTime-ms", "TimeReceivedByCore", "Height",
               "Width", "PixelType", "ROI-X-start", "ROI-Y-start", "Binning", "Temperature"}


@pytest.fixture(scope="module")
def exp(tmp_path_factory) -> DemoExperiment:
    return generate(tmp_path_factory.mktemp("demo"), duration=DURATION, seed=3)


def cells_of(exp, task, tag=None, variant=None):
    out = [c for c in exp.cells.values() if c.task == f"task-{task}"]
    if tag is not None:
        out = [c for c in out if tag in c.paths]
    if variant is not None:
        out = [c for c in out if variant in c.variants]
    return out


def read_queue(path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"payload": str})


def rows(queue, device):
    return queue[queue["device_id"] == device]


def all_files(root):
    return sorted(p for p in root.rglob("*") if p.is_file())


# ---------------------------------------------------------------------------------
# layout and bookkeeping


def test_layout_names_and_root_files(exp):
    root = exp.root
    assert (root / "hardware.yaml").is_file()
    protocol = json.loads((root / "HFSA.json").read_text())
    assert set(protocol["Subjects"]) == set(exp.subjects)
    assert exp.subjects == ("STREHAB07", "STREHAB08", "STREHAB09")
    assert exp.sessions == ("ses-01", "ses-02")
    stem = re.compile(r"^\d{8}_\d{6}_sub-[A-Za-z0-9]+_ses-\d\d_task-(widefield|gratings|movies)_")
    for cell in exp.cells.values():
        for tag, path in cell.paths.items():
            rel = path.relative_to(root).as_posix()
            if tag in ("suite2p",):
                assert re.search(r"^processed/suite2p/.+_suite2p/plane0/F\.npy$", rel)
                assert stem.match(path.parent.parent.name)
                continue
            assert stem.match(path.name), rel
            prefix = f"{cell.stamp}_sub-{cell.subject}_{cell.session}_{cell.task}_"
            assert path.name.startswith(prefix)
            if rel.startswith("data/"):
                assert rel.startswith(f"data/sub-{cell.subject}/{cell.session}/")
            else:
                assert rel.split("/")[1] in ("means", "mesomap", "dlc_output")


def test_disk_matches_bookkeeping(exp):
    on_disk = set(all_files(exp.root))
    assert on_disk == set(exp.files())
    assert not [p for p in on_disk if p.name.endswith(".tmp")]
    missing = {(m.subject, m.session, m.task, m.tag) for m in exp.missing}
    for key, cell in exp.cells.items():
        task = cell.task[5:]
        for tag in TASK_TAGS[task]:
            assert (tag in cell.paths) != ((*key, tag) in missing), (key, tag)
    # whole recordings left out: listed for every source, nothing on disk
    assert len(exp.missing_cells) == 2
    for subject, session, task in exp.missing_cells:
        assert not [p for p in on_disk if f"sub-{subject}_{session}_{task}_" in str(p)]
        listed = {m.tag for m in exp.missing if (m.subject, m.session, m.task) ==
                  (subject, session, task)}
        assert listed == set(TASK_TAGS[task[5:]])
    # single files left out in some cells, every source still present somewhere
    single = {m.tag for m in exp.missing if (m.subject, m.session, m.task) in exp.cells}
    assert {"pupil_metadata", "pupil_dlc", "treadmill", "suite2p"} <= single
    for tag in TAGS:
        assert exp.paths(tag), tag
    inventory = exp.expected_inventory()
    assert list(inventory.index.names) == ["Subject", "Session", "Task"]
    assert inventory.notna().sum().sum() == sum(len(c.paths) for c in exp.cells.values())


def test_exactly_one_broken_file(exp):
    assert len(exp.broken) == 1
    broken = exp.broken[0]
    assert broken.tag == "pupil_metadata"
    assert broken.path == exp.cells[(broken.subject, broken.session, broken.task)].paths[
        "pupil_metadata"]
    with pytest.raises(ValueError):
        json.loads(broken.path.read_bytes())
    assert "truncated" in broken.what
    # every other JSON sidecar is valid
    for tag in ("meso_metadata", "pupil_metadata"):
        for path in exp.paths(tag).values():
            if path != broken.path:
                json.loads(path.read_bytes())


def test_no_missing_no_broken(tmp_path):
    e = generate(tmp_path, subjects=2, sessions=2, tasks=("widefield", "movies"),
                 duration=12, missing=False, broken=False)
    assert e.missing == [] and e.broken == []
    assert len(e.cells) == 8
    for cell in e.cells.values():
        assert set(cell.paths) == set(TASK_TAGS[cell.task[5:]])


# ---------------------------------------------------------------------------------
# the dataqueue and the one clock per session


def test_dataqueue_format_and_clock(exp):
    for cell in exp.cells.values():
        path = cell.paths["dataqueue"]
        with open(path) as fh:
            assert fh.readline() == "queue_elapsed,packet_ts,device_ts,device_id,payload\n"
        q = read_queue(path)
        truth = cell.truth
        elapsed = q["queue_elapsed"].to_numpy()
        assert np.all(np.diff(elapsed) > 0)
        assert 976929 < elapsed[0] < 990000
        assert q["packet_ts"].str.match(WALL_RE).all() and q["device_ts"].str.match(WALL_RE).all()
        encoder_id = "encoder_COM3" if "encoder_COM3" in cell.variants else "encoder"
        assert set(q["device_id"]) == {"Dhyana", "ThorCam", encoder_id, "nidaq"}
        # the ground truth is the dataqueue rows' own times (zero = first Dhyana row)
        dh = rows(q, "Dhyana")
        assert dh["queue_elapsed"].iloc[0] == pytest.approx(truth.queue_zero, abs=1e-9)
        master = lambda r: r["queue_elapsed"].to_numpy() - truth.queue_zero  # noqa: E731
        np.testing.assert_allclose(master(dh), truth.dhyana_t, atol=1e-6)
        np.testing.assert_allclose(master(rows(q, "ThorCam")), truth.thorcam_t, atol=1e-6)
        np.testing.assert_allclose(master(rows(q, "nidaq")), truth.nidaq_t, atol=1e-6)
        np.testing.assert_allclose(master(rows(q, encoder_id)),
                                   truth.encoder_t[truth.encoder_in_dataqueue], atol=1e-6)
        assert truth.experiment_window == (0.0, truth.dhyana_t[-1])
        # Dhyana: duration*49 frames at ~49.72 Hz, payload = ImageNumber from 0
        assert len(dh) == round(DURATION * 49)
        rate = (dh.shape[0] - 1) / truth.dhyana_t[-1]
        assert rate == pytest.approx(49.72, rel=1e-3)
        assert (dh["payload"].astype(int).to_numpy() == np.arange(len(dh))).all()
        th = rows(q, "ThorCam")
        rate = (truth.thorcam_t.size - 1) / (truth.thorcam_t[-1] - truth.thorcam_t[0])
        assert rate == pytest.approx(20.0, rel=3e-3)
        assert (th["payload"].astype(int).to_numpy() == np.arange(len(th))).all()
        # nidaq: edge counter from 1, 2 per frame, starting ~4 s after the cameras
        ni = rows(q, "nidaq")
        assert (ni["payload"].astype(int).to_numpy() == np.arange(1, len(ni) + 1)).all()
        assert len(ni) % 2 == 0
        # a frame reaches the queue about one period after the pulse of its exposure
        assert len(ni) // 2 == (truth.dhyana_t > truth.nidaq_t[0] + 0.01).sum()
        assert 3.5 < truth.nidaq_t[0] < 4.5
        # packet_ts is the push instant on the wall clock: queue_elapsed is 0-2 ms later
        lag = master(q) - truth.master_from_wall(q["packet_ts"])
        assert lag.min() > -1e-4 and np.median(lag) < 2.5e-3
        # device_ts of the cameras is TimeReceivedByCore, just before the push
        early = truth.master_from_wall(dh["packet_ts"]) - truth.master_from_wall(dh["device_ts"])
        assert 0 < early.min() and early.max() < 1e-3


def test_timestamps_and_notes_on_the_same_clock(exp):
    for cell in exp.cells.values():
        truth = cell.truth
        if "timestamps" in cell.paths:
            ts = pd.read_csv(cell.paths["timestamps"])
            assert list(ts.columns) == ["device_id", "started", "stopped"]
            encoder_id = "encoder_COM3" if "encoder_COM3" in cell.variants else "encoder"
            assert list(ts["device_id"]) == ["HFSA", "Dhyana", "ThorCam", encoder_id, "nidaq"]
            starts = truth.master_from_wall(ts["started"])
            stops = truth.master_from_wall(ts["stopped"])
            for device, start, stop in zip(ts["device_id"], starts, stops):
                assert start == pytest.approx(truth.device_windows[device][0], abs=2e-6)
                assert stop == pytest.approx(truth.device_windows[device][1], abs=2e-6)
            lo, hi = truth.device_windows["Dhyana"]
            assert lo < truth.dhyana_t[0] and truth.dhyana_t[-1] < hi
            assert truth.device_windows["nidaq"][0] - lo > 3.5
        if "notes" in cell.paths:
            text = cell.paths["notes"].read_text()
            assert not text.endswith("\n")
            lines = text.split("\n")
            assert len(lines) == len(truth.note_text) >= 1
            stamps = []
            for line, note in zip(lines, truth.note_text):
                m = re.match(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}): (.+)$", line)
                assert m and m.group(2) == note
                stamps.append(m.group(1))
            np.testing.assert_allclose(truth.master_from_wall(stamps), truth.note_t, atol=1e-5)
            assert (truth.note_t > -2).all() and (truth.note_t < truth.dhyana_t[-1] + 2).all()


def test_configuration(exp):
    for cell in exp.cells.values():
        if "session_config" not in cell.paths:
            continue
        with open(cell.paths["session_config"], newline="") as fh:
            table = list(csv.reader(fh))
        assert table[0] == ["Parameter", "Value"]
        params = [r[0] for r in table[1:]]
        assert params == ["subject", "session", "task", "start_on_trigger", "duration",
                          "trial_duration", "psychopy_filename", "experiment_id",
                          "experimentor", "experimenter", "protocol", "experiment_directory",
                          "hardware_config_file", "database_path", "protocol_version",
                          "led_pattern", "sex", "genotype", "DOB", "DOS", "XYZ", "weight",
                          "PT_s"]
        values = dict(r for r in table[1:])
        assert values["subject"] == cell.subject
        assert "ses-" + values["session"] == cell.session
        assert "task-" + values["task"] == cell.task
        assert values["duration"] == "20"
        assert values["led_pattern"] == "['4', '4']"
        assert re.match(r"^\[\d+\.\d\d, \d+\.\d\d, \d+\.\d\d\]$", values["XYZ"])
        raw = cell.paths["session_config"].read_text()
        assert '"[' in raw                                  # quoted values with commas


# ---------------------------------------------------------------------------------
# treadmill and wheel


def test_treadmill_matches_the_encoder_packets(exp):
    for cell in cells_of(exp, "widefield", "treadmill"):
        legacy = "legacy_treadmill_header" in cell.variants
        tread = pd.read_csv(cell.paths["treadmill"])
        assert list(tread.columns) == (["timestamp", "distance", "speed"] if legacy
                                       else ["timestamp", "distance_mm", "speed_mm"])
        q = read_queue(cell.paths["dataqueue"])
        enc = q[q["device_id"].str.startswith("encoder")]
        parsed = enc["payload"].str.extract(ENCODER_RE)
        assert parsed.notna().all().all()
        assert len(tread) == len(enc) == cell.truth.encoder_t.size
        assert (parsed[0].astype(np.int64).to_numpy() == tread.iloc[:, 0].to_numpy()).all()
        np.testing.assert_array_equal(parsed[1].astype(float), tread.iloc[:, 1])
        np.testing.assert_array_equal(parsed[2].astype(float), tread.iloc[:, 2])
        np.testing.assert_array_equal(tread.iloc[:, 1], cell.truth.encoder_distance_mm)
        ts = tread["timestamp"].to_numpy()
        wraps = np.diff(ts) < -(2**31)
        assert wraps.sum() == (1 if "encoder_wrap" in cell.variants else 0)
        unwrapped = ts + np.concatenate(([0], np.cumsum(wraps))) * 2**32
        dt = np.diff(unwrapped) * 1e-6
        assert (dt > 0).all()
        assert 0.019 < np.median(dt) < 0.026                 # ~44 Hz while moving
        assert (dt > 0.1).any()                              # idle gaps
        # the encoder's µs clock runs with the master clock (a few ppm of drift)
        t = cell.truth.encoder_t
        span = (unwrapped[-1] - unwrapped[0]) * 1e-6
        assert span == pytest.approx(t[-1] - t[0], abs=0.01)


def test_encoder_variants_present(exp):
    assert cells_of(exp, "widefield", "treadmill", "legacy_treadmill_header")
    assert cells_of(exp, "widefield", "treadmill", "encoder_wrap")
    com3 = cells_of(exp, "widefield", variant="encoder_COM3")
    assert com3
    q = read_queue(com3[0].paths["dataqueue"])
    assert "encoder_COM3" in set(q["device_id"]) and "encoder" not in set(q["device_id"])


def test_wheel(exp):
    dropped = 0
    for cell in cells_of(exp, "gratings", "wheel") + cells_of(exp, "movies", "wheel"):
        wheel = pd.read_csv(cell.paths["wheel"])
        assert list(wheel.columns) == ["Clicks", "Time", "Speed", "Started", "Stopped"]
        assert wheel["Started"].notna().sum() == 1 and pd.notna(wheel["Started"].iloc[0])
        assert wheel["Stopped"].notna().sum() == 1 and pd.notna(wheel["Stopped"].iloc[0])
        assert WALL_RE.match(wheel["Started"].iloc[0])
        assert (np.diff(wheel["Time"]) > 0).all()
        assert wheel["Clicks"].dtype.kind == "i" and (wheel["Clicks"] != 0).any()
        truth = cell.truth
        assert len(wheel) == truth.encoder_t.size
        q = read_queue(cell.paths["dataqueue"])
        enc = rows(q, "encoder")
        assert len(enc) == truth.encoder_in_dataqueue.sum()
        np.testing.assert_array_equal(enc["payload"].astype(int).to_numpy(),
                                      wheel["Clicks"].to_numpy()[truth.encoder_in_dataqueue])
        if "wheel_dropped_rows" in cell.variants:
            dropped += 1
            assert 3 <= len(wheel) - len(enc) <= 6
        else:
            assert len(wheel) == len(enc)
        assert "treadmill" not in cell.paths and "EncoderData" not in "".join(q["payload"])
    assert dropped == 1


# ---------------------------------------------------------------------------------
# camera sidecars and DeepLabCut


def test_meso_sidecar(exp):
    for cell in cells_of(exp, "widefield", "meso_metadata"):
        raw = cell.paths["meso_metadata"].read_bytes()
        data = json.loads(raw)
        assert list(data) == ["p0"]
        frames = data["p0"]
        assert len(frames) == cell.truth.dhyana_t.size
        assert 450 < len(raw) / len(frames) < 800            # ~600 bytes a frame
        assert set(frames[0]) == FRAME_KEYS
        assert set(frames[0]["camera_metadata"]) == CAMERA_KEYS
        assert [f["camera_metadata"]["ImageNumber"] for f in frames[:3]] == ["0", "1", "2"]
        q = read_queue(cell.paths["dataqueue"])
        received = [f["camera_metadata"]["TimeReceivedByCore"] for f in frames]
        assert received == rows(q, "Dhyana")["device_ts"].tolist()
        runner = np.array([f["runner_time_ms"] for f in frames]) / 1000.0
        # the sidecar's clock agrees with the master clock to the pop delay
        np.testing.assert_allclose(runner - runner[0], cell.truth.dhyana_t, atol=3e-3)
        elapsed = np.array([float(f["camera_metadata"]["ElapsedTime-ms"]) for f in frames])
        assert (np.diff(elapsed) > 0).all()


def test_pupil_sidecar_layouts(exp):
    layouts = set()
    broken = {b.path for b in exp.broken}
    for cell in cells_of(exp, "widefield", "pupil_metadata"):
        path = cell.paths["pupil_metadata"]
        if path in broken:
            continue
        data = json.loads(path.read_bytes())
        q = read_queue(cell.paths["dataqueue"])
        thor_ts = rows(q, "ThorCam")["device_ts"].tolist()
        if "opencv_pupil" in cell.variants:
            layouts.add("opencv")
            assert set(data) == {"frame_metadatas", "device", "started", "stopped", "frames"}
            assert data["device"] == "ThorCam"
            assert [f["index"] for f in data["frames"]] == list(range(len(thor_ts)))
            assert [f["device_ts"] for f in data["frames"]] == thor_ts
        else:
            layouts.add("p0")
            frames = data["p0"]
            assert set(frames[0]) == FRAME_KEYS
            assert frames[0]["camera_device"] == "ThorCam"
            assert [f["camera_metadata"]["TimeReceivedByCore"] for f in frames] == thor_ts
    assert layouts == {"opencv", "p0"}


def _diameter_mm(xy, likelihood):
    """Mean of the four landmark-pair distances with both points confident, in mm."""
    d = np.linalg.norm(xy[:, 0::2] - xy[:, 1::2], axis=-1)
    ok = (likelihood[:, 0::2] >= 0.7) & (likelihood[:, 1::2] >= 0.7)
    d[~ok] = np.nan
    counts = ok.sum(axis=1)
    total = np.where(ok, d, 0.0).sum(axis=1)
    with np.errstate(all="ignore"):
        return np.where(counts > 0, total / counts, np.nan) / 53.6


def test_dlc_h5_layouts(exp):
    levels = set()
    for cell in cells_of(exp, "widefield", "pupil_dlc"):
        path = cell.paths["pupil_dlc"]
        if path.suffix != ".h5":
            continue
        frame = pd.read_hdf(path, key="df_with_missing")
        multi = "dlc_multianimal" in cell.variants
        names = (["scorer", "individuals", "bodyparts", "coords"] if multi
                 else ["scorer", "bodyparts", "coords"])
        assert list(frame.columns.names) == names
        levels.add(frame.columns.nlevels)
        assert list(frame.columns.unique("bodyparts")) == [f"Pupil{i}" for i in range(1, 9)]
        assert list(frame.columns.unique("coords")) == ["x", "y", "likelihood"]
        truth = cell.truth
        assert len(frame) == truth.thorcam_t.size
        values = frame.to_numpy().reshape(len(frame), 8, 3)
        likelihood = values[..., 2]
        assert (likelihood[truth.pupil_blink] < 0.7).all()
        assert (likelihood < 0.7).any(axis=1).mean() > 0.05
        diameter = _diameter_mm(values[..., :2], likelihood)
        good = ~truth.pupil_blink & np.isfinite(diameter)
        assert np.median(np.abs(diameter[good] - truth.pupil_diameter_mm[good])) < 0.02
        assert 0.8 <= truth.pupil_diameter_mm.min() and truth.pupil_diameter_mm.max() <= 2.2
    assert levels == {3, 4}


def test_dlc_pickle_layout(exp):
    cells = [c for c in cells_of(exp, "widefield", "pupil_dlc")
             if c.paths["pupil_dlc"].name.endswith("_snapshot_110_full.pickle")]
    assert cells
    for cell in cells:
        with open(cell.paths["pupil_dlc"], "rb") as fh:
            data = pickle.load(fh)
        keys = list(data)
        assert keys[0] == "metadata" and isinstance(data["metadata"], dict)
        n = cell.truth.thorcam_t.size
        assert keys[1:] == [f"frame{i:04d}" for i in range(n)]
        frame = data["frame0000"]
        assert isinstance(frame["coordinates"], tuple) and len(frame["coordinates"]) == 1
        assert len(frame["coordinates"][0]) == 8 and frame["coordinates"][0][0].shape == (1, 2)
        assert len(frame["confidence"]) == 8 and frame["confidence"][0].shape == (1, 1)
        xy = np.array([data[k]["coordinates"] for k in keys[1:]])      # (n, 1, 8, 1, 2)
        assert xy.shape == (n, 1, 8, 1, 2)
        conf = np.array([data[k]["confidence"] for k in keys[1:]])[..., 0, 0]
        diameter = _diameter_mm(xy[:, 0, :, 0, :].astype(float), conf)
        good = ~cell.truth.pupil_blink & np.isfinite(diameter)
        assert np.median(np.abs(diameter[good] - cell.truth.pupil_diameter_mm[good])) < 0.02


# ---------------------------------------------------------------------------------
# processed imaging


def test_meso_traces(exp):
    for cell in cells_of(exp, "widefield", "meso_mean"):
        mean = pd.read_csv(cell.paths["meso_mean"])
        assert list(mean.columns) == ["Slice", "Mean"]
        assert (mean["Slice"].to_numpy() == np.arange(cell.truth.dhyana_t.size)).all()
        assert 7000 < mean["Mean"].min() and mean["Mean"].max() < 15000
        assert mean["Mean"].std() > 50
        if "meso_dff" in cell.paths:
            dff = pd.read_csv(cell.paths["meso_dff"])
            assert list(dff.columns) == ["Slice", "Mean"] and len(dff) == len(mean)
            assert dff["Mean"].iloc[1:].abs().max() < 0.5
    assert cells_of(exp, "widefield", "meso_dff")


def test_mesomap(exp):
    for cell in cells_of(exp, "widefield", "mesomap"):
        traces_path = cell.paths["mesomap"]
        mask_path, regions_path = cell.companions["mesomap"]
        assert mask_path.name == traces_path.name.replace(".csv", ".mask.npy")
        assert regions_path.name == traces_path.name.replace(".csv", ".regions.csv")
        traces = pd.read_csv(traces_path)
        regions = pd.read_csv(regions_path)
        mask = np.load(mask_path)
        assert traces.columns[0] == "frame" and len(traces) == cell.truth.dhyana_t.size
        assert {"VISp_L", "VISp_R", "MOs_L", "MOs_R"} <= set(traces.columns)
        assert list(regions.columns) == ["acronym", "mask_label", "name"]
        assert list(regions["acronym"]) == list(traces.columns[1:])
        assert mask.dtype == np.int32 and mask.shape == (64, 64)
        assert set(np.unique(mask)) == {0, *regions["mask_label"]}


def test_suite2p(exp):
    cells = cells_of(exp, "gratings", "suite2p")
    assert cells
    for cell in cells:
        plane = cell.paths["suite2p"].parent
        assert {p.name for p in plane.iterdir()} == {"F.npy", "Fneu.npy", "iscell.npy",
                                                    "spks.npy", "stat.npy", "ops.npy"}
        f = np.load(plane / "F.npy")
        n_frames = cell.truth.nidaq_t.size // 2
        assert f.dtype == np.float32 and f.shape[1] == n_frames
        assert n_frames == cell.truth.imaging_t.size
        n = f.shape[0]
        assert np.load(plane / "Fneu.npy").shape == (n, n_frames)
        assert np.load(plane / "spks.npy").shape == (n, n_frames)
        iscell = np.load(plane / "iscell.npy")
        assert iscell.shape == (n, 2) and set(np.unique(iscell[:, 0])) <= {0.0, 1.0}
        stat = np.load(plane / "stat.npy", allow_pickle=True)
        assert stat.shape == (n,) and {"ypix", "xpix", "lam", "med", "npix"} <= set(stat[0])
        ops = np.load(plane / "ops.npy", allow_pickle=True).item()
        assert ops["nframes"] == n_frames and ops["neucoeff"] == 0.7
        assert {"fs", "Ly", "Lx", "tau"} <= set(ops)


# ---------------------------------------------------------------------------------
# PsychoPy


@pytest.mark.parametrize("task, routine, component", [("gratings", "display_gratings",
                                                       "stim_grating"),
                                                      ("movies", "display_movie", "movie")])
def test_psychopy(exp, task, routine, component):
    for cell in cells_of(exp, task, "psychopy"):
        table = pd.read_csv(cell.paths["psychopy"])
        trial_cols = ["trials.thisRepN", "trials.thisTrialN", "trials.thisN", "trials.thisIndex"]
        needed = trial_cols + [f"{routine}.started", f"{routine}.stopped",
                               "stim_grayScreen.started", "stim_grayScreen.stopped",
                               f"{component}.started", f"{component}.stopped", "key_resp.keys",
                               "key_resp.rt", "date", "expName", "psychopyVersion",
                               "frameRate", "expStart", "participant", "session"]
        assert set(needed) <= set(table.columns)
        assert {"ori", "sf", "contrast"} <= set(table.columns) if task == "gratings" \
            else "movie_file" in table.columns
        first, trials = table.iloc[0], table.iloc[1:]
        assert first["key_resp.keys"] == "space" and first["key_resp.rt"] > 0
        assert first[trial_cols].isna().all() and pd.isna(first[f"{routine}.started"])
        assert trials["key_resp.keys"].isna().all()
        assert (trials["trials.thisN"].to_numpy() == np.arange(len(trials))).all()
        # the routine's stop is filled only on the last trial of each block
        last = trials["trials.thisTrialN"] == trials["trials.thisTrialN"].max()
        assert trials[f"{routine}.stopped"].notna().to_numpy().tolist() == last.tolist()
        assert last.sum() == trials["trials.thisRepN"].nunique() >= 2
        assert trials[f"{routine}.started"].notna().all()
        m = re.match(r"^(\d{4}-\d{2}-\d{2}) (\d{2})h(\d{2})\.(\d{2})\.(\d{6}) -0700$",
                     first["expStart"])
        assert m and (table["expStart"] == first["expStart"]).all()
        exp_start = f"{m.group(1)} {m.group(2)}:{m.group(3)}:{m.group(4)}.{m.group(5)}"
        truth = cell.truth
        # PsychoPy's clock starts at expStart; the first nidaq pulse comes a few ms later
        q = read_queue(cell.paths["dataqueue"])
        pulse = rows(q, "nidaq").iloc[0]
        pulse_wall, start_wall = truth.master_from_wall([pulse["device_ts"], exp_start])
        gap = pulse_wall - start_wall
        assert 0.001 < gap < 0.01
        zero = truth.master_from_wall([exp_start])[0]
        assert zero == pytest.approx(truth.psychopy_zero_t, abs=2e-6)
        np.testing.assert_allclose(zero + trials[f"{component}.started"], truth.trials["start_s"],
                                   atol=1e-5)
        np.testing.assert_allclose(zero + trials[f"{component}.stopped"], truth.trials["stop_s"],
                                   atol=1e-5)
        # aligning through the first nidaq pulse (dataqueue clock) is good to a few ms
        via_pulse = (pulse["queue_elapsed"] - truth.queue_zero) - gap
        np.testing.assert_allclose(via_pulse + trials[f"{component}.started"],
                                   truth.trials["start_s"], atol=4e-3)
        assert truth.keypress_t == pytest.approx(
            zero + first["key_resp.started"] + first["key_resp.rt"], abs=1e-5)
        assert truth.trials["stop_s"].iloc[-1] < truth.experiment_window[1]
        assert truth.trials["start_s"].iloc[0] > truth.nidaq_t[0]


# ---------------------------------------------------------------------------------
# write_session, determinism, progress, cancel, atomic writes


def test_write_session_kinds_and_variants(tmp_path):
    cell = write_session(tmp_path, "DEMO01", 3, "widefield", duration=12, seed=1,
                         stamp="20250801_093000", kinds=["dataqueue", "pupil_dlc"],
                         variant=["dlc_pickle", "encoder_COM3"])
    assert cell.key == ("DEMO01", "ses-03", "task-widefield")
    assert cell.stamp == "20250801_093000"
    assert set(cell.paths) == {"dataqueue", "pupil_dlc"}
    assert cell.paths["pupil_dlc"].name.endswith("_full.pickle")
    assert set(all_files(tmp_path)) == set(cell.paths.values())
    again = write_session(tmp_path / "b", "sub-DEMO01", "ses-03", "task-widefield", duration=12,
                          seed=1, stamp="20250801_093000", kinds="dataqueue",
                          variant=["dlc_pickle", "encoder_COM3"])
    assert again.paths["dataqueue"].read_bytes() == cell.paths["dataqueue"].read_bytes()
    with pytest.raises(ValueError, match="wheel"):
        write_session(tmp_path, "DEMO01", 1, "widefield", duration=12, kinds=["wheel"])
    with pytest.raises(ValueError, match="unknown variant"):
        write_session(tmp_path, "DEMO01", 1, "widefield", duration=12, variant="nope")
    with pytest.raises(ValueError):
        write_session(tmp_path, "DEMO_01", 1, "widefield", duration=12)
    with pytest.raises(ValueError):
        write_session(tmp_path, "DEMO01", 1, "rest", duration=12)
    assert set(VARIANTS) >= {"encoder_COM3", "opencv_pupil", "dlc_multianimal"}


def test_same_seed_same_bytes(tmp_path):
    kwargs = dict(subjects=["DEMO01", "DEMO02"], sessions=1, duration=12, seed=7)
    a = generate(tmp_path / "a", **kwargs)
    b = generate(tmp_path / "b", **kwargs)
    files_a, files_b = all_files(a.root), all_files(b.root)
    assert [p.relative_to(a.root) for p in files_a] == [p.relative_to(b.root) for p in files_b]
    assert any(p.suffix == ".h5" for p in files_a) and any(p.suffix == ".pickle" for p in files_a)
    for pa, pb in zip(files_a, files_b):
        assert pa.read_bytes() == pb.read_bytes(), pa.relative_to(a.root)
    c = generate(tmp_path / "c", **{**kwargs, "seed": 8})
    key = ("DEMO01", "ses-01", "task-widefield")
    assert c.cells[key].paths["dataqueue"].read_bytes() != \
        a.cells[key].paths["dataqueue"].read_bytes()


def test_progress_callable_and_bar(tmp_path, capsys):
    calls = []
    e = generate(tmp_path / "a", subjects=1, sessions=1, tasks=("gratings",), duration=10,
                 progress=lambda done, total, message: calls.append((done, total, message)))
    # one step per file written; the file deleted after manifest.json listed it counts too
    deleted = [m for m in e.missing if m.reason == DELETED_REASON]
    assert len(deleted) == 1
    total = len(e.files()) + len(deleted)
    assert calls[0][:2] == (0, total)
    assert [c[0] for c in calls] == list(range(total + 1))
    assert all(c[1] == total for c in calls) and all(isinstance(c[2], str) for c in calls)
    generate(tmp_path / "b", subjects=1, sessions=1, tasks=("movies",), duration=10,
             progress=True)
    assert "demo" in capsys.readouterr().err


def test_cancel_stops_between_files(tmp_path):
    cancel = threading.Event()

    def progress(done, total, message):
        if done == 5:
            cancel.set()

    with pytest.raises(Cancelled):
        generate(tmp_path, subjects=2, sessions=1, duration=10, progress=progress,
                 cancel=cancel)
    files = all_files(tmp_path)
    assert len(files) == 5
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    assert issubclass(Cancelled, Exception)


def test_interrupted_write_leaves_no_partial_file(tmp_path, monkeypatch):
    def failing_to_csv(self, path, *args, **kwargs):
        with open(path, "w") as fh:
            fh.write("queue_elapsed,packet_ts\n1,")        # half a file, then the crash
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_csv", failing_to_csv)
    with pytest.raises(KeyboardInterrupt):
        write_session(tmp_path, "DEMO01", 1, "widefield", duration=10, kinds=["dataqueue"])
    assert all_files(tmp_path) == []


def test_generate_file_tree(tmp_path):
    assert generate_file_tree(tmp_path, 1500, seed=1) == 1500
    files = all_files(tmp_path)
    assert len(files) == 1500
    names = [p.name for p in files]
    assert any(n.endswith("_dataqueue.csv") for n in names)
    assert any(n.endswith(".ome.tiff") for n in names) and any(n.endswith(".mp4") for n in names)
    assert any(p.name == "F.npy" and p.parent.name == "plane0" for p in files)
    assert len({p.parts[len(tmp_path.parts) + 1] for p in files
                if p.parts[len(tmp_path.parts)] == "data"}) >= 2
    assert generate_file_tree(tmp_path / "none", 0) == 0


def test_import_is_cheap_and_qt_free():
    code = ("import sys, datakit.demo; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('PySide6', 'PyQt5', 'PyQt6', 'pyqtgraph', 'qtconsole', 'datakit_gui')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
