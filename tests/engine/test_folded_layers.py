"""Convolutions and batch norms with the runs folded into channels (engine/folded_layers.py)
compute, under vmap, what each run's own torch layer computes: outputs, gradients, second
derivatives (the Hessian studies) and running statistics.

Tolerance: float64; the two sides add the same products in another order, at most
B*H*W = 4 * 36 terms for a statistic or C*k*k = 36 for an output, and the backward chains a
handful of such sums, so they differ by some thousands of units in the last place (2.2e-16)
of the largest quantity of its kind (an output, a gradient): 1e-11 of that scale leaves a
margin and still catches a wrong run, channel or group (errors of order 1). Every test runs
at 1 and 2 threads (conftest.py)."""

import copy

import pytest
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from engine.folded_layers import FoldedBatchNorm, FoldedConv2d, fold_layers

pytestmark = pytest.mark.usefixtures("threads")

K, B = 3, 4
TOL = 1e-11


class Mixed(nn.Module):
    """A conv of every kind the folding handles, and both batch norm dimensionalities."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(2, 4, 3, padding=1, bias=True)
        self.bn = nn.BatchNorm2d(4, momentum=0.3)
        self.b = nn.Conv2d(4, 4, 3, stride=2, padding=2, dilation=2, groups=2, bias=False)
        self.c = nn.Conv2d(4, 6, 3, padding=1, padding_mode="reflect")
        self.same = nn.Conv2d(6, 6, 3, padding="same")  # keeps vmap's own rule
        self.head = nn.Linear(6, 5)
        self.bn1 = nn.BatchNorm1d(5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.bn(self.a(x)))
        h = self.same(self.c(self.b(h)))
        return self.bn1(torch.tanh(self.head(h.mean(dim=(-2, -1)))))


def runs() -> list[nn.Module]:
    out = []
    for seed in range(K):
        torch.manual_seed(seed)
        m = Mixed().double()
        with torch.no_grad():  # non-trivial affine parameters, so a swapped run shows
            for bn in (m.bn, m.bn1):
                bn.weight.uniform_(0.5, 1.5)
                bn.bias.uniform_(-0.5, 0.5)
        out.append(m)
    return out


def close(a: torch.Tensor, b: torch.Tensor, scale: float | None = None) -> bool:
    """Within TOL of ``scale``, by default the largest entry of ``b`` (at least 1)."""
    scale = max(float(b.detach().abs().max()), 1.0) if scale is None else scale
    return float((a - b).detach().abs().max()) <= TOL * scale


def cohort(models: list[nn.Module]):
    template = copy.deepcopy(models[0])
    assert fold_layers(template) == 5  # a, b, c, bn, bn1; not the "same"-padded conv
    assert isinstance(template.a, FoldedConv2d) and isinstance(template.bn1, FoldedBatchNorm)
    assert type(template.same) is nn.Conv2d
    params, buffers = stack_module_state(models)
    params = {k: v.detach().clone().requires_grad_() for k, v in params.items()}
    buffers = {k: v.clone() for k, v in buffers.items()}

    def forward(x: torch.Tensor, train: bool, shared: bool = False) -> torch.Tensor:
        template.train(train)
        return vmap(lambda p, b, xs: functional_call(template, (p, b), (xs,)),
                    in_dims=(0, 0, None if shared else 0))(params, buffers, x)
    return forward, params, buffers


@pytest.mark.parametrize("train", [True, False])
def test_a_cohort_of_folded_layers_computes_each_runs_own_layers(train: bool) -> None:
    models = runs()
    forward, params, buffers = cohort(models)
    torch.manual_seed(10)
    x = torch.randn(K, B, 2, 6, 6, dtype=torch.float64)
    y = forward(x, train)
    weights = torch.randn_like(y)
    (y * weights).sum().backward()
    for k, m in enumerate(models):
        m.train(train)
        yk = m(x[k])
        (yk * weights[k]).sum().backward()
        assert close(y[k], yk), f"run {k}: outputs"
        scale = max(float(p.grad.abs().max()) for p in m.parameters())
        for name, p in m.named_parameters():
            assert close(params[name].grad[k], p.grad, scale), f"run {k}: gradient of {name}"
        for name, b in m.named_buffers():
            assert close(buffers[name][k].double(), b.double()), f"run {k}: buffer {name}"


def test_a_shared_input_reaches_every_run_as_its_own_layers_see_it() -> None:
    models = runs()
    forward, _, _ = cohort(models)
    x = torch.randn(B, 2, 6, 6, dtype=torch.float64)
    y = forward(x, train=False, shared=True)
    for k, m in enumerate(models):
        assert close(y[k], m.eval()(x)), f"run {k}"


def test_second_derivatives_through_folded_layers_match_each_run() -> None:
    models = runs()
    forward, params, _ = cohort(models)
    x = torch.randn(K, B, 2, 6, 6, dtype=torch.float64)
    v = {k: torch.randn_like(p) for k, p in params.items()}
    loss = forward(x, train=True).square().sum()
    grads = torch.autograd.grad(loss, list(params.values()), create_graph=True)
    hvp = torch.autograd.grad(sum((g * v[k]).sum() for g, k in zip(grads, params, strict=True)),
                              list(params.values()))
    for k, m in enumerate(models):
        m.train()
        ps = list(m.parameters())
        gk = torch.autograd.grad(m(x[k]).square().sum(), ps, create_graph=True)
        gv = sum((g * v[n][k]).sum() for g, (n, _) in zip(gk, m.named_parameters(), strict=True))
        hk = torch.autograd.grad(gv, ps)
        scale = max(float(h.abs().max()) for h in hk)
        for i, name in enumerate(params):
            assert close(hvp[i][k], hk[i], scale), f"run {k}: Hessian-vector product of {name}"


def test_each_run_may_convolve_a_single_image() -> None:
    models = runs()
    template = copy.deepcopy(models[0])
    fold_layers(template)
    params, _ = stack_module_state(models)
    x = torch.randn(K, 2, 6, 6, dtype=torch.float64)  # per run (C, H, W), no batch dimension
    y = vmap(lambda p, xs: functional_call(template.a, {"weight": p["a.weight"], "bias": p["a.bias"]},
                                           (xs,)))(params, x)
    for k, m in enumerate(models):
        assert close(y[k], m.a(x[k])), f"run {k}"
