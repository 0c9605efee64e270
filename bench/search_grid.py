"""Does a search find what the tuning grid finds, with a quarter of its runs?
(``make bench-search-grid``)

For each of ``--arms`` on search-wave's task, net and steps:
- the grid: tuning-wave's 20 learning rates (1e-4 to 1, log-spaced) x 5 seeds = 100 runs; its
  best is the lowest mean final validation loss over the 5 seeds at one rate;
- the search: ``--trials`` (default 24, under a quarter of the grid's runs) lr trials on one
  seed, TPE in cohorts of 8 with ``--pruner`` (none by default: pruning at early rungs favours
  large rates, which look best early, and a quarter of the grid's runs is the budget here, not
  its compute); its best trial re-trained on the grid's 5
  seeds, scored the same way (mean final validation loss); ``--repeats`` searches, each with
  its own sampler seed and trial seed.
- both choices re-trained on 10 fresh seeds (``FRESH``), scored the same way: the grid's own
  score is in-sample, the lowest of 20 noisy means on the seeds that chose it, so it flatters
  the grid; on fresh seeds both choices are scored as a user meets them.
Both in this process through the engine (engine/runner.run_study): this measures what is found,
not speed (make bench-search does). The last line of output is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
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
FRESH = list(range(20, 30))


def _vals(results: dict[int, Any]) -> dict[str, list[float]]:
    by: dict[str, list[float]] = {}
    for r in results.values():
        v = r.summary.get("final_val_loss")
        by.setdefault(r.label, []).append(float("inf") if r.summary.get("diverged") or v is None else v)
    return by


def _mean_val(results: dict[int, Any]) -> dict[str, float]:
    return {label: sum(v) / len(v) for label, v in _vals(results).items()}


def _score(v: float) -> str:
    return f"{v:.4g}" if math.isfinite(v) else "diverged on a seed"


def _ratio(v: float) -> str:
    return f"{v:.3f}x" if math.isfinite(v) else "-"


def _search(common: dict[str, Any], label: str, args: argparse.Namespace, repeat: int) -> dict[str, Any]:
    """One search (sampler seed ``repeat``, trials on seeds of their own) and its choice's
    score on the grid's seeds."""
    t0 = time.perf_counter()
    seeds = list(range(repeat * args.seeds, (repeat + 1) * args.seeds))
    found, state = run_study(ComparisonSpec.model_validate(common | {"seeds": seeds, "study": {
        "kind": "search", "sampler": "tpe", "seed": repeat, "trials": args.trials, "batch": 8,
        "test_seeds": SEEDS, "spaces": {label: {"lr": {"low": 1e-4, "high": 1.0, "log": True}}},
        "pruner": {"kind": args.pruner, "rungs": [1 / 9, 1 / 3], "reduction_factor": 3}}}))
    return {"lr": float(state["chosen"]["0"]["lr"]), "search_s": round(time.perf_counter() - t0, 1),
            "grid_seeds_val": _mean_val({k: r for k, r in found.items() if r.seed in SEEDS})[label]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arms", default="sgd,adam")
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--pruner", default="none", choices=["none", "successive_halving", "hyperband"])
    parser.add_argument("--seeds", type=int, default=1, help="seeds per trial: runs = trials x seeds")
    parser.add_argument("--repeats", type=int, default=3, help="searches per arm (sampler and trial seeds)")
    args = parser.parse_args()
    base = preset_dict("search-wave", {})
    out: dict[str, Any] = {"trials": args.trials, "seeds_per_trial": args.seeds, "pruner": args.pruner,
                           "grid_runs_per_arm": 20 * len(SEEDS), "steps": args.steps,
                           "fresh_seeds": len(FRESH), "arms": {}}
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
        # The standard error of the grid's best mean, relative: how finely 5 seeds resolve it.
        at_best = _vals({k: r for k, r in grid.items() if r.seed in SEEDS})[min(points, key=points.get)]
        sem = statistics.stdev(at_best) / len(at_best) ** 0.5 / grid_best
        grid_lr = float(min(points, key=points.get).rsplit("lr=", 1)[1])  # its label: "<arm> lr=<value>"
        searches = [_search(common, label, args, r) for r in range(args.repeats)]
        both = [arm | {"lr": grid_lr, "label": "grid"}] + [
            arm | {"lr": s["lr"], "label": f"search {r}"} for r, s in enumerate(searches)]
        fresh = _mean_val(run_study(ComparisonSpec.model_validate(
            common | {"seeds": FRESH, "study": None, "arms": both}))[0])
        for r, s in enumerate(searches):
            s |= {"ratio": s["grid_seeds_val"] / grid_best, "fresh_val": fresh[f"search {r}"],
                  "fresh_ratio": fresh[f"search {r}"] / fresh["grid"]}
            print(f"  {label} search {r}: lr {s['lr']:.4g}; on the grid's seeds "
                  f"{_score(s['grid_seeds_val'])} "
                  f"({_ratio(s['ratio'])} the grid's best {grid_best:.4g} at lr {grid_lr:.4g}); on "
                  f"{len(FRESH)} fresh seeds {_score(s['fresh_val'])} ({_ratio(s['fresh_ratio'])} the "
                  f"grid's choice, {fresh['grid']:.4g})", flush=True)
        ratios = sorted(s["ratio"] for s in searches)
        fresh_ratios = sorted(s["fresh_ratio"] for s in searches)
        print(f"  {label} grid: best {grid_best:.4g} at lr {grid_lr:.4g}, standard error {sem:.1%}",
              flush=True)
        out["arms"][label] = {"grid_best_val": grid_best, "grid_lr": grid_lr, "grid_best_rel_sem": sem,
                              "grid_fresh_val": fresh["grid"],
                              "grid_s": round(grid_s, 1), "searches": searches,
                              "median_ratio": ratios[len(ratios) // 2],
                              "median_fresh_ratio": fresh_ratios[len(fresh_ratios) // 2],
                              "fresh_within_10pct": sum(f <= 1.1 for f in fresh_ratios),
                              "grid_seeds_within_10pct": sum(x <= 1.1 for x in ratios)}
    print(json.dumps(_no_inf(out)))


def _no_inf(x: Any) -> Any:
    """The JSON line with null for a diverged score (JSON has no infinity)."""
    if isinstance(x, dict):
        return {k: _no_inf(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_no_inf(v) for v in x]
    return None if isinstance(x, float) and not math.isfinite(x) else x


if __name__ == "__main__":
    main()
