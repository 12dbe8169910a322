"""Attacks rounded from a relaxation: the triangle LP's optimal point, re-run exactly through the network.

For a point ``x0`` of class ``label`` and the box ``B = [x0 - eps, x0 + eps] ∩ [lower, upper]``, the
LP relaxation of the ReLU network over ``B`` (each unstable neuron replaced by its triangle
``y >= 0, y >= z, y <= u (z - l) / (u - l)`` with CROWN bounds ``l, u``; stable neurons exact)
minimises the margin ``y_label - y_j`` for every other class ``j``.  An optimal solution is a
distribution over attacks collapsed to its mean: its input part ``x*`` is a point of ``B`` where the
relaxation says the margin is smallest.  Rounding it is running the network there: when the exact
rational forward pass (:meth:`sosrelax.nn.Network.forward_exact`) gives ``y_j > y_label``, ``x*`` is a
counterexample.  Only floating point runs here (HiGHS via :func:`scipy.optimize.linprog`); the exact
re-evaluation is the only check, so a returned point is always a real counterexample.

The verifier in the training loop (:mod:`sosrelax.train.loop`) runs this attack on the points it
could neither certify nor falsify: the relaxation's worst point is often where PGD does not look.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

__all__ = ["lp_attack"]


def _bounds(net: Any, lo: np.ndarray, hi: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    from sosrelax.nn.search.bounds import Arrays, intermediate_bounds

    arr = Arrays.from_network(net)
    b = intermediate_bounds(arr, lo[None], hi[None])
    return [x[0] for x in b.lower], [x[0] for x in b.upper]


def lp_attack(net: Any, x0: np.ndarray, label: int, eps: float, *, lower: float = 0.0,
              upper: float = 1.0) -> np.ndarray | None:
    """An input of the box around ``x0`` that the network provably misclassifies (exact forward pass), found
    at the triangle LP's minimiser of some margin ``y_label - y_j``; ``None`` when no LP point rounds to one.

    ``net`` is a ReLU :class:`~sosrelax.nn.Network`.
    """
    import scipy.sparse as sp
    from scipy.optimize import linprog

    x0 = np.asarray(x0, dtype=np.float64).reshape(-1)
    lo = np.maximum(x0 - eps, lower)
    hi = np.minimum(x0 + eps, upper)
    if np.any(lo > hi) or not net.all_relu:
        return None
    L = len(net.weights)
    lows, ups = _bounds(net, lo, hi)
    # variables: x, then per hidden layer z_k and y_k; the output is W_L y_{L-1} + b_L (not a variable)
    n0 = x0.size
    sizes = [w.shape[0] for w in net.weights[:-1]]
    offs = [n0]
    for n in sizes:
        offs.append(offs[-1] + 2 * n)
    nv = offs[-1]
    eq_rows: list[Any] = []
    eq_rhs: list[np.ndarray] = []
    ub_rows: list[Any] = []
    ub_rhs: list[np.ndarray] = []
    bnds: list[tuple[float | None, float | None]] = [(float(a), float(b)) for a, b in zip(lo, hi, strict=True)]
    prev: tuple[int, int] = (0, n0)  # (offset, size) of the previous layer's output variables
    for k, n in enumerate(sizes):
        z0, y0 = offs[k], offs[k] + n
        w, b = np.asarray(net.weights[k], dtype=np.float64), np.asarray(net.biases[k], dtype=np.float64)
        # z - W y_prev = b
        a = sp.hstack([sp.csr_matrix((n, prev[0])), sp.csr_matrix(-w), sp.csr_matrix((n, z0 - prev[0] - prev[1])),
                       sp.identity(n, format="csr"), sp.csr_matrix((n, nv - z0 - n))], format="csr")
        eq_rows.append(a)
        eq_rhs.append(b)
        l, u = lows[k], ups[k]
        bnds += [(float(a_), float(b_)) for a_, b_ in zip(l, u, strict=True)]
        ylo = np.maximum(l, 0.0)
        yhi = np.maximum(u, 0.0)
        bnds += [(float(a_), float(b_)) for a_, b_ in zip(ylo, yhi, strict=True)]
        act, inact = l >= 0, u <= 0
        uns = ~act & ~inact
        for j in np.flatnonzero(act):  # y = z
            eq_rows.append(sp.csr_matrix(([1.0, -1.0], ([0, 0], [y0 + j, z0 + j])), shape=(1, nv)))
            eq_rhs.append(np.zeros(1))
        for j in np.flatnonzero(uns):  # y >= z, y <= s (z - l)
            s = u[j] / (u[j] - l[j])
            ub_rows.append(sp.csr_matrix(([-1.0, 1.0], ([0, 0], [y0 + j, z0 + j])), shape=(1, nv)))
            ub_rhs.append(np.zeros(1))
            ub_rows.append(sp.csr_matrix(([1.0, -s], ([0, 0], [y0 + j, z0 + j])), shape=(1, nv)))
            ub_rhs.append(np.array([-s * l[j]]))
        prev = (int(y0), int(n))
    A_eq = sp.vstack(eq_rows, format="csr") if eq_rows else None
    b_eq = np.concatenate(eq_rhs) if eq_rhs else None
    A_ub = sp.vstack(ub_rows, format="csr") if ub_rows else None
    b_ub = np.concatenate(ub_rhs) if ub_rhs else None
    wL = np.asarray(net.weights[L - 1], dtype=np.float64)
    order = np.argsort(-(net.forward(x0[None])[0]))  # the runner-up classes first
    for other in [int(c) for c in order if int(c) != label]:
        cost = np.zeros(nv)
        cost[prev[0]:prev[0] + prev[1]] = wL[label] - wL[other]
        res = linprog(cost, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=b_eq, bounds=bnds, method="highs")
        if res.status != 0 or res.x is None:
            continue
        x = np.clip(res.x[:n0], lo, hi)
        if _misclassified(net, x, label, lo, hi):
            return x
    return None


def _misclassified(net: Any, x: np.ndarray, label: int, lo: np.ndarray, hi: np.ndarray) -> bool:
    """Exactly: ``x`` lies in the box and some class scores strictly above ``label``."""
    if np.any(x < lo) or np.any(x > hi):
        return False
    y = net.forward_exact([Fraction(float(v)) for v in x])
    return any(y[j] > y[label] for j in range(len(y)) if j != label)
