"""The study notes' experiment, reproduced (``make bench-seed-wave``): preset ``seed-wave``
(SGD, Momentum 0.9 and Adam at lr 1e-2, batch 64, 10,000 steps) from seeds 0-4, and each run's
final MSE over all 10,000 points, as the README's table shows it.

The last line of output is one JSON object: optimizer -> per-seed MSE and their mean.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine import compare, preset  # noqa: E402

SEEDS = [0, 1, 2, 3, 4]


def main() -> None:
    spec = preset("seed-wave", {"seeds": SEEDS, "train": {"log_every": 100, "eval_every": 2000}})
    table: dict[str, dict[int, float]] = {}
    for r in compare(spec).values():
        table.setdefault(r.label, {})[r.seed] = r.summary["full_data_loss"]
    print("| optimizer | " + " | ".join(f"seed {s}" for s in SEEDS) + " | mean |")
    print("| --- |" + " --- |" * (len(SEEDS) + 1))
    for label, by_seed in table.items():
        cells = [f"{by_seed[s]:.4f}" for s in SEEDS] + [f"{statistics.fmean(by_seed.values()):.4f}"]
        print(f"| {label} | " + " | ".join(cells) + " |")
    print(json.dumps({label: {"per_seed": [round(by_seed[s], 6) for s in SEEDS],
                              "mean": round(statistics.fmean(by_seed.values()), 6)}
                      for label, by_seed in table.items()}))


if __name__ == "__main__":
    main()
