"""Camera frame-metadata sidecars and the pupil camera's DeepLabCut output."""
from __future__ import annotations

import pickle

import numpy as np
import msgspec
import pandas as pd

from ._util import atomic_path, smooth_noise, write_bytes
from .model import EPOCH, PUPIL_PX_PER_MM

DLC_SCORER = "DLC_Resnet50_250627_HFSAJul24shuffle1_snapshot_110"
DLC_MA_SCORER = "DLC_DlcrnetMS5_250627_HFSAJul24shuffle1_snapshot_110"
BODYPARTS = tuple(f"Pupil{i}" for i in range(1, 9))
PUPIL_ROI = (440, 305, 509, 509)          # x, y, width, height (hardware.yaml)

CAMERAS = {
    "Dhyana": {
        "exposure_ms": 20.0, "pixel_size_um": 6.5, "height": 512, "width": 512,
        "pixel_type": "GRAY16", "binning": "4", "roi": (0, 0), "temperature": -8.0,
        "position": {"x": -1250.5, "y": 842.25, "z": 3021.0},
        "properties": (("Dhyana", "Exposure", "20.0000"), ("Dhyana", "Gain", "HDR")),
    },
    "ThorCam": {
        "exposure_ms": 35.9, "pixel_size_um": 3.45, "height": PUPIL_ROI[3],
        "width": PUPIL_ROI[2], "pixel_type": "GRAY8", "binning": "1",
        "roi": PUPIL_ROI[:2], "temperature": 24.5,
        "position": {"x": 0.0, "y": 0.0, "z": 0.0},
        "properties": (("ThorCam", "Exposure", "35.9000"),),
    },
}


def _frame_dicts(model, device: str, started_s: float, recv_s: np.ndarray) -> list[dict]:
    """pymmcore-plus ``FrameMetaV1`` dicts, one per frame (Micro-Manager tags as text)."""
    cam = CAMERAS[device]
    rng = model.spec.rng("sidecar", device)
    n = recv_s.size
    runner_ms = np.round((recv_s - started_s) * 1000.0, 4).tolist()
    elapsed = np.round((recv_s - started_s - 0.9e-3) * 1000.0, 4).astype(str).tolist()
    received = model.clock.wall_text(recv_s).tolist()
    image_number = np.arange(n).astype(str).tolist()
    drift = np.cumsum(rng.normal(0.0, 0.01, n)).clip(-0.3, 0.3)
    temperature = (np.round(cam["temperature"] + drift, 1) + 0.0).astype(str).tolist()
    remaining = np.minimum(rng.geometric(0.7, n) - 1, 3).tolist()
    props = [{"dev": d, "prop": p, "val": v} for d, p, v in cam["properties"]]
    height, width = str(cam["height"]), str(cam["width"])
    roi_x, roi_y = str(cam["roi"][0]), str(cam["roi"][1])
    exposure, pixel_size = cam["exposure_ms"], cam["pixel_size_um"]
    position, pixel_type, binning = cam["position"], cam["pixel_type"], cam["binning"]
    return [
        {
            "format": "frame-dict",
            "version": "1.0",
            "runner_time_ms": rt,
            "camera_device": device,
            "exposure_ms": exposure,
            "property_values": props,
            "hardware_triggered": False,
            "images_remaining_in_buffer": rem,
            "camera_metadata": {
                "Binning": binning,
                "Camera": device,
                "ElapsedTime-ms": el,
                "Height": height,
                "ImageNumber": num,
                "PixelType": pixel_type,
                "ROI-X-start": roi_x,
                "ROI-Y-start": roi_y,
                "Temperature": tc,
                "TimeReceivedByCore": tr,
                "Width": width,
            },
            "position": position,
            "pixel_size_um": pixel_size,
            "mda_event": None,
        }
        for rt, el, tr, num, tc, rem in zip(runner_ms, elapsed, received, image_number,
                                             temperature, remaining)
    ]


def meso_sidecar_bytes(model) -> bytes:
    frames = _frame_dicts(model, "Dhyana", model.started["Dhyana"], model.dhyana["recv_s"])
    return msgspec.json.encode({"p0": frames})


def pupil_sidecar_bytes(model) -> bytes:
    recv = model.thorcam["recv_s"]
    if "opencv_pupil" in model.spec.variants:
        clock = model.clock
        frames = [{"index": i, "device_ts": ts}
                  for i, ts in enumerate(clock.wall_text(recv).tolist())]
        return msgspec.json.encode({
            "frame_metadatas": {},
            "device": "ThorCam",
            "started": clock.wall_datetime(model.started["ThorCam"]).isoformat(),
            "stopped": clock.wall_datetime(model.stopped["ThorCam"]).isoformat(),
            "frames": frames,
        })
    return msgspec.json.encode({"p0": _frame_dicts(model, "ThorCam", model.started["ThorCam"], recv)})


def write_meso_sidecar(model, path) -> None:
    write_bytes(path, meso_sidecar_bytes(model))


def write_pupil_sidecar(model, path) -> None:
    write_bytes(path, pupil_sidecar_bytes(model))


# ---------------------------------------------------------------------------------
# DeepLabCut


