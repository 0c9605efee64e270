"""One database poll per watched job per API process, whatever the number of viewers.

A job's ``Feed`` starts where the stream that opened it starts (or at the log's latest event,
if that stream's cursor lies beyond it), reads on (in a thread; at most once every
``sse_poll_seconds``, unless a read brings a whole page of backlog) and keeps the events,
encoded once, in a buffer that every SSE and JSON Lines stream of that job in this process
reads. A stream whose cursor is behind the buffer (a fresh viewer of a job already watched from
later on, a reconnect with an old ``Last-Event-ID``, a viewer too slow for the buffer's size)
reads the gap from the database itself, then goes on from the buffer: ids only grow and commit
in order, so every event is delivered once, in order, whichever of the two it came from.

A feed stops polling when its last stream leaves, and once the job's stream is complete
(the job finished and every event read); a stream that opens after that starts a new one.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool

from api.events.frames import Frame
from api.events.service import PAGE, last_seq, read_frames
from api.observability.streams import EVENT_READS
from core.settings import Settings

log = logging.getLogger(__name__)

# How often a feed with nothing new wakes its streams, to look at their clients and lifetimes
# (they also wake at every new event). Under uvicorn a client that leaves ends its stream at
# once anyway (Starlette listens for the disconnect); waking 200 idle streams every poll
# interval instead would cost the API several percent of a core for nothing.
IDLE_SECONDS = 1.0


class Feed:
    """One job's event log from ``start`` on. Every event with ``base < seq <= head`` is in
    ``frames``, in order; ``base`` is -1 until the feed has found where the log ends."""

    def __init__(self, settings: Settings, job_id: str, start: int):
        self.settings, self.job_id, self.start = settings, job_id, start
        self.frames: list[Frame] = []
        self.base = self.head = -1
        self.bytes = 0
        self.complete = False
        self.error: Exception | None = None
        self.viewers = 0
        self.signal = asyncio.Event()  # set, and replaced, whenever something changes
        self.task: asyncio.Task[None] | None = None

    def after(self, cursor: int) -> list[Frame] | None:
        """The buffered events after ``cursor``, or None if the buffer does not reach back to it."""
        if self.base < 0 or cursor < self.base:
            return None
        return self.frames[bisect.bisect_right(self.frames, cursor, key=lambda f: f.seq):]

    async def run(self) -> None:
        try:
            EVENT_READS.labels("feed").inc()
            # Never past the log's end: a stream that came with an id beyond every stored one
            # waits for newer events as before, and the streams that join it with real
            # cursors have no gap to read from the database.
            last = await run_in_threadpool(last_seq, self.settings, self.job_id)
            self.base = self.head = min(self.start, last)
            self._changed()
            told = time.monotonic()
            while not self.complete:
                began = time.monotonic()
                EVENT_READS.labels("feed").inc()
                frames, self.complete = await run_in_threadpool(read_frames, self.settings, self.job_id,
                                                                self.head)
                self._keep(frames)
                if frames or self.complete or began - told >= IDLE_SECONDS:
                    self._changed()  # also the idle streams' clock: they wake at least this often
                    told = began
                if len(frames) < PAGE and not self.complete:
                    # At most one read per interval while the job trickles events: every stream
                    # then gets what came meanwhile in one write. A full page is a backlog: read on.
                    await asyncio.sleep(max(0.0, self.settings.sse_poll_seconds - (time.monotonic() - began)))
        except Exception as exc:  # noqa: BLE001 - handed to every stream of the job, which fails with it
            log.warning("the event feed of job %s stopped: %s", self.job_id, exc)
            self.error = exc
            self._changed()
        finally:
            _retire(self)

    def _keep(self, frames: list[Frame]) -> None:
        """Append, then drop the oldest events beyond ``sse_feed_bytes`` (never the newest)."""
        if not frames:
            return
        self.frames += frames
        self.bytes += sum(len(f.data) for f in frames)
        self.head = frames[-1].seq
        drop = 0
        while self.bytes > self.settings.sse_feed_bytes and drop < len(self.frames) - 1:
            self.bytes -= len(self.frames[drop].data)
            drop += 1
        if drop:
            self.base = self.frames[drop - 1].seq
            del self.frames[:drop]

    def _changed(self) -> None:
        self.signal.set()
        self.signal = asyncio.Event()


# One registry per event loop (one per API process; the tests' in-process clients each run
# their own loop), keyed by database and job.
_feeds: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[str, str], Feed]] = \
    weakref.WeakKeyDictionary()


def _registry() -> dict[tuple[str, str], Feed]:
    return _feeds.setdefault(asyncio.get_running_loop(), {})


def join(settings: Settings, job_id: str, cursor: int) -> Feed:
    """The job's live feed in this process, started after ``cursor`` if there is none."""
    feeds = _registry()
    feed = feeds.get((settings.database_url, job_id))
    if feed is None:
        feed = feeds[(settings.database_url, job_id)] = Feed(settings, job_id, cursor)
        feed.task = asyncio.get_running_loop().create_task(feed.run())
    feed.viewers += 1
    return feed


