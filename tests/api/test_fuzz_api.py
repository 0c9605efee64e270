"""schemathesis against the service's own OpenAPI schema, with every check schemathesis has: the
real app in-process (ASGI) on a migrated SQLite database, authenticated with a key created by
the real CLI, run by schemathesis's own engine (what `schemathesis run` runs).

Phases: examples (each documented example, one body per preset among them), coverage (boundary
values, missing parameters, unsupported methods), fuzzing (hypothesis, positive and negative
cases) and stateful (sequences that follow the schema's links: a created job read, relabelled,
cancelled, deleted and read again; an uploaded data set read and deleted).

A schema-valid request may still be refused (422) for a reason no JSON schema can state: a rule
across fields (a CNN needs an image task), a configured limit over several fields (runs x steps x
parameters), or stored state (the data set a spec names, the cursor of an earlier page). For those
operations alone positive_data_acceptance also accepts 422, and ``refused_by_runtime_rules``
checks that every such 422 names only those reasons (README, "The API").

The streaming routes are left out: they never end on their own (tests/api/test_api.py and the
fault tests cover them). Generation is derandomized and both libraries are pinned, so every run
sends the same requests and the counts below are exact.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema

from api.main import create_app
from api.security.paths import is_public
from core.settings import Settings, get_settings
from tests.support.procs import create_key, migrate, service_env

STREAMS = ["/jobs/{job_id}/events", "/jobs/{job_id}/metrics.jsonl"]
# Requests sent per phase, as the README quotes them: a change means the API's schema changed.
EXPECTED_REQUESTS = {"examples": 0, "coverage": 0, "fuzzing": 0, "stateful": 0, "anonymous": 0}
DEFAULT_ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]  # schemathesis's own

# Per operation, what may refuse a schema-valid request: a predicate on each error's (loc, type).
RUNTIME_RULES = {
    # Cross-field rules of the spec (type value_error), limits, a data set that is not the
    # owner's, a webhook host not allowed, plugins no live worker offers together; and a study
    # override without its kind, which needs the preset to have a study of the kind it fills in.
    "create_job": lambda loc, kind: kind in {"value_error", "limit_exceeded", "unknown_dataset",
                                             "url_refused", "no_worker"} or (
        loc[:3] == ["body", "overrides", "study"] and kind in {"union_tag_not_found", "extra_forbidden"}),
    # The file's content (at least 20 numeric rows, a column named by `target`, ...).
    "upload_dataset": lambda loc, kind: loc[:1] == ["file"] or loc[:2] in (["query", "target"],
                                                                           ["query", "kind"]),
    # A cursor is a token of an earlier page; created_before must follow created_after.
    "list_jobs": lambda loc, kind: kind == "value_error" and loc[:2] in (
        ["query", "cursor"], ["query", "created_before"], ["query", "created_after"]),
}


@schemathesis.check
def refused_by_runtime_rules(ctx: Any, response: Any, case: schemathesis.Case) -> None:
    """A schema-valid request answered 422 names only reasons the schema cannot state."""
    rule = RUNTIME_RULES.get(case.operation.definition.raw.get("operationId", ""))
    if rule is None or case.meta is None or not case.meta.generation.mode.is_positive:
        return
    if response.status_code == 422:
        errors = response.json()["detail"]
        other = [e for e in errors if not rule(e["loc"], e["type"])]
        assert not other, f"a schema-valid request refused for a reason the schema could state: {other}"


@schemathesis.check
def allow_names_the_path_methods(ctx: Any, response: Any, case: schemathesis.Case) -> None:
    """A 405 lists exactly the methods the schema has for the path (schemathesis checks only
    that an Allow header is there, and on OPTIONS that it lists no method too many)."""
    if response.status_code == 405:
        documented = {m.upper() for m in case.operation.schema.raw_schema["paths"][case.operation.path]}
        allow = {m.strip() for m in response.headers["allow"][0].split(",")}
        assert allow == documented, (case.method, case.operation.path, allow, documented)


ANONYMOUS: Counter[str] = Counter()
DEBUG: Counter = Counter()
KEYS = {}


@schemathesis.check
def refused_without_a_key(ctx: Any, response: Any, case: schemathesis.Case) -> None:
    """The same request without its key (header or cookie) never gets a 2xx on a protected route."""
    if is_public(case.method.upper(), case.operation.path):
        return
    headers = {k: v for k, v in (case.headers or {}).items() if k.lower() not in ("authorization", "cookie")}
    bare = case.operation.Case(method=case.method, path_parameters=case.path_parameters, headers=headers,
                               query=case.query, body=case.body, media_type=case.media_type).call()
    ANONYMOUS["anonymous"] += 1
    assert not 200 <= bare.status_code < 300, (case.method, case.formatted_path, bare.status_code)


def _identities(path: Path, keys: dict[str, str]) -> Path:
    """Two owners' keys as a Web Fuzzing Commons auth file: schemathesis sends the first one's,
    and object_level_authorization replays its reads as the other, who must not see its jobs."""
    path.write_text(json.dumps({"auth": [
        {"name": owner, "fixedHeaders": [{"name": "Authorization", "value": f"Bearer {key}"}]}
        for owner, key in keys.items()]}))
    return path


def _config(identities: Path) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict({
        "seed": 0, "workers": 1, "cache": {"enabled": False},
        "auth": {"wfc": {"path": str(identities), "peers": ["alice", "bob"]}},
        "generation": {"mode": "all", "max-examples": 40, "deterministic": True, "database": "none"},
        "checks": {"enabled": True},  # every check schemathesis has, and ours above
        "phases": {"stateful": {"max-steps": 12},
                   "examples": {"extra-data-sources": {"responses": False}},
                   "coverage": {"extra-data-sources": {"responses": False}},
                   "fuzzing": {"extra-data-sources": {"responses": False}, "error-feedback": {"enabled": False}}},
        "operations": [
            # Its coverage phase alone is 10,015 requests (every boundary of every hyperparameter of
            # every optimizer), three minutes here; README, "The API", says how to run it.
            {"include-operation-id": "create_job", "phases": {"coverage": {"enabled": False}}},
            {"include-operation-id": list(RUNTIME_RULES),
             "checks": {"positive_data_acceptance": {"expected-statuses": [*DEFAULT_ACCEPTED, "422"]}}},
        ],
    })


def test_schema_fuzzing(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/optarena.db"
    env = service_env({"OPTARENA_DATABASE_URL": db})
    done = migrate(env, tmp_path)
    assert done.returncode == 0, done.stderr
    keys = {owner: create_key(env, tmp_path, owner) for owner in ("alice", "bob")}
    KEYS.update(keys)
    # No rate limit and room for many active jobs: thousands of requests from one key in a few
    # seconds would otherwise mostly test the 429s (which test_security.py covers).
    cfg = Settings(database_url=db, broker_url=f"sqla+sqlite:///{tmp_path}/broker.sqlite",
                   rate_limit_per_second=0, max_active_jobs_per_owner=1_000_000)
    app = create_app(cfg)
    app.dependency_overrides[get_settings] = lambda: cfg
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=_config(_identities(tmp_path / "auth.json", keys))).exclude(path=STREAMS)

    sent: Counter[str] = Counter()
    ANONYMOUS.clear()
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    t0 = time.monotonic()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            for case_id, interaction in event.recorder.interactions.items():
                sent[event.phase.value] += 1
                DEBUG[("per-op", event.phase.value, event.recorder.label)] += 1
                auth = (interaction.request.headers or {}).get("Authorization") or (interaction.request.headers or {}).get("authorization")
                who = [o for o, k in KEYS.items() if auth and k in str(auth)]
                DEBUG[("who", event.phase.value, tuple(who), interaction.request.method, interaction.response.status_code if interaction.response else None)] += 1
                statuses[interaction.response.status_code if interaction.response else 0] += 1
            if event.phase.value == "stateful":
                for node in event.recorder.cases.values():
                    r = event.recorder.interactions.get(node.value.id)
                    DEBUG[(node.value.operation.label, node.transition.id if node.transition else None, r.response.status_code if r and r.response else None)] += 1
            for checks in event.recorder.checks.values():
                failures += [f"{event.phase.value} {event.recorder.label} {c.name}: "
                             f"{c.failure_info.failure.message if c.failure_info else ''}\n"
                             f"{c.failure_info.code_sample if c.failure_info else ''}"
                             for c in checks if c.status.value == "failure"]
        elif isinstance(event, events.NonFatalError | events.FatalError):
            failures.append(f"error: {event}")
    elapsed = time.monotonic() - t0
    for k, v in sorted(DEBUG.items(), key=str): print("DEBUG", k, v)
    sent.update(ANONYMOUS)
    print(f"\nschemathesis: {dict(sent)} requests in {elapsed:.1f} s; statuses {dict(sorted(statuses.items()))}")
    assert not failures, "\n\n".join(failures)
    assert dict(sent) == EXPECTED_REQUESTS
    assert statuses[201] > 0  # jobs and data sets were created: the success paths were fuzzed too
