"""Routes of /jobs: parse, call one service function, return a schema."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Response

from api.broker import enqueue_plan
from api.deps import INT_MAX, JobDep, OwnerDep, SessionDep, SettingsDep
from api.jobs import service
from api.jobs.body import EXAMPLES, JobSubmission
from api.jobs.filters import JobFilterDep
from api.jobs.schemas import (
    CREATE_DESCRIPTION,
    LIST_DESCRIPTION,
    PATCH_DESCRIPTION,
    JobOut,
    JobPage,
    JobSummary,
)
from core.labels import Labels
from core.submission import submit

router = APIRouter(prefix="/jobs", tags=["jobs"])

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200,
                                              description="retries with the same key return the same job")]


@router.post("", status_code=201, response_model=JobOut, description=CREATE_DESCRIPTION,
             responses={200: {"model": JobOut, "description": "the job already created with this "
                                                               "Idempotency-Key"},
                        409: {"description": "the key was used with a different body"},
                        429: {"description": "the owner has the most queued or running jobs allowed"},
                        422: {"description": "invalid spec or a limit exceeded, with the path of each "
                                              "bad field"}})
def create_job(session: SessionDep, settings: SettingsDep, owner: OwnerDep, response: Response,
               body: Annotated[JobSubmission, Body(openapi_examples=EXAMPLES)],
               key: IdempotencyKey = None) -> dict[str, Any]:
    job, created = submit(session, settings, owner, body, key=key)
    session.commit()
    if created:
        enqueue_plan(settings, job.id)
    else:
        response.status_code = 200
    response.headers["Location"] = f"/jobs/{job.id}"
    return service.describe(session, job)


@router.get("", response_model=JobPage, description=LIST_DESCRIPTION)
def list_jobs(session: SessionDep, settings: SettingsDep, owner: OwnerDep, f: JobFilterDep,
              limit: Annotated[int, Query(ge=1, le=200)] = 20,
              offset: Annotated[int, Query(ge=0, le=INT_MAX)] = 0) -> JobPage:
    items, total, next_cursor = service.page(session, owner, f, min(limit, settings.page_size_max), offset)
    return JobPage(items=[JobSummary.model_validate(j) for j in items], total=total, limit=limit,
                   offset=offset, next_cursor=next_cursor)


@router.get("/{job_id}", response_model=JobOut)
def get_job(session: SessionDep, job: JobDep) -> dict[str, Any]:
    return service.describe(session, job)


@router.patch("/{job_id}", response_model=JobOut, description=PATCH_DESCRIPTION,
              responses={422: {"description": "a bad label, with the path of each bad field"}})
def update_job(session: SessionDep, job: JobDep, labels: Labels) -> dict[str, Any]:
    job = service.relabel(session, job, labels)
    session.commit()
    return service.describe(session, job)


@router.post("/{job_id}/cancel", response_model=JobOut,
             responses={409: {"description": "the job has already finished"}})
def cancel_job(session: SessionDep, job: JobDep) -> dict[str, Any]:
    job = service.cancel(session, job)
    session.commit()
    return service.describe(session, job)


@router.delete("/{job_id}", status_code=204,
               responses={409: {"description": "the job is still queued or running"}})
def delete_job(session: SessionDep, job: JobDep) -> Response:
    service.remove(session, job)
    session.commit()
    return Response(status_code=204)
