"""Webhooks through the real service: uvicorn, a Celery worker, SQLite and a local receiver.

The receiver answers the first delivery with 500 and the next with 200: the job's end is
announced, signed, retried once, recorded on the job, and not sent again."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from core.webhooks import DELIVERY_HEADER, SIGNATURE_HEADER, verify
from tests.support.procs import Service, running, service_env, wait_for

SECRET = "a-long-random-secret"


class Receiver(ThreadingHTTPServer):
    def __init__(self) -> None:
        self.got: list[tuple[dict[str, str], bytes]] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.got.append((dict(self.headers), body))
        self.send_response(500 if len(self.server.got) == 1 else 200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    env = service_env({"OPTARENA_WEBHOOK_POLL_SECONDS": "0.2", "OPTARENA_WEBHOOK_BACKOFF_SECONDS": "0.5"})
    with running(env, tmp_path_factory.mktemp("webhooks")) as svc:
        yield svc


def _submit(svc: Service, notify: object) -> httpx.Response:
    body = {"preset": "seed-wave", "overrides": {"seeds": [0], "train": {"steps": 30, "eval_every": 30}},
            "notify": notify}
    return httpx.post(f"{svc.url}/jobs", json=body, headers=svc.headers, timeout=30)


def test_a_finished_job_is_announced_signed_retried_and_recorded_once(service: Service, receiver: Receiver):
    r = _submit(service, {"url": receiver.url, "secret": SECRET})
    assert r.status_code == 201, r.text
    job_id = r.json()["id"]
    wait_for(lambda: len(receiver.got) >= 2, 60, "two delivery attempts")

    (h1, b1), (h2, b2) = receiver.got
    assert h1[DELIVERY_HEADER] == h2[DELIVERY_HEADER] == f"{job_id}:succeeded"
    assert b1 == b2 and verify(SECRET, h2[SIGNATURE_HEADER], b2)
    assert not verify("another-secret", h2[SIGNATURE_HEADER], b2)
    sent = json.loads(b2)
    assert sent["event"] == "job.succeeded" and sent["job"]["id"] == job_id and sent["job"]["n_runs"] == 3

    def delivered() -> dict:
        job = httpx.get(f"{service.url}/jobs/{job_id}", headers=service.headers, timeout=10).json()
        return job["notify"]

    wait_for(lambda: delivered()["deliveries"][0]["state"] == "delivered", 10, "the delivery recorded")
    notify = delivered()
    assert notify["url"] == receiver.url and "secret" not in notify
    [d] = notify["deliveries"]
    assert (d["status"], d["attempts"], d["response_status"]) == ("succeeded", 2, 200)
    time.sleep(1.0)  # five more polls of the worker's notifier
    assert len(receiver.got) == 2


@pytest.mark.parametrize(("notify", "loc"), [
    ({"url": "ftp://127.0.0.1/hook", "secret": SECRET}, ["notify", "url"]),
    ({"url": "http://10.1.2.3/hook", "secret": SECRET}, ["notify", "url"]),
    ({"url": "http://127.0.0.1:9/hook"}, ["notify", "secret"]),
    ({"url": "http://127.0.0.1:9/hook", "secret": "short"}, ["notify", "secret"]),
    ({"url": "http://127.0.0.1:9/hook", "secret": SECRET, "extra": 1}, ["notify", "extra"]),
    ("http://127.0.0.1:9/hook", ["notify"]),
])
def test_refused_destinations_are_422_at_the_field_and_store_nothing(service: Service, notify, loc):
    before = httpx.get(f"{service.url}/jobs", headers=service.headers, timeout=10).json()
    r = _submit(service, notify)
    assert r.status_code == 422, r.text
    assert any(e["loc"][-len(loc):] == loc for e in r.json()["detail"]), r.json()
    after = httpx.get(f"{service.url}/jobs", headers=service.headers, timeout=10).json()
    assert after["total"] == before["total"]
