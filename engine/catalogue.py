"""The field's optimizers, run by their packages' own classes rather than re-implemented:
torch.optim's NAdam, RAdam and Adamax, pytorch-optimizer's Lion, Adan, AdaBelief, LAMB and
Muon, and schedule-free AdamW. Defaults are the classes' own (tests/engine/test_registry.py reads
them from the signatures); each says how the cohort trainer may step it (``granularity``)."""

from __future__ import annotations

from typing import Any

from engine.optimizer_defs import HParam, OptimizerDef


def _lr(default: float) -> HParam:
    return HParam("lr", default, 0.0, None, low_open=True, doc="learning rate")


def _beta(n: int, default: float, doc: str) -> HParam:
    return HParam(f"beta{n}", default, 0.0, 1.0, high_open=True, doc=doc)


def _eps(default: float) -> HParam:
    return HParam("eps", default, 0.0, None, low_open=True, doc="term added to the denominator")


_WD = HParam("weight_decay", 0.0, 0.0, None, doc="weight decay (coupled or decoupled as the class does)")
_M1 = "decay of the first-moment average"
_M2 = "decay of the second-moment average"


def _entry(name: str, title: str, cls: str, hparams: tuple[HParam, ...], doc: str, **kw: Any) -> OptimizerDef:
    return OptimizerDef(name, title, cls, hparams, doc=doc, vectorized=False, **kw)


_PO = {"module": "pytorch_optimizer", "distribution": "pytorch-optimizer"}

# Classes that take two kinds of param group, told apart by a flag (its name here): Muon
# orthogonalizes only hidden weight matrices (flag True) and steps everything else, biases,
# gains and the input and output layers, with its AdamW fallback (flag False), as its
# documentation asks. The engine (engine/torch_stepper.py) and the per-run reference
# (engine/reference.py) both build the groups that way.
MATRIX_GROUPS: dict[str, str] = {"muon": "use_muon"}

# per_tensor classes whose update reads norms or matrices of single tensors, never of several
# together: one instance may hold every run's per-layer tensors and step them at once, which
# costs one Python step (and, for Muon, batched Newton-Schulz products over same-shaped
# matrices) instead of one per run. LAMB couples its tensors only through pre_norm's global
# clipping, off by default and not a hyperparameter here.
TENSOR_LOCAL: frozenset[str] = frozenset({"lamb", "muon"})

CATALOGUE: dict[str, OptimizerDef] = {d.name: d for d in (
    _entry("nadam", "NAdam", "NAdam", (_lr(2e-3), _beta(1, 0.9, _M1), _beta(2, 0.999, _M2), _eps(1e-8), _WD,
                                       HParam("momentum_decay", 4e-3, 0.0, None, doc="momentum decay")),
           "Adam with Nesterov momentum (Dozat 2016)"),
    _entry("radam", "RAdam", "RAdam", (_lr(1e-3), _beta(1, 0.9, _M1), _beta(2, 0.999, _M2), _eps(1e-8), _WD),
           "Adam with the variance of the adaptive step rectified early on (Liu et al. 2020)"),
    _entry("adamax", "Adamax", "Adamax", (_lr(2e-3), _beta(1, 0.9, _M1), _beta(2, 0.999, _M2), _eps(1e-8),
                                          _WD), "Adam with the infinity norm (Kingma and Ba 2015)"),
    _entry("lion", "Lion", "Lion", (_lr(1e-4), _beta(1, 0.9, "interpolation of the update"),
                                    _beta(2, 0.99, "decay of the momentum"), _WD),
           "the sign of an interpolated momentum (Chen et al. 2023)", **_PO),
    _entry("adan", "Adan", "Adan", (_lr(1e-3), _beta(1, 0.98, _M1), _beta(2, 0.92, "decay of the gradient "
                                    "difference average"), _beta(3, 0.99, _M2), _WD, _eps(1e-8)),
           "adaptive Nesterov momentum (Xie et al. 2022)", **_PO),
    _entry("adabelief", "AdaBelief", "AdaBelief", (_lr(1e-3), _beta(1, 0.9, _M1), _beta(2, 0.999, _M2), _WD,
                                                   _eps(1e-16)),
           "Adam scaled by the belief in the gradient, its deviation from the momentum (Zhuang et al. "
           "2020)", **_PO),
    _entry("lamb", "LAMB", "Lamb", (_lr(1e-3), _beta(1, 0.9, _M1), _beta(2, 0.999, _M2), _WD, _eps(1e-6)),
           "Adam steps scaled per layer by a trust ratio |w| / |step| (You et al. 2020)",
           granularity="per_tensor", **_PO),
    _entry("muon", "Muon", "Muon",
           (_lr(2e-2), HParam("momentum", 0.95, 0.0, 1.0, high_open=True, doc="momentum factor"),
            HParam("nesterov", True, doc="Nesterov momentum"),
            HParam("weight_decay", 0.0, 0.0, None, doc="decoupled weight decay of the matrices"),
            HParam("use_adjusted_lr", False, doc="scale steps by 0.2 sqrt(max(out, in)) (Moonlight) "
                   "instead of sqrt(max(1, out / in))"),
            HParam("adamw_lr", 3e-4, 0.0, None, low_open=True, doc="learning rate of the AdamW part"),
            HParam("adamw_wd", 0.0, 0.0, None, doc="decoupled weight decay of the AdamW part"),
            HParam("adamw_eps", 1e-10, 0.0, None, doc="term added to the AdamW part's denominator")),
           "momentum orthogonalized by Newton-Schulz iterations for each hidden weight matrix; "
           "biases, gains and the input and output layers step with AdamW (Jordan et al. 2024)",
           granularity="per_tensor", **_PO),
    _entry("adamw_schedulefree", "AdamW (schedule-free)", "AdamWScheduleFree",
           # beta1 from 1e-3: switching to eval mode moves the weights by 1 - 1/beta1 times a
           # difference, which divides by zero at 0 and overflows float32 near it.
           (_lr(2.5e-3), HParam("beta1", 0.9, 1e-3, 1.0, high_open=True,
                                doc="interpolation between the average and the iterate"),
            _beta(2, 0.999, _M2), _eps(1e-8), _WD),
           "AdamW without a schedule: evaluated at an average of its iterates (Defazio et al. 2024)",
           module="schedulefree", distribution="schedulefree", eval_mode=True),
)}
