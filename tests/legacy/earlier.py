"""Frames and files as mesofield's datakit wrote them, rebuilt from the reference.

``earlier_frame()`` follows reference §3.9: the materialized frame of sample_experiment1
(one row, 39 columns: ``meso`` Mean + meta, ``notes``, 23 ``session_config`` text
scalars, ``timestamps``, ``treadmill``), plus a second cell with the cell types the
earlier flattener produced elsewhere (§3.9, §6.11): constant columns as scalars, object
arrays of tz-aware Timestamps (dataqueue ``packet_ts``), object arrays of str
(categoricals), suite2p's one-row table (``stat`` list of dicts, ``ops`` dict, 2-D
float32 arrays) and NaN for a missing source.  ``write_h5`` saves it the way the earlier
``Dataset.save`` did (§3.10: ``to_hdf(key, mode="w", format="fixed")``, object blocks
pickled inside); ``write_pickle`` like ``DataFrame.to_pickle``.
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

CELL = ("STREHAB07", "ses-05", "task-widefield")
OTHER = ("STREHAB09", "ses-10", "task-gratings")
SESSION_CONFIG = {
    "subject": "STREHAB07", "session": "05", "task": "widefield", "start_on_trigger": "False",
    "duration": "1200", "trial_duration": np.nan, "psychopy_filename": "experiment.py",
    "experiment_id": "HFSA", "experimentor": "jgronemeyer", "experimenter": "jgronemeyer",
    "protocol": "HFSA", "experiment_directory": "D:/jgronemeyer/250627_HFSA",
    "hardware_config_file": "D:/jgronemeyer/250627_HFSA/hardware.yaml",
    "database_path": "D:/jgronemeyer/250627_HFSA/database.h5", "protocol_version": "1.0",
    "led_pattern": "['4', '4']", "sex": "F", "genotype": "aldh1l1-gcamp8s",
    "DOB": "2025-01-02", "DOS": "2025-06-20", "XYZ": "[5.69, 9.55, 21.36]",
    "weight": "20.30", "PT_s": "136",
}


def _timestamps():
    started = pd.to_datetime(["2025-07-06 16:10:35.612865", "2025-07-06 16:10:35.613036",
                              "2025-07-06 16:10:35.613414", "2025-07-06 16:10:35.612870",
                              "2025-07-06 16:10:39.709204"]).to_numpy()
    stopped = pd.to_datetime(["2025-07-06 16:30:18.002928", "2025-07-06 16:30:18.206992",
                              "2025-07-06 16:30:18.206996", "2025-07-06 16:30:17.438664",
                              "2025-07-06 16:30:17.539474"]).to_numpy()
    origin = started.min()
    return {
        "device_id": np.array(["HFSA", "Dhyana", "ThorCam", "encoder", "nidaq"], dtype=object),
        "started": started, "stopped": stopped,
        "start_s": (started - origin) / np.timedelta64(1, "s"),
        "stop_s": (stopped - origin) / np.timedelta64(1, "s"),
        "meta": {"source_file": "/data/exp/..._timestamps.csv", "devices":
                 ["HFSA", "Dhyana", "ThorCam", "encoder", "nidaq"], "time_basis": "timestamps_relative"},
    }


def earlier_frame(n_mean: int = 5880, n_tread: int = 1063, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    row: dict = {}
    row[("meso", "Mean")] = 8482.0 + rng.random(n_mean) * 5000.0
    row[("meso", "meta")] = {"source_file": "/data/exp/processed/means/..._meso-mean-trace.csv",
                             "n_slices": n_mean}
    row[("notes", "timestamp")] = pd.Timestamp("2025-07-06 16:11:17")
    row[("notes", "note")] = "Lots of running before beng put under the scope"
    row[("notes", "meta")] = {"source_file": "/data/exp/..._notes.txt", "n_notes": 1}
    for name, value in SESSION_CONFIG.items():
        row[("session_config", name)] = value
    for name, value in _timestamps().items():
        row[("timestamps", name)] = value
    stamp = 491484019 + np.cumsum(rng.integers(20000, 120000, n_tread)).astype(np.int64)
    row[("treadmill", "timestamp")] = stamp
    row[("treadmill", "distance_mm")] = 50918.88 + np.cumsum(rng.random(n_tread))
    row[("treadmill", "speed_mm")] = rng.normal(20, 40, n_tread)
    row[("treadmill", "time_elapsed_s")] = (stamp - stamp[0]) * 1e-6
    row[("treadmill", "meta")] = {"source_file": "/data/exp/..._treadmill.csv", "dataqueue_file": None,
                                  "n_samples": n_tread, "source_method": "treadmill_csv_fallback",
                                  "experiment_window": None, "alignment": None}
    first = pd.Series(row, dtype=object)

    # a second cell: what the earlier flattener produced for other sources (§3.9, §6.11)
    n = 400
    packet = pd.date_range("2025-07-08 16:58:03.627918", periods=n, freq="20ms", tz="UTC")
    other: dict = {
        ("dataqueue", "queue_elapsed"): 976929.43 + np.arange(n) * 0.02,
        ("dataqueue", "packet_ts"): np.array(list(packet), dtype=object),   # Timestamp objects
        ("dataqueue", "device_id"): np.array(["Dhyana", "encoder_COM3"] * (n // 2), dtype=object),
        ("dataqueue", "payload"): np.where(np.arange(n) % 2, np.nan, np.arange(n) // 2).astype(np.float32),
        ("dataqueue", "time_elapsed_s"): np.arange(n) * 0.02,
        ("dataqueue", "meta"): {"source_file": "/data/exp/..._dataqueue.csv", "n_entries": n,
                                "master_device_id": "Dhyana", "affine": {"a": 1.0, "b": 1751993883.6},
                                "per_device_queue_start": {"Dhyana": 976929.43},
                                "time_basis": "queue_elapsed"},
        ("treadmill", "speed_mm"): 10.0,                       # a constant column: a scalar
        ("suite2p", "cell_identifier"): np.ones((3, 2), dtype=np.float32),
        ("suite2p", "stat"): [{"med": [12, 40], "npix": np.int32(88),
                               "ypix": np.arange(4, dtype=np.int32)} for _ in range(3)],
        ("suite2p", "ops"): {"fs": 15.0, "neucoeff": 0.7, "save_path": "/data/exp/plane0"},
        ("suite2p", "plane_directory"): "/data/exp/processed/x_suite2p/plane0",
        ("suite2p", "cell_mask"): np.ones(3, dtype=bool),
        ("suite2p", "deltaf_f"): rng.random((3, 50)).astype(np.float32),
        ("suite2p", "time_elapsed_s"): np.arange(50, dtype=np.float32) / 15,
    }
    second = pd.Series(other, dtype=object)
    df = pd.concat([first, second], axis=1).T
    df.index = pd.MultiIndex.from_tuples([CELL, OTHER], names=["Subject", "Session", "Task"])
    df.columns = pd.MultiIndex.from_tuples(df.columns, names=["Source", "Feature"])
    df.attrs = {"datakit": {"package": "datakit", "version": "0.0.0+unknown"},
                "datakit_sources": ["meso_mean", "notes", "session_config", "timestamps",
                                    "treadmill", "dataqueue", "suite2p"],
                "datakit_roots": ["/data/exp"], "datakit_notes": []}
    return df.astype(object)


def write_h5(df: pd.DataFrame, path, *, key: str = "dataset", format: str = "fixed"):
    """``DataFrame.to_hdf`` as the earlier ``save`` called it (object blocks pickled)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pd.errors.PerformanceWarning)  # pandas' PerformanceWarning: it pickles the objects
        df.to_hdf(path, key=key, mode="w", format=format)
    return path


def earlier_table_frame() -> pd.DataFrame:
    """The scalar features of the first cell, as a flat frame (table format holds no arrays)."""
    flat = pd.DataFrame([SESSION_CONFIG], dtype=object)
    flat.index = pd.MultiIndex.from_tuples([CELL], names=["Subject", "Session", "Task"])
    return flat.astype({"trial_duration": float})
