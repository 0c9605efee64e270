"""The ``search`` study: what to search for each arm, how many trials, with which sampler.

Torch-free and Optuna-free, like engine/study_spec.py: the API validates a search with it.
engine/search.py proposes the trials (Optuna's samplers, ask and tell); engine/search_pruning.py
stops the poor ones of a cohort at the rungs.

- ``spaces``: per arm (by its label), each hyperparameter's range ``{"low", "high", "log"}``
  or its ``{"choices": [...]}``. Whether a range holds floats or integers is the optimizer's
  schema's word (engine/optimizer_defs.py), so ``check_spaces`` checks a space against the
  arm's optimizer: the name, the type, and that the range lies inside the hyperparameter's own.
- ``trials``: one number for every arm, the fairness rule: each arm gets as many tries.
- ``batch``: trials asked at once and trained together as one cohort.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from engine.optimizer_defs import HParam, OptimizerDef
from engine.strict import DISTINCT, Seed, Strict, distinct_test_seeds

Choice = bool | int | Annotated[float, Field(allow_inf_nan=False)]
Finite = Annotated[float, Field(allow_inf_nan=False)]


def field_error(model: str, loc: tuple[str | int, ...], value: Any, msg: str) -> ValidationError:
    """An error at ``loc`` (relative to where it is raised): pydantic prefixes the path of the
    field being validated, so a 422 names e.g. ``study.spaces.adam.lr.low``."""
    return ValidationError.from_exception_data(model, [
        {"type": "value_error", "loc": loc, "input": value, "ctx": {"error": ValueError(msg)}}])


class Distribution(Strict):
    """One hyperparameter's search: a range (``low``, ``high``, ``log``) or ``choices``."""

    low: Finite | None = Field(None, description="smallest value (a range)")
    high: Finite | None = Field(None, description="largest value (a range)")
    log: bool = Field(False, description="sample the range evenly in log (low must be positive)")
    choices: list[Choice] | None = Field(None, min_length=1, max_length=32, json_schema_extra=DISTINCT,
                                         description="the values to choose from (instead of a range)")

    @property
    def is_range(self) -> bool:
        return self.choices is None

    @model_validator(mode="after")
    def _one_kind(self) -> Distribution:
        if self.choices is not None:
            if self.low is not None or self.high is not None or self.log:
                raise field_error("Distribution", ("choices",), self.choices,
                                  "give either a range (low, high, log) or choices, not both")
            if len(set(self.choices)) != len(self.choices):
                raise field_error("Distribution", ("choices",), self.choices, "choices must be distinct")
            return self
        for name in ("low", "high"):
            if getattr(self, name) is None:
                raise field_error("Distribution", (name,), None, f"a range needs '{name}' (or give choices)")
        assert self.low is not None and self.high is not None
        if self.high <= self.low:
            what = "empty" if self.high == self.low else "inverted"
            raise field_error("Distribution", ("high",), self.high,
                              f"{what} range: high ({self.high:g}) must be above low ({self.low:g})")
        if self.log and self.low <= 0:
            raise field_error("Distribution", ("low",), self.low,
                              f"a log range needs a positive low, not {self.low:g}")
        return self


class Pruner(Strict):
    """Stop a cohort's poorer trials early, at rungs placed at fractions of the steps."""

    kind: Literal["none", "successive_halving", "hyperband"] = Field(
        "none", description="successive_halving: every cohort is pruned at every rung; hyperband: "
        "cohorts take turns starting at a later rung (the last trains fully)")
    rungs: list[Annotated[float, Field(gt=0, lt=1)]] = Field(
        [1 / 9, 1 / 3], min_length=1, max_length=6, json_schema_extra=DISTINCT,
        description="fractions of the steps at which validation losses are compared, increasing")
    reduction_factor: int = Field(3, ge=2, le=10,
                                  description="at each rung the best 1/reduction_factor of the cohort go on")

    @field_validator("rungs")
    @classmethod
    def _increasing(cls, v: list[float]) -> list[float]:
        if any(b <= a for a, b in zip(v, v[1:], strict=False)):
            raise ValueError("rungs must be strictly increasing fractions of the steps")
        return v


