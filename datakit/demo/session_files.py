"""Session-level files (configuration, notes, timestamps) and the experiment-root files."""
from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import msgspec
import pandas as pd

from ._util import make_rng, write_bytes, write_csv, write_text
from .model import DHYANA_CONFIGURED_FPS, PROTOCOL, WHEEL_TASKS
from .stimulus import ROUTINES

CONFIG_PARAMETERS = (
    "subject", "session", "task", "start_on_trigger", "duration", "trial_duration",
    "psychopy_filename", "experiment_id", "experimentor", "experimenter", "protocol",
    "experiment_directory", "hardware_config_file", "database_path", "protocol_version",
    "led_pattern", "sex", "genotype", "DOB", "DOS", "XYZ", "weight", "PT_s",
)
EXPERIMENTER = "jgronemeyer"
EXPERIMENT_DIR = f"D:/{EXPERIMENTER}/250627_{PROTOCOL}"
PSYCHOPY_SCRIPTS = {"widefield": "experiment.py", "gratings": "gratings.py",
                    "movies": "movies.py"}


def subject_profile(seed: int, subject: str) -> dict:
    """Per-animal facts, the same in every session of that animal."""
    rng = make_rng(seed, "subject", subject)
    born = date(2025, 1, 2) + timedelta(days=int(rng.integers(0, 21)))
    sex = str(rng.choice(["F", "M"]))
    return {
        "sex": sex,
        "genotype": str(rng.choice(["aldh1l1-gcamp8s", "aldh1l1-gcamp8s", "thy1-gcamp6s"])),
        "DOB": born.isoformat(),
        "DOS": (born + timedelta(days=int(rng.integers(160, 175)))).isoformat(),
        "weight": float(rng.uniform(19.0, 22.0) if sex == "F" else rng.uniform(23.0, 27.0)),
        "XYZ": np.round(np.array([5.69, 9.55, 21.36]) + rng.normal(0.0, 0.2, 3), 2),
        "PT_s": int(rng.integers(60, 140)),
    }


def _duration_text(duration: float) -> str:
    return str(int(duration)) if float(duration).is_integer() else repr(float(duration))


def config_values(model) -> dict:
    spec = model.spec
    profile = subject_profile(spec.seed, spec.subject)
    rng = spec.rng("configuration")
    xyz = np.round(profile["XYZ"] + rng.normal(0.0, 0.03, 3), 2)
    wheel = spec.task in WHEEL_TASKS
    trial = ROUTINES[spec.task][2] + ROUTINES[spec.task][3] if wheel else None
    return {
        "subject": spec.subject,
        "session": spec.session_number,
        "task": spec.task,
        "start_on_trigger": str(wheel),
        "duration": _duration_text(spec.duration),
        "trial_duration": "" if trial is None else _duration_text(trial),
        "psychopy_filename": PSYCHOPY_SCRIPTS.get(spec.task, "experiment.py"),
        "experiment_id": PROTOCOL,
        "experimentor": EXPERIMENTER,
        "experimenter": EXPERIMENTER,
        "protocol": PROTOCOL,
        "experiment_directory": EXPERIMENT_DIR,
        "hardware_config_file": f"{EXPERIMENT_DIR}/hardware.yaml",
        "database_path": f"{EXPERIMENT_DIR}/database.h5",
        "protocol_version": "1.0",
        "led_pattern": "['4', '4']",
        "sex": profile["sex"],
        "genotype": profile["genotype"],
        "DOB": profile["DOB"],
        "DOS": profile["DOS"],
        "XYZ": "[" + ", ".join(f"{v:.2f}" for v in xyz) + "]",
        "weight": f"{profile['weight'] + rng.normal(0.0, 0.3):.2f}",
        "PT_s": str(max(10, profile["PT_s"] + int(rng.integers(-20, 21)))),
    }


def write_configuration(model, path) -> None:
    values = config_values(model)
    frame = pd.DataFrame({"Parameter": list(CONFIG_PARAMETERS),
                          "Value": [values[k] for k in CONFIG_PARAMETERS]})
    write_csv(path, frame)


def notes_text(model) -> str:
    clock = model.clock
    lines = [f"{clock.wall_datetime(s):%Y-%m-%d %H:%M:%S}: {text}" for s, text in model.notes]
    return "\n".join(lines)                            # mesofield: no final newline


def write_notes(model, path) -> None:
    write_text(path, notes_text(model))


