"""What an optimizer plugin package imports: ``OptimizerPlugin`` and ``HParam``.

See examples/optarena-signum for a complete package and the README's "Your own optimizer"."""

from engine.optimizer_defs import HParam, OptimizerPlugin
from engine.plugins import GROUP

__all__ = ["GROUP", "HParam", "OptimizerPlugin"]
