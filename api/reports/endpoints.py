"""Routes of a job's results and reports: statistics as JSON, the figure, the HTML page."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse

from api.deps import JobDep, SessionDep
from api.reports import results, service

router = APIRouter(prefix="/jobs", tags=["reports"])

RESULTS_DOC = """Per arm, over the finished runs: final and best validation loss and generalization gap
(mean with a 95% Student-t interval over seeds; `ci_method`, `ci_level`), steps to reach the target
validation loss, diverged runs; the rank by mean final validation loss and a letter `group` (arms
sharing a letter are not significantly different; `rank_rule`); and each pairwise difference in
final validation loss (Wilcoxon signed-rank, Holm-corrected)."""


@router.get("/{job_id}/results", description=RESULTS_DOC)
def get_results(session: SessionDep, job: JobDep) -> dict[str, Any]:
    return results.job_results(session, job)


@router.get("/{job_id}/report.png", response_class=Response,
            responses={200: {"content": {"image/png": {}}}})
def report_png(session: SessionDep, job: JobDep) -> Response:
    return Response(service.figure(session, job, "png"), media_type="image/png")


@router.get("/{job_id}/report.svg", response_class=Response,
            responses={200: {"content": {"image/svg+xml": {}}}})
def report_svg(session: SessionDep, job: JobDep) -> Response:
    return Response(service.figure(session, job, "svg"), media_type="image/svg+xml")


@router.get("/{job_id}/report.html", response_class=HTMLResponse,
            description="A self-contained page (inline SVG, no external assets) to attach anywhere.")
def report_html(session: SessionDep, job: JobDep) -> HTMLResponse:
    return HTMLResponse(service.page(session, job))
