"""A background thread that writes the engine's events to the database in batches,
so training never waits on SQL. The training thread only appends to a buffer."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy.orm import Session

from engine.events import Event
from worker.buffer import EventBuffer
from worker.persist import write_batch
from worker.retry import with_retry

log = logging.getLogger(__name__)


class ShardWriter:
    def __init__(self, sessions: Callable[[], Session], job_id: str, shard_id: int,
                 buffer: EventBuffer, *, interval: float, heartbeat: float,
                 lease: tuple[str, float] | None = None, retry_seconds: float = 0.0):
        self.sessions, self.job_id, self.shard_id = sessions, job_id, shard_id
        self.buffer, self.interval, self.heartbeat = buffer, interval, heartbeat
        self.lease, self.retry_seconds = lease, retry_seconds
        self.lock, self.wake, self.done = threading.Lock(), threading.Event(), threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._loop, name=f"shard-{shard_id}-writer", daemon=True)

    def __enter__(self) -> ShardWriter:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- called from the training thread ------------------------------------------------

    def on_event(self, ev: Event) -> None:
        with self.lock:
            self.buffer.add(ev)
        if ev.type != "metrics":
            self.wake.set()

    def on_checkpoint(self, step: int, blob: bytes) -> None:
        with self.lock:
            self.buffer.checkpoint(step, blob)
        self.wake.set()

    def close(self) -> None:
        """Write what is left and stop; re-raises a write error."""
        self.done.set()
        self.wake.set()
        self.thread.join()
        if self.error is not None:
            raise RuntimeError(f"writing metrics failed: {self.error}") from self.error

    # -- the writer thread ---------------------------------------------------------------

    def _loop(self) -> None:
        last = 0.0
        try:
            while True:
                self.wake.wait(self.heartbeat)
                self.wake.clear()
                finished = self.done.is_set()
                if not finished:
                    # Let chunks pile up a little: fewer, bigger transactions.
                    time.sleep(max(0.0, self.interval - (time.monotonic() - last)))
                last = time.monotonic()
                self._write_once()
                if finished:
                    return
        except BaseException as exc:  # noqa: BLE001 - reported to the training thread
            log.exception("shard %s: writer failed", self.shard_id)
            self.error = exc

    def _write_once(self) -> None:
        """Write what the buffer holds (an empty batch still renews the lease). The same
        batch is retried while the database is away; training goes on meanwhile."""
        with self.lock:
            batch = self.buffer.take()

        def write() -> None:
            with self.sessions() as session, session.begin():
                write_batch(session, self.job_id, self.shard_id, batch, self.lease)

        with_retry(write, self.retry_seconds, f"shard {self.shard_id} writer")
