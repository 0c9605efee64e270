"""User data: CSV uploads through the API (validated, size-limited, per owner) and jobs that
train on them, end to end through a real uvicorn and a real Celery worker."""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from core.settings import Settings, get_settings
from engine.datasets import parse_csv
from models import datasets
from models.db import session_factory
from tests.conftest import add_key
from tests.support import flows
from tests.support.procs import Service, migrate, running, service_env

CSV = {"Content-Type": "text/csv"}
NPZ = {"Content-Type": "application/x-npz"}


def images_npz(n: int = 60, **extra: object) -> bytes:
    """n 1x4x4 images of two classes: a bright left or right half, with noise."""
    rng = np.random.default_rng(0)
    y = np.arange(n) % 2
    x = rng.normal(0, 0.1, (n, 1, 4, 4)).astype(np.float32)
    x[y == 0, :, :, :2] += 1
    x[y == 1, :, :, 2:] += 1
    buf = io.BytesIO()
    np.savez_compressed(buf, x=x, y=y, **extra)
    return buf.getvalue()


def sequences_npz(n: int = 60) -> bytes:
    """n integer sequences of 8 ids from 0 to 4; the class: whether id 0 occurs more than id 1."""
    rng = np.random.default_rng(1)
    x = rng.integers(0, 5, (n, 8)).astype(np.int16)
    y = ((x == 0).sum(1) > (x == 1).sum(1)).astype(np.int64)
    buf = io.BytesIO()
    np.savez_compressed(buf, x=x, y=y)
    return buf.getvalue()


TRANSFORMER = {"kind": "module", "model": "transformer",
               "config": {"d_model": 8, "heads": 2, "layers": 1, "ff": 16}}


def upload_npz(c: TestClient | httpx.Client, data: bytes, **params: str) -> httpx.Response:
    return c.post("/datasets", content=data, headers=NPZ, params={"name": "pics"} | params)


def regression_csv(n: int = 30) -> bytes:
    rows = [f"{i / n:.4f},{(i * 7) % 11 - 5},{math.sin(i / 5) + 0.1 * ((i * 7) % 11 - 5):.5f}"
            for i in range(n)]
    return ("x1,x2,y\n" + "\n".join(rows) + "\n").encode()


def classification_csv(n: int = 30) -> bytes:
    rows = [f"{(i * 3) % 17 - 8},{(i * 5) % 13 - 6},{'high' if (i * 3) % 17 + (i * 5) % 13 > 14 else 'low'}"
            for i in range(n)]
    return ("a,b,level\n" + "\n".join(rows) + "\n").encode()


def upload(c: TestClient | httpx.Client, data: bytes, target: str = "y", **params: str) -> httpx.Response:
    return c.post("/datasets", content=data, headers=CSV, params={"name": "mine", "target": target} | params)


def fields(r: httpx.Response) -> list[str]:
    return [e["field"] for e in r.json()["detail"]]


def job_on(dataset_id: str, steps: int = 50, **task: object) -> dict:
    return {"task": {"name": "dataset", "dataset": dataset_id, **task}, "net": {"hidden": [16]},
            "arms": [{"optimizer": "sgd", "lr": 0.05}, {"optimizer": "adam", "lr": 0.01}],
            "train": {"steps": steps, "eval_every": 50, "batch_size": 16}}


# -- the API in-process on a migrated SQLite file ----------------------------------------------


def test_upload_regression_and_read_it_back(client: TestClient) -> None:
    r = upload(client, regression_csv(), name="waves")
    assert r.status_code == 201, r.text
    d = r.json()
    assert r.headers["location"] == f"/datasets/{d['id']}"
    assert (d["name"], d["kind"], d["target"]) == ("waves", "regression", "y")
    assert (d["n_rows"], d["n_features"]) == (30, 2)
    assert d["feature_names"] == ["x1", "x2"] and d["class_names"] is None and len(d["sha256"]) == 64
    assert client.get(f"/datasets/{d['id']}").json() == d
    listed = client.get("/datasets").json()
    assert listed["total"] == 1 and listed["items"] == [d]


