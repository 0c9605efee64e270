"""A job's name, tags and notes over HTTP (the app in-process on a migrated SQLite file): set
at submission, changed with PATCH, owner-scoped, and every bad value a 422 naming its field."""

from __future__ import annotations

from fastapi.testclient import TestClient

from core.settings import Settings
from tests.conftest import add_key

SMALL = {"preset": "seed-wave", "overrides": {"train": {"steps": 200}}}


def _fields(resp) -> list[str]:  # noqa: ANN001 - an httpx response
    assert resp.status_code == 422, resp.text
    return [e["field"] for e in resp.json()["detail"]]


def test_submit_with_labels(client: TestClient) -> None:
    labels = {"name": "  Wave, short  ", "tags": ["Baseline", "lr:0.1", "baseline"],
              "notes": "first try\nwith 200 steps"}
    r = client.post("/jobs", json=SMALL | labels)
    assert r.status_code == 201, r.text
    job = r.json()
    # Trimmed name; tags lower-cased without repeats, in the order given; the spec is untouched.
    assert (job["name"], job["tags"], job["notes"]) == ("Wave, short", ["baseline", "lr:0.1"],
                                                        "first try\nwith 200 steps")
    assert job["spec"]["train"]["steps"] == 200 and "name" not in job["spec"]
    listed = client.get("/jobs").json()["items"][0]
    assert (listed["name"], listed["tags"]) == ("Wave, short", ["baseline", "lr:0.1"])
    assert "notes" not in listed  # up to 10,000 characters: only on the job itself
    full = client.post("/jobs", json={"arms": [{"optimizer": "adam"}], "train": {"steps": 50}, "tags": ["x"]})
    assert full.status_code == 201 and full.json()["tags"] == ["x"] and full.json()["name"] is None


def test_bad_labels_at_submission_name_their_field(client: TestClient) -> None:
    bad = client.post("/jobs", json=SMALL | {"name": "n" * 201, "tags": ["ok", "a", "b", "has space", 7],
                                             "notes": "x" * 10_001})
    assert _fields(bad) == ["name", "tags.3", "tags.4", "notes"]
    assert "letters, digits or _ . : -" in bad.json()["detail"][1]["msg"]
    assert _fields(client.post("/jobs", json=SMALL | {"tags": [f"t{i}" for i in range(21)]})) == ["tags"]
    assert _fields(client.post("/jobs", json=SMALL | {"tags": ["x" * 65, "ends\n", "x" * 64]})) == [
        "tags.0", "tags.1"]
    # A bad label and a bad spec field are reported together, each where the caller wrote it.
    both = client.post("/jobs", json={"preset": "seed-wave", "overrides": {"train": {"steps": 0}},
                                      "tags": "x"})
    assert _fields(both) == ["tags", "overrides.train.steps"]
    assert client.get("/jobs").json()["total"] == 0


def test_patch_changes_only_the_labels_sent(client: TestClient) -> None:
    job = client.post("/jobs", json=SMALL | {"name": "before", "tags": ["a"], "notes": "kept"}).json()
    r = client.patch(f"/jobs/{job['id']}", json={"name": "after", "tags": ["B", "c"]})
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["tags"], r.json()["notes"]) == ("after", ["b", "c"], "kept")
    cleared = client.patch(f"/jobs/{job['id']}", json={"notes": None, "tags": []}).json()
    assert (cleared["name"], cleared["tags"], cleared["notes"]) == ("after", [], None)
    assert client.get(f"/jobs/{job['id']}").json()["name"] == "after"


def test_patch_refuses_bad_values_and_other_tenants(client: TestClient, sqlite_settings: Settings) -> None:
    job = client.post("/jobs", json=SMALL | {"name": "mine", "tags": ["a"]}).json()
    path = f"/jobs/{job['id']}"
    bad = client.patch(path, json={"tags": ["ok", "no/slash"], "colour": "red"})
    assert _fields(bad) == ["tags.1", "colour"]
    assert _fields(client.patch(path, json={"name": 3})) == ["name"]
    assert _fields(client.patch(path, json=["a"])) == ["(body)"]
    other = {"Authorization": f"Bearer {add_key(sqlite_settings, 'mallory')}"}
    stranger = client.patch(path, json={"name": "taken"}, headers=other)
    # Exactly what a missing job answers: the job's existence is not revealed.
    assert stranger.status_code == 404 and stranger.json()["detail"].startswith("no job with id")
    assert client.get("/jobs", headers=other).json()["total"] == 0
    assert (client.get(path).json()["name"], client.get(path).json()["tags"]) == ("mine", ["a"])
