"""A model of one's own: resnet-mini on the digits, the engine's torch.func path vs a plain loop.

4 optimizers (SGD, Momentum, Adam, AdamW) x 5 seeds x ``--steps`` (2,000), batch 64:
- loop: what a user writes: scikit-learn's digits as tensors, per run the model (the same
  ``nn.Module`` class both contestants train: it is the subject, not engine machinery), a
  torch.optim optimizer, ``F.cross_entropy`` on a random batch, ``loss.item()`` every step;
  the runs one after another inside the step loop;
- engine: the same 20 runs as one cohort (engine/functional_net.py), train loss logged
  every step.
Contestants advance in turns of ``--chunk`` steps so that load on a shared machine slows
them alike; ``--repeats`` races, min and median of the ratio reported, and the engine's
peak RSS. The last line of output is one JSON object.

``--profile N`` then runs N more engine steps under torch's profiler and adds where a cohort
step's time goes: torch's convolution and batch-norm kernels, its other operators, and the rest
(Python, vmap's dispatch, the optimizer's bookkeeping); each in ms per step of all 20 runs,
beside the plain loop's ms per step.

    make bench-models
    .venv/bin/python bench/models.py --steps 200 --repeats 1     # a quick look
    .venv/bin/python bench/models.py --device cuda --steps 200   # bench/gpu.sh, on a GPU machine
    .venv/bin/python bench/models.py --steps 200 --profile 40    # where the engine's time goes
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

from engine.modules import resnet_mini  # noqa: E402
from engine.runner import Collector, make_cohort  # noqa: E402
from engine.spec import ComparisonSpec  # noqa: E402

SEEDS = [0, 1, 2, 3, 4]
OPTIMIZERS = [("sgd", torch.optim.SGD, {"lr": 0.05}),
              ("momentum", torch.optim.SGD, {"lr": 0.05, "momentum": 0.9}),
              ("adam", torch.optim.Adam, {"lr": 3e-3}), ("adamw", torch.optim.AdamW, {"lr": 3e-3})]


def spec(steps: int, device: str) -> ComparisonSpec:
    return ComparisonSpec.model_validate({
        "task": {"name": "digits"}, "net": {"kind": "module", "model": "resnet-mini"},
        "arms": [{"optimizer": n, **kw} for n, _, kw in OPTIMIZERS], "seeds": SEEDS,
        "train": {"steps": steps, "batch_size": 64, "log_every": 1, "eval_every": steps, "device": device}})


class Engine:
    def __init__(self, steps: int, device: str):
        s = spec(steps, device)
        self.collect, self.cohort = Collector(), make_cohort(s, list(range(len(s.runs()))))

    def advance(self, until: int) -> None:
        self.cohort.train(self.collect, until=until)


class Loop:
    def __init__(self, device: str) -> None:
        digits = load_digits()
        self.x = torch.tensor(digits.data / 16.0, dtype=torch.float32, device=device)
        self.y = torch.tensor(digits.target, device=device)
        self.runs, self.step, self.losses = [], 0, []
        for _, cls, kw in OPTIMIZERS:
            for seed in SEEDS:
                torch.manual_seed(seed)
                model = resnet_mini((1, 8, 8), 10).to(device)
                self.runs.append((model, cls(model.parameters(), **kw)))

    def advance(self, until: int) -> None:
        while self.step < until:
            idx = torch.randint(0, len(self.x), (64,), device=self.x.device)
            xb, yb = self.x[idx], self.y[idx]
            for model, opt in self.runs:
                loss = F.cross_entropy(model(xb), yb)
                opt.zero_grad()
                loss.backward()
                opt.step()
                self.losses.append(loss.item())
            self.step += 1


def race(steps: int, chunk: int, device: str) -> dict[str, float]:
    contestants = {"loop": Loop(device), "engine": Engine(steps, device)}
    totals = dict.fromkeys(contestants, 0.0)
    for until in range(chunk, steps + chunk, chunk):
        for key, c in contestants.items():
            t = time.perf_counter()
            c.advance(min(until, steps))
            totals[key] += time.perf_counter() - t
    return totals


KERNELS = {"convolution": ("aten::mkldnn_convolution", "aten::convolution_backward"),
           "batch_norm": ("aten::native_batch_norm", "aten::native_batch_norm_backward")}


def profile(steps: int, device: str) -> dict[str, float]:
    """ms per cohort step in torch's convolution and batch-norm kernels, in its other
    operators (self time of every other aten:: op), and outside any operator."""
    from torch.profiler import profile as torch_profile

    e = Engine(2 * (10 + steps), device)  # the evaluation at the last step falls outside the window
    e.advance(10)
    t = time.perf_counter()
    with torch_profile() as prof:
        e.advance(10 + steps)
    wall_ms = (time.perf_counter() - t) * 1e3
    own = {k: 0.0 for k in KERNELS} | {"other_ops": 0.0}
    for ev in prof.key_averages():
        if not ev.key.startswith("aten::"):
            continue
        kind = next((k for k, names in KERNELS.items() if ev.key in names), "other_ops")
        own[kind] += ev.self_cpu_time_total / 1e3
    own["outside_ops"] = wall_ms - sum(own.values())
    return {k: round(v / steps, 2) for k, v in own.items()}


def spread(xs: list[float], digits: int) -> dict[str, float]:
    return {"min": round(min(xs), digits), "median": round(statistics.median(xs), digits)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--chunk", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--profile", type=int, default=0, metavar="STEPS")
    args = ap.parse_args()
    if args.profile and args.device != "cpu":
        ap.error("--profile counts CPU time: it describes a CPU run")
    runs = len(OPTIMIZERS) * len(SEEDS)
    print(f"resnet-mini on digits: {runs} runs x {args.steps} steps, batch 64, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, device {args.device}", flush=True)
    Engine(20, args.device).advance(20)  # warm-up: allocator, kernels, imports
    ratios, per = [], {"loop": [], "engine": []}
    for r in range(args.repeats):
        totals = race(args.steps, args.chunk, args.device)
        for k, v in totals.items():
            per[k].append(v / (runs * args.steps) * 1e3)
        ratios.append(totals["loop"] / totals["engine"])
        print(f"  race {r + 1}: loop {totals['loop']:.1f} s, engine {totals['engine']:.1f} s, "
              f"ratio {ratios[-1]:.2f}", flush=True)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = {"runs": runs, "steps": args.steps, "repeats": args.repeats, "device": args.device,
           "loop_ms_per_run_step": spread(per["loop"], 3), "engine_ms_per_run_step": spread(per["engine"], 3),
           "ratio": spread(ratios, 2),
           "peak_rss_mb": round(rss_mb)}
    if args.profile:
        out["engine_step_ms_profiled"] = profile(args.profile, args.device)
        out["loop_step_ms"] = spread([v * runs for v in per["loop"]], 1)
    if args.device == "cuda":
        out["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2**20)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
