"""Does a search find what the tuning grid finds, with a quarter of its runs?
(``make bench-search-grid``)

For each of ``--arms`` on search-wave's task, net and steps:
- the grid: tuning-wave's 20 learning rates (1e-4 to 1, log-spaced) x 5 seeds = 100 runs; its
  best is the lowest mean final validation loss over the 5 seeds at one rate;
- the search: ``--trials`` (default 24, under a quarter of the grid's runs) lr trials on one
  seed, TPE with successive halving, cohorts of 8; its best trial re-trained on the grid's 5
  seeds, scored the same way (mean final validation loss).
Both in this process through the engine (engine/runner.run_study): this measures what is found,
not speed (make bench-search does). The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.presets import preset_dict  # noqa: E402
from engine.runner import run_study  # noqa: E402
from engine.spec import ComparisonSpec  # noqa: E402

SEEDS = [10, 11, 12, 13, 14]


def _mean_val(results: dict[int, Any], labels: set[str] | None = None) -> dict[str, float]:
    by: dict[str, list[float]] = {}
    for r in results.values():
        if labels is None or r.label in labels:
            v = r.summary.get("final_val_loss")
            by.setdefault(r.label, []).append(float("inf") if r.summary.get("diverged") or v is None else v)
    return {label: sum(v) / len(v) for label, v in by.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arms", default="sgd,adam")
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--pruner", default="successive_halving", choices=["none", "successive_halving"])
    parser.add_argument("--seeds", type=int, default=1, help="seeds per trial: runs = trials x seeds")
    args = parser.parse_args()
    base = preset_dict("search-wave", {})
    out: dict[str, Any] = {"trials": args.trials, "seeds_per_trial": args.seeds, "pruner": args.pruner,
                           "grid_runs_per_arm": 20 * len(SEEDS), "steps": args.steps, "arms": {}}
    for name in args.arms.split(","):
        arm = next(a for a in base["arms"] if a["optimizer"] == name)
        common = base | {"arms": [arm], "train": base["train"] | {"steps": args.steps}}
        label = ComparisonSpec.model_validate(common | {"study": None}).arms[0].display()
        t0 = time.perf_counter()
        grid, _ = run_study(ComparisonSpec.model_validate(common | {"seeds": SEEDS, "study": {
            "kind": "tuning", "lr": {"low": 1e-4, "high": 1.0, "points": 20}, "test_seeds": [99]}}))
        grid_s = time.perf_counter() - t0
        points = _mean_val({k: r for k, r in grid.items() if r.seed in SEEDS})
        grid_best = min(points.values())
        t0 = time.perf_counter()
        seeds = list(range(args.seeds))
        found, state = run_study(ComparisonSpec.model_validate(common | {"seeds": seeds, "study": {
            "kind": "search", "sampler": "tpe", "trials": args.trials, "batch": 8, "test_seeds": SEEDS,
            "spaces": {label: {"lr": {"low": 1e-4, "high": 1.0, "log": True}}},
            "pruner": {"kind": args.pruner, "rungs": [1 / 9, 1 / 3], "reduction_factor": 3}}}))
        search_s = time.perf_counter() - t0
        rerun = _mean_val({k: r for k, r in found.items() if r.seed in SEEDS})[label]
        out["arms"][label] = {"grid_best_val": grid_best, "grid_best_lr_label": min(points, key=points.get),
                              "search_best_rerun_val": rerun, "search_lr": state["chosen"]["0"]["lr"],
                              "ratio": rerun / grid_best, "within_10pct": rerun <= 1.1 * grid_best,
                              "grid_s": round(grid_s, 1), "search_s": round(search_s, 1)}
        print(f"  {label}: grid best {grid_best:.4g}, search's best re-run {rerun:.4g} "
              f"({rerun / grid_best:.3f}x)", flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
