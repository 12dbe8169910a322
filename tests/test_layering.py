"""Dependency direction inside the packages: no import cycles, no private names across modules.

Every import counts, including those inside functions and under ``TYPE_CHECKING``: a lazy import hides a
cycle from the interpreter, not from the design.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "sosrelax"
PACKAGES = ("relax", "batch", "adversary", "solvers", "certificate", "poly")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, str]]:
    """``(module, name)`` for every ``from module import name`` and ``(module, "")`` for ``import module``."""
    out: list[tuple[str, str]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            out += [(node.module or "", a.name) for a in node.names]
        elif isinstance(node, ast.Import):
            out += [(a.name, "") for a in node.names]
    return out


def _graph(package: str) -> dict[str, set[str]]:
    """Edges between the modules of ``sosrelax.<package>`` (a package's ``__init__`` re-exports excluded)."""
    files = {_module_name(f): f for f in sorted((ROOT / package).rglob("*.py"))}
    graph: dict[str, set[str]] = {m: set() for m in files}
    for m, f in files.items():
        if f.name == "__init__.py":
            continue
        for mod, name in _imports(f):
            target = f"{mod}.{name}" if f"{mod}.{name}" in files else mod
            if target in files and target != m and not m.startswith(target + "."):
                graph[m].add(target)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(v: str) -> list[str] | None:
        state[v] = 1
        path.append(v)
        for w in sorted(graph[v]):
            if state.get(w) == 1:
                return path[path.index(w):] + [w]
            if w not in state and (found := visit(w)) is not None:
                return found
        path.pop()
        state[v] = 2
        return None

    for v in sorted(graph):
        if v not in state and (found := visit(v)) is not None:
            return found
    return None


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycles(package: str) -> None:
    cycle = _cycle(_graph(package))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("package", PACKAGES)
def test_no_private_names_across_modules(package: str) -> None:
    bad = []
    for f in sorted((ROOT / package).rglob("*.py")):
        me = _module_name(f)
        for mod, name in _imports(f):
            if mod.startswith("sosrelax.") and mod != me and name.startswith("_") and not name.startswith("__"):
                bad.append(f"{me} imports {mod}.{name}")
    assert not bad, "; ".join(bad)


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


#: The shared pieces of the relaxations sit below the builders: they import none of them.
BUILDING_BLOCKS = ("keys", "system", "chordal", "termsparsity", "newton", "gramcone", "sparsityreport")
BUILDERS = {"sosrelax.relax.moment", "sosrelax.relax.sparsity", "sosrelax.relax.lp", "sosrelax.relax.socp",
            "sosrelax.relax.hierarchy", "sosrelax.relax.facial"}


@pytest.mark.parametrize("module", BUILDING_BLOCKS)
def test_relaxation_building_blocks_import_no_builder(module: str) -> None:
    found = {mod for mod, _ in _imports(ROOT / "relax" / f"{module}.py")}
    assert not found & BUILDERS, f"relax/{module}.py imports {sorted(found & BUILDERS)}"


def test_batch_claims_and_sandbox_stay_below_the_runner() -> None:
    claims = {mod for mod, _ in _imports(ROOT / "batch" / "claims.py") if mod.startswith("sosrelax.batch")}
    sandbox = {mod for mod, _ in _imports(ROOT / "batch" / "sandbox.py") if mod.startswith("sosrelax.batch")}
    assert claims == set()
    assert sandbox == {"sosrelax.batch.claims"}


#: The network encoding's modules and the ``sosrelax.nn`` modules each may import.
NN_ENCODING = {
    "chain": {"sosrelax.nn.ir"},
    "reduced": {"sosrelax.nn.chain", "sosrelax.nn.ir"},
    "encode": {"sosrelax.nn.chain", "sosrelax.nn.reduced", "sosrelax.nn.ir"},
    "shor": {"sosrelax.nn.chain"},
    "moment": {"sosrelax.nn.chain", "sosrelax.nn.shor"},
}


@pytest.mark.parametrize("module", sorted(NN_ENCODING))
def test_network_encoding_layers(module: str) -> None:
    """The chain sits below both builders, Shor's relaxation below the moment rungs; no private names."""
    found = _imports(ROOT / "nn" / f"{module}.py")
    nn = {mod for mod, _ in found if mod.startswith("sosrelax.nn")}
    assert nn <= NN_ENCODING[module], f"nn/{module}.py imports {sorted(nn - NN_ENCODING[module])}"
    private = [f"{mod}.{name}" for mod, name in found
               if mod.startswith("sosrelax.") and name.startswith("_") and not name.startswith("__")]
    assert not private, f"nn/{module}.py imports {private}"
