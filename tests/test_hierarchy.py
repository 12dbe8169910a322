"""The LP and SOCP rungs: Sherali–Adams / Handelman, DSOS, SDSOS — valid, checked, and ordered."""

from __future__ import annotations

import numpy as np
import pytest

import sosrelax as sr
from sosrelax.certificate.check import check_certificate
from sosrelax.conic import ConeKind
from sosrelax.relax.lp import build_sherali_adams_relaxation, handelman_products
from sosrelax.relax.moment import build_moment_relaxation, gram_from_dual
from sosrelax.solvers import solve_conic

x, y = sr.variables("x y")


def test_dsos_sdsos_sos_ordered_and_proven():
    """DD ⊂ SDD ⊂ PSD: at the same level the proven bounds are ordered and below the true minimum."""
    f = (x**2 + y**2 - 0.5) ** 2 + x * y  # minimum -5/16 on the circle x = -y, x^2 + y^2 = 3/4
    prob = sr.Problem(minimize=f)
    truth = -5 / 16
    bounds = {}
    for rel in ("dsos", "sdsos", "sos"):
        res = sr.solve(prob, relaxation=rel, level=2)
        assert res.bound is not None, res.message
        assert check_certificate(res.certificate).valid
        assert res.bound <= truth + 1e-9
        cones = {m.cone for m in res.certificate.sos}
        assert cones <= {"psd", {"dsos": "dd", "sdsos": "sdd", "sos": "psd"}[rel]}
        bounds[rel] = res.bound
    assert bounds["dsos"] <= bounds["sdsos"] + 1e-6
    assert bounds["sdsos"] <= bounds["sos"] + 1e-6
    assert bounds["dsos"] < bounds["sdsos"] - 0.5  # strictly weaker rungs here: -5/4 < -3/8 < -5/16
    assert bounds["sdsos"] < bounds["sos"] - 0.05
    assert abs(bounds["sos"] - truth) < 1e-6


def test_sherali_adams_bounds_increase_with_degree():
    f = x**2 + y**2 - x * y
    prob = sr.Problem(minimize=f, subject_to=[*sr.box([x, y], -1, 1)])
    bounds = []
    for level in (1, 2, 3):
        res = sr.solve(prob, relaxation="lp", level=level)
        assert res.bound is not None, res.message
        rep = check_certificate(res.certificate)
        assert rep.valid and res.certificate.products
        assert all(p.coefficient >= 0 for p in res.certificate.products)
        assert res.bound <= 0 + 1e-12  # true minimum 0 at the origin
        bounds.append(res.bound)
    assert bounds[0] <= bounds[1] + 1e-7 <= bounds[2] + 2e-7
    assert bounds[2] > bounds[0] + 0.1


def test_sherali_adams_degree_two_is_mccormick():
    """On [0,1]² ∩ {x + y >= 1} the degree-2 products contain McCormick's envelopes of x·y: the product
    x·y >= 0 gives min = 0 and (1 − x)(1 − y) >= 0 gives max = 1, both exact."""
    prob = sr.Problem(minimize=x * y, subject_to=[x >= 0, y >= 0, 1 - x >= 0, 1 - y >= 0, x + y - 1 >= 0])
    relax = build_sherali_adams_relaxation(prob, 2)
    sol = solve_conic(relax.program, "clarabel")
    assert abs(-sol.z[0] - 0.0) < 1e-7
    # maximise instead: the McCormick envelope gives the exact value 1 at (1, 1)
    cons = [g >= 0 for g in prob.inequalities]
    res = sr.solve(sr.Problem(maximize=x * y, subject_to=cons), relaxation="lp", level=1)
    assert res.bound is not None and abs(res.bound - 1.0) < 1e-6


def test_handelman_products_enumerate_multisets():
    prods = handelman_products([1, 1, 2], 2)
    assert prods[0] == ()
    assert set(prods) == {(), (0,), (1,), (2,), (0, 0), (0, 1), (1, 1)}


@pytest.mark.parametrize("cone", ["dd", "sdd"])
def test_gram_from_dual_is_in_the_cone(cone):
    """Nonnegative DD duals rebuild a diagonally dominant matrix; SOC duals a sum of 2x2 PSD blocks."""
    rng = np.random.default_rng(3)
    k = 5
    relax = build_moment_relaxation(sr.Problem(minimize=x**4 + y**4 + 1), 2, cone=cone)
    blk = relax.gram_blocks[0]
    size = blk.rows.stop - blk.rows.start
    if cone == "dd":
        z = rng.uniform(0, 1, size)
        Q = gram_from_dual(cone, blk.order, z)
        assert np.all(np.diag(Q) >= np.abs(Q).sum(axis=1) - np.abs(np.diag(Q)) - 1e-12)
    else:
        z = rng.normal(size=size).reshape(-1, 3)
        z[:, 0] = np.linalg.norm(z[:, 1:], axis=1) + rng.uniform(0, 1, len(z))
        Q = gram_from_dual(cone, blk.order, z.ravel())
        assert np.linalg.eigvalsh(Q)[0] >= -1e-12
    assert Q.shape == (blk.order, blk.order) and k == 5
    kinds = {c.kind for c in relax.program.cones}
    assert ConeKind.PSD not in kinds
    assert (ConeKind.SOC in kinds) == (cone == "sdd")


def test_dense_psd_relaxation_unchanged():
    """cone='psd' without cliques is the classical dense relaxation (moments = all monomials of degree <= 2d)."""
    from math import comb

    prob = sr.Problem(minimize=x**4 + y**2, subject_to=[1 - x**2 - y**2 >= 0])
    r = build_moment_relaxation(prob, 2)
    assert r.n_moments == comb(2 + 4, 4)
    assert [b.order for b in r.gram_blocks] == [6, 3]
