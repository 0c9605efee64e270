"""The example plugin packages (examples/), pip-installed the way a user installs them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.procs import ROOT

EXAMPLES = ("optarena-signum", "optarena-gated-mlp")


def install_examples(src: Path, target: Path) -> Path:
    """Both examples installed by pip into ``target`` (copied to ``src`` first, so the build
    writes nothing into the checkout); returns ``target``."""
    copies = []
    for name in EXAMPLES:
        shutil.copytree(ROOT / "examples" / name, src / name)
        copies.append(str(src / name))
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                           "--target", str(target), *copies], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (target / "optarena_signum").is_dir() and (target / "optarena_gated_mlp").is_dir()
    return target
