"""Proofs where every optimal Gram matrix is singular: minimisers on the boundary of an unbounded set, and
equality-constrained optima.

Rounding a certificate with a margin of definiteness cannot work there (the optimal Gram matrices vanish on the
moment vectors of the minimisers), and with no box around the set the checker cannot absorb a residual either.
The certificates are made exact on the face the optimal Gram matrices span, read off the solver's solution.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest

import sosrelax as sr
from sosrelax.certificate.check import check_certificate

x, y, z = sr.variables("x y z")

# (name, problem, optimum, a minimiser); the optimum is attained at the minimiser and is a lower bound by the
# identity in the comment (so the expected values are proven by hand, independently of the code)
CASES = [
    # x² + (y − x)² − 1 = (y − x)² + (x − 1)² + 2(x − 1): minimiser (1, 1) on the boundary of x ≥ 1
    ("boundary, quadratic", sr.Problem(minimize=x**2 + (y - x) ** 2, subject_to=[x - 1 >= 0]), 1.0, (1.0, 1.0)),
    # a sum of squares that vanishes only at (1, 1), on the boundary of x ≥ 1
    ("boundary, quartic", sr.Problem(minimize=(x * y - 1) ** 2 + (x - 1) ** 2, subject_to=[x - 1 >= 0]), 0.0,
     (1.0, 1.0)),
    # on y = x² + 1: x² + y² − 1 = x² + (y − 1)² + 2(y − 1) = x² + (y − 1)² + 2x² ≥ 0 there, minimiser (0, 1)
    ("equality, parabola", sr.Problem(minimize=x**2 + y**2, subject_to=[y - x**2 - 1 == 0]), 1.0, (0.0, 1.0)),
    # a sum of squares on the hyperbola xy = 1, zero only at (1, 1, 0)
    ("equality, hyperbola",
     sr.Problem(minimize=(x**2 - 1) ** 2 + (y - 1) ** 2 + z**2, subject_to=[x * y - 1 == 0]), 0.0,
     (1.0, 1.0, 0.0)),
]


@pytest.mark.parametrize(("name", "problem", "optimum", "minimiser"), CASES, ids=[c[0] for c in CASES])
def test_singular_optimum_proven_within_1e6(name, problem, optimum, minimiser):
    point = dict(zip(problem.variables, minimiser, strict=True))
    assert problem.violation(point) == 0.0
    assert float(problem.objective.evaluate(np.array([minimiser]), problem.variables)[0]) == optimum
    res = sr.solve(problem, level=2)
    assert res.certified and res.bound is not None, res.message
    assert res.bound <= optimum  # never on the wrong side of the optimum
    assert res.bound >= optimum - 1e-6
    # the optimal Gram matrix of the objective's SOS multiplier is singular: a margin could not survive
    sigma0 = next(m for m in res.certificate.sos if m.constraint is None)
    G = np.array([[float(v) for v in row] for row in sigma0.gram])
    assert np.linalg.matrix_rank(G, tol=1e-9 * np.abs(G).max()) < G.shape[0]
    # a claim above the optimum with the same multipliers is rejected
    bad = replace(res.certificate, bound=Fraction(optimum) + Fraction(1, 1000))
    assert not check_certificate(bad).valid


def test_singular_certificates_recheck_from_file(tmp_path):
    res = sr.solve(CASES[2][1], level=2)
    path = tmp_path / "parabola.cert.json"
    res.certificate.save(path)
    report = sr.check_certificate(path)
    assert report.valid and float(report.bound) == pytest.approx(res.bound, abs=1e-12)


def test_faces_read_off_the_solution_are_exact():
    from sosrelax.relax.facial import faces_from_solution
    from sosrelax.relax.moment import build_moment_relaxation
    from sosrelax.solvers import solve_conic

    relax = build_moment_relaxation(CASES[0][1], 2)
    sol = solve_conic(relax.program, "clarabel")
    faces = faces_from_solution(relax, sol.x, sol.z, constraints=True)
    sigma0 = next(f for f in faces if relax.gram_blocks[f.block].constraint is None)
    # the face of σ0 is spanned by polynomials that vanish at the minimiser (1, 1): x − 1, y − 1
    basis = relax.gram_blocks[sigma0.block].full_basis(2)
    for j in range(len(sigma0.U[0])):
        value = sum(sigma0.U[a][j] * Fraction(1) ** int(basis[a].sum()) for a in range(len(basis)))
        assert value == 0
