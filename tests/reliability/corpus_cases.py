"""Source-specific cases of the corpus (the generic CSV ones are in ``corpus.py``)."""
from __future__ import annotations

import numpy as np
import pandas as pd

import mutations as m
from corpus import (CSV, EMPTY, ERROR, LOADS, SKIP, Case, all_of, dependants_fall_back,
                    dependants_on_first_row_clock, fewer_rows, meta_says, on, rows_subset_of_clean, same_as_clean, strip_identity)

BIG = dict(big=True)
WIDEFIELD_DEPENDANTS = ("treadmill", "meso_metadata", "pupil_metadata", "meso_mean", "meso_dff",
                        "mesomap", "pupil_dlc", "notes", "timestamps")


def kept(k: int, start: int = 1):
    """Clean stream rows that survive when file rows ``start, start+k, ...`` are dropped."""
    def rows(o):
        n = len(o.clean_features()["time_elapsed_s"])
        return (np.arange(n) % k) != start % k
    return rows


def prefix(o):
    n = len(o.features()["time_elapsed_s"])
    out = np.zeros(len(o.clean_features()["time_elapsed_s"]), dtype=bool)
    out[:n] = True
    return out


def nan_count(name, expected):
    def check(o):
        values = np.asarray(o.features()[name], dtype=np.float64)
        assert int(np.isnan(values).sum()) == expected(o) if callable(expected) else expected
    return check


def times_match_clean(key: str, atol: float):
    """Each loaded sample has the time the clean load gave the same sample (found by ``key``)."""
    def check(o):
        got, clean = o.features(), o.clean_features()
        pos = pd.Index(clean[key]).get_indexer(got[key])
        assert (pos >= 0).all(), "loaded samples that the clean file does not have"
        err = np.abs(got["time_elapsed_s"] - clean["time_elapsed_s"][pos])
        assert err.max() <= atol, f"max time error {err.max():.4f} s > {atol} s"
    return check


def every_source_same_as_clean(*tags, atol=1e-9):
    def check(o):
        for tag in tags:
            assert o.status(tag=tag) == "ok", (tag, o.message(tag=tag))
            same_as_clean(atol=atol)(o.of(tag))
    return check


def same_length_as_clean(o):
    assert len(o.features()["time_elapsed_s"]) == len(o.clean_features()["time_elapsed_s"])


def one_record_like_clean(o):
    got, clean = o.features(), o.clean_features()
    for name, value in got.items():
        if name == "meta":
            continue
        assert name in clean, f"parameter {name!r} is not in the clean file"
        assert value == clean[name], (name, value, clean[name])


# ---------------------------------------------------------------------------------


