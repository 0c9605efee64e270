"""What an optimizer definition holds: its hyperparameters, where its class comes from, how
the cohort trainer steps it. Plain data (no torch): the API validates specs with it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field

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
    default: float | int | bool
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    doc: str = ""
    log: bool = False  # searched on a log scale (its range must then be positive)

    @property
    def kind(self) -> str:
        if isinstance(self.default, bool):
            return "bool"
        return "int" if isinstance(self.default, int) else "float"

    def range_text(self) -> str:
        if self.kind == "bool":
            return "true or false"
        lo = "(" if self.low_open else "["
        hi = ")" if self.high_open else "]"
        low = "-inf" if self.low is None else f"{self.low:g}"
        high = "inf" if self.high is None else f"{self.high:g}"
        return f"{lo}{low}, {high}{hi}"


def hparam_field(h: HParam) -> tuple[Any, Any]:
    """A pydantic field (type, Field) that accepts exactly ``h``'s values."""
    if h.kind == "bool":
        return (bool, Field(h.default, description=h.doc))
    kw: dict[str, Any] = {"allow_inf_nan": False, "description": f"{h.doc} {h.range_text()}".strip()}
    if h.kind == "int":
        kw.pop("allow_inf_nan")
    if h.low is not None:
        kw["gt" if h.low_open else "ge"] = h.low
    if h.high is not None:
        kw["lt" if h.high_open else "le"] = h.high
    return (int if h.kind == "int" else float, Field(h.default, **kw))


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
    plugin: bool = False  # from an installed package's entry point (engine/plugins.py)
    betas_tuple: bool = True  # beta1..beta3 reach the class as ``betas``, as torch.optim's take them

    @property
    def factory(self) -> str:
        return f"{self.module}.{self.torch_class}"

    def defaults(self) -> dict[str, float | bool]:
        return {h.name: h.default for h in self.hparams}

    def kwargs(self, hp: dict[str, Any]) -> dict[str, Any]:
        """Constructor arguments from a spec's flat hyperparameters: ``beta1``, ``beta2`` (and
        ``beta3``) go together as ``betas``, as torch.optim and the packages take them."""
        if not self.betas_tuple:
            return dict(hp) | self.fixed
        out = {k: v for k, v in hp.items() if not k.startswith("beta")}
        betas = [hp[b] for b in ("beta1", "beta2", "beta3") if b in hp]
        if betas:
            out["betas"] = tuple(betas)
        return out | self.fixed


@dataclass(frozen=True)
class OptimizerPlugin:
    """What a plugin package exports under the entry-point group ``optarena.optimizers``.

    ``factory`` is an optimizer class, or a module-level function ``(params, lr=..., **hp)``
    returning one; it receives every hyperparameter by name. ``hparams`` must include ``lr``
    (schedules and tuning set it). An optimizer whose update of one number reads others (a
    layer's norm, a matrix) is ``per_tensor``, the default, which is always correct;
    ``elementwise`` lets one instance step many runs' rows at once."""

    name: str
    factory: Callable[..., Any]
    hparams: tuple[HParam, ...]
    granularity: Granularity = "per_tensor"
    title: str = ""
    doc: str = ""
    eval_mode: bool = False


def hparam_json(h: HParam) -> dict[str, Any]:
    """A hyperparameter (or a model's setting) as the catalogues list it and workers publish it."""
    return {"name": h.name, "type": h.kind, "default": h.default, "min": h.low, "max": h.high,
            "min_exclusive": h.low_open, "max_exclusive": h.high_open, "log": h.log,
            "range": h.range_text(), "description": h.doc}


def hparam_from_json(h: dict[str, Any]) -> HParam:
    return HParam(h["name"], h["default"], h["min"], h["max"], h.get("min_exclusive", False),
                  h.get("max_exclusive", False), h.get("description", ""), h.get("log", False))


def describe(d: OptimizerDef, version: str | None) -> dict[str, Any]:
    """An optimizer as JSON: GET /optimizers shows it and workers publish it (models/workers)."""
    return {
        "name": d.name, "title": d.title, "torch_class": d.factory, "module": d.module,
        "class_name": d.torch_class, "package": d.distribution, "version": version,
        "granularity": d.granularity, "vectorized_rule": d.vectorized, "full_batch": d.full_batch,
        "eval_mode": d.eval_mode, "plugin": d.plugin, "description": d.doc,
        "hyperparameters": [hparam_json(h) for h in d.hparams],
    }


def from_description(x: dict[str, Any]) -> OptimizerDef:
    """The definition a worker published, as the API validates arms against it."""
    hparams = tuple(hparam_from_json(h) for h in x["hyperparameters"])
    return OptimizerDef(x["name"], x["title"], x["class_name"], hparams, full_batch=x["full_batch"],
                        doc=x["description"], module=x["module"], distribution=x["package"],
                        granularity=x["granularity"], vectorized=x["vectorized_rule"],
                        eval_mode=x["eval_mode"], plugin=x["plugin"], betas_tuple=not x["plugin"])
