"""Read routes of a job whose result can no longer change: computed once, then served from
the database to every API process, with an ETag and ``304 Not Modified``.

The owner is checked in the query that finds the cached body (the job row must be the
caller's owner's, else 404 as ``load_job`` answers), so a cached body is never served to a
caller who may not see the job, and a deleted job's rows are gone with it.

A job is final when its status is terminal and none of its shards is still queued or
running: a failed job keeps training its other shards, and their points still arrive. Only
then is a body stored; it goes when the job is deleted (ON DELETE CASCADE). The bytes sent
are the stored bytes, and a fresh computation builds them with the same renderer, so a
cached response is byte for byte the response it replaces.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from functools import lru_cache
from typing import Any, NamedTuple

from fastapi import Request, Response
from pydantic import TypeAdapter
from sqlalchemy import func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from api.deps import load_job, not_found
from api.live_cache import Entry, LiveBodies, job_state
from core.settings import Settings
from models.db import session_factory
from models.response_cache import CachedResponse
from models.tables import TERMINAL, Job, Shard

log = logging.getLogger(__name__)

# Part of every key: raise it when a cached route's output changes, so that bodies stored by
# the older code are never served again.
FORMAT = 4  # 2: results carry each arm's final test loss; 3: curves written by orjson;
# 4: float32 values in their shortest float32 form (models/numbers.py)

# Finished: the body never changes while the job exists. An hour in the client's own cache
# (private: it answers one owner's key), after which it asks again and gets a cheap 304, so
# a deleted job stops showing within the hour.
FINAL = "private, max-age=3600"
# Still running: points keep arriving, so the client revalidates every time; the ETag still
# spares it the body when nothing changed.
LIVE = "private, no-cache"
# The body depends on who asks: a shared browser must not hand one key's copy to another.
VARY = "Authorization, Cookie"

_JSON = TypeAdapter(dict[str, Any])


class Body(NamedTuple):
    content: bytes
    media_type: str


Render = Callable[[Session, Job], Body]


def json_body(data: dict[str, Any]) -> Body:
    """The bytes FastAPI sends for a route returning ``dict[str, Any]`` (it serializes through
    the same pydantic adapter), so routes that now return these bytes answer as before."""
    return Body(_JSON.dump_json(_JSON.validate_python(data, from_attributes=True), by_alias=True),
                "application/json")


def cache_key(route: str, params: dict[str, Any]) -> str:
    """``params`` must already be normalized: equal keys must mean equal responses."""
    text = json.dumps([FORMAT, route, params], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def etag_of(content: bytes) -> str:
    return f'"{hashlib.sha256(content).hexdigest()}"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110: If-None-Match compares weakly, so a W/ prefix still matches."""
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


def is_final(session: Session, job: Job) -> bool:
    if job.status not in TERMINAL:
        return False
    active = select(Shard.id).where(Shard.job_id == job.id, Shard.status.not_in(TERMINAL)).limit(1)
    return session.scalar(active) is None


async def serve(request: Request, settings: Settings, owner: str, job_id: str, route: str,
                params: dict[str, Any], render: Render, live: bool = False) -> Response:
    """The route's whole answer, in one worker thread: a cached read is one query (the job
    row, for its owner, joined with the cached row), where the usual dependencies would take
    a session, an ORM load and a thread hop each. ``live``: the body depends only on the
    state api/live_cache.py reads, so a running job's body is shared while that is unchanged."""
    condition = request.headers.get("if-none-match")
    return await run_in_threadpool(_serve, settings, owner, job_id, cache_key(route, params), condition,
                                   render, live)


@lru_cache
def _live_bodies(max_bytes: int) -> LiveBodies:
    return LiveBodies(max_bytes)


@lru_cache
def _sessions(url: str) -> sessionmaker[Session]:
    """Made once per URL: a new sessionmaker costs more than the cached read it would serve."""
    return session_factory(url)


def _serve(settings: Settings, owner: str, job_id: str, key: str, condition: str | None,
           render: Render, live: bool) -> Response:
    with _sessions(settings.database_url)() as session:
        c = CachedResponse
        cols = [Job.id, c.etag, c.media_type] + ([] if condition else [c.body])
        row = session.execute(
            select(*cols).select_from(Job).outerjoin(c, (c.job_id == Job.id) & (c.key == key))
            .where(Job.id == job_id, Job.owner == owner)).first()
        if row is None:  # missing, or another owner's: the same 404 as load_job's
            raise not_found(job_id)
        if row.etag is not None:  # only a final job has rows
            if matches(condition, row.etag):
                return _not_modified(row.etag, FINAL)
            content = row.body if not condition else session.scalar(
                select(c.body).where(c.job_id == job_id, c.key == key))
            if content is not None:  # None: deleted since the first query; load_job answers
                return _respond(Body(content, row.media_type), row.etag, FINAL)
        job = load_job(job_id, session, owner)
        # Decided before computing: once final, a job's data no longer changes, so a body
        # computed after this check is the final one.
        final = is_final(session, job)
        if live and not final and settings.live_cache_bytes > 0:
            # The state is read before the body, so the body holds at least what it says.
            entry = _live_bodies(settings.live_cache_bytes).get(
                (job_id, key), job_state(session, job), lambda: _entry(render(session, job)))
            body, etag = Body(entry.content, entry.media_type), entry.etag
        else:
            body = render(session, job)
            etag = etag_of(body.content)
        if final:
            store(session, settings, job_id, key, body, etag)
        control = FINAL if final else LIVE
        return _not_modified(etag, control) if matches(condition, etag) else _respond(body, etag, control)


def _entry(body: Body) -> Entry:
    return Entry(body.content, body.media_type, etag_of(body.content))


def store(session: Session, settings: Settings, job_id: str, key: str, body: Body, etag: str) -> None:
    """At most ``response_cache_bytes_per_job`` bytes per job: past that, further queries
    (other cursors, resolutions) are computed each time rather than filling the disk."""
    c = CachedResponse
    size = len(body.content)
    try:
        used = session.scalar(select(func.sum(c.size)).where(c.job_id == job_id)) or 0
        if size + int(used) > settings.response_cache_bytes_per_job:
            return
        row = {"job_id": job_id, "key": key, "media_type": body.media_type, "etag": etag, "size": size,
               "body": body.content}
        session.execute(_insert_ignore(session), [row])
        session.commit()
    except DBAPIError:
        # Not storing only costs the next reader a computation; the answer stands.
        session.rollback()
        log.warning("response cache: could not store job %s %s", job_id, key, exc_info=True)


def _insert_ignore(session: Session) -> Any:
    """Two readers filling the same key at once: the second insert does nothing."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return pg_insert(CachedResponse).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite_insert(CachedResponse).on_conflict_do_nothing()
    return insert(CachedResponse)  # elsewhere a duplicate raises, and store gives up quietly


def _headers(etag: str, control: str) -> dict[str, str]:
    return {"ETag": etag, "Cache-Control": control, "Vary": VARY}


def _respond(body: Body, etag: str, control: str) -> Response:
    return Response(body.content, media_type=body.media_type, headers=_headers(etag, control))


def _not_modified(etag: str, control: str) -> Response:
    return Response(status_code=304, headers=_headers(etag, control))

