"""Processed imaging outputs: mesoscope mean/dF-F traces, mesomap ROI traces, suite2p."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ._util import box_smooth, exp_filter, intervals_mask, smooth_noise, write_csv, write_npy

#: (acronym, name) per region; 4 anterior->posterior rows x (medial, lateral) per side
REGIONS = (
    ("MOs", "Secondary motor area"),
    ("MOp", "Primary motor area"),
    ("SSp-ll", "Primary somatosensory area, lower limb"),
    ("SSp-ul", "Primary somatosensory area, upper limb"),
    ("RSPd", "Retrosplenial area, dorsal part"),
    ("SSp-bfd", "Primary somatosensory area, barrel field"),
    ("VISam", "Anteromedial visual area"),
    ("VISp", "Primary visual area"),
)
MASK_SHAPE = (64, 64)
SUITE2P_SHAPE = (512, 512)
NEUROPIL_COEFFICIENT = 0.7


def _running(model, s: np.ndarray, width: int = 150) -> np.ndarray:
    """Smoothed running speed (mm/s) at session times ``s``."""
    beh = model.behaviour
    return np.interp(s, beh.t, box_smooth(np.abs(beh.speed), width))


def meso_mean_values(model) -> np.ndarray:
    """Mean fluorescence per mesoscope frame: ~10,000 with slow drift and noise."""
    rng = model.spec.rng("meso_mean")
    s = model.dhyana["recv_s"]
    beh = model.behaviour
    slow = np.interp(s, beh.t, smooth_noise(rng, beh.t.size, 3000))
    values = (rng.uniform(9800.0, 10600.0) + 350.0 * slow + 1.2 * _running(model, s)
              - 250.0 * (1.0 - np.exp(-s / 400.0)) + rng.normal(0.0, 25.0, s.size))
    values[0] *= rng.uniform(0.8, 0.88)               # the first frame is always dimmer
    return values


def write_meso_mean(model, path) -> None:
    values = meso_mean_values(model)
    write_csv(path, pd.DataFrame({"Slice": np.arange(values.size), "Mean": values}))


def write_meso_dff(model, path) -> None:
    values = meso_mean_values(model)
    n_base = int(min(values.size - 1, max(10, round(10.0 * model.dhyana["rate"]))))
    baseline = values[1:n_base + 1].mean()
    dff = np.round(values / baseline - 1.0, 8)
    write_csv(path, pd.DataFrame({"Slice": np.arange(values.size), "Mean": dff}))


# ---------------------------------------------------------------------------------
# mesomap: ROI traces + label mask + region table


def mesomap_mask() -> tuple[np.ndarray, list[tuple[str, int, str]]]:
    """A 64x64 int32 label image of the dorsal cortex and its (acronym, label, name) rows."""
    h, w = MASK_SHAPE
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    mid = (w - 1) / 2.0
    inside = ((xx - mid) / 30.0) ** 2 + ((yy - 33.0) / 29.0) ** 2 <= 1.0
    inside &= np.abs(xx - mid) >= 1.0
    band = np.clip(((yy - 4.0) / 58.0 * 4).astype(int), 0, 3)
    lateral = (np.abs(xx - mid) >= 14.0).astype(int)
    right = xx > mid
    index = band * 2 + lateral                                  # 0..7 within a side
    labels = np.where(inside, index + 1 + right * len(REGIONS), 0).astype(np.int32)
    rows = []
    for side, offset, word in (("L", 0, "left"), ("R", len(REGIONS), "right")):
        for i, (acronym, name) in enumerate(REGIONS):
            rows.append((f"{acronym}_{side}", i + 1 + offset, f"{name}, {word} hemisphere"))
    return labels, rows


def mesomap_traces(model, rois: list[str]) -> pd.DataFrame:
    rng = model.spec.rng("mesomap")
    s = model.dhyana["recv_s"]
    n = s.size
    beh = model.behaviour
    shared = np.interp(s, beh.t, smooth_noise(rng, beh.t.size, 80))
    running = _running(model, s, 50) / 100.0
    data = {"frame": np.arange(n)}
    for roi in rois:
        motor = roi.startswith(("MO", "SSp-ll"))
        own = smooth_noise(rng, n, int(rng.integers(15, 40)))
        trace = (0.012 * shared + (0.02 if motor else 0.008) * running + 0.006 * own
                 + rng.normal(0.0, 0.002, n))
        data[roi] = np.round(trace, 6)
    return pd.DataFrame(data)


def mesomap_sibling(path, suffix: str):
    """``x_traces.csv`` -> ``x_traces.mask.npy`` / ``x_traces.regions.csv``."""
    return path.with_name(path.name[:-len(".csv")] + suffix)


def write_mesomap_traces(model, path) -> None:
    _, rows = mesomap_mask()
    write_csv(path, mesomap_traces(model, [r[0] for r in rows]))


def write_mesomap_mask(model, path) -> None:
    write_npy(path, mesomap_mask()[0])


def write_mesomap_regions(model, path) -> None:
    _, rows = mesomap_mask()
    write_csv(path, pd.DataFrame(rows, columns=["acronym", "mask_label", "name"]))


# ---------------------------------------------------------------------------------
# suite2p (gratings sessions): cells x imaging frames, one frame per 2 nidaq pulses


SUITE2P_FILES = ("F.npy", "Fneu.npy", "iscell.npy", "spks.npy", "stat.npy", "ops.npy")


def suite2p_arrays(model) -> dict:
    rng = model.spec.rng("suite2p")
    frame_s = model.nidaq["edge_s"][::2]
    n_frames = frame_s.size
    fs = float(model.dhyana["rate"])
    n_rois = int(rng.integers(30, 51))
    ly, lx = SUITE2P_SHAPE

    rate_hz = rng.uniform(0.05, 0.4, n_rois)
    gain = np.ones((n_rois, n_frames))
    plan = model.trials
    if plan is not None and "ori" in plan.table:
        on = plan.table["stim_start"].to_numpy() + model.expstart_s
        off = plan.table["stim_stop"].to_numpy() + model.expstart_s
        ori = plan.table["ori"].to_numpy()
        trial = np.searchsorted(on, frame_s, side="right") - 1
        showing = intervals_mask(frame_s, on, off)
        tuned = rng.random(n_rois) < 0.4
        pref = rng.choice(np.unique(ori), n_rois)
        shown = np.where(showing, ori[np.clip(trial, 0, None)], np.nan)
        delta = np.deg2rad(shown[None, :] - pref[:, None])
        tuning = np.exp((np.cos(2 * delta) - 1.0) * 2.0)        # orientation tuning curve
        gain = 1.0 + np.where(tuned[:, None] & showing[None, :], 12.0 * tuning, 0.0)
    spikes = rng.poisson(rate_hz[:, None] / fs * gain).astype(np.float64)
    amplitude = rng.uniform(0.3, 1.2, n_rois)[:, None]
    calcium = exp_filter(spikes, 1.0 * fs) * amplitude
    base = rng.uniform(150.0, 600.0, n_rois)[:, None]
    shared = smooth_noise(rng, n_frames, int(fs * 5))[None, :]
    neuropil = (base * rng.uniform(0.5, 0.8, (n_rois, 1)) * (1.0 + 0.05 * shared)
                + rng.normal(0.0, 4.0, (n_rois, n_frames)))
    contamination = NEUROPIL_COEFFICIENT * (neuropil - neuropil.mean(1, keepdims=True))
    f = base * (1.0 + calcium) + contamination + rng.normal(0.0, 6.0, (n_rois, n_frames))
    probability = rng.beta(4.0, 1.6, n_rois)
    iscell = np.column_stack(((probability > 0.5).astype(np.float64), probability))

    stat = np.empty(n_rois, dtype=object)
    centres = np.column_stack((rng.integers(12, ly - 12, n_rois),
                               rng.integers(12, lx - 12, n_rois)))
    for i, (cy, cx) in enumerate(centres):                     # per ROI, not per sample
        r = rng.uniform(4.0, 7.0)
        dy, dx = np.mgrid[-7:8, -7:8]
        inside = dy ** 2 + dx ** 2 <= r ** 2
        lam = np.exp(-(dy[inside] ** 2 + dx[inside] ** 2) / (2 * (r / 2) ** 2))
        stat[i] = {
            "ypix": (cy + dy[inside]).astype(np.int32),
            "xpix": (cx + dx[inside]).astype(np.int32),
            "lam": (lam / lam.sum()).astype(np.float32),
            "med": [int(cy), int(cx)],
            "npix": int(inside.sum()),
            "radius": float(r),
        }
    stem = model.spec.stem
    ops = {
        "fs": fs, "nframes": int(n_frames), "neucoeff": NEUROPIL_COEFFICIENT,
        "Ly": ly, "Lx": lx, "tau": 1.0, "nplanes": 1, "nchannels": 1, "diameter": 12,
        "baseline": "maximin", "win_baseline": 60.0, "sig_baseline": 10.0,
        "prctile_baseline": 8.0,
        "data_path": [f"D:/jgronemeyer/250627_HFSA/data/sub-{model.spec.subject}/"
                      f"{model.spec.session}/func"],
        "save_path": f"D:/jgronemeyer/250627_HFSA/processed/suite2p/{stem}_suite2p/plane0",
    }
    return {
        "F.npy": f.astype(np.float32),
        "Fneu.npy": neuropil.astype(np.float32),
        "iscell.npy": iscell,
        "spks.npy": (spikes * amplitude * 40.0).astype(np.float32),
        "stat.npy": stat,
        "ops.npy": ops,
    }


def suite2p_writer(name: str):
    """A writer for one plane0 file; arrays are drawn once per model and cached on it."""
    def write(model, path) -> None:
        if "suite2p" not in model.cache:
            model.cache["suite2p"] = suite2p_arrays(model)
        write_npy(path, model.cache["suite2p"][name],
                  allow_pickle=name in ("stat.npy", "ops.npy"))
    return write
