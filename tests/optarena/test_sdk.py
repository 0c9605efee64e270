"""The Python SDK as a notebook uses it, against a real API and Celery worker: the notes'
experiment in a few lines, follow() across the server's stream cut-offs and a killed API
process, the same with the async client, 429s waited out by their Retry-After, and typed
data sets, studies and profiles.

The service closes every event stream after a second (so follow() must resume) and lets a
key send 2 requests a second after a burst of 4 (so a burst meets 429s)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

import optarena
from optarena.events import Event, MetricsEvent, RunFinished, StatusEvent
from optarena.models import Dataset, DatasetPage, Profile, Results, Study
from tests.support.flows import check_stream
from tests.support.procs import Service, create_key, running, service_env
from tests.support.sse import read_events

SETTINGS = {"OPTARENA_SSE_MAX_LIFETIME": "1", "OPTARENA_RATE_LIMIT_PER_SECOND": "2",
            "OPTARENA_RATE_LIMIT_BURST": "4"}
STEPS = 2000  # 3 runs train for about 2 s here: their stream is cut about once
LONG = 5000  # and about 4 times in a job this long


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with running(service_env(SETTINGS), tmp_path_factory.mktemp("sdk")) as svc:
        yield svc


Answered = Callable[[str, int], float]


@pytest.fixture(scope="module")
def answered(service: Service) -> Answered:
    """How many requests the API has answered on a route with a status, from its /metrics
    (read with a key of its own, whose rate bucket the tests leave alone)."""
    headers = {"Authorization": f"Bearer {create_key(service.env, service.cwd, 'scraper')}"}

    def count(route: str, status: int) -> float:
        resp = httpx.get(f"{service.url}/metrics", headers=headers)
        assert resp.status_code == 200, resp.text
        return sum(float(line.split()[-1]) for line in resp.text.splitlines()
                   if line.startswith("optarena_http_requests_total") and f'route="{route}"' in line
                   and f'status="{status}"' in line)

    return count


def wire(events: list[Event]) -> list[tuple[int, str, dict]]:
    return [(e.id, e.event, e.data) for e in events]


def test_the_notes_experiment_in_a_few_lines(service: Service) -> None:
    c = optarena.Client(service.url, service.key)
    job = c.submit_job(preset="seed-wave", overrides={"train": {"steps": 1000}, "seeds": [0, 1, 2]})
    assert job.wait().status == "succeeded"
    loss = job.results_frame().final_test_mean  # over the 3 seeds, one row per arm
    assert loss["Adam"] < loss["Momentum"] < loss["SGD"]
    curves = job.metrics_frame(metrics=["val_loss"])  # one row per point
    last = curves[curves.step == 1000].groupby("optimizer").value.mean()
    assert last["adam"] < last["momentum"] < last["sgd"]


def test_follow_yields_every_event_once_in_order_across_cut_streams(service: Service,
                                                                   answered: Answered) -> None:
    streams_before = answered("/jobs/{job_id}/events", 200)
    with optarena.Client(service.url, service.key) as c:
        job = c.submit_job(preset="seed-wave", overrides={"train": {"steps": LONG, "eval_every": 500}})
        followed = list(job.follow())
        assert answered("/jobs/{job_id}/events", 200) - streams_before >= 2, "never reconnected"
        assert job.status == "succeeded" and job.progress == 1.0  # the state once it ended
        assert c.job(job.id).status == "succeeded"
        # Resumed after any id, it gives exactly the rest.
        assert wire(c.events(job.id, last_event_id=followed[9].id)) == wire(followed[10:])
    check_stream([{"id": i, "event": k, "data": d} for i, k, d in wire(followed)], n_runs=3, steps=LONG)
    assert wire(followed) == [(e["id"], e["event"], e["data"]) for e in
                              read_events(f"{service.url}/jobs/{job.id}/events", service.key)]
    assert isinstance(followed[-1], StatusEvent) and followed[-1].final
    finished = [e for e in followed if isinstance(e, RunFinished)]
    assert sorted(e.run for e in finished) == [0, 1, 2] and all(e.summary["final_val_loss"] for e in finished)
    assert all(isinstance(e, MetricsEvent) for e in followed if e.event == "metrics")


def test_follow_resumes_after_the_api_process_is_killed(service: Service) -> None:
    with optarena.Client(service.url, service.key) as c:
        job = c.submit_job(preset="seed-wave", overrides={"train": {"steps": STEPS}})
        followed: list[Event] = []
        for event in c.events(job.id, retries=20):
            followed.append(event)
            if len(followed) == 3:  # the connection drops mid-stream; a new API process takes over
                api = service.procs[0]  # the first started; stop() passes over it once dead
                os.killpg(api.pid, signal.SIGKILL)
                api.wait(10)
                service.start_api("api-again")
    assert len(followed) > 3 and followed[-1].final
    assert wire(followed) == [(e["id"], e["event"], e["data"]) for e in
                              read_events(f"{service.url}/jobs/{job.id}/events", service.key)]


def test_the_async_client_runs_the_same_flow(service: Service) -> None:
    async def flow() -> tuple[list[Event], Results, object, optarena.AsyncJob]:
        async with optarena.AsyncClient(service.url, service.key) as c:
            job = await c.submit_job(preset="seed-wave", overrides={"train": {"steps": STEPS},
                                                                    "seeds": [0, 1]})
            followed = [event async for event in job.follow()]
            results, frame = await job.results(), await job.results_frame()
            return followed, results, frame, job

    followed, results, frame, job = asyncio.run(flow())
    assert isinstance(job, optarena.AsyncJob) and job.status == "succeeded"
    check_stream([{"id": i, "event": k, "data": d} for i, k, d in wire(followed)], n_runs=6, steps=STEPS)
    assert [a.arm for a in results.arms] == ["Adam", "Momentum", "SGD"] and results.n_finished == 6
    assert list(frame.index) == ["Adam", "Momentum", "SGD"]
    assert list(frame.optimizer) == ["adam", "momentum", "sgd"]
    assert (frame.n_seeds == 2).all() and frame.final_val_mean.is_monotonic_increasing


def test_429s_are_waited_out_by_their_retry_after(service: Service, answered: Answered) -> None:
    key = create_key(service.env, service.cwd, "burst")  # a rate bucket of its own

    def refused() -> float:
        return answered("/jobs/{job_id}", 429)

    with optarena.Client(service.url, key) as c:
        job = c.submit_job(preset="seed-wave", overrides={"train": {"steps": 100}})
        job.wait(poll=0.05)  # 20 polls a second against 2 allowed
        before, t0 = refused(), time.monotonic()
        states = [c.job(job.id).status for _ in range(8)]  # 4 at once, then 2 a second
        assert states == ["succeeded"] * 8 and time.monotonic() - t0 >= 1.0 and refused() - before >= 2
        # The event stream waits its turn too, and still brings every event.
        assert [e.event for e in job.follow()][-1] == "status"

        async def burst() -> list[str]:
            async with optarena.AsyncClient(service.url, key, retries=20) as a:
                jobs = await asyncio.gather(*(a.job(job.id) for _ in range(10)))
                return [j.status for j in jobs]

        before = refused()
        assert asyncio.run(burst()) == ["succeeded"] * 10 and refused() - before >= 6
        with optarena.Client(service.url, key, retries=0) as impatient:
            with pytest.raises(optarena.ApiError) as too_many:
                for _ in range(10):
                    impatient.job(job.id)
        assert too_many.value.status == 429 and too_many.value.retry_after >= 1


def test_datasets_studies_and_profiles_come_back_typed(service: Service, tmp_path: Path) -> None:
    rows = "\n".join(f"{i / 10},{(i * 7) % 5},{i % 3 + 0.5}" for i in range(40))
    (tmp_path / "houses.csv").write_text("x1,x2,price\n" + rows + "\n")
    with optarena.Client(service.url, create_key(service.env, service.cwd, "data")) as c:
        data = c.upload_dataset(tmp_path / "houses.csv", target="price")
        assert isinstance(data, Dataset) and (data.name, data.n_rows) == ("houses", 40)
        page = c.datasets()
        assert isinstance(page, DatasetPage) and [d.id for d in page.items] == [data.id]
        assert c.dataset(data.id) == data and page.to_dataframe().n_rows.tolist() == [40]

        spec = {"task": {"name": "dataset", "dataset": data.id}, "seeds": [0, 1],
                "arms": [{"optimizer": "sgd", "lr": 0.01}, {"optimizer": "adam", "lr": 0.01}],
                "train": {"steps": 200, "eval_every": 20}}
        jobs = [c.submit_job(spec=spec) for _ in range(2)]
        for job in jobs:
            job.wait()
        study = jobs[0].study()
        assert isinstance(study, Study) and study.kind == "comparison" and study.complete
        assert len(study.fitting) == 4 and study["kind"] == "comparison"  # still reads like the JSON
        profile = c.profile([j.id for j in jobs])
        assert isinstance(profile, Profile) and profile.jobs == [j.id for j in jobs]
        curve = profile.to_dataframe()
        assert sorted(curve.columns) == ["Adam", "SGD"] and curve.index[0] == 1.0
        assert ((curve >= 0) & (curve <= 1)).all().all() and (curve.iloc[-1] == 1.0).any()
        c.delete_dataset(data.id)
        with pytest.raises(optarena.ApiError) as gone:
            c.dataset(data.id)
        assert gone.value.status == 404


def test_a_frame_without_pandas_says_which_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    results = Results(job_id="j", status="succeeded", n_finished=0, n_runs=0, arms=[])
    monkeypatch.setitem(sys.modules, "pandas", None)  # as if it were not installed
    with pytest.raises(ImportError, match=r"pip install 'optarena\[notebook\]'"):
        results.to_dataframe()
