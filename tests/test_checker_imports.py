"""The checker must stay independent of the relaxation and solver code it checks."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CERT = Path(__file__).resolve().parents[1] / "sosrelax" / "certificate"
#: The checker and the modules it is built from (and the format modules it reads with).
CHECKER = ("check", "exactpoly", "psd", "intervals", "validate", "format", "exactnum", "limits",
           "jsonlimits")
ALLOWED = {"__future__", "os", "time", "dataclasses", "enum", "fractions", "typing", "math",
           "numpy", "flint", "json", "re", "pathlib", "collections.abc", "sosrelax.errors"} | {
    f"sosrelax.certificate.{m}" for m in CHECKER}


@pytest.mark.parametrize("module", CHECKER)
def test_checker_imports_only_trusted_modules(module: str) -> None:
    tree = ast.parse((CERT / f"{module}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no relative imports in the checker"
            found.add(node.module or "")
    assert found <= ALLOWED, f"{module} imports {sorted(found - ALLOWED)}"
