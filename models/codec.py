"""Packing metric points into chunk rows and back, with numpy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Packed:
    start_step: int
    end_step: int
    n: int
    stride: int
    steps: bytes | None
    values: bytes
    nonfinite: bool


def pack(steps: list[int] | np.ndarray, values: list[float] | np.ndarray) -> Packed:
    """Steps that form an arithmetic range are stored as (start, stride) only."""
    s = np.asarray(steps, dtype=np.int64)
    v = np.asarray(values, dtype=np.float64)
    stride = int(s[1] - s[0]) if len(s) > 1 else 1
    regular = stride > 0 and bool(np.all(np.diff(s) == stride))
    return Packed(int(s[0]), int(s[-1]), len(s), stride if regular else 0,
                  None if regular else s.tobytes(), v.tobytes(), not bool(np.isfinite(v).all()))


def unpack_steps(start_step: int, n: int, stride: int, steps: bytes | None) -> np.ndarray:
    if stride:
        return start_step + stride * np.arange(n, dtype=np.int64)
    return np.frombuffer(steps or b"", dtype=np.int64)


def unpack_values(values: bytes) -> np.ndarray:
    return np.frombuffer(values, dtype=np.float64)


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


def columns_by_series(rows: Any) -> dict[tuple[int, str], list[list[Any]]]:
    """Rows of (run, metric, start_step, n, stride, steps, values), in step order, gathered
    into the column lists ``unpack_series`` takes, per (run, metric)."""
    parts: dict[tuple[int, str], list[list[Any]]] = {}
    for run, metric, *cols in rows:
        have = parts.setdefault((run, metric), [[], [], [], [], []])
        for col, value in zip(have, cols, strict=True):
            col.append(value)
    return parts
