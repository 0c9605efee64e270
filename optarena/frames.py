"""pandas tables of API results. pandas is an optional extra (``optarena[notebook]``), so it
is imported only when a table is asked for."""

from __future__ import annotations

from typing import Any

INSTALL = "pip install 'optarena[notebook]'"
STATS = ("final_val", "final_test", "best_val", "gap")  # each an interval: mean, ci_low, ci_high, std


def pandas() -> Any:
    try:
        import pandas as pd
    except ImportError as exc:
        raise ImportError(f"tables of results need pandas, which optarena installs only as an extra: "
                          f"{INSTALL} (or pip install pandas)") from exc
    return pd


def frame(rows: Any) -> Any:
    return pandas().DataFrame(rows)


def metrics_frame(metrics: dict[str, Any], runs: list[Any] | None = None) -> Any:
    """``GET /jobs/{id}/metrics`` in long form: one row per (run, label, metric, step, value),
    the shape that group-bys and plotting libraries take. With the job's ``runs``
    (``optarena.models.Run``), each row also names its run's optimizer and seed."""
    about = {r.index: r for r in runs or []}
    extra = ["optimizer", "seed"] if runs is not None else []
    columns: dict[str, list[Any]] = {c: [] for c in ["run", "label", *extra, "metric", "step", "value"]}
    for run in metrics.get("runs", []):
        for name, curve in run.get("metrics", {}).items():
            n = len(curve["steps"])
            columns["run"] += [run["run"]] * n
            columns["label"] += [run.get("label")] * n
            for key in extra:
                columns[key] += [getattr(about.get(run["run"]), key, None)] * n
            columns["metric"] += [name] * n
            columns["step"] += curve["steps"]
            columns["value"] += [float("nan") if v is None else v for v in curve["values"]]
    return pandas().DataFrame(columns)


def arms_frame(arms: list[dict[str, Any]], optimizers: dict[str, str] | None = None) -> Any:
    """``GET /jobs/{id}/results``'s arms, one row each (index ``arm``), best first: rank,
    group, seeds, each statistic's mean, interval and spread (``final_test_mean``, ...),
    and the mean step at which the target was reached. ``optimizers``: arm -> optimizer."""
    rows = []
    for a in arms:
        row = {"arm": a["arm"], "optimizer": (optimizers or {}).get(a["arm"]), "rank": a["rank"],
               "group": a["group"], "n_seeds": a["n_seeds"], "n_diverged": a["n_diverged"]}
        for stat in STATS:
            row |= {f"{stat}_{k}": v for k, v in a[stat].items()}
        reach = a["time_to_target"]
        rows.append(row | {"steps_to_target": reach["mean_step"], "n_reached_target": reach["n_reached"]})
    table = pandas().DataFrame(rows)
    if optimizers is None and len(table):
        table = table.drop(columns="optimizer")
    return table.set_index("arm") if len(table) else table