def test_upload_classification_with_string_labels(client: TestClient) -> None:
    r = upload(client, classification_csv(), target="level")
    assert r.status_code == 201, r.text
    assert r.json()["kind"] == "classification" and r.json()["class_names"] == ["high", "low"]
    forced = upload(client, regression_csv(), kind="classification")
    assert forced.status_code == 201 and len(forced.json()["class_names"]) > 2


def test_missing_target_names_the_available_columns(client: TestClient) -> None:
    r = upload(client, regression_csv(), target="price")
    assert r.status_code == 422
    [e] = r.json()["detail"]
    assert e["loc"] == ["query", "target"] and e["field"] == "target"
    assert "available columns: 'x1', 'x2', 'y'" in e["msg"]
    assert fields(client.post("/datasets", content=regression_csv(), headers=CSV,
                              params={"name": "n"})) == ["target"]


def test_bad_cells_are_reported_by_row_and_column(client: TestClient) -> None:
    lines = regression_csv().decode().splitlines()
    lines[16] = "0.5,seven,0.1"  # file line 17
    lines[20] = "0.6,=1+1,0.1"  # a formula is text that is not a number, never evaluated
    r = upload(client, "\n".join(lines).encode())
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert [e["loc"] for e in detail] == [["file", "row", 17, "x2"], ["file", "row", 21, "x2"]]
    assert detail[0]["field"] == "file.row.17.x2" and "'seven'" in detail[0]["msg"]
    assert "formula" in detail[1]["msg"] and "never evaluated" in detail[1]["msg"]
    assert client.get("/datasets").json()["total"] == 0


def test_forms_are_refused_with_a_hint(client: TestClient) -> None:
    r = client.post("/datasets", params={"name": "n", "target": "y"},
                    files={"file": ("d.csv", regression_csv(), "text/csv")})
    assert r.status_code == 415 and "--data-binary" in r.json()["detail"]


def test_datasets_are_private_to_their_owner(client: TestClient, sqlite_settings: Settings) -> None:
    mine = upload(client, regression_csv()).json()["id"]
    bob = {"Authorization": f"Bearer {add_key(sqlite_settings, 'bob')}"}
    assert client.get(f"/datasets/{mine}", headers=bob).status_code == 404
    assert client.delete(f"/datasets/{mine}", headers=bob).status_code == 404
    assert client.get("/datasets", headers=bob).json()["total"] == 0
    # Bob cannot train on it either: his job is refused as if the id did not exist.
    r = client.post("/jobs", json=job_on(mine), headers=bob)
    assert r.status_code == 422 and fields(r) == ["task.dataset"]


def test_jobs_name_a_dataset_by_id(client: TestClient) -> None:
    unknown = client.post("/jobs", json=job_on("no-such-dataset"))
    assert unknown.status_code == 422
    [e] = unknown.json()["detail"]
    assert e["loc"] == ["body", "task", "dataset"] and "POST /datasets" in e["msg"]
    preset = client.post("/jobs", json={"preset": "seed-wave", "overrides": {
        "task": {"name": "dataset", "dataset": "nope"}}})
    assert preset.status_code == 422 and fields(preset) == ["overrides.task.dataset"]
    dataset = upload(client, regression_csv()).json()["id"]
    job = client.post("/jobs", json=job_on(dataset, n=10_000))
    assert job.status_code == 201, job.text
    assert job.json()["spec"]["task"]["n"] == 30  # min(n, rows), fixed when the job is stored
    # A queued job trains on it: it stays until the job has finished.
    assert client.delete(f"/datasets/{dataset}").status_code == 409
    assert client.post(f"/jobs/{job.json()['id']}/cancel").status_code == 200
    assert client.delete(f"/datasets/{dataset}").status_code == 204
    assert client.get(f"/datasets/{dataset}").status_code == 404


