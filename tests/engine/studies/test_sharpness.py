"""Sharpness on quadratics with known Hessians, and on a small trained net."""

import math

import pytest
import torch

from engine import preset
from engine.runner import make_cohort
from engine.studies.sharpness import net_loss_fn, perturbed_loss_increase, top_hessian_eigenvalue


def _quadratic(A: torch.Tensor):
    """loss_k(p) = 1/2 p^T A_k p: its Hessian is A_k everywhere."""
    return lambda P: 0.5 * torch.einsum("kd,kde,ke->k", P, A, P)


def _sym(K: int, D: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    M = torch.randn(K, D, D, generator=g, dtype=torch.float64)
    return (M + M.transpose(1, 2)) / 2


def test_top_eigenvalue_of_quadratics_matches_eigvalsh():
    A = _sym(4, 12, 0) + 6 * torch.eye(12, dtype=torch.float64)  # positive definite, 4 different runs
    P = torch.randn(4, 12, dtype=torch.float64)
    lam, _ = top_hessian_eigenvalue(_quadratic(A), P, iters=2000, tol=1e-13)
    assert lam.tolist() == pytest.approx(torch.linalg.eigvalsh(A)[:, -1].tolist(), rel=1e-6)


def test_saddle_reports_top_not_largest_magnitude():
    # Eigenvalues -10, 1, 2, 3 in a random basis: power iteration alone would say -10.
    Q, _ = torch.linalg.qr(torch.randn(4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3)))
    A = (Q @ torch.diag(torch.tensor([-10.0, 1.0, 2.0, 3.0], dtype=torch.float64)) @ Q.T).unsqueeze(0)
    lam, _ = top_hessian_eigenvalue(_quadratic(A), torch.ones(1, 4, dtype=torch.float64),
                                    iters=3000, tol=1e-13)
    assert lam.item() == pytest.approx(3.0, rel=1e-6)


def test_perturbation_increase_matches_trace_formula():
    # At the minimum, E[1/2 r^2 u^T A u] over unit directions u is r^2 tr(A) / (2D).
    A = _sym(2, 10, 1) @ _sym(2, 10, 1)  # PSD
    r = 0.3
    inc = perturbed_loss_increase(_quadratic(A), torch.zeros(2, 10, dtype=torch.float64), r, n_dirs=4000)
    expected = r**2 * torch.diagonal(A, dim1=1, dim2=2).sum(1) / (2 * 10)
    assert inc["mean"].tolist() == pytest.approx(expected.tolist(), rel=0.05)


def test_trained_net_sharpness_is_finite_positive_and_exact():
    spec = preset("seed-wave", {"task": {"n": 400}, "net": {"hidden": [8, 8]}, "seeds": [0, 1],
                                "train": {"steps": 100, "eval_every": 100, "dtype": "float64"}})
    cohort = make_cohort(spec, [0, 1, 4, 5])  # SGD and Adam, two seeds each
    cohort.train(lambda ev: None)
    P = cohort.final_weights()
    loss = net_loss_fn(cohort.net, "regression", cohort.data.train, cohort.final_buffers())
    lam, _ = top_hessian_eigenvalue(loss, P, iters=300)
    increase = perturbed_loss_increase(loss, P, 0.05, relative=True)["mean"]
    assert all(math.isfinite(v) and v > 0 for v in lam.tolist())
    assert all(v > 0 for v in increase.tolist())
    # The vectorized power iteration agrees with the dense Hessian of one run (97 weights).
    H = torch.autograd.functional.hessian(lambda p: loss(p.unsqueeze(0))[0], P[2])
    assert lam[2].item() == pytest.approx(torch.linalg.eigvalsh(H)[-1].item(), rel=1e-3)
