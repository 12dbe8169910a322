"""Certificates on the face of the global minimisers (:mod:`sosrelax.relax.minface`).

On the chained problems of Waki, Kim, Kojima and Muramatsu (2006) every optimal Gram matrix of the sparse
level-2 relaxation is singular (it vanishes on the monomial vectors of the minimisers), so the solver's own
dual never rounds to a proof close to the optimum.  The face of the minimisers, computed to full float
accuracy, gives one without a re-solve.  The known minima (1 for chained Wood at (1, …, 1), 1 for the
generalized Rosenbrock function at (±1, 1, …, 1), 0 for Broyden's tridiagonal function at its zeros) bound every
proof from above.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest

import sosrelax as sr
import sosrelax.api as api
from sosrelax.certificate.check import check_certificate
from sosrelax.problems import broyden_tridiagonal, chained_wood, generalized_rosenbrock
from sosrelax.relax.descent import SparseObjective, polish
from sosrelax.relax.minface import entry_ids, minimiser_face


def _solved(problem):
    """The sparse level-2 relaxation and its solution, captured where the certificate step starts."""
    seen = {}
    original = api.prove

    def capture(ctx, sol, **kw):
        seen.setdefault("ctx", ctx)
        seen.setdefault("sol", sol)
        return original(ctx, sol, **kw)

    api.prove = capture
    try:
        res = sr.solve(problem, level=2, sparsity="correlative", progress=False)
    finally:
        api.prove = original
    return seen["ctx"], seen["sol"], res


def test_hessian_matches_differences_of_the_gradient():
    rng = np.random.default_rng(3)
    exps = rng.integers(0, 4, size=(12, 4))
    f = SparseObjective(exps, rng.normal(size=12))
    x = rng.normal(size=4)
    H = f.hessian(x).toarray()
    h = 1e-6
    numeric = np.array([(f(x + h * e)[1] - f(x - h * e)[1]) / (2 * h) for e in np.eye(4)])
    assert np.allclose(H, H.T)
    assert np.abs(H - numeric).max() <= 1e-6 * (1 + np.abs(H).max())


def test_polish_reaches_the_minimiser_to_full_accuracy():
    # Rosenbrock's banana: minimiser (1, 1), badly conditioned
    f = SparseObjective(np.array([[0, 0], [1, 0], [2, 0], [0, 2], [2, 1], [4, 0]]),
                        np.array([1.0, -2.0, 1.0, 100.0, -200.0, 100.0]))
    x = polish(f, np.array([0.7, 0.4]))
    assert np.abs(x - 1.0).max() <= 1e-12
    assert np.abs(f(x)[1]).max() <= 1e-12


def test_entry_ids_give_the_identity_of_the_solver_dual():
    ctx, sol, _ = _solved(chained_wood(12))
    relax = ctx.relax
    ids = entry_ids(relax)
    assert ids is not None and len(ids) == len(relax.gram_blocks)
    total = np.zeros(relax.n_moments)
    for Q, ent in zip(relax.gram_matrices(sol.z), ids, strict=True):
        np.add.at(total, ent.ravel(), Q.ravel())
    total[relax.zero_moment_index()] += -sol.z[0]
    # f − γ = Σ_i A_i(Q_i) to the solver's accuracy: c is the relaxed objective on the moments
    assert np.abs(relax.program.c - total).max() <= 1e-5


@pytest.mark.parametrize(("make", "n", "optimum", "within"), [
    (chained_wood, 20, 1.0, 1e-6),
    (generalized_rosenbrock, 30, 1.0, 1e-6),
    (broyden_tridiagonal, 30, 0.0, 1e-5),
])
def test_minimiser_face_proves_the_known_minimum(make, n, optimum, within):
    ctx, sol, res = _solved(make(n))
    assert res.certified and res.bound is not None
    assert res.certificate.metadata.get("certificate") == "minimiser-face"
    assert res.bound <= optimum  # never above the known minimum
    assert res.bound >= optimum - within
    # the checker alone decides: the same multipliers with a bound above the minimum are rejected
    bad = replace(res.certificate, bound=Fraction(optimum) + Fraction(1, 10**6))
    assert not check_certificate(bad).valid
    # no re-solve was needed
    assert res.info["time"]["resolves"] == 0.0


def test_both_minimisers_of_the_generalized_rosenbrock_function_are_on_the_face():
    ctx, sol, _ = _solved(generalized_rosenbrock(10))
    face = minimiser_face(ctx.relax, sol.x, sol.z)
    assert face is not None
    points = sorted(tuple(np.round(p, 9)) for p in face.points)
    names = ctx.relax.variables
    first = names.index("x0")
    assert len(points) == 2
    assert sorted(p[first] for p in points) == [-1.0, 1.0]
    assert all(np.allclose(np.delete(np.array(p), first), 1.0) for p in points)
    # every block's Gram matrix vanishes on the minimisers' monomial vectors (it is on their face)
    for blk, Q in zip(ctx.relax.gram_blocks, face.grams, strict=True):
        for p in face.points:
            b = np.prod(p[blk.support][None, :] ** blk.basis, axis=1)
            assert abs(b @ Q @ b) <= 1e-9 * (1 + np.abs(Q).max()) * (b @ b)


def test_lift_is_the_constant_one_and_definite_on_the_points():
    from sosrelax.relax.minface import _lift_matrix

    class Block:
        basis = np.array([[0, 0], [1, 0], [0, 1], [2, 0], [1, 1], [0, 2]])
        support = None

    p, q = np.array([1.0, -0.5]), np.array([-1.0, 0.25])
    H = _lift_matrix(Block, [p, q])
    rng = np.random.default_rng(0)
    for x in rng.normal(size=(5, 2)):
        b = np.prod(x[None, :] ** Block.basis, axis=1)
        assert b @ H @ b == pytest.approx(1.0, abs=1e-12)
    V = np.stack([np.prod(x[None, :] ** Block.basis, axis=1) for x in (p, q)], axis=1)
    G = V.T @ H @ V
    eta = min(0.5, 1.0 / float(np.max(np.abs(p - q))) ** 2)
    assert G[0, 1] == pytest.approx(1.0 - eta * float(np.sum((p - q) ** 2)) / 2)
    assert np.linalg.eigvalsh(G)[0] > 0


def test_time_limit_is_kept_on_a_long_chain():
    import time

    problem = generalized_rosenbrock(400)
    t0 = time.perf_counter()
    res = sr.solve(problem, level=2, sparsity="correlative", progress=False, time_limit=0.8)
    elapsed = time.perf_counter() - t0
    # an exact rounding and check start only when expected to fit: no more than one of them overruns
    assert elapsed <= 0.8 + 1.5, elapsed
    assert res.bound is None or res.bound <= 1.0
