"""One session's timing model; every demo file of the session is derived from it.

All event times are first drawn as seconds ``s`` since the protocol started, on the
dataqueue's clock (``time.perf_counter`` of the acquisition PC).  :class:`Clock` turns
them into the numbers the files carry: ``queue_elapsed`` (100 ns ticks with a large
origin) and wall-clock text (naive local time, µs, running a few ppm off the queue
clock).  Devices:

``Dhyana``   mesoscope camera, ≈49.72 Hz, ``duration * 49`` frames (hardware.yaml says 49)
``ThorCam``  pupil camera ≈20 Hz, from just after the protocol starts until it is stopped
encoder      treadmill (event driven) or wheel (fixed 20 ms samples on its own clock)
``nidaq``    two edges per Dhyana frame, counted from a few seconds after the cameras

The dataqueue is the merge of all packets in push order; ``queue_elapsed`` is the push
time plus a 0–2 ms pop delay, kept strictly increasing.  :class:`GroundTruth` gives
every stream on the master clock (zero = first Dhyana row).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from ._util import box_smooth, intervals_mask, join_text, make_rng, smooth_noise, wall_strings

WALL_BASE = datetime(2025, 7, 6, 16, 10, 35, 612865)
QUEUE_BASE = 976929.43
EPOCH = datetime(1970, 1, 1)

TASKS = ("widefield", "gratings", "movies")
WHEEL_TASKS = ("gratings", "movies")
PROTOCOL = "HFSA"

DHYANA_RATE_HZ = 49.72
DHYANA_CONFIGURED_FPS = 49
THORCAM_RATE_HZ = 20.0
PULSES_PER_FRAME = 2
TREADMILL_MM_PER_TICK = 0.4105
WHEEL_MM_PER_CLICK = float(np.pi * 190.0 / 1024.0)
WHEEL_PERIOD_S = 0.02
PUPIL_PX_PER_MM = 53.6
MIN_DURATION_S = 10.0

#: Named deviations a session can carry (``write_session(variant=...)``).
VARIANTS = {
    "encoder_COM3": "the dataqueue (and timestamps.csv) call the encoder 'encoder_COM3'",
    "legacy_treadmill_header": "treadmill CSV header 'timestamp,distance,speed'",
    "encoder_wrap": "the encoder's µs clock wraps past 2**32 during the session",
    "opencv_pupil": "pupil sidecar in the OpenCV-MP4 writer layout instead of {'p0': [...]}",
    "dlc_pickle": "DeepLabCut output as a *_full.pickle instead of HDF5",
    "dlc_multianimal": "DeepLabCut HDF5 with 4 column levels (scorer, individuals, ...)",
    "wheel_dropped_rows": "a few wheel samples are missing from the dataqueue",
}

NOTE_TEXTS = {
    "widefield": (
        "Lots of running before being put under the scope",
        "Mouse calm, whisking",
        "Refocused mesoscope, LED power unchanged",
        "Brief grooming bout",
        "Pupil camera slightly out of focus, adjusted",
        "Running steadily on the treadmill",
    ),
    "gratings": (
        "Screen brightness checked before start",
        "Mouse alert, pupil large",
        "Some running during the gratings",
        "Mouse stopped running for a while",
    ),
    "movies": (
        "Movie playback smooth",
        "Grooming during a gray screen",
        "Running bouts during the movies",
        "Mouse calm",
    ),
}


@dataclass(frozen=True)
class CellSpec:
    """Everything that decides one session's content."""

    subject: str            # bare, e.g. "STREHAB07"
    session: str            # "ses-01"
    task: str               # bare, e.g. "widefield"
    start: datetime         # wall clock when the protocol started
    duration: float         # configured duration (s)
    seed: int
    variants: frozenset = frozenset()

    @property
    def stamp(self) -> str:
        return self.start.strftime("%Y%m%d_%H%M%S")

    @property
    def stem(self) -> str:
        return f"{self.stamp}_sub-{self.subject}_{self.session}_task-{self.task}"

    @property
    def session_number(self) -> str:
        return self.session.split("-", 1)[1]

    def rng(self, *name) -> np.random.Generator:
        return make_rng(self.seed, self.subject, self.session, self.task, *name)


