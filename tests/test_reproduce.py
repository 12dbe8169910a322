"""Smoke runs of the reproduction scripts (``--quick``): each reproduces its numbers and exits 0."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPTS = sorted((Path(__file__).resolve().parents[1] / "examples" / "reproduce").glob("*.py"))


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses with string annotations look their module up there
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


PROOFS = sorted((Path(__file__).resolve().parents[1] / "proofs" / "reproduce").glob("*.json"))


@pytest.mark.parametrize("path", PROOFS, ids=[p.stem for p in PROOFS])
def test_reproduced_certificates_verify(path):
    """The certificates the scripts saved verify; where the file states the problem's known minimum
    (metadata ``known_minimum``), the proven lower bound is at most that and within 1e-2 of it."""
    from fractions import Fraction

    from sosrelax.certificate import Certificate, check_certificate

    rep = check_certificate(path)
    assert rep.valid, rep.reason
    known = Certificate.load(path).metadata.get("known_minimum")
    if known is not None:
        assert rep.bound is not None and rep.bound <= Fraction(known)
        assert Fraction(known) - rep.bound <= Fraction(1, 100)
