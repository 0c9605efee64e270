"""Studies built on the engine: statistics over seeds, sharpness, bias-variance, bagging,
optimizer trajectories on 2-D test functions, fitting diagnostics and time to target.

Each module is pure (torch, numpy, stdlib) and returns JSON-ready dicts: non-finite
numbers become ``None`` because JSON has no NaN.
"""
