"""``Client``: the optarena HTTP API from Python, each call returning once it has its answer.

Its methods are optarena.endpoints' (``AsyncClient`` has the same ones); this module only
carries their steps out, with httpx.Client and time.sleep.

    c = Client(url, key)
    job = c.submit_job(preset="seed-wave")
    job.wait()
    job.results_frame()
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator
from contextlib import ExitStack
from typing import Any, TypeVar

import httpx
from httpx_sse import EventSource, ServerSentEvent

from optarena.endpoints import DEFAULT_URL, KEEP, Endpoints
from optarena.events import Event
from optarena.handles import Job
from optarena.models import TERMINAL
from optarena.plan import Call, Done, Emit, Next, Pause, Plan, Stream, Sync, advance
from optarena.wire import ApiError, retry_delay

__all__ = ["DEFAULT_URL", "KEEP", "TERMINAL", "ApiError", "Client", "Event", "Job", "retry_delay"]
T = TypeVar("T")


class Client(Endpoints[Job], Sync):
    """The optarena API; each method returns once it has its answer."""

    transport = httpx.Client
    handle = Job
    http: httpx.Client

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def _drive(self, plan: Plan[T]) -> T:
        for item in self._run(plan):
            if isinstance(item, Done):
                return item.value
        raise AssertionError("a plan ends with Done")

    def _iterate(self, plan: Stream[T]) -> Iterator[T]:
        for item in self._run(plan):
            if isinstance(item, Done):
                return
            yield item

    def _run(self, plan: Generator[Any, Any, Any]) -> Iterator[Any]:
        """The values the plan emits, then Done with its result."""
        with _EventStream(self.http) as stream:
            step = advance(plan)
            while not isinstance(step, Done):
                if isinstance(step, Emit):
                    yield step.value
                    step = advance(plan)
                else:
                    step = advance(plan, self._outcome(step, stream))
            yield step

    def _outcome(self, step: Call | Pause | Next, stream: _EventStream) -> Any:
        """What the step came to, or the transport error to raise inside the plan."""
        try:
            if isinstance(step, Pause):
                return time.sleep(step.seconds)
            if isinstance(step, Next):
                return stream.next()
            if step.stream:
                return stream.open(step)
            return self.http.request(step.method, step.path, **step.options)
        except httpx.TransportError as err:
            stream.close()
            return err


class _EventStream:
    """The event stream a plan has open (one at a time), closed when the plan opens another,
    a read fails or the plan ends."""

    def __init__(self, http: httpx.Client):
        self.http, self.opened = http, ExitStack()
        self.events: Iterator[ServerSentEvent] = iter(())

    def open(self, call: Call) -> httpx.Response:
        self.close()
        resp = self.opened.enter_context(self.http.stream(call.method, call.path, **call.options))
        if resp.status_code >= 400:
            resp.read()  # the error's detail
            self.close()
        else:
            self.events = EventSource(resp).iter_sse()
        return resp

    def next(self) -> ServerSentEvent | None:
        return next(self.events, None)

    def close(self) -> None:
        self.opened.close()
        self.events = iter(())

    def __enter__(self) -> _EventStream:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
