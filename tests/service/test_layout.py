"""Dependencies point one way: the API process never loads torch, the engine's runner or worker/."""

from __future__ import annotations

import subprocess
import sys

from tests.service.procs import ROOT, service_env


def test_api_imports_no_torch_and_no_worker() -> None:
    code = ("import sys, api.main; bad = sorted(m for m in sys.modules if m == 'torch' or "
            "m.startswith(('torch.', 'worker', 'engine.runner', 'engine.trainer'))); print(bad)")
    done = subprocess.run([sys.executable, "-c", code], env=service_env(), cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
