"""Reports of a job: the figure (PNG/SVG) and the HTML page. matplotlib is imported only
when a figure is drawn, so the API starts fast."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.jobs.service import describe
from api.metrics.service import load_series
from api.reports import figures, html
from api.reports.curves import arm_bands
from api.reports.results import job_results
from api.studies.service import search_inputs
from models.tables import Job, Run

# Train loss is logged every step; averaging 50 steps shows the trend the notes' figure shows.
TRAIN_WINDOW = 50


def _bands(session: Session, job: Job) -> dict[str, dict[str, dict[str, Any]]]:
    labels = {r.index: r.label for r in session.scalars(select(Run).where(Run.job_id == job.id))}
    data = load_series(session, job.id, None, ["train_loss", "val_loss"], 0)
    return {"train_loss": arm_bands(data, labels, "train_loss", TRAIN_WINDOW),
            "val_loss": arm_bands(data, labels, "val_loss")}


def _title(job: Job) -> str:
    return f"optarena · {job.preset or 'custom spec'} · {job.steps} steps · job {job.id[:8]}"


def figure(session: Session, job: Job, fmt: str) -> bytes:
    return figures.render(_bands(session, job), job_results(session, job), _title(job), fmt)


def page(session: Session, job: Job) -> str:
    results = job_results(session, job)
    svg = figures.render(_bands(session, job), results, _title(job), "svg")
    got = search_inputs(session, job)  # None unless the job is a search
    if got is not None:
        from api.studies.search_view import search  # Optuna's importances: only for a search

        return html.render(describe(session, job), results, svg, search(*got))
    return html.render(describe(session, job), results, svg)
