"""The checker and ``sosrelax check`` against hostile input: soundness, limits, clean errors."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pytest

import sosrelax as sr
from sosrelax.certificate import Certificate, Limits, SOSMultiplier, check_certificate
from sosrelax.cli import main
from sosrelax.errors import InvalidValueError, ParseError
from sosrelax.problemfile import read_problem_file

PROOFS = Path(__file__).resolve().parents[1] / "proofs"
INVALID = PROOFS / "invalid"
SQUARE = PROOFS / "square_x_minus_1_nonnegative.json"


def _wrap_cert() -> Certificate:
    """x^2 + y^2 >= 4 on {-x^(2^62) >= 0} = {x = 0}: false; sigma_1 g_0 = -4 x^(2^64) wraps to -4."""
    e = 3 * 2**61
    return Certificate(
        ("x", "y"), "lower_bound", (((2, 0), Fraction(1)), ((0, 2), Fraction(1))), Fraction(4),
        ((((2**62, 0), Fraction(-1)),),), (),
        (SOSMultiplier(None, ((1, 0), (0, 1)), ((1, 0), (0, 1))),
         SOSMultiplier(0, ((e, 0),), ((4,),))), ())


# ---------------------------------------------------------------------------- soundness


def test_exponent_wraparound_in_memory_is_refused() -> None:
    rep = check_certificate(_wrap_cert())
    assert not rep.valid and not rep.claim_holds and rep.over_limit
    assert "max_exponent" in rep.reason


def test_exponent_wraparound_refused_even_with_raised_limits() -> None:
    huge = Limits(max_exponent=2**63 - 1, max_degree=2**64, max_work=2**64)
    for cert in (_wrap_cert(), INVALID / "exponent_overflow.json"):
        rep = check_certificate(cert, limits=huge)
        assert not rep.valid and "overflow" in rep.reason, rep.reason


def test_in_memory_certificate_gets_the_file_limits() -> None:
    c = Certificate.load(SQUARE)
    big = replace(c, bound=Fraction(10**5000))
    rep = check_certificate(big)
    assert not rep.valid and rep.over_limit and "max_digits" in rep.reason
    deep = replace(c, objective=(((2000,), Fraction(1)),))
    rep = check_certificate(deep)
    assert not rep.valid and "max_degree" in rep.reason


def test_rounded_integer_coefficient_is_refused() -> None:
    x = sr.variables("x")[0] if isinstance(sr.variables("x"), tuple) else sr.variables("x")
    with pytest.raises(InvalidValueError, match="9007199254740993"):
        _ = (2**53 + 1) * x - 2**53 * x
    with pytest.raises(InvalidValueError, match="9007199254740993"):
        sr.Polynomial.parse("9007199254740993*x - 9007199254740992*x", ["x"])
    with pytest.raises(InvalidValueError):
        sr.Polynomial([[1]], [2**53 + 1], ["x"])
    # exact integers and dyadic fractions still work, and keep their value
    p = (2**53) * x + Fraction(1, 4)
    assert p.coefficient((1,)) == 2.0**53 and p.coefficient((0,)) == 0.25


def test_rounded_integer_in_problem_file_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "p.toml"
    f.write_text('[problem]\nvariables = ["x"]\nminimize = "9007199254740993*x - 9007199254740992*x"\n'
                 'subject_to = ["x >= 0", "x <= 1"]\n')
    with pytest.raises((InvalidValueError, ParseError), match="9007199254740993"):
        read_problem_file(f)
    g = tmp_path / "q.toml"
    g.write_text('[problem]\nvariables = ["x"]\nminimize = "x"\nbounds = { x = [0, 9007199254740993] }\n')
    with pytest.raises(ParseError, match="9007199254740993"):
        read_problem_file(g)


def test_claim_within_tolerance_is_not_the_claim() -> None:
    rep = check_certificate(INVALID / "tolerance_edge.json")
    assert rep.valid and rep.bound == 10**12 and rep.claimed_bound == 10**12 + 999_999
    assert not rep.claim_holds
    gold = check_certificate(SQUARE)
    assert gold.valid and gold.claim_holds


def test_check_binds_to_the_problem() -> None:
    x = sr.variables("x")[0] if isinstance(sr.variables("x"), tuple) else sr.variables("x")
    same = sr.Problem(minimize=x**2 - 2 * x + 1)
    assert check_certificate(SQUARE, problem=same).claim_holds
    for other in (sr.Problem(minimize=x**2 - 2 * x + 2), sr.Problem(maximize=x**2 - 2 * x + 1),
                  sr.Problem(minimize=x**2 - 2 * x + 1, subject_to=[x >= 0])):
        rep = check_certificate(SQUARE, problem=other)
        assert not rep.valid and "not about the given problem" in rep.reason


# ---------------------------------------------------------------------------- limits are fast


@pytest.mark.parametrize("name", ["product_power_200", "degree_10000_in_box",
                                  "exact_ldl_80_by_80_300_digits", "nesting_100000_deep"])
def test_slow_files_are_refused_quickly(name: str) -> None:
    t0 = time.perf_counter()
    rep = check_certificate(INVALID / f"{name}.json")
    assert not rep.valid and rep.over_limit
    assert time.perf_counter() - t0 < 3.0  # under a second on a quiet machine


# ---------------------------------------------------------------------------- the CLI


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["check", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def _one_line_error(err: str) -> None:
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cli_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, SQUARE)
    assert code == 0 and "verified: lower bound 0" in out
    assert "objective: minimize 1 - 2*x + x^2" in out and "set" in out
    code, out, _ = _cli(capsys, INVALID / "tolerance_edge.json")
    assert code == 1 and "only the weaker lower bound 1e+12 holds" in out
    code, out, _ = _cli(capsys, INVALID / "tolerance_edge.json", "--json")
    doc = json.loads(out)
    assert code == 1 and doc["valid"] and not doc["claim_holds"]
    for name in ("product_power_200", "exact_ldl_80_by_80_300_digits", "nesting_100000_deep",
                 "exponent_overflow"):
        code, _, err = _cli(capsys, INVALID / f"{name}.json")
        assert code == 2, name
        _one_line_error(err)


def test_cli_problem_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.toml"
    good.write_text('[problem]\nvariables = ["x"]\nminimize = "x^2 - 2*x + 1"\n')
    bad = tmp_path / "bad.toml"
    bad.write_text('[problem]\nvariables = ["x"]\nminimize = "x^2 - 2*x + 1"\nsubject_to = ["x >= 0"]\n')
    assert _cli(capsys, SQUARE, "--problem", good)[0] == 0
    code, out, _ = _cli(capsys, SQUARE, "--problem", bad)
    assert code == 1 and "not about the given problem" in out


def _edit(tmp_path: Path, src: Path, edit: object) -> Path:
    d = json.loads(src.read_text())
    edit(d)  # type: ignore[operator]
    p = tmp_path / "edited.json"
    p.write_text(json.dumps(d))
    return p


def test_cli_hostile_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a Gram entry that str.isdigit() accepts but int() does not
    p = _edit(tmp_path, SQUARE, lambda d: d["sos"][0]["gram"][0].__setitem__(0, "\u00b9"))
    code, _, err = _cli(capsys, p)
    assert code == 2
    _one_line_error(err)
    # a substitution with a large exponent (was a RecursionError)
    camel = PROOFS / "camel_level3_lower_bound.json"
    p = _edit(tmp_path, camel, lambda d: d["objective"]["exponents"].__setitem__(0, [9000, 0]))
    code, _, err = _cli(capsys, p)
    assert code == 2
    _one_line_error(err)
    # /dev/zero: the read itself is capped
    if Path("/dev/zero").exists():
        code, _, err = _cli(capsys, "/dev/zero")
        assert code == 2 and "limit" in err
        _one_line_error(err)


def test_cli_bound_beyond_float_range(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    big = 10**400

    def edit(d: dict) -> None:  # f = (x - 1)^2 + 10^400 >= 10^400
        d["objective"]["coefficients"][0] = str(1 + big)
        d["bound"] = str(big)

    c = json.loads(SQUARE.read_text())
    assert c["objective"]["exponents"][0] == [0]
    code, out, err = _cli(capsys, _edit(tmp_path, SQUARE, edit))
    assert code == 0 and "verified: lower bound 1e+400" in out, out + err
    code, out, _ = _cli(capsys, _edit(tmp_path, SQUARE, edit), "--json")
    assert code == 0 and json.loads(out)["bound"] == str(big)
