"""Exponent matrices: canonical graded lex order, monomial bases and index look-ups, size limits.

Everything here works on integer exponent arrays (row :math:`i` is the exponent vector
:math:`\\alpha_i` of the monomial :math:`x^{\\alpha_i}`) and knows nothing of polynomials: the
:class:`~sosrelax.poly.Polynomial` class and the relaxations build on these functions.

The canonical order is **graded lexicographic**: total degree ascending, then the exponent tuple
descending lexicographically.  For the variables ``(x, y)`` that is ``1, x, y, x^2, x*y, y^2, x^3,
...``; :func:`monomial_basis` enumerates monomials in the same order.
"""

from __future__ import annotations

import keyword
import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from sosrelax.errors import InvalidValueError, SizeLimitError

#: Largest total degree of any polynomial.  ``x**10**9`` is refused before any allocation.
MAX_DEGREE = 1000
#: Largest number of terms of any polynomial (and of any monomial basis).
MAX_TERMS = 5_000_000

#: Working-set cap (number of int64/float64 entries) for intermediate arrays of products and
#: evaluations; larger jobs are processed in chunks of this size.
CHUNK_ENTRIES = 1 << 22


def graded_lex_order(exps: np.ndarray) -> np.ndarray:
    """Permutation sorting rows by total degree ascending, then exponents descending (lex)."""
    m, n = exps.shape
    if m <= 1:
        return np.arange(m)
    deg = exps.sum(axis=1)
    top = int(deg.max())
    radix = top + 1
    if (n + 1) * math.log2(radix + 1) < 62:
        # one int64 key per row: degree, then (top - e_1), (top - e_2), ... in base `radix`
        key = deg.astype(np.int64)
        for j in range(n):
            key = key * radix + (top - exps[:, j])
        return np.argsort(key, kind="stable")
    # np.lexsort: the LAST key is the primary one.
    keys = [-exps[:, j] for j in range(n - 1, -1, -1)]
    keys.append(deg)
    return np.lexsort(keys)


