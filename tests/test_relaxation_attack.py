"""Attacks rounded from the LP relaxation (sosrelax.train.relaxation_attack): every returned point is an
exact counterexample inside the box, and where the relaxation is exact (every neuron stable on the box)
the attack finds one exactly when one exists."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from sosrelax.nn import from_weights
from sosrelax.train.relaxation_attack import lp_attack


def _affine_net():
    """Two classes; hidden neurons z = x + 5 > 0 on [0, 1]^2 (always active), so f is affine:
    y0 - y1 = x0 - x1 (class 0 where x0 > x1)."""
    w1, b1 = np.eye(2), np.full(2, 5.0)
    w2, b2 = np.array([[1.0, 0.0], [0.0, 1.0]]), np.zeros(2)
    return from_weights([w1, w2], [b1, b2])


def test_exact_relaxation_finds_a_counterexample_exactly_when_one_exists():
    net = _affine_net()
    x0 = np.array([0.6, 0.5])  # class 0, margin 0.1
    x = lp_attack(net, x0, 0, 0.04)  # the box keeps x0 - x1 >= 0.02 > 0: no counterexample
    assert x is None
    x = lp_attack(net, x0, 0, 0.06)  # the corner (0.54, 0.56) is misclassified
    assert x is not None and np.all(np.abs(x - x0) <= 0.06 + 1e-12)
    y = net.forward_exact([Fraction(float(v)) for v in x])
    assert y[1] > y[0]


@pytest.mark.parametrize("seed", range(4))
def test_returned_points_are_exact_counterexamples(seed):
    rng = np.random.default_rng(seed)
    ws = [rng.normal(size=(12, 4)), rng.normal(size=(12, 12)), rng.normal(size=(3, 12))]
    bs = [rng.normal(size=12), rng.normal(size=12), np.zeros(3)]
    pts = rng.random((400, 4))
    bs[2] = -from_weights(ws, bs).forward(pts).mean(axis=0)  # centred scores: every class wins somewhere
    net = from_weights(ws, bs)
    found = 0
    out = np.sort(net.forward(pts), axis=1)
    for x0 in pts[np.argsort(out[:, -1] - out[:, -2])[:10]]:  # the points nearest a class boundary
        label = int(np.argmax(net.forward(x0[None])[0]))
        x = lp_attack(net, x0, label, 0.3)
        if x is None:
            continue
        found += 1
        assert np.all(x >= np.maximum(x0 - 0.3, 0.0)) and np.all(x <= np.minimum(x0 + 0.3, 1.0))
        y = net.forward_exact([Fraction(float(v)) for v in x])
        assert max(y[j] for j in range(3) if j != label) > y[label]
    assert found >= 1  # at radius 0.3, points this close to a boundary have counterexamples the LP reaches
