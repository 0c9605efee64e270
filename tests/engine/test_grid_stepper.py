"""A tuning grid trains as one block: rows that differ only in lr share a Stepper with a
(rows, 1) lr tensor. That must be exactly what one Stepper per learning rate computes."""

import pytest
import torch

from engine.design import plan_cohorts
from engine.optimizers import Stepper
from engine.presets import preset
from engine.registry import REGISTRY
from engine.runner import make_cohort
from engine.spec import ComparisonSpec

LRS = [1e-3, 3e-3, 1e-2, 3e-2]

# Defaults, plus every non-default branch of an update rule (weight decay, dampening,
# Adagrad's lr decay, centered RMSprop with momentum), since each branch treats lr its own way.
CASES = [(name, {}) for name, d in REGISTRY.items() if d.vectorized] + [
    ("sgd", {"weight_decay": 0.1}),
    ("momentum", {"dampening": 0.3, "weight_decay": 0.01}),
    ("adagrad", {"lr_decay": 0.05, "initial_accumulator_value": 0.1, "weight_decay": 0.01}),
    ("adadelta", {"weight_decay": 0.01}),
    ("rmsprop", {"momentum": 0.9, "centered": True, "weight_decay": 0.01}),
    ("adam", {"weight_decay": 0.01}),
    ("adamw", {"weight_decay": 0.5}),
]


@pytest.mark.parametrize(("name", "extra"), CASES, ids=[f"{n}-{'-'.join(e) or 'defaults'}" for n, e in CASES])
def test_per_row_lr_tensor_equals_one_stepper_per_lr(name, extra):
    hp = REGISTRY[name].defaults() | extra
    g = torch.Generator().manual_seed(0)
    rows, dim, steps = len(LRS), 7, 20
    start = torch.randn(rows, dim, generator=g, dtype=torch.float64)
    grads = torch.randn(steps, rows, dim, generator=g, dtype=torch.float64)

    block = start.clone()
    stepper = Stepper(name, hp, block)
    lr = torch.tensor(LRS, dtype=torch.float64).unsqueeze(1)
    alone = [start[k:k + 1].clone() for k in range(rows)]
    steppers = [Stepper(name, hp | {"lr": LRS[k]}, alone[k]) for k in range(rows)]
    for t in range(steps):
        # Gradients that depend on the weights, as in training (momentum and adaptive
        # states then see different inputs per row).
        stepper.step(block, grads[t] + 0.1 * block, lr)
        for k in range(rows):
            steppers[k].step(alone[k], grads[t, k:k + 1] + 0.1 * alone[k], LRS[k])
    expected = torch.cat(alone)
    assert not torch.equal(block, start)
    assert torch.allclose(block, expected, rtol=1e-12, atol=1e-14), (block - expected).abs().max()


def _lr_only_arms(optimizer: str, extra: dict) -> ComparisonSpec:
    d = preset("seed-wave", {"task": {"n": 300}, "net": {"hidden": [8]},
                            "train": {"steps": 30, "batch_size": 16, "eval_every": 30, "log_every": 10,
                                      "diag_every": 10, "dtype": "float64"}}).model_dump()
    d["arms"] = [{"optimizer": optimizer, "lr": lr, "label": f"{optimizer} {lr}", **extra} for lr in LRS]
    d["seeds"] = [0, 1]
    return ComparisonSpec.model_validate(d)


# Adam also carries a schedule and clipping: both act on top of the per-row lr.
@pytest.mark.parametrize(("optimizer", "extra"), [
    ("adam", {"schedule": {"kind": "cosine", "warmup_steps": 5}, "clip_grad_norm": 0.5}),
    ("momentum", {"momentum": 0.9}),
    ("adagrad", {"lr_decay": 0.01}),
])
def test_cohort_of_lr_only_arms_matches_each_arm_alone(optimizer, extra):
    spec = _lr_only_arms(optimizer, extra)
    (group,) = plan_cohorts(spec)
    cohort = make_cohort(spec, group)
    # The whole grid is one block with a per-row lr: the path this test is about.
    assert len(cohort.blocks) == 1 and tuple(cohort.blocks[0].lr.shape) == (len(group), 1)
    cohort.train(lambda ev: None)
    together = cohort.final_weights()
    for a, arm in enumerate(spec.arms):
        single = spec.model_copy(update={"arms": [arm]})
        (rows,) = plan_cohorts(single)
        alone = make_cohort(single, rows)
        assert isinstance(alone.blocks[0].lr, float)
        alone.train(lambda ev: None)
        mine = together[a * len(spec.seeds):(a + 1) * len(spec.seeds)]
        assert torch.allclose(mine, alone.final_weights(), rtol=1e-10, atol=1e-12), arm.display()
