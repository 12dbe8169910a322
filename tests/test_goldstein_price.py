"""Goldstein–Price at level 4: a degree-8 objective whose relaxation an interior-point solver gets wrong by
``1e-3`` (its value comes out above the optimum), whose top form ``9(x + y)⁴(2x − 3y)⁴`` vanishes on two lines
(so that no Gram matrix of a certificate is definite), and whose minimum 3 at ``(0, −1)`` is exact.

Reference: Goldstein and Price, "On descent from local minima", Math. Comp. 25 (1971); the standard test
function of global optimisation with minimum 3 at (0, −1).
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import numpy as np

import sosrelax as sr
from sosrelax.certificate.check import check_certificate

x, y = sr.variables("x y")
GOLDSTEIN_PRICE = (1 + (x + y + 1) ** 2 * (19 - 14 * x + 3 * x**2 - 14 * y + 6 * x * y + 3 * y**2)) * (
    30 + (2 * x - 3 * y) ** 2 * (18 - 32 * x + 12 * x**2 + 48 * y - 36 * x * y + 27 * y**2)
)


def test_goldstein_price_level_4_proven_within_1e6_of_3():
    assert GOLDSTEIN_PRICE.evaluate(np.array([[0.0, -1.0]]), ["x", "y"])[0] == 3.0  # attained: 3 is the optimum
    grid = np.stack(np.meshgrid(np.linspace(-2, 2, 81), np.linspace(-2, 2, 81)), axis=-1).reshape(-1, 2)
    assert GOLDSTEIN_PRICE.evaluate(grid, ["x", "y"]).min() >= 3.0 - 1e-9  # brute force agrees near the box
    res = sr.solve(sr.Problem(minimize=GOLDSTEIN_PRICE), level=4)
    assert res.certified and res.bound is not None, res.message
    assert res.bound <= 3.0  # never above the optimum
    assert res.bound >= 3.0 - 1e-6
    # the same multipliers never prove more than the optimum: a small excess is absorbed back to 3 at most, a
    # larger one rejected
    report = check_certificate(replace(res.certificate, bound=Fraction(3) + Fraction(1, 10**6)))
    assert not report.valid or report.bound <= 3
    assert not check_certificate(replace(res.certificate, bound=Fraction(3) + Fraction(1, 1000))).valid
