"""The field's optimizers, run by their packages' classes over the stacked rows, compute what
one nn.Module and the same class per run compute; a wrong granularity shows; a resumed
cohort continues them exactly. At 1 and 2 threads (conftest.py).

Tolerance: 1e-9 relative in float64 over 200 steps, on trajectories that are not chaotic
(each run's own rounding noise, tests/engine/agreement.py, stays below 1e-10, so 1e-9 tells a
wrong rule from amplified rounding). The nine hand-written rules are held to the tighter bound
of 10x that noise; LAMB, whose trust ratio divides two norms every step, measured 40x (3.8e-13
against a noise of 9.5e-15, lr 5e-3, seed 0, at 1 and 2 threads), so that bound does not fit
it: the noise twin is perturbed once, while the two computations differ by rounding at every
step. 1e-9 is still 10,000x below what a wrong rule gives (a per-tensor rule handed whole
rows: see below).

Muon's Newton-Schulz iterations run in bfloat16 inside the class (pytorch-optimizer 4.1.0
casts to it and takes no dtype), so its update direction has bfloat16 precision even in a
float64 run. Both sides still compute the same: the iteration's input differs between them
by float64 rounding (~1e-16 relative), which casts to the same bfloat16 number unless it lies
within that distance of a rounding boundary, and identical inputs give identical products.
So Muon is held to the same bound and measured at the level of the others (6e-16 against a
noise of 2e-15, lr 1e-2, seeds 0 and 1, at 1 and 2 threads)."""

from __future__ import annotations

import dataclasses

import pytest

from engine.catalogue import CATALOGUE
from engine.reference import SequentialRuns
from engine.registry import REGISTRY
from engine.runner import make_cohort
from engine.spec import ComparisonSpec
from engine.torch_stepper import TorchStepper
from tests.engine.agreement import measure
from tests.engine.conftest import assert_resume_is_exact, small_wave

LR = {"lion": 1e-3, "lamb": 5e-3}  # Lion moves every weight by lr; LAMB at 1e-2 is chaotic here


def catalogue_spec(names: list[str], steps: int = 200, seeds: list[int] | None = None) -> ComparisonSpec:
    d = small_wave(steps=steps, dtype="float64", eval_every=50)
    # Two learning rates per optimizer, so elementwise classes step two param groups at once.
    d["arms"] = [{"optimizer": n, "lr": LR.get(n, 1e-2) * f, "label": f"{n} x{f}"} for n in names
                 for f in (1.0, 0.5)]
    d["seeds"] = seeds or [0, 1]
    return ComparisonSpec.model_validate(d)


@pytest.mark.usefixtures("threads")
def test_every_catalogue_optimizer_matches_its_class_per_run() -> None:
    figures = measure(catalogue_spec(list(CATALOGUE)))
    print("\n[catalogue, float64] " + "; ".join(map(str, figures)))
    assert len(figures) == 2 * 2 * len(CATALOGUE)
    assert max(f.noise for f in figures) <= 1e-10, "a chaotic run: lower its learning rate"
    assert max(f.engine for f in figures) <= 1e-9, [str(f) for f in figures if f.engine > 1e-9]


def test_a_per_tensor_optimizer_declared_elementwise_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """LAMB's trust ratio is a norm per layer: handed a whole row as one tensor, it takes the
    norm over the net and trains something else, and the agreement check says so."""
    wrong = dataclasses.replace(REGISTRY["lamb"], granularity="elementwise")
    monkeypatch.setitem(REGISTRY, "lamb", wrong)
    figures = measure(catalogue_spec(["lamb"], seeds=[0]))
    assert min(f.engine for f in figures) > 1e-5, [str(f) for f in figures]


def test_muon_orthogonalizes_the_hidden_matrices_only() -> None:
    """The 1-64-64-1 net's one hidden matrix goes to Muon; the input and output layers'
    weights and every bias go to its AdamW part, per run, in the engine as in the reference."""
    spec = catalogue_spec(["muon"], steps=1, seeds=[0])
    stepper = make_cohort(spec, [0]).blocks[0].stepper
    assert isinstance(stepper, TorchStepper) and len(stepper.optimizers) == 1
    reference = SequentialRuns(spec)._runs[0].optimizer.param_groups
    assert _shapes(stepper.optimizers[0].param_groups) == _shapes(reference) == [
        (True, [(64, 64)]), (False, [(64, 1), (64,), (64,), (1, 64), (1,)])]
    assert [g["lr"] for g in reference] == [1e-2, 3e-4]  # adamw_lr: the class's default


def _shapes(groups: list[dict]) -> list[tuple[bool, list[tuple[int, ...]]]]:
    return [(g["use_muon"], [tuple(p.shape) for p in g["params"]]) for g in groups]


def test_resumed_cohort_continues_catalogue_optimizers_exactly() -> None:
    assert_resume_is_exact(catalogue_spec(["lion", "adamw_schedulefree", "lamb", "muon"], steps=200), at=100)
