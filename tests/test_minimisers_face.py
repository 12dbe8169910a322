"""Minimisers where the relaxation's optimum is singular: Himmelblau's quartic, four global minimisers.

``f = (x² + y − 11)² + (x + y² − 7)²`` (Himmelblau 1972, a standard test function of global optimisation) has
minimum 0 at four points, the common real zeros of its two squares.  Every optimal Gram matrix has rank 2 (the
face spanned by the two squares), so rounding with a margin proves nothing close to 0; the moment matrix of the
relaxation (reduced to the Newton polytope) is not flat, so no atom is read off it directly.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.optimize

import sosrelax as sr

x, y = sr.variables("x y")
HIMMELBLAU = (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2


def himmelblau_minimisers() -> np.ndarray:
    """The real solutions of ``x² + y = 11, x + y² = 7`` by Newton's method from a grid (independent of the
    relaxation); four of them."""
    def eqs(p: np.ndarray) -> np.ndarray:
        return np.array([p[0] ** 2 + p[1] - 11, p[0] + p[1] ** 2 - 7])

    roots: list[np.ndarray] = []
    for a, b in itertools.product(np.linspace(-5, 5, 11), repeat=2):
        sol = scipy.optimize.root(eqs, [a, b], tol=1e-14)
        if sol.success and np.max(np.abs(eqs(sol.x))) < 1e-10 and not any(
            np.allclose(sol.x, r, atol=1e-8) for r in roots
        ):
            roots.append(sol.x)
    return np.array(sorted(roots, key=tuple))


def sorted_rows(a: np.ndarray) -> np.ndarray:
    return a[np.lexsort(a.T[::-1])]


@pytest.mark.parametrize("level", [2, 4])
def test_himmelblau_four_minimisers_and_a_tight_proof(level):
    known = himmelblau_minimisers()
    assert known.shape == (4, 2)
    res = sr.solve(sr.Problem(minimize=HIMMELBLAU), level=level)
    assert res.certified and res.bound is not None
    assert res.bound <= 0.0  # never above the optimum
    assert res.bound >= -1e-6
    atoms = res.pseudo.atoms()
    assert atoms.found and atoms.points.shape == (4, 2)
    assert np.allclose(sorted_rows(atoms.points), sorted_rows(known), atol=1e-6)
    values = HIMMELBLAU.evaluate(atoms.points, ["x", "y"])
    assert abs(float(np.mean(values)) - res.bound) <= 1e-6
    assert np.all(atoms.weights > 0) and abs(atoms.weights.sum() - 1.0) <= 1e-6
    assert np.allclose(sorted_rows(res.minimizers()), sorted_rows(known), atol=1e-6)


def test_himmelblau_certificate_rechecks_and_rejects_tampering(tmp_path):
    res = sr.solve(sr.Problem(minimize=HIMMELBLAU), level=3)
    path = tmp_path / "himmelblau.cert.json"
    res.certificate.save(path)
    report = sr.check_certificate(path)
    assert report.valid and report.bound is not None and float(report.bound) <= 0.0
    from dataclasses import replace
    from fractions import Fraction

    bad = replace(res.certificate, bound=Fraction(1, 10**3))  # above the optimum: must be rejected
    from sosrelax.certificate.check import check_certificate

    assert not check_certificate(bad).valid
