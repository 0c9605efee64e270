"""Engine benchmark: the vectorized engine against the loop a user writes, and how it scales.

1. The notes' comparison (seed-wave-all: 7 optimizers x 5 seeds = 35 runs, wave task,
   1-64-64-1 tanh, batch 64), ``--steps`` steps, ``--reps`` times, contestants interleaved
   within each repetition, each built before its clock starts:
   - loop: bench/plain.py, one process (torch's default threads);
   - loop_parallel: the same loop split over one single-threaded process per core;
   - engine: one cohort, train loss logged every step, one evaluation at the end;
   - engine_quiet: the same without train-loss logging.
   Ratios are taken per repetition; min and median are reported.
2. Logging overhead at ``--long-steps`` (engine vs engine_quiet, ``--reps`` pairs).
3. Scaling: us per run-step and peak RSS by cohort size (``--sizes``), each size in a fresh
   process; the figure goes to ``--png``. The loop's cost per run-step does not depend on
   how many runs it loops over, so its 35-run median is the yardstick at every size.
The last line of output is one JSON object.

    make bench-engine
    .venv/bin/python bench/engine.py --quick      # a short look
    .venv/bin/python bench/engine.py --device cuda --sizes 35,1000,10000   # bench/gpu.sh
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from bench.plain import PlainLoop, notes_runs, train_share  # noqa: E402
from engine.presets import preset_dict  # noqa: E402
from engine.runner import Collector, make_cohort  # noqa: E402
from engine.spec import ComparisonSpec  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def notes_spec(steps: int, log_every: int, device: str, runs: int = 35):
    """seed-wave-all with ``runs`` runs: more seeds, and past 100 seeds (the limit) each arm
    again at halved learning rates under its own label."""
    d = preset_dict("seed-wave-all", {"train": {"steps": steps, "log_every": log_every,
                                                "eval_every": steps, "device": device}})
    base = d["arms"]
    variants = max(1, math.ceil(runs / (len(base) * 100)))
    d["arms"] = [dict(a, lr=a["lr"] / 2**j, label=f"{a['optimizer']} lr/{2**j}") if j else a
                 for j in range(variants) for a in base]
    d["seeds"] = list(range(math.ceil(runs / len(d["arms"]))))
    return ComparisonSpec.model_validate(d)


class Engine:
    def __init__(self, steps: int, log_every: int, device: str, runs: int = 35):
        self.spec = notes_spec(steps, log_every, device, runs)
        self.cohort = make_cohort(self.spec, list(range(len(self.spec.runs()))))
        self.collect = Collector()

    def run(self) -> float:
        """Train to the end; returns the seconds of the final step, evaluation and summaries
        (one-off work the plain loop does not do), which the caller's clock also counts."""
        steps = self.cohort.steps
        self.cohort.train(self.collect, until=steps - 1)
        self._sync()
        t = time.perf_counter()
        self.cohort.train(self.collect)
        self._sync()
        return time.perf_counter() - t

    def _sync(self) -> None:
        if self.cohort.device.type == "cuda":
            torch.cuda.synchronize()


class Parallel:
    """The plain loop over one process per core; the processes are started beforehand."""

    def __init__(self, pool: ProcessPoolExecutor, workers: int, steps: int):
        n = len(notes_runs())
        self.pool, self.steps = pool, steps
        self.shares = [list(range(w, n, workers)) for w in range(workers)]

    def run(self) -> None:
        list(self.pool.map(train_share, self.shares, [self.steps] * len(self.shares)))


class Loop:
    def __init__(self, steps: int, device: str):
        self.loop, self.steps = PlainLoop(notes_runs(), device=device), steps

    def run(self) -> None:
        self.loop.advance(self.steps)
        if self.loop.device == "cuda":
            torch.cuda.synchronize()


def timed(make) -> tuple[float, float]:
    """(training seconds, final-evaluation seconds) of a freshly built contestant."""
    c = make()
    t = time.perf_counter()
    final = c.run() or 0.0
    return time.perf_counter() - t - final, final


def summary(xs: list[float], digits: int = 3) -> dict[str, float]:
    return {"min": round(min(xs), digits), "median": round(statistics.median(xs), digits)}


