"""What a plugin package imports: ``OptimizerPlugin`` or ``ModelPlugin``, and ``HParam``.

See examples/optarena-signum (an optimizer) and examples/optarena-gated-mlp (a model), and the
README's "Your own optimizer" and "Your own model"."""

from engine.model_defs import ModelPlugin
from engine.optimizer_defs import HParam, OptimizerPlugin
from engine.plugins import GROUP, MODEL_GROUP

__all__ = ["GROUP", "MODEL_GROUP", "HParam", "ModelPlugin", "OptimizerPlugin"]