def dataqueue_cases() -> list[Case]:
    t, s = "dataqueue", "A01"
    dq = dict(dependants_checked=True)
    return [
        Case(t, "truncated", s, on(t, m.truncate), LOADS, check=all_of(
            fewer_rows(0.5), rows_subset_of_clean("time_elapsed_s", "queue_elapsed"),
            meta_says(n_dropped_truncated_rows=1))),
        Case(t, "clock_text", s, on(t, m.set_column, "queue_elapsed", "t+0.5s"), ERROR,
             CSV[t].clock_error, check=dependants_fall_back(), **dq),
        Case(t, "payload_text", s, on(t, m.set_column, "payload", "frame#",
                                     rows=m.device_rows("dhyana")), LOADS,
             check=all_of(same_as_clean(ignore=("payload", "payload_text")),
                          every_source_same_as_clean("meso_mean", "mesomap", atol=0.005)), **dq),
        Case(t, "million_garbage", s, on(t, m.million_garbage_csv), ERROR, CSV[t].clock_error,
             check=dependants_fall_back(), **dq, **BIG),
        Case(t, "shuffled", s, on(t, m.shuffle_rows), LOADS,
             check=all_of(meta_says(resorted=True), every_source_same_as_clean(
                 "dataqueue", "treadmill", "meso_metadata", "pupil_metadata", "meso_mean",
                 "mesomap", "pupil_dlc", "notes", "timestamps")), **dq),
        Case(t, "duplicated_rows", s, on(t, m.duplicate_rows, 5), LOADS,
             check=all_of(meta_says(n_dropped_duplicate_rows=lambda v: v > 300),
                          every_source_same_as_clean(
                              "dataqueue", "treadmill", "meso_metadata", "pupil_metadata",
                              "meso_mean", "mesomap", "pupil_dlc", "notes", "timestamps")), **dq),
        # distinct packets sharing a time: all kept (nudged apart), every dependant loads
        Case(t, "tied_times", s, on(t, m.tie_to_previous, "queue_elapsed", m.every(4)), LOADS,
             check=all_of(meta_says(n_tied_times_nudged=lambda v: v > 300),
                          same_length_as_clean)),
        Case(t, "nan_clock", s, on(t, m.set_column, "queue_elapsed", "", rows=m.every(7)), LOADS,
             check=all_of(meta_says(n_dropped_nan_time=lambda v: v > 200),
                          same_as_clean(rows=kept(7)),
                          every_source_same_as_clean("meso_mean", "mesomap", "pupil_dlc",
                                                     atol=0.005)), **dq),
        Case(t, "no_master_rows", s, on(t, m.drop_rows, m.device_rows("dhyana")), LOADS,
             check=all_of(meta_says(time_basis="dataqueue_first_row",
                                    note=lambda v: "no master-camera rows" in v),
                          dependants_on_first_row_clock(*WIDEFIELD_DEPENDANTS)), **dq),
    ]


def no_master_case(tag: str, subject: str) -> Case:
    """The dataqueue this source depends on has no master-camera rows."""
    return Case(tag, "dataqueue_no_master_rows", subject,
                on("dataqueue", m.drop_rows, m.device_rows("dhyana")), LOADS,
                check=dependants_on_first_row_clock(tag))


def treadmill_cases() -> list[Case]:
    t, s = "treadmill", "T01"
    return [
        Case(t, "truncated", s, on(t, m.truncate), LOADS, check=all_of(
            fewer_rows(0.5), same_as_clean(rows=prefix),
            meta_says(n_dropped_truncated_rows=1))),
        Case(t, "clock_text", s, on(t, m.set_column, "timestamp", "12:00:01"), ERROR,
             r"no row has a numeric timestamp"),
        Case(t, "speed_text", s, on(t, m.set_column, "speed_mm", "fast", rows=m.every(3)), LOADS,
             check=all_of(same_as_clean(ignore=("speed_mm",)), nan_count("speed_mm", lambda o: len(
                 o.clean_features()["time_elapsed_s"][1::3])))),
        Case(t, "million_garbage", s, on(t, m.million_garbage_csv), ERROR,
             r"no row has a numeric timestamp", **BIG),
        Case(t, "shuffled", s, on(t, m.shuffle_rows), LOADS,
             check=all_of(meta_says(resorted=True), same_as_clean())),
        Case(t, "duplicated_rows", s, on(t, m.duplicate_rows, 5), LOADS,
             check=all_of(meta_says(n_dropped_duplicate_time=lambda v: v > 20), same_as_clean())),
        Case(t, "nan_clock", s, on(t, m.set_column, "timestamp", "", rows=m.every(7)), LOADS,
             check=all_of(meta_says(n_dropped_nan_time=lambda v: v > 10),
                          same_as_clean(rows=kept(7)))),
        # the dataqueue route: encoder packets in the session's dataqueue
        Case(t, "dataqueue_bad_packets", "A01",
             on("dataqueue", m.set_column, "payload", "EncoderData(timestamp=??, distance=x mm)",
                rows=lambda f: m.device_rows("encoder")(f) & m.every(4)(f)), LOADS,
             check=all_of(meta_says(n_unparsed_packets=lambda v: v > 10),
                          rows_subset_of_clean("time_elapsed_s", "timestamp", "speed_mm"))),
        Case(t, "dataqueue_broken_csv_beside", "A01", on("dataqueue", m.rename_header), LOADS,
             check=meta_says(time_basis="encoder_clock", source_method="treadmill_csv_fallback",
                             note=lambda v: "dataqueue" in v), dependants_checked=True),
        no_master_case(t, "A01"),
    ]


