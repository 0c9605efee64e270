"""Several API processes with Redis as the broker share each key's rate limit: the buckets
are in Redis, so a key's burst is one budget whichever process a request reaches. Without
Redis reachable, each process goes on enforcing the rate on its own."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from api.main import create_app
from core.settings import Settings, get_settings
from tests.conftest import add_key
from tests.support.procs import BIN, Service, free_port, migrate, service_env, wait_for

BURST = 6
# Slow enough that no token comes back while the test runs (one per 20 s).
LIMITS = {"OPTARENA_RATE_LIMIT_BURST": str(BURST), "OPTARENA_RATE_LIMIT_PER_SECOND": "0.05"}


def test_two_api_processes_spend_one_budget_per_key(redis_url: str, tmp_path: Path) -> None:
    env = service_env({"OPTARENA_BROKER_URL": redis_url} | LIMITS)
    assert migrate(env, tmp_path).returncode == 0
    svc = Service(env, tmp_path)
    try:
        svc.start_api()
        other = f"http://127.0.0.1:{free_port()}"
        svc._spawn("api2", [str(BIN / "uvicorn"), "api.main:app", "--host", "127.0.0.1",
                            "--port", other.rsplit(":", 1)[1], "--log-level", "warning"])
        wait_for(lambda: httpx.get(f"{other}/healthz", timeout=1).status_code == 200, 30, "second API")
        replies = [httpx.get(f"{base}/presets", headers=svc.headers, timeout=10)
                   for _ in range(BURST // 2 + 2) for base in (svc.url, other)]
    finally:
        svc.stop()
    # Each process saw BURST / 2 + 2 requests, fewer than its own burst would allow.
    assert [r.status_code for r in replies] == [200] * BURST + [429] * 4
    for r in replies[BURST:]:
        assert int(r.headers["retry-after"]) >= 1
        assert "OPTARENA_RATE_LIMIT_PER_SECOND" in r.json()["detail"]


def test_the_rate_is_still_enforced_while_redis_is_unreachable(sqlite_settings: Settings) -> None:
    settings = sqlite_settings.model_copy(update={"broker_url": f"redis://127.0.0.1:{free_port()}/0",
                                                  "rate_limit_burst": 3, "rate_limit_per_second": 0.05})
    app = create_app(settings)
    app.dependency_overrides[get_settings] = lambda: settings
    with TestClient(app, raise_server_exceptions=False) as c:
        c.headers["Authorization"] = f"Bearer {add_key(settings, 'alice')}"
        assert [c.get("/presets").status_code for _ in range(5)] == [200, 200, 200, 429, 429]
