"""Floating-point bound propagation: interval arithmetic and CROWN-style linear bounds.

These bounds guide the search (which neurons are stable, which rung to try, where to split);
they are *not* proofs.  The bounds that end up in a certificate are recomputed exactly and proven
by lemmas in :mod:`sosrelax.nn.encode`.

For a hidden neuron with pre-activation bounds :math:`l \\le z \\le u`, :math:`l < 0 < u`, the
linear relaxation of :math:`y = \\max(z, 0)` is

.. math::

    \\alpha z \\le y \\le \\frac{u}{u - l}(z - l), \\qquad \\alpha \\in [0, 1],

with the adaptive choice :math:`\\alpha = 1` if :math:`u \\ge -l` and 0 otherwise (Zhang et al.,
CROWN, NeurIPS 2018).  Back-substituting the relaxation from a linear objective down to the input
box gives a bound of the objective over the box.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sosrelax.nn.ir import Network

__all__ = ["LayerBounds", "crown_bounds", "crown_objective", "interval_bounds", "interval_objective"]


@dataclass(frozen=True)
class LayerBounds:
    """Pre-activation bounds ``lower[k] <= z_{k+1} <= upper[k]`` of every layer (float)."""

    lower: tuple[np.ndarray, ...]
    upper: tuple[np.ndarray, ...]

    def unstable(self, k: int) -> np.ndarray:
        """Mask of the neurons of hidden layer ``k`` whose sign is not fixed by the bounds."""
        return (self.lower[k] < 0) & (self.upper[k] > 0)

    @property
    def n_unstable(self) -> int:
        """Number of unstable hidden neurons."""
        return int(sum(int(self.unstable(k).sum()) for k in range(len(self.lower) - 1)))


def interval_bounds(net: Network, lo: np.ndarray, hi: np.ndarray) -> LayerBounds:
    """Interval arithmetic through every layer (``lower``/``upper`` include the output layer)."""
    a_lo, a_hi = np.asarray(lo, float), np.asarray(hi, float)
    lows: list[np.ndarray] = []
    ups: list[np.ndarray] = []
    for w, b in zip(net.weights, net.biases, strict=True):
        wp, wn = np.maximum(w, 0), np.minimum(w, 0)
        zl = wp @ a_lo + wn @ a_hi + b
        zu = wp @ a_hi + wn @ a_lo + b
        lows.append(zl)
        ups.append(zu)
        a_lo, a_hi = np.maximum(zl, 0), np.maximum(zu, 0)
    return LayerBounds(tuple(lows), tuple(ups))


def interval_objective(net: Network, c: np.ndarray, d: float, lo: np.ndarray, hi: np.ndarray,
                       bounds: LayerBounds | None = None) -> float:
    """Interval lower bound of ``c·f(x) + d`` over the box."""
    bounds = bounds or interval_bounds(net, lo, hi)
    if len(net.weights) == 1:
        a_lo, a_hi = np.asarray(lo, float), np.asarray(hi, float)
    else:
        a_lo = np.maximum(bounds.lower[-2], 0)
        a_hi = np.maximum(bounds.upper[-2], 0)
    w = c @ net.weights[-1]
    return float(np.maximum(w, 0) @ a_lo + np.minimum(w, 0) @ a_hi + c @ net.biases[-1] + d)


def relaxation(l: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Slopes and intercepts of the ReLU relaxation: ``al·z <= y <= su·z + tu`` (lower has no offset).

    Returns ``(al, su, tu, kind)`` where ``kind`` is 1 for active (``l >= 0``), -1 for inactive
    (``u <= 0``) and 0 for unstable neurons.
    """
    kind = np.where(l >= 0, 1, np.where(u <= 0, -1, 0))
    den = np.where(kind == 0, u - l, 1.0)
    su = np.where(kind == 1, 1.0, np.where(kind == -1, 0.0, u / den))
    tu = np.where(kind == 0, -su * l, 0.0)
    al = np.where(kind == 1, 1.0, np.where(kind == -1, 0.0, (u >= -l).astype(float)))
    return al, su, tu, kind


def crown_objective(net: Network, C: np.ndarray, d: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                    bounds: LayerBounds, upto: int | None = None) -> np.ndarray:
    """CROWN lower bounds of ``C z_k + d`` (rows of ``C``) over the box, ``z_k`` the layer-``upto`` output.

    ``upto`` defaults to the last layer (the network output); pre-activation bounds of the earlier
    layers are taken from ``bounds``.
    """
    k = len(net.weights) - 1 if upto is None else upto
    lam = np.asarray(C, float) @ net.weights[k]
    const = np.asarray(C, float) @ net.biases[k] + np.asarray(d, float)
    for m in range(k - 1, -1, -1):
        al, su, tu, _ = relaxation(bounds.lower[m], bounds.upper[m])
        pos = lam >= 0
        slope = np.where(pos, al, su)
        const = const + np.where(pos, 0.0, lam * tu).sum(axis=1)
        coef = lam * slope
        const = const + coef @ net.biases[m]
        lam = coef @ net.weights[m]
    return const + np.maximum(lam, 0) @ np.asarray(lo, float) + np.minimum(lam, 0) @ np.asarray(hi, float)


def crown_bounds(net: Network, lo: np.ndarray, hi: np.ndarray) -> LayerBounds:
    """Layer-by-layer CROWN pre-activation bounds, intersected with interval bounds."""
    ib = interval_bounds(net, lo, hi)
    lows: list[np.ndarray] = [ib.lower[0]]
    ups: list[np.ndarray] = [ib.upper[0]]
    for k in range(1, len(net.weights)):
        n = net.weights[k].shape[0]
        partial = LayerBounds(tuple(lows), tuple(ups))
        eye = np.eye(n)
        zl = crown_objective(net, eye, np.zeros(n), lo, hi, partial, upto=k)
        zu = -crown_objective(net, -eye, np.zeros(n), lo, hi, partial, upto=k)
        # interval propagation from the tightened previous layer
        a_lo, a_hi = np.maximum(lows[-1], 0), np.maximum(ups[-1], 0)
        w, b = net.weights[k], net.biases[k]
        il = np.maximum(w, 0) @ a_lo + np.minimum(w, 0) @ a_hi + b
        iu = np.maximum(w, 0) @ a_hi + np.minimum(w, 0) @ a_lo + b
        lows.append(np.maximum(zl, il))
        ups.append(np.minimum(zu, iu))
    return LayerBounds(tuple(lows), tuple(ups))