def test_npz_sequences_upload_with_their_vocabulary_for_a_token_model(client: TestClient) -> None:
    r = upload_npz(client, sequences_npz(), name="seqs")
    assert r.status_code == 201, r.text
    d = r.json()
    assert (d["n_features"], d["vocab"], d["image_shape"]) == (8, 5, None)
    job = client.post("/jobs", json=job_on(d["id"]) | {"net": TRANSFORMER})
    assert job.status_code == 201, job.text
    assert job.json()["spec"]["net"]["config"]["vocab"] == 5  # the upload's, filled in
    wrong = client.post("/jobs", json=job_on(d["id"]) | {"net": TRANSFORMER | {
        "config": TRANSFORMER["config"] | {"vocab": 9}}})
    assert wrong.status_code == 422 and fields(wrong) == ["net"] and "vocabulary of 5" in wrong.text
    # Real-valued rows hold no token ids: the transformer is refused on them, naming the model.
    rows = upload(client, regression_csv()).json()["id"]
    r = client.post("/jobs", json=job_on(rows) | {"net": TRANSFORMER})
    assert r.status_code == 422 and fields(r) == ["net.model"] and "integer array" in r.text
    assert client.get(f"/datasets/{rows}").json()["vocab"] is None


def test_npz_images_upload_and_a_cnn_may_train_on_them(client: TestClient) -> None:
    r = upload_npz(client, images_npz())
    assert r.status_code == 201, r.text
    d = r.json()
    assert (d["kind"], d["n_rows"], d["n_features"]) == ("classification", 60, 16)
    assert d["image_shape"] == [1, 4, 4]
    cnn = {"kind": "cnn", "channels": [4], "hidden": []}
    assert client.post("/jobs", json=job_on(d["id"]) | {"net": cnn}).status_code == 201
    resnet = {"kind": "module", "model": "resnet-mini", "config": {"channels": 4, "blocks": 1}}
    assert client.post("/jobs", json=job_on(d["id"]) | {"net": resnet}).status_code == 201
    # Rows are not images: a cnn on a CSV data set is refused, naming the net.
    rows = upload(client, regression_csv()).json()["id"]
    r = client.post("/jobs", json=job_on(rows) | {"net": cnn})
    assert r.status_code == 422 and fields(r) == ["net.kind"]
    assert "needs images" in r.json()["detail"][0]["msg"]


@pytest.mark.parametrize(("body", "params", "field", "words"), [
    (images_npz(pickled=np.array([{"a": 1}], dtype=object)), {}, "file", "unexpected ['pickled']"),
    (images_npz(), {"target": "y"}, "target", "leave out target"),
    (b"PK\x03\x04 not really a zip", {}, "file", "not an .npz file"),
])
def test_bad_npz_uploads_name_their_problem_and_store_nothing(client: TestClient, body: bytes, params: dict,
                                                              field: str, words: str) -> None:
    r = upload_npz(client, body, **params)
    assert r.status_code == 422 and fields(r) == [field] and words in r.json()["detail"][0]["msg"], r.text
    assert client.get("/datasets").json()["total"] == 0


def test_a_pickled_array_is_refused_not_loaded(client: TestClient) -> None:
    buf = io.BytesIO()
    np.savez(buf, x=np.array([{"__reduce__": 1}] * 30, dtype=object), y=np.zeros(30))
    r = upload_npz(client, buf.getvalue())
    assert r.status_code == 422 and "pickle" in r.json()["detail"][0]["msg"]
    assert client.get("/datasets").json()["total"] == 0


@pytest.fixture()
def limited(sqlite_settings: Settings) -> Iterator[TestClient]:
    """Small limits: 1 kB bodies in general, 4 kB CSV files of at most 100 rows."""
    cfg = sqlite_settings.model_copy(update={"max_body_bytes": 1_000, "max_dataset_bytes": 4_000,
                                             "max_dataset_rows": 100})
    app = create_app(cfg)
    app.dependency_overrides[get_settings] = lambda: cfg
    with TestClient(app, raise_server_exceptions=False) as c:
        c.headers["Authorization"] = f"Bearer {add_key(cfg, 'alice')}"
        yield c


