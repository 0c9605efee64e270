"""How often a nominal interval really covers the true mean, by simulation.

A "95%" interval that covers 80% of the time overstates certainty; this measures it for the
interval methods of ``statistics.interval`` on data with a known mean, at the seed counts
people run. ``bench/coverage.py`` prints the table; a test holds the default method to it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from engine.studies.statistics import LEVEL, interval

# name -> (draw n values, true mean): a symmetric case and a skewed one (losses are skewed)
DISTRIBUTIONS = {
    "normal": (lambda rng, shape: rng.normal(0.0, 1.0, shape), 0.0),
    "lognormal": (lambda rng, shape: rng.lognormal(0.0, 1.0, shape), math.exp(0.5)),
}


def _percentile(v: np.ndarray, level: float, seed: int) -> tuple[float, float]:
    """The percentile bootstrap, the method the t interval replaced; measured for comparison."""
    from scipy import stats

    ci = stats.bootstrap((v,), np.mean, method="percentile", confidence_level=level,
                         n_resamples=2000, rng=seed).confidence_interval
    return float(ci.low), float(ci.high)


def _method(name: str):
    if name == "percentile":
        return _percentile
    return lambda v, level, seed: interval(v, level, name, seed)


def coverage(method: str, distribution: str, n: int, trials: int = 2000, level: float = LEVEL,
             seed: int = 0) -> dict[str, Any]:
    """Fraction of ``trials`` samples of size ``n`` whose interval contains the true mean."""
    draw, truth = DISTRIBUTIONS[distribution]
    samples = draw(np.random.default_rng(seed), (trials, n))
    make = _method(method)
    hits = 0
    for t, v in enumerate(samples):
        lo, hi = make(v, level, t)
        hits += lo <= truth <= hi
    return {"method": method, "distribution": distribution, "n": n, "trials": trials,
            "level": level, "coverage": hits / trials}
