"""One cell -> one ``NWBFile``: file and subject metadata, the clock, every source.

Times are the materialized ``t`` unchanged: seconds on the cell's master clock, zero at
the first master-camera frame.  ``session_start_time`` is the wall-clock instant of that
zero (from the dataqueue's packet times, else the master camera's ``started`` in
``timestamps.csv``, else the recording stamp of the file names), so ``session_start_time
+ t`` is the wall-clock time of every sample.  Samples recorded before the first frame
(dataqueue rows, device starts) have negative times, which NWB allows.
"""
from __future__ import annotations

import datetime as dt
import re
import uuid
from pathlib import Path

from ..layout import META_FEATURE
from . import handlers, metadata
from .mapping import FAILED, MISC, Builder, Stream, generic

#: sources that describe a session but are no recording on their own
DESCRIPTIVE = ("session_config", "notes", "timestamps")
PLACEHOLDERS = {"excitation_lambda": 470.0, "emission_lambda": 525.0, "location": "Isocortex"}
_INDICATOR = re.compile(r"(gcamp\d*[a-z]?|jrgeco\d*[a-z]?|rcamp\d*[a-z]?)", re.I)


class Skip(Exception):
    """The cell has nothing to export; the message says why."""


def build(key: tuple, index_names, outcomes, features: dict, classes: dict, root: dict,
          target: Path, *, timezone=None, version: str = "", roots=(), dataset_notes=()):
    """(NWBFile, report rows) for one cell.  Raises :class:`Skip` when nothing is usable.

    ``outcomes``: the engine's LoadOutcome per active source; ``features``: tag ->
    {feature: value}, exactly what ``materialize`` puts in the frame.
    """
    from pynwb import NWBFile
    from pynwb.file import Subject

    subject, session = str(key[0]), str(key[1])
    task = str(key[2]) if len(key) > 2 else None
    failed = [o for o in outcomes if o.status == "error"]
    loaded = [o.tag for o in outcomes if o.status == "ok" and o.tag in features]
    recording = [t for t in loaded if t not in DESCRIPTIVE]
    if not recording:
        if failed:
            why = "; ".join(f"{o.tag} failed ({o.error_type}: {_short(o.message)})" for o in failed)
            raise Skip(f"nothing usable: {why}" + (f"; only {', '.join(loaded)} loaded" if loaded else ""))
        raise Skip(f"nothing to export: only {', '.join(loaded) or 'no source'} loaded "
                   "(a session description, no recording)")
    streams = {tag: Stream(tag, classes[tag].kind, dict(features[tag]),
                           dict(features[tag].get(META_FEATURE) or {}), classes[tag])
               for tag in loaded}
    # the clock's sources, also when the selection left them out (loaded as dependencies)
    clocks = {tag: Stream(tag, classes[tag].kind, {}, dict(features[tag].get(META_FEATURE) or {}),
                          classes[tag])
              for tag in ("dataqueue", "timestamps") if tag in features and tag in classes}
    config = {k: v for k, v in streams["session_config"].features.items() if k != META_FEATURE} \
        if "session_config" in streams else {}
    experiment = root.get("experiment") or {}
    hardware = root.get("hardware") or {}
    general = experiment.get("Configuration") if isinstance(experiment.get("Configuration"), dict) else {}

    naive, reference, clock_how = _clock_zero({**clocks, **streams}, outcomes)
    psychopy_start = streams["psychopy"].meta.get("exp_start") if "psychopy" in streams else None
    zone, zone_how = metadata.resolve_zone(timezone, naive, psychopy_start)
    start = naive.replace(tzinfo=zone)
    experimenter = general.get("experimenter") or config.get("experimenter") or config.get("experimentor")
    protocol = general.get("protocol") or config.get("protocol") or config.get("experiment_id")
    version_text = general.get("protocol_version") or config.get("protocol_version")
    task_name = task[5:] if task and task.startswith("task-") else (task or "")
    what = f"{task_name} recording" if task_name else "recording"
    nwbfile = NWBFile(
        session_description=(f"{what} of mouse {subject}, {session}"
                             + (f" ({protocol} protocol)" if protocol else "")
                             + f"; exported by datakit {version} from the lab's BIDS-style tree"),
        identifier=str(uuid.uuid4()),
        session_start_time=start,
        timestamps_reference_time=start,
        session_id=_session_id(session, task),
        experimenter=[str(experimenter)] if experimenter else None,
        experiment_description=(f"{protocol} protocol" + (f" version {version_text}" if version_text else "")
                                if protocol else None),
        protocol=str(protocol) if protocol else None,
        keywords=[k for k in (task_name, str(protocol) if protocol else "") if k] or None,
        was_generated_by=[("datakit", version or "unknown")],
    )
    fields, subject_notes = metadata.subject_fields(subject, experiment, config, start)
    nwbfile.subject = Subject(**fields)
    for device in metadata.hardware_devices(hardware):
        nwbfile.create_device(name=handlers.nwb_name(device["name"]), description=device["description"])

    b = Builder(nwbfile, reference, Path(target).parent)
    b.master_camera = _master_camera({**clocks, **streams}, hardware)
    b.imaging = _imaging(hardware, experiment, config, subject)
    for tag, stream in streams.items():
        b.prepare(stream)
        handler = handlers.HANDLERS.get(tag)
        place = "acquisition" if tag == "dataqueue" else MISC
        if handler is None:
            generic(b, stream, place)   # a plugin: generic TimeSeries / tables in "misc"
            continue
        try:
            handler(b, stream)
        except Exception as exc:  # noqa: BLE001 - a surprise in one source: export it generically
            b.session_notes.append(f"{tag}: exported by the generic rules because the NWB mapping "
                                   f"failed ({type(exc).__name__}: {exc})")
            generic(b, stream, place)

    lines = [f"Exported by datakit {version} from {', '.join(map(str, roots)) or 'a dataset'}.",
             f"Times are the t of datakit's materialize: seconds on this cell's "
             f"{'master' if reference == 'master' else (reference or 'own')} clock; "
             f"session_start_time is {clock_how}; "
             f"time zone: {zone_how}. session_start_time + t is the wall-clock time of each sample."]
    if b.off_clock:
        lines.append("NOT ON THE SESSION CLOCK (see each series' description): "
                     + ", ".join(f"{t} ({basis})" for t, basis in b.off_clock.items()))
    for o in failed:
        lines.append(f"FAILED TO LOAD, not in this file: {o.tag} from {o.path}: "
                     f"{o.error_type}: {_short(o.message, 400)}")
        b.report(o.tag, None, FAILED, "notes", f"{o.error_type}: {_short(o.message)}")
    lines += [f"Subject: {n}." for n in subject_notes]
    if root.get("experiment_file"):
        lines.append(f"Experiment JSON: {Path(root['experiment_file']).name}.")
    if root.get("hardware_file"):
        lines.append(f"Devices: {Path(root['hardware_file']).name}.")
    lines += [f"Dataset note: {n}" for n in dataset_notes]
    if b.session_notes:
        lines.append("Session notes:")
        lines += [f"  {line}" for line in b.session_notes]
    nwbfile.notes = "\n".join(lines)
    return nwbfile, b.rows


