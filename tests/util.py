"""Small helpers for tests that craft experiment trees file by file."""
from __future__ import annotations

from pathlib import Path

STEM = "20250706_161035_sub-{sub}_ses-{ses}_task-{task}"


def write(root: Path, rel: str, content: str | bytes = "") -> Path:
    path = Path(root) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def stem(sub="A01", ses="01", task="widefield", stamp="20250706_161035") -> str:
    return f"{stamp}_sub-{sub}_ses-{ses}_task-{task}"


def session_dir(sub="A01", ses="01") -> str:
    return f"data/sub-{sub}/ses-{ses}"


def tiny_dataqueue(encoder: bool = True, master: bool = True, n: int = 20) -> str:
    """A small but well-formed dataqueue CSV (cameras, optional encoder packets, nidaq)."""
    lines = ["queue_elapsed,packet_ts,device_ts,device_id,payload"]
    q0 = 976929.43
    for i in range(n):
        q = q0 + i * 0.02
        ts = f"2025-07-06 16:10:{35 + i * 0.02:09.6f}"
        if master:
            lines.append(f"{q:.6f},{ts},{ts},Dhyana,{i}")
        if i % 2 == 0:
            lines.append(f"{q + 0.001:.6f},{ts},{ts},ThorCam,{i // 2}")
        if encoder and i % 3 == 0:
            lines.append(
                f'{q + 0.002:.6f},{ts},{ts},encoder,"EncoderData(timestamp={1000 + i * 20000}, '
                f'distance={i * 1.5:.2f} mm, speed={10.0 + i:.2f} mm/s)"')
        lines.append(f"{q + 0.003:.6f},{ts},{ts},nidaq,{i}")
    return "\n".join(lines) + "\n"


TREADMILL_CSV = "timestamp,distance_mm,speed_mm\n1000,0.0,0.0\n21000,0.5,25.0\n41000,1.2,35.0\n"
CONFIG_CSV = "Parameter,Value\nsubject,A01\nsession,01\nduration,1200\nweight,20.30\nstart_on_trigger,False\n"
NOTES_TXT = "2025-07-06 16:11:17: first note\n2025-07-06 16:12:00: second note"
TIMESTAMPS_CSV = (
    "device_id,started,stopped\n"
    "HFSA,2025-07-06 16:10:35.000000,2025-07-06 16:30:18.000000\n"
    "Dhyana,2025-07-06 16:10:35.500000,2025-07-06 16:30:18.200000\n"
)


def plain_columns_frame():
    """A frame of one plain column per kind (float, int16, bool, datetime, str, Int64,
    category, object) with a named index: what layout_v1_columns.h5 holds, and what the
    HDF5 round trip is tried on."""
    import numpy as np
    import pandas as pd

    df = pd.DataFrame({
        "f": [1.5, np.nan, 3.0], "i": np.array([1, 2, 3], dtype=np.int16),
        "b": [True, False, True], "t": pd.to_datetime(["2025-01-01", None, "2025-01-03"]),
        "s": pd.Series(["a", None, "c"], dtype="str"), "n": pd.array([1, None, 3], dtype="Int64"),
        "c": pd.Categorical(["x", "y", "x"]), "o": pd.Series([np.arange(2), "x", None], dtype=object),
    }, index=pd.Index(["r1", "r2", "r3"], name="row"))
    df.attrs = {"note": "plain columns"}
    return df


def one_column(cells, *, name=("src", "feat")):
    """A one-column materialized-style frame holding ``cells`` (set one by one, so a
    cell may itself be an array)."""
    import numpy as np
    import pandas as pd

    col = np.empty(len(cells), dtype=object)
    for i, cell in enumerate(cells):
        col[i] = cell
    index = pd.MultiIndex.from_tuples([(f"S{i}", "ses-01") for i in range(len(cells))],
                                      names=["Subject", "Session"])
    df = pd.DataFrame({0: col}, index=index, dtype=object)
    df.columns = pd.MultiIndex.from_tuples([name], names=["Source", "Feature"])
    return df
