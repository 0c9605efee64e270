"""Packing metric points into rows and back, with numpy.

Chunks (a running job's stream) hold float64 values as they arrive. A consolidated series
is compact: values in float32 when every one of them survives the round trip bit for bit
(the engine computed them in float32), else float64; then zlib, on the bytes as they are or
byte-shuffled (all values' first bytes, then all second bytes...: the sign/exponent bytes of a
curve repeat, and a seed-wave job's curves come to 3.3 bytes a point instead of 4.1 raw or 3.6
with zlib alone), whichever is smallest, raw when neither pays. ``codec`` records the choice.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

# Bits of a series' ``codec``; 0 is the chunks' layout (raw float64, raw int64 steps).
F32, ZLIB, SHUFFLE, STEPS_ZLIB = 1, 2, 4, 8


@dataclass
class Packed:
    start_step: int
    end_step: int
    n: int
    stride: int
    steps: bytes | None
    values: bytes
    nonfinite: bool
    codec: int = 0


def _steps(steps: list[int] | np.ndarray) -> tuple[np.ndarray, int]:
    """Steps that form an arithmetic range are stored as (start, stride) only: stride 0 otherwise."""
    s = np.asarray(steps, dtype=np.int64)
    stride = int(s[1] - s[0]) if len(s) > 1 else 1
    return s, stride if stride > 0 and bool(np.all(np.diff(s) == stride)) else 0


def pack(steps: list[int] | np.ndarray, values: list[float] | np.ndarray) -> Packed:
    """A chunk: raw float64 values, as the stream hands them over."""
    s, stride = _steps(steps)
    v = np.asarray(values, dtype=np.float64)
    return Packed(int(s[0]), int(s[-1]), len(s), stride, None if stride else s.tobytes(), v.tobytes(),
                  not bool(np.isfinite(v).all()))


def narrowest(v: np.ndarray) -> np.ndarray:
    """float32 when it gives back every float64 bit for bit (NaN, inf and -0.0 included)."""
    with np.errstate(over="ignore"):
        v32 = v.astype(np.float32)
    return v32 if v32.astype(np.float64).tobytes() == v.tobytes() else v


def _smallest(raw: bytes, width: int, codec: int) -> tuple[bytes, int]:
    shuffled = np.frombuffer(raw, np.uint8).reshape(-1, width).T.tobytes()
    options = [(raw, codec), (zlib.compress(raw), codec | ZLIB),
               (zlib.compress(shuffled), codec | ZLIB | SHUFFLE)]
    return min(options, key=lambda o: len(o[0]))  # the first, raw, on a tie


def pack_series(steps: np.ndarray, values: np.ndarray) -> Packed:
    """A whole curve in its compact form (see the module's docstring)."""
    s, stride = _steps(steps)
    v = np.asarray(values, dtype=np.float64)
    narrow = narrowest(v)
    blob, codec = _smallest(narrow.tobytes(), narrow.dtype.itemsize, F32 if narrow.dtype == np.float32 else 0)
    explicit = None
    if not stride:
        explicit = zlib.compress(np.diff(s, prepend=0).tobytes())  # irregular steps still grow slowly
        codec |= STEPS_ZLIB
    return Packed(int(s[0]), int(s[-1]), len(s), stride, explicit, blob, not bool(np.isfinite(v).all()),
                  codec)


def unpack_steps(start_step: int, n: int, stride: int, steps: bytes | None, codec: int = 0) -> np.ndarray:
    if stride:
        return start_step + stride * np.arange(n, dtype=np.int64)
    if codec & STEPS_ZLIB:
        return np.cumsum(np.frombuffer(zlib.decompress(steps or b""), dtype=np.int64))
    return np.frombuffer(steps or b"", dtype=np.int64)


def unpack_values(values: bytes, codec: int = 0) -> np.ndarray:
    """float64 whatever the stored width: a float32 value widens back to the exact float it was."""
    width = 4 if codec & F32 else 8
    raw = zlib.decompress(values) if codec & ZLIB else values
    if codec & SHUFFLE:
        raw = np.frombuffer(raw, np.uint8).reshape(width, -1).T.tobytes()
    return np.frombuffer(raw, dtype=np.float32 if width == 4 else np.float64).astype(np.float64, copy=False)


def unpack_curve(start_step: int, n: int, stride: int, steps: bytes | None, values: bytes,
                 codec: int) -> tuple[np.ndarray, np.ndarray]:
    return unpack_steps(start_step, n, stride, steps, codec), unpack_values(values, codec)


def unpack_series(starts: list[int], ns: list[int], strides: list[int],
                  steps: list[bytes | None], values: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """A whole curve from its chunks (in step order), decoded in a few vector operations."""
    v = np.frombuffer(b"".join(values), dtype=np.float64)
    n = np.asarray(ns, dtype=np.int64)
    if all(strides):
        chunk = np.repeat(np.arange(len(n)), n)
        pos = np.arange(int(n.sum()), dtype=np.int64) - np.repeat(np.cumsum(n) - n, n)
        return np.asarray(starts, dtype=np.int64)[chunk] + np.asarray(strides, dtype=np.int64)[chunk] * pos, v
    parts = [unpack_steps(a, b, c, d) for a, b, c, d in zip(starts, ns, strides, steps, strict=True)]
    return np.concatenate(parts), v


def pack_index(seqs: list[int], ns: list[int]) -> bytes:
    """Which event (seq) carried how many of a series' points, in step order: replaying the
    event stream of a finished shard cuts its events' points out of the series with it."""
    s = np.asarray(seqs, dtype=np.int64)
    return zlib.compress(np.concatenate([np.diff(s, prepend=0), np.asarray(ns, dtype=np.int64)]).tobytes())


def unpack_index(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    both = np.frombuffer(zlib.decompress(blob), dtype=np.int64)
    half = len(both) // 2
    return np.cumsum(both[:half]), both[half:]


def split_by_index(steps: np.ndarray, values: np.ndarray,
                   index: bytes) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(seq, steps, values) of each chunk the series was made of, in step order."""
    seqs, ns = unpack_index(index)
    ends = np.cumsum(ns)
    for seq, end, n in zip(seqs.tolist(), ends.tolist(), ns.tolist(), strict=True):
        yield seq, steps[end - n:end], values[end - n:end]


def columns_by_series(rows: Any) -> dict[tuple[int, str], list[list[Any]]]:
    """Rows of (run, metric, *columns), in step order, gathered into one list per column per
    (run, metric): with (start_step, n, stride, steps, values), what ``unpack_series`` takes."""
    parts: dict[tuple[int, str], list[list[Any]]] = {}
    for run, metric, *cols in rows:
        have = parts.setdefault((run, metric), [[] for _ in cols])
        for col, value in zip(have, cols, strict=True):
            col.append(value)
    return parts
