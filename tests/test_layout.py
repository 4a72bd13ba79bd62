"""The package's shape is a rule, not a habit: the core never imports the lab's heavy libraries,
and no module imports one that imports it back (issue 16)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import artcheck

PACKAGE = Path(artcheck.__file__).parent
HEAVY = ("torch", "sklearn", "matplotlib")
CORE = ("detect", "provenance", "images")     # what `artcheck check` runs on the core install


def _modules() -> dict[str, Path]:
    out = {}
    for p in PACKAGE.rglob("*.py"):
        parts = ["artcheck", *p.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__main__":
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def _core_modules() -> list[str]:
    return sorted(m for m in _modules() if m.split(".")[1:2] and m.split(".")[1] in CORE)


def test_core_modules_are_where_the_rule_says():
    core = _core_modules()
    assert "artcheck.detect.detector" in core and "artcheck.images" in core and "artcheck.provenance.c2pa_reader" in core
    assert not any(m.startswith("artcheck.lab") for m in core)


def test_core_never_imports_torch_sklearn_or_matplotlib():
    """Import every core module in a fresh interpreter; none of the heavy libraries may load."""
    mods = _core_modules() + ["artcheck", "artcheck.cli", "artcheck.data"]
    code = ("import importlib, sys\n"
            f"for m in {mods!r}: importlib.import_module(m)\n"
            f"print(sorted(h for h in {HEAVY!r} if h in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_core_source_has_no_heavy_import_even_lazily():
    """A lazy ``import torch`` inside a core function would still need the extra at check time."""
    mods = _modules()
    found = []
    for name in _core_modules():
        for node in ast.walk(ast.parse(mods[name].read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{name}: {n}" for n in names if n.split(".")[0] in HEAVY]
    # the sanctioned exceptions, both training-time only: TorchBackbone (the lab's transfer-model
    # features) and LinearProbe.fit / calibrate (fitting a head); checking never reaches them
    assert sorted(set(found)) == ["artcheck.detect.backbones: torch", "artcheck.detect.probe: sklearn.linear_model",
                                  "artcheck.detect.probe: sklearn.model_selection"], found


def _import_graph() -> dict[str, set[str]]:
    mods = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("artcheck"):
                for a in node.names:
                    full = f"{node.module}.{a.name}"
                    edges.add(full if full in mods else node.module)
            elif isinstance(node, ast.Import):
                edges |= {a.name for a in node.names if a.name.startswith("artcheck")}
        graph[name] = {e for e in edges if e in mods and e != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    state: dict[str, int] = {}
    found: list[list[str]] = []

    def visit(u: str, stack: list[str]) -> None:
        state[u] = 1
        stack.append(u)
        for v in sorted(graph[u]):
            if state.get(v) == 1:
                found.append(stack[stack.index(v):] + [v])
            elif v not in state:
                visit(v, stack)
        stack.pop()
        state[u] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])
    return found


def test_no_import_cycles_even_through_lazy_imports():
    assert _cycles(_import_graph()) == []


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
