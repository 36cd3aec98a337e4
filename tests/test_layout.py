"""The layout's rules, checked on the source: the engine is free of Dagster, nothing outside
ledgerbridge/systems/ names a system in code (it asks the registry), and no import cycles (local
imports included)."""

from __future__ import annotations

import ast
from pathlib import Path

from ledgerbridge.systems import systems

ROOT = Path(__file__).resolve().parents[1]
# Where a system's name is a default value the user can change, not a switch.
DEFAULTS = {"ledgerbridge/demo/run.py", "ledgerbridge/cli.py", "ledgerbridge/faults/chaos.py"}


def sources(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def test_the_engine_does_not_import_dagster():
    offenders = []
    for path in sources("ledgerbridge"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] == "dagster"]
    assert offenders == []


def test_no_system_is_named_in_code_outside_its_package():
    names = set(systems())
    offenders = []
    for path in sources("ledgerbridge", "assets", "pipelines", "resources"):
        relative = str(path.relative_to(ROOT))
        if relative.startswith("ledgerbridge/systems/") or relative in DEFAULTS:
            continue
        tree = ast.parse(path.read_text())
        skip = docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in names and id(node) not in skip:
                offenders.append(f"{relative}:{node.lineno}: {node.value!r}")
    assert offenders == [], "ask the registry (ledgerbridge.systems.get) instead of naming a system"


def test_no_import_cycles():
    modules = {module_name(p): p for p in sources("ledgerbridge", "assets", "pipelines", "resources")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps = set()
        tree = ast.parse(path.read_text())
        typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                       and "TYPE_CHECKING" in ast.unparse(block.test) for b in block.body for n in ast.walk(b)}
        for node in ast.walk(tree):  # local imports too: a cycle hidden in a function is still one
            if id(node) in typing_only:
                continue
            targets = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                # A package's __init__ re-exporting its own submodules is no cycle of meaning.
                if target and target != name and not target.startswith(name + "."):
                    deps.add(target)
        graph[name] = deps
    cycles = []

    def visit(node: str, stack: list[str], done: set[str]) -> None:
        for dep in graph[node]:
            if dep in stack:
                cycles.append(" -> ".join(stack[stack.index(dep):] + [dep]))
            elif dep not in done:
                visit(dep, stack + [dep], done)
        done.add(node)

    done: set[str] = set()
    for module in graph:
        if module not in done:
            visit(module, [module], done)
    # serve.py's demo and demo --ui share the Dagster instance settings through local imports both
    # ways; that pair is the console's to cut (issue 18), everything else must stay acyclic.
    known = {"ledgerbridge.demo.run -> ledgerbridge.serve -> ledgerbridge.demo.run"}
    assert [c for c in cycles if c not in known] == []