def test_size_limits_name_their_settings(limited: TestClient) -> None:
    # Uploads may exceed the general body limit, up to their own.
    assert len(regression_csv(90)) > 1_000
    assert upload(limited, regression_csv(90)).status_code == 201
    big = regression_csv(400)
    for body in (big, iter([big[:3_000], big[3_000:]])):  # announced, then chunked
        r = upload(limited, body)
        assert r.status_code == 413 and "OPTARENA_MAX_DATASET_BYTES" in r.json()["detail"]
    rows = upload(limited, regression_csv(101))
    assert rows.status_code == 422 and "OPTARENA_MAX_DATASET_ROWS" in rows.json()["detail"][0]["msg"]
    # Every other route keeps the general limit.
    r = limited.post("/jobs", content=b" " * 2_000, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "OPTARENA_MAX_BODY_BYTES" in r.json()["detail"]


def test_arrays_round_trip_on_postgres(pg_url: str, tmp_path: Path) -> None:
    done = migrate(service_env({"OPTARENA_DATABASE_URL": pg_url}), tmp_path)
    assert done.returncode == 0, done.stderr
    parsed = parse_csv(classification_csv(), "level")
    with session_factory(pg_url)() as session, session.begin():
        stored = datasets.store(session, "carol", "levels", parsed)
    with session_factory(pg_url)() as session:
        arrays = datasets.load_arrays(session, stored.id)
        assert datasets.get(session, stored.id, "dave") is None
        assert [d.id for d in datasets.list_for(session, "carol")] == [stored.id]
    assert (arrays.x == parsed.x).all() and arrays.x.shape == (30, 2)
    assert arrays.y.dtype == parsed.y.dtype and (arrays.y == parsed.y).all()
    assert (arrays.kind, arrays.n_classes, arrays.feature_names) == ("classification", 2, ["a", "b"])


# -- end to end: uvicorn and a Celery worker, as `make run` starts them -------------------------


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    cwd: Path = tmp_path_factory.mktemp("datasets")
    with running(service_env(), cwd) as svc:
        yield svc


def test_jobs_train_on_uploaded_data(service: Service) -> None:
    with httpx.Client(base_url=service.url, headers=service.headers, timeout=30) as c:
        reg = upload(c, regression_csv(200))
        cls = upload(c, classification_csv(200), target="level")
        pics = upload_npz(c, images_npz(200))
        seqs = upload_npz(c, sequences_npz(200), name="seqs")
        assert reg.status_code == cls.status_code == pics.status_code == seqs.status_code == 201, (
            reg.text, cls.text, pics.text, seqs.text)
        jobs = [c.post("/jobs", json=job_on(d.json()["id"], steps=200)) for d in (reg, cls)]
        cnn = {"kind": "cnn", "channels": [4], "hidden": []}
        jobs.append(c.post("/jobs", json=job_on(pics.json()["id"], steps=200) | {"net": cnn}))
        jobs.append(c.post("/jobs", json=job_on(seqs.json()["id"], steps=200) | {"net": TRANSFORMER}))
        assert all(j.status_code == 201 for j in jobs), [j.text for j in jobs]
    for job, kind in zip(jobs, ("regression", "classification", "images", "sequences"), strict=True):
        final = flows.wait_status(service, job.json()["id"], {"succeeded", "failed"}, timeout=120)
        assert final["status"] == "succeeded", (final["error"], final["shards"], service.log("w1")[-3000:])
        for run in final["runs"]:
            s = run["summary"]
            assert all(math.isfinite(s[k]) for k in ("final_val_loss", "final_test_loss")), s
            assert not s["diverged"]
        if kind == "classification":
            assert all(0.5 <= r["summary"]["final_val_accuracy"] <= 1 for r in final["runs"]), final["runs"]
        if kind == "images":  # a bright left or right half: the cnn sees the images as images
            assert final["spec"]["net"]["kind"] == "cnn"
            assert all(r["summary"]["final_test_accuracy"] >= 0.9 for r in final["runs"]), final["runs"]
        curves = flows.get(service, f"/jobs/{job.json()['id']}/metrics", params={"metric": "val_loss"}).json()
        assert [len(r["metrics"]["val_loss"]["steps"]) for r in curves["runs"]] == [4, 4]
