"""Engine benchmark: the notebook-style loop vs the vectorized engine on seed-wave-all.

All contestants train 7 optimizers x 5 seeds x 10,000 steps at batch 64 in this one
process, with one evaluation at the end:
- naive: one nn.Module + torch.optim per run, a Python loop over runs each step,
  train loss read with .item() every step (engine.reference.SequentialRuns);
- engine: the stacked trainer, train loss logged every step;
- engine-quiet: the same with no train-loss logging (for the logging overhead).
They advance in turns, ``--chunk`` steps at a time, so that a burst of load on a
shared machine slows all of them alike; each total is the sum of its chunks.
The last line of output is one JSON object.

    make bench-engine
    .venv/bin/python bench/engine.py --steps 1000     # a quick look
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from engine.design import plan_cohorts  # noqa: E402
from engine.presets import preset  # noqa: E402
from engine.reference import SequentialRuns  # noqa: E402
from engine.runner import Collector, make_cohort  # noqa: E402


def _spec(steps: int, log_every: int, device: str):
    return preset("seed-wave-all", {"train": {"steps": steps, "log_every": log_every,
                                              "eval_every": steps, "device": device}})


class _Engine:
    def __init__(self, spec):
        self.collect = Collector()
        self.cohorts = [make_cohort(spec, group) for group in plan_cohorts(spec)]

    def advance(self, until: int) -> None:
        for c in self.cohorts:
            c.train(self.collect, until=until)


class _Naive:
    def __init__(self, spec, device):
        self.runs, self.step = SequentialRuns(spec, torch.device(device)), 0

    def advance(self, until: int) -> None:
        while self.step < until:
            self.runs.step(self.step)
            self.step += 1


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=10_000)
    ap.add_argument("--chunk", type=int, default=500)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--skip-naive", action="store_true", help="engine timings only (e.g. on a GPU)")
    args = ap.parse_args()
    spec = _spec(args.steps, 1, args.device)
    print(f"seed-wave-all: {len(spec.runs())} runs x {args.steps} steps, batch 64, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}", flush=True)
    _Engine(_spec(50, 1, args.device)).advance(50)  # warm-up: allocator, kernels

    contestants = {"engine": _Engine(spec),
                   "engine_quiet": _Engine(_spec(args.steps, args.steps, args.device))}
    if not args.skip_naive:
        contestants["naive"] = _Naive(spec, args.device)
    totals = dict.fromkeys(contestants, 0.0)
    for until in range(args.chunk, args.steps + args.chunk, args.chunk):
        for name, c in contestants.items():
            if args.device == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            c.advance(min(until, args.steps))
            if args.device == "cuda":
                torch.cuda.synchronize()
            totals[name] += time.perf_counter() - t
        print(f"  step {min(until, args.steps):>6}: " +
              ", ".join(f"{k} {v:.1f} s" for k, v in totals.items()), flush=True)

    runs = contestants["engine"].collect.runs
    assert all(r.curves["train_loss"][0][-1] == args.steps for r in runs.values())
    naive = totals.get("naive")
    print(json.dumps({
        "runs": len(runs), "steps": args.steps, "device": args.device,
        "naive_s": None if naive is None else round(naive, 2),
        "engine_s": round(totals["engine"], 2),
        "ratio": None if naive is None else round(naive / totals["engine"], 2),
        "log_overhead": round(totals["engine"] / totals["engine_quiet"] - 1, 4),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))


if __name__ == "__main__":
    main()
