"""Products, powers and substitution of one variable: the size-checked polynomial algebra.

Every product is refused with :class:`~sosrelax.errors.SizeLimitError` *before* allocation when
its degree could exceed :data:`~sosrelax.poly.MAX_DEGREE` or its number of terms
:data:`~sosrelax.poly.MAX_TERMS`; large products are formed in chunks of
:data:`~sosrelax.poly.monomials.CHUNK_ENTRIES` entries and merged.
"""

from __future__ import annotations

import math
from typing import TypeVar

import numpy as np

from sosrelax.errors import InvalidValueError, SizeLimitError
from sosrelax.poly.base import PolynomialBase
from sosrelax.poly.monomials import (
    CHUNK_ENTRIES,
    MAX_DEGREE,
    MAX_TERMS,
    canonical_arrays,
    term_bound,
)

P = TypeVar("P", bound=PolynomialBase)


def multiply(a: P, b: P) -> P:
    """The product ``a * b``, over ``a``'s variables followed by ``b``'s new ones.

    Raises
    ------
    SizeLimitError
        The product could exceed :data:`~sosrelax.poly.MAX_DEGREE` or
        :data:`~sosrelax.poly.MAX_TERMS` (checked before anything is allocated).
    InvalidValueError
        A coefficient overflows float64.
    """
    cls = type(a)
    names = cls._merged_names(a._variables, b._variables)
    if a.is_zero or b.is_zero:
        return cls._raw(np.zeros((0, len(names)), np.int64), np.zeros(0), names)
    deg = a.degree + b.degree
    if deg > MAX_DEGREE:
        raise SizeLimitError(
            f"the product has degree {deg} > MAX_DEGREE = {MAX_DEGREE} "
            f"(factors of degree {a.degree} and {b.degree})"
        )
    n_used = len(set(a.used_variables) | set(b.used_variables))
    bound = min(a.nterms * b.nterms, term_bound(n_used, deg))
    if bound > MAX_TERMS:
        raise SizeLimitError(
            f"the product of polynomials with {a.nterms} and {b.nterms} terms may have {bound} "
            f"terms > MAX_TERMS = {MAX_TERMS}"
        )
    ea = a._exps if a._variables == names else a.aligned(names)
    eb = b._exps if b._variables == names else b.aligned(names)
    ca, cb = a._coefs, b._coefs
    ma, mb = ea.shape[0], eb.shape[0]
    n = len(names)
    rows_per_chunk = max(1, CHUNK_ENTRIES // max(1, mb * max(n, 1)))
    if ma <= rows_per_chunk:
        e = (ea[:, None, :] + eb[None, :, :]).reshape(ma * mb, n)
        with np.errstate(over="ignore"):
            c = np.multiply.outer(ca, cb).reshape(-1)
        return cls._raw(e, c, names)
    parts_e: list[np.ndarray] = []
    parts_c: list[np.ndarray] = []
    for s in range(0, ma, rows_per_chunk):
        sl = slice(s, s + rows_per_chunk)
        e = (ea[sl, None, :] + eb[None, :, :]).reshape(-1, n)
        with np.errstate(over="ignore"):
            c = np.multiply.outer(ca[sl], cb).reshape(-1)
        e, c = canonical_arrays(e, c)
        parts_e.append(e)
        parts_c.append(c)
    return cls._raw(np.concatenate(parts_e), np.concatenate(parts_c), names)


def integer_power(p: P, k: int) -> P:
    """``p ** k`` for an integer ``k >= 0`` by repeated squaring (a monomial's power directly).

    Raises
    ------
    SizeLimitError
        The power could exceed :data:`~sosrelax.poly.MAX_DEGREE` or
        :data:`~sosrelax.poly.MAX_TERMS`.
    InvalidValueError
        A coefficient overflows float64.
    """
    cls = type(p)
    names = p._variables
    if k == 0:
        return cls.constant(1.0, names)
    if k == 1:
        return p
    if p.is_zero:
        return p
    if p.is_constant:
        try:
            v = float(p._coefs[0]) ** k
        except OverflowError as e:
            raise InvalidValueError(f"({p}) ** {k} overflows a float64") from e
        return cls.constant(v, names)
    if p.degree * k > MAX_DEGREE:
        raise SizeLimitError(
            f"({p}) ** {k} would have degree {p.degree * k} > MAX_DEGREE = {MAX_DEGREE}"
        )
    n_used = len(p.used_variables)
    bound = min(math.comb(p.nterms + k - 1, k), term_bound(n_used, p.degree * k))
    if bound > MAX_TERMS:
        raise SizeLimitError(
            f"({p}) ** {k} may have {bound} terms > MAX_TERMS = {MAX_TERMS}"
        )
    if p.nterms == 1:  # a monomial: exact, no products needed
        try:
            c = float(p._coefs[0]) ** k
        except OverflowError as e:
            raise InvalidValueError(f"({p}) ** {k} overflows a float64") from e
        return cls._raw(p._exps * k, np.array([c]), names)
    result: P | None = None
    base = p
    while True:
        if k & 1:
            result = base if result is None else multiply(result, base)
        k >>= 1
        if not k:
            break
        base = multiply(base, base)
    assert result is not None
    return result


def substitute_one(p: P, name: str, img: P) -> P:
    """Replace the variable ``name`` (which no image contains) by ``img``: Σ_e q_e · img^e."""
    cls = type(p)
    j = p._variables.index(name)
    rest = tuple(v for v in p._variables if v != name)
    if p.is_zero:
        names = cls._merged_names(rest, img._variables)
        return cls._raw(np.zeros((0, len(names)), np.int64), np.zeros(0), names)
    col = p._exps[:, j]
    e_rest = np.delete(p._exps, j, axis=1)
    levels = np.unique(col)
    parts: list[P] = []
    power = cls.constant(1.0, img._variables)
    current = 0
    for lev in levels.tolist():
        rows = col == lev
        q = cls._raw(e_rest[rows], p._coefs[rows].copy(), rest)
        if lev != current:
            step = lev - current
            power = multiply(power, integer_power(img, step)) if current else integer_power(img, step)
            current = lev
        parts.append(q if lev == 0 else multiply(q, power))
    return cls._sum(parts)