@dataclass(frozen=True)
class Clock:
    """Session ``s`` (seconds since protocol start) -> queue ticks and wall clock."""

    queue_origin_ticks: int      # perf_counter at protocol start, 100 ns ticks
    wall_origin_us: int          # wall clock at protocol start, µs since the epoch
    drift: float                 # wall-clock rate / queue-clock rate - 1

    def ticks(self, s) -> np.ndarray:
        return self.queue_origin_ticks + np.rint(np.asarray(s, dtype=np.float64) * 1e7).astype(
            np.int64)

    def wall_us(self, s) -> np.ndarray:
        s = np.asarray(s, dtype=np.float64)
        return self.wall_origin_us + np.rint(s * (1.0 + self.drift) * 1e6).astype(np.int64)

    def wall_text(self, s) -> np.ndarray:
        return wall_strings(self.wall_us(s))

    def wall_datetime(self, s: float) -> datetime:
        return EPOCH + timedelta(microseconds=int(self.wall_us(s)))

    def seconds_from_wall_us(self, us) -> np.ndarray:
        us = np.asarray(us, dtype=np.float64)
        return (us - self.wall_origin_us) / 1e6 / (1.0 + self.drift)


@dataclass(eq=False)
class Stream:
    """One device's packets: when they were pushed and what the dataqueue records."""

    device_id: str
    push_s: np.ndarray
    device_ts: np.ndarray
    payload: np.ndarray
    in_queue: np.ndarray | None = None


@dataclass(eq=False)
class Behaviour:
    """Locomotion on a 100 Hz grid: speed (mm/s) and cumulative distance (mm)."""

    t: np.ndarray
    speed: np.ndarray
    distance: np.ndarray

    def speed_at(self, s):
        return np.interp(s, self.t, self.speed)

    def distance_at(self, s):
        return np.interp(s, self.t, self.distance)


@dataclass(eq=False)
class GroundTruth:
    """What one session's files encode, on the master clock.

    Seconds; zero is the ``queue_elapsed`` of the first Dhyana row of the dataqueue
    (the start of the experiment window).  Device sample times are the dataqueue rows'
    own times, so a loader that aligns through the dataqueue reproduces them up to
    float parsing; sidecar clocks (TimeReceivedByCore, PsychoPy, encoder µs) differ
    from them by the 0–2 ms pop delay (and, over long sessions, the few-ppm drift of
    the wall clock, which :meth:`master_from_wall` accounts for).
    """

    queue_zero: float
    dhyana_t: np.ndarray
    thorcam_t: np.ndarray
    encoder_t: np.ndarray
    encoder_in_dataqueue: np.ndarray
    encoder_distance_mm: np.ndarray
    encoder_speed_mm_s: np.ndarray
    nidaq_t: np.ndarray
    imaging_t: np.ndarray
    experiment_window: tuple
    device_windows: dict
    note_t: np.ndarray
    note_text: tuple
    pupil_diameter_mm: np.ndarray
    pupil_blink: np.ndarray
    trials: pd.DataFrame | None = None
    keypress_t: float | None = None
    psychopy_zero_t: float | None = None
    _clock: Clock | None = field(default=None, repr=False)
    _zero_s: float = field(default=0.0, repr=False)

    def __repr__(self) -> str:
        return (f"GroundTruth(dhyana={self.dhyana_t.size} frames, "
                f"thorcam={self.thorcam_t.size} frames, encoder={self.encoder_t.size} samples, "
                f"nidaq={self.nidaq_t.size} pulses, notes={len(self.note_text)}, "
                f"trials={0 if self.trials is None else len(self.trials)}, "
                f"window=(0.0, {self.experiment_window[1]:.3f}))")

    def master_from_wall(self, values) -> np.ndarray:
        """Naive wall-clock times (strings, datetimes) -> seconds on the master clock."""
        us = np.asarray(pd.to_datetime(pd.Series(values)).to_numpy(dtype="datetime64[us]"),
                        dtype=np.int64)
        return self._clock.seconds_from_wall_us(us) - self._zero_s


@dataclass(eq=False)
class SessionModel:
    spec: CellSpec
    clock: Clock
    encoder_id: str
    started: dict
    stopped: dict
    behaviour: Behaviour
    dhyana: dict
    thorcam: dict
    nidaq: dict
    encoder: dict
    pupil: dict
    notes: list
    trials: object | None          # stimulus.TrialPlan for wheel tasks
    expstart_s: float | None
    queue: dict
    truth: GroundTruth
    cache: dict = field(default_factory=dict)   # arrays shared by several files

    @property
    def wheel_rig(self) -> bool:
        return self.spec.task in WHEEL_TASKS


# ---------------------------------------------------------------------------------


