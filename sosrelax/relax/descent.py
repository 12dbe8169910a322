"""Local descent on a polynomial objective from points read off a relaxation's moments.

Used by the certificate step (:mod:`sosrelax.prove`) to cap the value the proofs are measured against: on an
unconstrained problem every point is feasible, so the objective at any point bounds the relaxation's value
from above.  Nothing here is proven; a point only ever lowers a target.
"""

from __future__ import annotations

import numpy as np
import scipy.optimize

__all__ = ["SparseObjective", "descended_value", "starting_points"]


class SparseObjective:
    """A polynomial's value and gradient from its nonzero exponents only (terms of a chain touch a few variables
    each: a dense exponent matrix would make every gradient cost ``terms × n``)."""

    def __init__(self, exps: np.ndarray, coefs: np.ndarray) -> None:
        E = np.asarray(exps, dtype=np.int64)
        width = max(1, int((E > 0).sum(axis=1).max(initial=0)))
        self.cols = np.zeros((E.shape[0], width), dtype=np.int64)
        self.pows = np.zeros((E.shape[0], width), dtype=np.int64)
        rows, cols = np.nonzero(E)
        slot = np.arange(rows.size) - np.searchsorted(rows, rows)  # position of each nonzero within its term
        self.cols[rows, slot] = cols
        self.pows[rows, slot] = E[rows, cols]
        self.coefs = coefs
        self.n = E.shape[1]

    def __call__(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        base = x[self.cols]
        factors = base**self.pows
        value = float(self.coefs @ np.prod(factors, axis=1))
        grad = np.zeros(self.n)
        for s in range(self.cols.shape[1]):
            others = np.prod(np.delete(factors, s, axis=1), axis=1)
            k = self.pows[:, s]
            d = self.coefs * k * np.where(k > 0, base[:, s] ** np.maximum(k - 1, 0), 0.0) * others
            np.add.at(grad, self.cols[:, s], d)
        return value, grad


def starting_points(exps: np.ndarray, moments: np.ndarray, n: int) -> list[np.ndarray]:
    """Points to descend from: the mean ``E[x]`` of the moments (``exps``: their exponent rows, ``moments``
    normalised so that ``y_0 = 1``), and, where some variance ``E[x_i²] − E[x_i]²`` is visible, the same point
    with those coordinates replaced by ``±√E[x_i²]`` (the sign of the mean's, ``+`` at 0).  Two minimisers
    ``±a`` of a variable average to a mean of 0 that can be a saddle (the first variable of the generalized
    Rosenbrock function); the root mean square is a minimiser's magnitude there."""
    deg = exps.sum(axis=1)
    first = np.flatnonzero(deg == 1)
    mean = np.zeros(n)
    mean[np.argmax(exps[first], axis=1)] = moments[first]
    out = [mean]
    second = np.flatnonzero((deg == 2) & (exps.max(axis=1) == 2))
    if second.size:
        sq = np.full(n, np.nan)
        sq[np.argmax(exps[second], axis=1)] = np.maximum(moments[second], 0.0)
        spread = np.isfinite(sq) & (sq - mean**2 > 1e-4 * (1.0 + np.nan_to_num(sq)))
        if np.any(spread):
            point = mean.copy()
            root = np.sqrt(sq[spread])
            point[spread] = np.where(mean[spread] < 0, -root, root)
            out.append(point)
    return out


def descended_value(fun: SparseObjective, starts: list[np.ndarray], maxiter: int = 100) -> float:
    """The smallest objective value at the end of a short L-BFGS descent from each start (``inf`` when none
    is finite)."""
    best = float("inf")
    with np.errstate(all="ignore"):
        for x0 in starts:
            try:
                out = scipy.optimize.minimize(fun, x0, jac=True, method="L-BFGS-B", options={"maxiter": maxiter})
                point = out.x if np.all(np.isfinite(out.x)) else x0
            except (ValueError, FloatingPointError):
                point = x0
            value = fun(point)[0]
            if np.isfinite(value):
                best = min(best, value)
    return best
