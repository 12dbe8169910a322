"""Exactness of the numbers a polynomial is built from, and exact evaluation.

A float is taken as the float64 it is; an integer, numpy integer or :class:`fractions.Fraction`
must be exactly representable as a float64, otherwise :class:`~sosrelax.errors.InvalidValueError`
names it (so ``(2**53 + 1) * x`` is refused rather than silently becoming ``2**53 * x``).  Exact
evaluation reads every coefficient and coordinate as the rational it denotes (``Fraction(float)``
is exact) and computes :math:`\\sum_i c_i x^{\\alpha_i}` in integer arithmetic.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from sosrelax.errors import InvalidValueError, SizeLimitError
from sosrelax.poly.monomials import MAX_DEGREE, MAX_TERMS, monomial_str


def as_float(c: Any, what: str) -> float:
    """``c`` as a float64, refusing exact numbers (integers, fractions) that float64 would round.

    A Python/numpy integer or a :class:`fractions.Fraction` denotes an exact value; silently
    rounding ``2**53 + 1`` to ``2**53`` would change the polynomial (and the claim proven about
    it).  Such a value raises :class:`InvalidValueError` naming it; floats are taken as given.
    """
    try:
        v = float(c)
    except OverflowError as e:
        raise InvalidValueError(f"{what} {c!r} is too large for a float64 coefficient") from e
    if not math.isfinite(v):
        raise InvalidValueError(f"{what} is {v!r}; coefficients and values must be finite")
    if isinstance(c, numbers.Rational) and not isinstance(c, bool) and Fraction(v) != c:
        raise InvalidValueError(
            f"{what} {c} is not exactly representable as a float64 (it would be rounded to "
            f"{v!r}); coefficients are float64: rescale the problem so that its numbers are "
            "exact floats (integers up to 2**53, dyadic fractions)"
        )
    return v


def exact_value(v: Any, name: str) -> Fraction:
    """The exact rational that the coordinate ``v`` of the variable ``name`` denotes.

    Integers and fractions as they are, strings such as ``"1/3"`` parsed exactly, floats read
    exactly (``Fraction(0.1)`` is the binary value).

    Raises
    ------
    InvalidValueError
        ``v`` is not a (finite) real number; the message names the variable.
    """
    if isinstance(v, Fraction):
        return v
    if isinstance(v, bool):
        return Fraction(int(v))
    if isinstance(v, numbers.Integral):
        return Fraction(int(v))
    if isinstance(v, str):
        try:
            return Fraction(v)
        except (ValueError, ZeroDivisionError) as e:
            raise InvalidValueError(f"value {v!r} for {name!r} is not a rational number") from e
    if isinstance(v, numbers.Rational):
        return Fraction(int(v.numerator), int(v.denominator))
    try:
        f = float(v)
    except (TypeError, ValueError) as e:
        raise InvalidValueError(f"value {v!r} for {name!r} is not a real number") from e
    if not math.isfinite(f):
        raise InvalidValueError(f"value {f!r} for {name!r} is not finite")
    return Fraction(f)


def exact_sum(E: np.ndarray, c: np.ndarray, xs: Sequence[Fraction]) -> Fraction:
    """Exact Σ c_i x^E_i with one common denominator (integer arithmetic only)."""
    m, n = E.shape
    if m == 0:
        return Fraction(0)
    dmax = E.max(axis=0).tolist() if n else []
    nums = [x.numerator for x in xs]
    dens = [x.denominator for x in xs]
    num_pows: list[dict[int, int]] = [{} for _ in range(n)]
    den_pows: list[dict[int, int]] = [{} for _ in range(n)]
    ratios = [float(ci).as_integer_ratio() for ci in c.tolist()]
    shift = max(int(d).bit_length() - 1 for _, d in ratios)  # coefficient denominators: 2^s
    total = 0
    rows = E.tolist()
    for (cn, cd), row in zip(ratios, rows, strict=True):
        t = cn << (shift - (cd.bit_length() - 1))
        for j, e in enumerate(row):
            top = dmax[j]
            if top == 0:
                continue
            pe = num_pows[j].get(e)
            if pe is None:
                pe = num_pows[j][e] = nums[j] ** e
            qe = den_pows[j].get(top - e)
            if qe is None:
                qe = den_pows[j][top - e] = dens[j] ** (top - e)
            t *= pe * qe
        total += t
    den = 1 << shift
    for j in range(n):
        if dmax[j]:
            den *= dens[j] ** dmax[j]
    return Fraction(total, den)


def validated_terms(exps: Any, coefs: Any, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Check user-given exponents and coefficients; return them as int64 ``(m, n)`` / float64 ``(m,)``.

    ``n = len(names)``.  Integer coefficients must be exact float64 values, exponents non-negative
    integers, every coefficient finite and every term's total degree at most
    :data:`~sosrelax.poly.MAX_DEGREE`; at most :data:`~sosrelax.poly.MAX_TERMS` terms.  Nothing is
    canonicalised here.

    Raises
    ------
    InvalidValueError
        A malformed array or value; the message names the term.
    SizeLimitError
        Too many terms, or a degree beyond the limit.
    """
    n = len(names)
    c = np.asarray(coefs)
    if c.dtype.kind not in "biuf":
        raise InvalidValueError(
            f"coefficients must be real numbers, got an array of dtype {c.dtype}"
        )
    if c.dtype.kind in "iu" and c.size:
        for i, raw in enumerate(c.reshape(-1).tolist()):
            if abs(raw) > 2**53 and int(float(raw)) != raw:
                raise InvalidValueError(
                    f"coefficient {i} = {raw} is not exactly representable as a float64 (it "
                    f"would be rounded to {float(raw)!r}); rescale so that integers stay "
                    "below 2**53"
                )
    c = np.array(c, dtype=np.float64).reshape(-1) if c.ndim <= 1 else c
    if c.ndim != 1:
        raise InvalidValueError(f"coefs must be one-dimensional, got shape {np.shape(coefs)}")
    m = c.shape[0]
    if m > MAX_TERMS:
        raise SizeLimitError(f"{m} terms exceed MAX_TERMS = {MAX_TERMS}")
    e_raw = np.asarray(exps)
    if e_raw.size == 0:
        e_raw = e_raw.reshape(m, n) if m * n == 0 else e_raw
    if e_raw.ndim == 1 and n == 1 and e_raw.shape[0] == m:
        e_raw = e_raw.reshape(m, 1)
    if e_raw.ndim != 2 or e_raw.shape != (m, n):
        raise InvalidValueError(
            f"exps has shape {e_raw.shape}, expected ({m}, {n}) = (number of coefficients, "
            "number of variables)"
        )
    if e_raw.dtype.kind == "f":
        if not np.all(np.isfinite(e_raw)) or np.any(e_raw != np.round(e_raw)):
            raise InvalidValueError("exponents must be non-negative integers")
    elif e_raw.dtype.kind not in "biu":
        raise InvalidValueError(f"exponents must be integers, got dtype {e_raw.dtype}")
    if m and (np.any(e_raw < 0)):
        i = int(np.flatnonzero(np.any(e_raw < 0, axis=1))[0])
        raise InvalidValueError(
            f"exponent row {e_raw[i].tolist()} (term {i}) has a negative entry; exponents must "
            "be non-negative integers"
        )
    if m and np.any(e_raw > MAX_DEGREE):
        raise SizeLimitError(f"an exponent exceeds MAX_DEGREE = {MAX_DEGREE}")
    e = np.array(e_raw, dtype=np.int64)
    bad = ~np.isfinite(c)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidValueError(
            f"coefficient {c[i]!r} of the term {monomial_str(e[i], names)} is not finite; "
            "all coefficients must be finite numbers"
        )
    if m and int(e.sum(axis=1).max()) > MAX_DEGREE:
        raise SizeLimitError(
            f"total degree {int(e.sum(axis=1).max())} exceeds MAX_DEGREE = {MAX_DEGREE}"
        )
    return e, c