def point(K: int, steps: int, device: str) -> dict:
    """One size, in this (fresh) process: us per run-step and peak memory."""
    Engine(20, 1, device, K).run()  # warm-up
    dt, final = timed(lambda: Engine(steps, 1, device, K))
    K = len(notes_spec(steps, 1, device, K).runs())
    out = {"runs": K, "steps": steps, "us_per_run_step": round(dt / (steps - 1) / K * 1e6, 2),
           "runs_per_s": round(K * (steps - 1) / dt, 1), "final_evaluation_s": round(final, 2),
           "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    if device == "cuda":
        out["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return out


def scaling(sizes: list[int], budget: float, device: str) -> list[dict]:
    rows = []
    for K in sizes:
        steps = int(min(2000, max(300, budget / K)))
        cmd = [sys.executable, __file__, "--point", str(K), "--steps", str(steps), "--device", device]
        line = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        rows.append(json.loads(line))
        print(f"  {rows[-1]}", flush=True)
    return rows


def figure(rows: list[dict], loop_us: float | None, path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.6))
    ax = fig.add_subplot()
    ks = [r["runs"] for r in rows]
    ax.plot(ks, [r["us_per_run_step"] for r in rows], "o-", label="engine (one cohort)")
    if loop_us is not None:
        ax.axhline(loop_us, color="grey", ls="--", label=f"plain loop ({loop_us:.0f} us)")
    ax.set(xscale="log", yscale="log", xlabel="runs trained together",
           ylabel="us per run-step", title=f"seed net, batch 64, torch {torch.__version__}")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--long-steps", type=int, default=10_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--sizes", default="7,35,140,350,1000")
    ap.add_argument("--budget", type=float, default=200_000, help="run-steps per scaling point")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--png", default=str(ROOT / "docs" / "engine-scaling.png"))
    ap.add_argument("--quick", action="store_true", help="400 steps, 1 rep, no long run")
    ap.add_argument("--point", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.point:
        print(json.dumps(point(args.point, args.steps, args.device)))
        return
    if args.quick:
        args.steps, args.reps, args.long_steps, args.budget = 400, 1, 0, 40_000
    workers = os.cpu_count() or 1
    print(f"seed-wave-all: 35 runs x {args.steps} steps, batch 64, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {workers} cores, device {args.device}", flush=True)
    Engine(50, 1, args.device).run()  # warm-up: allocator, kernels

    # Per contestant and repetition: us per run-step of training; the engines' final evaluation apart.
    us: dict[str, list[float]] = {"loop": [], "loop_parallel": [], "engine": [], "engine_quiet": []}
    finals: list[float] = []
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        list(pool.map(time.sleep, [0.5] * workers))  # start every process before any clock
        makers = {
            "loop": lambda: Loop(args.steps, args.device),
            "loop_parallel": lambda: Parallel(pool, workers, args.steps),
            "engine": lambda: Engine(args.steps, 1, args.device),
            "engine_quiet": lambda: Engine(args.steps, args.steps, args.device),
        }
        if args.device != "cpu":
            del makers["loop_parallel"], us["loop_parallel"]
        for rep in range(args.reps):
            for name, make in makers.items():
                train, final = timed(make)
                steps = args.steps - 1 if name.startswith("engine") else args.steps
                us[name].append(train / (35 * steps) * 1e6)
                if name == "engine":
                    finals.append(final)
            done = ", ".join(f"{k} {v[-1]:.1f}" for k, v in us.items())
            print(f"  rep {rep + 1}, us per run-step: {done}; final evaluation {finals[-1]:.2f} s",
                  flush=True)

    long = []
    for _ in range(args.reps if args.long_steps else 0):
        pair = [timed(lambda q=q: Engine(args.long_steps, args.long_steps if q else 1, args.device))[0]
                for q in (False, True)]
        long.append(pair[0] / pair[1] - 1)
        print(f"  {args.long_steps} steps: logging overhead {long[-1]:+.4f}", flush=True)

    loop_us = statistics.median(us["loop"])
    print("scaling (fresh process per size):", flush=True)
    rows = scaling([int(k) for k in args.sizes.split(",")], args.budget, args.device)
    figure(rows, loop_us, Path(args.png))

    per_rep = lambda a, b: [x / y for x, y in zip(us[a], us[b], strict=True)]  # noqa: E731
    result = {
        "runs": 35, "steps": args.steps, "reps": args.reps, "device": args.device,
        "threads": torch.get_num_threads(), "processes": workers,
        "us_per_run_step": {k: summary(v, 1) for k, v in us.items()},
        "final_evaluation_s": summary(finals, 2),
        "ratio_vs_loop": summary(per_rep("loop", "engine"), 2),
        "log_overhead": {str(args.steps): summary([r - 1 for r in per_rep("engine", "engine_quiet")], 4)},
        "scaling": rows,
        "ratio_vs_loop_by_runs": {str(r["runs"]): round(loop_us / r["us_per_run_step"], 2) for r in rows},
        "png": os.path.relpath(args.png, ROOT),
    }
    if "loop_parallel" in us:
        result["ratio_vs_loop_parallel"] = summary(per_rep("loop_parallel", "engine"), 2)
    if long:
        result["log_overhead"][str(args.long_steps)] = summary(long, 4)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
