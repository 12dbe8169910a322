"""Smoke runs of the reproduction scripts (``--quick``): each reproduces its numbers and exits 0."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPTS = sorted((Path(__file__).resolve().parents[1] / "examples" / "reproduce").glob("*.py"))


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_quick_mode_reproduces(script, tmp_path):
    mod = _load(script)
    missing = [str(p) for p in getattr(mod, "REQUIRES", ()) if not Path(p).exists()]
    if missing:
        pytest.skip(f"{script.name} needs {', '.join(missing)} (the shared benchmark data)")
    assert mod.main(["--quick", "--out", str(tmp_path)]) == 0
    assert list(tmp_path.glob("*.md")), "the script wrote no table"
