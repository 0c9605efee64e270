"""Typed dependencies: settings, a request-scoped session, and "load the job or 404"."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Path
from sqlalchemy.orm import Session

from models.db import session_factory
from models.tables import Job
from optarena.settings import Settings, get_settings

SettingsDep = Annotated[Settings, Depends(get_settings)]
JobId = Annotated[str, Path(description="the job's id, as returned by POST /jobs", max_length=64)]


def get_session(settings: SettingsDep) -> Iterator[Session]:
    with session_factory(settings.database_url)() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def not_found(job_id: str) -> HTTPException:
    return HTTPException(404, f"no job with id {job_id!r}; list jobs with GET /jobs")


def load_job(job_id: JobId, session: SessionDep) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise not_found(job_id)
    return job


JobDep = Annotated[Job, Depends(load_job)]


def check_job(job_id: JobId, settings: SettingsDep) -> str:
    """404 for streams, with a short session: a stream must not hold a connection."""
    with session_factory(settings.database_url)() as session:
        if session.get(Job, job_id) is None:
            raise not_found(job_id)
    return job_id


StreamJobDep = Annotated[str, Depends(check_job)]
