"""A two-stage study on PostgreSQL: the second stage is planned once, from the first stage's
validation results, even when the worker that finished the first stage stops before planning."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from core import planning
from core.requests import parse_request
from core.settings import Settings
from core.submission import create_job
from models.db import session_factory
from models.tables import Job, Run, Shard
from tests.support.procs import migrate, service_env
from worker import shard_runner

SPEC = {"preset": "seed-wave", "overrides": {
    "task": {"n": 300}, "net": {"hidden": [4]}, "seeds": [0, 1],
    "train": {"steps": 40, "eval_every": 20, "log_every": 5},
    "study": {"kind": "tuning", "lr": {"low": 1e-3, "high": 1e-1, "points": 3}, "test_seeds": [5]}}}


def train_all(settings: Settings, sessions, job_id: str) -> None:  # noqa: ANN001
    with sessions() as session, session.begin():
        todo = planning.plan_shards(session, job_id, settings.shard_size)
    for shard_id, _ in todo:
        assert shard_runner.train_shard(settings, sessions, shard_id, owner="test") == "succeeded"


def test_second_stage_is_planned_once_from_validation(pg_url: str) -> None:
    assert migrate(service_env({"OPTARENA_DATABASE_URL": pg_url}), Path(".")).returncode == 0
    settings = Settings(database_url=pg_url, shard_size=4, flush_seconds=0.05, write_interval=0.0)
    sessions = session_factory(pg_url)
    with sessions() as session, session.begin():
        job_id = create_job(session, parse_request(SPEC), owner="stages").id

    train_all(settings, sessions, job_id)  # stage 0: 3 arms x 3 rates x 2 seeds, in 5 shards
    with sessions() as session:
        job = session.get(Job, job_id)
        assert job.status == "running"  # all of stage 0 succeeded, but the study is not done
        assert session.scalar(select(Shard.stage).order_by(Shard.stage.desc()).limit(1)) == 0
        # What the sweeper finds if the worker stopped between finishing and planning:
        assert job_id in planning.unfinished_jobs_without_work(session)
        grid = session.execute(select(Run.base_arm, Run.hyperparams, Run.summary)
                               .where(Run.job_id == job_id, Run.stage == 0)).all()

    with sessions() as session, session.begin():
        first = planning.plan_shards(session, job_id, settings.shard_size)
    with sessions() as session, session.begin():
        again = planning.plan_shards(session, job_id, settings.shard_size)  # a redelivered plan task
    assert first and sorted(again) == sorted(first)
    with sessions() as session:
        reruns = session.execute(select(Run.base_arm, Run.seed, Run.hyperparams)
                                 .where(Run.job_id == job_id, Run.stage == 1)).all()
        state = session.get(Job, job_id).study_state
    assert len(reruns) == 3 and {r.seed for r in reruns} == {5}
    for arm in range(3):  # each arm's re-run uses its lowest mean final validation loss
        means = {}
        for base, hp, summary in grid:
            if base == arm:
                means.setdefault(hp["lr"], []).append(summary["final_val_loss"])
        best = min(means, key=lambda lr: sum(means[lr]) / len(means[lr]))
        assert state["chosen"][str(arm)] == {"lr": best}
        assert next(r.hyperparams["lr"] for r in reruns if r.base_arm == arm) == best

    for shard_id, _ in first:
        assert shard_runner.train_shard(settings, sessions, shard_id, owner="test") == "succeeded"
    with sessions() as session:
        assert session.get(Job, job_id).status == "succeeded"
        assert job_id not in planning.unfinished_jobs_without_work(session)
