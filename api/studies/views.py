"""One function per study kind: stored runs in, a JSON-ready summary out.

``runs`` are dicts of a Run's columns (index, label, arm, base_arm, stage, variant, seed,
batch_size, hyperparams, status, summary and, where asked, outputs); only finished runs
(with a summary) are passed in.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from api.metrics.service import Series
from api.reports.results import default_target, pairing_key
from engine.design import grid_points
from engine.spec import ComparisonSpec
from engine.studies.bias_variance import arm_decomposition
from engine.studies.fitting import fitting_flags, time_to_target
from engine.studies.flatness import flatness
from engine.studies.ranking import compare_groups
from engine.studies.statistics import final_metric_table, spearman

Runs = list[dict[str, Any]]
ALPHA = 0.05  # family-wise level of the Holm-corrected pairwise tests
Curves = dict[int, dict[str, Series]]


def _value(run: dict[str, Any], metric: str) -> float:
    v = run["summary"].get(metric)
    return math.nan if v is None or run["summary"].get("diverged") else float(v)


def _groups(runs: Runs, metric: str, key: str = "label") -> dict[str, dict[int, float]]:
    out: dict[str, dict[int, float]] = {}
    for r in runs:
        out.setdefault(r[key], {})[pairing_key(r["seed"], r["variant"])] = _value(r, metric)
    return out


def _compare(runs: Runs, metric: str) -> dict[str, Any]:
    return compare_groups(_groups(runs, metric), metric, ALPHA)


def fitting_target(spec: ComparisonSpec, runs: Runs) -> float | None:
    return default_target(spec.train.target_loss, (r["summary"] for r in runs))


def fitting(spec: ComparisonSpec, runs: Runs, curves: Curves) -> list[dict[str, Any]]:
    """Every run's over/under-fitting flags with reasons, and its time to the job's target
    validation loss (or, without one, to the worst run's best: a level all runs reach)."""
    target = fitting_target(spec, runs)
    out = []
    for r in runs:
        c = curves.get(r["index"], {})
        # seed and variant (fold or bootstrap resample) tell apart the runs that share a label
        row: dict[str, Any] = {"run": r["index"], "label": r["label"], "seed": r["seed"],
                               "variant": r["variant"]}
        if "train_loss" in c and "val_loss" in c and len(c["val_loss"][0]):
            row |= fitting_flags(c["train_loss"], c["val_loss"], r["summary"].get("baseline_val_loss"))
        elif r["summary"].get("diverged"):  # before its first evaluation: no validation curve to judge
            row |= {"status": "diverged", "underfitting": False, "overfitting": False,
                    "reasons": [f"loss became non-finite by step {r['summary'].get('steps_trained')}, "
                                "before the first evaluation"]}
        if target is not None and "val_loss" in c:
            row["time_to_target"] = time_to_target(c["val_loss"], target, r["batch_size"], c.get("wall_time"))
        out.append(row)
    return out


def tuning(spec: ComparisonSpec, runs: Runs, state: dict[str, Any]) -> dict[str, Any]:
    study = spec.study
    assert study is not None and study.kind == "tuning"
    metric = study.select_on
    grid, reruns = [r for r in runs if r["stage"] == 0], [r for r in runs if r["stage"] == 1]
    chosen = {int(a): hp for a, hp in (state.get("chosen") or {}).items()}
    arms = []
    for a, arm in enumerate(spec.arms):
        mine = [r for r in grid if r["base_arm"] == a]
        table = {row["arm"]: row for row in final_metric_table(_groups(mine, metric))}
        points = []
        for point in grid_points(spec, arm):
            label = next((r["label"] for r in mine if all(
                r["hyperparams"].get(k) == v for k, v in point.items())), None)
            row = table.get(label) if label else None
            points.append(point | {"mean": row and row["mean"], "ci_low": row and row["ci_low"],
                                   "ci_high": row and row["ci_high"],
                                   "n_seeds": row["n_seeds"] if row else 0,
                                   "n_diverged": row["n_diverged"] if row else 0})
        arms.append({"arm": arm.display(), "optimizer": arm.optimizer, "sensitivity": points,
                     "chosen": chosen.get(a)})
    out: dict[str, Any] = {"select_on": metric, "tuning_seeds": spec.seeds, "test_seeds": study.test_seeds,
                           "arms": arms, "stage": 1 if reruns or chosen else 0}
    if reruns:
        out["test"] = _compare(reruns, "final_test_loss")
    return out


def batch_size(spec: ComparisonSpec, runs: Runs) -> dict[str, Any]:
    """Per (arm, batch size): test loss, gap and sharpness; whether sharper solutions
    generalize worse here (Spearman over runs, with a permutation p-value); and, for arms
    with sam, whether they ended flatter than their base arms (engine/studies/flatness.py)."""
    n_train = spec.task.split_sizes()[0]
    rows = []
    for label in dict.fromkeys(r["label"] for r in runs):
        mine = [r for r in runs if r["label"] == label]
        first = mine[0]
        arm = spec.arms[first["base_arm"]]
        row: dict[str, Any] = {"arm": arm.display(), "label": label, "sam": arm.sam is not None,
                               "steps_factor": arm.steps_factor,
                               "batch_size": first["batch_size"] or n_train,
                               "full_batch": (first["batch_size"] or n_train) >= n_train, "n_runs": len(mine)}
        for metric in ("final_test_loss", "generalization_gap", "top_hessian_eigenvalue",
                       "loss_increase_mean", "steps_trained", "examples_seen"):
            stats = final_metric_table({label: {i: _value(r, metric) for i, r in enumerate(mine)}})[0]
            row[metric] = {k: stats[k] for k in ("mean", "ci_low", "ci_high", "std")}
        rows.append(row)

    def corr(x: str, y: str) -> dict[str, Any]:
        return spearman([_value(r, x) for r in runs], [_value(r, y) for r in runs])

    test, gap = corr("top_hessian_eigenvalue", "final_test_loss"), corr("top_hessian_eigenvalue",
                                                                       "generalization_gap")
    return {"budget": ({"examples": spec.train.examples} if spec.train.examples else
                       {"steps": spec.train.steps}),
            "rows": rows, "sharpness_vs_test_loss": test, "sharpness_vs_gap": gap,
            "perturbation_vs_test_loss": corr("loss_increase_mean", "final_test_loss"),
            "verdict": _verdict(test), "flatness": flatness(spec, runs)}


def _verdict(c: dict[str, Any], alpha: float = 0.05) -> str:
    if c["rho"] is None:
        return "not enough finished runs to tell"
    if c["p_value"] >= alpha:
        return (f"no significant association between sharpness and test loss here "
                f"(Spearman rho {c['rho']:.2f}, p {c['p_value']:.3g}, {c['n']} runs)")
    direction = "higher" if c["rho"] > 0 else "lower"
    holds = "consistent with" if c["rho"] > 0 else "against"
    return (f"sharper solutions had {direction} test loss "
            f"(Spearman rho {c['rho']:.2f}, p {c['p_value']:.3g}, "
            f"{c['n']} runs): {holds} the flat-minima claim")


def cross_validation(spec: ComparisonSpec, runs: Runs) -> dict[str, Any]:
    assert spec.study is not None and spec.study.kind == "cross_validation"
    arms = []
    for label in dict.fromkeys(r["label"] for r in runs):
        mine = [r for r in runs if r["label"] == label]
        folds = [float(np.nanmean([_value(r, "final_val_loss") for r in mine if r["variant"] == f]
                                  or [math.nan]))
                 for f in range(spec.study.folds)]
        stats = final_metric_table({label: dict(enumerate(folds))})[0]
        test = final_metric_table(_groups(mine, "final_test_loss"))[0]
        arms.append({"arm": label, "fold_val_loss": [None if math.isnan(v) else v for v in folds],
                     "mean": stats["mean"], "std": stats["std"], "ci_low": stats["ci_low"],
                     "ci_high": stats["ci_high"], "n_diverged": sum(bool(r["summary"].get("diverged"))
                                                                     for r in mine),
                     "test_loss_mean": test["mean"]})
    return {"folds": spec.study.folds, "arms": arms, "paired": _compare(runs, "final_val_loss")}


def bias_variance(spec: ComparisonSpec, runs: Runs) -> dict[str, Any]:
    assert spec.study is not None and spec.study.kind == "bias_variance"
    n_rep = spec.study.resamples
    ref = next((r["outputs"] for r in runs if r.get("outputs")), None)
    arms = []
    for a, arm in enumerate(spec.arms):
        mine = {r["variant"]: r.get("outputs") for r in runs if r["arm"] == a}
        if ref is None:
            arms.append({"arm": arm.display(), "n_members": 0})
            continue
        members = [(mine.get(v) or {}).get("test_pred") for v in range(n_rep)]
        single = (mine.get(n_rep) or {}).get("test_pred")
        arms.append(arm_decomposition(arm.display(), members, single, ref["test_y"], ref["test_truth"]))
    return {"resamples": n_rep, "noise_nominal": spec.task.noise**2, "arms": arms}


def trajectories(spec: ComparisonSpec, runs: Runs, curves: Curves) -> dict[str, Any]:
    assert spec.study is not None and spec.study.kind == "trajectories"
    contour = next((r["outputs"]["contour"] for r in runs
                    if (r.get("outputs") or {}).get("contour")), None)

    def points(run: dict[str, Any], metric: str, start: float | None) -> list[float | None]:
        s = curves.get(run["index"], {}).get(metric)
        rest = [] if s is None else [float(v) if math.isfinite(v) else None for v in s[1]]
        return [start, *rest]  # the start point, then one point per update

    paths = []
    for r in runs:
        x0, y0 = r["summary"].get("start") or (None, None)
        paths.append({"arm": r["label"], "optimizer": r["optimizer"], "hyperparameters": r["hyperparams"],
                      "x": points(r, "traj_x", x0), "y": points(r, "traj_y", y0),
                      "loss": points(r, "train_loss", r["summary"].get("start_loss")),
                      "summary": r["summary"]})
    minimum = next((r["summary"].get("minimum") for r in runs), None)
    return {"function": spec.study.function, "steps": spec.study.steps, "minimum": minimum,
            "contour": contour, "paths": paths}
