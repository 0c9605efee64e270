"""Several API processes (``uvicorn --workers 2``) with PROMETHEUS_MULTIPROC_DIR: whichever
process answers a scrape, the request counters are the sum over all of them."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.procs import BIN, Service, migrate, service_env, wait_for


def test_every_scrape_counts_the_requests_of_every_process(tmp_path: Path) -> None:
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = service_env({"PROMETHEUS_MULTIPROC_DIR": str(shared)})
    assert migrate(env, tmp_path).returncode == 0
    svc = Service(env, tmp_path)
    try:
        svc._spawn("api", [str(BIN / "uvicorn"), "api.main:app", "--host", "127.0.0.1",
                           "--port", str(svc.port), "--workers", "2", "--log-level", "warning"])
        wait_for(lambda: httpx.get(f"{svc.url}/healthz", timeout=1).status_code == 200, 60, "API")
        wait_for(lambda: len(list(shared.glob("gauge_livesum_*.db"))) == 2, 60, "both processes")
        sent = 40
        for _ in range(sent):  # a new connection each: the processes share them out
            assert httpx.get(f"{svc.url}/healthz", timeout=10).status_code == 200
        # Each process keeps its counts in a file of its own once it has counted a request.
        assert len(list(shared.glob("counter_*.db"))) == 2, "one process took every connection"
        counted = set()
        for _ in range(6):
            text = httpx.get(f"{svc.url}/metrics", headers=svc.headers, timeout=10).text
            line = next(line for line in text.splitlines()
                        if line.startswith("optarena_http_requests_total") and 'route="/healthz"' in line)
            counted.add(float(line.split()[-1]))
        # The readiness polls above count too; no scrape sees fewer than those sent here.
        assert len(counted) == 1 and counted.pop() >= sent
    finally:
        svc.stop()
