"""What an optimizer definition holds: its hyperparameters, where its class comes from, how
the cohort trainer steps it. Plain data (no torch): the API validates specs with it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

# How an optimizer's update of one number depends on the others, which decides how a cohort
# may hand it the stacked (K, D) parameters (engine/torch_stepper.py):
# - "elementwise": each number's update reads only its own gradient history (Adam, Lion, ...):
#   the rows of many runs may be one tensor;
# - "per_tensor": the update reads a norm or a matrix of a whole tensor, or of all the
#   optimizer's tensors (LAMB's trust ratio and gradient clipping): each run gets its own
#   optimizer over its own per-layer views. Always correct, so the safe default.
Granularity = Literal["elementwise", "per_tensor"]


@dataclass(frozen=True)
class HParam:
    """One hyperparameter: its default and the allowed closed/open range."""

    name: str
    default: float | bool
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    doc: str = ""

    @property
    def kind(self) -> str:
        return "bool" if isinstance(self.default, bool) else "float"

    def range_text(self) -> str:
        if self.kind == "bool":
            return "true or false"
        lo = "(" if self.low_open else "["
        hi = ")" if self.high_open else "]"
        low = "-inf" if self.low is None else f"{self.low:g}"
        high = "inf" if self.high is None else f"{self.high:g}"
        return f"{lo}{low}, {high}{hi}"


@dataclass(frozen=True)
class OptimizerDef:
    name: str
    title: str
    torch_class: str  # the class's name in ``module``
    hparams: tuple[HParam, ...]
    fixed: dict[str, Any] = field(default_factory=dict)  # constructor arguments the name implies
    full_batch: bool = False
    doc: str = ""
    module: str = "torch.optim"
    distribution: str = "torch"  # the installed package that provides ``module`` (its version is recorded)
    granularity: Granularity = "elementwise"
    vectorized: bool = True  # a hand-written rule in engine/optimizers.py steps it; else the class does
    eval_mode: bool = False  # the class has train()/eval() modes (schedule-free): switched at evaluations

    @property
    def factory(self) -> str:
        return f"{self.module}.{self.torch_class}"

    def defaults(self) -> dict[str, float | bool]:
        return {h.name: h.default for h in self.hparams}

    def kwargs(self, hp: dict[str, Any]) -> dict[str, Any]:
        """Constructor arguments from a spec's flat hyperparameters: ``beta1``, ``beta2`` (and
        ``beta3``) go together as ``betas``, as torch.optim and the packages take them."""
        out = {k: v for k, v in hp.items() if not k.startswith("beta")}
        betas = [hp[b] for b in ("beta1", "beta2", "beta3") if b in hp]
        if betas:
            out["betas"] = tuple(betas)
        return out | self.fixed