def _behaviour(rng: np.random.Generator, t_end: float) -> Behaviour:
    """Alternating rest and running bouts with smooth speed profiles."""
    dt = 0.01
    t = np.arange(0.0, t_end + 1.0, dt)
    rest_mean = min(12.0, t_end / 8.0)
    run_mean = min(7.0, t_end / 6.0)
    n = int(t_end / max(0.5, rest_mean + run_mean) * 3) + 8
    rest = rng.exponential(rest_mean, n) + 0.3
    if t_end > 300:
        long = rng.random(n) < 0.1
        rest[long] += rng.exponential(60.0, int(long.sum()))
    rest[0] = rng.uniform(0.3, min(rest_mean, 0.25 * t_end))  # running starts early on
    run = np.minimum(rng.exponential(run_mean, n) + 1.0, max(2.0, 0.35 * t_end))  # stops too
    bounds = np.cumsum(np.column_stack((rest, run)).ravel())       # rest, run, rest, ...
    bout = np.searchsorted(bounds, t, side="right")
    running = (bout % 2) == 1
    level = rng.uniform(50.0, 160.0, bounds.size + 1)[bout]
    width = int(0.6 / dt)
    envelope = box_smooth(np.where(running, level, 0.0), width)
    active = box_smooth(running.astype(float), width)
    speed = envelope + smooth_noise(rng, t.size, int(0.25 / dt)) * 28.0 * active
    speed += smooth_noise(rng, t.size, int(0.5 / dt)) * 1.5 * (1.0 - active)  # fidgeting
    distance = np.concatenate(([0.0], np.cumsum((speed[1:] + speed[:-1]) * 0.5 * dt)))
    return Behaviour(t, speed, distance + rng.uniform(1e4, 6e4))


def _treadmill(rng, beh: Behaviour, start: float, stop: float, variants):
    """Event-driven encoder packets: ≈44 Hz while moving, one zero 100 ms after a stop."""
    n_max = int((stop - start) / 0.02) + 10
    grid = start + 0.002 + np.cumsum(0.0200 + rng.gamma(2.0, 0.0013, n_max))
    grid = grid[grid < stop - 0.001]
    moving = np.abs(beh.speed_at(grid)) > 4.0
    idx = np.flatnonzero(moving)
    if idx.size == 0:                                   # never happens with _behaviour,
        idx = np.arange(min(3, grid.size))              # but keep the file non-empty
    last = np.append(idx[1:] != idx[:-1] + 1, True)
    ends = idx[last]
    zero_t = grid[ends] + 0.100001
    nxt = np.searchsorted(idx, ends, side="right")
    next_t = np.where(nxt < idx.size, grid[idx[np.minimum(nxt, idx.size - 1)]], np.inf)
    zero_t = zero_t[(zero_t < next_t) & (zero_t < stop)]
    events = np.concatenate((grid[idx], zero_t))
    is_zero = np.concatenate((np.zeros(idx.size, bool), np.ones(zero_t.size, bool)))
    order = np.argsort(events, kind="stable")
    events, is_zero = events[order], is_zero[order]

    ticks = np.floor(beh.distance_at(events) / TREADMILL_MM_PER_TICK)
    pos = np.arange(events.size)
    ticks = ticks[np.maximum.accumulate(np.where(is_zero, 0, pos))]
    distance = np.round(ticks * TREADMILL_MM_PER_TICK, 2)

    span_us = (stop - start) * 1e6
    if "encoder_wrap" in variants:
        origin = 2**32 - int(rng.uniform(0.3, 0.7) * span_us)
    else:
        origin = int(rng.integers(100_000_000, 900_000_000))
    drift = rng.uniform(-40e-6, 40e-6)
    us = origin + np.rint((events - start) * 1e6 * (1.0 + drift)).astype(np.int64)
    dt = np.diff(us) * 1e-6
    speed = np.concatenate(([0.0], np.diff(distance) / dt))
    speed[is_zero] = 0.0
    speed = np.round(speed, 2) + 0.0                      # no "-0.0"
    timestamp = us % (2**32)

    read = events + rng.uniform(0.8e-3, 3e-3, events.size)
    push = read + rng.uniform(20e-6, 150e-6, events.size)
    payload = join_text("EncoderData(timestamp=", timestamp, ", distance=", distance,
                        " mm, speed=", speed, " mm/s)")
    return {
        "event_s": events, "read_s": read, "push_s": push, "payload": payload,
        "timestamp": timestamp, "distance_mm": distance, "speed_mm": speed,
        "in_queue": np.ones(events.size, bool),
    }