def wheel_cases() -> list[Case]:
    t, s = "wheel", "B01"
    return [
        Case(t, "truncated", s, on(t, m.truncate), LOADS, check=all_of(
            fewer_rows(0.5), times_match_clean("time_reference_s", atol=0.03),
            meta_says(n_dropped_truncated_rows=1))),
        Case(t, "clock_text", s, on(t, m.set_column, "Time", "1.2s"), ERROR,
             CSV[t].clock_error),
        Case(t, "speed_text", s, on(t, m.set_column, "Speed", "fast", rows=m.every(3)), LOADS,
             check=all_of(same_as_clean(ignore=("speed_mm", "distance_mm")),
                          meta_says(n_missing_speed=lambda v: v > 10))),
        Case(t, "million_garbage", s, on(t, m.million_garbage_csv), ERROR, CSV[t].clock_error, **BIG),
        Case(t, "shuffled", s, on(t, m.shuffle_rows), LOADS,
             check=all_of(meta_says(resorted=True), same_as_clean())),
        Case(t, "duplicated_rows", s, on(t, m.duplicate_rows, 5), LOADS,
             check=all_of(meta_says(n_dropped_duplicate_time=lambda v: v > 20), same_as_clean())),
        Case(t, "nan_clock", s, on(t, m.set_column, "Time", "", rows=m.every(7)), LOADS,
             check=all_of(meta_says(n_dropped_nan_time=lambda v: v > 10),
                          times_match_clean("time_reference_s", atol=0.005))),
        no_master_case(t, s),
    ]


#: psychopy's lists of (start, stop) windows (compared exactly, not within a tolerance)
WINDOW_LISTS = ("gratings_gratings_windows", "gratings_gray_windows")


def psychopy_cases() -> list[Case]:
    t, s = "psychopy", "B01"
    trials = lambda f: f["trials.thisN"] != ""  # noqa: E731
    time_columns = lambda f: [c for c in f.columns  # noqa: E731
                              if c.endswith((".started", ".stopped")) or c == "thisRow.t"]

    def all_clocks_text(path):
        frame = m.read_table(path)
        for c in time_columns(frame):
            frame[c] = "soon"
        m.write_table(path, frame)

    def blank_all_clocks(path, rows):
        frame = m.read_table(path)
        pick = np.asarray(rows(frame))
        for c in time_columns(frame):
            frame.loc[pick, c] = ""
        m.write_table(path, frame)

    every4 = lambda f: trials(f) & (np.cumsum(trials(f)) % 4 == 1)  # noqa: E731
    return [
        Case(t, "truncated", s, on(t, m.truncate), LOADS, check=all_of(
            fewer_rows(0.3), rows_subset_of_clean("start_s", "stop_s", "gratings_trials.thisN"),
            meta_says(n_dropped_truncated_rows=1))),
        Case(t, "clock_text", s, on(t, all_clocks_text), ERROR, CSV[t].clock_error),
        Case(t, "ori_text", s, on(t, m.set_column, "ori", "diagonal", rows=trials), LOADS,
             check=same_as_clean(ignore=("gratings_ori",))),
        # the junk expStart is the first thing found wrong (after every trial row was read)
        Case(t, "million_garbage", s, on(t, m.million_garbage_csv), ERROR,
             r"unreadable expStart '.*' \(expected like '2025-07-06 16h12\.03\.123456 -0700'\)", **BIG),
        Case(t, "shuffled", s, on(t, m.shuffle_rows, rows=trials), LOADS,
             check=all_of(meta_says(resorted=True), same_as_clean())),
        Case(t, "duplicated_rows", s, on(t, m.duplicate_rows, 4, rows=trials), LOADS,
             check=all_of(meta_says(n_dropped_duplicate_time=lambda v: v >= 2), same_as_clean())),
        Case(t, "nan_onset", s, on(t, m.set_column, "stim_grating.started", "", rows=every4), LOADS,
             check=all_of(same_length_as_clean,
                          lambda o: (o.features()["start_source"] == "row_first_started").sum() >= 2)),
        Case(t, "nan_clock", s, on(t, blank_all_clocks, every4), LOADS,
             check=all_of(meta_says(n_dropped_nan_time=lambda v: v >= 2),
                          rows_subset_of_clean("start_s", "stop_s", "gratings_trials.thisN"))),
        Case(t, "dataqueue_no_nidaq", s, on("dataqueue", m.drop_rows, m.device_rows("nidaq")), LOADS,
             check=all_of(meta_says(time_basis="master", alignment="expStart_wall_clock"),
                          same_as_clean(atol=0.02, ignore=WINDOW_LISTS))),
        no_master_case(t, s),
    ]


