"""Any ``nn.Module`` trained as K runs at once, through torch.func.

The module is a template: its own tensors are never trained. Each run's parameters are a row
of ``P`` (in ``named_parameters()`` order, one layer per submodule), its buffers (batch
norm's running statistics) a row of each stacked buffer; ``functional_call`` runs the
template with one run's tensors and ``vmap`` maps that over the K rows, so the K forwards are
one batched computation and autograd's backward lands each run's gradient in its row of
``G`` (Stacked.bind). Batch norm computes and updates each run's statistics from its own
batch: vmap hands every run its slice of the stacked buffers.

Nothing here knows the architecture, so the mlp and the cnn can take this path too
(``net.path: functional``) and must agree with their hand-stacked forms.

Dropout. vmap refuses random ops, and masks drawn from torch's generator would differ by
cohort and be lost on resume. So every ``nn.Dropout`` of the template becomes a
``SharedDropout`` whose mask is an input: the trainer draws it per seed, layer and step
(engine/regularizers.dropout_masks: the arms of a seed share it, a resumed run redraws it,
the cohort's composition does not change it) and passes it in like a buffer.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.func import functional_call, vmap

from engine.folded_layers import fold_layers
from engine.layout import Layout, Param
from engine.stacked import Stacked


class SharedDropout(nn.Module):
    """Inverted dropout whose mask (0, or 1 / (1 - p) for a kept unit) is given as the buffer
    ``mask``, shaped like the input; the identity in eval mode or at p = 0."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p
        self.register_buffer("mask", torch.ones(0), persistent=False)
        self.shape: tuple[int, ...] = ()  # one example's input, measured when the net is built

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return h
        return h * self.mask


def share_dropout(module: nn.Module) -> list[tuple[str, SharedDropout]]:
    """Every nn.Dropout of ``module`` replaced in place by a SharedDropout of the same rate;
    returns them, in module order, with the names of their masks."""
    for m in list(module.modules()):
        for child_name, child in list(m.named_children()):
            if type(child) is nn.Dropout:
                setattr(m, child_name, SharedDropout(child.p))
    return [(f"{n}.mask" if n else "mask", m) for n, m in module.named_modules()
            if isinstance(m, SharedDropout)]


class FunctionalNet(Stacked):
    def __init__(self, module: nn.Module, in_dim: int):
        self.module = module
        self.dropouts = share_dropout(module)
        fold_layers(module)
        masks = {n for n, _ in self.dropouts}
        named = list(module.named_parameters())
        self.names = [n for n, _ in named]
        self.layout = _layout(named)
        self.buffer_names = [n for n, _ in module.named_buffers() if n not in masks]
        self.width = _widest(module, in_dim)
        self.buffers: list[torch.Tensor] = []

    @property
    def dropout_shapes(self) -> list[tuple[tuple[int, ...], float]]:
        """(one example's shape, rate) of each dropout with a rate above 0, in module order."""
        return [(m.shape, m.p) for _, m in self.dropouts if m.p > 0]

    def reset_buffers(self, K: int, device: torch.device, dtype: torch.dtype) -> None:
        """Each run's copy of the template's initial buffers; counters stay integers."""
        named = dict(self.module.named_buffers())
        self.buffers = [b.detach().to(device, dtype if b.is_floating_point() else b.dtype)
                        .unsqueeze(0).repeat(K, *[1] * b.dim())
                        for b in (named[n] for n in self.buffer_names)]

    def forward(self, layers: list[tuple[torch.Tensor, ...]], x: torch.Tensor, *, train: bool = False,
                hook: Callable[[torch.Tensor], torch.Tensor] | None = None,
                buffers: list[torch.Tensor] | None = None,
                masks: list[torch.Tensor] | None = None) -> torch.Tensor:
        """x: (K, B, in) per-run batches, or (N, in) shared by all runs -> (K, B|N, out).

        ``train`` puts the template in training mode (batch statistics, updated running
        ones); ``buffers`` overrides the running statistics (e.g. those of a subset of rows);
        ``masks``: (K, B, *shape) of each dropout of ``dropout_shapes``, needed in training."""
        if hook is not None:
            raise ValueError("dropout and noise hooks act between the stacked mlp's layers; "
                             "a module has none")
        params = dict(zip(self.names, (t for layer in layers for t in layer), strict=True))
        stats = dict(zip(self.buffer_names, self.buffers if buffers is None else buffers, strict=True))
        active = [n for n, m in self.dropouts if m.p > 0]
        if train and active:
            if masks is None:
                raise ValueError("a module with dropout trains with its masks "
                                 "(engine/regularizers.dropout_masks)")
            stats |= dict(zip(active, masks, strict=True))
        self.module.train(train)
        shared = x.dim() == 2

        def one_run(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], xs: torch.Tensor) -> torch.Tensor:
            return functional_call(self.module, (p, b), (xs,))

        return vmap(one_run, in_dims=(0, 0, None if shared else 0), randomness="error")(params, stats, x)


def _layout(named: list[tuple[str, nn.Parameter]]) -> Layout:
    """One layer per owning submodule, in order; matrices and kernels are weights (L2, Muon's
    matrices), vectors are biases and norm parameters."""
    layers: dict[str, list[Param]] = {}
    for name, p in named:
        owner = name.rpartition(".")[0]
        role = "weight" if p.dim() > 1 else "bias"
        layers.setdefault(owner, []).append(Param(tuple(p.shape), tuple(p.shape), role))
    return list(layers.values())


def _widest(module: nn.Module, in_dim: int) -> int:
    """The most activations one example makes in any submodule: how the trainer sizes its
    evaluation blocks and picks its thread count; and the input shape of each SharedDropout.
    Measured once, in eval mode (no running statistic changes), on a zero example."""
    sizes: list[int] = []

    def record(m: nn.Module, inputs: tuple[object, ...], out: object) -> None:
        if torch.is_tensor(out):
            sizes.append(out.numel())
        if isinstance(m, SharedDropout) and inputs and torch.is_tensor(inputs[0]):
            m.shape = tuple(inputs[0].shape[1:])  # one example's (the dry run's batch is 1)

    hooks = [m.register_forward_hook(record) for m in module.modules()]
    was_training = module.training
    try:
        module.eval()
        with torch.no_grad():
            p = next(module.parameters(), None)
            module(torch.zeros(1, in_dim, dtype=p.dtype if p is not None else torch.float32))
    finally:
        module.train(was_training)
        for h in hooks:
            h.remove()
    return max(sizes, default=1)