def _short(text, width: int = 200) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= width else text[: width - 3] + "..."


def _session_id(session: str, task: str | None) -> str:
    label = session[4:] if session.startswith("ses-") else session
    if task:
        label += "-" + (task[5:] if task.startswith("task-") else task)
    return label.replace("/", "-")


def _clock_zero(streams: dict, outcomes) -> tuple[dt.datetime, str | None, str]:
    """(naive wall-clock datetime of t = 0, the reference time_basis, how it was found)."""
    dq = streams.get("dataqueue")
    if dq is not None:
        wall = dq.meta.get("wallclock_to_master")
        basis = dq.meta.get("time_basis")
        if isinstance(wall, dict) and wall.get("a"):
            epoch = float(wall["w0"]) - float(wall["b"]) / float(wall["a"])
            return metadata.wall_datetime(epoch), basis, \
                "the rig's wall clock at t = 0, read from the dataqueue's packet times"
        fallback = _stamp(outcomes)
        return fallback, basis, ("the recording stamp of the file names, because the dataqueue "
                                 "has no readable packet times: t = 0 is only near it")
    ts = streams.get("timestamps")
    if ts is not None and ts.meta.get("session_zero_epoch_s") is not None:
        return metadata.wall_datetime(float(ts.meta["session_zero_epoch_s"])), ts.meta.get("time_basis"), \
            (f"the {ts.meta.get('session_zero_device', 'master camera')} 'started' time in "
             "timestamps.csv, t = 0 of the session_timestamps clock (this cell has no dataqueue)")
    return _stamp(outcomes), None, ("the recording stamp of the file names; with no dataqueue and "
                                    "no timestamps.csv every stream is on its own clock")


