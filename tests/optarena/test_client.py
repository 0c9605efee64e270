"""The Python client against a real API and Celery worker, with limits tight enough to be hit:
wait() and every call wait out the API's 429s by their Retry-After; results come back typed.

Each test has a key (so an owner, an active-jobs count and a rate bucket) of its own."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import numpy as np
import pytest

from optarena.client import ApiError, Client, retry_delay
from optarena.models import Dataset, DatasetPage, Job, JobPage, Preset, Run
from tests.support.procs import Service, create_key, running, service_env

SMALL = {"train": {"steps": 100, "eval_every": 50}}
# Two queued or running jobs per owner at most would never be hit; one is.
LIMITS = {"OPTARENA_MAX_ACTIVE_JOBS_PER_OWNER": "1", "OPTARENA_RATE_LIMIT_PER_SECOND": "4",
          "OPTARENA_RATE_LIMIT_BURST": "4"}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    cwd = tmp_path_factory.mktemp("client")
    with running(service_env(LIMITS), cwd) as svc:
        yield svc


def client(svc: Service, name: str, **kw: float) -> Client:
    return Client(svc.url, create_key(svc.env, svc.cwd, name), **kw)


def test_wait_returns_the_final_job_typed_polling_through_the_rate_limit(service: Service) -> None:
    with client(service, "waiter") as c, client(service, "scraper") as scraper:
        job = c.submit(preset="seed-wave", overrides=SMALL)
        # Twenty polls a second against four allowed: the API answers 429, wait() waits.
        final = c.wait(job["id"], timeout=180, poll=0.05)
        assert isinstance(final, Job) and final.status == "succeeded" and final.done
        assert final.progress == 1.0 and len(final.runs) == 3
        assert all(isinstance(r, Run) and r.summary and r.summary["final_val_loss"] > 0 for r in final.runs)
        assert final.finished_at is not None and final.finished_at.tzinfo is not None
        metrics = scraper.http.get("/metrics").text
    refused = [line for line in metrics.splitlines() if line.startswith("optarena_http_requests_total")
               and 'route="/jobs/{job_id}"' in line and 'status="429"' in line]
    assert refused and float(refused[0].split()[-1]) > 0, "the rate limit was never hit"


def test_a_call_waits_out_the_active_jobs_limit_by_its_retry_after(service: Service) -> None:
    key = create_key(service.env, service.cwd, "busy")
    with Client(service.url, key) as c:
        first = c.submit(preset="seed-wave", overrides=SMALL)
        with Client(service.url, key, retries=0) as impatient, pytest.raises(ApiError) as refused:
            impatient.submit(preset="seed-wave", overrides=SMALL)
        assert refused.value.status == 429 and refused.value.retry_after == 10
        t0 = time.monotonic()
        second = c.submit(preset="seed-wave", overrides=SMALL)  # once the first has finished
        assert time.monotonic() - t0 >= 9.5
        assert c.job(first["id"]).status == "succeeded"
        assert c.wait(second["id"], timeout=180, poll=0.5).status == "succeeded"

        long = c.submit(preset="seed-wave", overrides={"train": {"steps": 1_000_000}})
        with pytest.raises(TimeoutError):
            c.wait(long["id"], timeout=1, poll=0.2)
        # A longer wait than the client accepts is not waited for: the error says how long.
        with Client(service.url, key, max_retry_wait=5) as brief, pytest.raises(ApiError) as refused:
            t0 = time.monotonic()
            brief.submit(preset="seed-wave", overrides=SMALL)
        assert refused.value.retry_after == 10 and time.monotonic() - t0 < 5
        c.cancel(long["id"])
        assert c.wait(long["id"], timeout=60, poll=0.2).status == "cancelled"


def test_datasets_upload_list_get_delete(service: Service, tmp_path: Path) -> None:
    rows = "\n".join(f"{i / 10},{(i * 7) % 5},{i % 3 + 0.5}" for i in range(30))
    path = tmp_path / "houses.csv"
    path.write_text("x1,x2,price\n" + rows + "\n")
    with client(service, "data") as c:
        from_path = c.upload_dataset(path, target="price")
        from_bytes = c.upload_dataset(path.read_bytes(), target="price", name="in memory", kind="regression")
        assert isinstance(from_path, Dataset) and from_path.name == "houses" and from_path.n_rows == 30
        assert from_path.feature_names == ["x1", "x2"] and from_path.kind == "regression"
        page = c.datasets()
        assert isinstance(page, DatasetPage) and page.total == 2
        assert {d.id for d in page.items} == {from_path.id, from_bytes.id}
        assert c.dataset(from_bytes.id) == from_bytes
        c.delete_dataset(from_path.id)
        with pytest.raises(ApiError) as missing:
            c.dataset(from_path.id)
        assert missing.value.status == 404
        with pytest.raises(ApiError) as bad:
            c.upload_dataset(b"a,b\n1,2\n", target="b", name="too short")
        assert bad.value.status == 422
        with pytest.raises(ValueError):
            c.upload_dataset(b"x,y\n", target="y")  # bytes need a name
        # An .npz of images goes by path too: no target, its shape kept.
        npz = tmp_path / "pictures.npz"
        np.savez(npz, x=np.random.default_rng(0).random((40, 1, 4, 4)), y=np.arange(40) % 2)
        pictures = c.upload_dataset(npz)
        assert (pictures.name, pictures.image_shape) == ("pictures", [1, 4, 4])
        assert pictures.kind == "classification"


def test_catalogue_study_and_profile(service: Service) -> None:
    with client(service, "catalogue") as c:
        presets = c.presets()
        assert all(isinstance(p, Preset) for p in presets) and "seed-wave" in {p.name for p in presets}
        assert "adam" in {o["name"] for o in c.optimizers()}
        assert "wave" in {t["name"] for t in c.tasks()}
        assert "resnet-mini" in {m["name"] for m in c.models()}
        ids = []
        for _ in range(2):  # one active job at a time for this owner
            ids.append(c.submit(preset="seed-wave", overrides=SMALL)["id"])
            c.wait(ids[-1], timeout=180, poll=0.3)
        study = c.study(ids[0])
        assert study["kind"] == "comparison"
        profile = c.profile(ids)
        assert profile["measure"] == "steps" and profile["jobs"] == ids
        page = c.jobs(status="succeeded")
        assert isinstance(page, JobPage) and {j.id for j in page.items} == set(ids)
        assert isinstance(c.get(ids[0]), dict)  # the CLI's methods still answer dicts


def test_retry_after_is_read_as_seconds_or_as_a_date() -> None:
    def answer(status: int, value: str | None) -> httpx.Response:
        return httpx.Response(status, headers={"Retry-After": value} if value is not None else {})

    assert retry_delay(answer(429, "3")) == 3.0
    assert retry_delay(answer(503, "0.5")) == 0.5
    assert retry_delay(answer(429, None)) is None
    assert retry_delay(answer(429, "soon")) is None
    assert retry_delay(answer(500, "3")) is None  # only 429 and 503 ask to come back
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 < retry_delay(answer(503, later)) <= 30
    past = format_datetime(datetime.now(UTC) - timedelta(seconds=30), usegmt=True)
    assert retry_delay(answer(503, past)) == 0.0


def test_to_dataframe_says_how_to_get_pandas(monkeypatch: pytest.MonkeyPatch) -> None:
    page = JobPage(items=[], total=0, limit=20, offset=0)
    monkeypatch.setitem(sys.modules, "pandas", None)  # as if it were not installed
    with pytest.raises(ImportError, match="pip install pandas"):
        page.to_dataframe()


def test_to_dataframe_with_pandas() -> None:
    from optarena.frames import metrics_frame

    metrics = {"runs": [{"run": 0, "label": "SGD", "metrics": {"train_loss": {"steps": [1, 2],
                                                                               "values": [0.5, 0.4]}}}]}
    frame = metrics_frame(metrics)
    assert list(frame.columns) == ["run", "label", "metric", "step", "value"] and len(frame) == 2
