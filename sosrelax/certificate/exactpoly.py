"""Exact sparse polynomials of the checker: int64 exponent rows and python-flint rationals.

A polynomial is a pair ``(e, c)``: ``e`` an int64 array of shape ``(m, n)`` (one exponent row per
term) and ``c`` an object array of ``flint.fmpq`` coefficients.  Every operation is exact; exponent
sums are guarded so that int64 arithmetic cannot wrap.  Also here: the exceptions by which a
check rejects a certificate, and the memo of conversions of shared :data:`Terms` objects.

Only the standard library, numpy and python-flint are imported (the checker's independence rule).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import flint
import numpy as np

from sosrelax.certificate.format import RationalMatrix, Terms


class Reject(Exception):
    """Internal: a certificate fails; the message becomes the report's reason."""


class OverLimit(Reject):
    """Internal: checking would exceed a resource limit; the certificate is refused unchecked."""


EXP_CAP = 2**62
"""Exponents (and exponent sums) must stay below this so that int64 arithmetic cannot wrap."""


def exp_sum_guard(a: int, b: int) -> None:
    if a + b >= EXP_CAP:
        raise OverLimit(
            f"an exponent sum {a} + {b} would overflow 64-bit integers; exponents this large "
            "cannot be checked"
        )


# --------------------------------------------------------------------------------------------
# exact sparse polynomials: (exponents int64 (m, n), coefficients object array of fmpq)

ExactPoly = tuple[np.ndarray, np.ndarray]


def fq(c: Fraction | int) -> flint.fmpq:
    c = Fraction(c)
    return flint.fmpq(c.numerator, c.denominator)


def to_fraction(c: flint.fmpq) -> Fraction:
    return Fraction(int(c.p), int(c.q))


MEMO: dict[tuple[str, int, int], tuple[object, object]] = {}
"""Results of pure functions of an immutable Terms object (its exact polynomial, its canonical
key, "its exponents are valid for n variables"), keyed by the object's ``id``.  Each entry keeps
its object alive, so an id cannot be reused while it is listed, and a hit is accepted only when
the stored object *is* the argument.  A lemma chain lists the same inequality objects in hundreds
of lemmas; each is converted, validated and keyed once.  Cached values are never mutated; only
successes are cached (a failing validation raises every time).  Emptied after every top-level
check."""


def memo(table: str, t: object, n: int, make: Any) -> object:
    key = (table, id(t), n)
    hit = MEMO.get(key)
    if hit is not None and hit[0] is t:
        return hit[1]
    v = make()
    MEMO[key] = (t, v)
    return v


KEPT: dict[tuple[Any, ...], tuple[object, object]] = {}
"""Like :data:`MEMO`, but kept from one check to the next: results that depend only on an immutable
object (a canonical Terms object or monomial basis, tuples of ints and Fractions) and on hashable
parameters (``n``, the :class:`Limits`, a substitution held in the entry too).  The centred
re-solves of one proof search produce certificates that share their problem data and bases; each
is validated and expanded once.  Only successes are kept (a failing validation raises every time);
emptied when it reaches :data:`KEPT_MAX` entries."""
KEPT_MAX = 100_000


def kept(table: str, t: object, params: Any, make: Any, also: object = None) -> object:
    """``make()``, remembered in :data:`KEPT` for ``t`` (and ``also``, an object held and compared by
    identity like ``t``) and the hashable ``params``."""
    key = (table, id(t), id(also), params)
    hit = KEPT.get(key)
    if hit is not None and hit[0] is t and hit[1][0] is also:  # type: ignore[index]
        return hit[1][1]  # type: ignore[index]
    v = make()
    if len(KEPT) >= KEPT_MAX:
        KEPT.clear()
    KEPT[key] = (t, (also, v))
    return v


def exact_poly(terms: Terms, n: int) -> ExactPoly:
    if not terms:
        return np.zeros((0, n), dtype=np.int64), np.zeros(0, dtype=object)
    e = np.array([t[0] for t in terms], dtype=np.int64).reshape(len(terms), n)
    c = np.empty(len(terms), dtype=object)
    c[:] = [fq(t[1]) for t in terms]
    return e, c


