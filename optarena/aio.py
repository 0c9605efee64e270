"""``AsyncClient``: the methods of ``Client`` for asyncio code; await them.

They are optarena.endpoints', as ``Client``'s are; this module only carries their steps out,
with httpx.AsyncClient and asyncio.sleep.

    async with AsyncClient(url, key) as c:
        job = await c.submit_job(preset="seed-wave")
        async for event in job.follow():
            ...
        frame = await job.results_frame()
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Generator
from contextlib import AsyncExitStack
from typing import Any, TypeVar

import httpx
from httpx_sse import EventSource, ServerSentEvent

from optarena.endpoints import Endpoints
from optarena.handles import AsyncJob
from optarena.plan import Async, Call, Done, Emit, Next, Pause, Plan, Stream, advance

T = TypeVar("T")


class AsyncClient(Endpoints[AsyncJob], Async):
    """The optarena API for asyncio code: the methods of ``Client``, awaited."""

    transport = httpx.AsyncClient
    handle = AsyncJob
    http: httpx.AsyncClient

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _drive(self, plan: Plan[T]) -> T:
        async for item in self._run(plan):
            if isinstance(item, Done):
                return item.value
        raise AssertionError("a plan ends with Done")

    async def _iterate(self, plan: Stream[T]) -> AsyncIterator[T]:
        async for item in self._run(plan):
            if isinstance(item, Done):
                return
            yield item

    async def _run(self, plan: Generator[Any, Any, Any]) -> AsyncIterator[Any]:
        """The values the plan emits, then Done with its result."""
        async with _EventStream(self.http) as stream:
            step = advance(plan)
            while not isinstance(step, Done):
                if isinstance(step, Emit):
                    yield step.value
                    step = advance(plan)
                else:
                    step = advance(plan, await self._outcome(step, stream))
            yield step

    async def _outcome(self, step: Call | Pause | Next, stream: _EventStream) -> Any:
        """What the step came to, or the transport error to raise inside the plan."""
        try:
            if isinstance(step, Pause):
                return await asyncio.sleep(step.seconds)
            if isinstance(step, Next):
                return await stream.next()
            if step.stream:
                return await stream.open(step)
            return await self.http.request(step.method, step.path, **step.options)
        except httpx.TransportError as err:
            await stream.close()
            return err


class _EventStream:
    """The event stream a plan has open (one at a time), closed when the plan opens another,
    a read fails or the plan ends."""

    def __init__(self, http: httpx.AsyncClient):
        self.http, self.opened = http, AsyncExitStack()
        self.events: AsyncIterator[ServerSentEvent] | None = None

    async def open(self, call: Call) -> httpx.Response:
        await self.close()
        resp = await self.opened.enter_async_context(self.http.stream(call.method, call.path, **call.options))
        if resp.status_code >= 400:
            await resp.aread()  # the error's detail
            await self.close()
        else:
            self.events = EventSource(resp).aiter_sse()
        return resp

    async def next(self) -> ServerSentEvent | None:
        return None if self.events is None else await anext(self.events, None)

    async def close(self) -> None:
        if self.events is not None:
            await self.events.aclose()  # type: ignore[attr-defined]  # an async generator
            self.events = None
        await self.opened.aclose()

    async def __aenter__(self) -> _EventStream:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()
