"""Ways to spoil one file, the way rigs, crashes and old software spoil them.

Each function rewrites a file in place (deterministically: fixed seeds) and returns
what a check needs to know (rows touched, ...).  Nothing here is committed data: the
bad-input corpus is built from freshly generated demo sessions on every test run.
"""
from __future__ import annotations

import warnings

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd

MILLION = 1_000_000
_JUNK = np.array(list("abcdefghijklmnopqrstuvwxyzXYZ#@!?$%&*()[]{}<>~^ ;:"))


# ---------------------------------------------------------------------------------
# any file


def empty(path: Path) -> None:
    path.write_bytes(b"")


def truncate(path: Path, fraction: float = 0.6) -> int:
    """Cut the file after ``fraction`` of its bytes (a crash mid-write); returns the cut."""
    data = path.read_bytes()
    cut = int(len(data) * fraction)
    path.write_bytes(data[:cut])
    return cut


def random_bytes(path: Path, n: int = 4096, seed: int = 7) -> None:
    """Random bytes under the right name (a corrupt copy, another format renamed)."""
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
    path.write_bytes(b"\x89\xfe\x00" + data)   # never valid UTF-8, never a magic number


def junk_tokens(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.array(["".join(rng.choice(_JUNK, 6)) for _ in range(n)], dtype=object)


def garbage_lines(n_rows: int, n_cols: int, seed: int = 3) -> str:
    """``n_rows`` lines of ``n_cols`` comma-separated junk tokens (a block of 1000
    distinct lines repeated: building a million rows stays cheap)."""
    tokens = junk_tokens(997, seed)
    idx = np.arange(min(n_rows, 1000))
    columns = [tokens[(idx * (j + 3) + j) % tokens.size] + (idx.astype(str).astype(object) if j == 0 else "")
               for j in range(n_cols)]
    block = "\n".join(",".join(row) for row in zip(*columns)) + "\n"
    reps, rest = divmod(n_rows, idx.size)
    return block * reps + "".join(block.splitlines(keepends=True)[:rest])


# ---------------------------------------------------------------------------------
# CSV files (read as text, so rewriting never changes what the other cells hold)


def read_table(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def write_table(path: Path, frame: pd.DataFrame) -> None:
    frame.to_csv(path, index=False)


def header_of(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as fh:
        return fh.readline().rstrip("\n").split(",")


def rename_header(path: Path) -> None:
    """A header from another program: same number of columns, other names."""
    lines = path.read_text(encoding="utf-8").split("\n", 1)
    n = lines[0].count(",") + 1
    path.write_text(",".join(f"column_{i}" for i in range(n)) + "\n" + lines[1], encoding="utf-8")


def drop_header(path: Path) -> None:
    """The header line is missing: the first data row is taken as the header."""
    path.write_text(path.read_text(encoding="utf-8").split("\n", 1)[1], encoding="utf-8")


def million_garbage_csv(path: Path, n_rows: int = MILLION) -> None:
    """The real header followed by a million rows of junk with the right column count."""
    header = path.read_text(encoding="utf-8").split("\n", 1)[0]
    n_cols = header.count(",") + 1
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(header + "\n")
        fh.write(garbage_lines(n_rows, n_cols))


def set_column(path: Path, column: str, value, rows=None) -> np.ndarray:
    """Overwrite ``column`` (all rows, or ``rows``: a mask/index or a callable on the frame)."""
    frame = read_table(path)
    if rows is None:
        idx = np.arange(len(frame))
    elif callable(rows):
        idx = np.flatnonzero(np.asarray(rows(frame)))
    else:
        idx = np.asarray(rows)
    values = frame[column].to_numpy(dtype=object)
    values[idx] = value(frame[column].to_numpy(dtype=object)[idx]) if callable(value) else value
    frame[column] = values
    write_table(path, frame)
    return idx


def every(k: int, start: int = 1):
    """Rows start, start+k, ... (a callable for :func:`set_column`)."""
    return lambda frame: (np.arange(len(frame)) % k) == start % k


def shuffle_rows(path: Path, seed: int = 1, rows=None) -> None:
    """Rows in a random order (``rows``: only those rows trade places)."""
    frame = read_table(path)
    rng = np.random.default_rng(seed)
    if rows is None:
        frame = frame.iloc[rng.permutation(len(frame))]
    else:
        idx = np.flatnonzero(np.asarray(rows(frame)))
        order = np.arange(len(frame))
        order[idx] = rng.permutation(idx)
        frame = frame.iloc[order]
    write_table(path, frame)


def duplicate_rows(path: Path, k: int = 5, rows=None) -> int:
    """Every ``k``-th row (of ``rows``) written twice, the copy right after it."""
    frame = read_table(path)
    pick = np.zeros(len(frame), dtype=bool)
    cand = np.arange(len(frame)) if rows is None else np.flatnonzero(np.asarray(rows(frame)))
    pick[cand[::k]] = True
    repeat = np.where(pick, 2, 1)
    write_table(path, frame.loc[frame.index.repeat(repeat)])
    return int(pick.sum())


def drop_rows(path: Path, rows) -> int:
    frame = read_table(path)
    gone = np.asarray(rows(frame))
    write_table(path, frame[~gone])
    return int(gone.sum())


def device_rows(*names: str):
    """Dataqueue rows of these devices (case-insensitive substring)."""
    def pick(frame):
        ids = frame["device_id"].str.lower()
        return np.logical_or.reduce([ids.str.contains(n.lower(), regex=False) for n in names])
    return pick


# ---------------------------------------------------------------------------------
# JSON camera sidecars ({"p0": [frame, ...]})


def read_json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def write_json(path: Path, doc) -> None:
    path.write_text(json.dumps(doc), encoding="utf-8")


def edit_frames(path: Path, edit) -> None:
    doc = read_json(path)
    key = "p0" if "p0" in doc else "frames"
    doc[key] = edit(doc[key])
    write_json(path, doc)


def million_garbage_json(path: Path, n: int = MILLION) -> None:
    """A million frames whose every field is junk text."""
    tokens = junk_tokens(997, 5)
    frame = '{{"runner_time_ms":"{0}","exposure_ms":"{1}","camera_metadata":' \
            '{{"ImageNumber":"{1}","TimeReceivedByCore":"{0}","ElapsedTime-ms":"{2}"}}}}'
    block = ",".join(frame.format(tokens[i % 997], tokens[(i * 7) % 997], tokens[(i * 13) % 997])
                     for i in range(997))
    reps, rest = divmod(n, 997)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write('{"p0":[')
        fh.write(",".join([block] * reps))
        if rest:
            fh.write("," + ",".join(frame.format(tokens[i], tokens[i], tokens[i]) for i in range(rest)))
        fh.write("]}")


# ---------------------------------------------------------------------------------
# DeepLabCut HDF5 / pickle, numpy


def read_dlc(path: Path) -> pd.DataFrame:
    with pd.HDFStore(path, mode="r") as store:
        return store[store.keys()[0]]


def write_dlc(path: Path, table: pd.DataFrame) -> None:
    path.unlink()
    with warnings.catch_warnings():   # pandas says it pickles the text column: that is the case
        warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
        table.to_hdf(path, key="df_with_missing", mode="w", format="fixed")


def million_garbage_dlc(path: Path, n: int = MILLION) -> None:
    """A million frames of random numbers under body parts that are not pupil landmarks."""
    rng = np.random.default_rng(11)
    cols = pd.MultiIndex.from_product([["junk_scorer"], [f"junk{i}" for i in range(4)],
                                       ["x", "y", "likelihood"]],
                                      names=["scorer", "bodyparts", "coords"])
    table = pd.DataFrame(rng.random((n, len(cols))), columns=cols)
    write_dlc(path, table)


def write_pickle(path: Path, obj) -> None:
    path.write_bytes(pickle.dumps(obj))


def save_npy(path: Path, array) -> None:
    with open(path, "wb") as fh:
        np.save(fh, array, allow_pickle=False)


def tie_to_previous(path: Path, column: str, rows) -> int:
    """Give ``rows`` the value of the row before them (ties between distinct rows)."""
    frame = read_table(path)
    idx = np.flatnonzero(np.asarray(rows(frame)))
    idx = idx[idx > 0]
    values = frame[column].to_numpy(dtype=object)
    values[idx] = values[idx - 1]
    frame[column] = values
    write_table(path, frame)
    return int(idx.size)
