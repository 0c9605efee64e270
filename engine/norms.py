"""Normalization layers for stacked runs (engine/reference.py writes their nn.Module twins).

Two layouts occur in a stacked net:
- dense: h (K, B, H), affine parameters (K, 1, H);
- conv:  h (B, K*C, Hh, Ww), run k's channels are the block [k*C, (k+1)*C), affine (K, C).

Every normalization here reduces within one run only: batch norm over that run's own
batch (its (K*C)-channel input to F.batch_norm keeps runs apart channel by channel),
group/layer/instance norm within one example and one run's channel groups. Batch norm's
running statistics are per run, (K, C) buffers owned by the net and checkpointed by the
cohort; evaluation uses them, training uses the batch statistics (torch's semantics,
including the unbiased running variance).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

EPS = 1e-5
MOMENTUM = 0.1  # torch's default for the running statistics


def dense_norm(kind: str, h: torch.Tensor, w: torch.Tensor, b: torch.Tensor,
               stats: tuple[torch.Tensor, torch.Tensor] | None, train: bool, groups: int) -> torch.Tensor:
    """Normalize h (K, B, H) per run; w, b (K, 1, H); stats (K, H) running mean and var."""
    K, B, H = h.shape
    if kind == "batch":
        assert stats is not None
        flat = h.transpose(0, 1).reshape(B, K * H)  # channel k*H + j is run k's feature j
        out = F.batch_norm(flat, stats[0].view(-1), stats[1].view(-1), w.reshape(-1), b.reshape(-1),
                           train, MOMENTUM, EPS)
        return out.view(B, K, H).transpose(0, 1)
    if kind == "layer":
        return torch.addcmul(b, F.layer_norm(h, (H,), eps=EPS), w)
    if kind == "group":
        return torch.addcmul(b, F.group_norm(h.reshape(K * B, H), groups, eps=EPS).view(K, B, H), w)
    raise ValueError(f"norm {kind!r} has no dense form")


def conv_norm(kind: str, h: torch.Tensor, w: torch.Tensor, b: torch.Tensor,
              stats: tuple[torch.Tensor, torch.Tensor] | None, train: bool, groups: int) -> torch.Tensor:
    """Normalize h (B, K*C, Hh, Ww) per run; w, b (K, C); stats (K, C)."""
    K = w.shape[0]
    wf, bf = w.reshape(-1), b.reshape(-1)
    if kind == "batch":
        assert stats is not None
        return F.batch_norm(h, stats[0].view(-1), stats[1].view(-1), wf, bf, train, MOMENTUM, EPS)
    if kind == "instance":
        return F.instance_norm(h, weight=wf, bias=bf, eps=EPS)
    # Groups are contiguous channel blocks, so K*groups groups never straddle two runs.
    n_groups = K * (1 if kind == "layer" else groups)
    return F.group_norm(h, n_groups, wf, bf, EPS)


def new_stats(K: int, width: int, device: torch.device, dtype: torch.dtype) -> list[torch.Tensor]:
    """Fresh running mean (zeros) and variance (ones), (K, width) each, as torch initializes them."""
    return [torch.zeros(K, width, device=device, dtype=dtype),
            torch.ones(K, width, device=device, dtype=dtype)]


