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
from engine.net_spec import NetSpec
from engine.registry import REGISTRY
from engine.runner import run_study
from engine.spec import ComparisonSpec
from engine.study_spec import Study

JSON_JUNK = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.text(max_size=8),
                      st.floats(allow_nan=True, allow_infinity=True), st.lists(st.integers(), max_size=3),
                      st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))


def _bounds(metadata: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in metadata:
        if hasattr(m, "metadata") and not isinstance(m, at.BaseMetadata):  # Annotated[int, Field(ge=0)]
            out |= _bounds(list(m.metadata))
            continue
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


# The counts the README quotes; derandomized generation with pinned hypothesis makes them exact.
SPECS_CHECKED = 1500
TINY_SPECS_PER_KIND = 10  # for a plain comparison and for each study kind: 60 in all
STUDIES = typing.get_args(typing.get_args(Study)[0])
STUDY_BY_KIND = {typing.get_args(m.model_fields["kind"].annotation)[0]: m for m in STUDIES}


def _with_study(model: type[BaseModel] | None) -> st.SearchStrategy[dict[str, Any]]:
    """Valid-looking spec dicts whose study is of one kind (none: a plain comparison)."""
    plain = model_dicts(ComparisonSpec, valid=True).map(
        lambda d: {k: v for k, v in d.items() if k != "study"})
    if model is None:
        return plain
    return st.builds(lambda d, s: d | {"study": s}, plain, model_dicts(model, valid=True))


def test_every_spec_validates_or_names_its_bad_fields() -> None:
    outcome = {"valid": 0, "refused": 0}

    @settings(max_examples=SPECS_CHECKED, derandomize=True, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(ANY_SPEC)
    def check(data: Any) -> None:
        try:
            ComparisonSpec.model_validate(data)
            outcome["valid"] += 1
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            assert errors
            unnamed = [e for e in errors if not e["loc"]]
            assert not unnamed, f"errors that name no field: {[e['msg'] for e in unnamed]}"
            outcome["refused"] += 1

    check()
    print(f"\nspecs: {outcome['valid']} valid, {outcome['refused']} refused with named fields")
    assert outcome["valid"] + outcome["refused"] == SPECS_CHECKED
    assert min(outcome.values()) >= SPECS_CHECKED // 10  # both sides of the validator exercised


def _tiny(d: dict[str, Any]) -> dict[str, Any]:
    """The same spec made cheap: few points, few steps, narrow nets, at most 2 arms x 2 seeds."""
    d = dict(d)
    d["task"] = dict(d.get("task", {})) | {"n": min(d.get("task", {}).get("n", 48), 48)}
    train = dict(d.get("train", {}))
    train |= {"steps": min(train.get("steps", 3), 3), "eval_every": min(train.get("eval_every", 2), 2),
              "batch_size": min(train.get("batch_size", 8), 8), "device": "cpu"}
    d["train"] = train
    net = dict(d.get("net", {}))  # the defaults are sized for real work: capped even when absent
    net["hidden"] = [min(h, 8) for h in net.get("hidden", NetSpec.model_fields["hidden"].default)[:2]]
    net["channels"] = [min(c, 4) for c in net.get("channels", NetSpec.model_fields["channels"].default)[:2]]
    d["net"] = net
    d["arms"] = [a | ({"batch_size": min(a["batch_size"], 8)} if a.get("batch_size") else {})
                 for a in d["arms"][:2]]
    d["seeds"] = list(dict.fromkeys(d.get("seeds", [0])))[:2]
    if train.get("examples") is not None:
        train["examples"] = min(train["examples"], 24)
    if d["task"].get("name") == "dataset":  # an upload lives in the database, not here
        d["task"] = {k: v for k, v in d["task"].items() if k != "dataset"} | {"name": "wave"}
    if isinstance(d.get("study"), dict) and d["study"].get("kind") in STUDY_BY_KIND:
        study = dict(d["study"])
        fields = STUDY_BY_KIND[study["kind"]].model_fields
        for key, cap in (("steps", 5), ("folds", 3), ("resamples", 2), ("power_iterations", 5),
                         ("sharpness_directions", 2)):
            if key in fields:
                study[key] = min(study.get(key, fields[key].default), cap)
        if "batch_sizes" in fields:
            sizes = study.get("batch_sizes", fields["batch_sizes"].default)
            study["batch_sizes"] = list(dict.fromkeys(min(b, 8) for b in sizes))[:3]  # distinct
        if "lr" in fields:
            lr = study.get("lr", fields["lr"].default)
            lr = lr.model_dump() if isinstance(lr, BaseModel) else dict(lr)
            study["lr"] = lr | {"points": min(lr.get("points", 2), 3)}
        if study["kind"] == "search":  # spaces name the arms: drawn at random they never would
            study |= _tiny_search(d["arms"], d["seeds"], study)
        d["study"] = study
    return d


def _tiny_search(arms: list[dict[str, Any]], seeds: list[int], study: dict[str, Any]) -> dict[str, Any]:
    """A search of each arm's learning rate around its default, two trials of one cohort."""
    spaces = {}
    for a in arms:
        d = REGISTRY.get(a.get("optimizer"))
        if d is not None:
            lr = next(h for h in d.hparams if h.name == "lr").default
            spaces[a.get("label") or d.title] = {"lr": {"low": lr / 2, "high": lr, "log": True}}
    pruner = dict(study.get("pruner") or {}) | {"reduction_factor": 2}
    return {"spaces": spaces, "trials": 2, "batch": 2, "pruner": pruner, "test_seeds": [max(seeds) + 1]}


@pytest.mark.parametrize("study", [None, *STUDIES], ids=lambda m: "plain" if m is None else m.__name__)
def test_tiny_valid_specs_train_without_raising(study: type[BaseModel] | None) -> None:
    """Draws that break a cross-field rule are discarded (property 1 covers their errors); the
    ones that trained are counted, so a generator that stopped producing valid specs fails."""
    trained: list[ComparisonSpec] = []
    discarded = [0]

    @settings(max_examples=TINY_SPECS_PER_KIND, derandomize=True, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                     HealthCheck.data_too_large])
    @given(_with_study(study).map(_tiny))
    def train(data: dict[str, Any]) -> None:
        try:
            spec = ComparisonSpec.model_validate(data)
        except ValidationError:
            discarded[0] += 1
            assume(False)
            return
        results, _ = run_study(spec)  # every stage of a study, as the service would run them
        assert sorted(results) == list(range(total_runs(spec)))
        for run in results.values():
            assert run.summary, run  # every run finished and reported
        trained.append(spec)

    train()
    print(f"\ntiny specs ({study.__name__ if study else 'plain'}): {len(trained)} trained, "
          f"{discarded[0]} discarded; optimizers {sorted({a.optimizer for s in trained for a in s.arms})}")
    assert len(trained) == TINY_SPECS_PER_KIND
    assert all((s.study is None) == (study is None) for s in trained)


@pytest.mark.parametrize("bad", [{"arms": [{"optimizer": "sgd"}, {"optimizer": "sgd"}]},
                                 {"arms": [{"optimizer": "nope"}]}, {"arms": []}, {}])
def test_known_bad_specs_name_a_field(bad: dict[str, Any]) -> None:
    """Hand-picked counterparts of property 1 (duplicate labels, an unknown optimizer, ...)."""
    with pytest.raises(ValidationError) as info:
        ComparisonSpec.model_validate(bad)
    assert all(e["loc"] for e in info.value.errors())
