"""The written-out MLP step (engine/mlp_grad.py) computes autograd's losses and gradients.

Bound: both paths evaluate the same products and differ only in the order of the sums over
the batch and over each layer's width. A float64 sum of n terms reordered moves by at most
about n * eps times the sum of their magnitudes; along the chain the counts add, so each
gradient entry may differ by (B + sum of widths) * eps times the largest gradient of its
tensor. Measured: about 1 eps (4e-16) at most. Every test runs at 1 and 2 threads.
"""

import pytest
import torch

from engine import mlp_grad
from engine.losses import loss_per_run
from engine.net_spec import NetSpec
from engine.nets import initial_weights, make_net
from engine.presets import preset
from engine.runner import make_cohort

pytestmark = pytest.mark.usefixtures("threads")

EPS = torch.finfo(torch.float64).eps


def _batch(kind: str, K: int, B: int, in_dim: int, classes: int, shared: bool, g: torch.Generator):
    lead = (B,) if shared else (K, B)
    x = torch.randn(*lead, in_dim, generator=g, dtype=torch.float64)
    if kind == "regression":
        return x, torch.randn(*lead, classes, generator=g, dtype=torch.float64)
    return x, torch.randint(0, classes, lead, generator=g)


@pytest.mark.parametrize("activation", sorted(mlp_grad.BACKWARD))
@pytest.mark.parametrize("kind", ["regression", "classification"])
@pytest.mark.parametrize(("K", "in_dim", "hidden", "shared"), [
    (5, 1, (64, 64), False),   # the seed net, one batch per run
    (3, 7, (16,), True),       # a full batch shared by every run
    (70, 3, (64, 32), False),  # more rows than one block: cut into blocks
])
def test_losses_and_gradients_equal_autograd(activation, kind, K, in_dim, hidden, shared, monkeypatch):
    spec = NetSpec(hidden=list(hidden), activation=activation)
    out_dim = 1 if kind == "regression" else 4
    B = 48
    net = make_net(spec, in_dim, out_dim)
    assert mlp_grad.supports(net, kind)
    P = torch.stack([initial_weights(spec, in_dim, out_dim, s) for s in range(K)])
    x, y = _batch(kind, K, B, in_dim, out_dim, shared, torch.Generator().manual_seed(K))
    if K > 64:  # blocks of 16 rows, the last one short
        monkeypatch.setattr(mlp_grad, "BLOCK_ELEMENTS", 16 * B * max(hidden))

    G_auto = torch.zeros_like(P)
    expected = loss_per_run(kind, net.forward(net.bind(P, G_auto), x, train=True), y)
    expected.sum().backward()

    G = torch.full_like(P, float("nan"))  # every entry must be written
    got = mlp_grad.forward_backward(net, net.views(P.detach()), net.views(G), x, y, kind)

    assert torch.equal(got, expected.detach())
    n = B + in_dim + sum(hidden) + out_dim
    for (gw, gb), (aw, ab) in zip(net.views(G), net.views(G_auto), strict=True):
        for mine, theirs in ((gw, aw), (gb, ab)):
            assert torch.isfinite(mine).all()
            bound = n * EPS * theirs.abs().amax(dim=tuple(range(1, theirs.dim())), keepdim=True)
            assert ((mine - theirs).abs() <= bound).all(), (mine - theirs).abs().max()


def test_the_trainer_takes_it_only_where_it_applies():
    def cohort(net: dict, regularization: dict | None = None):
        s = preset("seed-wave", {"net": net, "seeds": [0], "regularization": regularization,
                                 "task": {"n": 500}, "train": {"steps": 5}})
        return make_cohort(s, [0])

    assert cohort({"hidden": [8]}).written_out
    assert not cohort({"hidden": [8], "norm": "batch"}).written_out  # its backward is autograd's
    assert not cohort({"hidden": [8]}, {"dropout": 0.1}).written_out  # regularized runs use autograd


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_runs_gradient_does_not_depend_on_its_neighbours(dtype):
    """Bit for bit: the same run beside one other, among a few, and in a cohort cut into blocks.
    (A cohort of one run is left out: torch hands a batch of one to its single-matrix
    kernels, which round differently; autograd's gradients do the same.)"""
    spec = NetSpec(hidden=[64, 64], activation="tanh", init="kaiming_normal")
    net = make_net(spec, 1, 1)
    K = 80
    P = torch.stack([initial_weights(spec, 1, 1, s) for s in range(K)]).to(dtype)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(K, 64, 1, generator=g, dtype=dtype)
    y = torch.randn(K, 64, 1, generator=g, dtype=dtype)

    def grads(rows: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        G = torch.zeros(len(rows), P.shape[1], dtype=dtype)
        losses = mlp_grad.forward_backward(net, net.views(P[rows]), net.views(G), x[rows], y[rows],
                                           "regression")
        return losses, G

    full_losses, full = grads(list(range(K)))
    for rows in ([0, 77], [77, 5], [3, 40, 77], list(range(40, 80))):
        losses, G = grads(rows)
        assert torch.equal(losses, full_losses[rows]) and torch.equal(G, full[rows]), rows
