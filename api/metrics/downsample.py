"""Deterministic min/max-bucket downsampling: every bucket keeps its lowest and its
highest point, so spikes and divergence survive; the first and last points always stay."""

from __future__ import annotations

import numpy as np


def minmax_indices(values: np.ndarray, max_points: int) -> np.ndarray:
    """Sorted indices of at most ``max_points`` points of ``values`` to keep."""
    n = len(values)
    if n <= max_points:
        return np.arange(n)
    buckets = max(1, (max_points - 2) // 2)
    size = -(-(n - 2) // buckets)  # ceil: interior points per bucket
    inner = values[1 : n - 1]
    pad = buckets * size - len(inner)
    # NaN counts as an extreme on both sides (np.argmin/argmax return the first NaN),
    # so a diverging point is never dropped; padding never wins.
    lo = np.concatenate([inner, np.full(pad, np.inf)]).reshape(buckets, size)
    hi = np.concatenate([inner, np.full(pad, -np.inf)]).reshape(buckets, size)
    offsets = np.arange(buckets) * size
    picks = np.concatenate([offsets + lo.argmin(axis=1), offsets + hi.argmax(axis=1)]) + 1
    picks = picks[picks < n - 1]
    return np.unique(np.concatenate([[0, n - 1], picks]))