def leave(feed: Feed) -> None:
    feed.viewers -= 1
    if feed.viewers == 0 and feed.task is not None:
        feed.task.cancel()  # its database read, if one is under way, ends in its thread unread
        _retire(feed)


def _retire(feed: Feed) -> None:
    """Out of the registry: the next stream of the job starts a new feed."""
    feeds = _registry()
    if feeds.get((feed.settings.database_url, feed.job_id)) is feed:
        del feeds[(feed.settings.database_url, feed.job_id)]


async def _read(settings: Settings, job_id: str, cursor: int) -> tuple[list[Frame], bool]:
    """A stream's own read of the database (it is behind its feed, or not following)."""
    EVENT_READS.labels("stream").inc()
    return await run_in_threadpool(read_frames, settings, job_id, cursor)


async def follow(settings: Settings, job_id: str, after: int, keep_going: bool,
                 disconnected: Callable[[], Awaitable[Any]]) -> AsyncIterator[list[Frame]]:
    """Every event after ``after``, once each, in order, in batches (what was there to send
    at once: one write to the client); with ``keep_going``, then the job's new events until
    its stream is complete, the client leaves or the stream's lifetime ends. While there is
    nothing to send it yields an empty batch every ``IDLE_SECONDS`` (the SSE stream's
    keep-alive clock), and looks whether the client is still there: a stream woken by its feed
    has something to send, and a departed client shows when it is sent."""
    if not keep_going:
        while True:
            frames, complete = await _read(settings, job_id, after)
            if frames:
                after = frames[-1].seq
                yield frames
            if complete or not frames:
                return
    deadline = time.monotonic() + settings.sse_max_lifetime
    feed = join(settings, job_id, after)
    idle = False
    try:
        while True:
            signal = feed.signal  # taken before looking, so that no change is missed
            frames = feed.after(after)
            if feed.base < 0 and feed.error is None:
                frames, complete = [], False  # the feed is finding its start: wait for it
            elif frames is None:
                frames, complete = await _read(settings, job_id, after)
            else:
                complete = feed.complete  # then ``frames`` runs to the job's last event
            if frames:
                after = frames[-1].seq
                yield frames
            if complete:
                return
            if frames:
                idle = False
                continue
            if feed.error is not None:
                raise RuntimeError(f"the event feed of job {job_id} failed") from feed.error
            if time.monotonic() > deadline or (idle and await disconnected()):
                return
            if idle:
                yield []
            # No timeout of its own: the feed wakes its streams at least every IDLE_SECONDS
            # (a timer per stream and wake cost the API more than the writes at 200 streams).
            await signal.wait()
            idle = True
    finally:
        leave(feed)
