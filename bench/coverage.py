"""Coverage of the "95%" intervals over seeds (``make bench-coverage``): for each interval
method, normal and log-normal data with a known mean, 3, 5 and 10 seeds, the fraction of
simulated samples whose interval contains the true mean. Seeded: the same figures every run.

The last line of output is one JSON object: method -> distribution -> n -> coverage.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.studies.coverage import DISTRIBUTIONS, coverage  # noqa: E402

METHODS = ["student-t", "bca", "percentile"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2000)
    args = parser.parse_args()
    out: dict[str, dict[str, dict[int, float]]] = {}
    print(f"{'method':<11} {'data':<10} " + " ".join(f"n={n:<5}" for n in (3, 5, 10)))
    for method in METHODS:
        for dist in DISTRIBUTIONS:
            row = {n: coverage(method, dist, n, args.trials)["coverage"] for n in (3, 5, 10)}
            out.setdefault(method, {})[dist] = row
            print(f"{method:<11} {dist:<10} " + " ".join(f"{c:<7.3f}" for c in row.values()), flush=True)
    print(json.dumps({"trials": args.trials, "level": 0.95, "coverage": out}))


if __name__ == "__main__":
    main()
