"""The workers' health check in docker-compose.yml, run as written against real Celery workers:
healthy while one runs on this host, unhealthy as soon as it stops, and unhealthy once a killed
worker's heartbeat is older than ``worker_ttl_seconds``."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import yaml

from tests.support.procs import BIN, ROOT, Service, migrate, service_env

TTL = 3.0


def _check_command() -> list[str]:
    """The compose file's worker check, with this environment's python."""
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    test = services["worker-cpu"]["healthcheck"]["test"]
    assert test[0] == "CMD" and test[1] == "python", test
    return [str(BIN / "python"), *test[2:]]


def _probe(svc: Service) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_check_command(), env=svc.env, cwd=svc.cwd, capture_output=True, text=True,
                          timeout=60)


def test_check_follows_a_live_a_stopped_and_a_killed_worker(tmp_path: Path) -> None:
    env = service_env({"OPTARENA_WORKER_TTL_SECONDS": str(TTL), "OPTARENA_HEARTBEAT_SECONDS": "0.5"})
    assert migrate(env, tmp_path).returncode == 0
    svc = Service(env, tmp_path)
    try:
        assert _probe(svc).returncode == 1  # no worker yet

        svc.start_worker("w1")
        up = _probe(svc)
        assert up.returncode == 0 and up.stdout.startswith("healthy") and "cpu" in up.stdout, up
        svc.stop()  # a warm shutdown: the worker withdraws its row
        down = _probe(svc)
        assert down.returncode == 1 and down.stdout.startswith("unhealthy"), down

        worker = svc.start_worker("w2")
        assert _probe(svc).returncode == 0
        os.killpg(worker.pid, signal.SIGKILL)  # no shutdown: its row stays, and goes stale
        worker.wait(10)
        time.sleep(TTL + 1)
        stale = _probe(svc)
        assert stale.returncode == 1 and "heartbeat" in stale.stdout, stale
    finally:
        svc.stop()


def test_check_reports_an_unreachable_database(tmp_path: Path) -> None:
    env = service_env({"OPTARENA_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"})
    done = subprocess.run(_check_command(), env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "database is unreachable" in done.stdout, done
