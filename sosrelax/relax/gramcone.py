"""The Gram cones of a moment relaxation — PSD (SOS), DD (DSOS) and SDD (SDSOS) — as conic rows.

``M ∈ K*`` for the Gram cone ``K`` is written as ``s = T · m ∈`` (a product of standard cones) with ``m`` the
moment matrix's svec entries (:func:`cone_rows`); the dual ``z`` of those rows rebuilds the Gram matrix
``Q ∈ K`` (:func:`gram_from_dual`).  See :mod:`sosrelax.relax.moment` for the cones' definitions.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

from sosrelax.conic import Cone, ConeKind, smat, svec_indices
from sosrelax.errors import InvalidValueError

__all__ = ["CONES", "cone_rows", "gram_from_dual", "trace_weights"]

#: The Gram cones a moment relaxation can use.
CONES = ("psd", "dd", "sdd")


def gram_from_dual(cone: str, k: int, zb: np.ndarray) -> np.ndarray:
    """Rebuild a ``k × k`` Gram matrix from the dual ``zb`` of a block's rows (see :class:`GramBlock`)."""
    zb = np.asarray(zb, dtype=float)
    if cone == "psd" or k == 1:
        return smat(zb) if k > 1 else zb.reshape(1, 1).copy()
    r, c = svec_indices(k)
    off = r != c
    pi, pj = r[off], c[off]
    Q = np.zeros((k, k))
    if cone == "dd":
        mu_d = zb[:k]
        mp, mm = zb[k::2], zb[k + 1::2]
        Q[np.arange(k), np.arange(k)] += mu_d
        np.add.at(Q, (pi, pi), mp + mm)
        np.add.at(Q, (pj, pj), mp + mm)
        Q[pi, pj] += mp - mm
        Q[pj, pi] += mp - mm
        return Q
    if cone == "sdd":
        z0, z1, z2 = zb[0::3], zb[1::3], zb[2::3]
        np.add.at(Q, (pi, pi), z0 + z1)
        np.add.at(Q, (pj, pj), z0 - z1)
        Q[pi, pj] += z2
        Q[pj, pi] += z2
        return Q
    raise InvalidValueError(f"unknown Gram cone {cone!r}; choose one of {CONES}")


def cone_rows(cone: str, k: int) -> tuple[sp.csr_matrix, list[Cone]]:
    """The rows of a ``k × k`` Gram block in the cone's dual: ``T`` with ``s = T · m`` and the cones of ``s``.

    ``m`` holds the block's upper-triangle entries in svec order, unscaled.  ``"psd"``: the scaled svec
    (off-diagonal entries times √2) in one PSD cone; ``"dd"``: ``M_ii`` then ``M_ii + M_jj ± 2M_ij`` per pair,
    nonnegative; ``"sdd"``: ``(M_ii + M_jj, M_ii − M_jj, 2M_ij)`` per pair in a 3-dimensional second-order
    cone.  A ``1 × 1`` block is one nonnegative row in every cone.
    """
    r, c = svec_indices(k)
    E = r.size
    if k == 1:
        return sp.identity(1, format="csr"), [Cone(ConeKind.NONNEG, 1)]
    if cone == "psd":
        w = np.where(r == c, 1.0, math.sqrt(2.0))
        return sp.diags(w).tocsr(), [Cone(ConeKind.PSD, k)]
    diag_pos = np.flatnonzero(r == c)  # entry index of M_ii, in order i = 0..k-1
    dpos = np.empty(k, dtype=np.int64)
    dpos[r[diag_pos]] = diag_pos
    off = np.flatnonzero(r != c)
    P = off.size
    pi, pj = r[off], c[off]
    if cone == "dd":
        rows = [np.arange(k)]
        cols = [dpos]
        vals = [np.ones(k)]
        for t, sgn in enumerate((1.0, -1.0)):
            rr = k + 2 * np.arange(P) + t
            rows += [rr, rr, rr]
            cols += [dpos[pi], dpos[pj], off]
            vals += [np.ones(P), np.ones(P), np.full(P, 2.0 * sgn)]
        T = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                          shape=(k + 2 * P, E))
        return T, [Cone(ConeKind.NONNEG, k + 2 * P)]
    if cone == "sdd":
        base = 3 * np.arange(P)
        rows = [base, base, base + 1, base + 1, base + 2]
        cols = [dpos[pi], dpos[pj], dpos[pi], dpos[pj], off]
        vals = [np.ones(P), np.ones(P), np.ones(P), -np.ones(P), np.full(P, 2.0)]
        T = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                          shape=(3 * P, E))
        return T, [Cone(ConeKind.SOC, 3)] * P
    raise InvalidValueError(f"unknown Gram cone {cone!r}; choose one of {', '.join(CONES)}")


def trace_weights(cone: str, k: int) -> np.ndarray:
    """Weights ``w`` with ``trace M = w · s`` for the block's rows ``s`` (used by the centred program)."""
    r, c = svec_indices(k)
    if k == 1:
        return np.ones(1)
    if cone == "psd":
        return (r == c).astype(float)
    P = int((r != c).sum())
    if cone == "dd":
        return np.concatenate([np.ones(k), np.zeros(2 * P)])
    w = np.zeros(3 * P)
    w[0::3] = 1.0 / (k - 1)
    return w
