"""The notes' experiment with the optimizer catalogue (``make bench-seed-wave-modern``): preset
``seed-wave-modern`` trained here through the engine, and its results table in markdown.

Per optimizer: the mean final test loss over the 10 seeds with its 95% Student-t interval, the
rank by that mean with the letter groups of the paired tests over all pairs of arms (arms
sharing a letter are not significantly different; Holm over all pairs), and the paired
Wilcoxon test against Adam, Holm-corrected over the comparisons with Adam. The last line of
output is one JSON object.

    make bench-seed-wave-modern
    .venv/bin/python bench/seed_wave_modern.py --steps 500     # a quick look
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from engine import compare, preset  # noqa: E402
from engine.studies.ranking import compare_arms  # noqa: E402
from engine.studies.statistics import holm  # noqa: E402

METRIC = "final_test_loss"
REFERENCE = "Adam"


def versus(pairs: list[dict[str, Any]], alpha: float) -> dict[str, dict[str, Any]]:
    """Each arm's test against the reference, Holm-corrected over those tests alone: a family of
    n - 1 comparisons, where all pairs of 12 arms (66) leave 10 seeds no chance of p < 0.05."""
    mine = [p for p in pairs if REFERENCE in (p["a"], p["b"])]
    out = {}
    for p, p_holm in zip(mine, holm([p["p_value"] for p in mine]), strict=True):
        other = p["b"] if p["a"] == REFERENCE else p["a"]
        out[other] = {"p_value": p["p_value"], "p_holm": p_holm, "significant": p_holm < alpha,
                      "better": p["better"]}
    return out


def fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"


def table(stats: dict[str, Any], vs: dict[str, dict[str, Any]]) -> list[str]:
    rows = {r["arm"]: r for r in stats["table"]}
    lines = [f"| optimizer | mean final test loss | 95% interval | rank (group) | vs {REFERENCE}: p (Holm) |",
             "| --- | ---: | --- | --- | --- |"]
    for r in stats["ranking"]:
        row, test = rows[r["arm"]], vs.get(r["arm"])
        diverged = f" ({row['n_diverged']} diverged)" if row["n_diverged"] else ""
        if test is None:
            against = "reference"
        else:
            side = "better" if test["better"] != REFERENCE else "worse"
            against = f"{test['p_holm']:.3g} ({side if test['significant'] else 'n.s.'})"
        lines.append(f"| {r['arm']}{diverged} | {fmt(row['mean'])} | [{fmt(row['ci_low'])}, "
                     f"{fmt(row['ci_high'])}] | {r['rank']} ({r['group']}) | {against} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=None,
                        help="override train.steps (default: the preset's)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (one is fastest for these small nets on a busy machine)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    # The train loss and gradient norms logged less often: they do not change the weights.
    # Evaluations stay as the preset has them: each one moves schedule-free's weights to its
    # average and back, which rounds.
    train: dict[str, Any] = {"log_every": 100, "diag_every": 1000}
    if args.steps:
        train["steps"] = args.steps
    spec = preset("seed-wave-modern", {"train": train})
    print(f"seed-wave-modern: {len(spec.arms)} optimizers x {len(spec.seeds)} seeds x "
          f"{spec.train.steps} steps", flush=True)
    t0 = time.perf_counter()
    results = compare(spec)
    seconds = time.perf_counter() - t0
    stats = compare_arms(results, METRIC, curve_metric=None)
    vs = versus(stats["pairs"], stats["alpha"])
    print("\n".join(table(stats, vs)))
    for w in stats["warnings"]:
        print(f"\nrank groups: {w}")
    print(f"\n{len(results)} runs in {seconds:.0f} s")
    print(json.dumps({"steps": spec.train.steps, "seeds": spec.seeds, "seconds": round(seconds, 1),
                      "metric": METRIC, "reference": REFERENCE,
                      "arms": {r["arm"]: {k: r[k] for k in ("mean", "ci_low", "ci_high", "n_diverged")}
                               | {"rank": k["rank"], "group": k["group"], "vs_reference": vs.get(r["arm"])}
                               for r in stats["table"] for k in stats["ranking"] if k["arm"] == r["arm"]},
                      "warnings": stats["warnings"]}))


if __name__ == "__main__":
    main()
