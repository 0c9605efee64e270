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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema

from api.main import create_app
from api.security.paths import is_public
from core.settings import Settings, get_settings
from tests.support.procs import create_key, migrate, service_env

STREAMS = ["/jobs/{job_id}/events", "/jobs/{job_id}/metrics.jsonl"]
# Requests sent per phase (coverage and fuzzing cases split into positive and negative), as the
# README quotes them: a change means the API's schema changed. The stateful phase feeds values of
# earlier responses (job ids, creation times to the microsecond) into later requests, so its
# length varies by a request or two from run to run: at least this many; and so does the count
# of requests sent again without a key.
EXPECTED_REQUESTS = {"examples": 22, "coverage positive": 155, "coverage negative": 452,
                     "fuzzing positive": 693, "fuzzing negative": 348}
STATEFUL_AT_LEAST, ANONYMOUS_AT_LEAST = 300, 1700
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


# Two passes over one app and database: every phase with positive fuzzing, then negative fuzzing
# alone. In one pass with both modes hypothesis draws each case's mode, and the mix is not the
# same in every process; in two passes each count is exact.
PASSES = ({"mode": "positive", "max-examples": 30, "others": True},
          {"mode": "negative", "max-examples": 15, "others": False})


def _config(identities: Path, fuzzing: dict[str, Any]) -> SchemathesisConfig:
    on = {"enabled": fuzzing["others"]}
    return SchemathesisConfig.from_dict({
        "seed": 0, "workers": 1, "cache": {"enabled": False},
        "auth": {"wfc": {"path": str(identities), "peers": ["alice", "bob"]}},
        "generation": {"max-examples": 30, "deterministic": True, "database": "none"},
        "checks": {"enabled": True},  # every check schemathesis has, and ours above
        # Values taken from earlier answers (ids, times) and steering by the server's error messages
        # would make each run's requests depend on random ids: off, so the counts are exact.
        "phases": {"examples": on | {"extra-data-sources": {"responses": False}},
                   "coverage": on | {"extra-data-sources": {"responses": False}},
                   "fuzzing": {"generation": {"mode": fuzzing["mode"],
                                              "max-examples": fuzzing["max-examples"]},
                               "extra-data-sources": {"responses": False},
                               "error-feedback": {"enabled": False}},
                   # The schema's links only, not those schemathesis would infer.
                   "stateful": on | {"max-steps": 12, "inference": {"algorithms": []}}},
        "operations": [
            # Its coverage phase alone is over 10,000 requests (every boundary of every hyperparameter
            # of every optimizer), four minutes here (README, "Reliability").
            {"include-operation-id": "create_job", "phases": {"coverage": {"enabled": False}}},
            {"include-operation-id": list(RUNTIME_RULES),
             "checks": {"positive_data_acceptance": {"expected-statuses": [*DEFAULT_ACCEPTED, "422"]}}},
        ],
    })


@pytest.fixture()
def same_draws_in_any_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Hypothesis mixes into its draws constants it finds in the project's modules loaded so far,
    and which are loaded depends on the tests run before in the process: without them, every run
    draws the same cases (hypothesis is pinned; this is its provider's pool of local constants)."""
    from hypothesis.internal.conjecture import providers
    from hypothesis.internal.conjecture.providers import Constants, SortedSet, float_to_int

    none = Constants(integers=SortedSet(), floats=SortedSet(key=float_to_int), bytes=SortedSet(),
                     strings=SortedSet())
    monkeypatch.setattr(providers, "_get_local_constants", lambda: none)
    providers.CONSTANTS_CACHE.cache.clear()
    yield
    providers.CONSTANTS_CACHE.cache.clear()


@pytest.mark.usefixtures("same_draws_in_any_process")
def test_schema_fuzzing(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/optarena.db"
    env = service_env({"OPTARENA_DATABASE_URL": db})
    done = migrate(env, tmp_path)
    assert done.returncode == 0, done.stderr
    keys = {owner: create_key(env, tmp_path, owner) for owner in ("alice", "bob")}
    # No rate limit and room for many active jobs: thousands of requests from one key in a few
    # seconds would otherwise mostly test the 429s (which test_security.py covers).
    cfg = Settings(database_url=db, broker_url=f"sqla+sqlite:///{tmp_path}/broker.sqlite",
                   rate_limit_per_second=0, max_active_jobs_per_owner=1_000_000)
    app = create_app(cfg)
    app.dependency_overrides[get_settings] = lambda: cfg
    identities = _identities(tmp_path / "auth.json", keys)

    ANONYMOUS.clear()
    sent, statuses, links, failures = Counter[str](), Counter[int](), set[str](), list[str]()
    t0 = time.monotonic()
    for fuzzing in PASSES:
        schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=_config(identities, fuzzing))
        for event in from_schema(schema.exclude(path=STREAMS)).execute():
            if isinstance(event, events.ScenarioFinished):
                _tally(event.recorder, event.phase.value, sent, statuses, links)
                failures += _failures(event.recorder, event.phase.value)
            elif isinstance(event, events.NonFatalError | events.FatalError):
                failures.append(f"error: {event}")
    sent.update(ANONYMOUS)
    print(f"\nschemathesis: {dict(sent)} requests in {time.monotonic() - t0:.1f} s; "
          f"statuses {dict(sorted(statuses.items()))}; links followed: {sorted(links)}")
    assert not failures, "\n\n".join(failures)
    assert {k: v for k, v in sent.items() if k in EXPECTED_REQUESTS} == EXPECTED_REQUESTS
    assert sent["stateful"] >= STATEFUL_AT_LEAST
    assert sent["anonymous"] >= ANONYMOUS_AT_LEAST
    # The success paths were fuzzed too: jobs and data sets created, the schema's links followed.
    assert statuses[201] > 0
    assert {"POST /jobs", "GET /datasets"} <= {link.split(" -> ")[0] for link in links}


def _tally(recorder: Any, phase: str, sent: Counter[str], statuses: Counter[int], links: set[str]) -> None:
    """Requests by phase (and for generated cases, by positive or negative), answers by status, and
    the links the stateful phase followed."""
    for case_id, interaction in recorder.interactions.items():
        node = recorder.cases.get(case_id)
        meta = node.value.meta if node is not None else None
        generated = phase in ("coverage", "fuzzing") and meta is not None
        sent[f"{phase} {meta.generation.mode.value}" if generated else phase] += 1
        statuses[interaction.response.status_code if interaction.response else 0] += 1
    for node in recorder.cases.values():
        # A transition's id reads "POST /jobs -> [201] get_job -> GET /jobs/{job_id}".
        if node.transition is not None:
            source, answer, _target = node.transition.id.split(" -> ")
            links.add(f"{source} -> {answer.split(' ', 1)[1]}")


def _failures(recorder: Any, phase: str) -> list[str]:
    return [f"{phase} {recorder.label} {check.name}: {check.failure_info.failure.message}\n"
            f"{check.failure_info.code_sample}"
            for checks in recorder.checks.values() for check in checks
            if check.status.value == "failure" and check.failure_info is not None]