def dlc_filename(stem: str, variants) -> str:
    if "dlc_pickle" in variants:
        return f"{stem}_pupil{DLC_SCORER}_full.pickle"
    if "dlc_multianimal" in variants:
        return f"{stem}_pupil{DLC_MA_SCORER}_el.h5"
    return f"{stem}_pupil{DLC_SCORER}.h5"


def landmarks(model) -> tuple[np.ndarray, np.ndarray]:
    """Eight points on the pupil rim per pupil frame: ``xy`` (n, 8, 2), ``likelihood`` (n, 8).

    Pupil(2k+1) and Pupil(2k+2) are opposite ends of a diameter; blinks and a few
    single points get low likelihood and scattered positions.
    """
    rng = model.spec.rng("dlc")
    diameter = model.truth.pupil_diameter_mm
    blink = model.truth.pupil_blink
    n = diameter.size
    cx = PUPIL_ROI[2] / 2 + rng.uniform(-20, 20) + 4.0 * smooth_noise(rng, n, 60)
    cy = PUPIL_ROI[3] / 2 + rng.uniform(-20, 20) + 3.0 * smooth_noise(rng, n, 60)
    radius = diameter * PUPIL_PX_PER_MM / 2.0
    theta0 = rng.uniform(0.0, np.pi / 4)
    k = np.arange(4)
    angles = np.empty(8)
    angles[0::2] = theta0 + k * np.pi / 4
    angles[1::2] = angles[0::2] + np.pi
    xy = np.empty((n, 8, 2))
    xy[..., 0] = cx[:, None] + radius[:, None] * np.cos(angles)
    xy[..., 1] = cy[:, None] + radius[:, None] * np.sin(angles)
    xy += rng.normal(0.0, 0.5, xy.shape)
    likelihood = 1.0 - rng.beta(1.2, 30.0, (n, 8))
    dropout = rng.random((n, 8)) < 0.015
    likelihood[dropout] = rng.uniform(0.05, 0.65, int(dropout.sum()))
    xy[dropout] += rng.normal(0.0, 6.0, (int(dropout.sum()), 2))
    nb = int(blink.sum())
    likelihood[blink] = rng.uniform(0.01, 0.35, (nb, 8))
    xy[blink] = np.stack((cx[blink], cy[blink]), axis=-1)[:, None, :] + rng.normal(
        0.0, 12.0, (nb, 8, 2))
    return xy, likelihood


def dlc_frame(model) -> pd.DataFrame:
    xy, likelihood = landmarks(model)
    n = xy.shape[0]
    values = np.concatenate((xy, likelihood[..., None]), axis=-1).reshape(n, 24)
    if "dlc_multianimal" in model.spec.variants:
        columns = pd.MultiIndex.from_product(
            [[DLC_MA_SCORER], ["mouse1"], BODYPARTS, ["x", "y", "likelihood"]],
            names=["scorer", "individuals", "bodyparts", "coords"])
    else:
        columns = pd.MultiIndex.from_product(
            [[DLC_SCORER], BODYPARTS, ["x", "y", "likelihood"]],
            names=["scorer", "bodyparts", "coords"])
    return pd.DataFrame(values, columns=columns)


def write_dlc_h5(model, path) -> None:
    frame = dlc_frame(model)
    with atomic_path(path) as tmp:
        # track_times=False and no PyTables index keep the bytes reproducible
        with pd.HDFStore(tmp, mode="w") as store:
            store.put("df_with_missing", frame, format="table", track_times=False,
                      index=False)


def dlc_pickle_object(model) -> dict:
    """DeepLabCut's ``*_full.pickle``: run metadata, then one entry per frame."""
    xy, likelihood = landmarks(model)
    n = xy.shape[0]
    clock = model.clock
    analysed = (clock.wall_datetime(model.stopped["ThorCam"] + 3600.0) - EPOCH).total_seconds()
    width = max(4, int(np.ceil(np.log10(max(n, 2)))))
    data: dict = {"metadata": {
        "nms radius": 5.0,
        "minimal confidence": 0.01,
        "sigma": 1,
        "PAFgraph": [],
        "PAFinds": [],
        "all_joints": [[i] for i in range(len(BODYPARTS))],
        "all_joints_names": list(BODYPARTS),
        "nframes": n,
        "c_engine": False,
        "Scorer": DLC_SCORER,
        "fps": round(float(model.thorcam["rate"]), 3),
        "frame_dimensions": (PUPIL_ROI[3], PUPIL_ROI[2]),
        "start": analysed,
        "stop": analysed + n / 180.0,
        "run_duration": n / 180.0,
        "batch_size": 8,
        "cropping": False,
        "cropping_parameters": [0, PUPIL_ROI[2], 0, PUPIL_ROI[3]],
    }}
    points = list(xy.astype(np.float32).reshape(n * 8, 1, 2))
    conf = list(likelihood.astype(np.float32).reshape(n * 8, 1, 1))
    for i in range(n):
        data[f"frame{i:0{width}d}"] = {
            "coordinates": (points[8 * i:8 * i + 8],),
            "confidence": conf[8 * i:8 * i + 8],
            "costs": None,
        }
    return data


def write_dlc_pickle(model, path) -> None:
    write_bytes(path, pickle.dumps(dlc_pickle_object(model), protocol=4))


def write_dlc(model, path) -> None:
    if "dlc_pickle" in model.spec.variants:
        write_dlc_pickle(model, path)
    else:
        write_dlc_h5(model, path)
