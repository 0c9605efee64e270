"""Streams of a job's events: Server-Sent Events and JSON Lines.

Both send the bytes each event was encoded into once for every stream of the job in this
process (see broadcast.py), rather than going through FastAPI's per-item SSE encoder: the
wire format is the same, and its keep-alive comment is sent here after as long a silence.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response, StreamingResponse
from fastapi.sse import KEEPALIVE_COMMENT, EventSourceResponse

from api.deps import INT_MAX, SettingsDep, StreamJobDep
from api.events.broadcast import follow
from api.events.frames import Frame

router = APIRouter(prefix="/jobs", tags=["events"])

EVENTS_DOC = """Server-Sent Events of the job: `status`, `run_started`, `metrics` (a batch of points
with progress), `run_finished`. Each event's `id` is its sequence number in the job; reconnect
with `Last-Event-ID` (or `?after=`) to continue with no gap and no duplicate. The stream ends
after the job's final status."""


def _cursor(after: int | None, last_event_id: str | None) -> int:
    if after is not None:
        return after
    # ASCII digits only ("²".isdigit() is true, and int() refuses it); a larger id than any
    # stored one means "nothing yet", and must not overflow the query.
    raw = (last_event_id or "").strip()
    return min(int(raw), INT_MAX) if raw.isascii() and raw.isdigit() else 0


KEEPALIVE_SECONDS = 15.0  # as FastAPI's SSE: a proxy may close a connection silent for longer
# What FastAPI sets on its own SSE responses (X-Accel-Buffering: nginx must not buffer them).
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def _sse(batches: AsyncIterator[list[Frame]]) -> AsyncIterator[bytes]:
    quiet_since = time.monotonic()
    async for frames in batches:
        if frames:
            yield b"".join(f.sse for f in frames)  # one event alone is sent as it is, uncopied
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= KEEPALIVE_SECONDS:
            yield KEEPALIVE_COMMENT
            quiet_since = time.monotonic()


# The schema FastAPI gives a generator SSE route (OpenAPI 3.2's SSE item): this route returns
# its response itself, and says so here. Response: no default schema next to it.
SSE_ITEM = {"type": "object", "properties": {"data": {"type": "string"}, "event": {"type": "string"},
                                             "id": {"type": "string"},
                                             "retry": {"type": "integer", "minimum": 0}}}


@router.get("/{job_id}/events", response_class=Response, description=EVENTS_DOC,
            responses={200: {"description": "Successful Response",
                             "content": {"text/event-stream": {"itemSchema": SSE_ITEM}}}})
async def get_job_events(job_id: StreamJobDep, settings: SettingsDep, request: Request,
                         after: Annotated[int | None,
                                          Query(ge=0, le=INT_MAX, description="resume after this id")] = None,
                         last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
                         ) -> EventSourceResponse:
    batches = follow(settings, job_id, _cursor(after, last_event_id), True, request.is_disconnected)
    return EventSourceResponse(_sse(batches), headers=SSE_HEADERS)


JSONL_DOC = """The event stream as JSON Lines, one `{"id", "event", "data"}` object per line;
`follow=true` keeps it open until the job ends."""


@router.get("/{job_id}/metrics.jsonl", response_class=Response, description=JSONL_DOC,
            responses={200: {"description": "Successful Response",
                             "content": {"application/x-ndjson": {"schema": {"type": "string"}}}}})
async def get_job_events_jsonl(job_id: StreamJobDep, settings: SettingsDep, request: Request,
                               follow_: Annotated[bool, Query(alias="follow")] = False,
                               after: Annotated[int, Query(ge=0, le=INT_MAX)] = 0) -> StreamingResponse:
    async def lines() -> AsyncIterator[bytes]:
        async for frames in follow(settings, job_id, after, follow_, request.is_disconnected):
            if frames:
                yield b"".join(f.jsonl for f in frames)

    return StreamingResponse(lines(), media_type="application/x-ndjson")