def trace_cases(t: str) -> list[Case]:
    s = "A01"
    return [
        Case(t, "truncated", s, on(t, m.truncate), LOADS, check=all_of(
            fewer_rows(0.5), same_as_clean(rows=prefix), meta_says(n_dropped_truncated_rows=1))),
        Case(t, "clock_text", s, on(t, m.set_column, "Slice", "frame"), ERROR, CSV[t].clock_error),
        Case(t, "value_text", s, on(t, m.set_column, "Mean", "bright", rows=m.every(3)), LOADS,
             check=all_of(same_as_clean(ignore=("Mean", "dF_F")))),
        Case(t, "million_garbage", s, on(t, m.million_garbage_csv), ERROR, CSV[t].clock_error, **BIG),
        Case(t, "shuffled", s, on(t, m.shuffle_rows), LOADS,
             check=all_of(meta_says(resorted=True), same_as_clean())),
        Case(t, "duplicated_rows", s, on(t, m.duplicate_rows, 5), LOADS,
             check=all_of(meta_says(n_dropped_duplicate_time=lambda v: v > 20), same_as_clean())),
        Case(t, "nan_clock", s, on(t, m.set_column, "Slice", "", rows=m.every(7)), LOADS,
             check=all_of(meta_says(n_dropped_nan_time=lambda v: v > 10), same_as_clean(rows=kept(7)))),
        no_master_case(t, s),
    ]


def mesomap_cases() -> list[Case]:
    t, s = "mesomap", "A01"

    def companion(suffix, fn):
        def mutate(env):
            path = env.path(t)
            other = path.with_name(path.name[:-4] + suffix)
            fn(other)
            return other
        return mutate

    return [
        Case(t, "truncated", s, on(t, m.truncate), LOADS, check=all_of(
            fewer_rows(0.5), same_as_clean(rows=prefix), meta_says(n_dropped_truncated_rows=1))),
        Case(t, "clock_text", s, on(t, m.set_column, "frame", "f"), ERROR, CSV[t].clock_error),
        Case(t, "roi_text", s, on(t, m.set_column, "MOs_L", "dark", rows=m.every(3)), LOADS,
             check=same_as_clean(ignore=("MOs_L",))),
        Case(t, "million_garbage", s, on(t, m.million_garbage_csv), ERROR, CSV[t].clock_error, **BIG),
        Case(t, "shuffled", s, on(t, m.shuffle_rows), LOADS,
             check=all_of(meta_says(resorted=True), same_as_clean())),
        Case(t, "duplicated_rows", s, on(t, m.duplicate_rows, 5), LOADS,
             check=all_of(meta_says(n_dropped_duplicate_time=lambda v: v > 20), same_as_clean())),
        Case(t, "nan_clock", s, on(t, m.set_column, "frame", "", rows=m.every(7)), LOADS,
             check=all_of(meta_says(n_dropped_nan_time=lambda v: v > 10), same_as_clean(rows=kept(7)))),
        Case(t, "mask_random_bytes", s, companion(".mask.npy", m.random_bytes), ERROR,
             r"traces\.mask\.npy: not a \.npy file"),
        Case(t, "regions_wrong_header", s, companion(".regions.csv", m.rename_header), ERROR,
             r"traces\.regions\.csv: not a mesomap regions CSV \(acronym,mask_label,\.\.\.\): "
             r"missing column\(s\) \['acronym', 'mask_label'\]"),
        no_master_case(t, s),
    ]


