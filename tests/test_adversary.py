"""Rounding and primal search: max-cut against brute force, exact counterexamples to claims."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from sosrelax.adversary.pseudo import PseudoDistribution
from sosrelax.adversary.rounding import (
    gaussian_candidates,
    hyperplane_candidates,
    mean_candidates,
    project_to_box,
    psd_projection,
    sign_variables,
    uniform_candidates,
)
from sosrelax.adversary.search import AttackStatus, attack, multistart
from sosrelax.errors import InvalidValueError
from sosrelax.poly import Polynomial, variables
from sosrelax.problem import Claim, Problem, box, hypercube

# ---------------------------------------------------------------------------- max-cut fixtures


def random_graph(rng: np.random.Generator, n: int) -> np.ndarray:
    """Symmetric nonnegative weights, zero diagonal, edge probability 1/2."""
    w = np.triu(rng.uniform(0.1, 1.0, (n, n)) * (rng.random((n, n)) < 0.5), 1)
    return w + w.T


def maxcut_problem(w: np.ndarray) -> tuple[Problem, tuple[str, ...]]:
    """The max-cut problem and the variable names in node order (x0, x1, ...)."""
    n = w.shape[0]
    xs = variables("x", n)
    i, j = np.nonzero(np.triu(w, 1))
    cut = sum(float(w[a, b]) * (1 - xs[a] * xs[b]) / 2 for a, b in zip(i, j, strict=True))
    names = tuple(f"x{k}" for k in range(n))
    return Problem(maximize=cut, subject_to=hypercube(xs)), names


def cut_values(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Cut weight ``Σ_{i<j} w_ij (1 − x_i x_j)/2`` of each ±1 row of ``x``."""
    return 0.25 * (np.sum(w) - np.einsum("ki,ij,kj->k", x, w, x))


def brute_force_maxcut(w: np.ndarray) -> float:
    n = w.shape[0]
    bits = (np.arange(2 ** (n - 1))[:, None] >> np.arange(n - 1)) & 1
    x = np.hstack([np.ones((bits.shape[0], 1)), 1.0 - 2.0 * bits])
    return float(cut_values(w, x).max())


def gw_sdp(w: np.ndarray) -> tuple[float, np.ndarray]:
    """Goemans–Williamson SDP: max Σ_{i<j} w_ij (1 − X_ij)/2, diag X = 1, X ⪰ 0."""
    cp = pytest.importorskip("cvxpy")
    n = w.shape[0]
    x = cp.Variable((n, n), PSD=True)
    prob = cp.Problem(cp.Maximize(cp.sum(cp.multiply(w, 1 - x)) / 4), [cp.diag(x) == 1])
    prob.solve(solver=cp.CLARABEL)
    return float(prob.value), np.asarray(x.value)


def gw_pseudo(w: np.ndarray, names: tuple[str, ...]) -> tuple[float, PseudoDistribution]:
    """Degree-2 moments of the GW SDP (means 0), as a level-1 pseudodistribution."""
    bound, x = gw_sdp(w)
    n = w.shape[0]
    m1 = np.zeros((n + 1, n + 1))
    m1[0, 0] = 1.0
    m1[1:, 1:] = 0.5 * (x + x.T)
    return bound, PseudoDistribution.from_moment_matrix(names, m1, 1)


