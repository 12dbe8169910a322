"""Newton polytope reductions of the monomial basis of an SOS decomposition.

For an unconstrained problem ``f − γ = Σ_c b_cᵀ Q_c b_c`` only some basis monomials can carry a nonzero
Gram row: those ``β`` with ``2β`` in the Newton polytope of ``f`` (Reznick 1978), and among them only those
whose square ``x^{2β}`` occurs in ``f`` or is produced by two *different* basis monomials (diagonal
consistency).  Dropping the others changes neither the feasible set of Gram matrices nor the bound; the
moment builder (:mod:`sosrelax.relax.moment`) applies these reductions to plain SOS problems.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from sosrelax.conic import svec_indices
from sosrelax.relax.keys import CompactPolynomial

__all__ = ["BasisGroup", "newton_polytope_masks", "newton_reduced_basis", "sparse_newton_reduction"]

#: One basis group of the builder: the cliques it serves, their common basis and the moment keys of every
#: (clique, svec entry) pair, shape ``(C, E)``.
BasisGroup = tuple[list[int], np.ndarray, np.ndarray]


def _exponent_keys(exps: np.ndarray, base: int) -> np.ndarray:
    """Integer keys of exponent rows (``base`` exceeds every exponent), as Python-int safe object keys."""
    weights = np.array([base**i for i in range(exps.shape[1])], dtype=object)
    return (exps.astype(object) * weights).sum(axis=1) if exps.shape[1] else np.zeros(len(exps), dtype=object)


def newton_reduced_basis(support: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """Drop basis monomials that cannot occur in any SOS decomposition of a polynomial with ``support``.

    A monomial ``β`` can only carry a nonzero diagonal Gram entry if ``x^{2β}`` occurs in the polynomial or
    is produced by two *different* basis monomials; otherwise ``Q_ββ = 0`` and positive semidefiniteness
    forces the whole row to zero (the diagonal-consistency form of the Newton polytope reduction).  Repeated
    until nothing changes.  Valid only for a plain SOS ``σ₀`` (no constraint multipliers).
    """
    keep = np.ones(len(basis), dtype=bool)
    base = int(2 * max(int(basis.max(initial=0)), int(support.max(initial=0))) + 2)
    supp = set(_exponent_keys(support, base).tolist())
    while True:
        b = basis[keep]
        k = len(b)
        iu, ju = np.triu_indices(k, 1)
        pair = set(_exponent_keys(b[iu] + b[ju], base).tolist()) if k > 1 else set()
        dkeys = _exponent_keys(2 * b, base).tolist()
        ok = np.array([d in supp or d in pair for d in dkeys], dtype=bool)
        if ok.all():
            return b
        idx = np.flatnonzero(keep)
        keep[idx[~ok]] = False


def newton_polytope_masks(
    groups: list[BasisGroup], cliques: list[np.ndarray], f: CompactPolynomial,
    n: int,
) -> list[np.ndarray]:
    """Per clique, which basis monomials ``β`` satisfy ``2β ∈ New(f)`` (Reznick: every square in an SOS
    decomposition of ``f − γ`` has its Newton polytope in ``½ New(f − γ)``).

    ``New(f)`` meets the coordinate face of a clique's variables in the convex hull of the support points
    lying in that face (all points are nonnegative), so each clique needs only the terms of ``f`` whose
    variables it contains.  One small LP per distinct (clique pattern, candidate); patterns repeat along
    chains, so the results are cached.
    """
    from scipy.optimize import linprog

    F = f.indices
    m, D = F.shape
    t_idx = np.repeat(np.arange(m), D)
    v_idx = F.reshape(-1)
    ok = v_idx < n
    B = sp.csr_matrix((np.ones(int(ok.sum())), (t_idx[ok], v_idx[ok])), shape=(m, n))
    B.data[:] = 1.0
    B.sum_duplicates()
    B.data[:] = 1.0
    nv = np.asarray(B.sum(axis=1)).ravel()
    C = len(cliques)
    K = sp.csr_matrix((np.ones(sum(c.size for c in cliques)),
                       (np.concatenate(cliques) if C else np.zeros(0, dtype=np.int64),
                        np.repeat(np.arange(C), [c.size for c in cliques]))), shape=(n, C))
    cnt = (B @ K).tocsc()
    cache: dict[bytes, np.ndarray] = {}
    out = []
    for members, basis, _ in groups:
        keep = np.ones((len(members), basis.shape[0]), dtype=bool)
        for t, ci in enumerate(members):
            col = slice(cnt.indptr[ci], cnt.indptr[ci + 1])
            terms = cnt.indices[col][cnt.data[col] == nv[cnt.indices[col]]]
            clique = cliques[ci]
            loc = np.searchsorted(clique, np.minimum(F[terms], clique[-1] if clique.size else 0))
            loc = np.where(F[terms] < n, loc, clique.size)
            pts = np.zeros((terms.size, clique.size + 1), dtype=np.int64)
            np.add.at(pts, (np.repeat(np.arange(terms.size), D), loc.reshape(-1)), 1)
            pts = np.unique(np.vstack([pts[:, :-1], np.zeros((1, clique.size), dtype=np.int64)]), axis=0)
            key = pts.tobytes() + bytes(str(pts.shape) + str(basis.shape), "ascii")
            if key not in cache:
                res = np.ones(basis.shape[0], dtype=bool)
                for b, beta in enumerate(basis):
                    target = 2 * beta
                    if any(np.array_equal(target, p_) for p_ in pts):
                        continue
                    A_eq = np.vstack([pts.T, np.ones((1, pts.shape[0]))]).astype(float)
                    lp = linprog(np.zeros(pts.shape[0]), A_eq=A_eq, b_eq=np.append(target, 1.0),
                                 bounds=(0, None), method="highs")
                    res[b] = lp.status == 0
                cache[key] = res
            keep[t] = cache[key]
        out.append(keep)
    return out


def sparse_newton_reduction(
    groups: list[BasisGroup], support: np.ndarray,
    keeps: list[np.ndarray] | None = None,
) -> list[np.ndarray]:
    """Diagonal consistency across cliques (the sparse form of :func:`newton_reduced_basis`).

    For ``f − γ = Σ_c b_cᵀ Q_c b_c`` a basis monomial ``β`` of clique ``c`` can carry ``Q_c,ββ > 0`` only if
    ``x^{2β}`` occurs in ``f`` (or is the constant) or is produced by two *different* basis monomials of some
    clique: diagonal entries are nonnegative, so the coefficient of an otherwise unproduced ``x^{2β}`` is a sum
    of them that must vanish, and positive semidefiniteness then zeroes the whole row.  Repeated until stable.
    """
    if keeps is None:
        keeps = [np.ones((len(m), b.shape[0]), dtype=bool) for m, b, _ in groups]
    while True:
        pair_parts = []
        for (_, basis, keys), keep in zip(groups, keeps, strict=True):
            r, c = svec_indices(basis.shape[0])
            off = np.flatnonzero(r != c)
            valid = keep[:, r[off]] & keep[:, c[off]]
            pair_parts.append(keys[:, off][valid])
        ok_keys = np.union1d(support, np.concatenate(pair_parts)) if pair_parts else support
        changed = False
        for (_, basis, keys), keep in zip(groups, keeps, strict=True):
            r, c = svec_indices(basis.shape[0])
            diag = np.flatnonzero(r == c)  # entry of (i, i), in order i = 0..k-1
            dk = np.empty((keys.shape[0], basis.shape[0]), dtype=np.int64)
            dk[:, r[diag]] = keys[:, diag]
            bad = keep & ~np.isin(dk, ok_keys)
            if bad.any():
                keep &= ~bad
                changed = True
        if not changed:
            return keeps