def _wheel(rng, beh: Behaviour, start: float, stop: float, variants):
    """Fixed-period wheel samples on the wheel's own millisecond clock."""
    drift = rng.uniform(-50e-6, 50e-6)
    first = start + rng.uniform(0.01, 0.03)
    n = max(2, int((stop - first - 0.005) * (1.0 + drift) / WHEEL_PERIOD_S))
    t0 = round(rng.uniform(1.6, 2.4), 3)              # Arduino millis() after its reset
    late = (rng.random(n) < 0.05) * 0.001
    late[0] = 0.0
    wheel_time = np.round(t0 + np.arange(n) * WHEEL_PERIOD_S + late, 3)
    sample_s = first + (wheel_time - t0) / (1.0 + drift) + rng.normal(0, 50e-6, n)
    clicks_abs = np.floor(beh.distance_at(sample_s) / WHEEL_MM_PER_CLICK).astype(np.int64)
    clicks = np.concatenate(([0], np.diff(clicks_abs)))
    dt = np.concatenate(([np.inf], np.diff(wheel_time)))
    speed = np.round(clicks * WHEEL_MM_PER_CLICK / dt, 4) + 0.0
    read = sample_s + rng.uniform(0.5e-3, 2.5e-3, n)
    push = read + rng.uniform(20e-6, 150e-6, n)
    in_queue = np.ones(n, bool)
    if "wheel_dropped_rows" in variants and n > 20:
        drop = rng.choice(np.arange(5, n - 5), size=min(int(rng.integers(3, 7)), n - 10),
                          replace=False)
        in_queue[drop] = False
    return {
        "event_s": sample_s, "read_s": read, "push_s": push, "payload": clicks.astype(str),
        "clicks": clicks, "time": wheel_time, "speed": speed, "in_queue": in_queue,
        "distance_mm": np.cumsum(clicks) * WHEEL_MM_PER_CLICK,
    }


def _pupil(rng, beh: Behaviour, frame_s: np.ndarray) -> dict:
    """True pupil diameter (mm) per pupil-camera frame and the frames inside blinks."""
    n = frame_s.size
    run = np.clip(np.interp(frame_s, beh.t, box_smooth(np.abs(beh.speed), 200)) / 100.0, 0, 1.5)
    slow = np.interp(frame_s, beh.t, smooth_noise(rng, beh.t.size, 1500))
    diameter = np.clip(rng.uniform(1.15, 1.45) + 0.3 * run + 0.12 * slow, 0.8, 2.2)
    span = frame_s[-1] - frame_s[0] if n else 0.0
    n_blinks = int(rng.poisson(max(span, 0.0) * 0.03)) + 1
    starts = np.sort(rng.uniform(frame_s[0], frame_s[-1], n_blinks)) if n else np.zeros(0)
    stops = np.minimum(starts + rng.uniform(0.15, 0.4, n_blinks), np.append(starts[1:], np.inf))
    return {"diameter_mm": diameter, "blink": intervals_mask(frame_s, starts, stops)}


def _queue(rng, clock: Clock, streams: list[Stream]) -> dict:
    """Merge the devices' packets in push order; pop times strictly increasing."""
    push = np.concatenate([s.push_s for s in streams])
    device = np.concatenate([np.full(s.push_s.size, k, dtype=np.int8)
                             for k, s in enumerate(streams)])
    order = np.lexsort((device, push))
    n = push.size
    pop = push[order] + rng.uniform(0.0, 0.002, n)
    steps = np.arange(n, dtype=np.int64)
    ticks = np.maximum.accumulate(clock.ticks(pop) - steps) + steps
    device = device[order]
    keep = np.concatenate([s.in_queue if s.in_queue is not None
                           else np.ones(s.push_s.size, bool) for s in streams])[order]
    device_ts = np.concatenate([s.device_ts for s in streams])[order]
    payload = np.concatenate([s.payload for s in streams])[order]
    ids = np.array([s.device_id for s in streams], dtype=object)
    return {
        "ticks": ticks, "push_s": push[order], "device": device, "device_id": ids[device],
        "device_ts": device_ts, "payload": payload, "keep": keep,
        "ticks_by_device": {s.device_id: ticks[device == k] for k, s in enumerate(streams)},
    }


