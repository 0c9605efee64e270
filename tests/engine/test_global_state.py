"""Importing the engine changes no process-wide state, and training shows no gradient-layout
warning without a process-wide filter.

Both run in a fresh interpreter: torch gives the layout warning once per process, so in this
one an earlier test may already have given it, and this process's filters come from pytest.
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CODE = """
import importlib, pkgutil, warnings
import numpy, pydantic, scipy.stats, torch  # their own import-time filters are theirs

def state():
    return (list(warnings.filters), torch.get_default_dtype(), torch.get_num_threads(),
            torch.get_rng_state().tolist())

before = state()
import engine
for m in pkgutil.walk_packages(engine.__path__, "engine."):
    importlib.import_module(m.name)
assert state() == before, "importing the engine changed process-wide state"

from engine.presets import preset
from engine.runner import make_cohort
spec = preset("seed-wave", {"task": {"n": 200}, "net": {"hidden": [4]}, "train": {"steps": 20}})
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    make_cohort(spec, [0, 1, 2]).train(lambda ev: None)
print([str(w.message) for w in caught if "layout contract" in str(w.message)])
"""


def test_engine_leaves_global_state_alone_and_trains_without_the_layout_warning():
    done = subprocess.run([sys.executable, "-c", CODE], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
