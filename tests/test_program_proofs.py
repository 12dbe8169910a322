"""Golden SOS program certificates verify; tampered ones are rejected for their stated reason; the checker
stays independent of the code that produced them; ``sosrelax check`` dispatches on the format name."""

from __future__ import annotations

import ast
import importlib.util
from fractions import Fraction
from pathlib import Path

import pytest

from sosrelax.certificate.program_check import check_program_certificate
from sosrelax.certificate.program_format import ProgramCertificate

ROOT = Path(__file__).resolve().parents[1]
VALID = sorted((ROOT / "proofs" / "program").glob("*.json"))
INVALID = sorted((ROOT / "proofs" / "invalid" / "program").glob("*.json"))


def _variants() -> dict[str, tuple[str, object, str]]:
    spec = importlib.util.spec_from_file_location("make_invalid", ROOT / "proofs/invalid/program/make_invalid.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.VARIANTS  # type: ignore[no-any-return]


def test_every_file_is_listed() -> None:
    assert len(VALID) >= 5 and len(INVALID) >= 6
    assert {p.stem for p in INVALID} == set(_variants())
    readme = (ROOT / "proofs/invalid/program/README.md").read_text()
    assert all(p.stem in readme for p in INVALID)


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_golden_program_certificates_verify(path: Path) -> None:
    cert = ProgramCertificate.load(path)
    rep = check_program_certificate(path)
    assert rep.valid, rep.reason
    assert rep.objective == Fraction(cert.metadata["expected_objective"])
    assert ProgramCertificate.from_json(cert.to_json()).to_json() == path.read_bytes()  # canonical


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_tampered_program_certificates_rejected(path: Path) -> None:
    rep = check_program_certificate(path)
    assert not rep.valid and rep.objective is None
    assert _variants()[path.stem][2] in rep.reason


def test_cli_check_dispatches_on_the_format(capsys: pytest.CaptureFixture[str]) -> None:
    from sosrelax.cli import main

    assert main(["check", str(ROOT / "proofs/program/camel_global_bound.json")]) == 0
    assert "verified" in capsys.readouterr().out
    assert main(["check", str(ROOT / "proofs/invalid/program/camel_decision_changed.json")]) == 1
    assert "rejected" in capsys.readouterr().out
    assert main(["check", str(ROOT / "proofs/invalid/program/barrier_unknown_version.json")]) == 2


def test_program_checker_imports_only_trusted_modules() -> None:
    allowed = {"__future__", "os", "time", "dataclasses", "enum", "fractions", "typing", "math", "numpy", "flint",
               "json", "re", "pathlib", "collections.abc", "sosrelax.errors"} | {
        f"sosrelax.certificate.{m}" for m in ("check", "exactpoly", "psd", "format", "exactnum", "limits",
                                              "jsonlimits", "program_format")}
    for module in ("program_check", "program_format"):
        tree = ast.parse((ROOT / "sosrelax" / "certificate" / f"{module}.py").read_text())
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                found.add(node.module or "")
        assert found <= allowed, f"{module} imports {sorted(found - allowed)}"


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_golden_files_follow_the_schema(path: Path) -> None:
    import json

    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((ROOT / "sosrelax/certificate/program_certificate.schema.json").read_text())
    jsonschema.validate(json.loads(path.read_text()), schema)


def test_check_any_recognises_program_certificates() -> None:
    """``sr.certificate.check_any`` dispatches SOS-program files and objects to their own checker."""
    from sosrelax.certificate import check_any
    from sosrelax.certificate.program_format import ProgramCertificate

    root = Path(__file__).resolve().parents[1] / "proofs"
    golden = sorted((root / "program").glob("*.json"))
    assert golden
    for path in golden:
        assert check_any(path).valid
        assert check_any(ProgramCertificate.load(path)).valid
    for path in sorted((root / "invalid" / "program").glob("*.json")):
        assert not check_any(path).valid
