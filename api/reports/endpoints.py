"""Routes of a job's results and reports: statistics as JSON, the figure, the HTML page."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from api.cache import Body, json_body, serve
from api.deps import JobId, OwnerDep, SettingsDep
from api.reports import results, service
from api.reports.schemas import ResultsOut

router = APIRouter(prefix="/jobs", tags=["reports"])
BINARY = {"type": "string", "format": "binary"}

RESULTS_DOC = """Per arm, over the finished runs: final and best validation loss, final test loss and
generalization gap (mean with a 95% Student-t interval over seeds; `ci_method`, `ci_level`), steps
to reach the target validation loss, diverged runs; the rank by mean final validation loss and a
letter `group` (arms sharing a letter are not significantly different; `rank_rule`); and each
pairwise difference in final validation loss (Wilcoxon signed-rank, Holm-corrected)."""


@router.get("/{job_id}/results", description=RESULTS_DOC, response_model=ResultsOut)
async def get_job_results(request: Request, settings: SettingsDep, owner: OwnerDep,
                          job_id: JobId) -> Response:
    return await serve(request, settings, owner, job_id, "results", {},
                       lambda session, job: json_body(results.job_results(session, job)))


@router.get("/{job_id}/report.png", response_class=Response,
            responses={200: {"content": {"image/png": {"schema": BINARY}}}})
async def get_report_png(request: Request, settings: SettingsDep, owner: OwnerDep, job_id: JobId) -> Response:
    return await serve(request, settings, owner, job_id, "report.png", {},
                       lambda session, job: Body(service.figure(session, job, "png"), "image/png"))


@router.get("/{job_id}/report.svg", response_class=Response,
            responses={200: {"content": {"image/svg+xml": {"schema": {"type": "string"}}}}})
async def get_report_svg(request: Request, settings: SettingsDep, owner: OwnerDep, job_id: JobId) -> Response:
    return await serve(request, settings, owner, job_id, "report.svg", {},
                       lambda session, job: Body(service.figure(session, job, "svg"), "image/svg+xml"))


@router.get("/{job_id}/report.html", response_class=HTMLResponse,
            description="A self-contained page (inline SVG, no external assets) to attach anywhere.")
async def get_report_html(request: Request, settings: SettingsDep, owner: OwnerDep,
                          job_id: JobId) -> Response:
    # text/html gets "; charset=utf-8" added by the Response, as HTMLResponse added it.
    return await serve(request, settings, owner, job_id, "report.html", {},
                       lambda session, job: Body(service.page(session, job).encode(), "text/html"))
