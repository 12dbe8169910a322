"""Certificates that share their problem data and bases with certificates checked before them.

The checker remembers validations and expansions of immutable objects from one check to the next
(the centred re-solves of one proof search list the same objects); a certificate that shares them
must still be rejected whenever it is wrong, and the limits of each check must still apply.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import sosrelax as sr
from sosrelax.certificate import Certificate, Limits, SOSMultiplier, check_certificate
from sosrelax.problems import broyden_tridiagonal


def _proof() -> Certificate:
    """A proven lower bound on the Broyden tridiagonal function of 8 variables (minimum 0): scaled (a
    substitution) and sparse (many blocks)."""
    res = sr.solve(broyden_tridiagonal(8), level=2, sparsity="correlative", progress=False)
    assert res.bound is not None and res.certificate is not None
    assert -1e-3 <= res.bound <= 0.0
    return res.certificate


def test_shared_objects_still_checked() -> None:
    cert = _proof()
    first = check_certificate(cert)
    assert first.valid
    assert check_certificate(cert).valid  # the same objects again: the same verdict

    # the same basis objects with a Gram matrix that is not PSD
    m = cert.sos[0]
    k = len(m.basis)
    bad = tuple(tuple(Fraction(-1 if i == j == 0 else 0) for j in range(k)) for i in range(k))
    tampered = replace(cert, sos=(replace(m, gram=bad), *cert.sos[1:]))
    assert not check_certificate(tampered).valid

    # the same objective object with a bound above the minimum the identity proves
    higher = replace(cert, bound=cert.bound + 1)
    assert not check_certificate(higher).valid

    # a different substitution object over the same multipliers
    assert cert.substitution is not None
    moved = tuple((c + 1, s) for c, s in cert.substitution)
    assert not check_certificate(replace(cert, substitution=moved)).valid

    # the same objects under tighter limits: the limits of this check apply
    degree = Limits(max_degree=3)
    rep = check_certificate(cert, limits=degree)
    assert not rep.valid and rep.over_limit and "max_degree" in rep.reason
    assert check_certificate(cert).valid


def test_basis_objects_shared_with_a_malformed_one() -> None:
    cert = _proof()
    assert check_certificate(cert).valid
    m = cert.sos[0]
    # a basis row with a negative exponent, next to rows of the checked basis
    row = (-1,) + m.basis[1][1:]
    broken = SOSMultiplier(m.constraint, (m.basis[0], row, *m.basis[2:]), m.gram, m.cone)
    rep = check_certificate(replace(cert, sos=(broken, *cert.sos[1:])))
    assert not rep.valid and "exponent" in rep.reason