def session_config_cases() -> list[Case]:
    t, s = "session_config", "A01"
    return [
        Case(t, "truncated", s, on(t, m.truncate), LOADS, check=all_of(
            one_record_like_clean, meta_says(n_dropped_truncated_rows=1))),
        Case(t, "million_garbage", s, on(t, m.million_garbage_csv), ERROR,
             r"not a configuration CSV: 1000000 parameters; a configuration has at most \d+", **BIG),
        Case(t, "shuffled", s, on(t, m.shuffle_rows), LOADS,
             check=lambda o: (one_record_like_clean(o), same_record_size(o))),
        Case(t, "duplicated_rows", s, on(t, m.duplicate_rows, 5), LOADS,
             check=all_of(one_record_like_clean,
                          meta_says(duplicate_parameters=lambda v: "subject" in v))),
        Case(t, "blank_values", s, on(t, m.set_column, "Value", "", rows=m.every(4)), LOADS,
             check=lambda o: sum(v is None for k, v in o.features().items() if k != "meta") >= 4),
    ]


def same_record_size(o):
    assert len(o.features()) == len(o.clean_features())


def notes_cases() -> list[Case]:
    t, s = "notes", "A01"

    def lines(path, fn):
        text = path.read_text(encoding="utf-8").splitlines()
        path.write_text("\n".join(fn(text)) + "\n", encoding="utf-8")

    return [
        Case(t, "empty", s, on(t, m.empty), ERROR, EMPTY),
        Case(t, "random_bytes", s, on(t, m.random_bytes), ERROR,
             r"binary data \(NUL bytes\) in a text file"),
        Case(t, "no_timestamps", s, on(t, lines, lambda ls: [f"Note: {x[21:]}" for x in ls]), LOADS,
             check=meta_says(n_notes=0, n_unparsed_lines=lambda v: v >= 1,
                             unparsed_text=lambda v: v.startswith("Note: "))),
        Case(t, "truncated", s, on(t, m.truncate, 0.75), LOADS, check=all_of(
            rows_subset_of_clean("time_elapsed_s", "timestamp"))),
        Case(t, "bad_date", s, on(t, lines, lambda ls: ["2025-13-45 25:61:00: impossible"] + ls),
             LOADS, check=all_of(meta_says(n_dropped_nan_time=1), same_as_clean())),
        Case(t, "million_garbage", s, on(t, lambda p: p.write_text(
            m.garbage_lines(m.MILLION, 2), encoding="utf-8")), LOADS,
             check=meta_says(n_notes=0, n_unparsed_lines=m.MILLION,
                             unparsed_text=lambda v: len(v) < 100_000), **BIG),
        Case(t, "out_of_order", s, on(t, lines, lambda ls: ls + ["2025-07-06 09:00:00: earlier"]),
             LOADS, check=all_of(meta_says(resorted=True, n_notes=lambda v: v >= 2),
                                 lambda o: o.features()["note"][0] == "earlier")),
        Case(t, "same_second", s, on(t, lines, lambda ls: ls + [ls[-1][:21] + "another note"]),
             LOADS, check=all_of(meta_says(n_same_second_notes=1),
                                 lambda o: len(o.features()["note"]) == len(o.clean_features()["note"]) + 1)),
        Case(t, "no_identity", s, strip_identity(t), SKIP,
             r"matches 'notes' but has no sub- and ses- token"),
        no_master_case(t, s),
    ]


