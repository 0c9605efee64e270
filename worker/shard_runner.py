"""Train one shard: claim its lease, resume from its checkpoint, stream events to the database."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable

from sqlalchemy.orm import Session

from core.planning import stage_of_state
from core.settings import Settings
from engine.design import Stage
from engine.events import Event, Progress
from engine.runner import resolve_device, train_runs
from engine.search_pruning import stage_pruning
from engine.spec import ComparisonSpec
from worker.buffer import EventBuffer
from worker.model_limits import check_plugin_model
from worker.persist import consolidate, drop_consolidated, stored_steps
from worker.retry import connection_lost, with_retry
from worker.shards import Claim, LeaseLost, claim, finish, is_cancelled, owner_name
from worker.writer import ShardWriter

log = logging.getLogger(__name__)


class CancelCheck:
    """``should_stop`` for the engine: reads the job's cancel flag at most every
    ``period`` seconds, and stops at once if the writer thread has failed. While the
    database is away, training goes on (the writer retries)."""

    def __init__(self, sessions: Callable[[], Session], job_id: str, writer: ShardWriter, period: float):
        self.sessions, self.job_id, self.writer, self.period = sessions, job_id, writer, period
        self.last, self.cancelled = 0.0, False

    def __call__(self) -> bool:
        if self.writer.error is not None:
            return True
        now = time.monotonic()
        if not self.cancelled and now - self.last >= self.period:
            self.last = now
            try:
                with self.sessions() as session:
                    self.cancelled = is_cancelled(session, self.job_id)
            except Exception as exc:
                if not connection_lost(exc):
                    raise
        return self.cancelled


def train_shard(settings: Settings, sessions: Callable[[], Session], shard_id: int,
                owner: str | None = None) -> str:
    """Returns the shard's final status, 'skipped' when there was nothing to do (finished,
    or leased by a live worker) or 'lost' when another worker took the shard over."""
    owner = owner or owner_name()
    retry = settings.db_retry_seconds

    def transaction(fn):  # noqa: ANN001, ANN202 - one retried transaction
        def run():  # noqa: ANN202
            with sessions() as session, session.begin():
                return fn(session)
        return with_retry(run, retry, f"shard {shard_id}")

    claimed = transaction(lambda s: claim(s, shard_id, owner, settings.lease_seconds, settings.max_attempts))
    if claimed is None:
        log.info("shard %s: nothing to do here (finished, cancelled or leased elsewhere)", shard_id)
        return "skipped"
    try:
        completed = _train(settings, sessions, shard_id, claimed, owner)
    except LeaseLost:
        log.warning("shard %s: lease lost to another worker; stopping", shard_id)
        return "lost"
    except Exception as exc:
        if isinstance(exc.__cause__, LeaseLost):
            log.warning("shard %s: lease lost to another worker; stopping", shard_id)
            return "lost"
        log.exception("shard %s failed", shard_id)
        reason = f"{type(exc).__name__}: {exc}"
        transaction(lambda s: finish(s, shard_id, "failed", reason, owner))
        return "failed"
    status = "succeeded" if completed else "cancelled"

    def close(session: Session) -> bool:
        consolidate(session, claimed.job_id, claimed.runs)
        return finish(session, shard_id, status, owner=owner)

    return status if transaction(close) else "lost"


def stage_of(claimed: Claim) -> Stage:
    """The stage this shard trains, derived from the job's spec as it was planned."""
    return stage_of_state(ComparisonSpec.model_validate(claimed.spec), claimed.stage, claimed.study_state)


def _train(settings: Settings, sessions: Callable[[], Session], shard_id: int, claimed: Claim,
           owner: str) -> bool:
    st = stage_of(claimed)
    spec = st.spec

    def prepare() -> EventBuffer:
        with sessions() as session, session.begin():
            drop_consolidated(session, claimed.job_id, claimed.runs)
            return EventBuffer(stored_steps(session, claimed.job_id, claimed.runs))

    dataset = _dataset_for(sessions, spec, settings.db_retry_seconds)
    check_plugin_model(spec, settings, dataset)  # before anything is written
    buffer = with_retry(prepare, settings.db_retry_seconds, f"shard {shard_id}")
    writer = ShardWriter(sessions, claimed.job_id, shard_id, buffer, interval=settings.write_interval,
                         heartbeat=settings.heartbeat_seconds, lease=(owner, settings.lease_seconds),
                         retry_seconds=settings.db_retry_seconds)
    with writer:
        stop = CancelCheck(sessions, claimed.job_id, writer, settings.cancel_poll_seconds)
        on_event = writer.on_event if not st.offset else numbered(writer.on_event, st.offset)
        local = [r - st.offset for r in claimed.runs]
        completed = train_runs(spec, local, on_event, device=resolve_device(spec.train.device),
                               pruning=stage_pruning(st),
                               resume=claimed.checkpoint, should_stop=stop,
                               on_checkpoint=writer.on_checkpoint, checkpoint_every=settings.checkpoint_every,
                               dataset=dataset,
                               flush_seconds=settings.flush_seconds)
    return completed and not stop.cancelled


def numbered(on_event: Callable[[Event], None], offset: int) -> Callable[[Event], None]:
    """Events of a later stage carry the stage's own run numbers; the job's are offset."""
    def forward(ev: Event) -> None:
        if isinstance(ev, Progress):
            ev = dataclasses.replace(ev, runs=[r + offset for r in ev.runs])
        else:
            ev = dataclasses.replace(ev, run=ev.run + offset)
        on_event(ev)
    return forward


def _dataset_for(sessions: Callable[[], Session], spec: ComparisonSpec, retry_seconds: float = 0.0):
    """The arrays of the uploaded CSV a 'dataset' task names (``models.datasets.DatasetArrays``),
    read once per shard; None for a generated task. A data set deleted since the job was
    stored raises LookupError, which fails the shard with that reason."""
    from models.datasets import load_arrays  # only shards of uploaded data read it

    if spec.task.name != "dataset":
        return None

    def read():  # noqa: ANN202 - one read-only transaction
        with sessions() as session:
            return load_arrays(session, spec.task.dataset or "")

    return with_retry(read, retry_seconds, f"dataset {spec.task.dataset}")
