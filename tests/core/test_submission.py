"""One submission path: the queue task refuses what ``POST /jobs`` refuses, for the same
reasons at the same field paths, and stores them where the owner can read them; an uploaded
data set is resolved once, with the caller's owner, and a net too large for it is refused
before anything is stored. On a migrated SQLite file."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.settings import Settings
from core.submission import Refused, TooManyActive, submit, submit_from_queue
from engine.datasets import parse_csv
from models import datasets
from models.db import session_factory
from models.tables import Job

SMALL = {"preset": "seed-wave", "overrides": {"train": {"steps": 10}}}
BAD_LR = {"arms": [{"optimizer": "adam", "lr": -1}]}


@pytest.fixture()
def session(sqlite_settings: Settings) -> Iterator[Session]:
    with session_factory(sqlite_settings.database_url)() as s:
        yield s


def jobs(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Job)) or 0


def test_a_refused_queue_submission_keeps_the_reasons_the_api_gives(session: Session,
                                                                    sqlite_settings: Settings) -> None:
    with pytest.raises(Refused) as refused:
        submit(session, sqlite_settings, "alice", BAD_LR)
    assert jobs(session) == 0
    assert [e["loc"] for e in refused.value.errors] == [["arms", 0, "adam", "lr"]]
    job = submit_from_queue(session, sqlite_settings, "alice", BAD_LR)
    assert (job.status, job.source, job.owner) == ("failed", "queue", "alice")
    assert job.error == {"validation_errors": refused.value.errors}
    text = submit_from_queue(session, sqlite_settings, "alice", '{"preset": "seed-wave", "oops": 1}')
    assert text.error["validation_errors"][0]["loc"] == ["oops"]


def test_the_active_jobs_limit_holds_for_the_queue_too(session: Session, sqlite_settings: Settings) -> None:
    one = sqlite_settings.model_copy(update={"max_active_jobs_per_owner": 1})
    first, created = submit(session, one, "alice", SMALL)
    assert created and first.status == "queued"
    with pytest.raises(TooManyActive, match="OPTARENA_MAX_ACTIVE_JOBS_PER_OWNER"):
        submit(session, one, "alice", SMALL)
    queued = submit_from_queue(session, one, "alice", SMALL)
    assert queued.status == "failed"
    (reason,) = queued.error["validation_errors"]
    assert reason["type"] == "too_many_active" and "limit per owner is 1" in reason["msg"]
    assert submit_from_queue(session, one, "bob", SMALL).status == "queued"  # another owner's slot


def test_a_data_set_is_resolved_once_with_the_callers_owner(session: Session,
                                                            sqlite_settings: Settings) -> None:
    csv = ("a,b,c,y\n" + "\n".join(f"{i},{i % 3},{i % 5},{i * 0.5}" for i in range(40)) + "\n").encode()
    found = datasets.store(session, "alice", "mine", parse_csv(csv, "y"))
    session.flush()
    body = {"task": {"name": "dataset", "dataset": found.id, "n": 1000}, "arms": [{"optimizer": "sgd"}],
            "net": {"hidden": [8]}, "train": {"steps": 5}}
    job, _ = submit(session, sqlite_settings, "alice", body)
    assert job.spec["task"]["n"] == 40  # capped at the data set's rows
    with pytest.raises(Refused) as other:  # bob cannot name alice's data set
        submit(session, sqlite_settings, "bob", body)
    assert [e["loc"] for e in other.value.errors] == [["task", "dataset"]]
    small = sqlite_settings.model_copy(update={"max_params_per_net": 40})
    with pytest.raises(Refused) as big:  # 3 features: 3*8+8 + 8+1 = 41 parameters
        submit(session, small, "alice", body | {"arms": [{"optimizer": "adam"}]})
    (reason,) = big.value.errors
    assert reason["loc"] == ["net", "hidden"]
    assert "41 parameters for the data set's 3 features and 1 outputs" in reason["msg"]
    assert jobs(session) == 1