@pytest.mark.parametrize("n,seed", [(5, 0), (7, 1), (8, 2), (10, 3), (12, 4)])
def test_hyperplane_rounding_attains_the_goemans_williamson_ratio(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    w = random_graph(rng, n)
    prob, names = maxcut_problem(w)
    bound, pseudo = gw_pseudo(w, names)
    assert bound >= brute_force_maxcut(w) - 1e-6  # the SDP is a relaxation
    rows = hyperplane_candidates(pseudo, prob, rng, 4000)  # columns: prob.variables
    assert rows.shape == (4000, n) and set(np.unique(rows)) <= {-1.0, 1.0}
    rows = rows[:, [prob.variables.index(v) for v in names]]
    ratio = float(np.mean(cut_values(w, rows))) / bound
    assert ratio >= 0.878


@pytest.mark.parametrize("n,seed", [(6, 10), (8, 11), (10, 12), (12, 13), (12, 14)])
def test_rounding_plus_local_search_finds_the_max_cut(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    w = random_graph(rng, n)
    prob, names = maxcut_problem(w)
    _, pseudo = gw_pseudo(w, names)
    res = attack(prob, pseudo, rng=rng, n_samples=64, n_starts=8, budget_s=20)
    assert res.status is AttackStatus.FEASIBLE and res.best is not None
    assert res.best.feasible and res.counterexample is None
    assert res.best.value == pytest.approx(brute_force_maxcut(w), abs=1e-9)
    x = np.array([res.best.point[v] for v in names])
    assert set(np.abs(x)) == {1.0}
    assert cut_values(w, x[None, :])[0] == pytest.approx(res.best.value, abs=1e-12)


def test_maxcut_through_the_library_relaxation() -> None:
    solve = pytest.importorskip("sosrelax.api").solve
    rng = np.random.default_rng(77)
    w = random_graph(rng, 9)
    prob, names = maxcut_problem(w)
    sol = solve(prob, relaxation="sos", level=1, certificate=False)
    assert sol.pseudo is not None
    bound, _ = gw_sdp(w)
    assert sol.pseudo.expect(prob.objective) == pytest.approx(bound, rel=1e-5)
    rows = hyperplane_candidates(sol.pseudo, prob, rng, 4000)
    rows = rows[:, [prob.variables.index(v) for v in names]]
    assert np.mean(cut_values(w, rows)) >= 0.878 * bound
    res = attack(prob, sol.pseudo, rng=rng, n_samples=64, n_starts=8)
    assert res.best is not None
    assert res.best.value == pytest.approx(brute_force_maxcut(w), abs=1e-9)


def test_balanced_cut_with_an_exactly_met_linear_equality() -> None:
    # max-bisection: Σ x_i = 0 holds exactly at integer points, so it is checked exactly too
    rng = np.random.default_rng(31)
    w = random_graph(rng, 10)
    prob0, names = maxcut_problem(w)
    xs = variables(" ".join(names))
    prob = Problem(maximize=prob0.objective, subject_to=[*hypercube(xs), sum(xs) == 0])
    bits = (np.arange(2**10)[:, None] >> np.arange(10)) & 1
    allx = 1.0 - 2.0 * bits
    balanced = allx[allx.sum(axis=1) == 0]
    best = float(cut_values(w, balanced).max())
    res = multistart(prob, rng=rng, n_samples=128, n_starts=8)
    assert res.best is not None and res.best.feasible
    x = np.array([res.best.point[v] for v in names])
    assert x.sum() == 0
    assert res.best.value == pytest.approx(best, abs=1e-9)


# ---------------------------------------------------------------------------- claims


def unit_box(*vs: Polynomial) -> list:
    return box(list(vs), -1.0, 1.0)


def in_unit_box_exactly(point: dict[str, float]) -> bool:
    return all(-1 <= Fraction(v) <= 1 for v in point.values())


def test_false_claim_is_falsified_with_an_exact_point() -> None:
    x, y = variables("x y")
    claim = Claim(x**2 + y**2 <= 1.5, subject_to=unit_box(x, y))
    for res in (multistart(claim, rng=np.random.default_rng(0), n_samples=32),
                attack(claim, None, rng=1, n_samples=32)):
        assert res.status is AttackStatus.COUNTEREXAMPLE
        cex = res.counterexample
        assert cex is not None and cex.feasible and cex is res.best
        # independent exact re-check
        px, py = Fraction(cex.point["x"]), Fraction(cex.point["y"])
        assert in_unit_box_exactly(cex.point)
        margin = Fraction(3, 2) - px * px - py * py
        assert margin < 0 and cex.violation == margin
        assert not claim.holds_at(cex.point)
        assert cex.violation == pytest.approx(-0.5)  # local search reaches a corner


def test_true_claim_never_yields_a_counterexample() -> None:
    x, y = variables("x y")
    claim = Claim(x**2 + y**2 <= 2, subject_to=unit_box(x, y))  # tight at the four corners
    corners = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])
    tight = PseudoDistribution.from_atoms(("x", "y"), corners, np.full(4, 0.25), 2)
    for seed in range(12):
        for pseudo in (None, tight):
            res = attack(claim, pseudo, rng=np.random.default_rng(seed), n_samples=24, n_starts=4)
            assert res.counterexample is None
            assert res.status is AttackStatus.FEASIBLE
            assert res.best is not None and res.best.violation is not None
            assert res.best.violation >= 0
    # the strict version is false exactly at the corners: margin 0 is a violation of "> 0"
    strict = Claim(x**2 + y**2 < 2, subject_to=unit_box(x, y))
    res = attack(strict, tight, rng=0, n_samples=8, n_starts=4)
    assert res.status is AttackStatus.COUNTEREXAMPLE and res.counterexample is not None
    assert res.counterexample.violation == 0
    assert {abs(v) for v in res.counterexample.point.values()} == {1.0}


