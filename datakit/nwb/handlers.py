"""Where each built-in source goes in the NWB file (the README's "Sharing as NWB" table).

One function per source tag; each places the features it knows and leaves the rest to
:func:`datakit.nwb.mapping.generic` (which also reports the times and the meta).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..layout import META_FEATURE, TIME_FEATURE
from .mapping import (
    BEHAVIOR,
    MISC,
    OPHYS,
    Builder,
    Stream,
    _table,
    events_table,
    fill_intervals,
    generic,
    interval_columns,
    nwb_name,
)

CAMERA_NAMES = {"meso": "mesoscope_camera", "pupil": "pupil_camera"}
SIDECAR_SUFFIX = "_frame_metadata.json"


# ---------------------------------------------------------------------------------
# behaviour


def _behaviour(b: Builder, s: Stream, container_name: str, mapping: dict, cls_name="BehavioralTimeSeries"):
    """``mapping``: feature -> (series name, unit, label); into one container of ``behavior``."""
    from pynwb import behavior

    container = b.container(BEHAVIOR, getattr(behavior, cls_name), container_name)
    for feature, (name, unit, label) in mapping.items():
        value = s.features.get(feature)
        if not isinstance(value, np.ndarray) or value.ndim != 1 or s.n == 0:
            if feature in s.features:
                b.left_out(s.tag, feature, "no samples" if s.n == 0 else "not a per-sample array")
            continue
        _, where = b.timeseries(s, feature, name, value, unit=unit,
                                description=f"{label}. {b.clock_text(s)}", place=container)
        b.exported(s.tag, feature, where)
    return container


def treadmill(b: Builder, s: Stream) -> None:
    container = _behaviour(b, s, "treadmill", {
        "speed_mm": ("speed", "mm/s", "Treadmill speed"),
        "distance_mm": ("distance", "mm", "Treadmill distance (the encoder's running total)"),
        "timestamp": ("encoder_timestamp", "microseconds",
                      "The treadmill encoder's own clock at each sample (microseconds)"),
    })
    generic(b, s, container, prefix="")


def wheel(b: Builder, s: Stream) -> None:
    if "time_absolute" in s.features:
        b.left_out(s.tag, "time_absolute", "wall-clock time of each sample (ISO text): "
                                           "session_start_time + the timestamps give it")
    container = _behaviour(b, s, "wheel", {
        "speed_mm": ("speed", "mm/s", "Wheel speed"),
        "distance_mm": ("distance", "mm", "Wheel distance (integral of the speed)"),
        "click_delta": ("click_delta", "clicks", "Encoder clicks counted at each sample"),
        "click_position": ("click_position", "clicks", "Cumulative encoder clicks"),
        "time_reference_s": ("wheel_clock", "seconds", "The wheel file's own Time column"),
    })
    generic(b, s, container, prefix="")


def pupil_dlc(b: Builder, s: Stream) -> None:
    _behaviour(b, s, "PupilTracking", {
        "pupil_diameter_mm": ("pupil_diameter", "mm",
                              "Pupil diameter from DeepLabCut landmarks (mean of the opposite "
                              "landmark pairs, gaps interpolated)")}, cls_name="PupilTracking")
    from pynwb.behavior import BehavioralTimeSeries

    container = b.container(BEHAVIOR, BehavioralTimeSeries, "pupil_dlc")
    units = {"frame": "n.a.", "n_valid_pairs": "n.a.", "pupil_diameter_measured": "n.a."}
    for feature, value in s.features.items():
        if b.reported(s.tag, feature) or feature in (TIME_FEATURE, META_FEATURE):
            continue
        if not (isinstance(value, np.ndarray) and value.ndim == 1 and value.size == s.n and s.n
                and value.dtype.kind in "iufb"):
            continue
        unit = units.get(feature) or ("pixels" if feature.endswith(("_x", "_y")) else "n.a.")
        label = {"frame": "Pupil camera frame number of each sample",
                 "n_valid_pairs": "Landmark pairs above the likelihood threshold",
                 "pupil_diameter_measured": "1 where the diameter was measured, 0 where interpolated",
                 }.get(feature, f"DeepLabCut landmark {feature}")
        _, where = b.timeseries(s, feature, feature, value, unit=unit,
                                description=f"{label}. {b.clock_text(s)}", place=container)
        b.exported(s.tag, feature, where)
    generic(b, s, container, prefix="")


# ---------------------------------------------------------------------------------
# imaging


def _trace(b: Builder, s: Stream, feature: str, name: str, unit: str, label: str) -> None:
    value = s.features.get(feature)
    if isinstance(value, np.ndarray) and value.ndim == 1 and s.n:
        _, where = b.timeseries(s, feature, name, value, unit=unit,
                                description=f"{label}. {b.clock_text(s)}", place=OPHYS)
        b.exported(s.tag, feature, where)
    generic(b, s, OPHYS)


def meso_mean(b: Builder, s: Stream) -> None:
    _trace(b, s, "Mean", "meso_mean", "a.u.", "Mean fluorescence of each widefield (mesoscope) frame")


def meso_dff(b: Builder, s: Stream) -> None:
    _trace(b, s, "dF_F", "meso_dff", "dF/F", "dF/F of the mean widefield (mesoscope) fluorescence")


def imaging_plane(b: Builder, name: str, *, device: str, rate: float | None, description: str):
    """The ImagingPlane ``name`` (created once), with the documented placeholders."""
    if name in b.nwbfile.imaging_planes:
        return b.nwbfile.imaging_planes[name]
    info = b.imaging
    from pynwb.ophys import OpticalChannel

    channel = OpticalChannel(name="green", description=info["channel_description"],
                             emission_lambda=float(info["emission_lambda"]))
    return b.nwbfile.create_imaging_plane(
        name=name, optical_channel=channel, description=description + " " + info["note"],
        device=b.device(device), excitation_lambda=float(info["excitation_lambda"]),
        indicator=info["indicator"], location=info["location"],
        imaging_rate=float(rate) if rate and np.isfinite(rate) and rate > 0 else float("nan"))


def _rate(t: np.ndarray | None) -> float | None:
    if t is None or t.size < 2:
        return None
    steps = np.diff(t)
    steps = steps[steps > 0]
    return float(1.0 / np.median(steps)) if steps.size else None


def _segmentation(b: Builder, name: str, plane, description: str):
    from pynwb.ophys import ImageSegmentation, PlaneSegmentation

    seg = b.container(OPHYS, ImageSegmentation, "ImageSegmentation")
    table = PlaneSegmentation(name=name, description=description, imaging_plane=plane)
    seg.add_plane_segmentation(table)
    return table


def _roi_series(b: Builder, s: Stream, container_cls, container_name: str, name: str, data,
                rois, unit: str, label: str):
    from pynwb.ophys import RoiResponseSeries

    container = b.container(OPHYS, container_cls, container_name)
    return b.timeseries(s, name, name, data, unit=unit, description=f"{label}. {b.clock_text(s)}",
                        place=container, cls=RoiResponseSeries, rois=rois)


def mesomap(b: Builder, s: Stream) -> None:
    from pynwb.ophys import DfOverF

    rois = [r for r in (s.meta.get("trace_columns") or [])
            if isinstance(s.features.get(r), np.ndarray) and s.features[r].ndim == 1]
    if not rois or s.n == 0:
        generic(b, s, OPHYS)
        return
    device = b.master_camera
    plane = imaging_plane(b, "mesoscope", device=device, rate=_rate(s.t),
                          description=f"Widefield (mesoscope) imaging through camera {device}.")
    mask = s.features.get("mask")
    regions = s.features.get("regions") if isinstance(s.features.get("regions"), dict) else {}
    labels = s.meta.get("roi_to_mask_label") or {}
    has_mask = isinstance(mask, np.ndarray) and mask.ndim == 2
    table = _segmentation(b, "mesomap_regions", plane, (
        "Brain regions of the mesomap traces, one row per trace column, in the order of the "
        "RoiResponseSeries columns; " + (
            "image_mask: the region's pixels in the label image (.mask.npy)" if has_mask else
            "no label image (.mask.npy) beside the traces, so the masks are empty")))
    names = list(regions.get("acronym", [])) if regions else []
    full = dict(zip(names, regions.get("name", []))) if "name" in regions else {}
    table.add_column(name="acronym", description="the trace column (region acronym)")
    table.add_column(name="region_name", description="the region's full name ('' when unknown)")
    table.add_column(name="mask_label", description="the region's value in the label image (-1: none)")
    for roi in rois:
        label = labels.get(roi)
        label = int(label) if label is not None and np.isfinite(label) else -1
        row = {"acronym": str(roi), "region_name": str(full.get(roi, "") or ""), "mask_label": label}
        if has_mask:
            table.add_roi(image_mask=(mask == label) if label >= 0 else np.zeros(mask.shape, bool), **row)
        else:
            table.add_roi(pixel_mask=[], **row)
    region = table.create_roi_table_region(region=list(range(len(rois))),
                                           description="every region, in trace-column order")
    data = np.column_stack([s.features[r] for r in rois])
    _, where = _roi_series(b, s, DfOverF, "DfOverF", "mesomap", data, region, "dF/F",
                           "dF/F of each brain region (columns: rows of mesomap_regions)")
    for i, roi in enumerate(rois):
        b.exported(s.tag, roi, f"{where} column {i}")
    seg_where = "processing/ophys/ImageSegmentation/mesomap_regions"
    if has_mask:
        b.exported(s.tag, "mask", f"{seg_where} image_mask")
    elif "mask" in s.features:
        b.left_out(s.tag, "mask", "not a 2-D label image")
    if "regions" in s.features:
        b.exported(s.tag, "regions", f"{seg_where} columns acronym, region_name, mask_label")
    generic(b, s, OPHYS)


def suite2p(b: Builder, s: Stream) -> None:
    from pynwb.ophys import DfOverF, Fluorescence

    f = s.features
    cells = f.get("cell_index")
    n_cells = int(cells.size) if isinstance(cells, np.ndarray) else 0
    if n_cells == 0 or s.n == 0:
        for feature in list(f):
            if feature not in (TIME_FEATURE, META_FEATURE):
                b.left_out(s.tag, feature, "suite2p found no accepted cell" if not n_cells
                           else "no frames")
        generic(b, s, OPHYS)
        return
    ops = f.get("ops") if isinstance(f.get("ops"), dict) else {}
    plane_name = str(s.meta.get("plane") or "plane0")
    fs = ops.get("fs")
    plane = imaging_plane(
        b, f"suite2p_{plane_name}", device=b.master_camera,
        rate=float(fs) if isinstance(fs, (int, float)) else _rate(s.t),
        description=f"The imaging plane suite2p segmented ({plane_name}, "
                    f"{Path(str(f.get('plane_directory', ''))).name or '?'}; "
                    f"{ops.get('Ly', '?')} x {ops.get('Lx', '?')} pixels).")
    stat = f.get("stat") if isinstance(f.get("stat"), list) else []
    has_stat = bool(stat) and all(isinstance(stat[int(i)], dict) and "ypix" in stat[int(i)]
                                  for i in cells if int(i) < len(stat))
    table = _segmentation(b, f"suite2p_{plane_name}", plane, (
        "The cells suite2p accepted (iscell), one row per cell in the order of the "
        "RoiResponseSeries columns; " + ("pixel_mask: suite2p's ypix, xpix and lam (stat.npy)"
                                         if has_stat else "no stat.npy, so the masks are empty")))
    per_cell = [("cell_index", "suite2p's ROI number (row of F.npy)"),
                ("iscell_prob", "suite2p's classifier probability"),
                ("med_y", "the ROI's median y (pixels)"), ("med_x", "the ROI's median x (pixels)"),
                ("npix", "pixels in the ROI")]
    per_cell = [(k, d) for k, d in per_cell
                if isinstance(f.get(k), np.ndarray) and f[k].ndim == 1 and f[k].size == n_cells]
    for key, description in per_cell:
        table.add_column(name=key, description=description)
    for j, roi in enumerate(cells):
        row = {k: f[k][j].item() for k, _ in per_cell}
        if has_stat:
            st = stat[int(roi)]
            lam = np.asarray(st.get("lam", np.ones(len(st["ypix"]))), dtype=np.float32)
            pixels = list(zip(np.asarray(st["xpix"]).tolist(), np.asarray(st["ypix"]).tolist(),
                              lam.tolist()))
            table.add_roi(pixel_mask=pixels, **row)
        else:
            table.add_roi(pixel_mask=[], **row)
    where_table = f"processing/ophys/ImageSegmentation/suite2p_{plane_name}"
    for key, _ in per_cell:
        b.exported(s.tag, key, f"{where_table} column {key}")
    if has_stat:
        b.exported(s.tag, "stat", f"{where_table} pixel_mask",
                   "ypix, xpix, lam of the accepted cells; the other keys are left out")
    elif "stat" in f:
        b.left_out(s.tag, "stat", "no stat.npy (or no pixels in it)")
    region = table.create_roi_table_region(region=list(range(n_cells)),
                                           description="every accepted cell")
    traces = [("roi_fluorescence", Fluorescence, "Fluorescence", "a.u.", "Fluorescence F of each cell"),
              ("neuropil_fluorescence", Fluorescence, "Fluorescence", "a.u.", "Neuropil fluorescence Fneu"),
              ("F_corrected", Fluorescence, "Fluorescence", "a.u.",
               f"F - {s.meta.get('neuropil_scale', '?')} x Fneu"),
              ("deltaf_f", DfOverF, "DfOverF", "dF/F",
               f"dF/F of F_corrected (baseline: percentile {s.meta.get('baseline_percentile', '?')})"),
              ("spks", Fluorescence, "Deconvolved", "a.u.", "Deconvolved activity (spks.npy)")]
    for feature, cls, container, unit, label in traces:
        value = f.get(feature)
        if not isinstance(value, np.ndarray) or value.shape != (n_cells, s.n):
            if feature in f:
                b.left_out(s.tag, feature, "not a cells x frames array")
            continue
        if feature == "spks" and not s.meta.get("has_spks", True):
            b.left_out(s.tag, feature, "no spks.npy (the feature is all NaN)")
            continue
        _, where = _roi_series(b, s, cls, container, feature, value.T, region, unit, label)
        b.exported(s.tag, feature, where, "transposed to frames x cells")
    for feature, reason in (
            ("cell_identifier", "suite2p's iscell for every ROI; the table holds the accepted cells"),
            ("cell_mask", "which ROIs are cells; the table holds the accepted cells"),
            ("ops", "suite2p's settings (fs is the imaging plane's rate)"),
            ("time_native_s", "a float32 copy of the timestamps")):
        if feature in f:
            b.left_out(s.tag, feature, reason)
    if "plane_directory" in f:
        b.exported(s.tag, "plane_directory", f"description of imaging plane suite2p_{plane_name}")
    generic(b, s, OPHYS)


# ---------------------------------------------------------------------------------
# cameras


def camera(b: Builder, s: Stream) -> None:
    """A camera's frame times: an ImageSeries linking the movie beside the sidecar, or,
    when the movie is not there, a TimeSeries of frame numbers (no dangling link)."""
    label = CAMERA_NAMES.get(getattr(s.cls, "camera_tag", None) or "", f"{s.tag}_camera")
    device = str(s.meta.get("device_id") or label)
    numbers = s.features.get("ImageNumber")
    if s.n == 0:
        generic(b, s, "acquisition", prefix=label)
        return
    sidecar = Path(str(s.meta.get("source_file") or ""))
    movie = sidecar.with_name(sidecar.name[: -len(SIDECAR_SUFFIX)]) \
        if sidecar.name.endswith(SIDECAR_SUFFIX) else None
    if movie is not None and movie.is_file():
        import os

        from pynwb.image import ImageSeries

        relative = os.path.relpath(movie, b.target_dir)
        _, where = b.timeseries(
            s, "time_elapsed_s", label, None, unit="n.a.",
            description=(f"Frames of camera {device} in the external movie {movie.name} "
                         f"(path relative to this file). {b.clock_text(s)}"),
            place="acquisition", cls=ImageSeries, external_file=[relative], format="external",
            starting_frame=[0], device=b.device(device))
        b.exported(s.tag, TIME_FEATURE, f"timestamps of {where}", f"external_file {relative}")
        b.movies.append(relative)
    elif isinstance(numbers, np.ndarray) and numbers.ndim == 1 and numbers.dtype.kind in "iuf":
        why = (f"the movie {movie.name} is not beside the sidecar" if movie is not None
               else "the sidecar's name does not say which movie it belongs to")
        _, where = b.timeseries(
            s, "ImageNumber", f"{label}_frames", numbers, unit="n.a.",
            description=(f"Frame number (ImageNumber) and time of each frame of camera {device}; "
                         f"no ImageSeries: {why}. {b.clock_text(s)}"), place="acquisition")
        b.exported(s.tag, "ImageNumber", where, f"frame times without a movie link ({why})")
    generic(b, s, "acquisition", prefix=label)


# ---------------------------------------------------------------------------------
# the clock, trials, epochs, notes, configuration


def dataqueue(b: Builder, s: Stream) -> None:
    f = s.features
    devices = f.get("device_id")
    payload = f.get("payload")
    for feature, reason in (
            ("queue_elapsed", "the queue's raw perf_counter clock: t = queue_elapsed - "
                              "master_queue_start"),
            ("packet_ts", "wall-clock time of each packet: session_start_time + t gives it "
                          "(session_start_time comes from it)"),
            ("device_ts", "the device's wall-clock time of each packet"),
            ("payload_text", "the encoder's text packets (EncoderData(...)): datakit parses them "
                             "into the treadmill source")):
        if feature in f:
            b.left_out(s.tag, feature, reason)
    if not (isinstance(devices, np.ndarray) and isinstance(payload, np.ndarray)) or s.n == 0:
        generic(b, s, "acquisition")
        return
    t = s.t
    names = np.asarray([str(d) if d is not None else "" for d in devices], dtype=object)
    wrote, skipped = [], []
    for device in dict.fromkeys(names.tolist()):
        rows = names == device
        values = payload[rows]
        if not np.isfinite(values.astype(np.float64)).any():
            skipped.append(device or "(no id)")
            continue
        _, where = b.timeseries(
            s, "payload", f"dataqueue_{device or 'unnamed'}", values, unit="n.a.",
            description=(f"Payload of each packet the acquisition queue received from "
                         f"{device or '(no device id)'} (cameras: ImageNumber; nidaq: the "
                         f"cumulative edge counter), at the packet's time. {b.clock_text(s)}"),
            place="acquisition", t=t[rows])
        wrote.append(where)
    if wrote:
        note = f"one series per device; {', '.join(skipped)}: text payloads only" if skipped else \
            "one series per device"
        b.exported(s.tag, "payload", ", ".join(wrote), note)
        b.exported(s.tag, "device_id", "the names of the dataqueue_<device> series")
        b.exported(s.tag, TIME_FEATURE, "timestamps of the dataqueue_<device> series")
    else:
        b.left_out(s.tag, "payload", "no device sent a numeric payload")
    # fanned-out dict payloads (2026 mesofield): each numeric column where it has values
    for feature, value in f.items():
        if b.reported(s.tag, feature) or feature in (TIME_FEATURE, META_FEATURE):
            continue
        if isinstance(value, np.ndarray) and value.ndim == 1 and value.size == s.n \
                and value.dtype.kind in "iuf":
            rows = np.isfinite(value.astype(np.float64))
            if rows.any():
                _, where = b.timeseries(s, feature, f"dataqueue_{feature}", value[rows],
                                        unit=s.unit_of(feature), place="acquisition", t=t[rows],
                                        description=f"Dataqueue column {feature}, on the rows "
                                                    f"that have it. {b.clock_text(s)}")
                b.exported(s.tag, feature, where, "rows with a value only")
            else:
                b.left_out(s.tag, feature, "no row has a value")
    generic(b, s, "acquisition", prefix="dataqueue")


def psychopy(b: Builder, s: Stream) -> None:
    f = s.features
    if s.n == 0:
        generic(b, s)
        return
    columns = interval_columns(b, s, skip=("start_s", "stop_s"))
    from pynwb.epoch import TimeIntervals

    table = TimeIntervals(name="trials", description=(
        f"PsychoPy trials: start_time = stimulus onset, stop_time = offset (stop_source says how "
        f"each stop was found); every other PsychoPy column as read. {b.clock_text(s)}"))
    fill_intervals(table, f["start_s"], f["stop_s"], columns)
    b.nwbfile.trials = table
    b.exported(s.tag, "start_s", "trials start_time")
    b.exported(s.tag, "stop_s", "trials stop_time")
    b.exported(s.tag, TIME_FEATURE, "trials start_time")
    for feature, _, _ in columns:
        b.exported(s.tag, feature, f"trials column {nwb_name(feature)}")
    generic(b, s)


def timestamps(b: Builder, s: Stream) -> None:
    f = s.features
    if s.n == 0:
        generic(b, s)
        return
    devices = f.get("device_id")
    tags = [[str(d)] if d else [] for d in devices] if isinstance(devices, np.ndarray) else None
    columns = interval_columns(b, s, skip=("start_s", "stop_s"))
    from pynwb.epoch import TimeIntervals

    table = TimeIntervals(name="epochs", description=(
        "One epoch per row of the session's timestamps.csv: when each device (and the "
        f"protocol) started and stopped recording; tags = the device. {b.clock_text(s)}"))
    fill_intervals(table, f["start_s"], f["stop_s"], columns, tags=tags)
    b.nwbfile.epochs = table
    b.exported(s.tag, "start_s", "epochs start_time")
    b.exported(s.tag, "stop_s", "epochs stop_time")
    b.exported(s.tag, TIME_FEATURE, "epochs start_time")
    for feature, _, _ in columns:
        b.exported(s.tag, feature, f"epochs column {nwb_name(feature)}",
                   "also the epoch's tags" if feature == "device_id" else "")
    generic(b, s)


def notes(b: Builder, s: Stream) -> None:
    f = s.features
    texts = f.get("note")
    if not isinstance(texts, np.ndarray) or s.n == 0:
        generic(b, s, notes_for="notes")
        return
    stamps = f.get("timestamp")
    lines = []
    for i, text in enumerate(texts):
        wall = ""
        if isinstance(stamps, np.ndarray) and stamps.dtype.kind == "M" and not np.isnat(stamps[i]):
            wall = f" ({str(stamps[i].astype('datetime64[s]')).replace('T', ' ')})"
        lines.append(f"t = {s.t[i]:.3f} s{wall}: {text}")
    b.session_notes.extend(lines)
    where = events_table(b, s, "session_notes", ["" if v is None else str(v) for v in texts],
                         f"The experimenter's notes, one row per note. {b.clock_text(s)}")
    b.exported(s.tag, "note", f"{where} annotation; notes", "also written in the file's notes")
    b.exported(s.tag, TIME_FEATURE, f"{where} timestamp")
    if "timestamp" in f:
        b.exported(s.tag, "timestamp", "notes (the wall-clock time of each note, as text)")
    generic(b, s, notes_for="notes")


def session_config(b: Builder, s: Stream) -> None:
    _table(b, s, MISC, name="session_configuration")


HANDLERS = {
    "dataqueue": dataqueue,
    "treadmill": treadmill,
    "wheel": wheel,
    "pupil_dlc": pupil_dlc,
    "meso_mean": meso_mean,
    "meso_dff": meso_dff,
    "mesomap": mesomap,
    "suite2p": suite2p,
    "meso_metadata": camera,
    "pupil_metadata": camera,
    "psychopy": psychopy,
    "timestamps": timestamps,
    "notes": notes,
    "session_config": session_config,
}

#: DANDI's modality of the NWB types each source writes (dandi organize names files by
#: them: PupilTracking/BehavioralTimeSeries -> behavior, RoiResponseSeries/ImagingPlane ->
#: ophys, ImageSeries -> image; plain TimeSeries such as meso_mean count for none)
MODALITIES = {"treadmill": "behavior", "wheel": "behavior", "pupil_dlc": "behavior",
              "mesomap": "ophys", "suite2p": "ophys"}
