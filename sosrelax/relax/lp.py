"""Linear-programming rungs: Sherali–Adams / Handelman products, and DSOS.

**Sherali–Adams / Handelman.**  For ``minimise f s.t. g_i >= 0, h_j = 0`` and a product degree ``D`` the
linear program is the pair

* moment (primal) side::

      minimise L_y(f)  s.t.  y_0 = 1,  L_y(P_a) >= 0  for every product P_a = Π_i g_i^{a_i} of degree <= D,
                             L_y(h_j x^β) = 0  for |β| <= D − deg h_j,

  with ``y`` indexed by the monomials of degree ``<= D`` (the Sherali–Adams linearisation);

* dual side (a Positivstellensatz certificate with nonnegative scalar multipliers)::

      maximise γ  s.t.  f − γ = Σ_a c_a P_a + Σ_j λ_j h_j,   c_a >= 0,

  whose ``c_a`` are the duals of the product rows (certificate ``products``).  The empty product is the
  constant 1.  Larger ``D`` adds products (and moments), so the bounds increase with ``D``.  On box and
  linear constraints the degree-2 products ``(u_i − x_i)(x_j − l_j)``, … are the McCormick / triangle
  inequalities of a product term (for a ReLU encoding ``y >= 0, y >= x, y(y − x) = 0, l <= x <= u`` they give
  the triangle relaxation).

**DSOS** (Ahmadi–Majumdar 2019) is the Putinar construction with diagonally dominant Gram matrices, a
linear program too: :func:`build_dsos_relaxation` is ``build_moment_relaxation(..., cone="dd")``.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import comb

import numpy as np
import scipy.sparse as sp

from sosrelax.conic import Cone, ConeKind, ConicProgram
from sosrelax.errors import InvalidValueError, SizeLimitError
from sosrelax.poly import monomial_basis
from sosrelax.problem import Problem
from sosrelax.relax.keys import (
    CompactPolynomial,
    MonomialKeys,
    compact_product,
    decode_keys,
    to_compact,
    widen,
)
from sosrelax.relax.moment import (
    MAX_MOMENTS,
    EqualityBlock,
    MomentRelaxation,
    build_moment_relaxation,
)
from sosrelax.relax.system import PolynomialSystem

__all__ = [
    "MAX_PRODUCTS",
    "build_dsos_relaxation",
    "build_sherali_adams_relaxation",
    "handelman_products",
]

#: Refuse Sherali–Adams programs with more products than this.
MAX_PRODUCTS = 200_000


def handelman_products(degrees: Sequence[int], degree: int) -> list[tuple[int, ...]]:
    """Every multiset ``a`` of inequality indices (sorted tuple, the empty one first) with
    ``Σ_{i∈a} deg g_i <= degree``; constraints of degree 0 are used once at most."""
    m = len(degrees)
    out: list[tuple[int, ...]] = [()]
    frontier: list[tuple[tuple[int, ...], int]] = [((), 0)]
    while frontier:
        nxt: list[tuple[tuple[int, ...], int]] = []
        for a, dsum in frontier:
            start = a[-1] if a else 0
            for i in range(start, m):
                di = max(int(degrees[i]), 0)
                if di == 0 and i in a:
                    continue
                if dsum + di <= degree and (di > 0 or not a or a[-1] != i):
                    b = (*a, i)
                    out.append(b)
                    if di > 0:
                        nxt.append((b, dsum + di))
                    if len(out) > MAX_PRODUCTS:
                        raise SizeLimitError(
                            f"more than {MAX_PRODUCTS} Sherali–Adams products of degree <= {degree} from "
                            f"{m} constraints; lower the degree"
                        )
        frontier = nxt
    return out


def _merge(idx: np.ndarray, coefs: np.ndarray, keyf: MonomialKeys) -> tuple[np.ndarray, np.ndarray]:
    """Keys and summed coefficients of a compact term list (duplicate monomials merged)."""
    keys = keyf(idx)
    u, inv = np.unique(keys, return_inverse=True)
    return u, np.bincount(inv.reshape(-1), weights=coefs, minlength=u.size)


def build_sherali_adams_relaxation(problem: Problem, degree: int | None = None) -> MomentRelaxation:
    """The Sherali–Adams / Handelman linear program of product degree ``degree`` (see the module docstring).

    Parameters
    ----------
    problem : Problem
    degree : int, optional
        Largest degree of a product of constraints; default ``max(2, deg f, deg h_j)``.  Must be at least
        the degree of the objective and of every equality.

    Returns
    -------
    MomentRelaxation
        With ``cone == "lp"``, no Gram blocks and one nonnegative row per product
        (:attr:`~sosrelax.relax.moment.MomentRelaxation.products`).  Any dual feasible point gives a valid
        lower bound ``γ`` on ``sign · f``.
    """
    system = PolynomialSystem.from_problem(problem)
    n = system.n
    dmin = max([system.objective.degree, *(h.degree for h in system.equalities), 1])
    if degree is None:
        degree = max(2, dmin)
    if not isinstance(degree, (int, np.integer)) or isinstance(degree, bool) or degree < dmin:
        raise InvalidValueError(
            f"degree {degree!r} is too low: the objective and equalities have degree up to {dmin}; "
            f"pass degree >= {dmin}"
        )
    D = int(degree)
    if comb(n + D, D) > MAX_MOMENTS:
        raise SizeLimitError(
            f"the degree-{D} Sherali–Adams program in {n} variables needs {comb(n + D, D)} moments "
            f"(limit {MAX_MOMENTS}); lower the degree"
        )
    keyf = MonomialKeys(n, D)
    if not keyf.fits:
        raise SizeLimitError(f"monomials of degree {D} in {n} variables exceed the 64-bit key; lower the degree")
    moment_keys = np.sort(keyf(to_compact(monomial_basis(n, D), np.arange(n, dtype=np.int64), D, n)))
    N = moment_keys.size

    def lookup(keys: np.ndarray) -> np.ndarray:
        return np.searchsorted(moment_keys, keys)

    f = system.objective
    c = np.zeros(N)
    if f.indices.shape[0]:
        np.add.at(c, lookup(keyf(f.indices)), system.sign * f.coefs)
    rows_l = [np.array([0])]
    cols_l = [lookup(keyf(np.full((1, D), n, dtype=np.int64)))]
    vals_l = [np.array([1.0])]
    row = 1
    eq_blocks = []
    for j, h in enumerate(system.equalities):
        beta = monomial_basis(n, D - h.degree)
        q = compact_product(to_compact(beta, np.arange(n, dtype=np.int64), D, n),
                             widen(h.indices, max(h.degree, 0), n), D, n)
        T = h.indices.shape[0]
        rows_l.append(np.repeat(np.arange(beta.shape[0]), T) + row)
        cols_l.append(lookup(keyf(q)))
        vals_l.append(np.tile(h.coefs, beta.shape[0]))
        eq_blocks.append(EqualityBlock(j, beta, slice(row, row + beta.shape[0])))
        row += beta.shape[0]
    n_zero = row

    ineq = system.inequalities
    products = handelman_products([g.degree for g in ineq], D)
    one = CompactPolynomial(np.full((1, D), n, dtype=np.int64), np.ones(1), n)
    cache: dict[tuple[int, ...], tuple[np.ndarray, np.ndarray]] = {(): (one.indices, one.coefs)}
    for a in products:
        if a in cache:
            continue
        pi, pc = cache[a[:-1]]
        g = ineq[a[-1]]
        idx = compact_product(pi, widen(g.indices, max(g.degree, 0), n), D, n)
        coefs = np.repeat(pc, g.coefs.size) * np.tile(g.coefs, pc.size)
        keys, merged = _merge(idx, coefs, keyf)
        keep = merged != 0
        cache[a] = (decode_keys(keys[keep], n, D), merged[keep])
    prow0 = row
    for t, a in enumerate(products):
        pi, pc = cache[a]
        rows_l.append(np.full(pc.size, prow0 + t))
        cols_l.append(lookup(keyf(pi)))
        vals_l.append(-pc)
    row += len(products)
    A = sp.csc_matrix((np.concatenate(vals_l), (np.concatenate(rows_l), np.concatenate(cols_l))),
                      shape=(row, N))
    A.sum_duplicates()
    A.eliminate_zeros()
    cones = (Cone(ConeKind.ZERO, n_zero), Cone(ConeKind.NONNEG, len(products)))
    program = ConicProgram(c=c, A=A, b=np.concatenate([[1.0], np.zeros(row - 1)]), cones=cones)
    return MomentRelaxation(
        problem=problem,
        level=(D + 1) // 2,
        variables=system.variables,
        moment_keys=moment_keys,
        program=program,
        gram_blocks=(),
        equality_blocks=tuple(eq_blocks),
        sign=system.sign,
        cone="lp",
        products=tuple(products),
        product_rows=slice(prow0, row),
        key_width=D,
    )


def build_dsos_relaxation(problem: Problem, level: int | None = None,
                          cliques: Sequence[Sequence[int]] | None = None) -> MomentRelaxation:
    """The DSOS relaxation: the moment relaxation with diagonally dominant Gram matrices (an LP)."""
    return build_moment_relaxation(problem, level, cone="dd", cliques=cliques)
