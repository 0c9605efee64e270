"""A package's optimizer class stepping a block of a cohort's stacked parameters.

The parameters it is given are views into the cohort's (K, D) matrix ``P`` and their
gradients the matching views of ``G``, so the class updates the cohort in place and the
forward/backward stays one stacked computation. How they are cut depends on the
optimizer's granularity (engine/optimizer_defs.py):

- elementwise: one optimizer; each arm's rows are one (runs, D) parameter in a param group
  of its own, so arms of a tuning grid keep their own learning rates (every class here
  takes per-group ``lr``). The step's cost does not grow with a loop over runs.
- per_tensor: each run's per-layer views with their nn.Module shapes, so norms and trust
  ratios see one layer of one run. A class that may couple its tensors (a global clipping
  norm) gets one optimizer per run; one that reads single tensors only (engine/catalogue.py
  ``TENSOR_LOCAL``: LAMB, Muon) one optimizer over every run's views, a group per learning
  rate as above, stepped once. A class that takes two kinds of group (Muon:
  ``MATRIX_GROUPS``) gets each run's hidden weight matrices in one and everything else in the
  other, as its documentation asks.

Schedules scale each group's own base ``lr`` before every step (Muon's two groups have two
rates). A class with train/eval modes (schedule-free) is put in eval mode around evaluations
(``eval_mode``).

An arm with ``lookahead`` has every optimizer instance wrapped in pytorch-optimizer's
``Lookahead``; the built-in optimizers then run as their torch.optim class instead of the
hand-written rule. Its slow weights are one copy per parameter, so the wrapper keeps the
base's granularity; its param groups are the base's own, so ``lr`` set on them reaches the
base; its counter lives in the groups and its slow weights in its state dict, so both are
checkpointed. Evaluations see the weights the net holds (the fast ones; right after a
synchronization, every ``k`` steps, those are the slow weights).

Rows can leave a block (a search's pruned trials): a stepper built over the surviving rows
``adopt``s their state. Every stepper records which of its parameters hold each row (a row of
an elementwise (rows, D) parameter, or a run's own per-layer views), so the state of each
parameter, the wrapper's and the base's, moves to the parameter that now holds the row.
"""

from __future__ import annotations

import copy
import importlib
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch.optim import optimizer as torch_optimizer

from engine.catalogue import MATRIX_GROUPS, TENSOR_LOCAL
from engine.layout import Layout
from engine.optimizer_defs import OptimizerDef
from engine.train_spec import Lookahead

# Where one row lives in a stepper: (optimizer index, parameter, row within it or None when
# the parameter belongs to that row alone).
Slot = tuple[int, torch.Tensor, int | None]


def optimizer_class(d: OptimizerDef) -> type[torch.optim.Optimizer]:
    return getattr(importlib.import_module(d.module), d.torch_class)


