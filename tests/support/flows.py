"""End-to-end checks shared by the SQLite and the PostgreSQL set-ups. Each talks to a
running service as one API key's holder (``svc.url``, ``svc.headers``)."""

from __future__ import annotations

import time
from typing import Any, Protocol

import httpx

from tests.support.sse import points_by_run, read_events


class Api(Protocol):
    url: str
    key: str
    headers: dict[str, str]


def get(svc: Api, path: str, **kw: Any) -> httpx.Response:
    return httpx.get(f"{svc.url}{path}", headers=svc.headers, timeout=30, **kw)


def post(svc: Api, path: str, **kw: Any) -> httpx.Response:
    return httpx.post(f"{svc.url}{path}", headers=svc.headers, timeout=30, **kw)


def submit(svc: Api, steps: int, **overrides: Any) -> dict[str, Any]:
    body = {"preset": "seed-wave", "overrides": {"train": {"steps": steps, "eval_every": 100}} | overrides}
    r = post(svc, "/jobs", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def wait_status(svc: Api, job_id: str, statuses: set[str], timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = get(svc, f"/jobs/{job_id}").json()
        if job["status"] in statuses:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s")


def check_stream(events: list[dict[str, Any]], n_runs: int, steps: int) -> None:
    """Ids 1..N with no gap, every train point exactly once, a final succeeded status."""
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["event"] == "status" and events[-1]["data"]["status"] == "succeeded"
    assert [e["data"]["status"] for e in events if e["event"] == "status"][0] == "queued"
    streamed = points_by_run(events, "train_loss")
    assert sorted(streamed) == list(range(n_runs))
    for run_steps in streamed.values():
        assert run_steps == list(range(1, steps + 1))
    finished = [e["data"]["run"] for e in events if e["event"] == "run_finished"]
    assert sorted(finished) == list(range(n_runs))


def every(k: int, steps: int) -> list[int]:
    """The steps of a metric logged every ``k`` steps and at the last one."""
    return sorted(set(range(k, steps + 1, k)) | {steps})


def check_stored(svc: Api, job_id: str, n_runs: int, steps: int) -> dict[str, Any]:
    train = get(svc, f"/jobs/{job_id}").json()["spec"]["train"]
    r = get(svc, f"/jobs/{job_id}/metrics")
    assert r.status_code == 200
    runs = r.json()["runs"]
    assert [run["run"] for run in runs] == list(range(n_runs))
    for run in runs:
        m = run["metrics"]
        assert m["train_loss"]["steps"] == every(train["log_every"], steps)
        for name in ("grad_norm", "update_ratio"):
            assert m[name]["steps"] == every(train.get("diag_every", 1), steps), name
        for name, curve in m.items():
            assert len(curve["values"]) == len(curve["steps"]), name
        assert m["val_loss"]["steps"] == every(train["eval_every"], steps)
    small = get(svc, f"/jobs/{job_id}/metrics", params={"max_points": 50, "metric": "train_loss",
                                                       "run": 0}).json()
    assert [r["run"] for r in small["runs"]] == [0] and list(small["runs"][0]["metrics"]) == ["train_loss"]
    assert 2 < len(small["runs"][0]["metrics"]["train_loss"]["steps"]) <= 50
    tail = get(svc, f"/jobs/{job_id}/metrics", params={"after_step": steps - 10}).json()
    assert tail["runs"][0]["metrics"]["train_loss"]["steps"] == list(range(steps - 9, steps + 1))
    return r.json()


def check_resume(svc: Api, url: str, full: list[dict[str, Any]]) -> None:
    """Reconnecting with Last-Event-ID gives exactly the rest of the stream."""
    cut = len(full) // 2
    rest = read_events(url, svc.key, last_event_id=full[cut - 1]["id"])
    assert rest == full[cut:]
