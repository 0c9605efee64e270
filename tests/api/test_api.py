"""The HTTP API in-process on a migrated SQLite file: validation, idempotency, paging, rules."""

from __future__ import annotations

from fastapi.testclient import TestClient

from engine.presets import PRESETS
from engine.spec import TaskSpec

SMALL = {"preset": "seed-wave", "overrides": {"train": {"steps": 200}}}


def _fields(resp) -> list[str]:  # noqa: ANN001 - an httpx response
    return [e["field"] for e in resp.json()["detail"]]


def test_create_returns_201_location_and_runs(client: TestClient) -> None:
    r = client.post("/jobs", json=SMALL)
    assert r.status_code == 201, r.text
    job = r.json()
    assert r.headers["location"] == f"/jobs/{job['id']}"
    assert job["status"] == "queued" and job["n_runs"] == 3 and job["steps"] == 200
    assert [run["label"] for run in job["runs"]] == ["SGD", "Momentum", "Adam"]
    assert client.get(r.headers["location"]).json()["id"] == job["id"]


def test_full_spec_is_accepted(client: TestClient) -> None:
    spec = {"arms": [{"optimizer": "sgd", "lr": 0.1}, {"optimizer": "adam"}], "seeds": [0, 1],
            "train": {"steps": 50}}
    r = client.post("/jobs", json=spec)
    assert r.status_code == 201, r.text
    assert r.json()["n_runs"] == 4


def test_bad_hyperparameter_names_its_path(client: TestClient) -> None:
    r = client.post("/jobs", json={"arms": [{"optimizer": "adam", "lr": -1}]})
    assert r.status_code == 422
    assert _fields(r) == ["arms.0.adam.lr"]
    assert "arms.0.adam.lr" in r.json()["detail"][0]["msg"]


def test_bad_override_names_its_path(client: TestClient) -> None:
    r = client.post("/jobs", json={"preset": "seed-wave", "overrides": {"train": {"steps": "many"}}})
    assert r.status_code == 422
    assert _fields(r) == ["overrides.train.steps"]


def test_unknown_preset_lists_the_known_ones(client: TestClient) -> None:
    r = client.post("/jobs", json={"preset": "nope"})
    assert r.status_code == 422
    assert _fields(r) == ["preset"] and "seed-wave" in r.json()["detail"][0]["msg"]


