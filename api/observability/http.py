"""Every HTTP request counted and timed by route template, and the log context of each.

A pure ASGI middleware, outermost, so that the answers of the key check, the rate limit and
the body limit are counted too, and a stream is never buffered. Routes are labelled by
their template (``/jobs/{job_id}``), never by the raw path: one series per route, not per job.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core import logs

REQUESTS = Counter("optarena_http_requests", "HTTP requests answered, by route template, method and status",
                   ["route", "method", "status"])
# Time to the response headers: for a JSON route the whole work, for a stream its start (a
# stream's lifetime is not latency, and would swamp the buckets).
LATENCY = Histogram("optarena_http_request_duration_seconds", "seconds until the response headers were sent",
                    ["route", "method"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
# livesum: with PROMETHEUS_MULTIPROC_DIR, the streams of the API processes still running.
STREAMS = Gauge("optarena_sse_streams_open", "Server-Sent Events streams open now",
                multiprocess_mode="livesum")

UNMATCHED = "unmatched"  # any path no route takes: one label, whatever was asked
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_of(scope: Scope) -> tuple[str, dict[str, Any]]:
    """The template of the route that takes this request, and its path parameters.

    Matched here rather than read after routing: a request refused by the key check never
    reaches the router, and is still counted under its route. A path that a route takes
    with another method only (a 405) is counted under that route."""
    full, partial = _match(getattr(scope.get("app"), "routes", ()), scope)
    return full or partial or (UNMATCHED, {})


Found = tuple[str, dict[str, Any]] | None


def _match(routes: Any, scope: Scope) -> tuple[Found, Found]:
    partial: Found = None
    for route in routes:
        # FastAPI keeps an included router whole (the routes in it carry their full paths).
        inner = getattr(route, "original_router", None)
        if inner is not None:
            full, inner_partial = _match(inner.routes, scope)
            if full is not None:
                return full, None
            partial = partial or inner_partial
            continue
        match, child = route.matches(scope)
        if match is Match.FULL:
            return (route.path, child.get("path_params", {})), None
        if match is Match.PARTIAL and partial is None:
            partial = route.path, child.get("path_params", {})
    return None, partial


def _event_stream(message: Message) -> bool:
    return any(k.lower() == b"content-type" and v.startswith(b"text/event-stream")
               for k, v in message.get("headers", []))


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        route, params = route_of(scope)
        method = scope["method"] if scope["method"] in METHODS else "other"
        start = time.perf_counter()
        status, timed, streaming = 500, False, False  # a crash before any answer is the server's 500

        async def watched(message: Message) -> None:
            nonlocal status, timed, streaming
            if message["type"] == "http.response.start":
                status, timed = message["status"], True
                LATENCY.labels(route, method).observe(time.perf_counter() - start)
                if status == 200 and _event_stream(message):
                    STREAMS.inc()
                    streaming = True
            await send(message)

        previous = logs.push(job_id=params.get("job_id"))
        try:
            await self.app(scope, receive, watched)
        finally:
            logs.restore(previous)
            if streaming:
                STREAMS.dec()
            if not timed:
                LATENCY.labels(route, method).observe(time.perf_counter() - start)
            REQUESTS.labels(route, method, str(status)).inc()
