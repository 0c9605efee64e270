"""Nothing from a request or the database is ever unpickled: no `pickle.load(s)` anywhere in
the code, and every `torch.load` passes `weights_only=True` (checkpoints are tensors only)."""

from __future__ import annotations

import ast

from tests.support.procs import ROOT

PACKAGES = ("api", "worker", "core", "models", "engine", "optarena", "migrations", "bench")


def _calls(tree: ast.AST):  # noqa: ANN202 - yields ast.Call
    return (n for n in ast.walk(tree) if isinstance(n, ast.Call))


def _name(call: ast.Call) -> str:
    f = call.func
    if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
        return f"{f.value.id}.{f.attr}"
    return f.id if isinstance(f, ast.Name) else ""


def test_no_pickle_load_and_torch_load_is_weights_only() -> None:
    bad, torch_loads = [], 0
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            tree = ast.parse(path.read_text(), str(path))
            unpicklers = ("pickle", "cPickle", "dill")
            imports_pickle_load = any(isinstance(n, ast.ImportFrom) and n.module in unpicklers
                                      for n in ast.walk(tree))
            for call in _calls(tree):
                name, where = _name(call), f"{path.relative_to(ROOT)}:{call.lineno}"
                if name in ("pickle.load", "pickle.loads", "dill.load", "dill.loads") or (
                        imports_pickle_load and name in ("load", "loads", "Unpickler")):
                    bad.append(f"{where} {name}")
                if name == "torch.load":
                    torch_loads += 1
                    ok = any(k.arg == "weights_only" and isinstance(k.value, ast.Constant)
                             and k.value.value is True for k in call.keywords)
                    if not ok:
                        bad.append(f"{where} torch.load without weights_only=True")
    assert not bad, bad
    assert torch_loads >= 1  # the checkpoint loader is found, so the scan does look
