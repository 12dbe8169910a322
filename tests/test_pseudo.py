"""Pseudodistributions built from real atomic measures: moments, flatness, atom extraction."""

from __future__ import annotations

import numpy as np
import pytest

from sosrelax.adversary.pseudo import (
    MomentUnavailableError,
    PseudoDistribution,
    flatness_offset,
)
from sosrelax.errors import InvalidValueError, SosrelaxError, UnknownVariableError
from sosrelax.poly import Polynomial, monomial_basis, variables
from sosrelax.problem import Problem

NAMES = ("x", "y", "z")


def measure_moments(names: tuple[str, ...], points: np.ndarray, weights: np.ndarray,
                    level: int) -> np.ndarray:
    """``Σ_k w_k x_k^α`` for α in ``monomial_basis(n, 2 level)``, by evaluating each monomial."""
    n = len(names)
    basis = monomial_basis(n, 2 * level)
    out = np.empty(basis.shape[0])
    for i, alpha in enumerate(basis):
        mono = Polynomial(alpha[None, :], [1.0], names)
        out[i] = float(weights @ mono.evaluate(points))
    return out


def random_measure(rng: np.random.Generator, n: int, r: int) -> tuple[np.ndarray, np.ndarray]:
    points = rng.uniform(-1.0, 1.0, (r, n))
    weights = 0.1 + rng.dirichlet(np.ones(r))
    return points, weights / weights.sum()


