"""Rich output: job tables, the per-run progress bars of --follow, the results table."""

from __future__ import annotations

from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from optarena.client import TERMINAL, Client


def jobs_table(page: dict[str, Any]) -> Table:
    table = Table(title=f"jobs ({page['total']} in all)")
    table.add_column("id", no_wrap=True)
    for col in ("status", "preset", "runs", "steps", "created"):
        table.add_column(col)
    for j in page["items"]:
        table.add_row(j["id"], j["status"], j["preset"] or "-", str(j["n_runs"]), str(j["steps"]),
                      j["created_at"][:19].replace("T", " "))
    return table


def job_table(job: dict[str, Any]) -> Table:
    table = Table(title=f"job {job['id']}: {job['status']} ({job['progress']:.0%})")
    for col in ("run", "arm", "seed", "status", "step", "final val loss"):
        table.add_column(col)
    for r in job["runs"]:
        val = (r["summary"] or {}).get("final_val_loss")
        table.add_row(str(r["index"]), r["label"], str(r["seed"]), r["status"], str(r["step"]),
                      "-" if val is None else f"{val:.4g}")
    return table


def _ci(cell: dict[str, Any]) -> str:
    if cell["mean"] is None:
        return "-"
    if cell["ci_low"] is None or cell["ci_low"] == cell["ci_high"]:
        return f"{cell['mean']:.4g}"
    return f"{cell['mean']:.4g} [{cell['ci_low']:.3g}, {cell['ci_high']:.3g}]"


def results_table(res: dict[str, Any]) -> Table:
    table = Table(title=f"results: {res['n_finished']} of {res['n_runs']} runs "
                        f"(mean, {res.get('ci_description', '95% CI')})", caption=res.get("rank_rule"))
    for col in ("arm", "rank (group)", "final val loss", "best val loss", "gap", "steps to target",
                "diverged"):
        table.add_column(col)
    for a in res["arms"]:
        t = a["time_to_target"]
        reach = f"{t['mean_step']:.0f} ({t['n_reached']}/{t['n_runs']})" if t["mean_step"] else "-"
        table.add_row(a["arm"], f"{a['rank']} ({a.get('group', '?')})", _ci(a["final_val"]),
                      _ci(a["best_val"]), _ci(a["gap"]), reach, f"{a['n_diverged']}/{a['n_seeds']}")
    return table


def follow(client: Client, job: dict[str, Any]) -> str:
    """A progress bar per run until the job ends; returns the final status."""
    status = job["status"]
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[state]}"), TimeElapsedColumn()) as progress:
        bars = {r["index"]: progress.add_task(f"run {r['index']} {r['label']} seed {r['seed']}",
                                              total=job["steps"], state=r["status"]) for r in job["runs"]}
        for ev in client.events(job["id"]):
            if ev.event == "metrics":
                for chunk in ev.data["metrics"]:
                    if chunk["steps"]:
                        progress.update(bars[chunk["run"]], completed=chunk["steps"][-1], state="running")
            elif ev.event == "run_finished":
                run = ev.data["run"]
                progress.update(bars[run], completed=job["steps"], state=ev.data.get("status", "finished"))
            elif ev.event == "status":
                status = ev.data["status"]
                if status in TERMINAL:
                    break
    return status
