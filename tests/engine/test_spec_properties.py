"""Property tests of the spec validators. The dicts are generated from ComparisonSpec's model
fields as they are when the test runs (types, Literal choices, bounds, nested models, the arm
union), not from a copy of them, so a field added, renamed or re-bounded is covered without
touching this file.

1. Any dict, in bounds or not, either validates or raises ValidationError, every error of
   which names the field at fault (a non-empty ``loc``); nothing else escapes.
2. Tiny valid specs (a few steps on a few points) train with ``engine.runner.run_study``
   without raising, whatever optimizer, net, schedule, regularization or study they ask for.
"""

from __future__ import annotations

import types
import typing
from typing import Any

import annotated_types as at
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from engine.design import total_runs
from engine.runner import run_study
from engine.spec import ComparisonSpec

JSON_JUNK = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.text(max_size=8),
                      st.floats(allow_nan=True, allow_infinity=True), st.lists(st.integers(), max_size=3),
                      st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))


def _bounds(metadata: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in metadata:
        for name in ("ge", "gt", "le", "lt", "min_length", "max_length"):
            if getattr(m, name, None) is not None and isinstance(m, at.BaseMetadata):
                out[name] = getattr(m, name)
    return out


def _number(kind: type, b: dict[str, Any], valid: bool) -> st.SearchStrategy[Any]:
    lo = b.get("ge", b.get("gt"))
    hi = b.get("le", b.get("lt"))
    if kind is int:
        lo_i = int(lo) + (1 if "gt" in b else 0) if lo is not None else -3
        hi_i = int(hi) - (1 if "lt" in b else 0) if hi is not None else max(lo_i, 0) + 10_000
        if valid:
            # The bounds themselves, and small values (most fields are counts and sizes).
            return st.one_of(st.sampled_from([lo_i, hi_i]), st.integers(lo_i, min(hi_i, lo_i + 64)))
        return st.integers(lo_i - 3, hi_i + 3)
    if valid:
        lo_f = float(lo) if lo is not None else -1e3
        hi_f = float(hi) if hi is not None else 1e3
        return st.floats(lo_f, hi_f, exclude_min="gt" in b, exclude_max="lt" in b, allow_nan=False)
    return st.floats(allow_nan=True, allow_infinity=True)


def strategy_for(annotation: Any, metadata: list[Any], valid: bool) -> st.SearchStrategy[Any]:
    """Values for one annotated type; with ``valid`` False, also out of bounds and mistyped."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return strategy_for(args[0], list(args[1:]) + metadata, valid)
    if hasattr(annotation, "metadata") and hasattr(annotation, "annotation"):  # a FieldInfo
        return strategy_for(annotation.annotation, list(annotation.metadata) + metadata, valid)
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*[strategy_for(a, metadata, valid) for a in args])
    if origin is typing.Literal:
        base = st.sampled_from(args)
        return base if valid else st.one_of(base, st.text(max_size=6))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return model_dicts(annotation, valid)
    b = _bounds(metadata)
    if origin is list:
        lo, hi = b.get("min_length", 0), b.get("max_length", 8)
        if valid:
            hi = min(hi, lo + 3)
        else:
            lo, hi = max(0, lo - 1), hi + 1
        return st.lists(strategy_for(args[0], [], valid), min_size=lo, max_size=hi)
    if annotation is type(None):
        return st.none()
    if annotation is bool:
        return st.booleans()
    if annotation in (int, float):
        return _number(annotation, b, valid)
    if annotation is str:
        return st.text(max_size=b.get("max_length", 16) + (0 if valid else 4))
    return JSON_JUNK  # a type this walker does not know: anything


def model_dicts(model: type[BaseModel], valid: bool) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts for ``model``: each field present or left to its default; with ``valid`` False,
    now and then a junk value or an unknown key too."""
    optional, required = {}, {}
    for name, info in model.model_fields.items():
        value = strategy_for(info, [], valid)
        if not valid:
            value = st.one_of(value, value, value, JSON_JUNK)
        (required if info.is_required() else optional)[name] = value
    out = st.fixed_dictionaries(required, optional=optional)
    if not valid:
        out = st.one_of(out, st.builds(lambda d, k, v: d | {k: v}, out, st.text(min_size=1, max_size=6),
                                       JSON_JUNK))
    return out


# Dicts only: a body that is not an object at all is refused as a whole (loc ()), before any field.
ANY_SPEC = st.one_of(model_dicts(ComparisonSpec, valid=True), model_dicts(ComparisonSpec, valid=False))


@settings(max_examples=1500, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(ANY_SPEC)
def test_every_spec_validates_or_names_its_bad_fields(data: Any) -> None:
    try:
        ComparisonSpec.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        assert errors
        unnamed = [e for e in errors if not e["loc"]]
        assert not unnamed, f"errors that name no field: {[e['msg'] for e in unnamed]}"


def _tiny(d: dict[str, Any]) -> dict[str, Any]:
    """The same spec made cheap: few points, few steps, narrow nets, at most 2 arms x 2 seeds."""
    d = dict(d)
    d["task"] = dict(d.get("task", {})) | {"n": min(d.get("task", {}).get("n", 48), 48)}
    train = dict(d.get("train", {}))
    train |= {"steps": min(train.get("steps", 3), 3), "eval_every": min(train.get("eval_every", 2), 2),
              "batch_size": min(train.get("batch_size", 8), 8), "device": "cpu"}
    d["train"] = train
    net = dict(d.get("net", {}))
    if "hidden" in net:
        net["hidden"] = [min(h, 8) for h in net["hidden"][:2]]
    if "channels" in net:
        net["channels"] = [min(c, 4) for c in net["channels"][:2]]
    d["net"] = net
    d["arms"] = [a | ({"batch_size": min(a["batch_size"], 8)} if a.get("batch_size") else {})
                 for a in d["arms"][:2]]
    d["seeds"] = list(dict.fromkeys(d.get("seeds", [0])))[:2]
    if train.get("examples") is not None:
        train["examples"] = min(train["examples"], 24)
    if d["task"].get("name") == "dataset":  # an upload lives in the database, not here
        d["task"] = {k: v for k, v in d["task"].items() if k != "dataset"} | {"name": "wave"}
    if isinstance(d.get("study"), dict):
        study = dict(d["study"])
        for key, cap in (("steps", 5), ("folds", 3), ("resamples", 2), ("power_iterations", 5),
                         ("sharpness_directions", 2)):
            if key in study:
                study[key] = min(study[key], cap)
        if "batch_sizes" in study:
            study["batch_sizes"] = [min(b, 8) for b in study["batch_sizes"][:3]]
        if "lr" in study:
            study["lr"] = dict(study["lr"]) | {"points": min(study["lr"].get("points", 2), 3)}
        d["study"] = study
    return d


@settings(max_examples=50, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                 HealthCheck.data_too_large])
@given(model_dicts(ComparisonSpec, valid=True).map(_tiny))
def test_tiny_valid_specs_train_without_raising(data: dict[str, Any]) -> None:
    try:
        spec = ComparisonSpec.model_validate(data)
    except ValidationError:
        assume(False)  # a cross-field rule this draw breaks; property 1 covers the error itself
        return
    results, _ = run_study(spec)  # every stage of a study, as the service would run them
    assert sorted(results) == list(range(total_runs(spec)))
    for run in results.values():
        assert run.summary, run  # every run finished and reported


@pytest.mark.parametrize("bad", [{"arms": [{"optimizer": "sgd"}, {"optimizer": "sgd"}]},
                                 {"arms": [{"optimizer": "nope"}]}, {"arms": []}, {}])
def test_known_bad_specs_name_a_field(bad: dict[str, Any]) -> None:
    """Hand-picked counterparts of property 1 (duplicate labels, an unknown optimizer, ...)."""
    with pytest.raises(ValidationError) as info:
        ComparisonSpec.model_validate(bad)
    assert all(e["loc"] for e in info.value.errors())
