"""Engine-vs-reference comparisons, with tolerances derived from the arithmetic.

The vectorized engine and the reference (engine/reference.py) compute the same maths with
different kernels, so they round differently at every step; how far that carries depends
on the trajectory, not on a constant. Each check therefore measures the trajectory's own
sensitivity to rounding (its *noise*) and allows the engine ``C * noise + floor``:

- float64: a *twin* reference starts from the same weights moved by TWIN_ULPS units in
  the last place (random signs); noise is its distance from the reference, i.e. how much
  this trajectory amplifies a rounding-level difference.
- float32: the float64 reference stands in for the exact result, and the engine's
  distance from it is compared with torch's own float32 error: noise is the larger
  distance of two float32 references from it, the plain one and its twin. The engine
  must be as accurate as torch itself in float32.

Why C = 10: where a trajectory amplifies (chaotic runs; adaptive steps on gradients that
are mostly rounding), both differences start at rounding level and grow alike, but from
independent draws, so their ratio scatters: if the amplified part is one random
projection, P(ratio > 10) is ~6% against one noise draw and ~0.6% against the larger of
two, hence two draws in float32, where runs amplify most. The largest ratio measured (AMD
EPYC, 1 and 2 threads) is 1.6 in float64 and 1.4 in float32. (A sigmoid-based float32
tanh the engine once used drove one RMSprop run to 9.4: 3.4e-5 against torch's 3.6e-6.
With torch.tanh the same run is at 3.0e-6; engine/mlp.py.)
Why floor = steps * eps: where nothing amplifies, per-step differences of about one unit
of roundoff can still add up linearly, which a trajectory perturbed once does not show.
A real error (a wrong update rule, a lost term, a float32 cast in a float64 run, an lr off
by 1e-4) shows orders of magnitude above both; and a bound that is itself large checks
nothing, so it must stay below USEFUL (shorten the run otherwise).

Differences are the largest relative difference over the train-loss curves. References
are the yardstick: each is trained once per spec, at one thread, and the engine is
compared with them at every thread count the test runs at.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from engine import compare
from engine.reference import SequentialRuns
from engine.spec import ComparisonSpec

C = 10.0
TWIN_ULPS = 4
USEFUL = {"float64": 1e-6, "float32": 1e-3}  # a bound above this would pass nearly anything


@dataclass(frozen=True)
class Figure:
    """One run's measured difference and the bound it must stay within."""

    label: str
    seed: int
    engine: float  # engine vs reference
    noise: float  # twin vs reference (float64), torch float32 vs float64 (float32)
    bound: float

    def __str__(self) -> str:
        return (f"{self.label}/{self.seed}: engine {self.engine:.1e} noise {self.noise:.1e} "
                f"bound {self.bound:.1e}")


def floor(steps: int, dtype: str) -> float:
    return steps * torch.finfo(getattr(torch, dtype)).eps


def bound(noise: float, steps: int, dtype: str) -> float:
    return C * noise + floor(steps, dtype)


def perturb(runs: SequentialRuns, ulps: int) -> None:
    """Move every parameter by ``ulps`` units in its last place, signs from a fixed generator."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for model in runs.models:
            for p in model.parameters():
                signs = torch.randint(0, 2, p.shape, generator=g).to(p.dtype).mul_(2).sub_(1)
                p.mul_(1 + ulps * torch.finfo(p.dtype).eps * signs)


def reference(spec: ComparisonSpec, ulps: int = 0) -> SequentialRuns:
    """The reference trained to the end; with ``ulps``, its twin. Shared: do not train it further."""
    return _trained(spec.model_dump_json(), ulps)


@functools.cache
def _trained(spec_json: str, ulps: int) -> SequentialRuns:
    runs = SequentialRuns(ComparisonSpec.model_validate_json(spec_json))
    if ulps:
        perturb(runs, ulps)
    # One thread: with two on a busy machine, its many small kernels wait on each other.
    with _threads(1):
        for step in range(runs.steps):
            runs.step(step)
    return runs


@contextmanager
def _threads(n: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def curves(runs: SequentialRuns) -> dict[int, torch.Tensor]:
    return {k: torch.tensor(v, dtype=torch.float64) for k, v in runs.curves.items()}


def max_rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest |a - b| / |b|, elementwise."""
    return ((a - b).abs() / b.abs()).max().item()


def with_dtype(spec: ComparisonSpec, dtype: str) -> ComparisonSpec:
    return spec.model_copy(update={"train": spec.train.model_copy(update={"dtype": dtype})})


def check(spec: ComparisonSpec, name: str) -> list[Figure]:
    """Train the engine and the references, assert every run within its bound, return the figures."""
    figures = measure(spec)
    assert_within(name, figures, spec.train.dtype)
    return figures


def measure(spec: ComparisonSpec) -> list[Figure]:
    """Every run's difference from the reference, its noise and its bound, unchecked."""
    dtype, steps = spec.train.dtype, spec.train.steps
    ref = curves(reference(with_dtype(spec, "float64")))
    # The noise draws: the twin (float64); the float32 reference and its twin (float32).
    ulps = [TWIN_ULPS] if dtype == "float64" else [0, TWIN_ULPS]
    draws = [curves(reference(spec, u)) for u in ulps]
    figures = []
    for run, result in compare(spec).items():
        got = torch.tensor(result.curves["train_loss"][1], dtype=torch.float64)
        assert len(got) == len(ref[run]) == steps, result.label
        noise = max(max_rel(d[run], ref[run]) for d in draws)
        figures.append(Figure(result.label, result.seed, max_rel(got, ref[run]), noise,
                              bound(noise, steps, dtype)))
    return figures


def assert_within(name: str, figures: list[Figure], dtype: str) -> None:
    """Print the figures (shown with pytest -s: what the README quotes), then assert them."""
    print(f"\n[{name}, {torch.get_num_threads()} thread(s)] " + "; ".join(map(str, figures)))
    vague = [str(f) for f in figures if not f.bound <= USEFUL[dtype]]
    assert not vague, "bound too loose to check anything; shorten the run: " + "; ".join(vague)
    bad = [str(f) for f in figures if not f.engine <= f.bound]
    assert not bad, "engine outside C * noise + floor: " + "; ".join(bad)
