"""The optimizer catalogue: the engine against a plain notebook loop, optimizer by optimizer.

The seed task (wave, n = 10,000, 1-64-64-1 tanh MLP, batch 64), 5 seeds of each catalogue
optimizer at its class's default learning rate, ``--steps`` steps (10,000):
- loop: what a user writes (bench/plain.py), per run: an ``nn.Sequential`` with ``nn.Tanh``,
  the package's optimizer class, ``F.mse_loss``, a random batch per step, ``loss.item()``
  every step; the runs of one optimizer one after another inside the step loop;
- engine: the same 5 runs as one cohort (``make_cohort``), train loss logged every step;
- engine_all: every optimizer's runs as the one cohort a job of them all trains as.
Contestants advance in turns of ``--chunk`` steps so that load on a shared machine slows
them alike. The last line of output is one JSON object.

    make bench-optimizers
    .venv/bin/python bench/optimizers.py --steps 1000     # a quick look
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from bench.plain import SEEDS, PlainLoop  # noqa: E402
from engine.catalogue import CATALOGUE  # noqa: E402
from engine.presets import preset  # noqa: E402
from engine.runner import Collector, make_cohort  # noqa: E402
from engine.torch_stepper import optimizer_class  # noqa: E402

NAMES = ["lion", "adan", "adabelief", "radam", "lamb", "muon", "adamw_schedulefree"]


def spec(names: list[str], steps: int):
    return preset("seed-wave", {"arms": [{"optimizer": n} for n in names], "seeds": SEEDS,
                                "train": {"steps": steps, "log_every": 1, "eval_every": steps}})


class Engine:
    def __init__(self, names: list[str], steps: int):
        s = spec(names, steps)
        self.collect, self.cohort = Collector(), make_cohort(s, list(range(len(s.runs()))))

    def advance(self, until: int) -> None:
        self.cohort.train(self.collect, until=until)


def plain_loop(name: str) -> PlainLoop:
    """The notebook: bench/plain.py's loop with the optimizer class straight from its package."""
    cls = optimizer_class(CATALOGUE[name])

    def make(net: nn.Sequential) -> torch.optim.Optimizer:
        opt = cls(_params(name, net))
        if CATALOGUE[name].eval_mode:
            opt.train()  # schedule-free: training mode, as its documentation asks
        return opt

    return PlainLoop([(cls, {}, s) for s in SEEDS], make=make)


def _params(name: str, net: nn.Sequential) -> list:
    """Muon's two groups as its documentation writes them: the hidden matrix, then the rest."""
    if name != "muon":
        return list(net.parameters())
    hidden = net[2].weight
    return [{"params": [hidden], "use_muon": True},
            {"params": [p for p in net.parameters() if p is not hidden], "use_muon": False}]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=10_000)
    ap.add_argument("--chunk", type=int, default=500)
    args = ap.parse_args()
    print(f"catalogue: {len(NAMES)} optimizers x {len(SEEDS)} seeds x {args.steps} steps, wave 1-64-64-1, "
          f"batch 64, torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)
    Engine(NAMES, 20).advance(20)  # warm-up: allocator, kernels, imports
    contestants: dict[str, Engine | PlainLoop] = {}
    for n in NAMES:
        contestants[f"loop:{n}"] = plain_loop(n)
        contestants[f"engine:{n}"] = Engine([n], args.steps)
    contestants["engine_all"] = Engine(NAMES, args.steps)
    totals = dict.fromkeys(contestants, 0.0)
    for until in range(args.chunk, args.steps + args.chunk, args.chunk):
        for key, c in contestants.items():
            t = time.perf_counter()
            c.advance(min(until, args.steps))
            totals[key] += time.perf_counter() - t
        print(f"  step {min(until, args.steps):>6}: engine_all {totals['engine_all']:.1f} s, loops "
              f"{sum(v for k, v in totals.items() if k.startswith('loop:')):.1f} s", flush=True)

    rows = {}
    for n in NAMES:
        loop, engine = totals[f"loop:{n}"], totals[f"engine:{n}"]
        rows[n] = {"granularity": CATALOGUE[n].granularity, "loop_s": round(loop, 2),
                   "engine_s": round(engine, 2), "ratio": round(loop / engine, 2)}
    print("| optimizer | granularity | loop (s) | engine (s) | loop / engine |")
    print("| --- | --- | --- | --- | --- |")
    for n, r in rows.items():
        cells = [CATALOGUE[n].title, r["granularity"], r["loop_s"], r["engine_s"], f"{r['ratio']}x"]
        print("| " + " | ".join(map(str, cells)) + " |")
    loops = sum(totals[f"loop:{n}"] for n in NAMES)
    print(json.dumps({"steps": args.steps, "seeds": len(SEEDS), "optimizers": rows,
                      "all_loops_s": round(loops, 2), "engine_all_s": round(totals["engine_all"], 2),
                      "all_ratio": round(loops / totals["engine_all"], 2)}))


if __name__ == "__main__":
    main()
