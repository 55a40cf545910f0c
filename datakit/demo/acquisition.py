"""Raw acquisition CSVs: the dataqueue, the treadmill encoder and the wheel encoder."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ._util import write_csv

DATAQUEUE_COLUMNS = ("queue_elapsed", "packet_ts", "device_ts", "device_id", "payload")
TREADMILL_COLUMNS = ("timestamp", "distance_mm", "speed_mm")
LEGACY_TREADMILL_COLUMNS = ("timestamp", "distance", "speed")
WHEEL_COLUMNS = ("Clicks", "Time", "Speed", "Started", "Stopped")


def dataqueue_frame(model) -> pd.DataFrame:
    """Every packet of the session in queue order (dropped wheel rows left out)."""
    q = model.queue
    keep = q["keep"]
    return pd.DataFrame({
        "queue_elapsed": q["ticks"][keep] / 1e7,
        "packet_ts": model.clock.wall_text(q["push_s"][keep]).astype(object),
        "device_ts": q["device_ts"][keep].astype(object),
        "device_id": q["device_id"][keep],
        "payload": q["payload"][keep].astype(object),
    }, columns=list(DATAQUEUE_COLUMNS))


def write_dataqueue(model, path) -> None:
    write_csv(path, dataqueue_frame(model))


def treadmill_frame(model) -> pd.DataFrame:
    enc = model.encoder
    names = (LEGACY_TREADMILL_COLUMNS if "legacy_treadmill_header" in model.spec.variants
             else TREADMILL_COLUMNS)
    return pd.DataFrame(dict(zip(names, (enc["timestamp"], enc["distance_mm"], enc["speed_mm"]))))


def write_treadmill(model, path) -> None:
    write_csv(path, treadmill_frame(model))


def wheel_frame(model) -> pd.DataFrame:
    enc = model.encoder
    n = enc["clicks"].size
    enc_id = model.encoder_id
    started = np.full(n, None, dtype=object)
    stopped = np.full(n, None, dtype=object)
    started[0] = str(model.clock.wall_text(model.started[enc_id]))
    stopped[0] = str(model.clock.wall_text(model.stopped[enc_id]))
    return pd.DataFrame(dict(zip(WHEEL_COLUMNS,
                                 (enc["clicks"], enc["time"], enc["speed"], started, stopped))))


def write_wheel(model, path) -> None:
    write_csv(path, wheel_frame(model))