def build_model(spec: CellSpec) -> SessionModel:
    """Draw every event of one session (vectorised; cheap even for hours)."""
    from .stimulus import build_trials

    if spec.duration < MIN_DURATION_S:
        raise ValueError(f"duration must be at least {MIN_DURATION_S} s, got {spec.duration}")
    rng = spec.rng("clock")
    clock = Clock(
        queue_origin_ticks=int(round((QUEUE_BASE + rng.uniform(0.0, 5000.0)) * 1e7)),
        wall_origin_us=(spec.start - EPOCH) // timedelta(microseconds=1),
        drift=float(rng.uniform(-3e-6, 3e-6)),
    )
    encoder_id = "encoder_COM3" if "encoder_COM3" in spec.variants else "encoder"
    dhyana, started, stopped = _mesoscope_and_device_times(rng, spec, encoder_id)
    thorcam = _pupil_camera(rng, started, stopped)
    nidaq = _nidaq_pulses(rng, dhyana, started)

    behaviour = _behaviour(spec.rng("behaviour"), stopped[encoder_id])
    if spec.task in WHEEL_TASKS:
        encoder = _wheel(spec.rng("wheel"), behaviour, started[encoder_id],
                         stopped[encoder_id], spec.variants)
    else:
        encoder = _treadmill(spec.rng("treadmill"), behaviour, started[encoder_id],
                             stopped[encoder_id], spec.variants)
    pupil = _pupil(spec.rng("pupil"), behaviour, thorcam["recv_s"] - 0.02)

    expstart_s = trials = None
    if spec.task in WHEEL_TASKS:
        expstart_s = float(nidaq["edge_s"][0] - rng.uniform(2e-3, 6e-3))
        trials = build_trials(spec.rng("psychopy"), spec.task,
                              dhyana["recv_s"][-1] - expstart_s - 0.5)
    notes = _notes(spec, clock, stopped["protocol"])

    streams = [
        Stream("Dhyana", dhyana["push_s"], clock.wall_text(dhyana["recv_s"]),
               np.arange(dhyana["recv_s"].size).astype(str)),
        Stream("ThorCam", thorcam["push_s"], clock.wall_text(thorcam["recv_s"]),
               np.arange(thorcam["recv_s"].size).astype(str)),
        Stream(encoder_id, encoder["push_s"], clock.wall_text(encoder["read_s"]),
               encoder["payload"], encoder["in_queue"]),
        Stream("nidaq", nidaq["push_s"], clock.wall_text(nidaq["read_s"]),
               nidaq["counter"].astype(str)),
    ]
    queue = _queue(spec.rng("queue"), clock, streams)
    truth = _ground_truth(clock, queue, encoder_id, encoder, started, stopped, notes, pupil,
                          trials, expstart_s)
    return SessionModel(
        spec=spec, clock=clock, encoder_id=encoder_id, started=started, stopped=stopped,
        behaviour=behaviour, dhyana=dhyana, thorcam=thorcam, nidaq=nidaq, encoder=encoder,
        pupil=pupil, notes=notes, trials=trials, expstart_s=expstart_s, queue=queue,
        truth=truth,
    )


def _mesoscope_and_device_times(rng, spec: CellSpec, encoder_id: str):
    """The mesoscope's frames (counted from the configured 49 fps, acquired at ≈49.72 Hz)
    and every device's start and stop times."""
    rate = DHYANA_RATE_HZ * (1.0 + rng.normal(0.0, 1e-4))
    n_frames = max(3, int(round(spec.duration * DHYANA_CONFIGURED_FPS)))
    started = {"protocol": 0.0, encoder_id: rng.uniform(3e-6, 8e-6),
               "Dhyana": rng.uniform(150e-6, 200e-6), "ThorCam": rng.uniform(500e-6, 600e-6)}
    expo = (started["Dhyana"] + rng.uniform(0.02, 0.04) + np.arange(n_frames) / rate
            + rng.normal(0.0, 20e-6, n_frames))
    recv = expo + 1.0 / rate + rng.uniform(0.8e-3, 2.5e-3, n_frames)
    dhyana = {"rate": rate, "expo_s": expo, "recv_s": recv,
              "push_s": recv + rng.uniform(50e-6, 400e-6, n_frames)}
    last = recv[-1]
    started["nidaq"] = min(rng.uniform(3.9, 4.3), 0.2 * last)
    stopped = {encoder_id: last + rng.uniform(0.05, 0.25)}
    stopped["nidaq"] = stopped[encoder_id] + rng.uniform(0.08, 0.12)
    stopped["protocol"] = stopped["nidaq"] + rng.uniform(0.35, 0.55)
    stopped["Dhyana"] = stopped["protocol"] + rng.uniform(0.15, 0.25)
    stopped["ThorCam"] = stopped["Dhyana"] + rng.uniform(2e-6, 8e-6)
    return dhyana, started, stopped