def _stamp(outcomes) -> dt.datetime:
    paths = [o.path for o in outcomes if o.path]
    found = metadata.file_stamp(paths)
    if found is not None:
        return found
    times = [Path(p).stat().st_mtime for p in paths if Path(p).exists()]
    return metadata.wall_datetime(min(times)) if times else dt.datetime(1970, 1, 1)


def _master_camera(streams: dict, hardware: dict) -> str:
    dq = streams.get("dataqueue")
    if dq is not None and dq.meta.get("master_device_id") and dq.meta.get("time_basis") == "master":
        return str(dq.meta["master_device_id"])
    meso = streams.get("meso_metadata")
    if meso is not None and meso.meta.get("device_id"):
        return str(meso.meta["device_id"])
    for device in metadata.hardware_devices(hardware):
        if device["kind"] == "camera":
            return device["name"]
    return "mesoscope_camera"


def _imaging(hardware: dict, experiment: dict, config: dict, subject: str) -> dict:
    """ImagingPlane / OpticalChannel values: the experiment's files first, then placeholders."""
    notes = []
    excitation, how = metadata.led_excitation(hardware)
    if excitation is None:
        excitation = PLACEHOLDERS["excitation_lambda"]
        notes.append(f"excitation {excitation:g} nm is a placeholder (GCaMP's blue excitation)")
    elif how:
        notes.append(f"excitation {excitation:g} nm from {how}")
    emission = metadata._number(hardware.get("emission_lambda") or hardware.get("emission_lambda_nm"))
    if emission is None:
        emission = PLACEHOLDERS["emission_lambda"]
        notes.append(f"emission {emission:g} nm is a placeholder (GCaMP's green emission)")
    subjects = experiment.get("Subjects") if isinstance(experiment.get("Subjects"), dict) else {}
    entry = subjects.get(subject) if isinstance(subjects.get(subject), dict) else {}
    location = (hardware.get("imaging_location") or config.get("imaging_location")
                or entry.get("imaging_location"))
    if not location:
        location = PLACEHOLDERS["location"]
        notes.append("location 'Isocortex' is a placeholder (the Allen CCF term for the "
                     "neocortex the lab images)")
    genotype = str(entry.get("genotype") or config.get("genotype") or "")
    found = _INDICATOR.search(genotype)
    if found:
        raw = found.group(1).lower()
        for prefix, name in (("gcamp", "GCaMP"), ("jrgeco", "jRGECO"), ("rcamp", "RCaMP")):
            if raw.startswith(prefix):
                indicator = name + raw[len(prefix):]
        notes.append(f"indicator from the genotype '{genotype}'")
    else:
        indicator = "unknown"
        notes.append("indicator unknown (not named in the genotype)")
    return {"excitation_lambda": excitation, "emission_lambda": emission, "location": str(location),
            "indicator": indicator, "channel_description": "green fluorescence channel",
            "note": "Metadata: " + "; ".join(notes) + "."}


def modalities(tags, row: dict) -> list[str]:
    """DANDI modalities of a cell from the files it has (stable across re-exports)."""
    found = {handlers.MODALITIES[t] for t in tags if t in handlers.MODALITIES}
    for tag in ("meso_metadata", "pupil_metadata"):
        path = row.get(tag)
        if isinstance(path, str) and path.endswith(handlers.SIDECAR_SUFFIX) \
                and Path(path[: -len(handlers.SIDECAR_SUFFIX)]).is_file():
            found.add("image")
    return sorted(found)
