"""Local descent on a polynomial objective from points read off a relaxation's moments.

Used by the certificate step (:mod:`sosrelax.prove`) to cap the value the proofs are measured against: on an
unconstrained problem every point is feasible, so the objective at any point bounds the relaxation's value
from above.  Nothing here is proven; a point only ever lowers a target.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import scipy.optimize

__all__ = ["SparseObjective", "descended_value", "polish", "starting_points", "unconstrained_objective"]


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

    def hessian(self, x: np.ndarray) -> Any:
        """The Hessian at ``x`` as a sparse matrix (each term adds to the entries of its own variables)."""
        import scipy.sparse as sp

        base = x[self.cols]
        width = self.cols.shape[1]
        rows, cols, vals = [], [], []
        for s in range(width):
            for t in range(width):
                val = self.coefs.astype(float).copy()
                for u in range(width):
                    val = val * _derivative_factor(base[:, u], self.pows[:, u], (u == s) + (u == t))
                rows.append(self.cols[:, s])
                cols.append(self.cols[:, t])
                vals.append(val)
        return sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                             shape=(self.n, self.n))


def unconstrained_objective(relax: Any) -> SparseObjective | None:
    """The relaxed objective ``sign·F`` of a relaxation (a :class:`~sosrelax.relax.moment.MomentRelaxation`)
    whose problem has no constraints (and no products), on its variables; ``None`` otherwise."""
    problem = relax.problem
    if problem is None or problem.inequalities or problem.equalities or relax.products:
        return None
    f = problem.minimization_objective
    return SparseObjective(f.aligned(relax.variables), np.asarray(f.coefs, dtype=float))


def _derivative_factor(b: np.ndarray, p: np.ndarray, order: int) -> np.ndarray:
    """The ``order``-th derivative (0, 1 or 2) of ``b**p``, elementwise."""
    if order == 0:
        return b**p
    if order == 1:
        return np.where(p >= 1, p * b ** np.maximum(p - 1, 0), 0.0)
    return np.where(p >= 2, p * (p - 1) * b ** np.maximum(p - 2, 0), 0.0)


def polish(fun: SparseObjective, x0: np.ndarray, *, maxiter: int = 2000, newton_steps: int = 12) -> np.ndarray:
    """A local minimiser from ``x0``: an L-BFGS descent, then Newton steps on the gradient with the sparse
    Hessian (which bring a nondegenerate minimiser to full float accuracy, where the proofs on its face need
    it).  Returns the last finite point."""
    import scipy.sparse.linalg as spla

    x = np.asarray(x0, dtype=float)
    with np.errstate(all="ignore"):
        try:
            out = scipy.optimize.minimize(fun, x, jac=True, method="L-BFGS-B",
                                          options={"maxiter": maxiter, "ftol": 0.0, "gtol": 1e-14})
            if np.all(np.isfinite(out.x)):
                x = out.x
        except (ValueError, FloatingPointError):
            return x
        value, g = fun(x)
        for _ in range(newton_steps):
            size = float(np.abs(g).max(initial=0.0))
            if not np.all(np.isfinite(g)) or size <= 1e-15:
                break
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    dx = spla.spsolve(fun.hessian(x), -g)
            except (RuntimeError, ValueError):
                break
            if not np.all(np.isfinite(dx)):
                break
            v2, g2 = fun(x + dx)
            # a step that climbs, or does not shrink the gradient, is not a Newton step toward this minimiser
            if not (v2 <= value + 1e-12 * (1.0 + abs(value)) and float(np.abs(g2).max(initial=0.0)) < size):
                break
            x, value, g = x + dx, v2, g2
    return x


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
