"""What an NWB file says about its session: the experiment's own files and the clock.

Read once per experiment root, in the calling process (small files; never fatal):

* the **experiment JSON** at the root (mesofield's ``<protocol>.json``, e.g. the lab's
  ``STREHAB.json``): the JSON file beside ``data/`` with a ``Configuration`` and/or
  ``Subjects`` object (``manifest.json`` is not it);
* **hardware.yaml** at the root: the rig's devices (cameras, encoder, nidaq, LEDs).

Per cell (in the worker that writes the file):

* :func:`session_start` -- the wall-clock instant of ``t = 0`` of the file's clock;
* :func:`subject_fields` -- the ``Subject`` of the file.

A file that cannot be read or parsed is a warning naming it; the export goes on
without what it would have given.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import re
import warnings
from pathlib import Path

ROOT_SKIP = {"manifest.json"}
SEX = {"f": "F", "female": "F", "m": "M", "male": "M", "u": "U", "unknown": "U", "o": "O",
       "other": "O"}
STAMP = re.compile(r"(?<!\d)(\d{8})_(\d{6})(?!\d)")


class MetadataWarning(UserWarning):
    """An experiment file (JSON, hardware.yaml) could not be read; the export goes on."""


# ---------------------------------------------------------------------------------
# the experiment's root files


def read_root(root) -> dict:
    """``{"experiment": dict, "experiment_file": str|None, "hardware": dict,
    "hardware_file": str|None}`` for one experiment root (plain JSON-able data)."""
    root = Path(root)
    out = {"experiment": {}, "experiment_file": None, "hardware": {}, "hardware_file": None}
    try:
        candidates = sorted(p for p in root.iterdir()
                            if p.suffix.lower() == ".json" and p.name.lower() not in ROOT_SKIP
                            and p.is_file())
    except OSError:
        candidates = []
    for path in candidates:
        data = _read_json(path)
        if isinstance(data, dict) and ("Configuration" in data or "Subjects" in data):
            out["experiment"], out["experiment_file"] = _plain(data), str(path)
            break
    hardware = root / "hardware.yaml"
    if not hardware.is_file():
        hardware = root / "hardware.yml"
    if hardware.is_file():
        data = _read_yaml(hardware)
        if isinstance(data, dict):
            out["hardware"], out["hardware_file"] = _plain(data), str(hardware)
        elif data is not None:
            _warn(f"{hardware}: expected a mapping of settings, found {type(data).__name__}; "
                  "devices are described from the data instead")
    return out


def _warn(message: str) -> None:
    warnings.warn(message, MetadataWarning, stacklevel=4)


def _read_json(path: Path):
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        _warn(f"{path}: not readable as the experiment JSON ({type(exc).__name__}: {exc}); "
              "the NWB files are written without it")
        return None


def _read_yaml(path: Path):
    try:
        from ruamel.yaml import YAML
        from ruamel.yaml.error import YAMLError
    except ImportError:  # pragma: no cover - a dependency of hdmf, installed with pynwb
        _warn(f"{path}: ruamel.yaml is not installed; devices are described from the data")
        return None
    try:
        return YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YAMLError) as exc:
        _warn(f"{path}: not readable ({type(exc).__name__}: {str(exc).splitlines()[0]}); "
              "devices are described from the data instead")
        return None


def _plain(value):
    """YAML/JSON values as plain dict/list/str/number/bool/None (picklable, JSON-able)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def root_of(paths, roots) -> int | None:
    """Index of the root (in ``roots``) that holds the first of ``paths`` found under one."""
    resolved = [Path(r).absolute() for r in roots]
    for path in paths:
        p = Path(path).absolute()
        for i, root in enumerate(resolved):
            if root == p or root in p.parents:
                return i
    return None


# ---------------------------------------------------------------------------------
# devices


def hardware_devices(hardware: dict) -> list[dict]:
    """``[{"name", "description", "kind"}]`` from hardware.yaml: cameras, encoder, nidaq."""
    devices = []
    cameras = hardware.get("cameras")
    for cam in cameras if isinstance(cameras, list) else []:
        if not isinstance(cam, dict) or not cam.get("id"):
            continue
        cam_id = str(cam["id"])
        props = cam.get("properties") if isinstance(cam.get("properties"), dict) else {}
        own = props.get(cam_id) if isinstance(props.get(cam_id), dict) else {}
        bits = [f"{cam.get('name', cam_id)} camera"]
        if cam.get("backend"):
            bits.append(f"acquired with {cam['backend']}")
        if own.get("fps") is not None:
            bits.append(f"configured at {own['fps']} frames/s")
        if own.get("Exposure") is not None:
            bits.append(f"exposure {own['Exposure']} ms")
        if own.get("ROI") is not None:
            bits.append(f"ROI {own['ROI']}")
        output = cam.get("output") if isinstance(cam.get("output"), dict) else {}
        if output.get("file_type"):
            bits.append(f"writes {output['file_type']}")
        devices.append({"name": cam_id, "description": "; ".join(bits) + " (hardware.yaml)",
                        "kind": "camera", "label": str(cam.get("name", cam_id)),
                        "fps": own.get("fps")})
    encoder = hardware.get("encoder")
    if isinstance(encoder, dict):
        kind = str(encoder.get("type") or "encoder")
        bits = [f"{kind} rotary encoder"]
        for key in ("port", "baudrate"):
            if encoder.get(key) is not None:
                bits.append(f"{key} {encoder[key]}")
        devices.append({"name": "encoder", "description": "; ".join(bits) + " (hardware.yaml)",
                        "kind": "encoder", "label": kind})
    nidaq = hardware.get("nidaq")
    if isinstance(nidaq, dict):
        bits = ["National Instruments DAQ"]
        for key in ("device_name", "lines", "ctr", "io_type"):
            if nidaq.get(key) is not None:
                bits.append(f"{key} {nidaq[key]}")
        devices.append({"name": "nidaq", "description": "; ".join(bits) + " (hardware.yaml)",
                        "kind": "nidaq", "label": "nidaq"})
    return devices


