"""Opening and converting an .h5 written by mesofield's datakit (pandas ``to_hdf``).

    python bench/bench_legacy.py [--cells 20] [--dataqueue-rows 20000]

Builds a frame shaped like the earlier implementation's (reference §3.9: per cell a
58,800-frame mean trace, 10,631 treadmill samples x 4, 5 timestamps, 23 configuration
strings, meta dicts, plus a dataqueue of ``--dataqueue-rows`` rows whose ``packet_ts`` is
an object array of tz-aware Timestamps, as the earlier flattener left it), writes it with
``to_hdf(format="fixed")`` and times ``load_dataset(allow_pickle=True)``, ``convert`` and
loading the converted file.  Prints figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd


def earlier_frame(n_cells: int, n_dq: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows, keys = [], []
    for i in range(n_cells):
        n_tread = 10631
        stamp = 491484019 + np.cumsum(rng.integers(20000, 120000, n_tread)).astype(np.int64)
        packet = pd.date_range("2025-07-06 16:10:35.612865", periods=n_dq, freq="6ms", tz="UTC")
        row = {
            ("meso", "Mean"): 8482.0 + rng.random(58800) * 5000.0,
            ("meso", "meta"): {"source_file": f"/data/exp/{i}_meso-mean-trace.csv", "n_slices": 58800},
            ("notes", "timestamp"): pd.Timestamp("2025-07-06 16:11:17"),
            ("notes", "note"): "Lots of running before beng put under the scope",
            ("treadmill", "timestamp"): stamp,
            ("treadmill", "distance_mm"): 50918.88 + np.cumsum(rng.random(n_tread)),
            ("treadmill", "speed_mm"): rng.normal(20, 40, n_tread),
            ("treadmill", "time_elapsed_s"): (stamp - stamp[0]) * 1e-6,
            ("treadmill", "meta"): {"source_file": f"/data/exp/{i}_treadmill.csv", "n_samples": n_tread},
            ("timestamps", "start_s"): rng.random(5), ("timestamps", "stop_s"): 1180 + rng.random(5),
            ("dataqueue", "queue_elapsed"): 976929.43 + np.arange(n_dq) * 0.006,
            ("dataqueue", "packet_ts"): np.array(list(packet), dtype=object),
            ("dataqueue", "device_id"): np.array(["Dhyana", "ThorCam", "encoder", "nidaq"] * (n_dq // 4),
                                                 dtype=object),
            ("dataqueue", "payload"): rng.random(n_dq).astype(np.float32),
        }
        for j in range(23):
            row[("session_config", f"param{j}")] = f"value{j}"
        rows.append(pd.Series(row, dtype=object))
        keys.append((f"S{i:03d}", "ses-05", "task-widefield"))
    df = pd.concat(rows, axis=1).T
    df.index = pd.MultiIndex.from_tuples(keys, names=["Subject", "Session", "Task"])
    df.columns = pd.MultiIndex.from_tuples(df.columns, names=["Source", "Feature"])
    return df.astype(object)


def timed(fn):
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=20)
    parser.add_argument("--dataqueue-rows", type=int, default=20000)
    args = parser.parse_args()

    import datakit
    from datakit.legacy import convert

    df = earlier_frame(args.cells, args.dataqueue_rows)
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "old_dataset_mvp.h5"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, t_write = timed(lambda: df.to_hdf(old, key="dataset", mode="w", format="fixed"))
        _, t_pandas = timed(lambda: pd.read_hdf(old, "dataset"))
        back, t_load = timed(lambda: datakit.load_dataset(old, allow_pickle=True))
        new, t_convert = timed(lambda: convert(old, Path(tmp) / "new.h5"))
        _, t_new = timed(lambda: datakit.load_dataset(new))
        mb = 2**20
        print(f"earlier-style frame: {args.cells} cells x {df.shape[1]} columns "
              f"({args.dataqueue_rows} dataqueue rows per cell)")
        print(f"  pandas to_hdf (as the earlier save)    {t_write:6.2f} s  {old.stat().st_size / mb:7.1f} MB")
        print(f"  pandas.read_hdf                        {t_pandas:6.2f} s")
        print(f"  datakit.load_dataset(allow_pickle)     {t_load:6.2f} s  "
              f"({t_load / args.cells * 1000:.0f} ms per cell)")
        print(f"  datakit convert (read + write)         {t_convert:6.2f} s  {new.stat().st_size / mb:7.1f} MB")
        print(f"  datakit.load_dataset(converted)        {t_new:6.2f} s")
        assert back.shape == df.shape


if __name__ == "__main__":
    main()
