"""Hyperparameter search, vectorized, against Optuna's own loop (``make bench-search``).

- ours: preset ``search-wave`` restricted to ``--arms`` (default Adam and SGD: the pair the
  baseline runs), submitted over HTTP to the real service (uvicorn, ``--workers`` Celery worker
  processes, PostgreSQL, Redis). Each cohort of ``--batch`` trials per arm trains as one
  vectorized shard; between cohorts a worker rebuilds the sampler from the stored trials and
  proposes the next one. Measured: the search stages' wall time (first shard start to last
  shard finish; the re-run of each arm's best trial on fresh seeds is reported apart), and each
  arm's best validation loss.
- Optuna: what a user of Optuna writes, per arm: ``study.optimize(objective, n_trials,
  n_jobs=2)`` with the same sampler (TPE, seeded), the same search space, successive halving at
  the same first rung and reduction factor (Optuna's SuccessiveHalvingPruner), and an objective
  that trains the wave net once with a plain loop (``nn.Sequential``, ``torch.optim``,
  ``F.mse_loss``, one thread per job) on the same data, reporting the validation loss every
  ``eval_every`` steps. The data are the task's arrays (the subject, as scikit-learn's digits
  are elsewhere); nothing of the engine trains the baseline.
- seed noise: each arm's best configuration (ours) trained on 10 seeds through the engine, the
  spread two searches' best losses are compared against.
- ``--full``: the whole preset (nine optimizers) through the service, once, on its own.

The last line of output is one JSON object.
    make bench-search
    .venv/bin/python bench/search.py --full
    .venv/bin/python bench/search.py --trials 16 --batch 8 --steps 500 --repeats 1    # a quick look
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

import optuna  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from bench.study_service import run_job  # noqa: E402
from engine.presets import preset_dict  # noqa: E402
from engine.spec import ComparisonSpec  # noqa: E402
from engine.tasks import make_task  # noqa: E402

ARM_CLASSES = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}


def search_spec(arms: list[str], trials: int, batch: int, steps: int) -> dict[str, Any]:
    base = preset_dict("search-wave", {})
    chosen = [a for a in base["arms"] if a["optimizer"] in arms]
    labels = [ComparisonSpec.model_validate(base | {"arms": chosen, "study": None}).arms[i].display()
              for i in range(len(chosen))]
    study = base["study"] | {"trials": trials, "batch": batch,
                             "spaces": {k: v for k, v in base["study"]["spaces"].items() if k in labels}}
    return base | {"arms": chosen, "study": study, "train": base["train"] | {"steps": steps}}


def ours(body: dict[str, Any], workers: int) -> dict[str, Any]:
    job, study, wall, stages = run_job(body, workers)
    last = max(stages)
    searched = [s for i, s in stages.items() if i != last]
    return {"status": job["status"], "wall_s": round(wall, 1),
            "search_stages_s": round(sum(s["seconds"] for s in searched), 1),
            "rerun_stage_s": stages[last]["seconds"],
            "arms": {a["arm"]: {"best_val_loss": a["best_value"], "chosen": a["chosen"],
                                "budget": a["budget"]} for a in study["arms"]}}


def optuna_arm(optimizer: str, space: dict[str, Any], trials: int, steps: int, eval_every: int,
               first_rung: int, eta: int, n_jobs: int, data: Any) -> dict[str, Any]:
    x, y, xv, yv = (t.float() for t in (data.train.x, data.train.y, data.val.x, data.val.y))
    cls = ARM_CLASSES[optimizer]

    def objective(trial: optuna.Trial) -> float:
        kwargs: dict[str, Any] = {}
        for hp, d in sorted(space.items()):
            kwargs[hp] = trial.suggest_float(hp, d["low"], d["high"], log=d.get("log", False))
        if "beta1" in kwargs:
            kwargs["betas"] = (kwargs.pop("beta1"), 0.999)
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(1, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1))
        opt = cls(net.parameters(), **kwargs)
        val = math.inf
        for step in range(1, steps + 1):
            idx = torch.randint(0, len(x), (64,))
            loss = F.mse_loss(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if step % eval_every == 0 or step == steps:
                with torch.no_grad():
                    val = F.mse_loss(net(xv), yv).item()
                if not math.isfinite(val):
                    return math.inf
                trial.report(val, step)
                if trial.should_prune():
                    raise optuna.TrialPruned()
        return val

    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0, constant_liar=True),
                                pruner=optuna.pruners.SuccessiveHalvingPruner(
                                    min_resource=first_rung, reduction_factor=eta))
    t0 = time.perf_counter()
    study.optimize(objective, n_trials=trials, n_jobs=n_jobs)
    wall = time.perf_counter() - t0
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    return {"wall_s": round(wall, 1), "best_val_loss": min((t.value for t in complete), default=None),
            "complete": len(complete), "pruned": len(study.trials) - len(complete)}


def seed_noise(body: dict[str, Any], label: str, params: dict[str, Any], seeds: int = 10) -> dict[str, Any]:
    """How much one configuration's final validation loss varies over seeds (0 .. seeds - 1): the
    yardstick for two searches' best losses. Trained here, through the engine."""
    import numpy as np

    from engine.runner import run_study

    arms = [a for a in body["arms"]
            if ComparisonSpec.model_validate(body | {"arms": [a], "study": None}).arms[0].display() == label]
    spec = ComparisonSpec.model_validate(body | {"arms": [arms[0] | params], "seeds": list(range(seeds)),
                                                 "study": None})
    results, _ = run_study(spec)
    v = np.array([float("nan") if r.summary["diverged"] else r.summary["final_val_loss"]
                  for r in results.values()])
    ok = v[np.isfinite(v)]
    return {"seeds": seeds, "diverged": int((~np.isfinite(v)).sum()), "mean": float(ok.mean()),
            "std": float(ok.std(ddof=1)), "min": float(ok.min()), "max": float(ok.max())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arms", default="adam,sgd", help="optimizers of search-wave to search")
    parser.add_argument("--trials", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--n-jobs", type=int, default=2, help="Optuna's n_jobs")
    parser.add_argument("--repeats", type=int, default=3, help="races of each contestant (min, median)")
    parser.add_argument("--full", action="store_true",
                        help="the whole search-wave preset (all nine optimizers) through the service, once")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.set_num_threads(1)  # one core per Optuna job, as the workers take one each

    if args.full:
        body = {"preset": "search-wave"}
        mine = ours(body, args.workers)
        print(json.dumps({"preset": "search-wave", "workers": args.workers, "ours": mine}))
        return
    body = search_spec(args.arms.split(","), args.trials, args.batch, args.steps)
    spec = ComparisonSpec.model_validate(body)
    print(f"search: {len(spec.arms)} arms x {args.trials} trials (cohorts of {args.batch}), "
          f"{args.steps} steps, pruner {spec.study.pruner.kind}; torch {torch.__version__}", flush=True)
    data = make_task(spec.task)
    first_rung = round(spec.study.pruner.rungs[0] * args.steps)
    races: list[tuple[dict[str, Any], dict[str, Any], float]] = []
    for r in range(args.repeats):
        mine = ours(body, args.workers)
        theirs, total = {}, 0.0
        for arm in spec.arms:
            got = optuna_arm(arm.optimizer, body["study"]["spaces"][arm.display()], args.trials, args.steps,
                             spec.train.eval_every, first_rung, spec.study.pruner.reduction_factor,
                             args.n_jobs, data)
            theirs[arm.display()] = got
            total += got["wall_s"]
        print(f"  race {r + 1}: ours {mine['search_stages_s']} s (search stages; re-run stage "
              f"{mine['rerun_stage_s']} s), optuna {total:.1f} s", flush=True)
        races.append((mine, theirs, total))
    ours_s = [m["search_stages_s"] for m, _, _ in races]
    optuna_s = [t for _, _, t in races]
    spread = lambda xs: {"min": round(min(xs), 1), "median": round(statistics.median(xs), 1)}  # noqa: E731
    labels = [a.display() for a in spec.arms]
    best = {a: {"ours": [m["arms"][a]["best_val_loss"] for m, _, _ in races],
                "optuna": [t[a]["best_val_loss"] for _, t, _ in races]} for a in labels}
    noise = {a.display(): seed_noise(body, a.display(), races[-1][0]["arms"][a.display()]["chosen"])
             for a in spec.arms}
    print(json.dumps({"arms": [a.display() for a in spec.arms], "trials": args.trials, "batch": args.batch,
                      "steps": args.steps, "workers": args.workers, "n_jobs": args.n_jobs,
                      "repeats": args.repeats, "ours_search_s": spread(ours_s), "optuna_s": spread(optuna_s),
                      "wall_ratio_median": round(statistics.median(optuna_s) / statistics.median(ours_s), 2),
                      "best_val_loss": best, "seed_noise_at_our_best": noise,
                      "last_race": {"ours": races[-1][0], "optuna": races[-1][1]}}))


if __name__ == "__main__":
    main()
