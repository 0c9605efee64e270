"""A job request read into a spec, or the field-path errors that stop it.

A request is either a full ``ComparisonSpec`` or ``{"preset": name, "overrides": {...}}``;
overrides are merged into the preset field by field (lists such as ``arms`` are replaced).
Either may carry the job's labels beside it (``name``, ``tags``, ``notes``: core.labels) and a
webhook (``notify``: core.webhooks).
Errors are pydantic-style dicts (``loc``, ``msg``, ``type``); a preset's are under
``overrides``, where the caller wrote the field.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from core import labels, webhooks
from core.labels import Labels
from engine.presets import PRESETS, preset_dict
from engine.spec import ComparisonSpec

# The plugins live workers offer, as the spec's validation context: {"optimizers": {name: def},
# "models": {name: def}} (core/capabilities.py); None: those installed here.
Offered = Mapping[str, Mapping[str, Any]] | None


def _validate(data: Any, offered: Offered) -> ComparisonSpec:
    # Strict: a request is JSON, and its types are the schema's (no "5" for 5, no 1 for true),
    # so what /openapi.json calls invalid is refused.
    return ComparisonSpec.model_validate(data, context=offered, strict=True)


@dataclass
class JobRequest:
    """A validated spec (and the preset it came from), or the errors that stop it."""

    spec: ComparisonSpec | None = None
    preset: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    labels: Labels = field(default_factory=Labels)
    notify: webhooks.Notify | None = None  # where the job's end is announced (core.webhooks)

    @property
    def prefix(self) -> list[Any]:
        """Where the caller wrote the spec's fields: under 'overrides' for a preset."""
        return ["overrides"] if self.preset else []

    def refused(self, errors: list[dict[str, Any]]) -> JobRequest:
        """The same request, stopped by ``errors`` (given relative to the spec)."""
        return JobRequest(preset=self.preset, labels=self.labels,
                          errors=[e | {"loc": self.prefix + list(e["loc"])} for e in errors])

    def labelled(self, found: Labels, errors: list[dict[str, Any]]) -> JobRequest:
        """The same request with the body's labels; bad labels stop it like a bad spec."""
        if errors:
            return JobRequest(preset=self.preset, errors=errors + self.errors, labels=found)
        return JobRequest(spec=self.spec, preset=self.preset, errors=self.errors, labels=found)


def error(loc: list[Any], msg: str, kind: str) -> dict[str, Any]:
    return {"loc": loc, "msg": msg, "type": kind}


def spec_errors(exc: ValidationError, prefix: list[Any]) -> list[dict[str, Any]]:
    return [error(prefix + list(e["loc"]), e["msg"], e["type"]) for e in exc.errors(include_url=False)]


def _parse_preset(body: dict[str, Any], offered: Offered) -> JobRequest:
    name, overrides = body["preset"], body.get("overrides")
    overrides = {} if overrides is None else overrides
    extra = sorted(set(body) - {"preset", "overrides"})
    if extra:
        return JobRequest(errors=[error([k], "not allowed next to 'preset'; put spec fields under "
                                        "'overrides'", "extra_forbidden") for k in extra])
    if not isinstance(name, str) or name not in PRESETS:
        return JobRequest(errors=[error(["preset"], f"unknown preset {name!r}; choose one of: "
                                        f"{', '.join(PRESETS)} (GET /presets)", "unknown_preset")])
    if not isinstance(overrides, dict):
        return JobRequest(errors=[error(["overrides"], "must be an object of spec fields, "
                                        "e.g. {\"train\": {\"steps\": 500}}", "dict_type")])
    try:
        return JobRequest(spec=_validate(preset_dict(name, overrides), offered), preset=name)
    except ValidationError as exc:
        return JobRequest(errors=spec_errors(exc, ["overrides"]), preset=name)


def _parse_spec(body: dict[str, Any], offered: Offered) -> JobRequest:
    if "preset" in body:
        return _parse_preset(body, offered)
    try:
        return JobRequest(spec=_validate(body, offered))
    except ValidationError as exc:
        return JobRequest(errors=spec_errors(exc, []))


def json_numbers(value: Any) -> Any:
    """``value`` with every whole float as an int: JSON has one number type, so ``5.0`` is the
    integer 5 (as JSON Schema counts it), which strict validation would otherwise refuse."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: json_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_numbers(v) for v in value]
    return value


def parse_request(body: Any, offered: Offered = None) -> JobRequest:
    """A decoded JSON body as a request; ``offered``: the plugins an arm or a net may name."""
    body = json_numbers(body)
    if not isinstance(body, dict):
        return JobRequest(errors=[error([], "the body must be a JSON object: a comparison spec or "
                                        "{\"preset\": name, \"overrides\": {...}}", "dict_type")])
    found, errors = labels.read({k: v for k, v in body.items() if k in labels.FIELDS})
    given = body.get("notify")  # null, like leaving it out: no webhook
    notify, notify_errors = webhooks.read(given) if given is not None else (None, [])
    rest = {k: v for k, v in body.items() if k not in labels.FIELDS and k != "notify"}
    request = _parse_spec(rest, offered).labelled(found, errors + notify_errors)
    request.notify = notify
    return request


def parse_text(text: str, offered: Offered = None) -> JobRequest:
    """A request sent as JSON text (the queue accepts either)."""
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        return JobRequest(errors=[error([], f"not valid JSON: {exc}", "json_invalid")])
    return parse_request(body, offered)


def request_hash(body: Any) -> str:
    """Identifies a body for idempotent retries."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
