"""Lookahead around any optimizer: the cohort's rows, stepped by the arm's class wrapped in
pytorch-optimizer's Lookahead, compute what the same wrapper computes per run on a plain
nn.Sequential; a resumed cohort continues exactly; the option changes the path, and arms
with and without it train in one cohort. At 1 and 2 threads (conftest.py).

Tolerance as in test_catalogue.py: 1e-9 relative in float64 over 200 steps, on runs whose
own rounding noise stays below 1e-10."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from engine.design import plan_cohorts
from engine.runner import Collector, make_cohort
from engine.spec import ComparisonSpec
from engine.torch_stepper import TorchStepper
from tests.engine.agreement import measure
from tests.engine.conftest import assert_resume_is_exact, small_wave

# k that divide the evaluation interval (50) and k that do not; a schedule, so that the rates
# set on the wrapper's groups must reach the base; two learning rates of one optimizer in
# neighbouring arms, so one wrapper steps two groups; a per_tensor class (LAMB); schedule-free,
# whose train/eval switch at evaluations must reach the base.
ARMS = [
    {"optimizer": "sgd", "lr": 1e-2, "lookahead": {}, "label": "LA-SGD",
     "schedule": {"kind": "cosine", "warmup_steps": 20}},
    {"optimizer": "adam", "lr": 1e-3, "lookahead": {"k": 3, "alpha": 0.8}, "label": "LA-Adam"},
    {"optimizer": "adam", "lr": 5e-4, "lookahead": {"k": 3, "alpha": 0.8}, "label": "LA-Adam lr/2"},
    {"optimizer": "lion", "lr": 1e-3, "lookahead": {"k": 6}, "label": "LA-Lion"},
    {"optimizer": "lamb", "lr": 5e-3, "lookahead": {}, "label": "LA-LAMB"},
    {"optimizer": "adamw_schedulefree", "lr": 1e-2, "lookahead": {"k": 7}, "label": "LA-SF"},
    {"optimizer": "adam", "lr": 1e-3, "label": "Adam"},
]


def lookahead_spec(arms: list[dict] = ARMS, steps: int = 200) -> ComparisonSpec:
    d = small_wave(steps=steps, dtype="float64", eval_every=50) | {"arms": arms, "seeds": [0, 1]}
    return ComparisonSpec.model_validate(d)


@pytest.mark.usefixtures("threads")
def test_lookahead_matches_the_wrapper_per_run() -> None:
    figures = measure(lookahead_spec())
    print("\n[lookahead, float64] " + "; ".join(map(str, figures)))
    assert len(figures) == 2 * len(ARMS)
    assert max(f.noise for f in figures) <= 1e-10, "a chaotic run: lower its learning rate"
    assert max(f.engine for f in figures) <= 1e-9, [str(f) for f in figures if f.engine > 1e-9]


def test_lookahead_changes_the_path_in_a_shared_cohort() -> None:
    spec = lookahead_spec([ARMS[1], ARMS[6]], steps=60)
    (cohort,) = plan_cohorts(spec)  # with and without Lookahead: one cohort
    trained = make_cohort(spec, cohort)
    assert [type(b.stepper).__name__ for b in trained.blocks] == ["TorchStepper", "Stepper"]
    assert isinstance(trained.blocks[0].stepper, TorchStepper)
    results = Collector()
    trained.train(results)
    wrapped, plain = (results.runs[r].curves["train_loss"][1] for r in (0, 2))  # seed 0 of each arm
    # The same path (to rounding: torch.optim's Adam against the hand-written rule) until the
    # first synchronization, after k = 3 steps; another one from there on.
    rel = [abs(a - b) / abs(b) for a, b in zip(wrapped, plain, strict=True)]
    assert wrapped[0] == plain[0] and max(rel[:3]) < 1e-12
    assert rel[3] > 1e-6 and rel[-1] > 1e-3, (rel[3], rel[-1])


def test_resumed_lookahead_cohort_continues_exactly() -> None:
    # k = 3 does not divide 100: the checkpoint falls between synchronizations.
    assert_resume_is_exact(lookahead_spec(ARMS[1:3]), at=100)


@pytest.mark.parametrize(("patch", "loc"), [
    ({"arms": [{"optimizer": "adam", "lookahead": {"alpha": 1.0}}]},
     ("arms", 0, "adam", "lookahead", "alpha")),
    ({"arms": [{"optimizer": "adam", "lookahead": {"k": 0}}]}, ("arms", 0, "adam", "lookahead", "k")),
    ({"arms": [{"optimizer": "adam", "lookahead": {}}], "study": {"kind": "trajectories"}}, ("study",)),
    ({"arms": [{"optimizer": "adam", "sam": {}}], "study": {"kind": "trajectories"}}, ("study",)),
])
def test_a_wrapper_that_would_be_refused_or_ignored_is_a_field_error(patch: dict, loc: tuple) -> None:
    """alpha = 1 is refused by the package, so by the spec; the 2-D trajectories step bare rules."""
    with pytest.raises(ValidationError) as info:
        ComparisonSpec.model_validate(small_wave() | patch)
    assert [e["loc"] for e in info.value.errors()] == [loc]
