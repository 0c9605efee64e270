"""Split a stored job into shards (the engine's cohorts, at most ``shard_size`` runs each),
one stage at a time: a study's later stage is planned from the summaries of the earlier one,
by whichever worker finds it due (a finished shard, a redelivered plan task, the sweeper)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core import capabilities
from engine.design import Stage, choose, chosen_points, plan_cohorts, proposals_of, stage
from engine.spec import ComparisonSpec, stored
from models.journal import add_event, refresh_status
from models.tables import TERMINAL, Job, Run, Shard


def plan_shards(session: Session, job_id: str, shard_size: int, shard_examples: int | None = None,
                worker_ttl: float = 30.0) -> list[tuple[int, str]]:
    """Create the job's shards once per stage; returns (shard id, queue) of every shard still
    queued, so a redelivered planning task re-sends what may not have been sent. Shards of
    plugin optimizers go to a queue of live workers that have them (core/capabilities.py)."""
    job = session.execute(select(Job).where(Job.id == job_id).with_for_update()).scalar_one_or_none()
    if job is None or job.spec is None or job.status in ("failed", "succeeded", "cancelled"):
        return []
    existing = list(session.scalars(select(Shard).where(Shard.job_id == job_id)))
    if not existing:
        if job.cancel_requested:
            refresh_status(session, job_id)
            return []
        existing = _create_shards(session, job, job_stage(job, 0), shard_size, shard_examples, worker_ttl)
    elif _next_stage_due(job, existing):
        existing += _plan_next_stage(session, job, existing, shard_size, shard_examples, worker_ttl)
    return [(s.id, s.queue) for s in existing if s.status == "queued"]


def _spec(job: Job) -> ComparisonSpec:
    return stored(job.spec)


def job_stage(job: Job, index: int) -> Stage:
    """Stage ``index`` of a stored job, with what was decided before it (study_state)."""
    return stage_of_state(_spec(job), index, job.study_state)


def stage_of_state(spec: ComparisonSpec, index: int, state: dict[str, Any] | None) -> Stage:
    return stage(spec, index, chosen_points(state), proposals_of(state, index))


def _next_stage_due(job: Job, shards: list[Shard]) -> bool:
    planned = max(s.stage for s in shards) + 1
    done = all(s.status == "succeeded" for s in shards)
    return done and not job.cancel_requested and planned < (job.study_state or {}).get("stages", 1)


def _plan_next_stage(session: Session, job: Job, shards: list[Shard], shard_size: int,
                     shard_examples: int | None, worker_ttl: float) -> list[Shard]:
    """Tuning's second stage: each arm's point chosen on validation loss, on fresh seeds.
    A search's next stage: the next cohort's trials, or each arm's best trial on fresh seeds."""
    spec = _spec(job)
    index = max(s.stage for s in shards) + 1
    if spec.study is not None and spec.study.kind == "search":
        job.study_state = _search_advance(session, job, spec, index - 1)
    else:
        first = stage(spec, 0)
        runs = session.execute(select(Run.index, Run.summary)
                               .where(Run.job_id == job.id, Run.stage == 0)).all()
        plans = first.spec.runs()
        chosen = choose(spec, [(plans[i].arm, {}, summary) for i, summary in runs])
        job.study_state = (job.study_state or {}) | {"chosen": {str(a): hp for a, hp in chosen.items()}}
    nxt = job_stage(job, index)
    add_runs(session, job.id, nxt)
    state = job.study_state
    decided = ({"chosen": state["chosen"]} if "chosen" in state
               else {"proposals": state["proposals"][str(index)]})
    add_event(session, job.id, "study", {"stage": index, **decided,
                                         "labels": [a.display() for a in spec.arms]})
    session.flush()
    created = _create_shards(session, job, nxt, shard_size, shard_examples, worker_ttl)
    refresh_status(session, job.id)
    return created


def add_runs(session: Session, job_id: str, st: Stage) -> None:
    """The run rows of one stage, numbered after the earlier stages' runs."""
    for plan in st.spec.runs():
        arm = st.spec.arms[plan.arm]
        session.add(Run(job_id=job_id, index=st.offset + plan.index, arm=plan.arm, label=arm.display(),
                        optimizer=arm.optimizer, seed=plan.seed, batch_size=plan.batch_size,
                        hyperparams=arm.hyperparams(),
                        status="queued", step=0, stage=st.index, variant=plan.variant,
                        base_arm=st.base_arm[plan.arm]))


def _create_shards(session: Session, job: Job, st: Stage, shard_size: int,
                   shard_examples: int | None = None, worker_ttl: float = 30.0) -> list[Shard]:
    queue = capabilities.route(session, st.spec, worker_ttl) or capabilities.fallback_queue(st.spec)
    first = session.scalar(select(Shard.index).where(Shard.job_id == job.id).order_by(Shard.index.desc()))
    first = 0 if first is None else first + 1
    shards = []
    for i, local in enumerate(_stage_cohorts(st, shard_size, shard_examples)):
        runs = [st.offset + r for r in local]
        shard = Shard(job_id=job.id, index=first + i, run_indices=runs, queue=queue, status="queued",
                      step=0, attempts=0, checkpoint_step=0, stage=st.index)
        session.add(shard)
        session.flush()
        session.execute(update(Run).where(Run.job_id == job.id, Run.index.in_(runs))
                        .values(shard_id=shard.id))
        shards.append(shard)
    return shards


def _stage_cohorts(st: Stage, shard_size: int, shard_examples: int | None) -> list[list[int]]:
    """The stage's shards. A search cohort's trials of one arm train in one shard, whatever its
    size: pruning ranks them against each other at the rungs (engine/search_pruning.py)."""
    spec = st.spec
    if spec.study is None or spec.study.kind != "search" or st.index == len(spec.study.cohorts()):
        return plan_cohorts(spec, shard_size, shard_examples)
    by_arm: dict[int, list[int]] = {}
    for r in spec.runs():
        by_arm.setdefault(st.base_arm[r.arm], []).append(r.index)
    return list(by_arm.values())


def unfinished_jobs_without_work(session: Session) -> list[str]:
    """Running jobs none of whose shards is left to run: a stage is due but was never planned
    (the worker that finished the last shard stopped before planning the next stage)."""
    running = select(Job.id).where(Job.status == "running")
    out = []
    for job_id in session.scalars(running):
        statuses = set(session.scalars(select(Shard.status).where(Shard.job_id == job_id)))
        if statuses and statuses <= set(TERMINAL):
            out.append(job_id)
    return out


def _search_advance(session: Session, job: Job, spec: ComparisonSpec, finished: int) -> dict[str, Any]:
    from engine.search_plan import StoredRun, advance

    runs = [StoredRun(stage, arm, summary) for stage, arm, summary in session.execute(
        select(Run.stage, Run.arm, Run.summary).where(Run.job_id == job.id, Run.stage <= finished))]
    return advance(spec, finished, job.study_state or {}, runs)
