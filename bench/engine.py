"""Engine benchmark: the notebook-style loop vs the vectorized engine on seed-wave-all.

Both train 7 optimizers x 5 seeds x 10,000 steps at batch 64 with the train loss
logged every step and one evaluation at the end, in this one process. The last line
of output is one JSON object (naive_s, engine_s, ratio, log_overhead, peak_rss_mb).

    make bench-engine                 # full size
    .venv/bin/python bench/engine.py --steps 1000   # a quick look
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

from engine.presets import preset  # noqa: E402
from engine.reference import train_sequential  # noqa: E402
from engine.runner import compare  # noqa: E402


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=10_000)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--skip-naive", action="store_true", help="engine timings only (e.g. on a GPU)")
    args = ap.parse_args()

    def spec(log_every: int):
        return preset("seed-wave-all", {"train": {"steps": args.steps, "log_every": log_every,
                                                  "eval_every": args.steps, "device": args.device}})

    logged = spec(1)
    runs = len(logged.runs())
    print(f"seed-wave-all: {runs} runs x {args.steps} steps, batch 64, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, device {args.device}", flush=True)
    compare(spec(args.steps).model_copy(update={"train": logged.train.model_copy(update={"steps": 50})}))

    engine_s = _timed(lambda: compare(logged))
    print(f"engine, loss logged every step: {engine_s:.2f} s", flush=True)
    quiet_s = _timed(lambda: compare(spec(args.steps)))
    print(f"engine, loss logged at the end only: {quiet_s:.2f} s", flush=True)
    naive_s = None
    if not args.skip_naive:
        naive_s = _timed(lambda: train_sequential(logged, device=torch.device(args.device)))
        print(f"notebook-style loop: {naive_s:.2f} s", flush=True)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {
        "runs": runs, "steps": args.steps, "device": args.device,
        "naive_s": None if naive_s is None else round(naive_s, 2),
        "engine_s": round(engine_s, 2),
        "ratio": None if naive_s is None else round(naive_s / engine_s, 2),
        "log_overhead": round(engine_s / quiet_s - 1, 4),
        "peak_rss_mb": round(rss_mb, 1),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
