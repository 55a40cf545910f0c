"""Helpers shared by the demo writers: seeding, atomic writes, text forms of clocks."""
from __future__ import annotations

import contextlib
import os
import zlib
from pathlib import Path
from typing import Iterator

import numpy as np

#: How the lab's software writes wall-clock times (naive local time, µs precision).
WALL_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def stable_int(text: str) -> int:
    """A process-independent hash of ``text`` (Python's ``hash`` is salted per run)."""
    return zlib.crc32(text.encode("utf-8"))


def make_rng(*parts) -> np.random.Generator:
    """A generator seeded from ints and strings, identical on every run and platform."""
    entropy = [p if isinstance(p, int) else stable_int(str(p)) for p in parts]
    return np.random.default_rng(np.random.SeedSequence([abs(e) for e in entropy]))


# ---------------------------------------------------------------------------------
# atomic writes: a temporary file beside the target, renamed over it when complete


def temp_path_for(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


@contextlib.contextmanager
def atomic_path(path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` on success.

    On any exception (including KeyboardInterrupt) the temporary file is removed, so
    an interrupted generation never leaves a half-written file under a real name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def write_bytes(path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)


def write_text(path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_csv(path, frame, **kwargs) -> None:
    """``DataFrame.to_csv`` (no index, ``\\n`` line ends) through a temporary file."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, lineterminator="\n", **kwargs)


def write_npy(path, array, *, allow_pickle: bool = False) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, array, allow_pickle=allow_pickle)


# ---------------------------------------------------------------------------------
# vectorised text forms


def wall_strings(us_since_epoch) -> np.ndarray:
    """µs since the epoch (naive local) -> ``YYYY-MM-DD HH:MM:SS.ffffff`` strings."""
    stamps = np.asarray(us_since_epoch, dtype=np.int64).astype("datetime64[us]")
    text = np.datetime_as_string(stamps, unit="us")
    return np.strings.replace(text, "T", " ")


def join_text(*parts) -> np.ndarray:
    """Element-wise concatenation of string arrays and scalars."""
    out = np.asarray(parts[0]).astype(str)
    for part in parts[1:]:
        out = np.strings.add(out, np.asarray(part).astype(str))
    return out


# ---------------------------------------------------------------------------------
# signals


def box_smooth(x: np.ndarray, width: int, passes: int = 2) -> np.ndarray:
    """Moving average of ``width`` samples applied ``passes`` times (edges held)."""
    width = int(max(1, width))
    y = np.asarray(x, dtype=np.float64)
    if width == 1 or y.size == 0:
        return y.copy()
    for _ in range(passes):
        pad_lo = width // 2
        pad_hi = width - 1 - pad_lo
        padded = np.concatenate((np.full(pad_lo, y[0]), y, np.full(pad_hi, y[-1])))
        c = np.concatenate(([0.0], np.cumsum(padded)))
        y = (c[width:] - c[:-width]) / width
    return y


def smooth_noise(rng: np.random.Generator, n: int, width: int) -> np.ndarray:
    """Stationary Gaussian-like coloured noise with unit variance (smoothed over ``width``)."""
    width = int(max(1, width))
    noise = box_smooth(rng.standard_normal(n + 4 * width), width)[2 * width:2 * width + n]
    box = np.full(width, 1.0 / width)
    return noise / np.sqrt(np.sum(np.convolve(box, box) ** 2))


def exp_filter(events: np.ndarray, tau_samples: float) -> np.ndarray:
    """Convolve the rows of ``events`` with a causal exponential kernel (via FFT)."""
    events = np.atleast_2d(np.asarray(events, dtype=np.float64))
    n = events.shape[-1]
    k_len = int(min(n, max(1, np.ceil(tau_samples * 8))))
    kernel = np.exp(-np.arange(k_len) / max(tau_samples, 1e-9))
    size = 1 << int(np.ceil(np.log2(n + k_len)))
    out = np.fft.irfft(np.fft.rfft(events, size, axis=-1) * np.fft.rfft(kernel, size), size,
                       axis=-1)
    return out[..., :n]


def intervals_mask(t: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """True where ``t`` falls inside one of the sorted, disjoint [start, stop) intervals."""
    if len(starts) == 0:
        return np.zeros(np.shape(t), dtype=bool)
    i = np.searchsorted(starts, t, side="right") - 1
    ok = i >= 0
    out = np.zeros(np.shape(t), dtype=bool)
    out[ok] = t[ok] < np.asarray(stops)[i[ok]]
    return out
