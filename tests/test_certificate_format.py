"""Certificate file format: canonical round trips, exactness, limits, schema."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sosrelax.certificate.format import (
    FORMAT_NAME,
    FORMAT_VERSION,
    Certificate,
    Limits,
    RationalMatrix,
    SOSMultiplier,
    gram_from_array,
    parse_rational,
    terms_from_arrays,
)
from sosrelax.errors import CertificateFormatError

ROOT = Path(__file__).resolve().parents[1]
PROOFS = sorted((ROOT / "proofs").glob("*.json"))
SCHEMA = ROOT / "sosrelax" / "certificate" / "certificate.schema.json"


def _square() -> Certificate:
    return Certificate(
        variables=("x",), kind="lower_bound",
        objective=(((2,), Fraction(1)), ((1,), Fraction(-2)), ((0,), Fraction(1))),
        bound=Fraction(0), inequalities=(), equalities=(),
        sos=(SOSMultiplier(None, ((0,), (1,)), ((Fraction(1), Fraction(-1)),
                                                (Fraction(-1), Fraction(1)))),),
        equality_multipliers=(),
    )


def test_constants() -> None:
    assert FORMAT_NAME == "sosrelax-certificate" and FORMAT_VERSION == 1


@pytest.mark.parametrize("path", PROOFS, ids=lambda p: p.stem)
def test_golden_files_are_canonical(path: Path) -> None:
    b = path.read_bytes()
    assert Certificate.from_json(b).to_json() == b


def test_round_trip_and_determinism(tmp_path: Path) -> None:
    c = _square()
    b = c.to_json()
    assert b == _square().to_json()
    assert Certificate.from_json(b) == c
    c.save(tmp_path / "c.json")
    assert Certificate.load(tmp_path / "c.json").to_json() == b
    doc = json.loads(b)
    assert doc["format"] == FORMAT_NAME and doc["sos"][0]["gram"] == [["1", "-1"], ["-1", "1"]]


def test_gram_reads_as_nested_tuples() -> None:
    g = _square().sos[0].gram
    assert len(g) == 2 and g[0] == (Fraction(1), Fraction(-1))
    assert g == ((1, -1), (-1, 1))
    assert tuple(g) == ((Fraction(1), Fraction(-1)), (Fraction(-1), Fraction(1)))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, width=64), min_size=9,
                max_size=9))
def test_gram_from_array_is_exact(vals: list[float]) -> None:
    Q = np.array(vals).reshape(3, 3)
    g = gram_from_array(Q)
    for i in range(3):
        for j in range(3):
            assert g[i][j] == Fraction(Q[i, j])
    m = SOSMultiplier(None, ((0,), (1,), (2,)), g)
    c = Certificate(("x",), "lower_bound", (), 0, (), (), (m,), ())
    b = c.to_json()
    c2 = Certificate.from_json(b)
    assert c2.to_json() == b and c2.sos[0].gram == g


def test_large_gram_is_cheap() -> None:
    rng = np.random.default_rng(1)
    Q = rng.standard_normal((400, 400))
    g = gram_from_array(Q + Q.T)
    assert isinstance(g, RationalMatrix) and g.shape == (400, 400)
    assert np.array_equal(g.to_float(), Q + Q.T)


def test_terms_from_arrays_exact() -> None:
    t = terms_from_arrays(np.array([[2, 0], [0, 1]]), np.array([0.1, -3.0]))
    assert t == (((2, 0), Fraction(0.1)), ((0, 1), Fraction(-3)))
    with pytest.raises(ValueError):
        terms_from_arrays(np.array([[1]]), np.array([np.nan]))


@pytest.mark.parametrize("text,ok", [("0", True), ("-3/4", True), ("12", True), ("2/4", False),
                                     ("3/1", False), ("-0", False), ("1.5", False), ("+1", False),
                                     ("01", False), ("NaN", False), ("1e5", False)])
def test_number_strings(text: str, ok: bool) -> None:
    if ok:
        assert parse_rational(text, "p") == Fraction(text)
    else:
        with pytest.raises(CertificateFormatError, match="p:"):
            parse_rational(text, "p")


def test_errors_name_the_path() -> None:
    doc = json.loads(_square().to_json())
    doc["sos"][0]["gram"][1][0] = "x"
    with pytest.raises(CertificateFormatError, match=r"sos\[0\]\.gram\[1\]\[0\]"):
        Certificate.from_json(json.dumps(doc))


def test_limits_refuse_before_parsing(tmp_path: Path) -> None:
    b = _square().to_json()
    with pytest.raises(CertificateFormatError, match="bytes"):
        Certificate.from_json(b, limits=Limits(max_file_bytes=10))
    p = tmp_path / "c.json"
    p.write_bytes(b)
    with pytest.raises(CertificateFormatError, match="bytes"):
        Certificate.load(p, limits=Limits(max_file_bytes=10))
    with pytest.raises(CertificateFormatError, match="nesting"):
        Certificate.from_json(b"[" * 50 + b"]" * 50)
    with pytest.raises(CertificateFormatError, match="limit"):
        Certificate.from_json(b, limits=Limits(max_gram_order=1))
    with pytest.raises(CertificateFormatError, match="limit"):
        Certificate.from_json(b, limits=Limits(max_variables=0))
    big = b.replace(b'"version":1', b'"version":1' + b"0" * 30)
    with pytest.raises(CertificateFormatError):
        Certificate.from_json(big)


def test_schema_accepts_golden_files() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    v = jsonschema.Draft202012Validator(schema)
    for p in PROOFS:
        v.validate(json.loads(p.read_bytes()))
    doc = json.loads(_square().to_json())
    doc["bound"] = 0.5
    assert not v.is_valid(doc)
    doc["bound"] = "1/2"
    doc["extra"] = 1
    assert not v.is_valid(doc)