def match(found: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Permutation p with found[p[j]] nearest true[j]."""
    d = np.linalg.norm(found[:, None, :] - true[None, :, :], axis=2)
    return np.argmin(d, axis=0)


# (n variables, r atoms, level d): level large enough for a flat extension to exist
CASES = [(2, 1, 1), (2, 2, 2), (2, 3, 2), (2, 4, 3), (3, 1, 1), (3, 2, 2), (3, 3, 2), (3, 4, 2)]


@pytest.mark.parametrize("n,r,level", CASES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_atoms_of_atomic_measures_are_recovered(n: int, r: int, level: int, seed: int) -> None:
    rng = np.random.default_rng(1000 * seed + 10 * n + r)
    pts, w = random_measure(rng, n, r)
    names = NAMES[:n]
    pseudo = PseudoDistribution.from_moments(names, measure_moments(names, pts, w, level), level)
    flat = pseudo.is_flat()
    assert flat and flat.flat
    assert pseudo.rank(flat.order) == r
    assert flat.ranks[flat.order] == flat.ranks[flat.order - 1] == r
    res = pseudo.atoms(rng=np.random.default_rng(seed))
    assert res.found, res.message
    assert res.points.shape == (r, n) and res.rank == r
    p = match(res.points, pts)
    assert np.max(np.abs(res.points[p] - pts)) < 1e-8
    assert np.max(np.abs(res.weights[p] - w)) < 1e-8
    assert res.residual < 1e-10


def test_from_atoms_equals_measure_moments() -> None:
    rng = np.random.default_rng(7)
    pts, w = random_measure(rng, 3, 4)
    pseudo = PseudoDistribution.from_atoms(NAMES, pts, w, 2)
    np.testing.assert_allclose(pseudo.moments, measure_moments(NAMES, pts, w, 2), atol=1e-14)
    np.testing.assert_array_equal(pseudo.exps, monomial_basis(3, 4))


def test_expect_mean_cov_agree_with_the_measure() -> None:
    rng = np.random.default_rng(3)
    pts, w = random_measure(rng, 3, 5)
    pseudo = PseudoDistribution.from_moments(NAMES, measure_moments(NAMES, pts, w, 2), 2)
    x, y, z = variables("x y z")
    for p in [x**2 * y - 3 * z + 0.5, (x - y * z) ** 2, x**4 - 2 * x * y * z + z**3, 1.0 + 0 * x]:
        truth = float(w @ p.evaluate(pts, NAMES))
        assert pseudo.expect(p) == pytest.approx(truth, abs=1e-13)
    mu = w @ pts
    np.testing.assert_allclose(pseudo.mean(), mu, atol=1e-14)
    cov = (pts - mu).T @ ((pts - mu) * w[:, None])
    np.testing.assert_allclose(pseudo.cov(), cov, atol=1e-14)
    assert pseudo.mass == pytest.approx(1.0)
    # a polynomial in a subset of the variables, written with another variable order
    q = Polynomial.parse("z^2*x + 1", ["z", "x"])
    assert pseudo.expect(q) == pytest.approx(float(w @ (pts[:, 2] ** 2 * pts[:, 0] + 1)), abs=1e-13)


def test_moment_and_localizing_matrices_of_true_measures_are_psd() -> None:
    rng = np.random.default_rng(11)
    for n, r in [(2, 3), (2, 8), (3, 6), (3, 12)]:
        pts, w = random_measure(rng, n, r)
        pts *= 0.6  # inside the unit ball
        names = NAMES[:n]
        pseudo = PseudoDistribution.from_moments(names, measure_moments(names, pts, w, 2), 2)
        for k in range(3):
            m = pseudo.moment_matrix(k)
            assert m.shape == (monomial_basis(n, k).shape[0],) * 2
            np.testing.assert_allclose(m, m.T)
            assert np.linalg.eigvalsh(m).min() >= -1e-12 * np.abs(m).max()
        vs = variables(" ".join(names))
        g = 1 - sum(v**2 for v in vs)
        loc = pseudo.localizing_matrix(g, 1)
        basis = monomial_basis(n, 1)
        vand = np.prod(pts[:, None, :] ** basis[None, :, :], axis=2)
        truth = (vand * (w * g.evaluate(pts, names))[:, None]).T @ vand
        np.testing.assert_allclose(loc, truth, atol=1e-13)
        assert np.linalg.eigvalsh(loc).min() >= -1e-12


def test_many_variable_moments_are_found_exactly() -> None:
    # 30 variables, degree 4: too many for a mixed-radix int64 key (5^30 > 2^63)
    rng = np.random.default_rng(12)
    names = tuple(f"v{i}" for i in range(30))
    pts, w = random_measure(rng, 30, 3)
    pseudo = PseudoDistribution.from_atoms(names, pts, w, 2)
    np.testing.assert_allclose(pseudo.mean(), w @ pts, atol=1e-14)
    np.testing.assert_allclose(pseudo.second_moments(), pts.T @ (pts * w[:, None]), atol=1e-14)
    assert pseudo.rank(1) == 3
    res = pseudo.atoms()
    assert res.found and res.points.shape == (3, 30)
    p = match(res.points, pts)
    assert np.max(np.abs(res.points[p] - pts)) < 1e-8


def test_moment_matrix_round_trip() -> None:
    rng = np.random.default_rng(5)
    pts, w = random_measure(rng, 2, 3)
    pseudo = PseudoDistribution.from_atoms(("x", "y"), pts, w, 2)
    again = PseudoDistribution.from_moment_matrix(("x", "y"), pseudo.moment_matrix(2), 2)
    np.testing.assert_allclose(again.moments, pseudo.moments, atol=1e-15)


def test_expect_beyond_the_level_is_a_key_error() -> None:
    pseudo = PseudoDistribution.from_atoms(("x", "y"), np.array([[0.5, -0.5]]), np.ones(1), 1)
    x, y = variables("x y")
    assert pseudo.expect(x * y) == pytest.approx(-0.25)
    with pytest.raises(MomentUnavailableError, match="degree 3") as info:
        pseudo.expect(x**2 * y)
    assert isinstance(info.value, KeyError) and isinstance(info.value, SosrelaxError)
    (w,) = variables("w")
    with pytest.raises(UnknownVariableError):
        pseudo.expect(x + w)
    with pytest.raises(InvalidValueError):
        pseudo.moment_matrix(2)


def test_clique_pseudodistribution_on_a_subset_of_variables() -> None:
    pts = np.array([[0.25, -1.0], [0.5, 2.0]])
    pseudo = PseudoDistribution.from_atoms(("y", "z"), pts, np.array([0.5, 0.5]), 1)
    _, y, z = variables("x y z")
    assert pseudo.expect(y * z) == pytest.approx(0.5 * (-0.25 + 1.0))
    x = variables("x")[0]
    with pytest.raises(UnknownVariableError):
        pseudo.expect(x * y)


def test_uniform_measure_is_not_atomic() -> None:
    # Lebesgue measure on [0, 1]^2: y_α = 1 / ((α_1 + 1)(α_2 + 1)); every moment matrix is definite
    basis = monomial_basis(2, 6)
    moments = 1.0 / np.prod(basis + 1.0, axis=1)
    pseudo = PseudoDistribution.from_moments(("x", "y"), moments, 3)
    flat = pseudo.is_flat()
    assert not flat
    assert flat.ranks == (1, 3, 6, 10)
    res = pseudo.atoms()
    assert not res.found and res.points.shape[0] == 0
    assert "not flat" in res.message
    forced = pseudo.atoms(require_flat=False)
    assert not forced.found


def test_too_many_atoms_for_the_level_is_not_flat() -> None:
    rng = np.random.default_rng(9)
    pts, w = random_measure(rng, 2, 10)
    pseudo = PseudoDistribution.from_moments(("x", "y"), measure_moments(("x", "y"), pts, w, 2), 2)
    assert not pseudo.is_flat()
    assert pseudo.is_flat().ranks == (1, 3, 6)
    assert not pseudo.atoms().found
    assert not pseudo.atoms(require_flat=False).found


def test_not_a_measure_gives_no_atoms() -> None:
    # flat-looking ranks but an indefinite moment matrix: y_{x^2} < y_x^2
    pseudo = PseudoDistribution.from_moments(("x",), np.array([1.0, 0.5, 0.0]), 1)
    assert np.linalg.eigvalsh(pseudo.moment_matrix(1)).min() < 0
    res = pseudo.atoms(require_flat=False)
    assert not res.found


def test_moments_above_the_flat_order_are_not_compared() -> None:
    # two atoms: M_1 and M_2 both have rank 2 (flat at order 2); raising the x^6 moment only
    # enlarges the (x^3, x^3) diagonal entry of M_3, which stays PSD but is no longer flat
    pts = np.array([[0.5, -0.25], [-0.75, 0.5]])
    w = np.array([0.3, 0.7])
    y = measure_moments(("x", "y"), pts, w, 3)
    y[monomial_basis(2, 6).tolist().index([6, 0])] += 0.5
    pseudo = PseudoDistribution.from_moments(("x", "y"), y, 3)
    assert np.linalg.eigvalsh(pseudo.moment_matrix(3)).min() > -1e-12
    rep = pseudo.is_flat()
    assert rep.order == 2 and rep.ranks == (1, 2, 2, 3)
    res = pseudo.atoms()
    assert res.found and res.order == 2
    p = match(res.points, pts)
    assert np.max(np.abs(res.points[p] - pts)) < 1e-10
    assert np.max(np.abs(res.weights[p] - w)) < 1e-10


def test_atoms_survive_solver_sized_noise() -> None:
    rng = np.random.default_rng(21)
    pts, w = random_measure(rng, 2, 3)
    y = measure_moments(("x", "y"), pts, w, 2)
    noisy = y + 1e-10 * rng.standard_normal(y.shape)
    noisy[0] = 1.0
    res = PseudoDistribution.from_moments(("x", "y"), noisy, 2).atoms(rng=rng, residual_tol=1e-7)
    assert res.found, res.message
    p = match(res.points, pts)
    assert np.max(np.abs(res.points[p] - pts)) < 1e-6


def test_flatness_offset_follows_the_constraint_degrees() -> None:
    x, y = variables("x y")
    assert flatness_offset(Problem(minimize=x, subject_to=[1 - x**2 - y**2 >= 0])) == 1
    assert flatness_offset(Problem(minimize=x, subject_to=[1 - x**4 - y**2 >= 0])) == 2
    assert flatness_offset(Problem(minimize=x, subject_to=[x**5 - y == 0])) == 3
    # offset 2: needs rank M_k = rank M_{k-2}
    pts, w = random_measure(np.random.default_rng(4), 2, 2)
    pseudo = PseudoDistribution.from_atoms(("x", "y"), pts, w, 3)
    rep = pseudo.is_flat(offset=2)
    assert rep.flat and rep.order == 3 and rep.offset == 2
    assert pseudo.atoms(offset=2).found


def test_invalid_moment_vectors_are_rejected() -> None:
    with pytest.raises(InvalidValueError, match="shape"):
        PseudoDistribution.from_moments(("x", "y"), np.ones(5), 1)
    with pytest.raises(InvalidValueError, match="finite"):
        PseudoDistribution.from_moments(("x",), np.array([1.0, np.nan, 1.0]), 1)
    with pytest.raises(InvalidValueError, match="y_0"):
        PseudoDistribution(("x",), np.array([[1], [2]]), np.array([0.0, 1.0]), 1)
    with pytest.raises(InvalidValueError, match="positive"):
        PseudoDistribution.from_moments(("x",), np.array([-1.0, 0.0, 1.0]), 1)
    with pytest.raises(InvalidValueError, match="missing"):
        PseudoDistribution(("x",), np.array([[0], [1]]), np.array([1.0, 0.0]), 1)
    with pytest.raises(InvalidValueError, match="duplicate"):
        PseudoDistribution(("x", "x"), np.zeros((1, 2), dtype=int), np.ones(1), 0)


def test_solver_moments_yield_the_global_minimisers() -> None:
    solve = pytest.importorskip("sosrelax.api").solve
    x, y = variables("x y")
    # global minimisers (±1, 0): two atoms
    prob = Problem(minimize=(x**2 - 1) ** 2 + y**2, subject_to=[4 - x**2 - y**2 >= 0])
    res = solve(prob, relaxation="sos", level=2, certificate=False)
    assert res.pseudo is not None
    atoms = res.pseudo.atoms(tol=1e-4, residual_tol=1e-5, offset=flatness_offset(prob))
    assert atoms.found, atoms.message
    pts = atoms.points[np.argsort(atoms.points[:, 0])]
    np.testing.assert_allclose(pts, [[-1.0, 0.0], [1.0, 0.0]], atol=1e-4)
    np.testing.assert_allclose(np.sort(atoms.weights), [0.5, 0.5], atol=1e-3)
