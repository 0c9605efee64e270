"""schemathesis against the service's own OpenAPI schema: the real app in-process (ASGI) on a
migrated SQLite database, authenticated with a key created by the real CLI.

Every generated request must answer without a 5xx and in line with the schema (status code,
content type, headers, body), and the same request without a key must never get a 2xx on a
protected route. The streaming routes are left out: they never end on their own, and
tests/api/test_api.py and the fault tests cover them. Generation is derandomized, so CI
sees the same requests on every run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.main import create_app
from api.security.paths import is_public
from core.settings import Settings, get_settings
from tests.support.procs import create_key, migrate, service_env

STREAMS = ("/jobs/{job_id}/events", "/jobs/{job_id}/metrics.jsonl")
EXAMPLES = {GenerationMode.POSITIVE: 60, GenerationMode.NEGATIVE: 25}
# Requests sent per phase, as the README quotes them: generation is derandomized and hypothesis
# and schemathesis are pinned, so a change here means the API's schema changed (update both).
EXPECTED_REQUESTS = {"positive": 1263, "negative": 450, "anonymous": 1625}
CREDENTIALS = {"Authorization", "optarena_session"}  # the security schemes, as parameters


def not_a_server_error(_ctx, response, case) -> None:  # noqa: ANN001 - schemathesis's check signature
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code}"


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]


@dataclass(frozen=True)
class Target:
    auth: dict[str, str]
    job_id: str  # a real job of the key's owner
    real_every: int  # every how many cases on a job route name it
    protected: bool  # the operation needs a key


def fuzz_operation(op: Any, mode: GenerationMode, n: int, t: Target, sent: dict[str, int],
                   statuses: dict[int, int]) -> None:
    @settings(max_examples=n, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=op.as_strategy(generation_mode=mode))
    def fuzz(case: schemathesis.Case) -> None:
        # Some cases on a job route name the real job instead of a random id.
        if "job_id" in (case.path_parameters or {}) and sent["auth"] % t.real_every == 1:
            case.path_parameters["job_id"] = t.job_id
        response = case.call(headers=t.auth)
        sent["auth"] += 1
        sent[mode.value] += 1
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        case.validate_response(response, checks=CHECKS, headers=t.auth)
        if t.protected:
            # The same request with no key (any Authorization the case itself carries is a
            # generated value, never a valid key): never a 2xx.
            bare = case.call()
            sent["anonymous"] += 1
            assert not 200 <= bare.status_code < 300, (case.method, case.formatted_path, bare.status_code)

    fuzz()


def test_schema_fuzzing(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/optarena.db"
    env = service_env({"OPTARENA_DATABASE_URL": db})
    done = migrate(env, tmp_path)
    assert done.returncode == 0, done.stderr
    key = create_key(env, tmp_path, "fuzz")
    # No rate limit and room for many active jobs: thousands of requests from one key in a few
    # seconds would otherwise mostly test the 429s (which test_security.py covers).
    cfg = Settings(database_url=db, broker_url=f"sqla+sqlite:///{tmp_path}/broker.sqlite",
                   rate_limit_per_second=0, max_active_jobs_per_owner=1_000_000)
    app = create_app(cfg)
    app.dependency_overrides[get_settings] = lambda: cfg
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)

    # A real job, so that the routes under /jobs/{job_id} are also fuzzed past their 404.
    with TestClient(app) as c:
        r = c.post("/jobs", json={"preset": "seed-wave", "overrides": {"train": {"steps": 50}}},
                   headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 201, r.text
        job_id = r.json()["id"]

    auth = {"Authorization": f"Bearer {key}"}
    sent = {"auth": 0, "positive": 0, "negative": 0, "anonymous": 0}
    statuses: dict[int, int] = {}
    ops = [res.ok() for res in schema.get_all_operations()]
    ops = [op for op in ops if op.path not in STREAMS]
    assert {op.path for op in ops} >= {"/jobs", "/jobs/{job_id}", "/jobs/{job_id}/metrics"}
    t0 = time.monotonic()
    for op in ops:
        t_op = time.monotonic()
        protected = not is_public(op.method.upper(), op.path)
        # Reports are drawn with matplotlib (a third of a second each): the real job less often.
        real_every = 10 if "/report." in op.path else 2
        # An operation with nothing but the credentials to get wrong has no negative case.
        negatable = len(op.body) > 0 or any(p.name not in CREDENTIALS for p in op.iter_parameters())
        for mode, n in EXAMPLES.items():
            if mode is GenerationMode.NEGATIVE and not negatable:
                continue
            fuzz_operation(op, mode, n, Target(auth, job_id, real_every, protected), sent, statuses)
        print(f"{op.method.upper()} {op.path}: {time.monotonic() - t_op:.1f} s")
    elapsed = time.monotonic() - t0
    print(f"\nschemathesis: {sent['positive']} positive + {sent['negative']} negative authenticated, "
          f"{sent['anonymous']} anonymous requests over {len(ops)} operations in {elapsed:.1f} s; "
          f"statuses {dict(sorted(statuses.items()))}")
    assert {k: sent[k] for k in EXPECTED_REQUESTS} == EXPECTED_REQUESTS
    assert any(200 <= s < 300 for s in statuses)  # the key really worked