def led_excitation(hardware: dict) -> tuple[float | None, str]:
    """(excitation wavelength in nm, where it came from) from hardware.yaml's LED settings."""
    for key in ("excitation_lambda", "excitation_lambda_nm"):
        value = _number(hardware.get(key))
        if value:
            return value, f"hardware.yaml {key}"
    if any(k.startswith("blue_led") for k in hardware):
        return 470.0, "hardware.yaml blue LED (470 nm, the usual blue LED for GCaMP)"
    return None, ""


# ---------------------------------------------------------------------------------
# the clock


def wall_datetime(epoch_s: float) -> dt.datetime:
    """datakit's wall-clock seconds (the rig's local digits counted as UTC) -> naive datetime."""
    whole = math.floor(epoch_s)
    micro = int(round((epoch_s - whole) * 1e6))
    return dt.datetime(1970, 1, 1) + dt.timedelta(seconds=whole, microseconds=micro)


def file_stamp(paths) -> dt.datetime | None:
    """The earliest ``YYYYMMDD_HHMMSS`` recording stamp in the cell's file names."""
    found = []
    for path in paths:
        for day, time in STAMP.findall(Path(path).name):
            try:
                found.append(dt.datetime.strptime(day + time, "%Y%m%d%H%M%S"))
            except ValueError:
                continue
    return min(found) if found else None


def resolve_zone(timezone, naive: dt.datetime, psychopy_start: str | None):
    """(tzinfo, how) for the rig's local wall clock at ``naive``.

    ``timezone`` (an IANA name or a tzinfo) wins; else the UTC offset PsychoPy wrote in
    this cell's ``expStart``; else the zone of the computer doing the export.
    """
    if timezone is not None:
        if isinstance(timezone, dt.tzinfo):
            return timezone, f"{timezone} (given)"
        from zoneinfo import ZoneInfo

        return ZoneInfo(str(timezone)), f"{timezone} (given)"
    if psychopy_start:
        try:
            stamp = dt.datetime.fromisoformat(str(psychopy_start))
        except ValueError:
            stamp = None
        if stamp is not None and stamp.tzinfo is not None:
            return stamp.tzinfo, f"UTC{stamp.strftime('%z')}, the offset PsychoPy wrote in expStart"
    local = naive.astimezone().tzinfo   # the local zone's offset on that date
    return local, (f"{naive.astimezone().strftime('%Z, UTC%z')}, the exporting computer's zone "
                   "(the recordings do not say theirs; pass timezone= to set it)")


# ---------------------------------------------------------------------------------
# the subject


def subject_fields(subject: str, experiment: dict, config: dict, start: dt.datetime) -> tuple[dict, list]:
    """Keyword arguments for ``pynwb.file.Subject`` and notes on where each came from.

    sex, genotype and date of birth come from the experiment JSON's ``Subjects`` entry
    when present, else from the session configuration; the weight from the session
    configuration (weighed that day), else the JSON, in grams.
    """
    notes = []
    entries = experiment.get("Subjects") if isinstance(experiment.get("Subjects"), dict) else {}
    from_json = entries.get(subject) if isinstance(entries.get(subject), dict) else {}

    def pick(*keys, first=("json", "config")):
        for origin in first:
            source = from_json if origin == "json" else config
            for key in keys:
                value = source.get(key)
                if value not in (None, "") and not (isinstance(value, float) and math.isnan(value)):
                    return value, origin
        return None, None

    fields = {"subject_id": subject, "species": "Mus musculus"}
    sex, _ = pick("sex", "Sex")
    fields["sex"] = SEX.get(str(sex).strip().lower(), "U") if sex is not None else "U"
    if sex is None:
        notes.append("sex not recorded (U)")
    genotype, _ = pick("genotype", "Genotype")
    if genotype is not None:
        fields["genotype"] = str(genotype)
    born, _ = pick("DOB", "dob", "date_of_birth")
    birth = _date(born)
    if birth is not None:
        fields["date_of_birth"] = dt.datetime.combine(birth, dt.time(), tzinfo=start.tzinfo)
        days = (start.date() - birth).days
        if days >= 0:
            fields["age"] = f"P{days}D"
            fields["age__reference"] = "birth"
    else:
        fields["age"] = "P0D/"   # ISO 8601 open range: "0 days or older" = unknown
        notes.append("date of birth not recorded: age given as the open range P0D/ (unknown)")
    weight, _ = pick("weight", "Weight", first=("config", "json"))
    grams = _number(weight)
    if grams is not None and grams > 0:
        fields["weight"] = f"{grams:g} g"
    surgery, _ = pick("DOS", "date_of_surgery")
    bits = []
    if _date(surgery) is not None:
        bits.append(f"surgery on {_date(surgery).isoformat()}")
    xyz, _ = pick("XYZ", first=("config", "json"))
    if xyz is not None:
        bits.append(f"stage position XYZ {xyz}")
    fields["description"] = (f"Mouse {subject}" + (f"; {'; '.join(bits)}" if bits else "")
                             + " (from the experiment JSON and the session configuration)")
    return fields, notes


def _date(value) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        return None


def _number(value) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(str(value).strip().split()[0]) if not isinstance(value, (int, float)) else float(value)
    except (ValueError, IndexError):
        return None
    return number if math.isfinite(number) else None
