"""The ``study`` field of a job: what to run beyond "every arm from every seed".

Torch-free, like engine/spec.py which embeds it. engine/design.py turns a study into the
concrete runs (stages of plain comparisons); api/studies reads their results back.

- tuning: every arm over a log grid of learning rates (and optionally other
  hyperparameters) on ``seeds``; the best point per arm is chosen on validation loss
  only, then re-trained on ``test_seeds`` (fresh) and reported on test loss.
- batch_size: every arm at each batch size, for the same number of examples seen when
  ``train.examples`` is set; the sharpness of every final solution is measured.
- cross_validation: every arm on k folds of train + validation (test stays untouched).
- bias_variance: every arm on bootstrap resamples of the training split, plus once on
  the whole split; bias^2 / variance / noise on a task with a known true function, and
  the bagged ensemble against the single net.
- trajectories: every arm's optimizer on a 2-D test function, one point per step.
- search: per arm, trials proposed by an Optuna sampler in cohorts (engine/search_space.py),
  then each arm's best trial re-trained on ``test_seeds``.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from engine.search_space import SearchStudy
from engine.strict import DISTINCT, INT32_MAX, Seed, distinct_test_seeds


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LogGrid(_Strict):
    low: float = Field(1e-4, gt=0, allow_inf_nan=False, description="smallest learning rate")
    high: float = Field(1.0, gt=0, allow_inf_nan=False, description="largest learning rate")
    points: int = Field(20, ge=2, le=50, description="points, evenly spaced in log10")

    @model_validator(mode="after")
    def _ordered(self) -> LogGrid:
        if self.high <= self.low:
            raise ValueError(f"high ({self.high:g}) must be above low ({self.low:g})")
        return self

    def values(self) -> list[float]:
        a, b = math.log10(self.low), math.log10(self.high)
        return [float(f"{10 ** (a + (b - a) * i / (self.points - 1)):.6g}") for i in range(self.points)]


GRID_VALUES = (1, 10)  # values of one searched hyperparameter, fewest and most


def _grid_schema(schema: dict) -> None:
    """What ``_grid_lists`` checks, said in the schema: ``lr`` has its own grid, and each list
    holds 1 to 10 distinct values."""
    schema["propertyNames"] = {"not": {"const": "lr"}}
    schema["additionalProperties"] |= {"minItems": GRID_VALUES[0], "maxItems": GRID_VALUES[1]} | DISTINCT


class TuningStudy(_Strict):
    kind: Literal["tuning"]
    lr: LogGrid = LogGrid()
    grid: dict[str, list[Annotated[float, Field(allow_inf_nan=False)]]] = Field(
        {}, max_length=3, description="other hyperparameters to search, e.g. {\"momentum\": [0.5, 0.9]}; "
        "each arm searches the ones it has", json_schema_extra=_grid_schema)
    test_seeds: list[Seed] = Field([1000, 1001, 1002, 1003, 1004], min_length=1, max_length=100,
                                   json_schema_extra=DISTINCT,
                                   description="fresh seeds for the re-run of each arm's chosen point")
    select_on: Literal["final_val_loss", "best_val_loss"] = Field(
        "final_val_loss", description="validation metric, averaged over seeds, that picks the point")

    @field_validator("grid")
    @classmethod
    def _grid_lists(cls, v: dict[str, list[float]]) -> dict[str, list[float]]:
        for name, values in v.items():
            if name == "lr":
                raise ValueError("the learning rate is searched by 'lr'; leave it out of 'grid'")
            if not GRID_VALUES[0] <= len(values) <= GRID_VALUES[1]:
                raise ValueError(f"grid '{name}' needs {GRID_VALUES[0]} to {GRID_VALUES[1]} values")
            if len(set(values)) != len(values):
                raise ValueError(f"grid '{name}' values must be distinct")
        return v

    _distinct = field_validator("test_seeds")(distinct_test_seeds)


class BatchSizeStudy(_Strict):
    kind: Literal["batch_size"]
    batch_sizes: list[Annotated[int, Field(ge=0, le=INT32_MAX)]] = Field(
        [1, 16, 64, 256, 0], min_length=2, max_length=12, json_schema_extra=DISTINCT,
        description="0 is full-batch gradient descent")
    sharpness_radius: float = Field(0.05, gt=0, le=1, allow_inf_nan=False,
                                    description="perturbation radius, relative to each run's weight norm")
    sharpness_directions: int = Field(8, ge=1, le=64, description="random directions per run")
    power_iterations: int = Field(50, ge=5, le=500,
                                  description="most Hessian-vector-product iterations for the top eigenvalue")

    @field_validator("batch_sizes")
    @classmethod
    def _distinct(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v):
            raise ValueError("batch_sizes must be distinct")
        return v


class CrossValidationStudy(_Strict):
    kind: Literal["cross_validation"]
    folds: int = Field(5, ge=2, le=20)


class BiasVarianceStudy(_Strict):
    kind: Literal["bias_variance"]
    resamples: int = Field(10, ge=2, le=50, description="bootstrap resamples of the training split")
    resample_seed: Seed = 0


class TrajectoryStudy(_Strict):
    kind: Literal["trajectories"]
    function: Literal["rosenbrock", "beale", "saddle"] = "rosenbrock"
    steps: int = Field(300, ge=1, le=20_000)


Study = Annotated[Union[TuningStudy, BatchSizeStudy, CrossValidationStudy,  # noqa: UP007
                        BiasVarianceStudy, TrajectoryStudy, SearchStudy], Field(discriminator="kind")]

