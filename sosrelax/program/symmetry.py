r"""Sign symmetries of an SOS constraint and the block-diagonal Gram bases they allow.

A sign vector :math:`s \in \{0, 1\}^n` acts by :math:`x_i \mapsto (-1)^{s_i} x_i`.  It is a symmetry of a
set of monomials when every exponent :math:`\alpha` of the set has :math:`s \cdot \alpha` even; the
symmetries form the kernel of the exponent matrix over GF(2).

Why the blocks lose nothing: let :math:`p = b^T Q b + \sum_i g_i\, b_i^T Q_i b_i + \sum_j \lambda_j h_j`
where every monomial that :math:`p` (for any value of the unknowns), the :math:`g_i` and the :math:`h_j`
can hold is invariant under a group :math:`G` of sign vectors.  Then :math:`b(D_s x) = \Lambda_s b(x)` with
:math:`\Lambda_s = \mathrm{diag}((-1)^{s \cdot \beta})`, so :math:`\bar Q = |G|^{-1} \sum_{s \in G}
\Lambda_s Q \Lambda_s` (and likewise every :math:`Q_i`) gives the same identity with the same unknowns.
:math:`\bar Q` keeps the entries :math:`Q_{\beta\beta'}` with :math:`s \cdot (\beta + \beta') \equiv 0` for
every :math:`s \in G` and zeroes the others: it is block diagonal over the classes of :math:`\beta \bmod G`.
Masking entries this way keeps a matrix PSD (an average of congruent PSD matrices), diagonally dominant
and scaled diagonally dominant, so the restriction to these blocks has the same optimum for the PSD, DD and
SDD cones (Gatermann and Parrilo, "Symmetry groups, semidefinite programs, and sums of squares", J. Pure
Appl. Algebra 2004, Section 8; Löfberg, "Pre- and post-processing sum-of-squares programs in practice",
IEEE TAC 2009).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["MIN_SPLIT_ORDER", "sign_symmetries", "split_by_symmetry"]

#: Bases with fewer monomials are kept whole (any coarser grouping of the classes is exact as well): the
#: interior-point cost of a block that small is negligible, and keeping it whole keeps the solver's path on
#: small, nearly infeasible programs (bisection probes) as it was.
MIN_SPLIT_ORDER = 8


def sign_symmetries(supports: Sequence[np.ndarray], n: int) -> np.ndarray:
    """A basis (rows) of the sign vectors under which every exponent row of ``supports`` is invariant.

    Parameters
    ----------
    supports : sequence of int arrays of shape ``(m_k, n)``
        Exponent rows.
    n : int
        Number of variables.

    Returns
    -------
    ndarray of shape ``(r, n)``, entries 0/1
        A basis of :math:`\\{s \\in GF(2)^n : s \\cdot \\alpha \\equiv 0 \\ \\forall \\alpha\\}`; ``r = 0``
        when only the identity is a symmetry.
    """
    rows = [np.asarray(s, dtype=np.int64).reshape(-1, n) % 2 for s in supports]
    M = np.unique(np.vstack(rows), axis=0) if rows else np.zeros((0, n), np.int64)
    M = M[M.any(axis=1)].astype(np.uint8)
    # row-reduce over GF(2); the kernel has one basis vector per free column
    pivots: list[int] = []
    r = 0
    for col in range(n):
        hit = np.flatnonzero(M[r:, col]) if r < M.shape[0] else np.zeros(0, np.int64)
        if hit.size == 0:
            continue
        p = r + int(hit[0])
        M[[r, p]] = M[[p, r]]
        others = np.flatnonzero(M[:, col])
        others = others[others != r]
        M[others] ^= M[r]
        pivots.append(col)
        r += 1
        if r == M.shape[0]:
            break
    free = [c for c in range(n) if c not in pivots]
    K = np.zeros((len(free), n), dtype=np.int64)
    for t, f in enumerate(free):
        K[t, f] = 1
        for i, pc in enumerate(pivots):
            K[t, pc] = int(M[i, f])
    return K


def split_by_symmetry(basis: np.ndarray, symmetries: np.ndarray) -> list[np.ndarray]:
    """The rows of ``basis`` grouped by their class modulo the sign symmetries (order kept within a class).

    Two monomials :math:`\\beta, \\beta'` share a class when :math:`s \\cdot \\beta \\equiv s \\cdot \\beta'
    \\pmod 2` for every row :math:`s` of ``symmetries``; only entries within a class can be nonzero in the
    symmetrised Gram matrix (module docstring).  Classes come in the order of their first monomial.  A basis
    of fewer than :data:`MIN_SPLIT_ORDER` monomials is returned whole.
    """
    if symmetries.shape[0] == 0 or basis.shape[0] < MIN_SPLIT_ORDER:
        return [basis]
    keys = (basis @ symmetries.T) % 2
    _, first, inv = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    inv = inv.reshape(-1)
    order = np.argsort(first)
    return [basis[inv == cls] for cls in order]
