"""The JSON error replies the ASGI middlewares send, and how they appear in the OpenAPI schema."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import Send

SESSION_COOKIE = "optarena_session"

UNAUTHORIZED = "a valid API key is required: send 'Authorization: Bearer <key>' or sign in with POST /session"

# Added to every protected route, so the schema documents what any of them may answer.
PROTECTED_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing, invalid or revoked API key"},
    413: {"description": "request body larger than OPTARENA_MAX_BODY_BYTES"},
    429: {"description": "too many requests for this key, or too many active jobs; see Retry-After"},
    503: {"description": "the database is unreachable; retry shortly"},
}


async def send_json(send: Send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
