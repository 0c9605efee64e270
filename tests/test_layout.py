"""The house's shape, read from the source: every import of every module (at the top, inside
functions or under TYPE_CHECKING alike) is an edge; no edges form a cycle, and the arrows
between the top-level packages point one way:

    api, worker, optarena (the CLI and client) -> core -> models -> engine

``api`` and ``worker`` meet only through ``core``, the broker's task names and the database;
the engine knows nothing of the service. And the API process never loads torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.support.procs import ROOT, service_env

PACKAGES = ("engine", "core", "models", "api", "worker", "optarena", "migrations")
# What each package may import of the others (the standard library and third parties aside).
ALLOWED = {
    "engine": set(),
    "models": {"engine"},
    "core": {"engine", "models"},
    "api": {"core", "models", "engine"},
    "worker": {"core", "models", "engine"},
    "migrations": {"models", "core"},
    "optarena": {"core", "models", "engine"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The first-party modules ``name`` imports, resolved to modules where they are ones."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            # ``from pkg import mod`` imports the module pkg.mod; ``from mod import name`` mod.
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        out |= {t for t in targets if t.split(".")[0] in PACKAGES}
    return out


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: {t for t in imports(name, path, known) if t != name} for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while (w := stack.pop()) != v:
                component.append(w)
            if component:
                found.append(sorted([v, *component]))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_graph_is_read_from_the_source() -> None:
    edges = graph()
    # Imports inside functions and under TYPE_CHECKING count: a reader must see them all.
    assert "engine.runner" in edges["engine.reference"]
    assert "core.submission" in edges["api.jobs.endpoints"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_imports_itself_back() -> None:
    assert cycles(graph()) == []


def test_arrows_between_packages_point_one_way() -> None:
    wrong = sorted(f"{src} -> {dst}" for src, targets in graph().items() for dst in targets
                   if dst.split(".")[0] != src.split(".")[0]
                   and dst.split(".")[0] not in ALLOWED[src.split(".")[0]])
    assert wrong == []


def test_the_api_process_loads_neither_torch_nor_the_worker() -> None:
    code = ("import sys, api.main; bad = sorted(m for m in sys.modules if m == 'torch' or "
            "m.startswith(('torch.', 'worker', 'engine.runner', 'engine.trainer'))); print(bad)")
    done = subprocess.run([sys.executable, "-c", code], env=service_env(), cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
