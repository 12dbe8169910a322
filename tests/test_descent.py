"""Local descent from a relaxation's moments (sosrelax.relax.descent): the value it finds is the objective's
at a point, so never below the minimum, and it reaches a minimiser where the mean of two is a saddle."""

from __future__ import annotations

import numpy as np

import sosrelax as sr
from sosrelax.relax.descent import SparseObjective, descended_value, starting_points


def _objective(f: sr.Polynomial, names: tuple[str, ...]) -> SparseObjective:
    return SparseObjective(f.aligned(names), np.asarray(f.coefs, dtype=float))


def test_two_minimisers_whose_mean_is_a_saddle() -> None:
    x, y = sr.variables("x y")
    f = (x**2 - 1) ** 2 + (y - x**2) ** 2  # minimum 0 at (±1, 1); (0, y) is invariant under the descent
    fun = _objective(f, ("x", "y"))
    # moments of the uniform mixture of the two minimisers: E[x] = 0, E[x²] = 1, E[y] = E[y²] = 1
    exps = np.array([[0, 0], [1, 0], [0, 1], [2, 0], [1, 1], [0, 2]])
    moments = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 1.0])
    starts = starting_points(exps, moments, 2)
    assert descended_value(fun, starts[:1]) >= 1.0 - 1e-9  # from the mean alone: stuck on x = 0
    value = descended_value(fun, starts)
    assert 0.0 <= value <= 1e-10


def test_value_is_never_below_the_minimum() -> None:
    rng = np.random.default_rng(3)
    x = sr.variables("x", 4)
    f = 1 + sum(100 * (x[i] - x[i - 1] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(1, 4))  # minimum 1
    fun = _objective(f, tuple(str(v) for v in ("x0", "x1", "x2", "x3")))
    for _ in range(5):
        start = rng.normal(size=4)
        assert descended_value(fun, [start]) >= 1.0 - 1e-12
        assert fun(start)[0] >= 1.0
