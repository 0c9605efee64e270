"""An event of a job's log, encoded once: every SSE and JSON Lines stream of it in this
process sends the same bytes, so a viewer costs a socket write, not a JSON encoding."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from fastapi.sse import format_sse_event

from models.numbers import dumps


class Frame:
    def __init__(self, seq: int, kind: str, payload: dict[str, Any]):
        self.seq, self.kind = seq, kind
        self.data = dumps(payload)  # the payload as JSON, encoded once for both framings

    @cached_property
    def sse(self) -> bytes:
        """``event:``, ``data:``, ``id:`` lines, byte for byte what FastAPI's SSE encoder writes."""
        return format_sse_event(data_str=self.data, event=self.kind, id=str(self.seq))

    @cached_property
    def jsonl(self) -> bytes:
        """``{"id", "event", "data"}`` on one line: ``dumps`` of that object, built around the
        already-encoded payload."""
        return f'{{"id":{self.seq},"event":{dumps(self.kind)},"data":{self.data}}}\n'.encode()