def test_malformed_bodies_never_500(client: TestClient) -> None:
    bodies = [b"{not json", b"", b"[1, 2]", b"null", b"42", b'"text"', b'{"arms": "adam"}',
              b'{"arms": [{"optimizer": "adamw2"}]}', b'{"preset": 3}', b'{"preset": "seed-wave", "x": 1}',
              b'{"preset": "seed-wave", "overrides": [1]}', b'{"arms": [{"optimizer": "sgd", "lr": 1e999}]}',
              b'{"seeds": [1, 1], "arms": [{"optimizer": "sgd"}]}', "{\"arms\": [\"\u00e9\"]}".encode()]
    for body in bodies:
        r = client.post("/jobs", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 422, (body, r.status_code, r.text)
        assert all(e["msg"] for e in r.json()["detail"]), body
    bad = client.post("/jobs", content=b"{not json", headers={"content-type": "application/json"})
    assert bad.json()["detail"][0]["type"] == "json_invalid"


def test_idempotency_key(client: TestClient) -> None:
    first = client.post("/jobs", json=SMALL, headers={"Idempotency-Key": "k-1"})
    again = client.post("/jobs", json=SMALL, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    other = client.post("/jobs", json={"preset": "seed-wave"}, headers={"Idempotency-Key": "k-1"})
    assert other.status_code == 409
    assert client.get("/jobs").json()["total"] == 1


def test_pagination_and_status_filter(client: TestClient) -> None:
    ids = [client.post("/jobs", json=SMALL).json()["id"] for _ in range(5)]
    page1 = client.get("/jobs", params={"limit": 2}).json()
    page2 = client.get("/jobs", params={"limit": 2, "offset": 2}).json()
    assert page1["total"] == 5 and len(page1["items"]) == 2 and len(page2["items"]) == 2
    seen = {j["id"] for j in page1["items"] + page2["items"]}
    assert len(seen) == 4 and seen <= set(ids)
    client.post(f"/jobs/{ids[0]}/cancel")
    cancelled = client.get("/jobs", params={"status": "cancelled"}).json()
    assert [j["id"] for j in cancelled["items"]] == [ids[0]]
    assert client.get("/jobs", params={"status": "bogus"}).status_code == 422
    assert client.get("/jobs", params={"limit": 0}).status_code == 422


def test_unknown_job_is_404_everywhere(client: TestClient) -> None:
    for method, path in (("GET", ""), ("GET", "/metrics"), ("GET", "/events"), ("GET", "/metrics.jsonl"),
                         ("POST", "/cancel"), ("DELETE", "")):
        r = client.request(method, f"/jobs/does-not-exist{path}")
        assert r.status_code == 404, (method, path, r.status_code)
        assert "GET /jobs" in r.json()["detail"]


def test_cancel_and_delete_rules(client: TestClient) -> None:
    job = client.post("/jobs", json=SMALL).json()
    assert client.delete(f"/jobs/{job['id']}").status_code == 409  # still queued
    r = client.post(f"/jobs/{job['id']}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert all(run["status"] == "cancelled" for run in r.json()["runs"])
    assert client.post(f"/jobs/{job['id']}/cancel").status_code == 200  # cancelling again is harmless
    events = client.get(f"/jobs/{job['id']}/metrics.jsonl").text.splitlines()
    assert [e.split('"status":"')[1][:6] for e in events] == ["queued", "cancel"]
    assert client.delete(f"/jobs/{job['id']}").status_code == 204
    assert client.get(f"/jobs/{job['id']}").status_code == 404


def test_metrics_query_validation(client: TestClient) -> None:
    job = client.post("/jobs", json=SMALL).json()
    r = client.get(f"/jobs/{job['id']}/metrics", params={"max_points": 1})
    assert r.status_code == 422 and _fields(r) == ["max_points"]
    empty = client.get(f"/jobs/{job['id']}/metrics").json()
    assert empty["runs"] == [] and empty["next_after_step"] == 0


def test_catalogue_and_health(client: TestClient) -> None:
    names = {o["name"] for o in client.get("/optimizers").json()}
    assert {"sgd", "momentum", "nesterov", "adagrad", "adadelta", "rmsprop", "adam"} <= names
    adam = next(o for o in client.get("/optimizers").json() if o["name"] == "adam")
    assert {"name", "type", "default", "range"} <= set(adam["hyperparameters"][0])
    tasks = {t["name"]: t for t in client.get("/tasks").json()}
    # Every name a spec accepts is listed, the uploaded data set too, with the widths that train.
    assert list(tasks) == TaskSpec.model_json_schema()["properties"]["name"]["enum"]
    assert "dataset" in tasks and tasks["dataset"]["options"][-1] == "dataset"
    assert (tasks["sines"]["in_dim"], tasks["blobs"]["out_dim"], tasks["digits"]["image_shape"]) == (
        2, 4, [1, 8, 8])
    assert "seed-wave" in {p["name"] for p in client.get("/presets").json()}
    models = {m["name"]: m for m in client.get("/models").json()}
    resnet = models["resnet-mini"]
    assert resnet["needs_images"] and resnet["batch_norm"]
    assert {(c["name"], c["default"]) for c in resnet["config"]} == {("channels", 16), ("blocks", 2)}
    # A model GET /models lists trains: the job is accepted with the settings filled in.
    job = client.post("/jobs", json={"preset": "resnet-digits", "overrides": {"train": {"steps": 10}}})
    assert job.status_code == 201 and job.json()["spec"]["net"]["config"] == {"channels": 16, "blocks": 2}
    bad = client.post("/jobs", json={"preset": "resnet-digits", "overrides": {"net": {"model": "vgg"}}})
    assert bad.status_code == 422 and _fields(bad) == ["overrides.net.model"]
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["database"] and ready.json()["broker"]


def test_openapi_documents_examples(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    body = schema["paths"]["/jobs"]["post"]["requestBody"]["content"]["application/json"]
    assert set(body["examples"]) == {*PRESETS, "spec"}  # one per preset, and a full spec
    assert client.get("/docs").status_code == 200
