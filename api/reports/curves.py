"""Arm-level curves for the reports: each seed smoothed, then mean and Student-t band over seeds."""

from __future__ import annotations

from typing import Any

import numpy as np

from api.metrics.service import Series
from engine.studies.statistics import mean_band

# The report draws a few hundred points per curve; more only thickens the line.
REPORT_POINTS = 400


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average; train loss at every step is too noisy to read otherwise."""
    if window <= 1 or len(values) < window:
        return values
    c = np.cumsum(np.insert(values, 0, 0.0))
    out = np.empty_like(values)
    out[window - 1:] = (c[window:] - c[:-window]) / window
    out[: window - 1] = c[1:window] / np.arange(1, window)
    return out


def _thin(steps: np.ndarray, values: np.ndarray) -> tuple[list[int], list[float]]:
    keep = np.unique(np.linspace(0, len(steps) - 1, min(len(steps), REPORT_POINTS)).astype(int))
    return steps[keep].tolist(), values[keep].tolist()


def arm_bands(data: dict[int, dict[str, Series]], labels: dict[int, str], metric: str,
              window: int = 1) -> dict[str, dict[str, Any]]:
    """label -> mean_band(...) over that arm's seeds for ``metric``."""
    per_arm: dict[str, list[tuple[list[int], list[float]]]] = {}
    for run, curves in sorted(data.items()):
        if metric in curves and len(curves[metric][0]):
            steps, values = curves[metric]
            per_arm.setdefault(labels[run], []).append(_thin(steps, smooth(values, window)))
    return {label: mean_band(curves) for label, curves in per_arm.items()}
