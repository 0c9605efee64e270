"""Tuning-study benchmark: fair LR tuning of every optimizer, through shards, on this machine.

The issue's size: the seed-wave task and net (wave, n = 10,000, 1-64-64-1 tanh), all nine
registry optimizers as arms, a 20-point log grid of learning rates from 1e-4 to 1 on seeds
0-4 (stage 0: 9 x 20 x 5 = 900 runs), each arm's point chosen on validation loss only
(``engine.design.choose``), then re-trained on fresh test seeds 100-104 (stage 1: 45 runs).

Both stages go the way the service runs them: ``plan_cohorts(stage.spec, shard_size)`` cuts
each stage into shards (stacked cohorts of one batch size), and ``--workers`` processes
(spawned, each with cores / workers torch threads) train the shards with ``train_runs``,
the call a worker makes, collecting events with a ``Collector`` and sending back only the
summaries. Shards are handed out longest first (runs x steps x (batch + a fixed per-step
cost)), so the last ones to finish are short. Wall time per stage and in total, training
throughput, and every optimizer's chosen lr and mean test loss are printed; the last line
of output is one JSON object.

    make bench-tuning
    .venv/bin/python bench/tuning.py --quick                  # a smoke run, seconds
    .venv/bin/python bench/tuning.py --steps 300 --shard-size 10 --workers 1
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import design  # noqa: E402
from engine.presets import preset_dict  # noqa: E402
from engine.registry import REGISTRY  # noqa: E402
from engine.spec import ComparisonSpec  # noqa: E402

# Measured on this machine (2 cores, bench/tuning.py --steps 300): a full-batch (8,000-row)
# cohort runs fastest per run at 1-5 runs, since larger stacks of (K, 8000, 64) activations
# spill out of the caches (K = 20 is 3x slower per run than K = 5), while a batch-64 cohort
# wants many runs per step to amortize the per-step Python cost (about 3,000 run-steps/s at
# 5 runs, 9,700 at 50). So shards are capped both in runs and in examples per step, as the
# service does (OPTARENA_SHARD_SIZE, OPTARENA_SHARD_EXAMPLES): 40,000 examples is 5 gd runs.
DEFAULT_SHARD_SIZE = 100
DEFAULT_SHARD_EXAMPLES = 40_000

# The per-step cost of a run that does not grow with the batch (optimizer update, Python),
# in examples' worth; only orders the shards for load balance, so it need not be exact.
STEP_OVERHEAD_EXAMPLES = 160


def build_spec(steps: int, points: int, n_seeds: int) -> ComparisonSpec:
    d = preset_dict("seed-wave", {"train": {"steps": steps, "eval_every": min(100, steps),
                                            "log_every": min(10, steps), "diag_every": min(100, steps)}})
    d["arms"] = [{"optimizer": name} for name, o in REGISTRY.items() if o.vectorized]  # gd: full batch
    d["seeds"] = list(range(n_seeds))
    d["study"] = {"kind": "tuning", "lr": {"low": 1e-4, "high": 1.0, "points": points},
                  "test_seeds": list(range(100, 100 + n_seeds))}
    return ComparisonSpec.model_validate(d)


# -- worker side ---------------------------------------------------------------------------

def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    import engine.runner  # noqa: F401 -- imported once here, not inside the first shard's time


def _ping(_: int) -> int:
    return os.getpid()


def _train_shard(task: tuple[dict[str, Any], int, dict[int, dict[str, float]] | None, list[int]]
                 ) -> tuple[list[tuple[int, int, str, int, dict[str, Any]]], float, int]:
    """Derive the stage from the job's spec (as worker/shard_runner.py does), train one
    shard, and return (run, arm, label, seed, summary) per run: summaries only, no curves."""
    from engine.runner import Collector, train_runs

    spec_dict, index, chosen, runs = task
    st = design.stage(ComparisonSpec.model_validate(spec_dict), index, chosen)
    collect = Collector()
    t0 = time.perf_counter()
    train_runs(st.spec, runs, collect)
    took = time.perf_counter() - t0
    out = [(st.offset + r.run, r.arm, r.label, r.seed, r.summary) for r in collect.runs.values()]
    return out, took, os.getpid()


# -- driver --------------------------------------------------------------------------------

def _cost(st: design.Stage, shard: list[int], n_train: int) -> float:
    from engine.design import effective_batch_size

    plans = st.spec.runs()
    bs = effective_batch_size(st.spec, plans[shard[0]])
    return len(shard) * st.spec.steps_for(bs, n_train) * (bs + STEP_OVERHEAD_EXAMPLES)


def run_stage(pool: Any, spec: ComparisonSpec, index: int, chosen: dict[int, dict[str, float]] | None,
              shard_size: int, shard_examples: int | None = DEFAULT_SHARD_EXAMPLES
              ) -> tuple[design.Stage, dict[int, tuple], float, int]:
    from engine.design import plan_cohorts

    st = design.stage(spec, index, chosen)
    n_train = spec.task.split_sizes()[0]
    shards = plan_cohorts(st.spec, shard_size or None, shard_examples or None)
    shards.sort(key=lambda s: -_cost(st, s, n_train))  # longest first
    print(f"stage {index}: {st.n_runs} runs in {len(shards)} shards "
          f"(sizes {sorted({len(s) for s in shards})})", flush=True)
    spec_dict = spec.model_dump(mode="json")
    t0 = time.perf_counter()
    results: dict[int, tuple] = {}
    tasks = [(spec_dict, index, chosen, s) for s in shards]
    for done, (rows, took, pid) in enumerate(pool.imap_unordered(_train_shard, tasks, chunksize=1), 1):
        for run, arm, label, seed, summary in rows:
            results[run] = (arm, label, seed, summary)
        elapsed = time.perf_counter() - t0
        if done == len(shards) or done % max(1, len(shards) // 20) == 0 or took > 30:
            print(f"  stage {index}: shard {done}/{len(shards)} ({len(rows)} runs, {rows[0][2]}, "
                  f"{took:.1f} s in pid {pid}); {len(results)}/{st.n_runs} runs, {elapsed:.0f} s", flush=True)
    assert len(results) == st.n_runs, f"stage {index}: {len(results)} of {st.n_runs} runs came back"
    return st, results, time.perf_counter() - t0, len(shards)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--points", type=int, default=20, help="lr grid points, 1e-4 to 1")
    ap.add_argument("--seeds", type=int, default=5, help="tuning seeds 0..n-1, test seeds 100..100+n-1")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--shard-size", type=int, default=DEFAULT_SHARD_SIZE,
                    help="most runs per shard; 0: one shard per batch-size group")
    ap.add_argument("--shard-examples", type=int, default=DEFAULT_SHARD_EXAMPLES,
                    help="most examples per step of a shard (0: no cap)")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 200 steps, 4 grid points")
    args = ap.parse_args()
    if args.quick:
        args.steps, args.points = 200, 4
    cores = os.cpu_count() or 1
    threads = max(1, cores // args.workers)
    spec = build_spec(args.steps, args.points, args.seeds)
    print(f"tuning study: {len(spec.arms)} optimizers x {args.points} lrs x {args.seeds} seeds x "
          f"{args.steps} steps, then {len(spec.arms)} x {args.seeds} test seeds; "
          f"{design.total_runs(spec)} runs, {args.workers} workers x {threads} threads on {cores} cores, "
          f"shard size {args.shard_size or 'group'}, {args.shard_examples or 'any'} examples/step",
          flush=True)

    t_start = time.perf_counter()
    ctx = mp.get_context("spawn")  # a clean interpreter per worker, as a Celery worker is
    with ctx.Pool(args.workers, initializer=_init_worker, initargs=(threads,)) as pool:
        pool.map(_ping, range(args.workers), chunksize=1)
        startup = time.perf_counter() - t_start
        st0, res0, wall0, n_shards0 = run_stage(pool, spec, 0, None, args.shard_size, args.shard_examples)
        rows = [(arm, {}, summary) for arm, _label, _seed, summary in res0.values()]
        chosen = design.choose(spec, rows)
        st1, res1, wall1, n_shards1 = run_stage(pool, spec, 1, chosen, args.shard_size,
                                                args.shard_examples)
    total = time.perf_counter() - t_start

    n_train = spec.task.split_sizes()[0]
    from engine.design import effective_batch_size

    def run_steps(st: design.Stage) -> int:  # planned steps: a diverged row is still stepped
        return sum(st.spec.steps_for(effective_batch_size(st.spec, r), n_train) for r in st.spec.runs())

    steps_done = run_steps(st0) + run_steps(st1)
    per_opt = {}
    for a, arm in enumerate(spec.arms):
        points = [i for i, b in enumerate(st0.base_arm) if b == a]
        div0 = sum(1 for arm0, _l, _s, s in res0.values() if arm0 in points and s.get("diverged"))
        tests = [s for arm1, _l, _s, s in res1.values() if arm1 == a]
        finite = [s["final_test_loss"] for s in tests if not s.get("diverged")]
        per_opt[arm.optimizer] = {
            "lr": chosen[a]["lr"],
            "test_loss": round(statistics.fmean(finite), 6) if finite else None,
            "test_diverged": len(tests) - len(finite),
            "grid_diverged": div0,
        }
    print("optimizer   chosen lr   mean test loss   (diverged: grid runs / test runs)")
    for name, row in per_opt.items():
        loss = "-" if row["test_loss"] is None else f"{row['test_loss']:.5f}"
        print(f"  {name:<9} {row['lr']:>9.3g}   {loss:>14}   "
              f"({row['grid_diverged']} / {row['test_diverged']})")
    print(json.dumps({
        "runs": st0.n_runs + st1.n_runs, "stage0_runs": st0.n_runs, "stage1_runs": st1.n_runs,
        "steps": args.steps, "points": args.points, "seeds": args.seeds,
        "workers": args.workers, "threads_per_worker": threads, "shard_size": args.shard_size,
        "shard_examples": args.shard_examples,
        "shards": [n_shards0, n_shards1],
        "startup_s": round(startup, 2), "stage0_s": round(wall0, 1), "stage1_s": round(wall1, 1),
        "total_s": round(total, 1), "total_min": round(total / 60, 2),
        "run_steps_per_s": round(steps_done / (wall0 + wall1), 1),
        "chosen": per_opt,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_worker_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
    }))


if __name__ == "__main__":
    main()
