"""What /openapi.json promises a client: a typed job body, one problem model for every error,
readable operation ids, links, and an ``Allow`` header naming every method of a path."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from engine.presets import PRESETS
from engine.registry import REGISTRY


def _schema(client: TestClient) -> dict[str, Any]:
    r = client.get("/openapi.json")
    assert r.status_code == 200
    return r.json()


def _operations(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {op["operationId"]: op for item in schema["paths"].values() for op in item.values()}


def test_job_body_is_a_spec_or_a_preset_with_an_example_each(client: TestClient) -> None:
    schema = _schema(client)
    body = schema["paths"]["/jobs"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["anyOf"] == [{"$ref": "#/components/schemas/SpecSubmission"},
                                       {"$ref": "#/components/schemas/PresetSubmission"}]
    models = schema["components"]["schemas"]
    assert models["SpecSubmission"]["required"] == ["arms"]
    assert models["PresetSubmission"]["required"] == ["preset"]
    assert models["PresetSubmission"]["properties"]["preset"]["enum"] == list(PRESETS)
    # One model per optimizer, its fields its hyperparameters, chosen by `optimizer`.
    arms = models["SpecSubmission"]["properties"]["arms"]["items"]
    assert set(arms["discriminator"]["mapping"]) == set(REGISTRY)
    adam = models["AdamArm"]["properties"]
    assert adam["beta2"] == {"default": 0.999, "description": "decay of the second-moment average [0, 1)",
                             "exclusiveMaximum": 1.0, "minimum": 0.0, "title": "Beta2", "type": "number"}
    assert "beta2" not in models["SgdArm"]["properties"]
    # An override leaves out what it keeps: no defaults of its own that would replace the preset's.
    train = models["TrainSpecOverride"]["properties"]
    assert "steps" in train and all("default" not in f for f in train.values())
    # Every example is accepted: one per preset and a full spec.
    assert set(body["examples"]) == {*PRESETS, "spec"}
    for name, example in body["examples"].items():
        r = client.post("/jobs", json=example["value"])
        assert r.status_code == 201, (name, r.text)
        client.post(f"/jobs/{r.json()['id']}/cancel")  # room under the owner's active jobs


def test_every_error_answer_is_a_problem(client: TestClient) -> None:
    schema = _schema(client)
    problem = {"$ref": "#/components/schemas/Problem"}
    errors = [(op["operationId"], code, r) for op in _operations(schema).values()
              for code, r in op["responses"].items() if code[0] in "45"]
    assert errors
    for op, code, response in errors:
        got = response["content"]["application/json"]["schema"]
        assert got == problem or (op, code) == ("readyz", "503"), (op, code, got)
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    # And the answers are: a bad field, a missing job, a missing key.
    bad = client.post("/jobs", json={"arms": [{"optimizer": "adam", "beta1": 2}]}).json()
    assert bad == {"detail": [{"loc": ["body", "arms", 0, "adam", "beta1"], "field": "arms.0.adam.beta1",
                               "msg": "arms.0.adam.beta1: Input should be less than 1",
                               "type": "less_than"}]}
    assert client.get("/jobs/nope").json() == {"detail": "no job with id 'nope'; list jobs with GET /jobs"}


def test_operation_ids_are_the_route_names(client: TestClient) -> None:
    ops = _operations(_schema(client))
    assert {"create_job", "list_jobs", "get_job", "update_job", "cancel_job", "delete_job",
            "get_job_metrics", "get_job_results", "upload_dataset", "get_dataset", "delete_dataset",
            "list_optimizers", "list_presets"} <= set(ops)
    assert sum(len(item) for item in _schema(client)["paths"].values()) == len(ops)  # unique


def test_a_created_job_links_to_what_can_be_done_with_it(client: TestClient) -> None:
    ops = _operations(_schema(client))
    links = ops["create_job"]["responses"]["201"]["links"]
    assert {"get_job", "update_job", "cancel_job", "delete_job", "get_job_results"} <= set(links)
    assert links["get_job"]["parameters"] == {"path.job_id": "$response.body#/id"}
    assert ops["upload_dataset"]["responses"]["201"]["links"]["delete_dataset"]["parameters"] == {
        "path.dataset_id": "$response.body#/id"}


def test_method_not_allowed_names_every_method_of_the_path(client: TestClient) -> None:
    job = client.post("/jobs", json={"preset": "seed-wave"}).json()["id"]
    for path, methods in ((f"/jobs/{job}", "DELETE, GET, PATCH"), ("/jobs", "GET, POST"),
                          ("/datasets/x", "DELETE, GET"), ("/session", "DELETE, POST")):
        r = client.request("PUT", path)
        assert (r.status_code, r.headers["allow"]) == (405, methods), path
        assert r.json() == {"detail": "Method Not Allowed"}
