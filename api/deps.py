"""Typed dependencies: settings, a request-scoped session, the caller's owner, and
"load the caller's job or 404"."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from api.security.replies import SESSION_COOKIE, UNAUTHORIZED
from core.settings import Settings, get_settings
from models.apikeys import Principal
from models.db import session_factory
from models.tables import Job

SettingsDep = Annotated[Settings, Depends(get_settings)]

# The bound of every integer query parameter compared with a column: an INTEGER column holds no
# larger value, and a larger one overflows the database driver (a 500) instead of matching nothing.
INT_MAX = 2**31 - 1
JobId = Annotated[str, Path(description="the job's id, as returned by POST /jobs", max_length=64)]

# Declared for the OpenAPI schema (the "Authorize" button in /docs); the key itself is
# checked by api.security.middleware before routing, which leaves the principal in the scope.
_bearer = HTTPBearer(auto_error=False, description="an API key from `optarena keys create`")
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="set by POST /session")


def current_principal(request: Request,
                      _bearer_key: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
                      _cookie_key: Annotated[str | None, Depends(_cookie)]) -> Principal:
    principal = getattr(request.state, "principal", None)
    if principal is None:
        raise HTTPException(401, UNAUTHORIZED, headers={"WWW-Authenticate": "Bearer"})
    return principal


def current_owner(principal: Annotated[Principal, Depends(current_principal)]) -> str:
    return principal.owner


OwnerDep = Annotated[str, Depends(current_owner)]


def get_session(settings: SettingsDep) -> Iterator[Session]:
    with session_factory(settings.database_url)() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def not_found(job_id: str) -> HTTPException:
    return HTTPException(404, f"no job with id {job_id!r}; list jobs with GET /jobs")


def load_job(job_id: JobId, session: SessionDep, owner: OwnerDep) -> Job:
    """Another owner's job answers exactly like a missing one: its existence is not revealed."""
    job = session.get(Job, job_id)
    if job is None or job.owner != owner:
        raise not_found(job_id)
    return job


JobDep = Annotated[Job, Depends(load_job)]


def check_job(job_id: JobId, settings: SettingsDep, owner: OwnerDep) -> str:
    """404 for streams, with a short session: a stream must not hold a connection."""
    with session_factory(settings.database_url)() as session:
        job = session.get(Job, job_id)
        if job is None or job.owner != owner:
            raise not_found(job_id)
    return job_id


StreamJobDep = Annotated[str, Depends(check_job)]