def timestamps_frame(model) -> pd.DataFrame:
    order = ["protocol", "Dhyana", "ThorCam", model.encoder_id, "nidaq"]
    clock = model.clock
    return pd.DataFrame({
        "device_id": [PROTOCOL if k == "protocol" else k for k in order],
        "started": clock.wall_text([model.started[k] for k in order]).astype(object),
        "stopped": clock.wall_text([model.stopped[k] for k in order]).astype(object),
    })


def write_timestamps(model, path) -> None:
    write_csv(path, timestamps_frame(model))


# ---------------------------------------------------------------------------------
# experiment root (not scanned by discovery)


HARDWARE_YAML = f"""\
memory_buffer_size: 10000
blue_led_power_mw: "8.2"
violet_led_power_mw: "4.2"
widgets:
  - psychopy

nidaq:
  device_name: "Dev1"
  lines: "port1/line0"
  ctr: "ctr0"
  io_type: "DO"
  output:
    suffix: "nidaq"
    file_type: "csv"

encoder:
  type: "treadmill"        # the wheel rig uses type "wheel" on COM3
  port: "COM6"
  baudrate: 192000
  output:
    suffix: "treadmill"
    file_type: "csv"
    bids_type: "beh"

cameras:
  - id: "Dhyana"
    name: "mesoscope"
    backend: "micromanager"
    micromanager_path: "C:/Program Files/Micro-Manager-2.0"
    configuration_path: "C:/Program Files/Micro-Manager-2.0/mm-sipefield.cfg"
    properties:
      Dhyana:
        Output Trigger Port: 2
        Gain: "HDR"
        fps: {DHYANA_CONFIGURED_FPS}  # used to compute the number of frames to capture
      Core:
        Shutter: "Arduino-Shutter"
    output:
      suffix: "mesoscope"
      file_type: "ome.tiff"
      bids_type: "func"

  - id: "ThorCam"
    name: "pupil"
    backend: "micromanager"
    micromanager_path: "C:/Program Files/Micro-Manager-thor"
    configuration_path: "C:/Program Files/Micro-Manager-2.0/ThorCam.cfg"
    properties:
      ThorCam:
        Exposure: 35.9  # about 20 fps
        fps: 20
        ROI: [440, 305, 509, 509]
    output:
      suffix: "pupil"
      file_type: "mp4"
      bids_type: "func"
"""


def protocol_json(seed: int, subjects, last_sessions: dict, duration: float) -> bytes:
    """The mesofield experiment configuration (``<protocol>.json``) at the root."""
    subjects_block = {}
    for subject in subjects:
        p = subject_profile(seed, subject)
        subjects_block[subject] = {
            "sex": p["sex"], "genotype": p["genotype"], "DOB": p["DOB"], "DOS": p["DOS"],
            "session": last_sessions.get(subject, "01"), "task": "widefield",
            "XYZ": "[" + ", ".join(f"{v:.2f}" for v in p["XYZ"]) + "]",
            "weight": f"{p['weight']:.2f}", "PT_s": str(p["PT_s"]),
        }
    config = {
        "Configuration": {
            "experimenter": EXPERIMENTER,
            "protocol": PROTOCOL,
            "experiment_directory": EXPERIMENT_DIR,
            "hardware_config_file": f"{EXPERIMENT_DIR}/hardware.yaml",
            "database_path": f"{EXPERIMENT_DIR}/database.h5",
            "protocol_version": "1.0",
            "duration": int(duration) if float(duration).is_integer() else duration,
            "start_on_trigger": False,
            "led_pattern": ["4", "4"],
        },
        "Subjects": subjects_block,
        "Plugins": {"psychopy": {"enabled": True, "config": {
            "scripts": {task: PSYCHOPY_SCRIPTS[task] for task in WHEEL_TASKS}}}},
        "DisplayKeys": ["subject", "session", "task", "experimenter", "protocol", "duration",
                        "start_on_trigger", "led_pattern", "XYZ", "weight", "PT_s"],
    }
    return msgspec.json.format(msgspec.json.encode(config), indent=2)


def write_root_files(root, seed: int, subjects, last_sessions: dict, duration: float):
    """``hardware.yaml`` and ``<protocol>.json``; returns their paths."""
    hardware = root / "hardware.yaml"
    protocol = root / f"{PROTOCOL}.json"
    write_text(hardware, HARDWARE_YAML)
    write_bytes(protocol, protocol_json(seed, subjects, last_sessions, duration))
    return [hardware, protocol]
