"""Sharpness of trained solutions: is a minimum flat or sharp?

The notes claim small batches find flat minima and large batches sharp ones that
generalise worse. Two standard measures, both computed for the K stacked runs at once:

- the top eigenvalue of the training-loss Hessian, by power iteration on Hessian-vector
  products (double backward through the loss; the Hessian is never formed). Runs are
  independent rows of P, so the Hessian of sum_k loss_k is block diagonal and one HVP of
  the summed loss gives every run's own H_k v_k;
- the mean loss increase under random weight perturbations of a given radius. Every run
  is perturbed along the same seeded directions, so runs are compared on equal terms.

A ``loss_fn`` maps weights P (K, D) to per-run losses (K,).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from engine.losses import loss_per_run
from engine.mlp import StackedMLP
from engine.tasks import Split

LossFn = Callable[[torch.Tensor], torch.Tensor]


def net_loss_fn(net: StackedMLP, kind: str, split: Split,
                buffers: list[torch.Tensor] | None = None) -> LossFn:
    """Per-run loss of a stacked net on a whole split (shared by all runs), in eval mode.

    ``buffers``: batch norm's running statistics to evaluate with (default the net's own);
    they must have P's dtype, since F.batch_norm does not mix precisions."""
    return lambda P: loss_per_run(kind, net.forward(net.views(P), split.x, buffers=buffers), split.y)


def hvp_operator(loss_fn: LossFn, P: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """V (K, D) -> (H_k v_k) for every run k.

    The gradient graph is built once and kept, so each product costs one backward pass.
    """
    P = P.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(loss_fn(P).sum(), P, create_graph=True)

    def hv(V: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            (out,) = torch.autograd.grad(grad, P, grad_outputs=V, retain_graph=True)
        return out.detach()

    return hv


def _power_iteration(op: Callable[[torch.Tensor], torch.Tensor], V: torch.Tensor, iters: int,
                     tol: float) -> tuple[torch.Tensor, int]:
    """Dominant eigenvalue (largest magnitude) of a per-row linear operator; V (K, D) is the start."""
    V = V / V.norm(dim=1, keepdim=True)
    lam = torch.zeros(V.shape[0], dtype=V.dtype, device=V.device)
    used = 0
    for used in range(1, iters + 1):  # noqa: B007 -- the count is returned
        W = op(V)
        new = (V * W).sum(1)  # Rayleigh quotient, v has unit norm
        V = W / W.norm(dim=1, keepdim=True).clamp_min(torch.finfo(W.dtype).tiny)
        # One host sync per iteration for the stopping test; iterations are few. A row that
        # is not finite (a diverged run's weights) never converges: it must not hold every
        # other run to the full iteration count.
        settled = ((new - lam).abs() <= tol * new.abs().clamp_min(1e-12)) | ~torch.isfinite(new)
        done = bool(settled.all())
        lam = new
        if done:
            break
    return lam, used


def top_hessian_eigenvalue(loss_fn: LossFn, P: torch.Tensor, iters: int = 100, tol: float = 1e-4,
                           seed: int = 0) -> tuple[torch.Tensor, int]:
    """Largest (algebraic) Hessian eigenvalue of each run's loss at P: (K,), and iterations used.

    Power iteration finds the eigenvalue of largest magnitude. If that is negative (the
    run sits near a saddle), a second pass on H - lam*I, whose spectrum is shifted to be
    non-negative, finds lam_max - lam; adding lam back gives lam_max.
    """
    hv = hvp_operator(loss_fn, P)
    g = torch.Generator().manual_seed(seed)
    V0 = torch.randn(P.shape, generator=g, dtype=P.dtype).to(P.device)
    lam, used = _power_iteration(hv, V0, iters, tol)
    neg = lam < 0
    if bool(neg.any()):
        shift = torch.where(neg, lam, torch.zeros_like(lam)).unsqueeze(1)
        top, more = _power_iteration(lambda V: hv(V) - shift * V, V0, iters, tol)
        lam, used = torch.where(neg, top + shift.squeeze(1), lam), used + more
    return lam, used


@torch.no_grad()
def perturbed_loss_increase(loss_fn: LossFn, P: torch.Tensor, radius: float, n_dirs: int = 8,
                            seed: int = 0, relative: bool = False) -> dict[str, torch.Tensor]:
    """Mean and std over ``n_dirs`` random directions of loss(P + radius * u) - loss(P), per run.

    u is a uniformly random unit direction, the same for every run. With ``relative`` the
    radius is a fraction of each run's weight norm, so nets of different scale compare.
    """
    base = loss_fn(P)
    g = torch.Generator().manual_seed(seed)
    r = radius * (P.norm(dim=1, keepdim=True) if relative else torch.ones_like(P[:, :1]))
    incs = []
    for _ in range(n_dirs):
        u = torch.randn(P.shape[1], generator=g, dtype=P.dtype).to(P.device)
        incs.append(loss_fn(P + r * (u / u.norm())) - base)
    inc = torch.stack(incs)  # (n_dirs, K)
    return {"mean": inc.mean(0), "std": inc.std(0) if n_dirs > 1 else torch.zeros_like(base)}