def row_keys(e: np.ndarray) -> np.ndarray:
    """Group identical exponent rows: returns an inverse index (rows -> unique id)."""
    if e.shape[1] == 0:
        return np.zeros(e.shape[0], dtype=np.int64)
    radix = int(e.max(initial=0)) + 1
    if radix ** e.shape[1] < 2**62:
        keys = e @ (radix ** np.arange(e.shape[1], dtype=np.int64))
        _, inv = np.unique(keys, return_inverse=True)
    elif e.shape[0] and radix * e.shape[1] < 2**62 and 4 * int(np.count_nonzero(e)) < e.size:
        # sparse rows (many variables, few in each term): each row as its padded list of codes
        # column * radix + exponent of its nonzero entries, in column order; two rows are equal iff
        # their lists are (the code determines the pair since exponent < radix)
        nzr, nzc = np.nonzero(e)
        counts = np.bincount(nzr, minlength=e.shape[0])
        width = max(1, int(counts.max(initial=0)))
        slot = np.arange(nzr.size) - (np.cumsum(counts) - counts)[nzr]
        codes = np.full((e.shape[0], width), -1, dtype=np.int64)
        codes[nzr, slot] = nzc.astype(np.int64) * radix + e[nzr, nzc]
        _, inv = np.unique(codes.view(np.dtype((np.void, 8 * width))).reshape(-1), return_inverse=True)
    else:
        # rows as opaque byte strings: equal bytes <=> equal int64 rows (exact, and much faster
        # than np.unique(axis=0), which compares field by field)
        ec = np.ascontiguousarray(e, dtype=np.int64)
        rows = ec.view(np.dtype((np.void, ec.dtype.itemsize * ec.shape[1]))).reshape(-1)
        _, inv = np.unique(rows, return_inverse=True)
    return inv.reshape(-1)


def combine(e: np.ndarray, c: np.ndarray) -> ExactPoly:
    """Merge repeated exponents (exact sums) and drop zero coefficients."""
    if e.shape[0] == 0:
        return e, c
    inv = row_keys(e)
    order = np.argsort(inv, kind="stable")
    inv_s = inv[order]
    starts = np.flatnonzero(np.r_[True, inv_s[1:] != inv_s[:-1]])
    sums = np.add.reduceat(c[order], starts) if c.size else c
    ue = e[order[starts]]
    keep = np.array([s != 0 for s in sums], dtype=bool)
    return ue[keep], sums[keep]


def mul(a: ExactPoly, b: ExactPoly) -> ExactPoly:
    """Exact product; loops over the shorter factor, vectorised over the longer."""
    (ea, ca), (eb, cb) = a, b
    if ea.shape[0] > eb.shape[0]:
        (ea, ca), (eb, cb) = (eb, cb), (ea, ca)
    if ea.shape[0] == 0 or eb.shape[0] == 0:
        return np.zeros((0, ea.shape[1]), dtype=np.int64), np.zeros(0, dtype=object)
    exp_sum_guard(int(ea.max(initial=0)), int(eb.max(initial=0)))
    es = [eb + ea[i] for i in range(ea.shape[0])]
    cs = [cb * ca[i] for i in range(ea.shape[0])]
    return combine(np.vstack(es), np.concatenate(cs))


def scale(p: ExactPoly, s: flint.fmpq) -> ExactPoly:
    return p[0], p[1] * s


def one(n: int) -> ExactPoly:
    c = np.empty(1, dtype=object)
    c[0] = flint.fmpq(1)
    return np.zeros((1, n), dtype=np.int64), c


#: How :func:`gram_poly` groups a basis's Gram entries: the upper-triangle indices ``(iu, ju)``, the weights
#: (1 on the diagonal, 2 off it), the entries ordered by their monomial ``b_a + b_b``, where each monomial's
#: group starts, and the monomials.
PairStructure = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def pair_structure(basis: np.ndarray) -> PairStructure:
    """The grouping of the products ``b_a b_b`` (``a ≤ b``) of a basis by monomial; it depends on the basis
    only, so that one basis listed in many certificates is grouped once (see :data:`KEPT`)."""
    k, n = basis.shape
    top = int(basis.max(initial=0))
    exp_sum_guard(top, top)
    iu, ju = np.triu_indices(k)
    e = basis[iu] + basis[ju]
    w = np.where(iu == ju, 1, 2)
    inv = row_keys(e)
    order = np.argsort(inv, kind="stable")
    inv_s = inv[order]
    starts = np.flatnonzero(np.r_[True, inv_s[1:] != inv_s[:-1]])
    out = (iu, ju, w, order, starts, e[order[starts]])
    for a in out:
        a.flags.writeable = False
    return out


