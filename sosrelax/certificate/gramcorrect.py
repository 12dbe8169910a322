"""Float corrections of definite Gram blocks toward exact coefficient identities, on arrays.

Before exact rounding (:mod:`sosrelax.certificate.rational`, :mod:`sosrelax.certificate.cliqueround`), the
solver's Gram blocks miss the identities by its residual.  These functions move the blocks, in floating point,
so that the identities hold to rounding error while the blocks stay definite with a margin: a Newton step in
the blocks' own metric (:func:`newton_correct`) or alternating projections onto the identities and onto
``{Q ⪰ m I}`` (:func:`alternating_correct`).  Each block ``j`` comes with ``keys[j][a, b]``, the id of the
monomial its entry ``(a, b)`` multiplies; ``rv`` is the residual over the ids and ``counts`` the number of
entries of each id.  Untrusted: only the checker's verdict on the rounded certificate counts.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

__all__ = ["alternating_correct", "newton_correct"]


def _schur(blocks: list[np.ndarray], keys: list[np.ndarray], n: int) -> Any:
    """``H = sum_j A_j (Q_j . Q_j) A_j^*`` as a sparse matrix over the numbered monomials."""
    import scipy.sparse as sp

    rows, cols, vals = [], [], []
    for Q, ent in zip(blocks, keys, strict=True):
        ids, local = np.unique(ent, return_inverse=True)
        local = local.reshape(ent.shape)
        m = ids.size
        # H_j[a, b] = sum over entries (p, q) of monomial a and (s, t) of monomial b of Q[p, s] Q[q, t]
        E = np.zeros((m,) + ent.shape)
        E[local, np.arange(ent.shape[0])[:, None], np.arange(ent.shape[1])[None, :]] = 1.0
        QEQ = Q @ E @ Q
        Hj = E.reshape(m, -1) @ QEQ.reshape(m, -1).T
        rows.append(np.repeat(ids, m))
        cols.append(np.tile(ids, m))
        vals.append(Hj.ravel())
    return sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))


def _apply(mats: list[np.ndarray], keys: list[np.ndarray], n: int) -> np.ndarray:
    """The coefficient map: ``A(Q)_alpha = sum of the entries of every block with b_a + b_b = alpha``."""
    out = np.zeros(n)
    for G, ent in zip(mats, keys, strict=True):
        out += np.bincount(ent.ravel(), weights=G.ravel(), minlength=n)
    return out


def _raise_eigenvalues(G: np.ndarray, below: float, to: float) -> tuple[np.ndarray | None, float]:
    """``G`` with its eigenvalues raised to at least ``to`` if its smallest is below ``below`` (else ``None``),
    and that smallest eigenvalue."""
    w, V = np.linalg.eigh(G)
    if not w[0] < below:
        return None, float(w[0])
    new = (V * np.maximum(w, to)) @ V.T
    return 0.5 * (new + new.T), float(w[0])


def newton_correct(blocks: list[np.ndarray], floor: float, keys: list[np.ndarray], rv: np.ndarray,
                   counts: np.ndarray, *, sweeps: int = 4, rounds: int = 4) -> list[np.ndarray] | None:
    """:func:`newton_polish` on arrays: the definite blocks, the margin to keep, each block's monomial ids
    (``keys[j][a, b]``), the residual ``rv`` over the ids and each id's number of entries."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    n = rv.size
    C = sp.diags(counts)
    Q = [b.copy() for b in blocks]
    want = rv
    for _round in range(rounds):
        scale = max(float(np.abs(b).max()) for b in Q)
        mu = 1e-10 * scale
        try:  # H is positive definite: symmetric ordering, diagonal pivots (partial pivoting fills it in)
            solve = spla.splu(sp.csc_matrix(_schur(Q, keys, n) + mu * C), permc_spec="MMD_AT_PLUS_A",
                              diag_pivot_thresh=0.0, options={"SymmetricMode": True}).solve
        except (RuntimeError, ValueError):
            return None
        base = Q
        for _ in range(sweeps):
            lam = solve(want)
            if not np.all(np.isfinite(lam)):
                return None
            D = [B @ lam[ent] @ B + mu * lam[ent] for B, ent in zip(base, keys, strict=True)]
            want = want - _apply(D, keys, n)
            Q = [G + d for G, d in zip(Q, D, strict=True)]
            if np.abs(want).max(initial=0.0) <= 1e-18 * scale:
                break
        Q = [0.5 * (G + G.T) for G in Q]
        clipped = False
        for j, G in enumerate(Q):
            new, _low = _raise_eigenvalues(G, 0.5 * floor, floor)
            if new is not None:
                want = want - np.bincount(keys[j].ravel(), weights=(new - G).ravel(), minlength=n)
                Q[j] = new
                clipped = True
        if not clipped:
            return Q
    return None


def alternating_correct(blocks: list[np.ndarray], margin: float, keys: list[np.ndarray], rv: np.ndarray,
                        counts: np.ndarray, *, iterations: int = 500, stop_at: float | None = None
                        ) -> list[np.ndarray | None] | None:
    """:func:`polish_grams` on arrays (as :func:`newton_correct`; ``rv`` is consumed).  ``None`` also once
    ``time.perf_counter()`` passes ``stop_at``."""
    # blocks of one order are stacked, so that each sweep is one batched eigendecomposition per order
    groups: dict[int, list[int]] = {}
    for j, b in enumerate(blocks):
        groups.setdefault(b.shape[0], []).append(j)
    stacks = {k: np.stack([blocks[j] for j in idx]) for k, idx in groups.items()}
    ents = {k: np.stack([keys[j] for j in idx]) for k, idx in groups.items()}
    checkpoint = -np.inf
    for it in range(iterations):
        if stop_at is not None and time.perf_counter() > stop_at:
            return None
        step = rv / counts
        rv[:] = 0.0
        worst = np.inf
        for k, G in stacks.items():
            G += step[ents[k]]
            w, V = np.linalg.eigh(G)
            worst = min(worst, float(w[:, 0].min()))
            low = w[:, 0] < margin
            if np.any(low):
                raised = (V[low] * np.maximum(w[low], margin)[:, None, :]) @ np.swapaxes(V[low], 1, 2)
                raised = 0.5 * (raised + np.swapaxes(raised, 1, 2))
                rv -= np.bincount(ents[k][low].ravel(), weights=(raised - G[low]).ravel(), minlength=rv.size)
                G[low] = raised
        if it % 50 == 49:  # stalled: the smallest eigenvalue has not risen since the last checkpoint
            if worst <= checkpoint + 1e-3 * margin:
                return None
            checkpoint = worst
        if worst >= 0.5 * margin:
            out: list[np.ndarray | None] = [None] * len(blocks)
            for k, idx in groups.items():
                for t, j in enumerate(idx):
                    out[j] = stacks[k][t]
            return out
    return None
