"""Known optima from the literature, at the stated relaxation levels, with proven bounds.

Sources: six-hump camel (Dixon–Szegő); Lasserre (2001), Ex. 5 = Floudas et al. (1999) §4.6; the nonconvex QP of
Henrion–Lasserre's GloptiPoly papers (Floudas §4.4); MaxCut relaxations of C5 and K3 (Goemans–Williamson,
Laurent).  Each value must be matched within 1e-5 relative, and the *proven* bound must lie on the correct side
of the true optimum.
"""

from __future__ import annotations

import math

import pytest

import sosrelax as sr
from sosrelax import problems


def rel_close(a: float, b: float, tol: float = 1e-5) -> bool:
    return abs(a - b) <= tol * max(1.0, abs(b))


camel, floudas46, gloptipoly_qp = problems.camel, problems.floudas46, problems.gloptipoly_qp
C5, K3 = problems.C5_EDGES, problems.K3_EDGES


def maxcut(n: int, edges: list[tuple[int, int]]) -> sr.Problem:
    return problems.maxcut(n, edges)


CASES = [
    ("camel", camel, 3, -1.0316284535, -1.0316284535),
    ("floudas46-l2", floudas46, 2, -6.6666667, -5.5080132716),
    ("floudas46-l3", floudas46, 3, -5.5080133, -5.5080132716),
    ("qp-l1", gloptipoly_qp, 1, -6.0, -4.0),
    # GloptiPoly publishes these two to four decimals: -5.6923 and -4.0685 (tolerance 5e-5 below)
    ("qp-l2", gloptipoly_qp, 2, -5.6923, -4.0),
    ("qp-l3", gloptipoly_qp, 3, -4.0685, -4.0),
    ("qp-l4", gloptipoly_qp, 4, -4.0, -4.0),
    ("c5-l1", lambda: maxcut(5, C5), 1, (25 + 5 * math.sqrt(5)) / 8, 4.0),
    ("c5-l2", lambda: maxcut(5, C5), 2, 4.0, 4.0),
    ("k3-l1", lambda: maxcut(3, K3), 1, 2.25, 2.0),
    ("k3-l2", lambda: maxcut(3, K3), 2, 2.0, 2.0),
]


@pytest.mark.parametrize("name,make,level,expected,true_opt", CASES, ids=[c[0] for c in CASES])
def test_known_relaxation_values(name, make, level, expected, true_opt):
    prob = make()
    res = sr.solve(prob, relaxation="sos", level=level)
    assert res.status == "optimal", res
    assert res.bound is not None, res.message
    tol = 5e-5 / abs(expected) if name in ("qp-l2", "qp-l3") else 1e-5
    assert rel_close(res.bound, expected, tol), (res.bound, expected)
    # soundness: the proven bound never crosses the true optimum
    if prob.sense is sr.Sense.MINIMIZE:
        assert res.bound <= true_opt + 1e-12
    else:
        assert res.bound >= true_opt - 1e-12
    assert res.certified


def test_fallback_rescues_an_inaccurate_interior_point_solve():
    """Clarabel stops short on the level-4 QP; the SCS second opinion's certificate is proven instead."""
    res = sr.solve(gloptipoly_qp(), level=4)
    assert res.bound is not None and -4.0 - 1e-6 <= res.bound <= -4.0
    alone = sr.solve(gloptipoly_qp(), level=4, fallback=None)
    # without the fallback the bound may be weaker (or absent), but never above the true minimum
    assert alone.bound is None or alone.bound <= -4.0


def test_bounds_monotone_in_level():
    bounds = [sr.solve(gloptipoly_qp(), level=d).bound for d in (1, 2, 3)]
    assert all(b is not None for b in bounds)
    assert bounds[0] <= bounds[1] + 1e-7 <= bounds[2] + 2e-7


def test_motzkin_has_no_sos_bound():
    for level in (3, 4):
        res = sr.solve(problems.motzkin(), level=level)
        assert res.bound is None, res
        assert res.status in ("no_bound", "inaccurate", "infeasible")
        assert res.message


def test_shor_equals_level_one():
    prob = maxcut(5, C5)
    a = sr.solve(prob, relaxation="sdp")
    b = sr.solve(prob, relaxation="sos", level=1)
    assert a.bound == pytest.approx(b.bound, rel=1e-7)


def test_infeasible_problem_is_a_status():
    x, y = sr.variables("x y")
    prob = sr.Problem(minimize=x + y, subject_to=[x**2 + y**2 <= 1, x >= 2])
    res = sr.solve(prob, level=1)
    assert res.status == "infeasible"
    assert res.bound is None


def test_unbounded_relaxation_is_a_status():
    (x,) = sr.variables("x")
    res = sr.solve(sr.Problem(minimize=x), level=1)  # x - gamma is never a sum of squares
    assert res.status == "unbounded"
    assert res.bound is None


SCS_CASES = [c for c in CASES if c[0] in ("camel", "floudas46-l2", "qp-l1", "qp-l2", "c5-l1", "c5-l2", "k3-l2")]


@pytest.mark.parametrize("name,make,level,expected,true_opt", SCS_CASES, ids=[c[0] for c in SCS_CASES])
def test_scs_agrees_with_clarabel(name, make, level, expected, true_opt):
    """Both backends, each checked by the independent checker, agree to SCS's accuracy."""
    a = sr.solve(make(), level=level, solver="clarabel", fallback=None)
    b = sr.solve(make(), level=level, solver="scs", tolerance=1e-7, fallback=None)
    assert a.bound is not None and b.bound is not None, (a.message, b.message)
    assert b.bound == pytest.approx(a.bound, rel=1e-4, abs=1e-5)
