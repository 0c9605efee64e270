"""Rich output: job tables, the per-run progress bars of --follow, the results table."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from optarena.client import TERMINAL, Client


def jobs_table(page: dict[str, Any]) -> Table:
    table = Table(title=f"jobs ({page['total']} in all)")
    table.add_column("id", no_wrap=True)
    for col in ("name", "tags", "status", "preset", "runs", "steps", "created"):
        table.add_column(col)
    for j in page["items"]:
        # An older server sends no labels: shown as none.
        table.add_row(j["id"], escape(j.get("name") or "-"), ", ".join(j.get("tags") or []) or "-",
                      j["status"], j["preset"] or "-", str(j["n_runs"]), str(j["steps"]),
                      j["created_at"][:19].replace("T", " "))
    return table


def job_table(job: dict[str, Any]) -> Table:
    named = f" \"{escape(job['name'])}\"" if job.get("name") else ""
    tags = ", ".join(job.get("tags") or [])
    table = Table(title=f"job {job['id']}{named}: {job['status']} ({job['progress']:.0%})",
                  caption=f"tags: {tags}" if tags else None)
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


# Above this many runs --follow draws one bar per arm, its runs' steps summed: a bar per run
# is readable at 35 runs, not at the 1,035 of tuning-wave.
ARM_BARS_ABOVE = 50


def follow(client: Client, job: dict[str, Any]) -> str:
    """Progress bars until the job ends (one per run, or per arm above ARM_BARS_ABOVE runs);
    returns the final status."""
    status, steps, runs = job["status"], job["steps"], job["runs"]
    by_arm = len(runs) > ARM_BARS_ABOVE
    group = {r["index"]: (r["arm"] if by_arm else r["index"]) for r in runs}
    members: dict[int, list[dict[str, Any]]] = {}
    for r in runs:
        members.setdefault(group[r["index"]], []).append(r)
    done = {r["index"]: r["step"] for r in runs}
    states = {r["index"]: r["status"] for r in runs}  # a run's status mirrors a job's

    def state(g: int) -> str:
        rs = members[g]
        if not by_arm:
            return states[rs[0]["index"]]
        return f"{sum(states[r['index']] in TERMINAL for r in rs)}/{len(rs)} finished"

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[state]}"), TimeElapsedColumn()) as progress:
        bars = {g: progress.add_task(_bar_name(rs, by_arm), total=steps * len(rs), state=state(g),
                                     completed=sum(done[r["index"]] for r in rs))
                for g, rs in members.items()}

        def show(run: int) -> None:
            g = group[run]
            progress.update(bars[g], completed=sum(done[r["index"]] for r in members[g]), state=state(g))

        for ev in client.events(job["id"]):
            if ev.event == "metrics":
                for chunk in ev.data["metrics"]:
                    run = chunk["run"]
                    if chunk["steps"] and run in done:
                        done[run], states[run] = max(done[run], chunk["steps"][-1]), "running"
                        show(run)
            elif ev.event == "run_finished" and ev.data["run"] in done:
                run = ev.data["run"]
                done[run], states[run] = steps, ev.data.get("status", "succeeded")
                show(run)
            elif ev.event == "status":
                status = ev.data["status"]
                if status in TERMINAL:
                    break
    return status


def _bar_name(runs: list[dict[str, Any]], by_arm: bool) -> str:
    r = runs[0]
    if by_arm:
        return f"{r['label']} ({len(runs)} runs)"
    return f"run {r['index']} {r['label']} seed {r['seed']}"
