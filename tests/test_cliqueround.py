"""Bulk exact rounding of σ₀-only certificates (sosrelax.certificate.cliqueround) and the sparse row keys
of the checker's exact polynomials."""

from __future__ import annotations

import copy
from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest

import sosrelax as sr
from sosrelax.certificate.check import check_certificate, residual
from sosrelax.certificate.cliqueround import round_blocks
from sosrelax.certificate.exactpoly import row_keys
from sosrelax.certificate.format import RationalMatrix
from sosrelax.problems import broyden_tridiagonal, chained_wood


def _float_certificate(problem: sr.Problem) -> sr.Certificate:
    """The float certificate of the first centred solve of the sparse level-2 relaxation with a positive margin
    (else the solver's own dual), in the user's variables, as the certificate step rounds it.  (Centred solves
    whose margin came out negative give certificates for a lower bound than the one they state, which the
    rounding may not repair: see ``sosrelax.prove._interior``.)"""
    import sosrelax.prove as prove_mod

    seen: list[sr.Certificate] = []
    original = prove_mod.ProofContext.finish

    def spy(self: prove_mod.ProofContext, cert: sr.Certificate, faces: object = None) -> object:
        from sosrelax.certificate.extract import with_substitution

        c = with_substitution(cert, self.scaling, self.problem) if self.scaling is not None else cert
        seen.append(c)
        return original(self, cert, faces=faces)

    prove_mod.ProofContext.finish = spy  # type: ignore[method-assign]
    try:
        res = sr.solve(problem, level=2, sparsity="correlative", progress=False)
    finally:
        prove_mod.ProofContext.finish = original  # type: ignore[method-assign]
    assert res.certificate is not None
    centred = [c for c in seen if c.metadata.get("certificate") == "centered"
               and float(c.metadata.get("gram_margin", "0")) > 0]
    return (centred or seen)[0]


@pytest.mark.parametrize("make, optimum", [(broyden_tridiagonal, 0.0), (chained_wood, 1.0)])
def test_bulk_rounding_is_exact_and_below_the_optimum(make, optimum):
    cert = _float_certificate(make(12))
    exact = round_blocks(cert)
    assert exact is not None
    assert residual(exact) == ()  # the identity holds exactly: every monomial matches
    report = check_certificate(exact, tolerance=Fraction(1, 100))
    assert report.valid, report.reason
    assert report.bound <= Fraction(optimum)  # a lower bound of the known minimum
    assert float(report.bound) > optimum - 1e-3


def test_tampered_bulk_certificate_is_rejected():
    cert = _float_certificate(broyden_tridiagonal(10))
    exact = round_blocks(cert)
    assert exact is not None and check_certificate(exact, tolerance=Fraction(1, 100)).valid
    # one off-diagonal pair moved by 1/(den·2^10): the identity breaks on that monomial and no box absorbs it
    g = exact.sos[3].gram
    num = g.numerators.astype(object) * 2**10
    num[1, 2] += 1
    num[2, 1] += 1
    bad = copy.copy(exact.sos[3])
    object.__setattr__(bad, "gram", RationalMatrix(num, g.denominator * 2**10))
    sos = list(exact.sos)
    sos[3] = bad
    assert not check_certificate(replace(exact, sos=tuple(sos))).valid
    # a stronger bound than the identity gives
    assert not check_certificate(replace(exact, bound=exact.bound + Fraction(1, 1000))).valid


def test_bulk_rounding_declines_other_multipliers():
    x, y = sr.variables("x y")
    prob = sr.Problem(minimize=x**2 + y**2, subject_to=[1 - x**2 - y**2 >= 0])
    res = sr.solve(prob, level=2, progress=False)
    assert res.certificate is not None
    assert any(m.constraint is not None for m in res.certificate.sos)
    assert round_blocks(res.certificate) is None


def test_sparse_row_keys_group_equal_rows():
    rng = np.random.default_rng(7)
    rows = np.zeros((400, 300), dtype=np.int64)
    for i in range(400):
        cols = rng.choice(300, 3, replace=False)
        rows[i, cols] = rng.integers(0, 3, 3)
    e = np.vstack([rows, rows[::4]])  # repeated rows
    inv = row_keys(e)
    as_bytes = [r.tobytes() for r in e]
    for i in range(e.shape[0]):
        for j in (0, 1, i // 2, (7 * i) % e.shape[0]):
            assert (inv[i] == inv[j]) == (as_bytes[i] == as_bytes[j])


def test_affine_substitution_matches_the_general_expansion():
    from sosrelax.certificate.exactpoly import affine_substitute, combine, fq, to_fraction
    from sosrelax.certificate.intervals import substitute

    def terms(p):
        return sorted((tuple(r), to_fraction(c)) for r, c in zip(p[0].tolist(), p[1], strict=True))

    rng = np.random.default_rng(3)
    for _ in range(25):
        n, m = int(rng.integers(1, 7)), int(rng.integers(1, 12))
        e = (rng.integers(0, 4, (m, n)) * (rng.random((m, n)) < 0.6)).astype(np.int64)
        c = np.empty(m, dtype=object)
        c[:] = [fq(Fraction(int(rng.integers(-9, 10)), int(rng.integers(1, 5)))) for _ in range(m)]
        p = combine(e, c)
        sub = tuple((Fraction(int(rng.integers(-3, 4)), int(rng.integers(1, 4))),
                     Fraction(int(rng.choice([-2, -1, 1, 3])), int(rng.integers(1, 4)))) for _ in range(n))
        assert terms(affine_substitute(p, sub)) == terms(substitute(p, sub))
