"""Vectorised evaluation kernels: values and derivatives of many monomials at many points.

``E`` is an exponent matrix (one monomial per row), ``X`` a ``(k, n)`` array of points.  The
kernels evaluate each distinct monomial once per point, in chunks of at most
:data:`~sosrelax.poly.monomials.CHUNK_ENTRIES` entries, and combine them with coefficient
matrices; :meth:`~sosrelax.poly.Polynomial.evaluate`, ``gradient`` and ``hessian`` are built on them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from sosrelax.poly.monomials import CHUNK_ENTRIES


def monomial_values(E: np.ndarray, X: np.ndarray) -> np.ndarray:
    """``M[r, i] = prod_j X[i, j] ** E[r, j]`` for a chunk of points; shape (u, k).

    Laid out monomial-major so that gathering rows of the per-variable power tables copies
    contiguous memory.
    """
    k = X.shape[0]
    M = np.ones((E.shape[0], k))
    for j in np.flatnonzero(E.any(axis=0)).tolist():
        col = E[:, j]
        dmax = int(col.max())
        table = np.empty((dmax + 1, k))
        table[0] = 1.0
        xj = X[:, j]
        for d in range(1, dmax + 1):
            table[d] = np.power(xj, d) if d > 2 else table[d - 1] * xj
        M *= table[col]
    return M


def combine(E: np.ndarray, S: Any, X: np.ndarray) -> np.ndarray:
    """``(monomial values of E at X) @ S`` computed in chunks of points; S is (u, q)."""
    k = X.shape[0]
    q = S.shape[1]
    out = np.zeros((k, q))
    if E.shape[0] == 0 or k == 0:
        return out
    step = max(1, CHUNK_ENTRIES // max(1, E.shape[0]))
    St = S.T.tocsr() if sp.issparse(S) else np.ascontiguousarray(S.T)
    for s in range(0, k, step):
        M = monomial_values(E, X[s:s + step])
        out[s:s + step] = np.asarray(St @ M).T
    return out


def derivative_rows(E: np.ndarray, c: np.ndarray, g: np.ndarray, n: int) -> tuple[
        np.ndarray, np.ndarray, np.ndarray]:
    """All first partial derivatives of the grouped terms (E, c, group g) at once.

    Returns rows ``E[r] - unit_j`` with coefficient ``c[r] * E[r, j]`` and group ``g[r] + j``
    for every nonzero ``E[r, j]``.
    """
    r, j = np.nonzero(E)
    DE = E[r].copy()
    DE[np.arange(r.size), j] -= 1
    return DE, c[r] * E[r, j], g[r] + j


def combine_grouped(E: np.ndarray, c: np.ndarray, g: np.ndarray, q: int,
                     X: np.ndarray) -> np.ndarray:
    """``out[i, t] = Σ_{r: g[r]=t} c[r] X[i]^E[r]``; distinct monomials evaluated once."""
    k = X.shape[0]
    if E.shape[0] == 0:
        return np.zeros((k, q))
    U, inv = np.unique(E, axis=0, return_inverse=True)
    S = sp.csr_matrix((c, (inv.reshape(-1), g)), shape=(U.shape[0], q))
    return combine(U, S, X)
