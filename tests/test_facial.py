"""Facial reduction for zeros at infinity: the forced faces, exact certificates on them, and the chained
singular function (whose certificates all lie on such faces) proven near its optimum."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest
from chained_problems import broyden_tridiagonal, chained_singular, rosenbrock

import sosrelax as sr
from sosrelax.api import _build
from sosrelax.certificate import check_certificate
from sosrelax.certificate.format import as_rational_matrix
from sosrelax.relax.facial import face_program, faces_at_infinity, lift_dual, zeros_at_infinity
from sosrelax.relax.scaling import choose_scaling


def _relax(problem):
    sc = choose_scaling(problem)
    return _build(sc.scaled_problem, "sos", 2, "correlative"), sc


def test_zeros_at_infinity_of_chained_singular():
    """The quartic part sum (x_{i+1} - 2x_{i+2})^4 + 10(x_i - 10x_{i+3})^4 vanishes exactly on the 2-dimensional
    subspace cut out by its n - 2 linear forms."""
    relax, _ = _relax(chained_singular(12))
    V = zeros_at_infinity(relax)
    assert len(V) == 2
    for v in V:
        for i in range(0, 12 - 3, 2):
            assert v[i + 1] == 2 * v[i + 2]
            assert v[i] == 10 * v[i + 3]


def test_no_zeros_at_infinity_where_the_top_form_is_definite():
    relax, _ = _relax(broyden_tridiagonal(10))  # top form 4 sum x_i^4
    assert zeros_at_infinity(relax) == []


def test_faces_are_forced_and_leave_the_squares_of_the_linear_forms():
    """In each clique of 3 variables the degree-2 block keeps one direction (the square of the linear form that
    vanishes on the subspace's projection): 10 monomials, 5 left; the kernel vectors are annihilated exactly."""
    relax, _ = _relax(chained_singular(12))
    faces = faces_at_infinity(relax, zeros_at_infinity(relax))
    assert len(faces) == len(relax.gram_blocks)
    for face in faces:
        U = np.array([[float(v) for v in row] for row in face.U])
        assert U.shape == (10, 5)
        assert np.linalg.matrix_rank(U) == 5
    # Rosenbrock's zero at infinity (the last variable has no quartic term) is already removed by the Newton
    # polytope: no face is left to reduce
    relax_r, _ = _relax(rosenbrock(12))
    assert zeros_at_infinity(relax_r)
    assert faces_at_infinity(relax_r, zeros_at_infinity(relax_r)) == []


def _face_certificate_float():
    """The float certificate of the centred face program of chained singular (n = 12) for the bound -1e-4, its
    faces and the margin t the solver reported (Gram matrices U (R + t I) U^T)."""
    from sosrelax.certificate.extract import certificate_from_centered_dual, with_substitution
    from sosrelax.solvers import solve_conic

    problem = chained_singular(12)
    relax, sc = _relax(problem)
    faces = faces_at_infinity(relax, zeros_at_infinity(relax))
    gamma = -1e-4 / float(sc.objective_factor)
    prog, maps = face_program(relax, faces, gamma)
    sol = solve_conic(prog, "clarabel")
    t = -float(sol.z[0])
    z = lift_dual(maps, sol.z, margin=t)
    z[0] = 0.0
    return with_substitution(certificate_from_centered_dual(relax, z, gamma), sc, problem), faces, t


def test_certificate_on_the_face_is_exact_and_singular():
    """The face program at a bound below the optimum is strictly feasible on the face; the exact certificate
    keeps every Gram matrix on it (singular, proven PSD by exact LDL^T) and checks; tampering with one entry is
    rejected."""
    from sosrelax.certificate.rational import rationalize_in_face

    cert, faces, t = _face_certificate_float()
    assert t > 0
    exact = rationalize_in_face(cert, faces)
    assert exact is not None
    rep = check_certificate(exact)
    assert rep.valid, rep.reason
    assert -1e-4 - 1e-9 <= float(rep.bound) <= 0.0
    for m, face in zip(exact.sos, faces, strict=True):
        G = as_rational_matrix(m.gram).to_float()
        assert np.linalg.matrix_rank(G, tol=1e-9 * np.abs(G).max()) <= len(face.U[0])
    m0 = exact.sos[3]
    g = as_rational_matrix(m0.gram)
    num = g.numerators.copy()
    num[2, 2] += 1
    bad = replace(exact, sos=exact.sos[:3] + (replace(m0, gram=type(g)(num, g.denominator)),) + exact.sos[4:])
    assert not check_certificate(bad).valid


def test_chained_singular_n20_proven_within_1e5():
    """Chained singular function (Conn, Gould, Toint 1988), n = 20, level 2, correlative sparsity: optimum 0.
    Without facial reduction there is no proven bound at all."""
    res = sr.solve(chained_singular(20), level=2, sparsity="correlative")
    assert res.bound is not None, res.message
    assert check_certificate(res.certificate).valid
    assert res.bound <= 0.0
    assert -res.bound <= 1e-5, (res.bound, res.solver_bound)
    assert res.certificate.metadata.get("certificate") == "centered-face"


@pytest.mark.parametrize("bound", [Fraction(1, 10**6), Fraction(1, 10**9)])
def test_face_certificate_never_proves_above_the_optimum(bound):
    """The float certificate of a bound below the optimum 0, restated for a bound above it: the face rounding
    still produces an exact identity (it moves the difference onto the constant entries), and the checker
    rejects it, since no certificate of a bound above the optimum exists."""
    from sosrelax.certificate.rational import rationalize_in_face

    cert, faces, _t = _face_certificate_float()
    exact = rationalize_in_face(replace(cert, bound=bound), faces)
    assert exact is not None and exact.bound > 0  # (rounded to a multiple of 2^-40)
    rep = check_certificate(exact)
    assert not rep.valid


def test_exact_affine_substitute_matches_evaluation() -> None:
    """p(c + s u) expanded exactly equals p evaluated at c + s u, at random rational points."""
    import random
    from fractions import Fraction

    from sosrelax.relax.scaling import exact_affine_substitute

    rng = random.Random(4)
    n = 5
    p = {tuple(rng.randrange(3) if rng.random() < 0.4 else 0 for _ in range(n)): Fraction(rng.randint(-9, 9), 7)
         for _ in range(12)}
    c = tuple(Fraction(rng.randint(-5, 5), 4) for _ in range(n))
    s = tuple(Fraction(2) ** rng.randint(-3, 3) for _ in range(n))
    q = exact_affine_substitute(p, c, s)

    def ev(poly: dict, x: list) -> Fraction:
        total = Fraction(0)
        for e, v in poly.items():
            t = v
            for xi, ei in zip(x, e, strict=True):
                t *= xi**ei
            total += t
        return total

    for _ in range(5):
        u = [Fraction(rng.randint(-20, 20), 3) for _ in range(n)]
        assert ev(q, u) == ev(p, [ci + si * ui for ci, si, ui in zip(c, s, u, strict=True)])
