"""submit, jobs, show, cancel, export: the job commands, over HTTP."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from optarena.client import TERMINAL, ApiError, Client
from optarena.commands import display
from optarena.commands.options import Key, Url, client, fail

console = Console()
JobArg = Annotated[str, typer.Argument(help="the job's id")]


def _overrides(steps: int | None, seeds: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if steps is not None:
        out["train"] = {"steps": steps}
    if seeds:
        out["seeds"] = [int(s) for s in seeds.split(",")]
    return out


def submit(spec_file: Annotated[Path | None, typer.Argument(help="comparison spec (JSON)")] = None,
           preset: Annotated[str | None, typer.Option(help="a named preset instead of a file")] = None,
           steps: Annotated[int | None, typer.Option(help="override train.steps")] = None,
           seeds: Annotated[str | None, typer.Option(help="override seeds, e.g. 0,1,2")] = None,
           follow: Annotated[bool, typer.Option(help="progress bars until the job ends")] = False,
           name: Annotated[str | None, typer.Option(help="the job's name (up to 200 characters)")] = None,
           tag: Annotated[list[str] | None, typer.Option(help="a tag (repeat for several): letters, "
                                                         "digits, _ . : -")] = None,
           notes: Annotated[str | None, typer.Option(help="free text kept with the job")] = None,
           url: Url = None, key: Key = None) -> None:
    """Submit a job to the service; with --follow, watch it (Ctrl-C detaches, the job goes on)."""
    if (spec_file is None) == (preset is None):
        raise typer.BadParameter("give a spec file or --preset, not both")
    labels: dict[str, Any] = {"name": name, "tags": tag or None, "notes": notes}
    with client(url, key) as c:
        try:
            if spec_file is not None:
                spec = json.loads(spec_file.read_text())
                job = c.submit(spec=_merge(spec, _overrides(steps, seeds)), **labels)
            else:
                job = c.submit(preset=preset, overrides=_overrides(steps, seeds), **labels)
        except ApiError as err:
            raise fail(err) from None
        console.print(f"job [bold]{job['id']}[/bold] {job['status']}: "
                      f"{job['n_runs']} runs x {job['steps']} steps")
        if follow:
            _follow(c, job)


def _merge(spec: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    for k, v in over.items():
        spec[k] = _merge(spec.get(k, {}), v) if isinstance(v, dict) else v
    return spec


def _follow(c: Client, job: dict[str, Any]) -> None:
    try:
        status = display.follow(c, job)
    except KeyboardInterrupt:
        # Detach only: the job keeps running on the workers.
        console.print(f"detached; the job goes on. Follow it again with `optarena show {job['id']}`, "
                      f"stop it with `optarena cancel {job['id']}`.")
        raise typer.Exit(130) from None
    console.print(f"job {job['id']}: {status}")
    console.print(display.results_table(c.results(job["id"])))
    if status != "succeeded":
        raise typer.Exit(1)


def jobs(status: Annotated[str | None, typer.Option(help="only jobs with this status")] = None,
         tag: Annotated[list[str] | None, typer.Option(help="only jobs with this tag (repeat: with "
                                                       "every tag given)")] = None,
         q: Annotated[str | None, typer.Option("--q", help="only jobs with this text in their name")]
         = None,
         limit: Annotated[int, typer.Option(min=1, max=200)] = 20, url: Url = None, key: Key = None) -> None:
    """List jobs, newest first."""
    with client(url, key) as c:
        try:
            console.print(display.jobs_table(c.list(status, limit, tag=tag, q=q)))
        except ApiError as err:
            raise fail(err) from None


def show(job_id: JobArg, url: Url = None, key: Key = None) -> None:
    """A job's runs and, once runs have finished, its result table."""
    with client(url, key) as c:
        try:
            console.print(display.job_table(c.get(job_id)))
            console.print(display.results_table(c.results(job_id)))
        except ApiError as err:
            raise fail(err) from None


def cancel(job_id: JobArg, url: Url = None, key: Key = None) -> None:
    """Cancel a queued or running job; its metrics so far are kept."""
    with client(url, key) as c:
        try:
            job = c.cancel(job_id)
            # A running shard stops at its next cancel check (within about two seconds).
            deadline = time.monotonic() + 10
            while job["status"] not in TERMINAL and time.monotonic() < deadline:
                time.sleep(0.3)
                job = c.get(job_id)
        except ApiError as err:
            raise fail(err) from None
    console.print(f"job {job_id}: {job['status']}")


def export(job_id: JobArg,
           format: Annotated[str, typer.Option("--format", help="csv, json, png, svg or html")] = "csv",
           out: Annotated[Path | None, typer.Option(help="file to write; default optarena-<id>.<fmt>")]
           = None,
           url: Url = None, key: Key = None) -> None:
    """Save a job's metrics (csv: one row per point; json: as the API returns them) or its report."""
    if format not in ("csv", "json", "png", "svg", "html"):
        raise typer.BadParameter("format must be csv, json, png, svg or html")
    out = out or Path(f"optarena-{job_id[:8]}.{format}")
    with client(url, key) as c:
        try:
            if format in ("png", "svg", "html"):
                out.write_bytes(c.report(job_id, format))
            else:
                data = c.metrics(job_id)
                out.write_text(json.dumps(data) if format == "json" else metrics_csv(data))
        except ApiError as err:
            raise fail(err) from None
    console.print(f"wrote {out}")


def metrics_csv(data: dict[str, Any]) -> str:
    """Long format, one point per row: easy to load with pandas or a spreadsheet."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["run", "label", "metric", "step", "value"])
    for run in data["runs"]:
        for metric, curve in run["metrics"].items():
            for step, value in zip(curve["steps"], curve["values"], strict=True):
                w.writerow([run["run"], run["label"], metric, step, "" if value is None else value])
    return buf.getvalue()


def register(app: typer.Typer) -> None:
    for command in (submit, jobs, show, cancel, export):
        app.command()(command)
