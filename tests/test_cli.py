"""The ``sosrelax`` command, run in-process: outputs, exit codes, one-line errors without tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sosrelax.cli import main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_version_and_name(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == __import__("sosrelax").__version__
    assert main(["--name"]) == 0
    assert capsys.readouterr().out.strip() == "sosrelax"


def test_solve_writes_a_certificate_that_check_verifies(tmp_path, capsys):
    cert = tmp_path / "camel.json"
    assert main(["solve", str(EXAMPLES / "camel.toml"), "--certificate", str(cert)]) == 0
    out = capsys.readouterr().out
    assert "proven bound: -1.03162" in out
    assert main(["check", str(cert), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is True
    assert report["bound_float"] <= -1.0316284534
    assert report["bound_float"] >= -1.0316284535 - 1e-5


def test_solve_json(capsys):
    assert main(["solve", str(EXAMPLES / "camel.toml"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["status"] == "optimal" and data["certified"] is True


def test_check_rejects_a_tampered_certificate(tmp_path, capsys):
    cert = tmp_path / "c.json"
    assert main(["solve", str(EXAMPLES / "camel.toml"), "--certificate", str(cert)]) == 0
    capsys.readouterr()
    data = json.loads(cert.read_text())
    data["bound"] = "0"  # claim f >= 0, false: f(0.09, -0.71) < 0
    cert.write_text(json.dumps(data, sort_keys=True))
    assert main(["check", str(cert)]) == 1
    assert "rejected" in capsys.readouterr().out


def test_check_unreadable_file(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.json" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "content,needle",
    [
        ('[problem]\nminimise = "x^2"\n', "minimise"),
        ('[problem]\nminimize = "x^2 +* y"\n', "problem.minimize"),
        ('[problem]\nvariables = ["x"]\nminimize = "x^2 + z"\n', "z"),
        ('[problem]\nminimize = "x^2"\nsubject_to = ["x^2 1"]\n', "subject_to[0]"),
        ('[problem\nminimize = "x^2"\n', "line 1"),
        ('[problem]\nminimize = "x^2"\n[relax]\nlevel = 2\n', "[relax]"),
    ],
)
def test_bad_problem_files_give_one_line_errors(tmp_path, capsys, content, needle):
    f = tmp_path / "p.toml"
    f.write_text(content)
    assert main(["solve", str(f)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sosrelax: error:")
    assert needle in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "usage" in capsys.readouterr().err


def test_check_dispatches_sdpa_certificates(tmp_path, capsys):
    data = Path(__file__).resolve().parents[2] / "shared" / "data" / "sdplib" / "truss1.dat-s"
    if not data.exists():
        pytest.skip("shared SDPLIB data not available")
    from sosrelax.certificate import prove_sdpa_bound
    from sosrelax.sdpa import read_sdpa

    res = prove_sdpa_bound(read_sdpa(data))
    assert res.certificate is not None
    path = tmp_path / "truss1.json"
    res.certificate.save(path)
    assert main(["check", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["valid"] and out["kind"] == "sdpa_dual_bound"
    assert out["bound_float"] <= -8.999996  # SDPLIB truss1: optimum -9 (SDPA sign convention)