def _pupil_camera(rng, started: dict, stopped: dict) -> dict:
    """The pupil camera runs until it is stopped, a little after the last mesoscope frame."""
    t_rate = THORCAM_RATE_HZ * (1.0 + rng.normal(0.0, 3e-4))
    t_first = started["ThorCam"] + rng.uniform(0.04, 0.08)
    n_pupil = int((stopped["ThorCam"] - 0.005 - t_first) * t_rate) + 1
    t_recv = t_first + np.arange(n_pupil) / t_rate + rng.normal(0.0, 0.3e-3, n_pupil)
    return {"rate": t_rate, "recv_s": t_recv, "push_s": t_recv + rng.uniform(50e-6, 400e-6, n_pupil)}


def _nidaq_pulses(rng, dhyana: dict, started: dict) -> dict:
    """Both edges of every mesoscope frame exposed after the task started."""
    expo, rate = dhyana["expo_s"], dhyana["rate"]
    after = expo[expo >= started["nidaq"]]
    edges = np.sort(np.concatenate((after, after + 0.5 / rate)))
    read = edges + rng.uniform(0.3e-3, 1.5e-3, edges.size)
    return {"edge_s": edges, "read_s": read,
            "push_s": read + rng.uniform(20e-6, 200e-6, edges.size),
            "counter": np.arange(1, edges.size + 1)}


def _notes(spec: CellSpec, clock: Clock, protocol_stop: float) -> list:
    """A few notes, at whole seconds of the wall clock: (session seconds, text)."""
    note_rng = spec.rng("notes")
    texts = NOTE_TEXTS.get(spec.task, NOTE_TEXTS["widefield"])
    n_notes = int(note_rng.integers(1, min(4, len(texts)) + 1))
    note_s = np.sort(note_rng.uniform(0.05, 0.95, n_notes)) * protocol_stop
    note_us = np.unique((clock.wall_us(note_s) // 1_000_000) * 1_000_000)  # one per second
    return [(float(s), str(text)) for s, text in zip(
        clock.seconds_from_wall_us(note_us), note_rng.choice(texts, note_us.size, replace=False))]


def _ground_truth(clock, queue, encoder_id, encoder, started, stopped, notes, pupil, trials,
                  expstart_s) -> "GroundTruth":
    """Every stream on the master clock: zero at the first Dhyana row of the dataqueue."""
    by_dev = queue["ticks_by_device"]
    zero_ticks = int(by_dev["Dhyana"][0])
    zero_s = (zero_ticks - clock.queue_origin_ticks) / 1e7

    def master(ticks):
        return (np.asarray(ticks, dtype=np.int64) - zero_ticks) / 1e7

    dhyana_t = master(by_dev["Dhyana"])
    nidaq_t = master(by_dev["nidaq"])
    truth = GroundTruth(
        queue_zero=zero_ticks / 1e7,
        dhyana_t=dhyana_t,
        thorcam_t=master(by_dev["ThorCam"]),
        encoder_t=master(by_dev[encoder_id]),
        encoder_in_dataqueue=encoder["in_queue"].copy(),
        encoder_distance_mm=np.asarray(encoder["distance_mm"], dtype=np.float64),
        encoder_speed_mm_s=np.asarray(encoder.get("speed_mm", encoder.get("speed")),
                                      dtype=np.float64),
        nidaq_t=nidaq_t,
        imaging_t=nidaq_t[::PULSES_PER_FRAME],
        experiment_window=(0.0, float(dhyana_t[-1])),
        device_windows={(PROTOCOL if k == "protocol" else k): (started[k] - zero_s,
                                                               stopped[k] - zero_s)
                        for k in started},
        note_t=np.array([s for s, _ in notes]) - zero_s,
        note_text=tuple(text for _, text in notes),
        pupil_diameter_mm=pupil["diameter_mm"],
        pupil_blink=pupil["blink"],
        _clock=clock,
        _zero_s=zero_s,
    )
    if trials is not None:
        offset = expstart_s - zero_s
        truth.trials = trials.truth(offset)
        truth.keypress_t = trials.key_started + trials.key_rt + offset
        truth.psychopy_zero_t = offset
    return truth