def gram_poly(basis: np.ndarray, g: RationalMatrix, structure: PairStructure | None = None) -> ExactPoly:
    """:math:`b^T Q b` exactly, grouping the Gram entries by :math:`b_a + b_b` (vectorised);
    ``structure``: :func:`pair_structure` of ``basis`` when already computed."""
    k, n = basis.shape
    if k == 0:
        return np.zeros((0, n), dtype=np.int64), np.zeros(0, dtype=object)
    iu, ju, w, order, starts, ue = pair_structure(basis) if structure is None else structure
    num = g.numerators
    vals = num[iu, ju]
    big = num.dtype == object or (
        num.size and int(np.abs(num).max()) * 2 * len(iu) >= 2**62
    )
    vals = vals.astype(object) * w.astype(object) if big else vals * w
    sums = np.add.reduceat(vals[order], starts)
    den = g.denominator
    coef = np.empty(len(sums), dtype=object)
    coef[:] = [flint.fmpq(int(s), den) for s in sums]
    keep = np.array([s != 0 for s in coef], dtype=bool)
    return ue[keep], coef[keep]


def affine_substitute(p: ExactPoly, subst: tuple[tuple[Fraction, Fraction], ...]) -> ExactPoly:
    """``p(c + s·u)`` exactly, for the coordinate-wise change of variables ``x_i = c_i + s_i u_i``.

    Each term expands over its own variables only: ``Π_i (c_i + s_i u_i)^{e_i} = Σ_{k ≤ e}
    Π_i C(e_i, k_i) c_i^{e_i − k_i} s_i^{k_i} u_i^{k_i}``; equal monomials are merged on their sparse
    codes before any exponent row of all the variables is written (a term of a chain touches a few
    of thousands of variables).
    """
    e, c = p
    m, n = e.shape
    if m == 0:
        return p
    exp_sum_guard(int(e.max(initial=0)), 0)
    table: dict[tuple[int, int], list[flint.fmpq]] = {}  # (variable, exponent) -> coefficient of u^k

    def expansion(i: int, k: int) -> list[flint.fmpq]:
        got = table.get((i, k))
        if got is None:
            ci, si = fq(subst[i][0]), fq(subst[i][1])
            got = [flint.fmpq(math.comb(k, j)) * ci ** (k - j) * si**j for j in range(k + 1)]
            table[(i, k)] = got
        return got

    rows, cols = np.nonzero(e)
    starts = np.searchsorted(rows, np.arange(m + 1))
    out_codes: list[tuple[int, ...]] = []
    out_coefs: list[flint.fmpq] = []
    radix = int(e.max(initial=0)) + 1
    for t in range(m):
        partial: list[tuple[tuple[int, ...], flint.fmpq]] = [((), c[t])]
        for q in range(int(starts[t]), int(starts[t + 1])):
            i = int(cols[q])
            coefs = expansion(i, int(e[t, i]))
            partial = [(code + ((i * radix + j,) if j else ()), v * w)
                       for code, v in partial for j, w in enumerate(coefs) if w != 0]
        for code, v in partial:
            out_codes.append(code)
            out_coefs.append(v)
    width = max(1, max(len(code) for code in out_codes))
    codes = np.full((len(out_codes), width), -1, dtype=np.int64)
    for r, code in enumerate(out_codes):
        if code:
            codes[r, :len(code)] = code
    _, first, inv = np.unique(codes.view(np.dtype((np.void, 8 * width))).reshape(-1), return_index=True,
                              return_inverse=True)
    inv = inv.reshape(-1)
    coef = np.empty(len(out_coefs), dtype=object)
    coef[:] = out_coefs
    order = np.argsort(inv, kind="stable")
    bounds = np.flatnonzero(np.r_[True, inv[order][1:] != inv[order][:-1]])
    sums = np.add.reduceat(coef[order], bounds)
    uniq = codes[first]
    out = np.zeros((uniq.shape[0], n), dtype=np.int64)
    r_idx, slot = np.nonzero(uniq >= 0)
    vals = uniq[r_idx, slot]
    out[r_idx, vals // radix] = vals % radix
    keep = np.array([s != 0 for s in sums], dtype=bool)
    return out[keep], sums[keep]
