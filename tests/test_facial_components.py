"""Zeros at infinity found component by component: the kernel of a block-diagonal Hessian is the direct sum of
its blocks' kernels."""

from __future__ import annotations

from chained_problems import chained_singular

from sosrelax.api import _build
from sosrelax.problems import chained_wood
from sosrelax.relax.facial import fmpq_matrix, zeros_at_infinity
from sosrelax.relax.scaling import choose_scaling


def _zeros(problem):
    sc = choose_scaling(problem)
    relax = _build(sc.scaled_problem, "sos", 2, "correlative")
    return zeros_at_infinity(relax), len(relax.variables)


def test_chained_wood_top_form_vanishes_on_the_even_coordinates():
    """The quartic part of chained Wood is Σ 100 x_i⁴ + 90 x_{i+2}⁴ over odd i: it vanishes exactly on the span
    of the coordinates it does not involve, and on no larger subspace."""
    V, n = _zeros(chained_wood(12))
    assert len(V) == n // 2
    support = {i for v in V for i, c in enumerate(v) if c}
    assert support == set(range(1, n, 2))  # x2, x4, ... (0-based odd indices)
    assert fmpq_matrix(V).rank() == n // 2


def test_coupled_component_kernel_matches_its_dimension():
    """Chained singular couples all variables into one component: the kernel is the 2-dimensional subspace where
    its n − 2 linear forms vanish, as with a dense kernel."""
    V, n = _zeros(chained_singular(12))
    assert len(V) == 2
    assert fmpq_matrix(V).rank() == 2