def test_counterexample_on_a_curved_set_is_exactly_inside_it() -> None:
    x, y = variables("x y")
    disk = [1 - x**2 - y**2 >= 0]
    false_claim = Claim(x + y <= 1.4, subject_to=disk)  # max of x + y on the disk is √2
    for seed in range(5):
        res = multistart(false_claim, rng=seed, n_samples=32, n_starts=4)
        cex = res.counterexample
        assert cex is not None, res.message
        px, py = Fraction(cex.point["x"]), Fraction(cex.point["y"])
        assert px * px + py * py <= 1
        assert px + py > Fraction(14, 10)
    true_claim = Claim(x + y <= 1.4143, subject_to=disk)
    for seed in range(8):
        res = multistart(true_claim, rng=seed, n_samples=32, n_starts=4)
        assert res.counterexample is None
        assert res.best is not None and res.best.feasible
        assert res.best.violation is not None and 0 <= res.best.violation < Fraction(1, 10**4)


def test_generic_equality_sets_are_never_claimed_exactly() -> None:
    # x² + y² = 1: no binary float point in the open quadrant lies exactly on the circle
    x, y = variables("x y")
    claim = Claim(x + y <= 1.4, subject_to=[x**2 + y**2 == 1])
    res = multistart(claim, rng=3, n_samples=32, n_starts=4)
    assert res.counterexample is None
    assert res.status is not AttackStatus.COUNTEREXAMPLE
    if res.best is not None and not res.best.feasible:
        assert res.status is AttackStatus.NO_FEASIBLE_POINT


def test_claims_with_a_relaxation_pseudodistribution() -> None:
    solve = pytest.importorskip("sosrelax.api").solve
    x, y = variables("x y")
    claim = Claim(x**2 + y**2 <= 1.5, subject_to=unit_box(x, y))
    sol = solve(claim.problem, relaxation="sos", level=2, certificate=False)
    assert sol.pseudo is not None
    res = attack(claim, sol.pseudo, rng=np.random.default_rng(5), n_samples=32, n_starts=4)
    assert res.counterexample is not None and res.counterexample.violation == Fraction(-1, 2)


# ---------------------------------------------------------------------------- problems


def test_continuous_problem_reaches_the_grid_optimum() -> None:
    x, y = variables("x y")
    f = x**4 - 3 * x**2 + y**2 + x - x * y
    prob = Problem(minimize=f, subject_to=[2 - x >= 0, x + 2 >= 0, 2 - y >= 0, y + 2 >= 0])
    g = np.linspace(-2, 2, 801)
    gx, gy = np.meshgrid(g, g)
    grid_min = float(f.evaluate(np.column_stack([gx.ravel(), gy.ravel()]), ("x", "y")).min())
    res = multistart(prob, rng=0, n_samples=64, n_starts=8)
    assert res.best is not None and res.best.feasible
    assert grid_min - 1e-3 <= res.best.value <= grid_min + 1e-9
    assert res.best.violation is None
    assert res.n_local_searches >= 1 and res.n_exact_checks >= 1 and res.time_s > 0


def test_mixed_sign_and_continuous_variables() -> None:
    x, y, z = variables("x y z")
    prob = Problem(minimize=(z - 0.5 * x) ** 2 + x * y,
                   subject_to=[x**2 == 1, y**2 == 1, 1 - z >= 0, z + 1 >= 0])
    mask = dict(zip(prob.variables, sign_variables(prob).tolist(), strict=True))
    assert mask == {"x": True, "y": True, "z": False}
    res = multistart(prob, rng=2, n_samples=32, n_starts=8)
    assert res.best is not None and res.best.feasible
    assert res.best.value == -1.0
    pt = res.best.point
    assert pt["x"] * pt["y"] == -1.0 and pt["z"] == 0.5 * pt["x"]


