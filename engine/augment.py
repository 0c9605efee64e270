"""Image operations for the data regularizers, on a batch of (N, C, H, W) images.

Every function takes its random parameters as tensors (drawn elsewhere, see
engine/regularizers.py), so it is deterministic and easy to test.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def shift_rotate(img: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Shift each image by (dx, dy) pixels and rotate it by ``angle`` radians about its centre.

    img (N, C, H, W); dx, dy, angle (N,). Bilinear resampling with zero fill, so an integer
    shift moves pixels exactly and what leaves the frame is lost."""
    N, _, H, W = img.shape
    cos, sin = torch.cos(angle), torch.sin(angle)
    # affine_grid maps output to input coordinates in [-1, 1]: content moves by +d when the
    # sampling grid moves by -d (2/W per pixel).
    theta = torch.stack([torch.stack([cos, -sin, -2 * dx / W], 1),
                         torch.stack([sin, cos, -2 * dy / H], 1)], 1)  # (N, 2, 3)
    grid = F.affine_grid(theta.to(img.dtype), list(img.shape), align_corners=False)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def box_mask(shape: tuple[int, int], y0: torch.Tensor, y1: torch.Tensor, x0: torch.Tensor,
             x1: torch.Tensor) -> torch.Tensor:
    """(N, H, W) bool, True in rows [y0, y1) and columns [x0, x1) of each image; bounds (N,) ints."""
    H, W = shape
    rows = torch.arange(H, device=y0.device).view(1, H, 1)
    cols = torch.arange(W, device=y0.device).view(1, 1, W)
    y0, y1, x0, x1 = (t.view(-1, 1, 1) for t in (y0, y1, x0, x1))
    return (rows >= y0) & (rows < y1) & (cols >= x0) & (cols < x1)


def cutout(img: torch.Tensor, cy: torch.Tensor, cx: torch.Tensor, size: int) -> torch.Tensor:
    """Zero a size x size square centred at (cy, cx) in each image, clipped at the border
    (DeVries & Taylor 2017: the centre may lie anywhere, so boxes can be partly outside)."""
    y0, x0 = cy - size // 2, cx - size // 2
    inside = box_mask(img.shape[-2:], y0, y0 + size, x0, x0 + size)
    return img.masked_fill(inside.unsqueeze(1), 0.0)


def cutmix_box(H: int, W: int, lam: float, cy: int, cx: int) -> tuple[int, int, int, int]:
    """CutMix's box (Yun et al. 2019): side ratio sqrt(1 - lam), centred at (cy, cx), clipped.

    Returns (y0, y1, x0, x1); the label weight is then 1 - box area / (H W)."""
    r = (1.0 - lam) ** 0.5
    ch, cw = int(H * r), int(W * r)
    return (max(cy - ch // 2, 0), min(cy + ch // 2, H), max(cx - cw // 2, 0), min(cx + cw // 2, W))
