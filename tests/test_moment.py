"""The moment relaxation builder: structure checked against hand-derived matrices and brute force."""

from __future__ import annotations

from math import comb

import numpy as np
import pytest

import sosrelax as sr
from sosrelax.conic import ConeKind, smat
from sosrelax.errors import InvalidValueError, SizeLimitError
from sosrelax.poly import monomial_basis
from sosrelax.relax.moment import build_moment_relaxation, build_system_relaxation, minimum_level
from sosrelax.relax.system import PolynomialSystem


def _moment_vector(exps: np.ndarray, points: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Moments of the atomic measure Σ w_k δ_{p_k} on the monomials ``exps``."""
    return (weights[:, None] * np.prod(points[:, None, :] ** exps[None, :, :], axis=2)).sum(axis=0)


def test_sizes_match_the_combinatorics():
    v = sr.variables("x", 4)
    prob = sr.Problem(minimize=sum(xi**4 for xi in v), subject_to=[1 - sum(xi**2 for xi in v) >= 0])
    r = build_moment_relaxation(prob, 3)
    assert r.n_moments == comb(4 + 6, 6)
    orders = [blk.order for blk in r.gram_blocks]
    assert orders == [comb(4 + 3, 3), comb(4 + 2, 2)]
    psd = [c for c in r.program.cones if c.kind is ConeKind.PSD]
    assert [c.dim for c in psd] == orders


def test_true_measure_is_feasible_and_objective_is_its_expectation():
    """The moments of any probability measure on K satisfy every constraint of the relaxation."""
    rng = np.random.default_rng(0)
    x, y = sr.variables("x y")
    f = x**3 * y - 2 * x * y**2 + y**4
    g = 1 - x**2 - y**2
    h = x - y**2 + 0.25  # the parabola x = y² − 1/4 meets the disc
    prob = sr.Problem(minimize=f, subject_to=[g >= 0, h == 0])
    r = build_moment_relaxation(prob, 2)
    ys = rng.uniform(-0.8, 0.8, size=5)
    pts = np.column_stack([ys**2 - 0.25, ys])
    pts = pts[(pts**2).sum(axis=1) <= 1]
    w = rng.uniform(size=len(pts))
    w /= w.sum()
    yv = _moment_vector(r.moment_exps, pts, w)
    prog = r.program
    s = prog.b - prog.A @ yv
    for cone, sl in zip(prog.cones, prog.cone_slices(), strict=True):
        if cone.kind is ConeKind.ZERO:
            assert np.allclose(s[sl], 0, atol=1e-12)
        elif cone.kind is ConeKind.NONNEG:
            assert np.all(s[sl] >= -1e-12)
        else:
            assert np.linalg.eigvalsh(smat(s[sl])).min() >= -1e-12
    assert prog.c @ yv == pytest.approx(float(np.dot(w, f.evaluate(pts))))


def test_moment_matrix_entries_hand_derived():
    (x,) = sr.variables("x")
    prob = sr.Problem(minimize=x**2, subject_to=[1 - x**2 >= 0])
    r = build_moment_relaxation(prob, 1)
    assert r.moment_exps[:, 0].tolist() == [0, 1, 2]
    yv = np.array([1.0, 0.3, 0.5])
    s = r.program.b - r.program.A @ yv
    M = smat(s[r.gram_blocks[0].rows])
    assert np.allclose(M, [[1.0, 0.3], [0.3, 0.5]])
    loc = s[r.gram_blocks[1].rows]  # order 0: the scalar L(1 − x²)
    assert np.allclose(loc, [0.5])


def test_maximize_is_minimize_of_negative():
    x, y = sr.variables("x y")
    cons = [1 - x**2 >= 0, 1 - y**2 >= 0]
    a = sr.solve(sr.Problem(maximize=x * y + x, subject_to=cons), level=2)
    b = sr.solve(sr.Problem(minimize=-(x * y + x), subject_to=cons), level=2)
    assert a.bound == pytest.approx(-b.bound, rel=1e-6)
    assert a.bound >= 2 - 1e-9  # true maximum 2 at (1, 1)


def test_minimum_level_and_refusals():
    x, y = sr.variables("x y")
    prob = sr.Problem(minimize=x**5 + y, subject_to=[x**2 + y**2 <= 1])
    assert minimum_level(prob) == 3
    with pytest.raises(InvalidValueError, match="level >= 3"):
        build_moment_relaxation(prob, 2)
    big = sr.variables("x", 60)
    with pytest.raises(SizeLimitError):
        build_moment_relaxation(sr.Problem(minimize=sum(v**2 for v in big)), 4)


@pytest.mark.parametrize("objective_degree", [3, 4, 6])
def test_level_too_low_message_states_the_true_degree(objective_degree):
    x, y = sr.variables("x y")
    prob = sr.Problem(minimize=x**objective_degree + y, subject_to=[x**2 + y**2 <= 1])
    need = (objective_degree + 1) // 2
    expected = (f"level 1 is too low for this problem: its polynomials have degree up to {objective_degree}, "
                f"which needs level >= {need}; pass level={need} or higher")
    with pytest.raises(InvalidValueError) as problem_error:
        build_moment_relaxation(prob, 1)
    assert str(problem_error.value) == expected
    with pytest.raises(InvalidValueError) as system_error:
        build_system_relaxation(PolynomialSystem.from_problem(prob), 1)
    assert str(system_error.value) == expected


def test_graded_basis_is_the_moment_index():
    a, b, c = sr.variables("a b c")
    r = build_moment_relaxation(sr.Problem(minimize=a**2 + b * c), 2)
    assert np.array_equal(r.moment_exps, monomial_basis(3, 4))


def test_brute_force_agreement_on_a_box():
    """On a 2-D box the level-3 bound is below the grid minimum and within 1e-5 of it."""
    x, y = sr.variables("x y")
    f = x**4 - 3 * x**2 * y + y**3 - x + 0.5 * y
    prob = sr.Problem(minimize=f, subject_to=[*sr.box([x, y], -1, 1)])
    res = sr.solve(prob, level=3)
    g = np.linspace(-1, 1, 801)
    X, Y = np.meshgrid(g, g)
    grid_min = f.evaluate(np.column_stack([X.ravel(), Y.ravel()])).min()
    assert res.bound is not None
    assert res.bound <= grid_min + 1e-12
    assert res.bound == pytest.approx(grid_min, abs=1e-4)
