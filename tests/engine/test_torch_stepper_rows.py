"""A package's optimizer class continues the rows that stay in a cohort when others leave (a
search's pruned trials): a stepper built over the surviving rows and given their state steps
them as the stepper over every row would have."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch.optim import SGD
from torch.optim.optimizer import register_optimizer_step_post_hook

from engine.layout import dense_layout
from engine.net_spec import NetSpec
from engine.optimizer_defs import HParam, OptimizerDef, OptimizerPlugin
from engine.plugins import definition
from engine.registry import REGISTRY
from engine.torch_stepper import TorchStepper
from engine.train_spec import Lookahead

LAYOUT = dense_layout(NetSpec(hidden=[4, 3]), 2, 1, norm=False)
D = sum(q.numel for layer in LAYOUT for q in layer)
# Rows 0, 2 and 3 share a rate: once row 1 leaves, two of the old groups become one.
LRS = [1e-2, 2e-2, 1e-2, 1e-2, 3e-2]
KEEP = [0, 2, 3, 4]

# A class that declares no granularity: one optimizer per run.
PER_RUN = definition(OptimizerPlugin("mine", SGD, (HParam("lr", 0.1, 0.0, None, low_open=True),
                                                   HParam("momentum", 0.9, 0.0, 1.0))), "mine")


def _case(name: str, **hp: Any) -> tuple[OptimizerDef, dict[str, Any], Lookahead | None]:
    d = REGISTRY[name]
    return d, {h.name: h.default for h in d.hparams} | hp, None


CASES = {
    "lion (elementwise)": _case("lion"),
    "radam (elementwise, torch.optim)": _case("radam"),
    "lamb (per tensor, every run's views)": _case("lamb"),
    "muon (two group kinds)": _case("muon"),
    "schedule-free (group counters)": _case("adamw_schedulefree"),
    "adam in lookahead (a wrapper's state)": (REGISTRY["adam"], _case("adam")[1], Lookahead(k=3)),
    "a plugin per run": (PER_RUN, {"lr": 0.1, "momentum": 0.9}, None),
}


def _stepper(case: tuple[OptimizerDef, dict[str, Any], Lookahead | None], P: torch.Tensor,
             G: torch.Tensor, lrs: list[float]) -> TorchStepper:
    d, hp, lookahead = case
    return TorchStepper(d, hp, P, G, lrs, LAYOUT, lookahead)


def _continued(case: tuple[OptimizerDef, dict[str, Any], Lookahead | None], adopt: bool,
               ) -> tuple[TorchStepper, torch.Tensor, TorchStepper, torch.Tensor]:
    """Seven steps of every row, then seven more of every row beside seven of the kept rows
    alone (with their state when ``adopt``)."""
    gen = torch.Generator().manual_seed(0)
    P = torch.randn(len(LRS), D, generator=gen, dtype=torch.float64)
    G = torch.zeros_like(P)
    whole = _stepper(case, P, G, LRS)
    grads = [torch.randn(len(LRS), D, generator=gen, dtype=torch.float64) for _ in range(14)]
    for g in grads[:7]:
        G.copy_(g + 0.1 * P)  # gradients that depend on the weights, as a loss's do
        whole.step(1.0)
    P2 = P[KEEP].clone()
    G2 = torch.zeros_like(P2)
    part = _stepper(case, P2, G2, [LRS[k] for k in KEEP])
    if adopt:
        part.adopt([(whole, k) for k in KEEP])
    for i, g in enumerate(grads[7:]):
        G.copy_(g + 0.1 * P)
        G2.copy_(G[KEEP])
        whole.step(0.5 + i / 14)  # a schedule's factor
        part.step(0.5 + i / 14)
    return whole, P, part, P2


@pytest.mark.parametrize("name", list(CASES))
def test_the_rows_that_stay_step_on_as_if_none_had_left(name: str) -> None:
    whole, P, part, P2 = _continued(CASES[name], adopt=True)
    # Equal up to rounding: a (rows, D) kernel may take its vector or its scalar path per element.
    torch.testing.assert_close(P2, P[KEEP], rtol=1e-12, atol=1e-14)
    with whole.evaluating(), part.evaluating():  # schedule-free's average moves with the rows
        torch.testing.assert_close(P2, P[KEEP], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", list(CASES))
def test_rows_that_leave_without_their_state_step_differently(name: str) -> None:
    """The check above can fail."""
    _, P, _, P2 = _continued(CASES[name], adopt=False)
    assert not torch.allclose(P2, P[KEEP], rtol=1e-6)


def test_step_hooks_registered_on_a_stepper_optimizer_still_run() -> None:
    """The stepper calls a class's step without torch.optim's wrapper while nothing hooks it;
    a hook registered on its optimizer (or globally) must still see every step."""
    P = torch.randn(len(LRS), D, dtype=torch.float64)
    G = torch.randn_like(P)
    stepper = _stepper(CASES["lion (elementwise)"], P, G, LRS)
    seen: list[str] = []
    before = P.clone()
    stepper.step(1.0)
    handles = [stepper.optimizers[0].register_step_pre_hook(lambda *_: seen.append("pre")),
               register_optimizer_step_post_hook(lambda *_: seen.append("post"))]
    try:
        stepper.step(1.0)
    finally:
        for h in handles:
            h.remove()
    stepper.step(1.0)
    assert seen == ["pre", "post"]
    assert not torch.equal(P, before)
