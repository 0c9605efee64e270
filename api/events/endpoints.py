"""Streams of a job's events: Server-Sent Events and JSON Lines."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent

from api.deps import INT_MAX, SettingsDep, StreamJobDep
from api.events.service import dumps, follow

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


@router.get("/{job_id}/events", response_class=EventSourceResponse, description=EVENTS_DOC)
async def job_events(job_id: StreamJobDep, settings: SettingsDep, request: Request,
                     after: Annotated[int | None,
                                      Query(ge=0, le=INT_MAX, description="resume after this id")] = None,
                     last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
                     ) -> AsyncIterator[ServerSentEvent]:
    async for seq, kind, payload in follow(settings, job_id, _cursor(after, last_event_id), True,
                                           request.is_disconnected):
        yield ServerSentEvent(raw_data=dumps(payload), event=kind, id=str(seq))


JSONL_DOC = """The event stream as JSON Lines, one `{"id", "event", "data"}` object per line;
`follow=true` keeps it open until the job ends."""


@router.get("/{job_id}/metrics.jsonl", description=JSONL_DOC,
            responses={200: {"content": {"application/x-ndjson": {}}}})
async def job_events_jsonl(job_id: StreamJobDep, settings: SettingsDep, request: Request,
                           follow_: Annotated[bool, Query(alias="follow")] = False,
                           after: Annotated[int, Query(ge=0, le=INT_MAX)] = 0) -> StreamingResponse:
    async def lines() -> AsyncIterator[str]:
        async for seq, kind, payload in follow(settings, job_id, after, follow_, request.is_disconnected):
            yield dumps({"id": seq, "event": kind, "data": payload}) + "\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson")
