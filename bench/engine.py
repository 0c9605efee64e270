"""Engine benchmark: the vectorized engine against the loop a user writes, and how it scales.

1. The notes' comparison (seed-wave-all: 7 optimizers x 5 seeds = 35 runs, wave task,
   1-64-64-1 tanh, batch 64), ``--steps`` steps, ``--reps`` times. Within a repetition the
   contestants advance in turns of ``--chunk`` steps, so that a burst of load on a shared
   machine slows all of them alike; each is built before its clock starts:
   - loop: bench/plain.py, one process (torch's default threads);
   - loop_parallel: the same loop split over one single-threaded process per core;
   - engine: one cohort, train loss logged every step; its last step, with the final
     evaluation and summaries (work the loop does not do), is timed apart;
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
from multiprocessing import get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from bench.plain import PlainLoop, notes_runs  # noqa: E402
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
    """``advance`` trains to a step; the last step (with the final evaluation and summaries,
    one-off work the plain loop does not do) is timed apart by ``finish``."""

    def __init__(self, steps: int, log_every: int, device: str, runs: int = 35):
        self.spec = notes_spec(steps, log_every, device, runs)
        self.cohort = make_cohort(self.spec, list(range(len(self.spec.runs()))))
        self.collect, self.steps = Collector(), steps

    def advance(self, until: int) -> None:
        self.cohort.train(self.collect, until=min(until, self.steps - 1))
        self._sync()

    def finish(self) -> float:
        t = time.perf_counter()
        self.cohort.train(self.collect)
        self._sync()
        return time.perf_counter() - t

    def _sync(self) -> None:
        if self.cohort.device.type == "cuda":
            torch.cuda.synchronize()


def _share_worker(conn, share: list[int]) -> None:
    """A process of the parallel baseline: its share of the runs, one thread."""
    torch.set_num_threads(1)
    runs = notes_runs()
    loop = PlainLoop([runs[i] for i in share])
    conn.send("ready")
    while (until := conn.recv()) is not None:
        loop.advance(until)
        conn.send(loop.step)


class Parallel:
    """The plain loop split over one single-threaded process per core (as joblib or Ray Tune
    run trials); each ``advance`` runs every process to the step and waits for all."""

    def __init__(self, workers: int):
        n, ctx = len(notes_runs()), get_context("spawn")
        self.conns, self.procs = [], []
        for w in range(workers):
            mine, theirs = ctx.Pipe()
            proc = ctx.Process(target=_share_worker, args=(theirs, list(range(w, n, workers))), daemon=True)
            proc.start()
            self.conns.append(mine)
            self.procs.append(proc)
        for c in self.conns:
            assert c.recv() == "ready"

    def advance(self, until: int) -> None:
        for c in self.conns:
            c.send(until)
        for c in self.conns:
            c.recv()

    def close(self) -> None:
        for c, proc in zip(self.conns, self.procs, strict=True):
            c.send(None)
            proc.join()


class Loop:
    def __init__(self, device: str):
        self.loop = PlainLoop(notes_runs(), device=device)

    def advance(self, until: int) -> None:
        self.loop.advance(until)
        if self.loop.device == "cuda":
            torch.cuda.synchronize()


def race(contestants: dict, steps: int, chunk: int) -> dict[str, float]:
    """Seconds each contestant takes to train ``steps`` steps, advancing in turns of ``chunk``
    steps so that a burst of load on a shared machine slows all of them alike."""
    totals = dict.fromkeys(contestants, 0.0)
    for until in range(chunk, steps + chunk, chunk):
        for name, c in contestants.items():
            t = time.perf_counter()
            c.advance(min(until, steps))
            totals[name] += time.perf_counter() - t
    return totals


def summary(xs: list[float], digits: int = 3) -> dict[str, float]:
    return {"min": round(min(xs), digits), "median": round(statistics.median(xs), digits)}


def point(K: int, steps: int, device: str) -> dict:
    """One size, in this (fresh) process: us per run-step and peak memory."""
    warm = Engine(20, 1, device, K)
    warm.advance(20)
    warm.finish()
    e = Engine(steps, 1, device, K)
    seconds = race({"engine": e}, steps, steps)["engine"]
    final = e.finish()
    K = e.cohort.K
    out = {"runs": K, "steps": steps, "us_per_run_step": round(seconds / (steps - 1) / K * 1e6, 2),
           "runs_per_s": round(K * (steps - 1) / seconds, 1), "final_evaluation_s": round(final, 2),
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


def figure(rows: list[dict], loop_us: float, parallel_us: float | None, path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.6))
    ax = fig.add_subplot()
    ks = [r["runs"] for r in rows]
    ax.plot(ks, [r["us_per_run_step"] for r in rows], "o-", label="engine (one cohort)")
    ax.axhline(loop_us, color="grey", ls="--", label=f"plain loop ({loop_us:.0f} us)")
    if parallel_us is not None:
        ax.axhline(parallel_us, color="grey", ls=":",
                   label=f"plain loop, a process per core ({parallel_us:.0f} us)")
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
    ap.add_argument("--chunk", type=int, default=250)
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
    warm = Engine(50, 1, args.device)  # warm-up: allocator, kernels
    warm.advance(50)
    warm.finish()

    # Per contestant and repetition: us per run-step of training; the engine's final evaluation apart.
    us: dict[str, list[float]] = {}
    finals: list[float] = []
    for rep in range(args.reps):
        contestants = {"loop": Loop(args.device),
                       "engine": Engine(args.steps, 1, args.device),
                       "engine_quiet": Engine(args.steps, args.steps, args.device)}
        if args.device == "cpu":  # its processes started and their nets built before any clock
            contestants["loop_parallel"] = Parallel(workers)
        totals = race(contestants, args.steps, args.chunk)
        finals.append(contestants["engine"].finish())
        if "loop_parallel" in contestants:
            contestants["loop_parallel"].close()
        for name, secs in totals.items():
            steps = args.steps - 1 if name.startswith("engine") else args.steps
            us.setdefault(name, []).append(secs / (35 * steps) * 1e6)
        done = ", ".join(f"{k} {v[-1]:.1f}" for k, v in us.items())
        print(f"  rep {rep + 1}, us per run-step: {done}; final evaluation {finals[-1]:.2f} s", flush=True)

    long = []
    for _ in range(args.reps if args.long_steps else 0):
        pair = race({"engine": Engine(args.long_steps, 1, args.device),
                     "engine_quiet": Engine(args.long_steps, args.long_steps, args.device)},
                    args.long_steps, args.chunk)
        long.append(pair["engine"] / pair["engine_quiet"] - 1)
        print(f"  {args.long_steps} steps: logging overhead {long[-1]:+.4f}", flush=True)

    loop_us = statistics.median(us["loop"])
    print("scaling (fresh process per size):", flush=True)
    rows = scaling([int(k) for k in args.sizes.split(",")], args.budget, args.device)
    parallel_us = statistics.median(us["loop_parallel"]) if "loop_parallel" in us else None
    figure(rows, loop_us, parallel_us, Path(args.png))

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