class SearchStudy(Strict):
    kind: Literal["search"]
    spaces: dict[str, dict[str, Distribution]] = Field(
        ..., min_length=1, max_length=32,
        description="per arm label: each hyperparameter to search, e.g. {\"adam\": {\"lr\": "
        "{\"low\": 1e-4, \"high\": 1e-1, \"log\": true}, \"beta1\": {\"choices\": [0.8, 0.9, 0.95]}}}")
    trials: int = Field(32, ge=1, le=10_000, description="trials per arm, the same for every arm")
    batch: int = Field(8, ge=1, le=1024, description="trials proposed at once and trained as one cohort")
    sampler: Literal["random", "sobol", "tpe", "cmaes"] = Field(
        "tpe", description="random; sobol (scrambled quasi-random); tpe (tree-structured Parzen "
        "estimator); cmaes (CMA-ES, ranges only)")
    seed: Seed = Field(0, description="proposals are a function of this seed, the arm and the results")
    pruner: Pruner = Pruner()
    test_seeds: list[Seed] = Field([1000, 1001, 1002, 1003, 1004], min_length=1, max_length=100,
                                   json_schema_extra=DISTINCT,
                                   description="fresh seeds for the re-run of each arm's best trial")

    @field_validator("spaces")
    @classmethod
    def _not_empty(cls, v: dict[str, dict[str, Distribution]]) -> dict[str, dict[str, Distribution]]:
        for arm, space in v.items():
            if not space:
                raise field_error("SearchStudy", (arm,), space, f"arm {arm!r} searches nothing")
            if len(space) > 16:
                raise field_error("SearchStudy", (arm,), space, "at most 16 hyperparameters per arm")
        return v

    _distinct = field_validator("test_seeds")(distinct_test_seeds)

    def cohorts(self) -> list[range]:
        """Each cohort's trial numbers: batches of ``batch``, the last one smaller if needed."""
        return [range(lo, min(lo + self.batch, self.trials)) for lo in range(0, self.trials, self.batch)]

    @model_validator(mode="after")
    def _fits(self) -> SearchStudy:
        if self.batch > self.trials:
            raise field_error("SearchStudy", ("batch",), self.batch,
                              f"batch ({self.batch}) may not exceed trials ({self.trials})")
        eta = self.pruner.reduction_factor
        if self.pruner.kind != "none" and self.batch < eta:
            # Pruning ranks the trials of one cohort against each other.
            raise field_error("SearchStudy", ("batch",), self.batch,
                              f"pruning needs cohorts of at least reduction_factor ({eta}) trials")
        if self.sampler == "cmaes":
            for arm, space in self.spaces.items():
                for name, d in space.items():
                    if not d.is_range:
                        # Optuna's CMA-ES would draw these at random, unknown to the user.
                        raise field_error("SearchStudy", ("spaces", arm, name, "choices"), d.choices,
                                          "sampler cmaes searches ranges only; use tpe or random for choices")
        return self


def check_spaces(study: SearchStudy, arms: Mapping[str, OptimizerDef]) -> None:
    """Every arm (by label) has a space, and each searched name is one of its optimizer's
    hyperparameters, of its type and inside its allowed range; else a ValidationError at
    ``spaces.<arm>.<name>[.<field>]``."""
    missing = [a for a in arms if a not in study.spaces]
    if missing:
        raise field_error("SearchStudy", ("spaces",), list(study.spaces),
                          f"every arm needs a space (the same trials each); missing: {', '.join(missing)}")
    for arm, space in study.spaces.items():
        if arm not in arms:
            raise field_error("SearchStudy", ("spaces", arm), arm,
                              f"no arm is labelled {arm!r}; arms: {', '.join(arms)}")
        schema = {h.name: h for h in arms[arm].hparams}
        for name, d in space.items():
            if name not in schema:
                raise field_error("SearchStudy", ("spaces", arm, name), name, f"{arms[arm].name} has no "
                                  f"hyperparameter {name!r}; it has {', '.join(schema)}")
            problem = _misfit(schema[name], d)
            if problem:
                where, value, msg = problem
                raise field_error("SearchStudy", ("spaces", arm, name, *where), value, msg)


def _misfit(h: HParam, d: Distribution) -> tuple[tuple[str | int, ...], Any, str] | None:
    """Where ``d`` does not fit hyperparameter ``h``: (path below the name, value, message)."""
    values = [("low", d.low), ("high", d.high)] if d.is_range else list(enumerate(d.choices or []))
    if h.kind == "bool" and d.is_range:
        return ("low",), d.low, f"{h.name} is true or false: search it with choices"
    for key, x in values:
        where = (key,) if d.is_range else ("choices", key)
        if not fits(h, x):
            return where, x, f"{h.name} takes {h.kind} values in {h.range_text()}; {x!r} is not one"
    return None


def fits(h: HParam, x: Any) -> bool:
    """Whether ``x`` is a value the hyperparameter accepts: its type and its range."""
    if h.kind == "bool":
        return isinstance(x, bool)
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
        return False
    if h.kind == "int" and x != int(x):
        return False
    above = h.low is None or (x > h.low if h.low_open else x >= h.low)
    below = h.high is None or (x < h.high if h.high_open else x <= h.high)
    return above and below