def canonical_arrays(exps: np.ndarray, coefs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort in graded lex order, merge duplicate monomials (summing), drop zero coefficients.

    No validation; callers pass int64 ``(m, n)`` and float64 ``(m,)`` arrays.
    """
    m = exps.shape[0]
    if m == 0:
        return exps.reshape(0, exps.shape[1]), coefs.reshape(0)
    order = graded_lex_order(exps)
    e = exps[order]
    c = coefs[order]
    if m > 1:
        new = np.empty(m, dtype=bool)
        new[0] = True
        np.any(e[1:] != e[:-1], axis=1, out=new[1:])
        starts = np.flatnonzero(new)
        if starts.size < m:
            c = np.add.reduceat(c, starts)
            e = e[starts]
    keep = c != 0.0
    if not keep.all():
        e = e[keep]
        c = c[keep]
    return np.ascontiguousarray(e), np.ascontiguousarray(c)


def readonly(a: np.ndarray) -> np.ndarray:
    """``a`` itself, marked read-only (polynomials share their arrays and never mutate them)."""
    a.flags.writeable = False
    return a


def monomial_str(exps_row: Sequence[int] | np.ndarray, names: Sequence[str]) -> str:
    """The monomial :math:`\\prod_j x_j^{e_j}` as text: ``x^2*y``, and ``1`` for the zero row."""
    parts = []
    for name, e in zip(names, exps_row, strict=True):
        e = int(e)
        if e == 1:
            parts.append(name)
        elif e > 1:
            parts.append(f"{name}^{e}")
    return "*".join(parts) if parts else "1"


def format_number(v: float) -> str:
    """Shortest text that reads back as exactly ``v`` (integers without a trailing ``.0``)."""
    if v.is_integer() and abs(v) < 1e16:
        return str(int(v))
    return repr(v)


def check_identifier(name: Any, what: str = "variable name") -> str:
    """``name`` when it is usable as a variable name (an identifier, no keyword, no ``__``).

    Raises
    ------
    InvalidValueError
        Not a string, or not an identifier that printed polynomials could parse back.
    """
    if not isinstance(name, str):
        raise InvalidValueError(
            f"{what} {name!r} is a {type(name).__name__}, not a string; use names like 'x' or 'x0'"
        )
    if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("__"):
        raise InvalidValueError(
            f"{what} {name!r} is not usable: names must be identifiers (letters, digits, '_', "
            "not starting with a digit or '__', not a Python keyword) so that printed polynomials "
            "parse back; use e.g. 'x_1' instead"
        )
    return name


def term_bound(n_used: int, degree: int) -> int:
    """Number of monomials of degree ≤ ``degree`` in ``n_used`` variables."""
    return math.comb(n_used + degree, degree)


def monomial_basis(n: int, degree: int, min_degree: int = 0) -> np.ndarray:
    """All exponent vectors α ∈ ℕⁿ with ``min_degree ≤ |α| ≤ degree``, graded lex order.

    Returns an int64 array of shape ``(N, n)`` with ``N = C(n+d, d) - C(n+min_degree-1,
    min_degree-1)`` (``C(n+d, d)`` for ``min_degree = 0``), ordered by total degree ascending,
    then exponents descending lexicographically (the order of :class:`Polynomial` terms).
    Empty when ``degree < min_degree``.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
        raise InvalidValueError(f"n must be a non-negative integer, got {n!r}")
    n, degree, min_degree = int(n), int(degree), max(0, int(min_degree))
    if degree < min_degree:
        return np.zeros((0, n), dtype=np.int64)
    if degree > MAX_DEGREE:
        raise SizeLimitError(f"degree {degree} exceeds MAX_DEGREE = {MAX_DEGREE}")
    total = math.comb(n + degree, degree)
    if total > MAX_TERMS:
        raise SizeLimitError(
            f"a monomial basis in {n} variables up to degree {degree} has {total} elements "
            f"> MAX_TERMS = {MAX_TERMS}"
        )
    if n == 0:
        return np.zeros((1 if min_degree == 0 else 0, 0), dtype=np.int64)
    # Build column by column: each partial row of remaining budget r spawns r+1 children.
    rows = np.zeros((1, 0), dtype=np.int64)
    used = np.zeros(1, dtype=np.int64)
    for _ in range(n):
        counts = degree - used + 1
        parent = np.repeat(np.arange(rows.shape[0]), counts)
        offsets = np.cumsum(counts) - counts
        child = np.arange(parent.size) - np.repeat(offsets, counts)
        rows = np.concatenate([rows[parent], child[:, None]], axis=1)
        used = used[parent] + child
    rows = rows[graded_lex_order(rows)]
    if min_degree:
        rows = rows[rows.sum(axis=1) >= min_degree]
    return np.ascontiguousarray(rows)


def monomial_index(basis: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Row positions of ``query`` rows in ``basis`` (rows unique), ``-1`` where absent.

    Vectorised: rows are mapped to integer keys (mixed radix) and located with
    ``searchsorted``; when the keys would not fit in int64, rows are matched through
    ``np.unique(axis=0)``.
    """
    B = np.asarray(basis, dtype=np.int64)
    Q = np.asarray(query, dtype=np.int64)
    if Q.ndim == 1:
        Q = Q.reshape(1, -1)
    if B.ndim != 2 or Q.ndim != 2 or B.shape[1] != Q.shape[1]:
        raise InvalidValueError(
            f"basis {B.shape} and query {Q.shape} must be 2-D with the same number of columns"
        )
    n = B.shape[1]
    out = np.full(Q.shape[0], -1, dtype=np.int64)
    if B.shape[0] == 0 or Q.shape[0] == 0:
        return out
    if n == 0:
        if B.shape[0] > 1:
            raise InvalidValueError("basis rows must be unique")
        out[:] = 0
        return out
    if B.min() < 0:
        raise InvalidValueError("basis exponents must be non-negative")
    valid = np.all(Q >= 0, axis=1)
    bmax = int(B.max())
    valid &= np.all(Q <= bmax, axis=1)
    radix = bmax + 1
    if n * math.log2(radix) < 62:
        w = radix ** np.arange(n - 1, -1, -1, dtype=np.int64)
        kb = B @ w
        kq = np.where(valid[:, None], Q, 0) @ w
        order = np.argsort(kb, kind="stable")
        sk = kb[order]
        if sk.size > 1 and np.any(sk[1:] == sk[:-1]):
            raise InvalidValueError("basis rows must be unique")
        pos = np.searchsorted(sk, kq)
        pos = np.minimum(pos, sk.size - 1)
        hit = valid & (sk[pos] == kq)
        out[hit] = order[pos[hit]]
        return out
    allrows = np.concatenate([B, Q])
    _, inv = np.unique(allrows, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    ib, iq = inv[: B.shape[0]], inv[B.shape[0]:]
    if np.unique(ib).size != ib.size:
        raise InvalidValueError("basis rows must be unique")
    table = np.full(int(inv.max()) + 1, -1, dtype=np.int64)
    table[ib] = np.arange(B.shape[0])
    res = table[iq]
    out[valid] = res[valid]
    return out