# ---------------------------------------------------------------------------- rounding pieces


def test_gaussian_candidates_match_the_first_two_moments() -> None:
    rng = np.random.default_rng(8)
    pts = rng.uniform(-1, 1, (5, 2))
    w = rng.dirichlet(np.ones(5))
    pseudo = PseudoDistribution.from_atoms(("x", "y"), pts, w, 1)
    x, y = variables("x y")
    prob = Problem(minimize=x + y)
    s = gaussian_candidates(pseudo, prob, rng, 200_000)
    np.testing.assert_allclose(s.mean(axis=0), pseudo.mean(), atol=1e-2)
    np.testing.assert_allclose(np.cov(s.T), pseudo.cov(), atol=1e-2)
    np.testing.assert_allclose(mean_candidates(pseudo, prob, rng, 3), pseudo.mean()[None, :])


def test_psd_projection_and_box_projection() -> None:
    a = np.array([[1.0, 2.0], [2.0, 1.0]])  # eigenvalues 3, −1
    p = psd_projection(a)
    np.testing.assert_allclose(p, 1.5 * np.ones((2, 2)))
    x, y, z = variables("x y z")
    prob = Problem(minimize=x + y + z,
                   subject_to=[1 - x >= 0, x >= 0, y**2 == 1, 3 - z >= 0])
    out = project_to_box(np.array([[2.0, -0.3, 5.0], [-1.0, 0.0, -7.0]]), prob)
    np.testing.assert_array_equal(out, [[1.0, -1.0, 3.0], [0.0, 1.0, -7.0]])
    u = uniform_candidates(None, prob, np.random.default_rng(0), 500)
    assert np.all((u[:, 0] >= 0) & (u[:, 0] <= 1)) and set(np.unique(u[:, 1])) == {-1.0, 1.0}
    assert np.all(u[:, 2] <= 3)


def test_hyperplane_rounding_of_an_integral_moment_matrix_is_the_point() -> None:
    target = np.array([1.0, -1.0, -1.0, 1.0])
    pseudo = PseudoDistribution.from_atoms(("a", "b", "c", "d"), target[None, :], np.ones(1), 1)
    xs = variables("a b c d")
    prob = Problem(minimize=xs[0] * xs[1], subject_to=[v**2 == 1 for v in xs])
    rows = hyperplane_candidates(pseudo, prob, np.random.default_rng(0), 50)
    # with the homogenising coordinate the rank-one case rounds to the atom itself
    np.testing.assert_array_equal(rows, np.tile(target, (50, 1)))


def test_clique_pseudodistribution_is_embedded_in_the_problem_order() -> None:
    x, y, z = variables("x y z")
    prob = Problem(minimize=x + y + z,
                   subject_to=box([x, y, z], [0.0, -1.0, -4.0], [2.0, 1.0, 0.0]))
    clique = PseudoDistribution.from_atoms(("z", "y"), np.array([[-3.0, 0.5]]), np.ones(1), 1)
    rows = gaussian_candidates(clique, prob, np.random.default_rng(0), 5)
    # x is not in the clique: the centre of its box; y, z: the (deterministic) atom
    np.testing.assert_array_equal(rows, np.tile([1.0, 0.5, -3.0], (5, 1)))
    res = attack(prob, clique, rng=0, n_samples=4, n_starts=2)
    assert res.best is not None and res.best.value == -5.0


def test_invalid_inputs_raise() -> None:
    x, y = variables("x y")
    prob = Problem(minimize=x + y, subject_to=unit_box(x, y))
    with pytest.raises(InvalidValueError):
        attack("x + y", None, rng=0)  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError):
        attack(prob, None, rng="seed")  # type: ignore[arg-type]
    res = multistart(prob, rng=0, n_samples=8, n_starts=2)
    assert res.best is not None and res.best.value == -2.0
    assert "exactly feasible" in res.message and res.success
