"""pandas tables of API results, for people who have pandas: optarena does not depend on it,
so it is imported only when a table is asked for."""

from __future__ import annotations

from typing import Any


def pandas() -> Any:
    try:
        import pandas as pd
    except ImportError as exc:
        raise ImportError("to_dataframe() needs pandas, which optarena does not install: "
                          "pip install pandas") from exc
    return pd


def frame(rows: list[dict[str, Any]]) -> Any:
    return pandas().DataFrame(rows)


def metrics_frame(metrics: dict[str, Any]) -> Any:
    """``GET /jobs/{id}/metrics`` in long form: one row per (run, label, metric, step, value),
    the shape that group-bys and plotting libraries take."""
    rows = [{"run": run["run"], "label": run.get("label"), "metric": name, "step": step, "value": value}
            for run in metrics.get("runs", [])
            for name, curve in run.get("metrics", {}).items()
            for step, value in zip(curve["steps"], curve["values"], strict=True)]
    return pandas().DataFrame(rows, columns=["run", "label", "metric", "step", "value"])