def timestamps_cases() -> list[Case]:
    t, s = "timestamps", "A01"
    return [
        Case(t, "truncated", s, on(t, m.truncate, 0.8), LOADS, check=all_of(
            fewer_rows(0.3), rows_subset_of_clean("start_s", "device_id"),
            meta_says(n_dropped_truncated_rows=1))),
        Case(t, "clock_text", s, on(t, m.set_column, "started", "at noon"), ERROR, CSV[t].clock_error),
        Case(t, "million_garbage", s, on(t, m.million_garbage_csv), ERROR, CSV[t].clock_error, **BIG),
        Case(t, "shuffled", s, on(t, m.shuffle_rows), LOADS, check=same_as_clean()),
        Case(t, "duplicated_rows", s, on(t, m.duplicate_rows, 2), LOADS,
             check=all_of(meta_says(n_dropped_duplicate_rows=lambda v: v >= 2), same_as_clean())),
        Case(t, "nan_clock", s, on(t, m.set_column, "started", "", rows=m.every(3)), LOADS,
             check=all_of(meta_says(n_dropped_nan_time=lambda v: v >= 1),
                          rows_subset_of_clean("start_s", "stop_s", "device_id"))),
        no_master_case(t, s),
    ]


CLOCK_FIELDS = ("TimeReceivedByCore", "ElapsedTime-ms")


def sidecar_cases(t: str) -> list[Case]:
    s = "A01"
    own_clock = ("time_absolute", "elapsed_time_ms", "runner_time_ms")

    def frames(fn):
        return on(t, m.edit_frames, fn)

    def set_fields(value, step=1, start=0, fields=CLOCK_FIELDS, runner=True):
        def edit(fr):
            for f in fr[start::step]:
                cam = f.get("camera_metadata") or {}
                for name in fields:
                    cam[name] = value
                if runner:
                    f["runner_time_ms"] = value
            return fr
        return edit

    def shuffled(fr):
        order = np.random.default_rng(2).permutation(len(fr))
        return [fr[i] for i in order]

    def duplicated(fr):
        out = []
        for i, f in enumerate(fr):
            out.append(f)
            if i % 5 == 0:
                out.append(f)
        return out

    def image_text(fr):
        for f in fr[::5]:
            f["camera_metadata"]["ImageNumber"] = "n/a"
        return fr

    return [
        Case(t, "empty", s, on(t, m.empty), ERROR, EMPTY),
        Case(t, "random_bytes", s, on(t, m.random_bytes), ERROR, r"invalid JSON"),
        Case(t, "wrong_header", s, on(t, m.write_json, {"frames_x": 5, "device": "cam"}), ERROR,
             r"no frame list found \(expected key 'p0' or 'frames'; keys: \['frames_x', 'device'\]\)"),
        Case(t, "no_header", s, on(t, m.write_json, [1, 2, 3]), ERROR,
             r"expected a JSON object with per-frame metadata"),
        Case(t, "truncated", s, on(t, m.truncate), ERROR, r"invalid JSON \(the file looks truncated\)"),
        Case(t, "clock_text", s, frames(set_fields("soon")), LOADS,
             check=all_of(meta_says(time_basis="master", camera_clock=None),
                          same_as_clean(ignore=own_clock))),
        Case(t, "image_number_text", s, frames(image_text), LOADS,
             check=same_as_clean(ignore=("ImageNumber",))),
        Case(t, "million_garbage", s, on(t, m.million_garbage_json), ERROR,
             r"no usable frame clock", **BIG),
        Case(t, "shuffled", s, frames(shuffled), LOADS,
             check=all_of(meta_says(resorted=True), same_as_clean())),
        Case(t, "duplicated_rows", s, frames(duplicated), LOADS,
             check=all_of(meta_says(n_dropped_duplicate_time=lambda v: v > 10), same_as_clean())),
        Case(t, "nan_clock", s, frames(set_fields(None, step=7, start=1)), LOADS,
             check=same_as_clean(ignore=own_clock)),
        Case(t, "nan_clock_no_dataqueue", "S01", frames(set_fields(None, step=7, start=1)), LOADS,
             check=all_of(meta_says(time_basis="session_timestamps",
                                    n_dropped_nan_time=lambda v: v > 5),
                          fewer_rows(0.7))),
        Case(t, "no_identity", s, strip_identity(t), SKIP,
             rf"matches '{t}' but has no sub- and ses- token"),
        no_master_case(t, s),
    ]