def base_optimizer(opt: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """The optimizer a Lookahead wraps, or ``opt`` itself: train()/eval() live there."""
    return getattr(opt, "optimizer", opt)


def wrap(opt: torch.optim.Optimizer, lookahead: Lookahead | None) -> torch.optim.Optimizer:
    if lookahead is None:
        return opt
    from pytorch_optimizer import Lookahead as LookaheadOptimizer

    return LookaheadOptimizer(opt, k=lookahead.k, alpha=lookahead.alpha)


def _stepper(opt: torch.optim.Optimizer) -> Callable[[], Any]:
    """``opt.step``, less the wrapper torch.optim puts around every class's ``step`` while no
    hook is registered. Why: the wrapper opens a profiler range and walks four hook tables on
    every call, 20-25 us a step on this project's 2-core machine against Lion's own 60 at 5
    runs of the seed net. A registered hook (the instance's or a global one) takes the
    wrapped path, so hooks keep working."""
    step = type(opt).step
    raw = getattr(step, "__wrapped__", None) if getattr(step, "hooked", False) else None
    if raw is None:
        return opt.step
    hook_tables = (opt._optimizer_step_pre_hooks, opt._optimizer_step_post_hooks,
                   torch_optimizer._global_optimizer_pre_hooks, torch_optimizer._global_optimizer_post_hooks)

    def call() -> Any:
        if any(hook_tables):
            return opt.step()
        return raw(opt)

    return call


def _bind(p: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """``p`` (a view of P, a leaf: P does not require grad) with ``g`` (a view of G) as its
    gradient, refilled in place by every backward."""
    p.grad = g
    return p


def _layer_views(row: torch.Tensor, layout: Layout) -> list[list[torch.Tensor]]:
    """One run's flat row as its tensors with their nn.Module shapes, layer by layer (views)."""
    out, off = [], 0
    for layer in layout:
        out.append([])
        for q in layer:
            out[-1].append(row[off:off + q.numel].view(q.shape))
            off += q.numel
    return out


def run_groups(d: OptimizerDef, p: torch.Tensor, g: torch.Tensor, layout: Layout) -> list[dict[str, Any]]:
    """One run's param groups (row ``p`` of P, gradients row ``g`` of G): one group, or for a
    class in ``MATRIX_GROUPS`` its hidden weight matrices (every layer's but the first's and
    the last's: those read the inputs and write the outputs) flagged True, the rest False."""
    params = [[_bind(a, b) for a, b in zip(pl, gl, strict=True)]
              for pl, gl in zip(_layer_views(p, layout), _layer_views(g, layout), strict=True)]
    flag = MATRIX_GROUPS.get(d.name)
    if flag is None:
        return [{"params": [t for layer in params for t in layer]}]
    hidden = {(i, j) for i, layer in enumerate(layout[1:-1], 1)
              for j, q in enumerate(layer) if q.role == "weight"}
    groups = [{"params": [t for i, layer in enumerate(params) for j, t in enumerate(layer)
                          if ((i, j) in hidden) == on], flag: on} for on in (True, False)]
    return [grp for grp in groups if grp["params"]]


def _params(groups: list[dict[str, Any]]) -> list[torch.Tensor]:
    return [p for g in groups for p in g["params"]]


def _merged(d: OptimizerDef, runs: list[list[dict[str, Any]]], lr: float) -> list[dict[str, Any]]:
    """Several runs' groups as one of each kind (every run's come in the same order), at
    ``lr``, except for a group flagged False (Muon's AdamW part): it keeps the class's rate."""
    flag = MATRIX_GROUPS.get(d.name)
    out = [dict(g, params=[p for run in runs for p in run[i]["params"]]) for i, g in enumerate(runs[0])]
    for g in out:
        if flag is None or g[flag]:
            g["lr"] = lr
    return out


class TorchStepper:
    """Steps rows of ``P`` (with gradients in the same rows of ``G``) with ``d``'s class.

    ``lrs`` holds each row's base learning rate; contiguous rows with one rate share a group."""

    def __init__(self, d: OptimizerDef, hp: dict[str, Any], P: torch.Tensor, G: torch.Tensor,
                 lrs: list[float], layout: Layout, lookahead: Lookahead | None = None):
        cls, kwargs = optimizer_class(d), d.kwargs({k: v for k, v in hp.items() if k != "lr"})
        self.definition = d
        spans = _spans(lrs)
        self.slots: list[list[Slot]] = []  # per row, in the optimizers' parameter order
        if d.granularity == "elementwise":
            groups = [{"params": [_bind(P[a:b], G[a:b])], "lr": lrs[a]} for a, b in spans]
            self.slots = [[(0, g["params"][0], k - a)] for (a, b), g in zip(spans, groups, strict=True)
                          for k in range(a, b)]
            if "foreach" in inspect.signature(cls).parameters and "foreach" not in kwargs:
                # One tensor per group: the single-tensor path skips foreach's grouping of
                # tensors by device and dtype, 5-20 us a step (Lion, Adan, AdaBelief, RAdam,
                # schedule-free AdamW at 5 runs of the seed net).
                kwargs["foreach"] = False
            optimizers = [cls(groups, lr=lrs[0], **kwargs)]
        elif d.name in TENSOR_LOCAL:
            per_run = [run_groups(d, P[k], G[k], layout) for k in range(P.shape[0])]
            self.slots = [[(0, p, None) for p in _params(rg)] for rg in per_run]
            groups = [g for a, b in spans for g in _merged(d, per_run[a:b], lrs[a])]
            optimizers = [cls(groups, lr=lrs[0], **kwargs)]
        else:
            per_run = [run_groups(d, P[k], G[k], layout) for k in range(P.shape[0])]
            self.slots = [[(k, p, None) for p in _params(rg)] for k, rg in enumerate(per_run)]
            optimizers = [cls(rg, lr=lrs[k], **kwargs) for k, rg in enumerate(per_run)]
        self.optimizers = [wrap(opt, lookahead) for opt in optimizers]
        self.base_lrs = [[g["lr"] for g in opt.param_groups] for opt in self.optimizers]
        self._steps = [_stepper(opt) for opt in self.optimizers]
        if d.eval_mode:
            for opt in self.optimizers:
                base_optimizer(opt).train()  # type: ignore[attr-defined]

    def step(self, factor: float) -> None:
        """One update of every row, at the schedule's ``factor`` of each base rate."""
        for opt, bases, step in zip(self.optimizers, self.base_lrs, self._steps, strict=True):
            for group, base in zip(opt.param_groups, bases, strict=True):
                group["lr"] = base * factor
            step()

    @contextmanager
    def evaluating(self) -> Iterator[None]:
        """The weights to evaluate in place of the training iterate (schedule-free's average),
        restored afterwards; a no-op for the other classes."""
        if not self.definition.eval_mode:
            yield
            return
        for opt in self.optimizers:
            base_optimizer(opt).eval()  # type: ignore[attr-defined]
        try:
            yield
        finally:
            for opt in self.optimizers:
                base_optimizer(opt).train()  # type: ignore[attr-defined]

    def state_dict(self) -> dict[str, Any]:
        return {"optimizers": [opt.state_dict() for opt in self.optimizers]}

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        for opt, saved in zip(self.optimizers, sd["optimizers"], strict=True):
            opt.load_state_dict(saved)

    # -- rows leaving ----------------------------------------------------------------------

    def adopt(self, sources: list[tuple[TorchStepper, int]]) -> None:
        """Continue, row by row, the rows ``sources`` name (a stepper of the same arm and that
        stepper's row): every state a parameter holds (the base's, a wrapper's) and the
        counters its group holds. A state tensor shaped like an elementwise (rows, D)
        parameter keeps the surviving rows; any other value (a step count, a scalar of a
        group) is the same for all rows of a group, since they stepped together."""
        pieces: dict[int, list[tuple[Slot, list[torch.optim.Optimizer], Slot]]] = {}
        for mine, (old, r) in zip(self.slots, sources, strict=True):
            for new, was in zip(mine, old.slots[r], strict=True):
                pieces.setdefault(id(new[1]), []).append((new, _chain(old.optimizers[was[0]]), was))
        for parts in pieces.values():
            parts.sort(key=lambda part: part[0][2] or 0)  # the new parameter's rows in order
            i, p, _ = parts[0][0]
            for level, opt in enumerate(_chain(self.optimizers[i])):
                states = [chain[level].state.get(was[1], {}) for _, chain, was in parts]
                wheres = [was for _, _, was in parts]
                if states[0]:
                    opt.state[p] = {key: _rows(key, states, wheres) for key in states[0]}
            _, chain, was = parts[0]
            counters = _group_of(chain[0], was[1])
            _group_of(self.optimizers[i], p).update(
                {k: copy.deepcopy(v) for k, v in counters.items() if k not in ("params", "lr")})


def _chain(opt: torch.optim.Optimizer) -> list[torch.optim.Optimizer]:
    """A wrapper and the optimizer it wraps (each keeps a state per parameter), or ``opt``."""
    base = base_optimizer(opt)
    return [opt] if base is opt else [opt, base]


def _group_of(opt: torch.optim.Optimizer, p: torch.Tensor) -> dict[str, Any]:
    return next(g for g in opt.param_groups if any(q is p for q in g["params"]))


def _rows(key: str, states: list[dict[str, Any]], wheres: list[Slot]) -> Any:
    """A state value for the new parameter: its rows gathered from each source's parameter
    when the value is shaped like an elementwise parameter, else a copy of the first's."""
    value = states[0][key]
    if not isinstance(value, torch.Tensor):
        return copy.deepcopy(value)
    _, q, row = wheres[0]
    if row is None or value.shape != q.shape:
        return value.clone()
    return torch.cat([s[key][w[2]:w[2] + 1] for s, w in zip(states, wheres, strict=True)])


def _spans(lrs: list[float]) -> list[tuple[int, int]]:
    """[a, b) ranges of equal neighbouring values."""
    spans, start = [], 0
    for k in range(1, len(lrs) + 1):
        if k == len(lrs) or lrs[k] != lrs[start]:
            spans.append((start, k))
            start = k
    return spans
