"""The checker must stay independent of the relaxation and solver code it checks."""

from __future__ import annotations

import ast
from pathlib import Path

CHECK = Path(__file__).resolve().parents[1] / "sosrelax" / "certificate" / "check.py"
ALLOWED = {"__future__", "os", "time", "dataclasses", "enum", "fractions", "typing", "math",
           "numpy", "flint", "sosrelax.certificate.format", "sosrelax.errors"}


def test_checker_imports_only_trusted_modules() -> None:
    tree = ast.parse(CHECK.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no relative imports in the checker"
            found.add(node.module or "")
    assert found <= ALLOWED, f"checker imports {sorted(found - ALLOWED)}"