def dlc_cases() -> list[Case]:
    t, s = "pupil_dlc", "A01"

    def table(fn):
        def edit(path):
            m.write_dlc(path, fn(m.read_dlc(path)))
        return on(t, edit)

    def flat(tb):
        tb.columns = ["_".join(c) for c in tb.columns]
        return tb

    def two_levels(tb):
        tb.columns = tb.columns.droplevel(0)
        return tb

    def likelihood_text(tb):
        col = [c for c in tb.columns if c[1] == "Pupil1" and c[2] == "likelihood"][0]
        values = tb[col].astype(object)
        values.iloc[::3] = "high"
        tb[col] = values
        return tb

    def shuffled(tb):
        return tb.iloc[np.random.default_rng(4).permutation(len(tb))]

    def duplicated(tb):
        return tb.loc[tb.index.repeat(np.where(np.arange(len(tb)) % 5 == 0, 2, 1))]

    def nan_index(tb):
        index = tb.index.to_numpy(dtype=np.float64)
        index[1::7] = np.nan
        tb.index = index
        return tb

    frame_likelihood = "Pupil1_likelihood"
    return [
        Case(t, "empty", s, on(t, m.empty), ERROR, EMPTY),
        Case(t, "random_bytes", s, on(t, m.random_bytes), ERROR,
             r"not a readable DeepLabCut HDF5 file"),
        Case(t, "wrong_header", s, table(flat), ERROR,
             r"not a DeepLabCut table \(expected MultiIndex columns scorer/bodyparts/coords\)"),
        Case(t, "no_header", s, table(two_levels), ERROR,
             r"DeepLabCut table has 2 column levels \(expected 3"),
        Case(t, "truncated", s, on(t, m.truncate), ERROR,
             r"not a readable DeepLabCut HDF5 file \(file looks truncated\)"),
        Case(t, "likelihood_text", s, table(likelihood_text), LOADS,
             check=all_of(same_as_clean(ignore=(frame_likelihood, "pupil_diameter_mm", "pupil_diameter_measured",
                                          "n_valid_pairs")),
                          nan_count(frame_likelihood, lambda o: len(o.features()["frame"][::3])))),
        Case(t, "million_garbage", s, on(t, m.million_garbage_dlc), ERROR,
             r"no Pupil<n> landmarks among body parts \['junk0', 'junk1', 'junk2', 'junk3'\]", **BIG),
        Case(t, "shuffled", s, table(shuffled), LOADS,
             check=all_of(meta_says(resorted=True), same_as_clean())),
        Case(t, "duplicated_rows", s, table(duplicated), LOADS,
             check=all_of(meta_says(n_dropped_duplicate_time=lambda v: v > 10), same_as_clean())),
        Case(t, "nan_clock", s, table(nan_index), LOADS,
             # interpolated diameters depend on which frames are left: landmarks compared
             check=all_of(meta_says(n_dropped_nan_time=lambda v: v > 10),
                          same_as_clean(rows=kept(7), ignore=("pupil_diameter_mm",)))),
        Case(t, "pickle_empty", "P01", on(t, m.empty), ERROR, EMPTY),
        Case(t, "pickle_random_bytes", "P01", on(t, m.random_bytes), ERROR,
             r"not a readable DeepLabCut pickle \(truncated or corrupt"),
        Case(t, "pickle_truncated", "P01", on(t, m.truncate), ERROR,
             r"not a readable DeepLabCut pickle \(truncated or corrupt"),
        Case(t, "pickle_wrong_layout", "P01", on(t, m.write_pickle, {"metadata": {}, "x": 1}), ERROR,
             r"DeepLabCut pickle has no 'frame<N>' entries"),
        Case(t, "no_identity", s, strip_identity(t), SKIP,
             r"matches 'pupil_dlc' but has no sub- and ses- token"),
        no_master_case(t, s),
    ]


def suite2p_cases() -> list[Case]:
    t, s = "suite2p", "B01"

    def sibling(name, fn):
        def mutate(env):
            path = env.path(t).with_name(name)
            fn(path)
            return path
        return mutate

    def million(path):
        n = m.MILLION
        rng = np.random.default_rng(9)
        m.save_npy(path, rng.normal(100, 50, (n, 8)).astype(np.float32))
        m.save_npy(path.with_name("Fneu.npy"), rng.normal(50, 50, (n, 8)).astype(np.float32))
        m.save_npy(path.with_name("iscell.npy"), rng.random((n, 2)))
        m.save_npy(path.with_name("spks.npy"), np.zeros((n, 8), dtype=np.float32))
        path.with_name("stat.npy").unlink()

    def dq_rows(fn, *args, **kwargs):
        return on("dataqueue", fn, *args, **kwargs)

    nidaq = m.device_rows("nidaq")
    return [
        Case(t, "empty", s, on(t, m.empty), ERROR, EMPTY),
        Case(t, "random_bytes", s, on(t, m.random_bytes), ERROR,
             r"F\.npy: not a \.npy file \(no NUMPY header\)"),
        Case(t, "wrong_header", s, on(t, m.save_npy, np.zeros(10, dtype=np.float32)), ERROR,
             r"F\.npy: expected ROIs x frames, got shape \(10,\)"),
        Case(t, "no_header", s, sibling("Fneu.npy", lambda p: p.unlink()), ERROR,
             r"plane0: suite2p plane folder is missing Fneu\.npy"),
        Case(t, "truncated", s, on(t, m.truncate), ERROR,
             r"F\.npy: truncated \.npy file \(holds \d+ of the \d+ bytes its header announces\)"),
        Case(t, "wrong_dtype", s, on(t, lambda p: m.save_npy(p, np.load(p).astype("U1"))), ERROR,
             r"F\.npy: expected numbers, got dtype <U1"),
        Case(t, "million_garbage", s, on(t, million), LOADS,
             check=meta_says(n_rois=m.MILLION, n_frames=8), **BIG),
        Case(t, "nidaq_rows_shuffled", s, dq_rows(m.shuffle_rows, rows=nidaq), LOADS,
             check=all_of(meta_says(alignment="nidaq_payload_counter"), same_as_clean())),
        Case(t, "nidaq_counter_scrambled", s,
             dq_rows(m.set_column, "payload", lambda v: v[::-1], rows=nidaq), LOADS,
             check=all_of(meta_says(alignment="nidaq_row_count"), same_as_clean())),
        Case(t, "nidaq_duplicated_rows", s, dq_rows(m.duplicate_rows, 5, rows=nidaq), LOADS,
             check=all_of(meta_says(alignment="nidaq_payload_counter"), same_as_clean())),
        Case(t, "nidaq_nan_clock", s,
             dq_rows(m.set_column, "queue_elapsed", "", rows=lambda f: nidaq(f) & m.every(7)(f)),
             LOADS, check=all_of(meta_says(alignment="nidaq_payload_counter"),
                                 same_as_clean(atol=0.003))),
        Case(t, "dataqueue_no_nidaq", s, dq_rows(m.drop_rows, nidaq), LOADS,
             check=meta_says(time_basis="suite2p_fs", alignment="ops_fs")),
        Case(t, "stat_random_bytes", s, sibling("stat.npy", m.random_bytes), ERROR,
             r"stat\.npy: unreadable suite2p stat"),
        Case(t, "no_identity", s, strip_suite2p_identity, SKIP,
             r"matches 'suite2p' but has no sub- and ses- token"),
        no_master_case(t, s),
    ]


def strip_suite2p_identity(env):
    plane = env.path("suite2p").parent
    folder = plane.parent
    target = env.root / "processed" / "loose" / "run_suite2p"
    target.parent.mkdir(parents=True, exist_ok=True)
    folder.rename(target)
    return target / plane.name / "F.npy"


def source_cases() -> list[Case]:
    out = (dataqueue_cases() + treadmill_cases() + wheel_cases() + psychopy_cases()
           + trace_cases("meso_mean") + trace_cases("meso_dff") + mesomap_cases()
           + session_config_cases() + notes_cases() + timestamps_cases()
           + sidecar_cases("meso_metadata") + sidecar_cases("pupil_metadata")
           + dlc_cases() + suite2p_cases())
    return out
